//! Resolving OCI layouts and docker-archives to image manifests, configs and
//! layers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::blobs::{blob_path, read_verified, sha256_hex, Blobs};
use crate::layers::{Check, LayerFs, LayerRef};
use crate::{inspect, Contents, Error, LayerCache};

const REF_NAME: &str = "org.opencontainers.image.ref.name";

const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    platform: Option<PlatformJson>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    artifact_type: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct PlatformJson {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    artifact_type: Option<String>,
}

/// `docker save`'s `manifest.json` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// An OCI platform, normalized (`x86_64` → `amd64`, `aarch64` → `arm64`,
/// default variants filled in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Platform {
    os: String,
    arch: String,
    variant: Option<String>,
}

impl Platform {
    /// Parses `OS/ARCH[/VARIANT]` or `ARCH` (Linux assumed).
    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        let bad = || Error::BadPlatform {
            platform: s.to_owned(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts[..] {
            [arch] => Ok(Self::new("linux", arch, None)),
            [os, arch] => Ok(Self::new(os, arch, None)),
            [os, arch, variant] => Ok(Self::new(os, arch, Some(variant))),
            _ => Err(bad()),
        }
    }

    fn new(os: &str, arch: &str, variant: Option<&str>) -> Self {
        let (arch, implied) = match arch {
            "x86_64" | "x86-64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "armhf" => ("arm", Some("v7")),
            "armel" => ("arm", Some("v5")),
            "i386" | "i686" => ("386", None),
            "ppc64el" => ("ppc64le", None),
            other => (other, None),
        };
        let variant = variant.or(implied).or(match arch {
            "arm64" => Some("v8"),
            "arm" => Some("v7"),
            _ => None,
        });
        Self {
            os: os.to_ascii_lowercase(),
            arch: arch.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    fn from_json(p: &PlatformJson) -> Self {
        Self::new(&p.os, &p.architecture, p.variant.as_deref())
    }

    fn from_config(config: &serde_json::Value) -> Option<Self> {
        let field = |k: &str| config.get(k).and_then(|v| v.as_str());
        Some(Self::new(
            field("os")?,
            field("architecture")?,
            field("variant"),
        ))
    }
}

impl fmt::Display for Platform {
    /// `os/arch[/variant]`, leaving out the default variants `arm64/v8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        match self.variant.as_deref() {
            Some("v8") if self.arch == "arm64" => Ok(()),
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

/// Reads the images of an OCI layout (a directory or a tarball's members).
pub(crate) fn open_layout(
    blobs: Arc<dyn Blobs>,
    label: &str,
    kind: &'static str,
    tag: Option<&str>,
    platform: Option<&Platform>,
    cache: Option<&dyn LayerCache>,
) -> Result<Vec<Contents>, Error> {
    if !blobs.exists("oci-layout") {
        return Err(Error::BadImage {
            image: label.to_owned(),
            reason: "not an OCI image layout: no `oci-layout` file".to_owned(),
        });
    }
    let index: Index = parse_json(&*blobs, "index.json", None)?;
    let top = select_tagged(&index, label, tag)?;

    // Leaf manifests, with the platform their index gives them.
    let mut leaves = Vec::new();
    let from_index = expand(&*blobs, top, None, 0, &mut leaves)?;

    let mut images = Vec::new();
    for (desc, listed) in leaves {
        let hex = digest_hex(&desc.digest)?;
        let name = blob_path(&desc.digest)?;
        let manifest: Manifest = parse_json(&*blobs, &name, Some(hex))?;
        let is_image = manifest.artifact_type.is_none()
            && desc.artifact_type.is_none()
            && CONFIG_TYPES.contains(&manifest.config.media_type.as_str());
        if !is_image {
            if from_index {
                continue;
            }
            return Err(Error::BadImage {
                image: label.to_owned(),
                reason: format!(
                    "manifest `{}` is not an image (config type `{}`)",
                    desc.digest, manifest.config.media_type
                ),
            });
        }
        let config_hex = digest_hex(&manifest.config.digest)?;
        let config_bytes = read_verified(
            &*blobs,
            &blob_path(&manifest.config.digest)?,
            Some(config_hex),
        )?;
        let config: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|source| Error::Json {
                what: blobs.describe(&blob_path(&manifest.config.digest).unwrap_or_default()),
                source,
            })?;
        let in_config = Platform::from_config(&config);
        let actual = listed.as_ref().map(Platform::from_json);
        // An index entry is not signed with the image: what it says must
        // be what the (digest-checked) config says, or an image of one
        // platform could be passed off as another's.
        if let (Some(listed), Some(config)) = (&actual, &in_config) {
            if listed != config {
                return Err(Error::BadImage {
                    image: label.to_owned(),
                    reason: format!(
                        "the index lists manifest `{}` as {listed}, but its config says {config}",
                        desc.digest
                    ),
                });
            }
        }
        let actual = actual.or(in_config);
        images.push((desc, manifest, config, actual));
    }
    if images.is_empty() {
        return Err(Error::BadImage {
            image: label.to_owned(),
            reason: "the index lists no image manifest".to_owned(),
        });
    }
    if let (true, Some(wanted)) = (from_index, platform) {
        let available: Vec<String> = images
            .iter()
            .map(|i| {
                i.3.as_ref()
                    .map_or_else(|| "unknown".to_owned(), ToString::to_string)
            })
            .collect();
        images.retain(|i| i.3.as_ref() == Some(wanted));
        images.dedup_by(|a, b| a.0.digest == b.0.digest);
        match images.len() {
            0 => {
                return Err(Error::NoPlatform {
                    image: label.to_owned(),
                    platform: wanted.to_string(),
                    available: available.join(", "),
                })
            }
            1 => {}
            _ => {
                return Err(Error::BadImage {
                    image: label.to_owned(),
                    reason: format!("the index lists several images for `{wanted}`"),
                })
            }
        }
    }

    let mut out = Vec::with_capacity(images.len());
    for (desc, manifest, config, actual) in images {
        let layers = manifest
            .layers
            .iter()
            .map(|l| {
                Ok(LayerRef {
                    name: blob_path(&l.digest)?,
                    check: Check::Stored(digest_hex(&l.digest)?.to_owned()),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let fs = LayerFs::load(Arc::clone(&blobs), layers, cache)?;
        let (packages, os) = inspect(&fs)?;
        out.push(Contents {
            target: label.to_owned(),
            kind,
            manifest_digest: Some(desc.digest.clone()),
            platform: actual.map(|p| p.to_string()),
            config: Some(config),
            annotations: manifest.annotations,
            packages,
            os,
            files: Box::new(fs),
        });
    }
    Ok(out)
}

/// Reads a docker-archive: through its OCI `index.json` when it has one
/// (Docker 25+, bulwark), else through `manifest.json`.
pub(crate) fn open_docker_archive(
    blobs: Arc<dyn Blobs>,
    label: &str,
    platform: Option<&Platform>,
    cache: Option<&dyn LayerCache>,
) -> Result<Vec<Contents>, Error> {
    if blobs.exists("oci-layout") && blobs.exists("index.json") {
        return open_layout(blobs, label, "docker-archive", None, platform, cache);
    }
    let entries: Vec<ArchiveEntry> = parse_json(&*blobs, "manifest.json", None)?;
    let entry = match &entries[..] {
        [one] => one,
        [] => {
            return Err(Error::BadImage {
                image: label.to_owned(),
                reason: "`manifest.json` lists no image".to_owned(),
            })
        }
        several => {
            let tags: Vec<String> = several
                .iter()
                .flat_map(|e| e.repo_tags.clone().unwrap_or_default())
                .collect();
            return Err(Error::BadImage {
                image: label.to_owned(),
                reason: format!(
                    "the archive holds {} images ({}); bulwark reads archives of one image",
                    several.len(),
                    tags.join(", ")
                ),
            });
        }
    };
    let config_hex = name_digest(&entry.config);
    let config_bytes = read_verified(&*blobs, &entry.config, config_hex)?;
    let config: serde_json::Value =
        serde_json::from_slice(&config_bytes).map_err(|source| Error::Json {
            what: blobs.describe(&entry.config),
            source,
        })?;
    let diff_ids: Vec<&str> = config
        .pointer("/rootfs/diff_ids")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if diff_ids.len() != entry.layers.len() {
        return Err(Error::BadImage {
            image: label.to_owned(),
            reason: format!(
                "the config lists {} diff IDs for {} layers",
                diff_ids.len(),
                entry.layers.len()
            ),
        });
    }
    let layers = entry
        .layers
        .iter()
        .zip(&diff_ids)
        .map(|(name, diff_id)| {
            let check = match name_digest(name) {
                Some(hex) if name.starts_with("blobs/") => Check::Stored(hex.to_owned()),
                _ => Check::Uncompressed(digest_hex(diff_id)?.to_owned()),
            };
            Ok(LayerRef {
                name: name.clone(),
                check,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let fs = LayerFs::load(Arc::clone(&blobs), layers, cache)?;
    let (packages, os) = inspect(&fs)?;
    // One image: the platform only chooses among the images of an index.
    let _ = platform;
    Ok(vec![Contents {
        target: label.to_owned(),
        kind: "docker-archive",
        manifest_digest: None,
        platform: Platform::from_config(&config).map(|p| p.to_string()),
        config: Some(config),
        annotations: BTreeMap::new(),
        packages,
        os,
        files: Box::new(fs),
    }])
}

/// The sha256 a `docker save` member name carries (`HEX.json`,
/// `blobs/sha256/HEX`, `HEX/layer.tar`), if any.
fn name_digest(name: &str) -> Option<&str> {
    let candidate = name
        .strip_prefix("blobs/sha256/")
        .or_else(|| name.strip_suffix(".json"))
        .or_else(|| name.strip_suffix(".tar"))?;
    let valid = candidate.len() == 64
        && candidate
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then_some(candidate)
}

fn digest_hex(digest: &str) -> Result<&str, Error> {
    sha256_hex(digest).ok_or_else(|| Error::BadDigest {
        digest: digest.to_owned(),
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(
    blobs: &dyn Blobs,
    name: &str,
    hex: Option<&str>,
) -> Result<T, Error> {
    let bytes = read_verified(blobs, name, hex)?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        what: blobs.describe(name),
        source,
    })
}

fn is_index(desc: &Descriptor) -> bool {
    INDEX_TYPES.contains(&desc.media_type.as_str())
}

fn is_manifest(desc: &Descriptor) -> bool {
    MANIFEST_TYPES.contains(&desc.media_type.as_str())
}

/// Picks the descriptor of `index.json` that `tag` names, or its only image.
fn select_tagged<'a>(
    index: &'a Index,
    label: &str,
    tag: Option<&str>,
) -> Result<&'a Descriptor, Error> {
    let tag_of = |d: &Descriptor| d.annotations.get(REF_NAME).cloned();
    let images: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| {
            (is_index(d) || is_manifest(d) || d.media_type.is_empty())
                && d.artifact_type.is_none()
                // The referrers tag schema (`sha256-HEX`) names artifacts.
                && !tag_of(d).is_some_and(|t| t.starts_with("sha256-"))
        })
        .collect();
    let tags = || {
        let mut tags: Vec<String> = images.iter().filter_map(|d| tag_of(d)).collect();
        tags.sort();
        tags.dedup();
        if tags.is_empty() {
            "none".to_owned()
        } else {
            tags.join(", ")
        }
    };
    match tag {
        Some(tag) => {
            let mut found = index
                .manifests
                .iter()
                .filter(|d| tag_of(d).as_deref() == Some(tag));
            match (found.next(), found.next()) {
                (Some(d), None) => Ok(d),
                (Some(_), Some(_)) => Err(Error::BadImage {
                    image: label.to_owned(),
                    reason: format!("`index.json` tags several images `{tag}`"),
                }),
                (None, _) => Err(Error::TagNotFound {
                    image: label.to_owned(),
                    tag: tag.to_owned(),
                    available: tags(),
                }),
            }
        }
        None => match images[..] {
            [one] => Ok(one),
            [] => Err(Error::BadImage {
                image: label.to_owned(),
                reason: "`index.json` lists no image".to_owned(),
            }),
            _ => Err(Error::AmbiguousImage {
                image: label.to_owned(),
                available: tags(),
            }),
        },
    }
}

/// Collects the manifests `desc` leads to; returns whether they came from an
/// image index.
fn expand(
    blobs: &dyn Blobs,
    desc: &Descriptor,
    listed: Option<&PlatformJson>,
    depth: usize,
    out: &mut Vec<(Descriptor, Option<PlatformJson>)>,
) -> Result<bool, Error> {
    let hex = digest_hex(&desc.digest)?;
    let name = blob_path(&desc.digest)?;
    let bytes = read_verified(blobs, &name, Some(hex))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            what: blobs.describe(&name),
            source,
        })?;
    let looks_like_index =
        is_index(desc) || (desc.media_type.is_empty() && value.get("manifests").is_some());
    if !looks_like_index {
        out.push((desc.clone(), listed.or(desc.platform.as_ref()).cloned()));
        return Ok(false);
    }
    if depth >= 4 {
        return Err(Error::BadImage {
            image: blobs.describe(&name),
            reason: "image indexes nested too deep".to_owned(),
        });
    }
    let index: Index = serde_json::from_value(value).map_err(|source| Error::Json {
        what: blobs.describe(&name),
        source,
    })?;
    for child in &index.manifests {
        if child.artifact_type.is_some() {
            continue;
        }
        if is_index(child) {
            expand(blobs, child, child.platform.as_ref(), depth + 1, out)?;
        } else if is_manifest(child) {
            out.push((child.clone(), child.platform.clone()));
        }
    }
    Ok(true)
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
        assert!(Platform::parse("linux//amd64").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
    }
}
