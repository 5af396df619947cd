//! Image references: `oci:DIR[:TAG]`, `docker-archive:FILE`, `rootfs:DIR`,
//! or a bare path whose kind is detected.

use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::Error;

/// Where an image or root filesystem is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`),
    /// optionally naming an image by its `org.opencontainers.image.ref.name`.
    Oci {
        /// The layout's directory.
        dir: PathBuf,
        /// The tag; `None` picks the only image of the layout.
        tag: Option<String>,
    },
    /// A `docker save` tarball, in the classic form or Docker 25's
    /// OCI-in-archive form.
    DockerArchive {
        /// The tarball.
        file: PathBuf,
    },
    /// An unpacked root filesystem.
    Rootfs {
        /// Its root directory.
        dir: PathBuf,
    },
}

/// Transports skopeo knows that need a daemon, a registry or storage
/// bulwark does not read.
const UNSUPPORTED_TRANSPORTS: &[&str] = &[
    "docker",
    "docker-daemon",
    "containers-storage",
    "oci-archive",
    "dir",
    "ostree",
    "sif",
    "http",
    "https",
    "registry",
];

impl Target {
    /// Parses a target reference.
    ///
    /// `oci:DIR[:TAG]` splits the tag off at the last `:` when what follows is
    /// a valid tag and what precedes is not empty (unless the whole string
    /// names an existing directory and the part before the `:` does not);
    /// `docker-archive:FILE` and `rootfs:DIR` take the rest as a path. A
    /// reference without a known transport is a path whose kind is detected:
    /// a directory with `oci-layout` is an OCI layout, a directory with
    /// `etc/`, `usr/` or `var/lib/dpkg` a root filesystem, a tar file with a
    /// `manifest.json` a docker-archive. The second value is the detected
    /// kind (`"oci"`, `"docker-archive"` or `"rootfs"`) when the reference was
    /// a bare path, so that the caller can say what it found.
    pub fn parse(s: &str) -> Result<(Target, Option<&'static str>), Error> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = split_tag(rest);
            if dir.is_empty() {
                return Err(Error::BadTarget {
                    target: s.to_owned(),
                    reason: "no directory after `oci:`",
                });
            }
            let target = Target::Oci {
                dir: PathBuf::from(dir),
                tag: tag.map(str::to_owned),
            };
            return Ok((target, None));
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            if rest.is_empty() {
                return Err(Error::BadTarget {
                    target: s.to_owned(),
                    reason: "no file after `docker-archive:`",
                });
            }
            let target = Target::DockerArchive {
                file: PathBuf::from(rest),
            };
            return Ok((target, None));
        }
        if let Some(rest) = s.strip_prefix("rootfs:") {
            if rest.is_empty() {
                return Err(Error::BadTarget {
                    target: s.to_owned(),
                    reason: "no directory after `rootfs:`",
                });
            }
            let target = Target::Rootfs {
                dir: PathBuf::from(rest),
            };
            return Ok((target, None));
        }
        let path = Path::new(s);
        if s.is_empty() {
            return Err(Error::BadTarget {
                target: s.to_owned(),
                reason: "empty reference",
            });
        }
        if !path.exists() {
            if let Some((transport, _)) = s.split_once(':') {
                let looks_like_transport = !transport.is_empty()
                    && transport
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if looks_like_transport {
                    return Err(Error::UnsupportedTransport {
                        target: s.to_owned(),
                        transport: transport.to_owned(),
                        known: UNSUPPORTED_TRANSPORTS.contains(&transport),
                    });
                }
            }
            return Err(Error::TargetNotFound {
                target: s.to_owned(),
            });
        }
        detect(path).map(|(target, kind)| (target, Some(kind)))
    }

    /// The kind of target: `oci`, `docker-archive` or `rootfs`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Oci { .. } => "oci",
            Target::DockerArchive { .. } => "docker-archive",
            Target::Rootfs { .. } => "rootfs",
        }
    }
}

impl fmt::Display for Target {
    /// The canonical reference: `oci:DIR[:TAG]`, `docker-archive:FILE` or
    /// `rootfs:DIR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Oci { dir, tag: None } => write!(f, "oci:{}", dir.display()),
            Target::Oci {
                dir,
                tag: Some(tag),
            } => write!(f, "oci:{}:{tag}", dir.display()),
            Target::DockerArchive { file } => write!(f, "docker-archive:{}", file.display()),
            Target::Rootfs { dir } => write!(f, "rootfs:{}", dir.display()),
        }
    }
}

/// Splits `DIR[:TAG]` at the last `:`.
fn split_tag(rest: &str) -> (&str, Option<&str>) {
    let Some((dir, tag)) = rest.rsplit_once(':') else {
        return (rest, None);
    };
    if dir.is_empty() || !is_valid_tag(tag) {
        return (rest, None);
    }
    // `oci:/srv/a:b` where `/srv/a:b` is the layout and `/srv/a` is nothing.
    if Path::new(rest).is_dir() && !Path::new(dir).exists() {
        return (rest, None);
    }
    (dir, Some(tag))
}

/// Whether `tag` is a valid tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub(crate) fn is_valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    tag.len() <= 128
        && (first.is_ascii_alphanumeric() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Detects what an existing path holds.
fn detect(path: &Path) -> Result<(Target, &'static str), Error> {
    let undetected = || Error::Undetected {
        path: path.to_owned(),
    };
    if path.is_dir() {
        if path.join("oci-layout").is_file() {
            let target = Target::Oci {
                dir: path.to_owned(),
                tag: None,
            };
            return Ok((target, "oci"));
        }
        let is_dir = |p: &str| {
            std::fs::symlink_metadata(path.join(p)).is_ok_and(|m| m.is_dir() || m.is_symlink())
        };
        if is_dir("etc") || is_dir("usr") || is_dir("var/lib/dpkg") {
            let target = Target::Rootfs {
                dir: path.to_owned(),
            };
            return Ok((target, "rootfs"));
        }
        return Err(undetected());
    }
    let file = File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut archive = tar::Archive::new(BufReader::new(file));
    let Ok(entries) = archive.entries_with_seek() else {
        return Err(undetected());
    };
    for entry in entries {
        let Ok(entry) = entry else {
            return Err(undetected());
        };
        let is_manifest = entry
            .path()
            .is_ok_and(|p| p == Path::new("manifest.json") || p == Path::new("./manifest.json"));
        if is_manifest {
            let target = Target::DockerArchive {
                file: path.to_owned(),
            };
            return Ok((target, "docker-archive"));
        }
    }
    Err(undetected())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(dir: &str, tag: Option<&str>) -> Target {
        Target::Oci {
            dir: dir.into(),
            tag: tag.map(Into::into),
        }
    }

    #[test]
    fn oci_tags_split_at_the_last_colon() {
        let parse = |s| Target::parse(s).unwrap();
        assert_eq!(parse("oci:img"), (oci("img", None), None));
        assert_eq!(parse("oci:img:latest"), (oci("img", Some("latest")), None));
        assert_eq!(
            parse("oci:/srv/a:b/img:v1.2_x-y"),
            (oci("/srv/a:b/img", Some("v1.2_x-y")), None)
        );
        // What follows the last `:` is not a tag: it is part of the path.
        assert_eq!(parse("oci:/srv/a:b/img"), (oci("/srv/a:b/img", None), None));
        assert_eq!(parse("oci:img:-bad"), (oci("img:-bad", None), None));
        assert_eq!(parse("oci::latest"), (oci(":latest", None), None));
        assert_eq!(parse("oci:img:"), (oci("img:", None), None));
        assert!(Target::parse("oci:").is_err());
    }

    #[test]
    fn an_existing_directory_with_a_colon_is_not_split() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layout:v1");
        std::fs::create_dir(&dir).unwrap();
        let s = format!("oci:{}", dir.display());
        assert_eq!(
            Target::parse(&s).unwrap().0,
            oci(dir.to_str().unwrap(), None)
        );
        // Once the part before exists, the tag is split off again.
        std::fs::create_dir(tmp.path().join("layout")).unwrap();
        let expected = oci(tmp.path().join("layout").to_str().unwrap(), Some("v1"));
        assert_eq!(Target::parse(&s).unwrap().0, expected);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "oci:img",
            "oci:a:b/img:v1",
            "docker-archive:x.tar",
            "rootfs:/tmp/r",
        ] {
            assert_eq!(Target::parse(s).unwrap().0.to_string(), s);
        }
    }

    #[test]
    fn unknown_transports_are_refused() {
        let err = Target::parse("docker://debian:bookworm").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`docker:`"), "{msg}");
        assert!(msg.contains("not supported"), "{msg}");
        let err = Target::parse("/nonexistent/bulwark/image").unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn bare_paths_are_detected() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = tmp.path().join("layout");
        std::fs::create_dir(&layout).unwrap();
        std::fs::write(layout.join("oci-layout"), "{}").unwrap();
        let rootfs = tmp.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("var/lib/dpkg")).unwrap();
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let archive = tmp.path().join("image.tar");
        let mut builder = tar::Builder::new(File::create(&archive).unwrap());
        let mut header = tar::Header::new_ustar();
        header.set_size(2);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "manifest.json", &b"[]"[..])
            .unwrap();
        builder.finish().unwrap();
        drop(builder);
        let not_tar = tmp.path().join("notes.txt");
        std::fs::write(&not_tar, "hello").unwrap();

        let parse = |p: &Path| Target::parse(p.to_str().unwrap());
        assert_eq!(parse(&layout).unwrap().1, Some("oci"));
        assert_eq!(parse(&rootfs).unwrap().1, Some("rootfs"));
        assert_eq!(parse(&archive).unwrap().1, Some("docker-archive"));
        assert!(matches!(parse(&empty), Err(Error::Undetected { .. })));
        assert!(matches!(parse(&not_tar), Err(Error::Undetected { .. })));
    }
}
