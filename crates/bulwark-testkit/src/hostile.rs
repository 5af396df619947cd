//! [`hostile_deb`]: packages whose data archive tries to leave the image root.
//!
//! `dpkg-deb --build` refuses to produce these, so they are written by hand:
//! an `ar` archive holding `debian-binary`, a valid `control.tar.xz` and a
//! `data.tar.xz` whose tar headers carry the hostile names verbatim.

use std::io::Write;
use std::path::{Path, PathBuf};

use tar::EntryType;

use crate::util;

/// The kind of escape a [`hostile_deb`] attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hostile {
    /// A regular file named `./../../etc/evil`.
    DotDot,
    /// A regular file named `/etc/evil`.
    Absolute,
    /// A symlink `./usr/share/x` → `/etc`, then a regular file
    /// `./usr/share/x/evil` written through it.
    SymlinkEscape,
    /// A hard link `./usr/share/evil` whose target is `./../../etc/shadow`.
    HardlinkEscape,
}

impl Hostile {
    /// Every kind, for tests that loop over them.
    pub const ALL: [Hostile; 4] = [
        Hostile::DotDot,
        Hostile::Absolute,
        Hostile::SymlinkEscape,
        Hostile::HardlinkEscape,
    ];

    /// The tar member name of the offending entry, as written in the
    /// archive (an error should name it).
    pub fn entry(self) -> &'static str {
        match self {
            Hostile::DotDot => "./../../etc/evil",
            Hostile::Absolute => "/etc/evil",
            Hostile::SymlinkEscape => "./usr/share/x/evil",
            Hostile::HardlinkEscape => "./usr/share/evil",
        }
    }

    /// A short name for the kind, used in the package description.
    pub fn label(self) -> &'static str {
        match self {
            Hostile::DotDot => "dotdot",
            Hostile::Absolute => "absolute",
            Hostile::SymlinkEscape => "symlink-escape",
            Hostile::HardlinkEscape => "hardlink-escape",
        }
    }
}

/// Writes `NAME_VERSION_all.deb` into `out_dir` (created if missing): a
/// well-formed package (valid `control.tar.xz`, indexable by
/// `apt-ftparchive`) whose `data.tar.xz` holds the entry described by
/// `kind`, after harmless `./`, `./usr/` and `./usr/share/` directories.
/// Returns the path of the `.deb`.
///
/// # Panics
///
/// If the file cannot be written.
pub fn hostile_deb(kind: Hostile, name: &str, version: &str, out_dir: &Path) -> PathBuf {
    let control = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: all\n\
         Maintainer: bulwark tests <test@invalid>\nInstalled-Size: 1\n\
         Description: hostile fixture ({label})\n hand-crafted archive that escapes the root\n",
        label = kind.label()
    );
    let mut ctl = Tar::new();
    ctl.entry(b"./", EntryType::Directory, b"", b"", 0o755);
    ctl.entry(
        b"./control",
        EntryType::Regular,
        b"",
        control.as_bytes(),
        0o644,
    );

    let mut data = Tar::new();
    data.entry(b"./", EntryType::Directory, b"", b"", 0o755);
    data.entry(b"./usr/", EntryType::Directory, b"", b"", 0o755);
    data.entry(b"./usr/share/", EntryType::Directory, b"", b"", 0o755);
    let evil = b"evil\n";
    match kind {
        Hostile::DotDot | Hostile::Absolute => {
            data.entry(
                kind.entry().as_bytes(),
                EntryType::Regular,
                b"",
                evil,
                0o644,
            );
        }
        Hostile::SymlinkEscape => {
            data.entry(b"./usr/share/x", EntryType::Symlink, b"/etc", b"", 0o777);
            data.entry(
                kind.entry().as_bytes(),
                EntryType::Regular,
                b"",
                evil,
                0o644,
            );
        }
        Hostile::HardlinkEscape => {
            data.entry(
                kind.entry().as_bytes(),
                EntryType::Link,
                b"./../../etc/shadow",
                b"",
                0o644,
            );
        }
    }

    let file_name = format!(
        "{name}_{}_all.deb",
        version.split_once(':').map_or(version, |(_, v)| v)
    );
    let out = out_dir.join(file_name);
    let members: [(&str, Vec<u8>); 3] = [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar.xz", xz(&ctl.finish())),
        ("data.tar.xz", xz(&data.finish())),
    ];
    let mut ar = ar::Builder::new(Vec::new());
    for (member, bytes) in &members {
        let mut h = ar::Header::new(member.as_bytes().to_vec(), bytes.len() as u64);
        h.set_mode(0o100644);
        h.set_mtime(crate::SOURCE_DATE_EPOCH);
        if let Err(e) = ar.append(&h, bytes.as_slice()) {
            panic!("cannot write ar member `{member}` of `{name}`: {e}");
        }
    }
    let bytes = match ar.into_inner() {
        Ok(b) => b,
        Err(e) => panic!("cannot finish ar archive `{name}`: {e}"),
    };
    util::write(&out, &bytes);
    out
}

/// A tar archive written with raw header names (no path validation).
struct Tar {
    builder: tar::Builder<Vec<u8>>,
}

impl Tar {
    fn new() -> Self {
        Tar {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn entry(&mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8], mode: u32) {
        assert!(name.len() <= 100 && link.len() <= 100, "tar name too long");
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name);
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(crate::SOURCE_DATE_EPOCH);
        h.set_size(data.len() as u64);
        if let Err(e) = h
            .set_username("root")
            .and_then(|()| h.set_groupname("root"))
        {
            panic!("cannot set tar owner names: {e}");
        }
        h.set_cksum();
        if let Err(e) = self.builder.append(&h, data) {
            panic!("cannot append tar entry: {e}");
        }
    }

    fn finish(self) -> Vec<u8> {
        match self.builder.into_inner() {
            Ok(b) => b,
            Err(e) => panic!("cannot finish tar archive: {e}"),
        }
    }
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
    match enc.write_all(bytes).and_then(|()| enc.finish()) {
        Ok(b) => b,
        Err(e) => panic!("cannot xz-compress: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// `dpkg-deb` itself must read the hostile archives and list the
    /// hostile entry: they are well-formed packages, only their contents
    /// are malicious.
    #[test]
    fn dpkg_deb_reads_them_and_lists_the_entry() {
        let dir = util::tempdir("t-");
        for kind in Hostile::ALL {
            let deb = hostile_deb(kind, &format!("evil-{}", kind.label()), "1.0", dir.path());
            assert!(deb.ends_with(format!("evil-{}_1.0_all.deb", kind.label())));
            let info = Command::new("dpkg-deb")
                .args(["--field"])
                .arg(&deb)
                .arg("Package")
                .output()
                .unwrap();
            assert!(info.status.success(), "{info:?}");
            assert_eq!(
                String::from_utf8_lossy(&info.stdout).trim(),
                format!("evil-{}", kind.label())
            );
            let list = Command::new("dpkg-deb")
                .arg("--fsys-tarfile")
                .arg(&deb)
                .output()
                .unwrap();
            assert!(list.status.success(), "{list:?}");
            let mut names = Vec::new();
            let mut ar = tar::Archive::new(list.stdout.as_slice());
            for e in ar.entries().unwrap() {
                let e = e.unwrap();
                names.push(String::from_utf8_lossy(&e.path_bytes()).into_owned());
            }
            assert!(
                names.iter().any(|n| n == kind.entry()),
                "{kind:?}: {names:?}"
            );
        }
    }

    #[test]
    fn symlink_escape_has_the_link_first() {
        let dir = util::tempdir("t-");
        let deb = hostile_deb(Hostile::SymlinkEscape, "e", "1", dir.path());
        let tarball = Command::new("dpkg-deb")
            .arg("--fsys-tarfile")
            .arg(&deb)
            .output()
            .unwrap()
            .stdout;
        let mut ar = tar::Archive::new(tarball.as_slice());
        let entries: Vec<(String, EntryType, Option<String>)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                    e.header().entry_type(),
                    e.link_name_bytes()
                        .map(|l| String::from_utf8_lossy(&l).into_owned()),
                )
            })
            .collect();
        assert_eq!(
            entries[3],
            (
                "./usr/share/x".to_string(),
                EntryType::Symlink,
                Some("/etc".to_string())
            )
        );
        assert_eq!(entries[4].0, "./usr/share/x/evil");
    }
}
