//! Reading `.deb` archives (deb(5)).
//!
//! A `.deb` is an `ar` archive whose first member is `debian-binary`
//! (`2.0\n`), followed by `control.tar[.gz|.xz|.zst]` and
//! `data.tar[.gz|.xz|.zst]`. [`DebArchive::open`] only reads the `ar`
//! headers; [`DebArchive::control`] reads the (small) control tarball into
//! memory and [`DebArchive::data`] streams and decompresses the data tarball
//! without buffering it.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Why a `.deb` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DebError {
    /// An I/O error while reading a member (or the `ar` headers).
    #[error("cannot read `{member}` of `{path}`: {source}")]
    Io {
        /// The `.deb` file.
        path: PathBuf,
        /// The member being read (`ar` for the archive itself).
        member: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The archive is not a valid `.deb`.
    #[error("`{path}` is not a valid .deb: {reason}")]
    Invalid {
        /// The `.deb` file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A member uses a compression bulwark does not read.
    #[error("`{member}` of `{path}` uses an unsupported compression (only none, gzip, xz and zstd are read)")]
    UnsupportedCompression {
        /// The `.deb` file.
        path: PathBuf,
        /// The member.
        member: String,
    },
}

/// Compression of a `control.tar*` or `data.tar*` member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Xz,
    Zstd,
}

/// Where one `ar` member's data lies in the file.
#[derive(Clone, Debug)]
struct Member {
    name: String,
    offset: u64,
    size: u64,
    compression: Compression,
}

/// An opened `.deb`: the locations of its members.
#[derive(Debug)]
pub struct DebArchive {
    path: PathBuf,
    control: Member,
    data: Member,
    mtime: u64,
}

/// The members of `control.tar*`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlMembers {
    /// The `control` file's text.
    pub control: String,
    /// Every other regular file of the control tarball (`md5sums`,
    /// `conffiles`, `shlibs`, `triggers`, `templates`, maintainer scripts …),
    /// by name without the leading `./`.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// The maintainer scripts dpkg (or debconf) may run.
pub const MAINTAINER_SCRIPTS: [&str; 5] = ["preinst", "postinst", "prerm", "postrm", "config"];

impl ControlMembers {
    /// The `md5sums` member, if any.
    pub fn md5sums(&self) -> Option<&[u8]> {
        self.files.get("md5sums").map(Vec::as_slice)
    }

    /// The `conffiles` member, if any.
    pub fn conffiles(&self) -> Option<&[u8]> {
        self.files.get("conffiles").map(Vec::as_slice)
    }

    /// The `shlibs` member, if any.
    pub fn shlibs(&self) -> Option<&[u8]> {
        self.files.get("shlibs").map(Vec::as_slice)
    }

    /// The `triggers` member, if any.
    pub fn triggers(&self) -> Option<&[u8]> {
        self.files.get("triggers").map(Vec::as_slice)
    }

    /// The maintainer scripts present (`preinst`, `postinst`, `prerm`,
    /// `postrm`, `config`), by name, in that order.
    pub fn scripts(&self) -> impl Iterator<Item = (&'static str, &[u8])> + '_ {
        MAINTAINER_SCRIPTS
            .into_iter()
            .filter_map(|name| Some((name, self.files.get(name)?.as_slice())))
    }
}

/// A reader that remembers the last position it was sought to, so that the
/// data offsets of `ar` members can be learned from the `ar` crate.
struct Tracked<R> {
    inner: R,
    last_seek: Rc<Cell<u64>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<R: Seek> Seek for Tracked<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let at = self.inner.seek(pos)?;
        self.last_seek.set(at);
        Ok(at)
    }
}

fn compression_of(name: &str, base: &str) -> Option<Option<Compression>> {
    let rest = name.strip_prefix(base)?;
    Some(match rest {
        "" => Some(Compression::None),
        ".gz" => Some(Compression::Gzip),
        ".xz" => Some(Compression::Xz),
        ".zst" => Some(Compression::Zstd),
        _ => None,
    })
}

impl DebArchive {
    /// Opens a `.deb`, reading only its `ar` headers and `debian-binary`.
    pub fn open(path: &Path) -> Result<Self, DebError> {
        let io_err = |member: &str| {
            let path = path.to_owned();
            let member = member.to_string();
            move |source| DebError::Io {
                path,
                member,
                source,
            }
        };
        let invalid = |reason: String| DebError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let file = File::open(path).map_err(io_err("ar"))?;
        let last_seek = Rc::new(Cell::new(0));
        let mut archive = ar::Archive::new(Tracked {
            inner: file,
            last_seek: Rc::clone(&last_seek),
        });
        let count = archive.count_entries().map_err(io_err("ar"))?;
        let mut control = None;
        let mut data = None;
        let mut mtime = 0;
        for index in 0..count {
            let mut entry = archive.jump_to_entry(index).map_err(io_err("ar"))?;
            let offset = last_seek.get();
            mtime = mtime.max(entry.header().mtime());
            let name = String::from_utf8_lossy(entry.header().identifier()).into_owned();
            let size = entry.header().size();
            if index == 0 {
                if name != "debian-binary" {
                    return Err(invalid(format!(
                        "the first member is `{name}`, not `debian-binary`"
                    )));
                }
                let mut version = Vec::new();
                (&mut entry)
                    .take(64)
                    .read_to_end(&mut version)
                    .map_err(io_err("debian-binary"))?;
                if version != b"2.0\n" {
                    return Err(invalid(format!(
                        "unsupported format version {:?} in `debian-binary` (expected \"2.0\\n\")",
                        String::from_utf8_lossy(&version)
                    )));
                }
            } else if let Some(compression) = compression_of(&name, "control.tar") {
                let compression = compression.ok_or_else(|| DebError::UnsupportedCompression {
                    path: path.to_owned(),
                    member: name.clone(),
                })?;
                if control.is_some() {
                    return Err(invalid("more than one control member".into()));
                }
                control = Some(Member {
                    name,
                    offset,
                    size,
                    compression,
                });
            } else if let Some(compression) = compression_of(&name, "data.tar") {
                let compression = compression.ok_or_else(|| DebError::UnsupportedCompression {
                    path: path.to_owned(),
                    member: name.clone(),
                })?;
                if data.is_some() {
                    return Err(invalid("more than one data member".into()));
                }
                data = Some(Member {
                    name,
                    offset,
                    size,
                    compression,
                });
            } else if !name.starts_with('_') {
                // deb(5): members starting with `_` may be ignored; any other
                // unknown member is an error for dpkg too.
                return Err(invalid(format!("unknown member `{name}`")));
            }
            // Skip the rest without reading it (the `ar` crate's drop reads
            // what is left).
            entry.seek(SeekFrom::End(0)).map_err(io_err("ar"))?;
        }
        if count == 0 {
            return Err(invalid("the archive is empty".into()));
        }
        let control = control.ok_or_else(|| invalid("no `control.tar*` member".into()))?;
        let data = data.ok_or_else(|| invalid("no `data.tar*` member".into()))?;
        Ok(Self {
            path: path.to_owned(),
            control,
            data,
            mtime,
        })
    }

    /// The newest modification time of the archive's members, in seconds
    /// since the Unix epoch. `dpkg-deb` stamps members with the package's
    /// build time (its `SOURCE_DATE_EPOCH`), which bounds the files' times.
    pub fn mtime(&self) -> u64 {
        self.mtime
    }

    /// The `.deb`'s path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data member's name, e.g. `data.tar.xz`.
    pub fn data_member(&self) -> &str {
        &self.data.name
    }

    fn io_err(&self, member: &str) -> impl FnOnce(io::Error) -> DebError {
        let path = self.path.clone();
        let member = member.to_string();
        move |source| DebError::Io {
            path,
            member,
            source,
        }
    }

    fn member_reader(&self, member: &Member) -> Result<Box<dyn Read>, DebError> {
        let mut file = File::open(&self.path).map_err(self.io_err(&member.name))?;
        file.seek(SeekFrom::Start(member.offset))
            .map_err(self.io_err(&member.name))?;
        let raw = BufReader::with_capacity(128 * 1024, file.take(member.size));
        Ok(match member.compression {
            Compression::None => Box::new(raw),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
            Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(raw)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(raw).map_err(self.io_err(&member.name))?,
            ),
        })
    }

    /// Reads the control tarball: the `control` file and every other regular
    /// file in it.
    pub fn control(&self) -> Result<ControlMembers, DebError> {
        let name = &self.control.name;
        let mut archive = tar::Archive::new(self.member_reader(&self.control)?);
        let mut out = ControlMembers::default();
        let mut control = None;
        for entry in archive.entries().map_err(self.io_err(name))? {
            let mut entry = entry.map_err(self.io_err(name))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map_err(self.io_err(name))?;
            let file = path.to_string_lossy();
            let file = file.trim_start_matches("./").to_string();
            if file.is_empty() || file.contains('/') {
                continue;
            }
            let mut bytes = Vec::with_capacity(entry.size().min(1 << 20) as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(self.io_err(&format!("{name}/{file}")))?;
            if file == "control" {
                control = Some(String::from_utf8(bytes).map_err(|_| DebError::Invalid {
                    path: self.path.clone(),
                    reason: format!("`{name}/control` is not UTF-8"),
                })?);
            } else {
                out.files.insert(file, bytes);
            }
        }
        out.control = control.ok_or_else(|| DebError::Invalid {
            path: self.path.clone(),
            reason: format!("`{name}` has no `control` file"),
        })?;
        Ok(out)
    }

    /// A streaming view of the data tarball, decompressed on the fly.
    pub fn data(&self) -> Result<tar::Archive<Box<dyn Read + '_>>, DebError> {
        let reader: Box<dyn Read + '_> = self.member_reader(&self.data)?;
        Ok(tar::Archive::new(reader))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::Command;

    fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn write_deb(path: &Path, members: &[(&str, Vec<u8>)]) {
        let mut b = ar::Builder::new(File::create(path).unwrap());
        for (name, data) in members {
            let h = ar::Header::new(name.as_bytes().to_vec(), data.len() as u64);
            b.append(&h, data.as_slice()).unwrap();
        }
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_synthetic_deb_with_each_compression() {
        let dir = tempfile::tempdir().unwrap();
        let control = tar_with(&[
            ("./control", b"Package: x\nVersion: 1\n"),
            ("./postinst", b"#!/bin/sh\n"),
            ("./md5sums", b"abc  usr/bin/x\n"),
        ]);
        let data = tar_with(&[("./usr/bin/x", b"hello")]);
        let xz = {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let zst = zstd::encode_all(data.as_slice(), 3).unwrap();
        for (ctl_name, ctl, data_name, data_bytes) in [
            ("control.tar.gz", gz(&control), "data.tar.xz", xz),
            ("control.tar", control.clone(), "data.tar.zst", zst),
            ("control.tar.gz", gz(&control), "data.tar", data.clone()),
            ("control.tar.gz", gz(&control), "data.tar.gz", gz(&data)),
        ] {
            let path = dir.path().join(format!("{data_name}.deb"));
            write_deb(
                &path,
                &[
                    ("debian-binary", b"2.0\n".to_vec()),
                    (ctl_name, ctl),
                    (data_name, data_bytes),
                ],
            );
            let deb = DebArchive::open(&path).unwrap();
            let c = deb.control().unwrap();
            assert_eq!(c.control, "Package: x\nVersion: 1\n");
            assert_eq!(c.md5sums(), Some(&b"abc  usr/bin/x\n"[..]));
            assert_eq!(
                c.scripts().map(|(n, _)| n).collect::<Vec<_>>(),
                ["postinst"]
            );
            let mut a = deb.data().unwrap();
            let mut entries = a.entries().unwrap();
            let mut e = entries.next().unwrap().unwrap();
            assert_eq!(e.path().unwrap().to_str(), Some("usr/bin/x"));
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            assert_eq!(s, "hello");
        }
    }

    #[test]
    fn rejects_bad_archives() {
        let dir = tempfile::tempdir().unwrap();
        let ctl = gz(&tar_with(&[("./control", b"Package: x\n")]));
        type Members<'a> = Vec<(&'a str, Vec<u8>)>;
        let cases: Vec<(&str, Members<'_>, &str)> = vec![
            (
                "bz2",
                vec![
                    ("debian-binary", b"2.0\n".to_vec()),
                    ("control.tar.gz", ctl.clone()),
                    ("data.tar.bz2", vec![0; 10]),
                ],
                "unsupported compression",
            ),
            (
                "version",
                vec![("debian-binary", b"3.0\n".to_vec())],
                "unsupported format version",
            ),
            (
                "order",
                vec![("control.tar.gz", ctl.clone())],
                "not `debian-binary`",
            ),
            (
                "nodata",
                vec![
                    ("debian-binary", b"2.0\n".to_vec()),
                    ("control.tar.gz", ctl),
                ],
                "no `data.tar*`",
            ),
        ];
        for (name, members, needle) in cases {
            let path = dir.path().join(format!("{name}.deb"));
            write_deb(&path, &members);
            let e = DebArchive::open(&path).unwrap_err().to_string();
            assert!(e.contains(needle), "{name}: {e}");
            assert!(e.contains(&*path.to_string_lossy()), "{name}: {e}");
        }
        let path = dir.path().join("garbage.deb");
        std::fs::write(&path, b"not an ar archive at all").unwrap();
        let e = DebArchive::open(&path).unwrap_err().to_string();
        assert!(e.contains("garbage.deb"), "{e}");
    }

    /// Compares with `dpkg-deb` on a package built by `dpkg-deb` itself.
    #[test]
    fn agrees_with_dpkg_deb() {
        assert!(
            Command::new("dpkg-deb").arg("--version").output().is_ok(),
            "dpkg-deb (package dpkg) is needed for this test"
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pkg");
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(root.join("usr/share/x")).unwrap();
        std::fs::write(
            root.join("DEBIAN/control"),
            "Package: x\nVersion: 1.0\nArchitecture: all\nMaintainer: a <a@b>\nDescription: d\n",
        )
        .unwrap();
        std::fs::write(root.join("usr/share/x/f"), "data\n").unwrap();
        let mut expected = Vec::new();
        for comp in ["xz", "gzip", "zstd", "none"] {
            let deb = dir.path().join(format!("x-{comp}.deb"));
            let out = Command::new("dpkg-deb")
                .args(["--root-owner-group", &format!("-Z{comp}"), "-b"])
                .arg(&root)
                .arg(&deb)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "dpkg-deb -Z{comp}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let listing = Command::new("dpkg-deb")
                .arg("--fsys-tarfile")
                .arg(&deb)
                .output()
                .unwrap();
            let a = DebArchive::open(&deb).unwrap();
            assert!(a.control().unwrap().control.starts_with("Package: x\n"));
            let mut ours = Vec::new();
            a.data()
                .unwrap()
                .into_inner()
                .read_to_end(&mut ours)
                .unwrap();
            assert_eq!(ours, listing.stdout, "{comp}");
            expected.push(comp);
        }
        assert!(!expected.is_empty());
    }
}
