//! Telling what a bare path holds: an OCI layout, a docker-archive or a
//! root filesystem.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use bulwark_oci::ImageRef;

use crate::Error;

/// Parses a reference to read (see [`ImageRef::parse`]) and, for a bare
/// path, detects what it holds: a directory with `oci-layout` is an OCI
/// layout, a directory with `etc/`, `usr/` or `var/lib/dpkg` a root
/// filesystem, a tar file with a `manifest.json` a docker-archive. The
/// second value is the detected kind (`"oci"`, `"docker-archive"` or
/// `"rootfs"`) when the reference was a bare path, so that the caller can
/// say what it found.
pub fn parse_target(s: &str) -> Result<(ImageRef, Option<&'static str>), Error> {
    match ImageRef::parse(s)? {
        ImageRef::Path(path) => {
            if !path.exists() {
                return Err(Error::TargetNotFound {
                    target: s.to_owned(),
                });
            }
            detect(&path).map(|(target, kind)| (target, Some(kind)))
        }
        other => Ok((other, None)),
    }
}

/// Detects what an existing path holds.
fn detect(path: &Path) -> Result<(ImageRef, &'static str), Error> {
    let undetected = || Error::Undetected {
        path: path.to_owned(),
    };
    if path.is_dir() {
        if path.join("oci-layout").is_file() {
            let target = ImageRef::Oci {
                dir: path.to_owned(),
                tag: None,
            };
            return Ok((target, "oci"));
        }
        let is_dir = |p: &str| {
            std::fs::symlink_metadata(path.join(p)).is_ok_and(|m| m.is_dir() || m.is_symlink())
        };
        if is_dir("etc") || is_dir("usr") || is_dir("var/lib/dpkg") {
            let target = ImageRef::Rootfs {
                dir: path.to_owned(),
            };
            return Ok((target, "rootfs"));
        }
        return Err(undetected());
    }
    let file: File = bulwark_oci::open_regular(path)?;
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
            let target = ImageRef::DockerArchive {
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

    #[test]
    fn unknown_transports_and_missing_paths_are_refused() {
        let err = parse_target("containers-storage:debian").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`containers-storage:`"), "{msg}");
        assert!(msg.contains("not supported"), "{msg}");
        let err = parse_target("/nonexistent/bulwark/image").unwrap_err();
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

        let parse = |p: &Path| parse_target(p.to_str().unwrap());
        assert_eq!(parse(&layout).unwrap().1, Some("oci"));
        assert_eq!(parse(&rootfs).unwrap().1, Some("rootfs"));
        assert_eq!(parse(&archive).unwrap().1, Some("docker-archive"));
        assert!(matches!(parse(&empty), Err(Error::Undetected { .. })));
        assert!(matches!(parse(&not_tar), Err(Error::Undetected { .. })));
    }
}
