//! What reviewed maintainer scripts do on a fresh install, done natively
//! (the scripts and what each does are listed in `REVIEWED`, in
//! `scripts.rs`). Each effect is guarded the way the script guards it: a
//! path the image already has is left alone, so the effects never replace a
//! package's file.

use bulwark_spec::DpkgDatabase;

use crate::system::{layer_path, Image};
use crate::tarball::{Node, Tree};
use crate::{DebianRelease, PackageFacts, PathKind, SystemReport};

/// `/etc/hosts` as netbase's postinst writes it on a fresh install (its
/// here-document is `<<-`, so the leading tabs are stripped).
pub(crate) const NETBASE_HOSTS: &str = "127.0.0.1\tlocalhost\n\
    ::1\t\tlocalhost ip6-localhost ip6-loopback\n\
    ff02::1\t\tip6-allnodes\n\
    ff02::2\t\tip6-allrouters\n\
    \n";

/// `/etc/networks` as netbase's postinst writes it on a fresh install.
pub(crate) const NETBASE_NETWORKS: &str = "default\t\t0.0.0.0\n\
    loopback\t127.0.0.0\n\
    link-local\t169.254.0.0\n\
    \n";

/// `/etc/python3/debian_config` as python3's postinst writes it.
const PYTHON3_DEBIAN_CONFIG: &str = "[DEFAULT]\n\
    # how to byte-compile (comma separated: standard, optimize)\n\
    byte-compile = standard\n";

/// The directories base-files' postinst makes with `install_directory`:
/// path, mode, group.
const BASE_FILES_DIRECTORIES: &[(&str, u32, &str)] = &[
    ("mnt", 0o755, "root"),
    ("srv", 0o755, "root"),
    ("opt", 0o755, "root"),
    ("etc/opt", 0o755, "root"),
    ("var/opt", 0o755, "root"),
    ("media", 0o755, "root"),
    ("var/mail", 0o2775, "mail"),
];

/// The directories base-files' postinst makes with `install_local_dir`.
const USR_LOCAL: &[&str] = &[
    "usr/local",
    "usr/local/share",
    "usr/local/share/man",
    "usr/local/bin",
    "usr/local/games",
    "usr/local/lib",
    "usr/local/include",
    "usr/local/sbin",
    "usr/local/src",
    "usr/local/etc",
];

/// The group ids base-passwd gives the groups the scripts name, for images
/// without base-passwd.
const DEFAULT_GIDS: &[(&str, u64)] = &[("root", 0), ("mail", 8), ("utmp", 43), ("staff", 50)];

struct Effects<'a, 'b> {
    facts: &'a [PackageFacts],
    image: &'a Image<'a>,
    tree: &'b mut Tree,
    report: &'b mut SystemReport,
    epoch: u64,
}

impl Effects<'_, '_> {
    fn has(&self, package: &str) -> bool {
        self.facts.iter().any(|f| f.name == package)
    }

    /// Whether a path (relative, as in the image) exists, is a symlink, or
    /// was generated already.
    fn present(&self, path: &str) -> bool {
        let rel = layer_path(path);
        self.image.paths.contains_key(rel.as_str())
            || self.tree.nodes.contains_key(&rel)
            || self.image.exists(path)
    }

    fn is_dir(&self, path: &str) -> bool {
        let (resolved, exists) = self.image.resolve(path);
        exists
            && (resolved == "usr"
                || self
                    .image
                    .paths
                    .get(resolved.as_str())
                    .is_some_and(|v| matches!(v.0, PathKind::Directory)))
    }

    /// A group's id: from base-passwd's `group.master`, else its default.
    fn gid(&self, group: &str) -> u64 {
        let master = self.facts.iter().find_map(|f| f.group_master.as_deref());
        master
            .and_then(|m| {
                m.lines().find_map(|l| {
                    let mut fields = l.split(':');
                    (fields.next() == Some(group))
                        .then(|| fields.nth(1)?.parse().ok())
                        .flatten()
                })
            })
            .or_else(|| DEFAULT_GIDS.iter().find(|d| d.0 == group).map(|d| d.1))
            .unwrap_or(0)
    }

    fn insert(&mut self, path: &str, mut node: Node, gid: u64) {
        node.gid = gid;
        self.tree.nodes.insert(layer_path(path), node);
    }

    /// `touch`/`cat >` of a missing file.
    fn file(&mut self, path: &str, data: &[u8], mode: u32, gid: u64) {
        if !self.present(path) {
            let node = Node::file(data.to_vec(), mode, self.epoch);
            self.insert(path, node, gid);
        }
    }

    /// `mkdir` of a missing directory.
    fn dir(&mut self, path: &str, mode: u32, gid: u64) {
        if !self.present(path) {
            let node = Node::dir(mode, self.epoch);
            self.insert(path, node, gid);
        }
    }

    /// `ln -s` where nothing is.
    fn symlink(&mut self, path: &str, target: &str) {
        if !self.present(path) {
            let node = Node::symlink(target, self.epoch);
            self.insert(path, node, 0);
        }
    }

    /// `cp -p SOURCE DEST` of a missing destination: the contents, mode and
    /// owner of the shipped source.
    fn copy(&mut self, package: &str, source: &str, dest: &str) {
        if self.present(dest) {
            return;
        }
        let data = self
            .facts
            .iter()
            .find_map(|f| f.copied_files.get(source).filter(|_| f.name == package));
        let meta = self.image.paths.get(source);
        match (data, meta) {
            (Some(data), Some(&(PathKind::File, mode, uid, gid, _))) => {
                let mut node = Node::file(data.as_bytes().to_vec(), mode, self.epoch);
                node.uid = uid;
                self.insert(dest, node, gid);
            }
            _ => self.report.warnings.push(format!(
                "{package}: `/{source}` is missing or not text, so `/{dest}` was not written"
            )),
        }
    }
}

/// Does natively what the reviewed scripts of the installed packages do on
/// a fresh install, then, with `skeleton_release` (the release the image's
/// os-release names, or why it is unknown), what every image gets
/// ([`skeleton`]).
pub(crate) fn fresh_install(
    facts: &[PackageFacts],
    image: &Image<'_>,
    database: DpkgDatabase,
    skeleton_release: Option<&Result<DebianRelease, String>>,
    epoch: u64,
    tree: &mut Tree,
    report: &mut SystemReport,
) {
    let mut e = Effects {
        facts,
        image,
        tree,
        report,
        epoch,
    };
    if e.has("base-files") {
        base_files(&mut e);
    }
    if e.has("netbase") {
        e.file("etc/hosts", NETBASE_HOSTS.as_bytes(), 0o644, 0);
        e.file("etc/networks", NETBASE_NETWORKS.as_bytes(), 0o644, 0);
    }
    if e.has("libc-bin") {
        e.copy(
            "libc-bin",
            "usr/share/libc-bin/nsswitch.conf",
            "etc/nsswitch.conf",
        );
    }
    if e.has("readline-common") {
        e.copy(
            "readline-common",
            "usr/share/readline/inputrc",
            "etc/inputrc",
        );
    }
    if e.has("login") {
        e.file("var/log/faillog", b"", 0o644, 0);
        e.file("etc/subuid", b"", 0o644, 0);
        e.file("etc/subgid", b"", 0o644, 0);
    }
    if e.has("libpam-modules") {
        // `umask 066; touch`, then `umask 022; touch`.
        e.file("etc/security/opasswd", b"", 0o600, 0);
        e.file("etc/environment", b"", 0o644, 0);
    }
    if e.has("openssl") {
        e.symlink("usr/lib/ssl", "/etc/ssl");
    }
    if e.has("bash") {
        // dash ships /bin/sh; without it, bash's postinst links it.
        e.symlink("bin/sh", "bash");
    }
    python(&mut e);
    if database == DpkgDatabase::Classic {
        // dash's postinst diverts /bin/sh and, when man pages are there,
        // sh.1.gz; dpkg-divert writes the newest diversion first.
        let mut diversions = String::new();
        if e.has("dash") {
            if e.is_dir("usr/share/man/man1") {
                diversions.push_str(
                    "/usr/share/man/man1/sh.1.gz\n/usr/share/man/man1/sh.distrib.1.gz\ndash\n",
                );
            }
            diversions.push_str("/bin/sh\n/bin/sh.distrib\ndash\n");
        }
        e.file("var/lib/dpkg/diversions", diversions.as_bytes(), 0o644, 0);
        e.file("var/lib/dpkg/statoverride", b"", 0o644, 0);
        e.file("var/lib/dpkg/available", b"", 0o644, 0);
    }
    if let Some(release) = skeleton_release {
        skeleton(&mut e, release);
    }
}

/// The directories base-files ships that every container expects: path
/// and mode.
const SKELETON_DIRECTORIES: &[(&str, u32)] = &[
    ("tmp", 0o1777),
    ("var/tmp", 0o1777),
    ("root", 0o700),
    ("home", 0o755),
];

/// What every image gets unless the spec says `skeleton: false`, where no
/// package ships it: base-files' `/tmp`, `/var/tmp`, `/root` and `/home`,
/// and `/usr/lib/os-release` (with the `/etc/os-release` link) naming
/// `release`. When the release is unknown, no os-release is written and
/// the reason is a warning.
fn skeleton(e: &mut Effects<'_, '_>, release: &Result<DebianRelease, String>) {
    for &(dir, mode) in SKELETON_DIRECTORIES {
        e.dir(dir, mode, 0);
    }
    if e.present("etc/os-release") {
        return;
    }
    if !e.present("usr/lib/os-release") {
        match release {
            Ok(release) => {
                let text = release.os_release();
                e.file("usr/lib/os-release", text.as_bytes(), 0o644, 0);
            }
            Err(why) => {
                e.report.warnings.push(format!(
                    "no `/etc/os-release` was written, so scanners cannot tell the image's release: {why}"
                ));
                return;
            }
        }
    }
    e.symlink("etc/os-release", "../usr/lib/os-release");
}

/// base-files' postinst with `configure` and no old version. Its
/// `migrate_directory` calls (`/var/run`, `/var/lock`) are done in
/// base-files' own layer (see `package.rs`).
fn base_files(e: &mut Effects<'_, '_>) {
    if !e.present("etc/dpkg/origins/default") && e.present("etc/dpkg/origins/debian") {
        e.symlink("etc/dpkg/origins/default", "debian");
    }
    for (source, dest) in [
        ("dot.profile", "root/.profile"),
        ("dot.bashrc", "root/.bashrc"),
        ("profile", "etc/profile"),
        ("motd", "etc/motd"),
    ] {
        e.copy(
            "base-files",
            &format!("usr/share/base-files/{source}"),
            dest,
        );
    }
    for &(dir, mode, group) in BASE_FILES_DIRECTORIES {
        let gid = e.gid(group);
        e.dir(dir, mode, gid);
    }
    e.symlink("var/spool/mail", "../mail");
    e.dir("run/lock", 0o1777, 0);
    let staff = e.present("etc/staff-group-for-usr-local");
    let (mode, gid) = if staff {
        (0o2775, e.gid("staff"))
    } else {
        (0o755, 0)
    };
    for dir in USR_LOCAL {
        e.dir(dir, mode, gid);
    }
    e.symlink("usr/local/man", "share/man");
    let utmp = e.gid("utmp");
    e.file("var/log/wtmp", b"", 0o664, utmp);
    e.file("var/log/btmp", b"", 0o660, utmp);
    e.file("var/log/lastlog", b"", 0o664, utmp);
    if e.is_dir("usr/share/info") && !e.present("usr/info/dir") && !e.present("usr/share/info/dir")
    {
        e.copy(
            "base-files",
            "usr/share/base-files/info.dir",
            "usr/share/info/dir",
        );
    }
}

/// python3.X-minimal's preinst marker and `/usr/local` directories, and
/// python3's `debian_config`.
fn python(e: &mut Effects<'_, '_>) {
    let runtimes: Vec<String> = e
        .facts
        .iter()
        .filter_map(|f| {
            let version = f.name.strip_prefix("python")?.strip_suffix("-minimal")?;
            let (major, minor) = version.split_once('.')?;
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            (major == "3" && digits(minor)).then(|| format!("python{version}"))
        })
        .collect();
    let staff = e.present("etc/staff-group-for-usr-local");
    let (mode, gid) = if staff {
        (0o2755, e.gid("staff"))
    } else {
        (0o755, 0)
    };
    for python in runtimes {
        e.file(&format!("var/lib/python/{python}_installed"), b"", 0o644, 0);
        e.dir(&format!("usr/local/lib/{python}"), mode, gid);
        e.dir(&format!("usr/local/lib/{python}/dist-packages"), mode, gid);
    }
    if e.has("python3") {
        e.dir("etc/python3", 0o755, 0);
        e.file(
            "etc/python3/debian_config",
            PYTHON3_DEBIAN_CONFIG.as_bytes(),
            0o644,
            0,
        );
    }
}
