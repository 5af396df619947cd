//! Image references in skopeo's transport style.

use std::fmt;
use std::path::PathBuf;

/// Where an image is written to or read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    /// `oci:DIR[:TAG]`, or a bare directory.
    Oci {
        /// The OCI layout directory.
        dir: PathBuf,
        /// The tag, if one was given.
        tag: Option<String>,
    },
    /// `docker-archive:FILE`.
    DockerArchive {
        /// The tarball.
        file: PathBuf,
    },
}

impl ImageRef {
    /// Parses an output reference. A bare path is an OCI layout directory.
    pub fn parse_output(s: &str) -> Result<ImageRef, String> {
        if let Some(rest) = s.strip_prefix("oci:") {
            return split_oci(rest).map_err(|reason| format!("`{s}`: {reason}"));
        }
        if let Some(file) = s.strip_prefix("docker-archive:") {
            if file.is_empty() {
                return Err(format!("`{s}`: docker-archive needs a file name"));
            }
            return Ok(ImageRef::DockerArchive { file: file.into() });
        }
        if let Some((transport, _)) = s.split_once(':') {
            if !transport.contains('/') && !transport.contains('.') && transport.len() > 1 {
                return Err(format!(
                    "`{s}`: unsupported transport `{transport}:` (use oci:DIR[:TAG], docker-archive:FILE or a directory)"
                ));
            }
        }
        if s.is_empty() {
            return Err("empty output reference".into());
        }
        Ok(ImageRef::Oci {
            dir: s.into(),
            tag: None,
        })
    }
}

/// `DIR[:TAG]`: the last `:` splits off the tag, unless what follows holds a
/// `/` (then the `:` is part of the directory). A tag is what OCI allows:
/// up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`.
fn split_oci(rest: &str) -> Result<ImageRef, String> {
    match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') => {
            let valid_tag = tag.len() <= 128
                && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
            if !valid_tag {
                return Err(format!(
                    "`{tag}` is not a valid tag (up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`)"
                ));
            }
            if dir.is_empty() {
                return Err("no directory before the tag".to_string());
            }
            Ok(ImageRef::Oci {
                dir: dir.into(),
                tag: Some(tag.into()),
            })
        }
        _ if rest.is_empty() => Err("no directory after `oci:`".to_string()),
        _ => Ok(ImageRef::Oci {
            dir: rest.into(),
            tag: None,
        }),
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Oci { dir, tag: Some(t) } => write!(f, "oci:{}:{t}", dir.display()),
            ImageRef::Oci { dir, tag: None } => write!(f, "oci:{}", dir.display()),
            ImageRef::DockerArchive { file } => write!(f, "docker-archive:{}", file.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_oci_tags_are_errors_not_directory_names() {
        for bad in [
            "oci:./o:bad tag",
            "oci:./o:",
            "oci:o:-x",
            "oci::tag",
            "oci:",
        ] {
            let err = ImageRef::parse_output(bad).unwrap_err();
            assert!(err.starts_with(&format!("`{bad}`: ")), "{err}");
        }
        assert_eq!(
            ImageRef::parse_output("oci:/mnt/a:b/c").unwrap(),
            ImageRef::Oci {
                dir: "/mnt/a:b/c".into(),
                tag: None
            }
        );
    }

    #[test]
    fn parses_transports() {
        assert_eq!(
            ImageRef::parse_output("oci:out/x:1.0").unwrap(),
            ImageRef::Oci {
                dir: "out/x".into(),
                tag: Some("1.0".into())
            }
        );
        assert_eq!(
            ImageRef::parse_output("oci:out/x").unwrap(),
            ImageRef::Oci {
                dir: "out/x".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageRef::parse_output("images").unwrap(),
            ImageRef::Oci {
                dir: "images".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageRef::parse_output("docker-archive:a.tar").unwrap(),
            ImageRef::DockerArchive {
                file: "a.tar".into()
            }
        );
        assert!(ImageRef::parse_output("docker://x/y").is_err());
        assert!(ImageRef::parse_output("docker-archive:").is_err());
    }
}
