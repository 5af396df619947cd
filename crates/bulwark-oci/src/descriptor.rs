//! Content descriptors and platforms.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An OCI content descriptor: what a manifest, an index or `index.json`
/// uses to point at a blob.
///
/// Every field of the OCI 1.1 descriptor is modelled, so a descriptor read
/// from an existing document survives a rewrite (fields outside the spec are
/// dropped). Serialization is byte-for-byte reproducible: fields in the
/// spec's order, annotations sorted. A missing `mediaType` reads as empty
/// (some tools leave it out of `index.json`); `size` is required.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// `sha256:<hex>` digest of the referenced bytes.
    pub digest: String,
    /// Size of the referenced bytes.
    pub size: u64,
    /// Alternative download locations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Annotations, sorted by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Embedded content, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The platform of an image manifest listed in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// The artifact type of an artifact manifest (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of `size` bytes of `media_type` with `digest`.
    pub fn new(media_type: &str, digest: impl Into<String>, size: u64) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest: digest.into(),
            size,
            ..Self::default()
        }
    }

    /// The descriptor of `bytes` as a blob of `media_type`.
    pub fn of_bytes(media_type: &str, bytes: &[u8]) -> Self {
        Self::new(
            media_type,
            crate::digest::sha256_digest(bytes),
            bytes.len() as u64,
        )
    }

    /// The hex part of [`Descriptor::digest`], if it is a well-formed sha256
    /// digest (see [`crate::sha256_hex`]).
    pub fn sha256_hex(&self) -> Option<&str> {
        crate::digest::sha256_hex(&self.digest)
    }

    /// Only what identifies the content: media type, digest and size (the
    /// form a `subject` takes).
    pub fn bare(&self) -> Self {
        Self::new(&self.media_type, self.digest.clone(), self.size)
    }

    /// The tag this descriptor has in an OCI layout's `index.json`
    /// ([`crate::annotation::REF_NAME`]).
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .get(crate::annotation::REF_NAME)
            .map(String::as_str)
    }

    /// Whether it points at an image index (OCI or Docker).
    pub fn is_index(&self) -> bool {
        crate::media_type::INDEXES.contains(&self.media_type.as_str())
    }

    /// Whether it points at an image or artifact manifest (OCI or Docker).
    pub fn is_manifest(&self) -> bool {
        crate::media_type::MANIFESTS.contains(&self.media_type.as_str())
    }
}

/// An OCI platform: where an image runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, in Go's `GOARCH` spelling (`amd64`, `arm64`, `386`, …).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// OS version (unused on Linux).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// OS features (unused on Linux).
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v8`, `v7`, `v5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// The platform an image built for the Debian architecture `arch`
    /// (`amd64`, `armhf`, `ppc64el`, …) runs on; `None` for a name without
    /// an OCI counterpart.
    pub fn for_debian_arch(arch: &str) -> Option<Platform> {
        let (architecture, variant) = match arch {
            "amd64" => ("amd64", None),
            "arm64" => ("arm64", Some("v8")),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v5")),
            "i386" => ("386", None),
            "ppc64el" => ("ppc64le", None),
            "ppc64" => ("ppc64", None),
            "s390x" => ("s390x", None),
            "riscv64" => ("riscv64", None),
            "mips64el" => ("mips64le", None),
            "mipsel" => ("mipsle", None),
            "loong64" => ("loong64", None),
            _ => return None,
        };
        Some(Platform {
            architecture: architecture.to_owned(),
            os: "linux".to_owned(),
            variant: variant.map(str::to_owned),
            ..Platform::default()
        })
    }

    /// Parses what a user writes: `OS/ARCH[/VARIANT]` or `ARCH` (Linux
    /// assumed), normalized as [`Platform::normalized`] says; `None` when it
    /// has an empty part or more than three.
    pub fn parse(s: &str) -> Option<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        match parts[..] {
            [arch] => Some(Self::new("linux", arch, None)),
            [os, arch] => Some(Self::new(os, arch, None)),
            [os, arch, variant] => Some(Self::new(os, arch, Some(variant))),
            _ => None,
        }
    }

    /// This platform with the other spellings of an architecture mapped to
    /// Go's (`x86_64` → `amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`…),
    /// the OS in lower case and the default variants filled in (`arm64/v8`,
    /// `arm/v7`), so that equal platforms compare equal.
    pub fn normalized(&self) -> Platform {
        Self::new(&self.os, &self.architecture, self.variant.as_deref())
    }

    fn new(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        let (arch, implied) = match arch {
            "x86_64" | "x86-64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v5")),
            "i386" | "i686" | "x86" => ("386", None),
            "ppc64el" | "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        let variant = variant.or(implied).or(match arch {
            "arm64" => Some("v8"),
            "arm" => Some("v7"),
            _ => None,
        });
        Platform {
            os: os.to_ascii_lowercase(),
            architecture: arch.to_owned(),
            variant: variant.map(str::to_owned),
            ..Platform::default()
        }
    }
}

impl fmt::Display for Platform {
    /// `os/arch[/variant]`, normalized, leaving out the default variant of
    /// `arm64` (`v8`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.normalized();
        write!(f, "{}/{}", p.os, p.architecture)?;
        match p.variant.as_deref() {
            Some("v8") if p.architecture == "arm64" => Ok(()),
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_normalize() {
        let p = |s| Platform::parse(s).unwrap();
        assert_eq!(p("amd64"), p("linux/amd64"));
        assert_eq!(p("x86_64"), p("linux/amd64"));
        assert_eq!(p("linux/arm64"), p("linux/arm64/v8"));
        assert_eq!(p("aarch64"), p("linux/arm64/v8"));
        assert_eq!(p("armhf"), p("linux/arm/v7"));
        assert_ne!(p("linux/arm/v6"), p("linux/arm"));
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64");
        assert_eq!(p("arm").to_string(), "linux/arm/v7");
        assert!(Platform::parse("linux//amd64").is_none());
        assert!(Platform::parse("a/b/c/d").is_none());
    }

    #[test]
    fn maps_debian_names() {
        let cases = [
            ("amd64", "linux/amd64"),
            ("arm64", "linux/arm64"),
            ("armhf", "linux/arm/v7"),
            ("armel", "linux/arm/v5"),
            ("i386", "linux/386"),
            ("ppc64el", "linux/ppc64le"),
            ("s390x", "linux/s390x"),
            ("riscv64", "linux/riscv64"),
        ];
        for (debian, oci) in cases {
            let platform = Platform::for_debian_arch(debian).unwrap();
            assert_eq!(platform.to_string(), oci);
            assert_eq!(platform.normalized(), platform, "{debian}");
        }
        assert_eq!(
            Platform::for_debian_arch("arm64")
                .unwrap()
                .variant
                .as_deref(),
            Some("v8")
        );
        assert!(Platform::for_debian_arch("hurd-i386").is_none());
    }
}
