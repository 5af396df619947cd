//! Resolving OCI image stores and docker-archives to image manifests,
//! configs and layers.

use std::collections::BTreeMap;
use std::sync::Arc;

use bulwark_oci::{
    media_type, read_json, ArchiveEntry, Descriptor, ImageStore, Index, Manifest, Platform,
};

use crate::blobs::{ArchiveBlobs, Check, LayerRef, LayerSource};
use crate::layers::LayerFs;
use crate::{inspect, Contents, Error, LayerCache};

/// The platform a config names, normalized.
fn config_platform(config: &serde_json::Value) -> Option<Platform> {
    let field = |k: &str| config.get(k).and_then(|v| v.as_str());
    let platform = Platform {
        os: field("os")?.to_owned(),
        architecture: field("architecture")?.to_owned(),
        variant: field("variant").map(str::to_owned),
        ..Platform::default()
    };
    Some(platform.normalized())
}

/// One image manifest found under a tag, with what was read of it.
struct Found {
    descriptor: Descriptor,
    manifest: Manifest,
    config: serde_json::Value,
    platform: Option<Platform>,
}

/// Reads the images `tag` leads to in an OCI image store (a layout, a
/// tarball's OCI members).
pub(crate) fn open_store(
    store: Arc<dyn ImageStore>,
    layers: Arc<dyn LayerSource>,
    label: &str,
    kind: &'static str,
    tag: Option<&str>,
    platform: Option<&Platform>,
    cache: Option<&dyn LayerCache>,
) -> Result<Vec<Contents>, Error> {
    let top = store.resolve(tag)?;
    // Leaf manifests, with the platform their index gives them.
    let mut leaves = Vec::new();
    let from_index = expand(store.as_ref(), &top, None, 0, &mut leaves)?;

    let mut images = Vec::new();
    for (descriptor, listed) in leaves {
        let manifest: Manifest = read_json(store.as_ref(), &descriptor)?;
        let is_image = manifest.artifact_type.is_none()
            && descriptor.artifact_type.is_none()
            && media_type::CONFIGS.contains(&manifest.config.media_type.as_str());
        if !is_image {
            if from_index {
                continue;
            }
            return Err(Error::BadImage {
                image: label.to_owned(),
                reason: format!(
                    "manifest `{}` is not an image (config type `{}`)",
                    descriptor.digest, manifest.config.media_type
                ),
            });
        }
        let config: serde_json::Value = read_json(store.as_ref(), &manifest.config)?;
        let in_config = config_platform(&config);
        let actual = listed.as_ref().map(Platform::normalized);
        // An index entry is not signed with the image: what it says must
        // be what the (digest-checked) config says, or an image of one
        // platform could be passed off as another's.
        if let (Some(listed), Some(config)) = (&actual, &in_config) {
            if listed != config {
                return Err(Error::BadImage {
                    image: label.to_owned(),
                    reason: format!(
                        "the index lists manifest `{}` as {listed}, but its config says {config}",
                        descriptor.digest
                    ),
                });
            }
        }
        images.push(Found {
            descriptor,
            manifest,
            config,
            platform: actual.or(in_config),
        });
    }
    if images.is_empty() {
        return Err(Error::BadImage {
            image: label.to_owned(),
            reason: "the index lists no image manifest".to_owned(),
        });
    }
    if let (true, Some(wanted)) = (from_index, platform) {
        let wanted = wanted.normalized();
        let available: Vec<String> = images
            .iter()
            .map(|i| {
                i.platform
                    .as_ref()
                    .map_or_else(|| "unknown".to_owned(), ToString::to_string)
            })
            .collect();
        images.retain(|i| i.platform.as_ref() == Some(&wanted));
        images.dedup_by(|a, b| a.descriptor.digest == b.descriptor.digest);
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
    for found in images {
        let refs = found
            .manifest
            .layers
            .iter()
            .map(|l| LayerRef {
                name: l.digest.clone(),
                check: Check::Stored(Box::new(l.clone())),
            })
            .collect();
        let fs = LayerFs::load(Arc::clone(&layers), refs, cache)?;
        let (packages, os) = inspect(&fs)?;
        out.push(Contents {
            target: label.to_owned(),
            kind,
            manifest_digest: Some(found.descriptor.digest.clone()),
            config_digest: Some(found.manifest.config.digest.clone()),
            platform: found.platform.map(|p| p.to_string()),
            config: Some(found.config),
            annotations: found.manifest.annotations,
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
    archive: Arc<ArchiveBlobs>,
    label: &str,
    platform: Option<&Platform>,
    cache: Option<&dyn LayerCache>,
) -> Result<Vec<Contents>, Error> {
    if archive.has("oci-layout") && archive.has("index.json") {
        let store: Arc<dyn ImageStore> = archive.clone();
        let layers: Arc<dyn LayerSource> = archive;
        return open_store(
            store,
            layers,
            label,
            "docker-archive",
            None,
            platform,
            cache,
        );
    }
    let entries: Vec<ArchiveEntry> = archive.read_member_json("manifest.json", None)?;
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
    let config: serde_json::Value =
        archive.read_member_json(&entry.config, name_digest(&entry.config))?;
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
            let check = match (name.strip_prefix("blobs/sha256/"), name_digest(name)) {
                (Some(_), Some(hex)) => {
                    let digest = format!("sha256:{hex}");
                    let size =
                        bulwark_oci::BlobStore::blob_size(archive.as_ref(), &digest).unwrap_or(0);
                    return Ok(LayerRef {
                        name: digest.clone(),
                        check: Check::Stored(Box::new(Descriptor::new(
                            media_type::LAYER_TAR,
                            digest,
                            size,
                        ))),
                    });
                }
                _ => Check::Uncompressed(
                    bulwark_oci::sha256_hex(diff_id)
                        .ok_or_else(|| bulwark_oci::Error::InvalidDigest((*diff_id).to_owned()))?
                        .to_owned(),
                ),
            };
            Ok(LayerRef {
                name: name.clone(),
                check,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let source: Arc<dyn LayerSource> = archive;
    let fs = LayerFs::load(source, layers, cache)?;
    let (packages, os) = inspect(&fs)?;
    // One image: the platform only chooses among the images of an index.
    let _ = platform;
    Ok(vec![Contents {
        target: label.to_owned(),
        kind: "docker-archive",
        manifest_digest: None,
        config_digest: name_digest(&entry.config).map(|hex| format!("sha256:{hex}")),
        platform: config_platform(&config).map(|p| p.to_string()),
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

/// Collects the manifests `descriptor` leads to; returns whether they came
/// from an image index.
fn expand(
    store: &dyn ImageStore,
    descriptor: &Descriptor,
    listed: Option<&Platform>,
    depth: usize,
    out: &mut Vec<(Descriptor, Option<Platform>)>,
) -> Result<bool, Error> {
    let value: serde_json::Value = read_json(store, descriptor)?;
    let looks_like_index = descriptor.is_index()
        || (descriptor.media_type.is_empty() && value.get("manifests").is_some());
    if !looks_like_index {
        out.push((
            descriptor.clone(),
            listed.or(descriptor.platform.as_ref()).cloned(),
        ));
        return Ok(false);
    }
    if depth >= 4 {
        return Err(Error::BadImage {
            image: store.describe_blob(&descriptor.digest),
            reason: "image indexes nested too deep".to_owned(),
        });
    }
    let index: Index =
        serde_json::from_value(value).map_err(|source| bulwark_oci::Error::InvalidJson {
            what: store.describe_blob(&descriptor.digest),
            source,
        })?;
    for child in &index.manifests {
        if child.artifact_type.is_some() {
            continue;
        }
        if child.is_index() {
            expand(store, child, child.platform.as_ref(), depth + 1, out)?;
        } else if child.is_manifest() {
            out.push((child.clone(), child.platform.clone()));
        }
    }
    Ok(true)
}
