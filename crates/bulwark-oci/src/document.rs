//! The OCI JSON documents: manifests, indexes, image configs, the
//! `oci-layout` file and `docker save`'s `manifest.json`.
//!
//! Written documents are serialized from these structs, whose field order is
//! the image-spec's and whose maps are `BTreeMap`s, so that equal values give
//! equal bytes. (`oci-spec` is not used for writing: its annotation and label
//! maps are `HashMap`s, whose order changes from run to run.) For reading,
//! fields a document may leave out default to empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::descriptor::Descriptor;
use crate::media_type;

/// An OCI image manifest (also the shape of an OCI 1.1 artifact manifest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    #[serde(default)]
    pub schema_version: u32,
    /// [`media_type::MANIFEST`] (or Docker's, when read).
    #[serde(default)]
    pub media_type: String,
    /// The type of an artifact manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// What an artifact manifest refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations, sorted by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index: a multi-platform image, a referrers index or an OCI
/// layout's `index.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    #[serde(default)]
    pub schema_version: u32,
    /// [`media_type::INDEX`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The type of an artifact index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// What the index lists.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// What an artifact index refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations, sorted by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// An image index of `manifests`.
    pub fn new(manifests: Vec<Descriptor>, annotations: BTreeMap<String, String>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(media_type::INDEX.to_owned()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations,
        }
    }

    /// The entry `tag` names ([`Descriptor::ref_name`]), or without a tag
    /// the only image listed: artifacts and referrers indexes
    /// (`sha256-<hex>`) are not images. `location` names the layout in
    /// errors, which list the tags there are.
    pub fn resolve(&self, tag: Option<&str>, location: &str) -> Result<Descriptor, crate::Error> {
        use crate::Error;
        let images: Vec<&Descriptor> = self
            .manifests
            .iter()
            .filter(|d| {
                (d.is_index() || d.is_manifest() || d.media_type.is_empty())
                    && d.artifact_type.is_none()
                    && !d.ref_name().is_some_and(|t| t.starts_with("sha256-"))
            })
            .collect();
        let tags = || {
            let mut tags: Vec<&str> = images.iter().filter_map(|d| d.ref_name()).collect();
            tags.sort_unstable();
            tags.dedup();
            if tags.is_empty() {
                "none".to_owned()
            } else {
                tags.join(", ")
            }
        };
        let location = location.to_owned();
        match tag {
            Some(tag) => {
                let mut found = self.manifests.iter().filter(|d| d.ref_name() == Some(tag));
                match (found.next(), found.next()) {
                    (Some(d), None) => Ok(d.clone()),
                    (Some(_), Some(_)) => Err(Error::DuplicateTag {
                        location,
                        tag: tag.to_owned(),
                    }),
                    (None, _) => Err(Error::TagNotFound {
                        location,
                        tag: tag.to_owned(),
                        available: tags(),
                    }),
                }
            }
            None => match images[..] {
                [one] => Ok(one.clone()),
                [] => Err(Error::NoImage { location }),
                _ => Err(Error::AmbiguousImage {
                    location,
                    available: tags(),
                }),
            },
        }
    }

    /// The one entry tagged `tag` ([`Descriptor::ref_name`]), if exactly
    /// one is.
    pub fn tagged(&self, tag: &str) -> Option<&Descriptor> {
        let mut found = self.manifests.iter().filter(|d| d.ref_name() == Some(tag));
        match (found.next(), found.next()) {
            (Some(d), None) => Some(d),
            _ => None,
        }
    }
}

/// An OCI image config, as bulwark writes it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageConfig {
    /// Creation time, RFC 3339.
    pub created: String,
    /// Go's `GOARCH`.
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// How to run it.
    pub config: RunConfig,
    /// The layers' diff IDs.
    pub rootfs: RootFs,
    /// What made each layer.
    pub history: Vec<HistoryEntry>,
}

/// The execution parameters of an image config (`config` in the JSON).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `User`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `ExposedPorts`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, EmptyObject>,
    /// `Env`, `NAME=value`, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// `Entrypoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// `Volumes`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, EmptyObject>,
    /// `WorkingDir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `Labels`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `StopSignal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// `{}`: the value type of the Go "set" maps (`ExposedPorts`, `Volumes`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EmptyObject {}

/// `rootfs` of an image config.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RootFs {
    /// `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The uncompressed layers' digests, base first.
    pub diff_ids: Vec<String>,
}

/// One `history` entry of an image config.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// RFC 3339.
    pub created: String,
    /// What made the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// A comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True for a step without a layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The `oci-layout` file of an OCI image layout.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayoutFile {
    /// `1.0.0`.
    pub image_layout_version: String,
}

impl Default for LayoutFile {
    fn default() -> Self {
        Self {
            image_layout_version: "1.0.0".to_owned(),
        }
    }
}

/// One entry of `docker save`'s `manifest.json`: member names of the
/// config and the layers, and the image's names.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ArchiveEntry {
    /// The config's member name.
    pub config: String,
    /// `name:tag` of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_tags: Option<Vec<String>>,
    /// The layers' member names, base first.
    pub layers: Vec<String>,
}

/// Serializes a document to compact JSON. Field order is fixed by the
/// struct definitions and every map is a `BTreeMap`, so equal values give
/// equal bytes.
pub fn to_json<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>, crate::Error> {
    serde_json::to_vec(value).map_err(|source| crate::Error::Serialize { what, source })
}
