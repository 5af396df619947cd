//! This crate provides script-free assembly: it turns resolved `.deb`
//! packages into reproducible, uncompressed tar layers, and does natively
//! what the maintainer scripts bulwark never runs would have done.
//!
//! # Brief overview
//!
//! - [`plan_layers`] groups packages into layers (one per source package,
//!   the smallest merged when there are too many).
//! - [`package_layer`] builds one group's layer: the files of its `.deb`s,
//!   checked against hostile archives, with merged-`/usr` rewriting and the
//!   group's dpkg metadata. It also returns [`PackageFacts`], everything the
//!   final layer needs, so that a cached layer never has to be re-read.
//! - [`system_layer`] builds the last layer from all facts and the spec:
//!   the merged-`/usr` root symlinks, accounts, the CA bundle,
//!   alternatives, `/etc/shells`, the time zone, what the maintainer
//!   scripts bulwark reviewed create on a fresh install (base-files' FHS
//!   directories and login records, netbase's `/etc/hosts`, libc-bin's
//!   `/etc/nsswitch.conf`, …) and the classic dpkg database files. Its
//!   [`SystemReport`] lists what was not replaced.
//! - Unless the spec says `skeleton: false`, the system layer also gives
//!   every image what a container needs whatever its packages: an
//!   `/etc/os-release` naming the [`DebianRelease`] when no package ships
//!   one, `/etc/passwd` and `/etc/group` with at least `root`, `nobody`
//!   and `nogroup`, and `/tmp`, `/var/tmp` (1777), `/root` (0700) and
//!   `/home` when no package ships them.
//!
//! # Merged `/usr`
//!
//! Package entries under `bin/`, `sbin/`, `lib/`, `lib32/`, `lib64/` and
//! `libx32/` are written under `usr/`, and the *system* layer (the last one)
//! holds the root symlinks `bin -> usr/bin`, `sbin -> usr/sbin`,
//! `lib -> usr/lib` (and `lib32`, `lib64`, `libx32` when the image has the
//! `usr/` directory). No package layer contains these root paths at all, so
//! applying the symlinks last never replaces a directory of an earlier layer,
//! and package layers stay independent of each other (cacheable one by one).
//! A package that ships a root symlink itself (`bin -> usr/bin`, as trixie's
//! `base-files` does) has that entry dropped in favour of the system layer's.
//!
//! # Reproducibility
//!
//! Layers are a pure function of the `.deb`s, the spec and the epoch: entries
//! are sorted by path, headers carry no user or group names, mtimes are
//! clamped to the epoch, and implied directories are `0755 root:root`.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;

use bulwark_deb::deb::DebArchive;
use bulwark_deb::Paragraph;
use bulwark_spec::DpkgDatabase;
use serde::{Deserialize, Serialize};

mod cacert;
mod effects;
mod identity;
mod ldcache;
mod package;
mod scripts;
mod system;
mod tarball;

pub use cacert::subject_hash;
pub use identity::DebianRelease;
pub use ldcache::SharedObject;
pub use system::system_layer;

/// Why a layer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `.deb` could not be opened or its control data read.
    #[error(transparent)]
    Deb(#[from] bulwark_deb::deb::DebError),
    /// The data tarball of a `.deb` could not be read.
    #[error("cannot read the files of package `{package}` (`{deb}`): {source}")]
    Read {
        /// The package.
        package: String,
        /// Its `.deb`.
        deb: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A `.deb` holds an entry bulwark refuses to install.
    #[error("package `{package}` (`{deb}`): refusing entry `{entry}`: {reason}")]
    Hostile {
        /// The package.
        package: String,
        /// Its `.deb`.
        deb: PathBuf,
        /// The entry's path as written in the archive.
        entry: String,
        /// Why.
        reason: String,
    },
    /// Two layers disagree in a way that would make the image unsafe.
    #[error("path `{path}` of package `{package}` goes through the symlink `{symlink}` of package `{owner}`")]
    ThroughSymlink {
        /// The offending path.
        path: String,
        /// The package shipping it.
        package: String,
        /// The symlink it goes through.
        symlink: String,
        /// The package shipping the symlink.
        owner: String,
    },
    /// A local file named by the spec could not be read.
    #[error("cannot read `{key}` `{path}`: {source}")]
    SpecFile {
        /// The spec key (`files[0].source`).
        key: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A local file named by the spec resolves outside the spec's directory.
    #[error("`{key}` `{path}` is outside the spec's directory `{dir}`{resolved}")]
    SpecFileOutside {
        /// The spec key (`files[0].source`).
        key: String,
        /// The source as written in the spec.
        path: PathBuf,
        /// The spec's directory, canonicalized.
        dir: PathBuf,
        /// ` (it resolves to `…`)` when symlinks took it there, else empty.
        resolved: String,
    },
    /// A path the system layer writes on its own would make the image
    /// unsafe or broken.
    #[error("system layer path `{path}`: {reason}")]
    SystemPath {
        /// The path, absolute.
        path: String,
        /// Why.
        reason: String,
    },
    /// A spec setting cannot be applied.
    #[error("cannot apply the spec's `{key}`: {reason}")]
    Spec {
        /// The setting.
        key: String,
        /// Why.
        reason: String,
    },
    /// A package in a plan is not in the package list.
    #[error(
        "layer plan `{label}` names package index {index}, but only {len} packages were given"
    )]
    BadPlan {
        /// The plan's label.
        label: String,
        /// The bad index.
        index: usize,
        /// How many packages were given.
        len: usize,
    },
    /// A layer could not be written.
    #[error("cannot write layer `{layer}`: {source}")]
    Write {
        /// The layer's label.
        layer: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// One resolved package to install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageInput {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Debian architecture (`amd64`, `all`, …).
    pub architecture: String,
    /// Source package name (the `Source:` field without version, or the
    /// package name).
    pub source: String,
    /// The `.deb` in the cache.
    pub deb: PathBuf,
    /// The package's stanza from the repository index.
    pub stanza: String,
}

impl PackageInput {
    fn installed_size(&self) -> u64 {
        Paragraph::new_unchecked(&self.stanza)
            .get("Installed-Size")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

/// Settings shared by all layer builders.
#[derive(Clone, Debug)]
pub struct Options {
    /// `SOURCE_DATE_EPOCH`: every mtime is clamped to it, generated files
    /// get it.
    pub epoch: u64,
    /// Where layer tars (named `<sha256>.tar`) and spool files are written.
    pub work_dir: PathBuf,
    /// How the dpkg database is written.
    pub dpkg_database: DpkgDatabase,
    /// The release the system layer's `/etc/os-release` names when no
    /// package ships one (and the spec keeps `skeleton`), or why it is
    /// unknown: then none is written and the reason becomes a warning.
    /// Package layers do not use it.
    pub release: Result<DebianRelease, String>,
}

/// One planned package layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerPlan {
    /// A human-readable name: the source package, or `merged`.
    pub label: String,
    /// Indices into the package list, in package name order.
    pub packages: Vec<usize>,
}

/// A written, uncompressed layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerTar {
    /// The tar file, `<work_dir>/<hex>.tar`.
    pub path: PathBuf,
    /// `sha256:<hex>` of the tar (the OCI diff ID).
    pub diff_id: String,
    /// Size in bytes.
    pub size: u64,
}

/// What a shipped path is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    /// A directory.
    Directory,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink {
        /// Its target, as written.
        target: String,
    },
    /// A hard link to another path of the same package.
    Hardlink {
        /// The path it links to (rewritten, relative).
        target: String,
    },
}

/// One path a package ships, after merged-`/usr` rewriting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathFact {
    /// Relative path, no leading `/` (`usr/bin/mawk`).
    pub path: String,
    /// What it is.
    pub kind: PathKind,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
}

/// One `update-alternatives --install` call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    /// The generic link, e.g. `/usr/bin/awk`.
    pub link: String,
    /// The alternative's name, e.g. `awk`.
    pub name: String,
    /// The path it points to, e.g. `/usr/bin/mawk`.
    pub path: String,
    /// Priority.
    pub priority: i64,
    /// `--slave LINK NAME PATH` triples.
    pub slaves: Vec<SlaveLink>,
}

/// A `--slave` of an [`Alternative`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaveLink {
    /// The generic link.
    pub link: String,
    /// The slave's name.
    pub name: String,
    /// The path it points to.
    pub path: String,
}

/// Whether bulwark replaces a maintainer script's effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScriptEffect {
    /// bulwark does natively what the script does on a fresh install.
    Replaced,
    /// The script only runs on removal or upgrade (`prerm`, `postrm`).
    NotRunOnInstall,
    /// On a fresh install into an image the script does nothing the image
    /// needs: it only acts on upgrades or on a running system (services,
    /// init links, questions), or does what bulwark's layout already
    /// guarantees.
    NotNeeded,
    /// The script does something bulwark does not replace.
    NotReplaced,
}

/// One maintainer script of a package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptFact {
    /// `preinst`, `postinst`, `prerm`, `postrm` or `config`.
    pub script: String,
    /// Whether its effects are replaced.
    pub effect: ScriptEffect,
    /// For [`ScriptEffect::NotReplaced`]: the first line bulwark does not
    /// understand, or why a reviewed script's effect is not replaced. For a
    /// reviewed script marked [`ScriptEffect::Replaced`] or
    /// [`ScriptEffect::NotNeeded`]: what it does on a fresh install.
    pub detail: Option<String>,
}

/// Everything the system layer needs to know about one package, so that a
/// cached package layer never has to be read again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageFacts {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub architecture: String,
    /// Source package.
    pub source: String,
    /// The `Multi-Arch` field, if any.
    pub multi_arch: Option<String>,
    /// The `control` file of the `.deb` (for the classic `status` file).
    pub control: String,
    /// Shipped paths, sorted.
    pub paths: Vec<PathFact>,
    /// setuid or setgid files (relative paths).
    pub setid: Vec<String>,
    /// Certificates under `usr/share/ca-certificates`: path relative to that
    /// directory → contents.
    pub ca_certificates: BTreeMap<String, String>,
    /// `usr/share/base-passwd/passwd.master`, if shipped.
    pub passwd_master: Option<String>,
    /// `usr/share/base-passwd/group.master`, if shipped.
    pub group_master: Option<String>,
    /// `update-alternatives --install` calls of the `postinst`.
    pub alternatives: Vec<Alternative>,
    /// `etc/ld.so.conf.d/*` files: name → contents.
    pub ld_so_conf: BTreeMap<String, String>,
    /// ELF shared objects outside the loader's built-in directories, which
    /// an `ld.so.cache` may have to list: path → soname and ABI.
    #[serde(default)]
    pub shared_objects: BTreeMap<String, SharedObject>,
    /// `add-shell` arguments in the `postinst`.
    pub add_shells: Vec<String>,
    /// `usr/share/debianutils/shells`, if shipped.
    pub shells_template: Option<String>,
    /// `usr/share/debianutils/shells.d/*`: name → contents.
    pub shells_d: BTreeMap<String, String>,
    /// The maintainer scripts and whether their effects are replaced.
    pub scripts: Vec<ScriptFact>,
    /// Names of the control members besides `control` (`md5sums`,
    /// `triggers`, …).
    pub control_members: Vec<String>,
    /// Shipped text files that maintainer scripts copy elsewhere on a fresh
    /// install (`usr/share/base-files/profile` → `/etc/profile`, …):
    /// relative path → contents.
    #[serde(default)]
    pub copied_files: BTreeMap<String, String>,
    /// Changes bulwark made to the package's own entries in its layer to do
    /// what its maintainer scripts do (base-files' `/var/run` becoming a
    /// link to `/run`), one sentence each.
    #[serde(default)]
    pub layer_rewrites: Vec<String>,
}

impl PackageFacts {
    /// The file name used in `var/lib/dpkg/info/` and for the classic
    /// database: `NAME` or `NAME:ARCH` for `Multi-Arch: same`.
    pub fn dpkg_name(&self) -> String {
        if self.multi_arch.as_deref() == Some("same") {
            format!("{}:{}", self.name, self.architecture)
        } else {
            self.name.clone()
        }
    }
}

/// What the system layer did not (or could not) replace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemReport {
    /// Maintainer scripts whose effects were not replaced.
    pub scripts_not_replaced: Vec<ScriptNote>,
    /// Directories named in `etc/ld.so.conf.d` that hold libraries but are
    /// not on the dynamic loader's built-in path, and that the written
    /// `ld.so.cache` cannot list (an ABI bulwark does not map): these
    /// libraries are not found unless `LD_LIBRARY_PATH` names them.
    pub ld_so_cache_missing: Vec<String>,
    /// setuid/setgid files: `package: path`.
    pub setid: Vec<String>,
    /// Other things worth a warning.
    pub warnings: Vec<String>,
}

/// A maintainer script whose effects were not replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptNote {
    /// The package.
    pub package: String,
    /// The script.
    pub script: String,
    /// What bulwark did not understand.
    pub detail: Option<String>,
}

/// Groups packages into layers: one group per source package, at most
/// `max_layers - 1` groups (the last layer is the system layer). When there
/// are too many source packages, the largest (by `Installed-Size`) keep their
/// own group and the rest are merged into one group, labelled `merged` and
/// placed last. Groups are otherwise ordered by source name, and packages in
/// a group by name then architecture. Deterministic.
pub fn plan_layers(packages: &[PackageInput], max_layers: usize) -> Vec<LayerPlan> {
    let mut by_source: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in packages.iter().enumerate() {
        by_source.entry(&p.source).or_default().push(i);
    }
    let sort_members = |v: &mut Vec<usize>| {
        v.sort_by(|&a, &b| {
            (&packages[a].name, &packages[a].architecture, a).cmp(&(
                &packages[b].name,
                &packages[b].architecture,
                b,
            ))
        });
    };
    let budget = max_layers.saturating_sub(1).max(1);
    let mut groups: Vec<(&str, Vec<usize>)> = by_source.into_iter().collect();
    let mut merged = Vec::new();
    if groups.len() > budget {
        let own = budget - 1;
        let size = |g: &(&str, Vec<usize>)| -> u64 {
            g.1.iter().map(|&i| packages[i].installed_size()).sum()
        };
        let mut ranked: Vec<(u64, &str)> = groups.iter().map(|g| (size(g), g.0)).collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let keep: BTreeSet<&str> = ranked.iter().take(own).map(|r| r.1).collect();
        let (kept, rest): (Vec<_>, Vec<_>) = groups.into_iter().partition(|g| keep.contains(g.0));
        groups = kept;
        merged = rest.into_iter().flat_map(|g| g.1).collect();
    }
    let mut plans: Vec<LayerPlan> = groups
        .into_iter()
        .map(|(source, mut members)| {
            sort_members(&mut members);
            LayerPlan {
                label: source.to_string(),
                packages: members,
            }
        })
        .collect();
    if !merged.is_empty() {
        sort_members(&mut merged);
        plans.push(LayerPlan {
            label: "merged".into(),
            packages: merged,
        });
    }
    plans
}

/// Builds one package layer: the files of the group's `.deb`s (in plan
/// order; a later package's file replaces an earlier one's), checked and
/// rewritten for merged `/usr`, with modes, owners and mtimes (clamped to
/// the epoch) from the archives, plus the group's dpkg metadata
/// (`status.d/NAME` and `NAME.md5sums`, or for the classic database
/// `info/NAME.list`, `NAME.md5sums` and the other control members).
pub fn package_layer(
    plan: &LayerPlan,
    packages: &[PackageInput],
    options: &Options,
) -> Result<(LayerTar, Vec<PackageFacts>), Error> {
    let mut tree = tarball::Tree::new(&options.work_dir, options.epoch);
    let mut facts = Vec::with_capacity(plan.packages.len());
    let mut owners: BTreeMap<String, usize> = BTreeMap::new();
    for &index in &plan.packages {
        let input = packages.get(index).ok_or_else(|| Error::BadPlan {
            label: plan.label.clone(),
            index,
            len: packages.len(),
        })?;
        let deb = DebArchive::open(&input.deb)?;
        let f = package::ingest(input, &deb, &mut tree, options)?;
        for p in &f.paths {
            owners.insert(p.path.clone(), facts.len());
        }
        facts.push(f);
    }
    // No path may go through a symlink of this layer.
    for (path, &owner) in &owners {
        let mut p = path.as_str();
        while let Some((parent, _)) = p.rsplit_once('/') {
            if let Some(node) = tree.nodes.get(parent) {
                if matches!(node.kind, tarball::Kind::Symlink(_)) {
                    let package = &packages[plan.packages[owner]];
                    return Err(Error::Hostile {
                        package: package.name.clone(),
                        deb: package.deb.clone(),
                        entry: path.clone(),
                        reason: format!("it goes through the symlink `{parent}`"),
                    });
                }
            }
            p = parent;
        }
    }
    let tar = tree.write(&plan.label)?;
    Ok((tar, facts))
}

#[cfg(test)]
mod tests;
