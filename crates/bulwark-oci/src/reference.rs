//! Image references in skopeo's transport style, and the tag rule.
//!
//! - `oci:DIR[:TAG]`: an OCI image layout. The last `:` splits off the tag
//!   unless what follows it holds a `/` (then it is part of the directory);
//!   a directory that exists with a `:` in its name is taken whole.
//! - `docker-archive:FILE`: a `docker save` tarball.
//! - `rootfs:DIR`: an unpacked root filesystem.
//! - `sbom:FILE`: an SPDX or CycloneDX document.
//! - `docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]`: an image in a registry,
//!   normalized as skopeo does.
//! - anything else: a path, whose kind the reader detects (or, as an output,
//!   an OCI layout directory).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Error;

/// Transports skopeo knows that bulwark does not read.
const OTHER_TRANSPORTS: &[&str] = &[
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

/// The registry a reference without a host names.
pub const DOCKER_HUB: &str = "docker.io";

/// Other names of [`DOCKER_HUB`].
const DOCKER_HUB_ALIASES: &[&str] = &["index.docker.io", "registry-1.docker.io"];

/// What a tag may be: 1 to 128 ASCII letters, digits, `_`, `.` and `-`, not
/// starting with `.` or `-` (the distribution spec's rule, which registries
/// enforce), and not a referrers tag (`sha256-<hex>`), which bulwark writes
/// itself. The error says which rule the tag breaks.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let mut bytes = tag.bytes();
    let valid = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !valid {
        return Err(format!(
            "`{}` is not a valid tag (up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`)",
            tag.escape_debug()
        ));
    }
    if crate::referrers::is_referrers_tag(tag) {
        return Err(format!(
            "`{tag}` has the form of a referrers tag (`sha256-<hex>`), which names the attestations of an image"
        ));
    }
    Ok(())
}

/// Whether the first component of a repository name is a registry host:
/// it has a `.` or a `:`, or is `localhost` (the rule of docker and skopeo).
fn is_host(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// What a repository name may be (`[HOST[:PORT]/]PATH`): path components of
/// lowercase letters, digits and `._-`, starting and ending with a letter or
/// digit, separated by `/`; a first component that names a host may also
/// hold upper case letters and a port.
pub fn check_repository(name: &str) -> Result<(), String> {
    let mut components = name.split('/').peekable();
    let mut first = true;
    while let Some(component) = components.next() {
        let host = first && components.peek().is_some() && is_host(component);
        first = false;
        let valid = if host {
            component
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
        } else {
            component.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && component.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        };
        if !valid {
            return Err(format!(
                "`{}` is not a repository name (lowercase letters, digits and `._-`, separated by `/`, after an optional `HOST[:PORT]/`)",
                name.escape_debug()
            ));
        }
    }
    Ok(())
}

/// An image in a registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryRef {
    /// `HOST[:PORT]`; [`DOCKER_HUB`] when the reference names none.
    pub registry: String,
    /// The repository path (`library/debian` for `debian` on Docker Hub).
    pub repository: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The manifest digest, if any (`@sha256:…`).
    pub digest: Option<String>,
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "docker://{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Where an image is read from or written to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// `oci:DIR[:TAG]`.
    Oci {
        /// The layout directory.
        dir: PathBuf,
        /// The tag; `None` reads the layout's only image.
        tag: Option<String>,
    },
    /// `docker-archive:FILE`.
    DockerArchive {
        /// The tarball.
        file: PathBuf,
    },
    /// `rootfs:DIR`.
    Rootfs {
        /// The root directory.
        dir: PathBuf,
    },
    /// `sbom:FILE`.
    Sbom {
        /// The SBOM document.
        file: PathBuf,
    },
    /// `docker://…`.
    Registry(RegistryRef),
    /// A bare path, not yet told apart.
    Path(PathBuf),
}

impl ImageRef {
    /// Parses a reference to read from. A bare path stays
    /// [`ImageRef::Path`] for the reader to detect; a path that does not
    /// exist but starts with a transport bulwark does not read is
    /// [`Error::UnsupportedTransport`].
    pub fn parse(s: &str) -> Result<ImageRef, Error> {
        if let Some(parsed) = Self::parse_transport(s)? {
            return Ok(parsed);
        }
        if s.is_empty() {
            return Err(invalid(s, "empty reference"));
        }
        if !Path::new(s).exists() {
            if let Some((transport, _)) = s.split_once(':') {
                let looks_like_transport = !transport.is_empty()
                    && transport
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if looks_like_transport {
                    return Err(Error::UnsupportedTransport {
                        reference: s.to_owned(),
                        transport: transport.to_owned(),
                        known: OTHER_TRANSPORTS.contains(&transport),
                    });
                }
            }
        }
        Ok(ImageRef::Path(PathBuf::from(s)))
    }

    /// Parses a reference to write to: a bare path is an OCI layout
    /// directory, and a word before a `:` that is no transport bulwark
    /// writes is refused.
    pub fn parse_output(s: &str) -> Result<ImageRef, Error> {
        if let Some(parsed) = Self::parse_transport(s)? {
            return Ok(parsed);
        }
        if s.is_empty() {
            return Err(invalid(s, "empty reference"));
        }
        if let Some((transport, _)) = s.split_once(':') {
            if !transport.contains('/') && !transport.contains('.') && transport.len() > 1 {
                return Err(Error::UnsupportedTransport {
                    reference: s.to_owned(),
                    transport: transport.to_owned(),
                    known: OTHER_TRANSPORTS.contains(&transport),
                });
            }
        }
        Ok(ImageRef::Oci {
            dir: s.into(),
            tag: None,
        })
    }

    fn parse_transport(s: &str) -> Result<Option<ImageRef>, Error> {
        let path = |rest: &str, what: &'static str| {
            if rest.is_empty() {
                Err(invalid(s, what))
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        Ok(Some(if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = split_oci(s, rest)?;
            ImageRef::Oci { dir, tag }
        } else if let Some(rest) = s.strip_prefix("docker-archive:") {
            ImageRef::DockerArchive {
                file: path(rest, "no file after `docker-archive:`")?,
            }
        } else if let Some(rest) = s.strip_prefix("rootfs:") {
            ImageRef::Rootfs {
                dir: path(rest, "no directory after `rootfs:`")?,
            }
        } else if let Some(rest) = s.strip_prefix("sbom:") {
            ImageRef::Sbom {
                file: path(rest, "no file after `sbom:`")?,
            }
        } else if let Some(rest) = s.strip_prefix("docker://") {
            ImageRef::Registry(parse_registry(s, rest)?)
        } else {
            return Ok(None);
        }))
    }

    /// The kind of reference: `oci`, `docker-archive`, `rootfs`, `sbom`,
    /// `docker` or `path`.
    pub fn kind(&self) -> &'static str {
        match self {
            ImageRef::Oci { .. } => "oci",
            ImageRef::DockerArchive { .. } => "docker-archive",
            ImageRef::Rootfs { .. } => "rootfs",
            ImageRef::Sbom { .. } => "sbom",
            ImageRef::Registry(_) => "docker",
            ImageRef::Path(_) => "path",
        }
    }
}

impl fmt::Display for ImageRef {
    /// The canonical reference: `oci:DIR[:TAG]`, `docker-archive:FILE`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Oci { dir, tag: None } => write!(f, "oci:{}", dir.display()),
            ImageRef::Oci {
                dir,
                tag: Some(tag),
            } => write!(f, "oci:{}:{tag}", dir.display()),
            ImageRef::DockerArchive { file } => write!(f, "docker-archive:{}", file.display()),
            ImageRef::Rootfs { dir } => write!(f, "rootfs:{}", dir.display()),
            ImageRef::Sbom { file } => write!(f, "sbom:{}", file.display()),
            ImageRef::Registry(r) => r.fmt(f),
            ImageRef::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

fn invalid(reference: &str, reason: impl Into<String>) -> Error {
    Error::InvalidReference {
        reference: reference.to_owned(),
        reason: reason.into(),
    }
}

/// Splits `DIR[:TAG]` (the part after `oci:` of `whole`).
fn split_oci(whole: &str, rest: &str) -> Result<(PathBuf, Option<String>), Error> {
    if rest.is_empty() {
        return Err(invalid(whole, "no directory after `oci:`"));
    }
    let Some((dir, tag)) = rest.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) else {
        return Ok((PathBuf::from(rest), None));
    };
    // `oci:/srv/a:b` where the layout is `/srv/a:b` and `/srv/a` is nothing.
    let whole_is_layout = Path::new(rest).is_dir() && (dir.is_empty() || !Path::new(dir).exists());
    if whole_is_layout {
        return Ok((PathBuf::from(rest), None));
    }
    if dir.is_empty() {
        return Err(invalid(whole, "no directory before the tag"));
    }
    check_tag(tag).map_err(|reason| invalid(whole, reason))?;
    Ok((PathBuf::from(dir), Some(tag.to_owned())))
}

/// Parses `[HOST[:PORT]/]REPO[:TAG][@DIGEST]` (the part after `docker://`).
fn parse_registry(whole: &str, rest: &str) -> Result<RegistryRef, Error> {
    let (name, digest) = match rest.split_once('@') {
        Some((name, digest)) => {
            if crate::digest::sha256_hex(digest).is_none() {
                return Err(invalid(
                    whole,
                    format!(
                        "`{digest}` is not a sha256 digest (`sha256:` and 64 lowercase hex digits)"
                    ),
                ));
            }
            (name, Some(digest.to_owned()))
        }
        None => (rest, None),
    };
    let (name, tag) = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => {
            check_tag(tag).map_err(|reason| invalid(whole, reason))?;
            (repo, Some(tag.to_owned()))
        }
        _ => (name, None),
    };
    check_repository(name).map_err(|reason| invalid(whole, reason))?;
    let (registry, path) = match name.split_once('/') {
        Some((first, path)) if is_host(first) => (first.to_owned(), path),
        _ => (DOCKER_HUB.to_owned(), name),
    };
    // Docker Hub's other names are Docker Hub, and its single names live
    // under `library/`, however the host was written.
    let registry = if DOCKER_HUB_ALIASES.contains(&registry.as_str()) {
        DOCKER_HUB.to_owned()
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    Ok(RegistryRef {
        registry,
        repository,
        tag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(dir: &str, tag: Option<&str>) -> ImageRef {
        ImageRef::Oci {
            dir: dir.into(),
            tag: tag.map(Into::into),
        }
    }

    #[test]
    fn oci_tags_split_at_the_last_colon() {
        let parse = |s| ImageRef::parse(s).unwrap();
        assert_eq!(parse("oci:img"), oci("img", None));
        assert_eq!(parse("oci:img:latest"), oci("img", Some("latest")));
        assert_eq!(
            parse("oci:/srv/a:b/img:v1.2_x-y"),
            oci("/srv/a:b/img", Some("v1.2_x-y"))
        );
        // What follows the last `:` holds a `/`: it is part of the path.
        assert_eq!(parse("oci:/srv/a:b/img"), oci("/srv/a:b/img", None));
        for bad in [
            "oci:",
            "oci:img:-bad",
            "oci::latest",
            "oci:img:",
            "oci:./o:bad tag",
        ] {
            let err = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
        }
        assert!(ImageRef::parse_output("oci:o:-x").is_err());
        assert_eq!(
            ImageRef::parse_output("oci:/mnt/a:b/c").unwrap(),
            oci("/mnt/a:b/c", None)
        );
    }

    #[test]
    fn an_existing_directory_with_a_colon_is_not_split() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layout:v1");
        std::fs::create_dir(&dir).unwrap();
        let s = format!("oci:{}", dir.display());
        assert_eq!(
            ImageRef::parse(&s).unwrap(),
            oci(dir.to_str().unwrap(), None)
        );
        // Once the part before exists, the tag is split off again.
        std::fs::create_dir(tmp.path().join("layout")).unwrap();
        let expected = oci(tmp.path().join("layout").to_str().unwrap(), Some("v1"));
        assert_eq!(ImageRef::parse(&s).unwrap(), expected);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "oci:img",
            "oci:a:b/img:v1",
            "docker-archive:x.tar",
            "rootfs:/tmp/r",
            "sbom:bom.json",
            "docker://example.com:5000/team/app:1.0",
            "docker://localhost/app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(ImageRef::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn registry_references_normalize_as_skopeo_does() {
        let reg = |s: &str| match ImageRef::parse(s).unwrap() {
            ImageRef::Registry(r) => r,
            other => panic!("{other:?}"),
        };
        let r = reg("docker://debian:bookworm");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("docker.io", "library/debian", Some("bookworm"))
        );
        assert_eq!(reg("docker://team/app").repository, "team/app");
        for same in [
            "docker://docker.io/debian",
            "docker://index.docker.io/debian",
            "docker://registry-1.docker.io/library/debian",
        ] {
            let r = reg(same);
            assert_eq!(
                (r.registry.as_str(), r.repository.as_str()),
                ("docker.io", "library/debian"),
                "{same}"
            );
        }
        assert_eq!(reg("docker://docker.io/team/app").repository, "team/app");
        assert_eq!(reg("docker://localhost:5000/app").repository, "app");
        assert_eq!(reg("docker://team/app").registry, "docker.io");
        assert_eq!(reg("docker://localhost/app").registry, "localhost");
        assert_eq!(
            reg("docker://127.0.0.1:5000/a/b:c").registry,
            "127.0.0.1:5000"
        );
        for bad in [
            "docker://",
            "docker://Upper/x",
            "docker://x@sha256:abc",
            "docker://x:bad tag",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outputs_and_unknown_transports() {
        assert_eq!(
            ImageRef::parse_output("images").unwrap(),
            oci("images", None)
        );
        assert_eq!(
            ImageRef::parse_output("docker-archive:a.tar").unwrap(),
            ImageRef::DockerArchive {
                file: "a.tar".into()
            }
        );
        assert!(ImageRef::parse_output("docker-archive:").is_err());
        assert!(ImageRef::parse_output("ftp:x").is_err());
        let err = ImageRef::parse("containers-storage:x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`containers-storage:`"), "{err}");
        assert_eq!(
            ImageRef::parse("/nonexistent/bulwark/image").unwrap(),
            ImageRef::Path("/nonexistent/bulwark/image".into())
        );
    }

    #[test]
    fn tags() {
        for ok in ["latest", "1.0", "v1.2.3-rc1", "_x", "a--b"] {
            check_tag(ok).unwrap();
        }
        let long = "a".repeat(129);
        for bad in ["", "-x", ".x", "a b", "a/b", "ä", long.as_str()] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
        let referrers = format!("sha256-{}", "a".repeat(64));
        assert!(check_tag(&referrers).unwrap_err().contains("referrers"));
        check_tag("sha256-short").unwrap();
    }
}
