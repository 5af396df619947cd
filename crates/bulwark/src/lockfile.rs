//! The lockfile: exactly which packages a spec resolved to, from which
//! signed repositories, so that `build --locked` can install the same bytes
//! without downloading any index.
//!
//! It names no host: repositories are recorded as the spec wrote them, with
//! `${VAR}` unexpanded, and packages by their pool path.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use bulwark_spec::Spec;

/// The lockfile format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// A lockfile.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Lockfile {
    /// Format version.
    pub version: u32,
    /// What the spec asked for; drift is judged against this.
    pub inputs: Inputs,
    /// The signed repositories the packages came from.
    #[serde(default, rename = "repository")]
    pub repositories: Vec<LockedRepository>,
    /// Every package of every image platform.
    #[serde(default, rename = "package")]
    pub packages: Vec<LockedPackage>,
    /// What each `exclude` of the spec stood in for, per platform.
    #[serde(default, rename = "excluded")]
    pub excluded: Vec<LockedExclusion>,
}

/// An excluded package and the dependencies it was taken to satisfy.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LockedExclusion {
    /// The excluded name.
    pub name: String,
    /// The image platform.
    pub platform: String,
    /// The dependencies it satisfied, `parent Field: dependency`.
    pub required_by: Vec<String>,
}

/// The resolution inputs of a spec.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Inputs {
    /// Requested packages as written (`name` or `name=VERSION`).
    pub packages: Vec<String>,
    /// Excluded package names.
    pub exclude: Vec<String>,
    /// Preferred alternatives.
    pub prefer: Vec<String>,
    /// Whether Recommends are installed.
    pub recommends: bool,
    /// Image architectures.
    pub architectures: Vec<String>,
    /// The repositories as written (JSON).
    pub repositories: String,
}

impl Inputs {
    /// The inputs of a spec, for the given resolved architectures.
    pub fn of(spec: &Spec, architectures: &[String]) -> Inputs {
        Inputs {
            packages: spec
                .packages
                .iter()
                .map(|p| match &p.version {
                    Some(v) => format!("{}={v}", p.name),
                    None => p.name.clone(),
                })
                .collect(),
            exclude: spec.exclude.iter().map(|e| e.name.clone()).collect(),
            prefer: spec.prefer.clone(),
            recommends: spec.recommends,
            architectures: architectures.to_vec(),
            repositories: spec.repositories_as_written.clone(),
        }
    }

    /// A readable list of differences from `self` (locked) to `now` (spec),
    /// empty when they agree.
    pub fn drift(&self, now: &Inputs) -> Vec<String> {
        let mut out = Vec::new();
        let mut set_diff = |what: &str, old: &[String], new: &[String]| {
            let old: BTreeSet<_> = old.iter().collect();
            let new: BTreeSet<_> = new.iter().collect();
            for added in new.difference(&old) {
                out.push(format!(
                    "{what}: + {added} (in the spec, not in the lockfile)"
                ));
            }
            for removed in old.difference(&new) {
                out.push(format!(
                    "{what}: - {removed} (in the lockfile, not in the spec)"
                ));
            }
        };
        set_diff("packages", &self.packages, &now.packages);
        set_diff("exclude", &self.exclude, &now.exclude);
        set_diff("prefer", &self.prefer, &now.prefer);
        set_diff("architectures", &self.architectures, &now.architectures);
        if self.recommends != now.recommends {
            out.push(format!(
                "recommends: {} in the lockfile, {} in the spec",
                self.recommends, now.recommends
            ));
        }
        if self.repositories != now.repositories {
            out.push(format!(
                "repositories: {} in the lockfile, {} in the spec",
                self.repositories, now.repositories
            ));
        }
        out
    }
}

/// A signed repository (one suite of one source).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LockedRepository {
    /// The spec's repository entry as written (JSON), `${VAR}` unexpanded.
    pub entry: String,
    /// The suite.
    pub suite: String,
    /// The Release's `Origin`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The Release's `Version` (`12.15`), if any: with `codename`, what
    /// `/etc/os-release` says in an image without base-files. Lockfiles
    /// written before bulwark recorded it lack it; a locked build from
    /// them writes no os-release and warns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The Release's `Codename` (`bookworm`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codename: Option<String>,
    /// SHA-256 of the InRelease file the packages were resolved from.
    pub inrelease_sha256: String,
}

/// One package of one image platform.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LockedPackage {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The package's architecture (`all` or the platform's).
    pub architecture: String,
    /// The image platform (Debian architecture) this entry belongs to.
    pub platform: String,
    /// Index into the repositories.
    pub repository: usize,
    /// Pool path relative to the repository URI.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the .deb.
    pub sha256: String,
}

/// The most bytes read of a lockfile (one of 10,000 packages on four
/// platforms takes about 10 MiB).
pub const MAX_LOCKFILE: u64 = 64 << 20;

/// The lockfile path for a spec: the spec's path with `.lock` as extension.
pub fn path_for(spec: &Path) -> PathBuf {
    spec.with_extension("lock")
}

impl Lockfile {
    /// Reads a lockfile: a regular file of at most [`MAX_LOCKFILE`] bytes.
    pub fn read(path: &Path) -> Result<Lockfile> {
        let bytes = bulwark_oci::read_regular(path, MAX_LOCKFILE)
            .with_context(|| format!("cannot read lockfile `{}`", path.display()))?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("lockfile `{}` is not UTF-8", path.display()))?;
        let lock: Lockfile = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "invalid lockfile `{}`: {}",
                path.display(),
                one_line(&e.to_string())
            )
        })?;
        if lock.version != FORMAT_VERSION {
            anyhow::bail!(
                "lockfile `{}` has format version {}, this bulwark reads version {FORMAT_VERSION}",
                path.display(),
                lock.version
            );
        }
        for p in &lock.packages {
            if p.repository >= lock.repositories.len() {
                anyhow::bail!(
                    "invalid lockfile `{}`: package `{}` names repository {} of {}",
                    path.display(),
                    p.name,
                    p.repository,
                    lock.repositories.len()
                );
            }
            if p.sha256.len() != 64 || !p.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                anyhow::bail!(
                    "invalid lockfile `{}`: package `{}` has no valid sha256",
                    path.display(),
                    p.name
                );
            }
            if p.path.split('/').any(|c| c == ".." || c.is_empty()) {
                anyhow::bail!(
                    "invalid lockfile `{}`: package `{}` has an unsafe path `{}`",
                    path.display(),
                    p.name,
                    p.path
                );
            }
        }
        Ok(lock)
    }

    /// Renders the lockfile as TOML with a header comment.
    pub fn render(&self) -> Result<String> {
        let body = toml::to_string(self).context("cannot serialize the lockfile")?;
        Ok(format!(
            "# Written by `bulwark lock`. Do not edit: run `bulwark lock --update`.\n\
             # Repositories appear as the spec wrote them; no host is named here.\n{body}"
        ))
    }

    /// Writes the lockfile atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        Ok(bulwark_oci::write_atomic(path, self.render()?.as_bytes())?)
    }

    /// The packages of one platform.
    pub fn packages_for<'a>(
        &'a self,
        platform: &'a str,
    ) -> impl Iterator<Item = &'a LockedPackage> {
        self.packages.iter().filter(move |p| p.platform == platform)
    }
}

/// What changed between two lockfiles, one line per package.
pub fn changes(old: &Lockfile, new: &Lockfile) -> Vec<String> {
    use std::collections::BTreeMap;
    let key = |p: &LockedPackage| (p.platform.clone(), p.name.clone());
    let old_map: BTreeMap<_, _> = old.packages.iter().map(|p| (key(p), p)).collect();
    let new_map: BTreeMap<_, _> = new.packages.iter().map(|p| (key(p), p)).collect();
    let mut out = Vec::new();
    for (k, n) in &new_map {
        match old_map.get(k) {
            None => out.push(format!("+ {} {} ({})", n.name, n.version, n.platform)),
            Some(o) if o.version != n.version => out.push(format!(
                "~ {} {} -> {} ({})",
                n.name, o.version, n.version, n.platform
            )),
            Some(o) if o.sha256 != n.sha256 => out.push(format!(
                "~ {} {} rebuilt: sha256 {} -> {} ({})",
                n.name, n.version, o.sha256, n.sha256, n.platform
            )),
            Some(_) => {}
        }
    }
    for (k, o) in &old_map {
        if !new_map.contains_key(k) {
            out.push(format!("- {} {} ({})", o.name, o.version, o.platform));
        }
    }
    out
}

fn one_line(s: &str) -> String {
    let mut out = String::new();
    for (i, l) in s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push_str("; ");
        }
        let _ = write!(out, "{l}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lockfile {
        Lockfile {
            version: FORMAT_VERSION,
            inputs: Inputs {
                packages: vec!["base-files".into()],
                exclude: vec![],
                prefer: vec![],
                recommends: false,
                architectures: vec!["amd64".into()],
                repositories: r#"[{"host":"bookworm"}]"#.into(),
            },
            repositories: vec![LockedRepository {
                entry: r#"{"host":"bookworm"}"#.into(),
                suite: "bookworm".into(),
                origin: Some("Debian".into()),
                version: Some("12.15".into()),
                codename: Some("bookworm".into()),
                inrelease_sha256: "00".repeat(32),
            }],
            packages: vec![LockedPackage {
                name: "base-files".into(),
                version: "12.4+deb12u10".into(),
                architecture: "amd64".into(),
                platform: "amd64".into(),
                repository: 0,
                path: "pool/main/b/base-files/base-files_12.4+deb12u10_amd64.deb".into(),
                size: 70000,
                sha256: "ab".repeat(32),
            }],
            excluded: vec![LockedExclusion {
                name: "awk".into(),
                platform: "amd64".into(),
                required_by: vec!["base-files Pre-Depends: awk".into()],
            }],
        }
    }

    #[test]
    fn round_trips_and_validates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let lock = sample();
        lock.write(&path).unwrap();
        assert_eq!(Lockfile::read(&path).unwrap(), lock);

        let mut bad = sample();
        bad.packages[0].path = "pool/../../etc/passwd".into();
        bad.write(&path).unwrap();
        let e = Lockfile::read(&path).unwrap_err().to_string();
        assert!(e.contains("unsafe path"), "{e}");
    }

    #[test]
    fn a_lockfile_without_release_version_and_codename_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.lock");
        let mut old = sample();
        old.repositories[0].version = None;
        old.repositories[0].codename = None;
        let text = old.render().unwrap();
        assert!(
            !text.contains("12.15") && !text.contains("codename"),
            "{text}"
        );
        std::fs::write(&path, &text).unwrap();
        assert_eq!(Lockfile::read(&path).unwrap(), old);
        // A new one records both fields.
        let text = sample().render().unwrap();
        assert!(
            text.contains("version = \"12.15\"\ncodename = \"bookworm\"\n"),
            "{text}"
        );
    }

    #[test]
    fn drift_names_each_difference() {
        let a = sample().inputs;
        let mut b = a.clone();
        b.packages.push("curl".into());
        b.recommends = true;
        let d = a.drift(&b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("+ curl"));
        assert!(a.drift(&a).is_empty());
    }

    #[test]
    fn lock_path_replaces_extension() {
        assert_eq!(
            path_for(Path::new("ex/python.yaml")),
            Path::new("ex/python.lock")
        );
    }

    #[test]
    fn changes_lists_upgrades() {
        let a = sample();
        let mut b = sample();
        b.packages[0].version = "12.4+deb12u11".into();
        assert_eq!(
            changes(&a, &b),
            ["~ base-files 12.4+deb12u10 -> 12.4+deb12u11 (amd64)"]
        );
    }
}
