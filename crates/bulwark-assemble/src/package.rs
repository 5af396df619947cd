//! Reading one `.deb` into a layer tree, with the security checks and the
//! facts the system layer needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;

use md5::{Digest, Md5};

use bulwark_deb::deb::DebArchive;
use bulwark_deb::Paragraph;
use bulwark_spec::DpkgDatabase;

use crate::tarball::{Kind, Node, Tree};
use crate::{scripts, Error, Options, PackageFacts, PackageInput, PathFact, PathKind};

/// Root directories that merged `/usr` moves under `usr/`.
pub(crate) const MERGED_ROOTS: [&str; 6] = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// A normalized archive path.
pub(crate) struct Normalized {
    /// As dpkg records it: `/bin/sh`.
    pub(crate) original: String,
    /// Where it is written: `usr/bin/sh`.
    pub(crate) rewritten: String,
    /// Whether it is one of the merged roots itself (`bin`).
    pub(crate) is_merged_root: bool,
}

/// Normalizes an archive path: strips `./`, rejects absolute paths and `..`,
/// and rewrites merged-`/usr` roots. `Ok(None)` is the root directory.
pub(crate) fn normalize(raw: &str) -> Result<Option<Normalized>, String> {
    if raw.starts_with('/') {
        return Err("absolute path".into());
    }
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("`..` component".into()),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    let original = format!("/{}", parts.join("/"));
    let is_merged_root = parts.len() == 1 && MERGED_ROOTS.contains(&parts[0]);
    let rewritten = if MERGED_ROOTS.contains(&parts[0]) {
        format!("usr/{}", parts.join("/"))
    } else {
        parts.join("/")
    };
    Ok(Some(Normalized {
        original,
        rewritten,
        is_merged_root,
    }))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads `input`'s `.deb` into `tree` and returns its facts.
pub(crate) fn ingest(
    input: &PackageInput,
    deb: &DebArchive,
    tree: &mut Tree,
    options: &Options,
) -> Result<PackageFacts, Error> {
    let control = deb.control()?;
    let hostile = |entry: &str, reason: String| Error::Hostile {
        package: input.name.clone(),
        deb: input.deb.clone(),
        entry: entry.to_string(),
        reason,
    };
    let read_err = |source| Error::Read {
        package: input.name.clone(),
        deb: input.deb.clone(),
        source,
    };
    let para = Paragraph::new_unchecked(&control.control);
    let mut facts = PackageFacts {
        name: input.name.clone(),
        version: input.version.clone(),
        architecture: input.architecture.clone(),
        source: input.source.clone(),
        multi_arch: para.get("Multi-Arch").map(str::to_string),
        control: control.control.clone(),
        paths: Vec::new(),
        setid: Vec::new(),
        ca_certificates: BTreeMap::new(),
        passwd_master: None,
        group_master: None,
        alternatives: Vec::new(),
        ld_so_conf: BTreeMap::new(),
        shared_objects: BTreeMap::new(),
        add_shells: Vec::new(),
        shells_template: None,
        shells_d: BTreeMap::new(),
        scripts: Vec::new(),
        control_members: control.files.keys().cloned().collect(),
        copied_files: BTreeMap::new(),
        layer_rewrites: Vec::new(),
    };
    // The archive's own regular files, for hard link checks.
    let mut own_files: BTreeMap<String, String> = BTreeMap::new();
    let mut kinds: BTreeMap<String, (PathKind, u32, u64, u64)> = BTreeMap::new();
    let mut list = vec!["/.".to_string()];

    // dpkg computes md5sums at unpack time for packages that ship none;
    // so does bulwark, so scanners can tell which package owns a file.
    let mut generated_md5sums = control.md5sums().is_none().then(String::new);
    let mut archive = deb.data()?;
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let raw_bytes = entry.path_bytes().into_owned();
        let raw = String::from_utf8(raw_bytes)
            .map_err(|e| hostile(&text(e.as_bytes()), "the path is not UTF-8".into()))?;
        let Some(norm) = normalize(&raw).map_err(|r| hostile(&raw, r))? else {
            continue;
        };
        let header = entry.header();
        let mode = header.mode().map_err(read_err)? & 0o7777;
        let uid = header.uid().map_err(read_err)?;
        let gid = header.gid().map_err(read_err)?;
        let mtime = header.mtime().map_err(read_err)?.min(options.epoch);
        let entry_type = header.entry_type();
        let kind = match entry_type {
            tar::EntryType::Directory => {
                if norm.is_merged_root {
                    // `bin/` itself: `usr/bin` is created as needed.
                    list.push(norm.original);
                    continue;
                }
                Kind::Directory
            }
            t if t.is_file() => {
                let size = entry.size();
                let content = match &mut generated_md5sums {
                    Some(md5sums) => {
                        let mut hashing = Md5Reader {
                            inner: &mut entry,
                            hasher: Md5::new(),
                        };
                        let content = tree.spool(&mut hashing, size).map_err(read_err)?;
                        let digest = hashing.hasher.finalize();
                        let _ = writeln!(
                            md5sums,
                            "{}  {}",
                            hex::encode(digest),
                            norm.original.trim_start_matches('/')
                        );
                        content
                    }
                    None => tree.spool(&mut entry, size).map_err(read_err)?,
                };
                Kind::File(content)
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| text(&b))
                    .ok_or_else(|| hostile(&raw, "symlink without a target".into()))?;
                if norm.is_merged_root {
                    let want = format!("usr/{}", &norm.original[1..]);
                    if target.trim_start_matches('/').trim_end_matches('/') == want {
                        // The merged-/usr root symlink: the system layer has it.
                        list.push(norm.original);
                        continue;
                    }
                    return Err(hostile(
                        &raw,
                        format!("the merged-/usr root is a symlink to `{target}`, not `{want}`"),
                    ));
                }
                if target.is_empty() {
                    return Err(hostile(&raw, "symlink with an empty target".into()));
                }
                Kind::Symlink(target)
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| text(&b))
                    .ok_or_else(|| hostile(&raw, "hard link without a target".into()))?;
                let target_norm = normalize(&target)
                    .map_err(|r| hostile(&raw, format!("hard link target `{target}`: {r}")))?
                    .ok_or_else(|| hostile(&raw, "hard link to the root".into()))?;
                let Some(resolved) = own_files.get(&target_norm.rewritten) else {
                    return Err(hostile(
                        &raw,
                        format!("hard link to `{target}`, which is not an earlier regular file of this archive"),
                    ));
                };
                Kind::Hardlink(resolved.clone())
            }
            other => {
                return Err(hostile(
                    &raw,
                    format!("unsupported entry type {other:?} (device nodes, FIFOs and the like are refused)"),
                ))
            }
        };
        if norm.is_merged_root {
            return Err(hostile(
                &raw,
                "a merged-/usr root must be a directory or the symlink to usr/".into(),
            ));
        }
        let path = norm.rewritten;
        list.push(norm.original);
        if let Kind::File(_) = &kind {
            if mode & 0o6000 != 0 {
                facts.setid.push(path.clone());
            }
            collect_file_fact(&mut facts, &path, &kind, tree);
            own_files.insert(path.clone(), path.clone());
        }
        if let Kind::Hardlink(target) = &kind {
            own_files.insert(path.clone(), target.clone());
            if mode & 0o6000 != 0 {
                facts.setid.push(path.clone());
            }
        }
        let fact_kind = match &kind {
            Kind::Directory => PathKind::Directory,
            Kind::File(_) => PathKind::File,
            Kind::Symlink(t) => PathKind::Symlink { target: t.clone() },
            Kind::Hardlink(t) => PathKind::Hardlink { target: t.clone() },
        };
        if let Some(existing) = tree.nodes.get(&path) {
            if matches!(existing.kind, Kind::Directory) && matches!(kind, Kind::Directory) {
                // dpkg keeps an existing directory as it is.
                let meta = (fact_kind, existing.mode, existing.uid, existing.gid);
                kinds.insert(path, meta);
                continue;
            }
        }
        kinds.insert(path.clone(), (fact_kind, mode, uid, gid));
        tree.nodes.insert(
            path,
            Node {
                kind,
                mode,
                uid,
                gid,
                mtime,
            },
        );
    }
    if let Some(postinst) = control.scripts().find(|(name, _)| *name == "postinst") {
        migrate_directories(
            &text(postinst.1),
            tree,
            &mut kinds,
            &mut facts,
            options.epoch,
        );
    }
    facts.paths = kinds
        .into_iter()
        .map(|(path, (kind, mode, uid, gid))| PathFact {
            path,
            kind,
            mode,
            uid,
            gid,
        })
        .collect();
    facts.setid.sort();
    facts.setid.dedup();

    // Maintainer scripts.
    for (name, body) in control.scripts() {
        let body = text(body);
        let analysis = scripts::analyze(
            &input.name,
            &input.version,
            &input.architecture,
            name,
            &body,
        );
        if name == "postinst" {
            facts.alternatives = analysis.alternatives;
            facts.add_shells = analysis.add_shells;
        }
        facts.scripts.push(analysis.fact);
    }

    // dpkg metadata.
    let epoch = options.epoch;
    let mut stanza = control.control.clone();
    if !stanza.ends_with('\n') {
        stanza.push('\n');
    }
    match options.dpkg_database {
        DpkgDatabase::StatusD => {
            let dir = "var/lib/dpkg/status.d";
            tree.nodes.insert(
                format!("{dir}/{}", input.name),
                Node::file(stanza.into_bytes(), 0o644, epoch),
            );
            let md5sums = control
                .md5sums()
                .map(<[u8]>::to_vec)
                .or_else(|| generated_md5sums.clone().map(String::into_bytes));
            if let Some(md5) = md5sums {
                tree.nodes.insert(
                    format!("{dir}/{}.md5sums", input.name),
                    Node::file(md5, 0o644, epoch),
                );
            }
        }
        DpkgDatabase::Classic => {
            let dir = "var/lib/dpkg/info";
            let name = facts.dpkg_name();
            let mut listing = list.join("\n");
            listing.push('\n');
            tree.nodes.insert(
                format!("{dir}/{name}.list"),
                Node::file(listing.into_bytes(), 0o644, epoch),
            );
            for (member, bytes) in &control.files {
                let mode = if bulwark_deb::deb::MAINTAINER_SCRIPTS.contains(&member.as_str()) {
                    0o755
                } else {
                    0o644
                };
                tree.nodes.insert(
                    format!("{dir}/{name}.{member}"),
                    Node::file(bytes.clone(), mode, epoch),
                );
            }
            if let Some(md5sums) = generated_md5sums {
                tree.nodes.insert(
                    format!("{dir}/{name}.md5sums"),
                    Node::file(md5sums.into_bytes(), 0o644, epoch),
                );
            }
        }
    }
    Ok(facts)
}

/// Shipped files that maintainer scripts copy on a fresh install (see
/// `effects.rs`).
pub(crate) const COPIED_FILES: &[&str] = &[
    "usr/share/base-files/dot.profile",
    "usr/share/base-files/dot.bashrc",
    "usr/share/base-files/profile",
    "usr/share/base-files/motd",
    "usr/share/base-files/info.dir",
    "usr/share/libc-bin/nsswitch.conf",
    "usr/share/readline/inputrc",
];

/// base-files' postinst turns its own `/var/run` and `/var/lock`
/// directories into links (`migrate_directory /var/run /run`). Replacing a
/// directory of an earlier layer by a link in a later one is handled
/// differently by OCI unpackers, so bulwark does it here, in the layer that
/// ships the directories, as long as nothing in the layer lies below them.
fn migrate_directories(
    postinst: &str,
    tree: &mut Tree,
    kinds: &mut BTreeMap<String, (PathKind, u32, u64, u64)>,
    facts: &mut PackageFacts,
    epoch: u64,
) {
    for (dir, target) in [("var/run", "/run"), ("var/lock", "/run/lock")] {
        if !postinst.contains(&format!("migrate_directory /{dir} {target}\n")) {
            continue;
        }
        let is_dir = tree
            .nodes
            .get(dir)
            .is_some_and(|n| matches!(n.kind, Kind::Directory));
        let prefix = format!("{dir}/");
        let has_children = tree
            .nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(p, _)| p.starts_with(&prefix));
        if !is_dir || has_children {
            continue;
        }
        tree.nodes
            .insert(dir.to_string(), Node::symlink(target, epoch));
        kinds.insert(
            dir.to_string(),
            (
                PathKind::Symlink {
                    target: target.to_string(),
                },
                0o777,
                0,
                0,
            ),
        );
        facts.layer_rewrites.push(format!(
            "/{dir}: the shipped directory is a link to {target}, as the postinst's \
             migrate_directory makes it"
        ));
    }
}

/// Records the contents of the files the system layer reads.
fn collect_file_fact(facts: &mut PackageFacts, path: &str, kind: &Kind, tree: &Tree) {
    if let Some((dir, file_name)) = path.rsplit_once('/') {
        if crate::ldcache::is_candidate_name(file_name)
            && !crate::system::is_loader_builtin_dir(dir)
        {
            if let Kind::File(content) = kind {
                if let Some(so) = tree
                    .read_content(content)
                    .and_then(|bytes| crate::ldcache::shared_object(file_name, &bytes))
                {
                    facts.shared_objects.insert(path.to_string(), so);
                }
            }
        }
    }
    let copied = COPIED_FILES.contains(&path);
    let wanted = copied
        || path.starts_with("usr/share/ca-certificates/")
        || path.starts_with("usr/share/base-passwd/")
        || path.starts_with("etc/ld.so.conf.d/")
        || path.starts_with("usr/share/debianutils/");
    if !wanted {
        return;
    }
    let Kind::File(content) = kind else {
        return;
    };
    let Some(bytes) = tree.read_content(content) else {
        return;
    };
    if copied {
        if let Ok(body) = String::from_utf8(bytes) {
            facts.copied_files.insert(path.to_string(), body);
        }
        return;
    }
    let body = text(&bytes);
    if let Some(rel) = path.strip_prefix("usr/share/ca-certificates/") {
        if rel.ends_with(".crt") {
            facts.ca_certificates.insert(rel.to_string(), body);
        }
    } else if path == "usr/share/base-passwd/passwd.master" {
        facts.passwd_master = Some(body);
    } else if path == "usr/share/base-passwd/group.master" {
        facts.group_master = Some(body);
    } else if let Some(name) = path.strip_prefix("etc/ld.so.conf.d/") {
        facts.ld_so_conf.insert(name.to_string(), body);
    } else if path == "usr/share/debianutils/shells" {
        facts.shells_template = Some(body);
    } else if let Some(name) = path.strip_prefix("usr/share/debianutils/shells.d/") {
        facts.shells_d.insert(name.to_string(), body);
    }
}

/// Hashes what passes through it with MD5.
struct Md5Reader<'a, R: Read> {
    inner: &'a mut R,
    hasher: Md5,
}

impl<R: Read> Read for Md5Reader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
