//! Turning an [`ImageSpec`] into config and manifest bytes.

use std::collections::{BTreeMap, BTreeSet};

use bulwark_oci::{
    annotation, media_type, to_json, Descriptor, EmptyObject, HistoryEntry, ImageConfig, Manifest,
    Platform, RootFs, RunConfig,
};

use crate::{Error, LayerBlob};

/// Everything that goes into one single-platform image.
#[derive(Clone, Debug, Default)]
pub struct ImageSpec {
    /// Debian architecture (`amd64`, `arm64`, `armhf`, …), mapped to the OCI
    /// platform by [`Platform::for_debian_arch`].
    pub architecture: String,
    /// Layers, bottom first.
    pub layers: Vec<LayerBlob>,
    /// The config's `history`, oldest first. Entries without `empty_layer`
    /// pair with [`ImageSpec::layers`] in order, so there must be exactly one
    /// per layer. Empty means one generated entry per layer.
    pub history: Vec<History>,
    /// `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `Env`, as `NAME=value`, in the order given.
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub workdir: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
    /// `ExposedPorts` (`80/tcp`, `53/udp`).
    pub exposed_ports: BTreeSet<String>,
    /// `Volumes`.
    pub volumes: BTreeSet<String>,
    /// `StopSignal`.
    pub stop_signal: Option<String>,
    /// Creation time, seconds since the Unix epoch (normally
    /// `SOURCE_DATE_EPOCH`): the config's `created`, every history entry's,
    /// and the manifest's `org.opencontainers.image.created` annotation.
    pub created: u64,
    /// Manifest annotations. `org.opencontainers.image.created` is added
    /// unless given here.
    pub manifest_annotations: BTreeMap<String, String>,
}

/// One entry of an image config's `history`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    /// What made the layer (`bulwark: packages libc6 …`).
    pub created_by: String,
    /// A free-form comment.
    pub comment: Option<String>,
    /// True for a step that changed only the config and has no layer.
    pub empty_layer: bool,
}

/// A serialized JSON blob and its descriptor, not yet written anywhere.
#[derive(Clone, Debug)]
pub(crate) struct JsonBlob {
    pub(crate) descriptor: Descriptor,
    pub(crate) bytes: Vec<u8>,
}

impl JsonBlob {
    pub(crate) fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            descriptor: Descriptor::of_bytes(media_type, &bytes),
            bytes,
        }
    }
}

/// An image ready to be written: its config, manifest and layers.
#[derive(Clone, Debug)]
pub(crate) struct BuiltImage<'a> {
    pub(crate) platform: Platform,
    pub(crate) config: JsonBlob,
    pub(crate) manifest: JsonBlob,
    pub(crate) layers: &'a [LayerBlob],
}

impl<'a> BuiltImage<'a> {
    pub(crate) fn new(spec: &'a ImageSpec) -> Result<Self, Error> {
        let platform = Platform::for_debian_arch(&spec.architecture)
            .ok_or_else(|| Error::UnknownArchitecture(spec.architecture.clone()))?;
        let created = bulwark_oci::rfc3339(spec.created);
        let history = history(spec, &created)?;
        let config = ImageConfig {
            created: created.clone(),
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
            config: RunConfig {
                user: spec.user.clone(),
                exposed_ports: set(&spec.exposed_ports),
                env: spec.env.clone(),
                entrypoint: spec.entrypoint.clone(),
                cmd: spec.cmd.clone(),
                volumes: set(&spec.volumes),
                working_dir: spec.workdir.clone(),
                labels: spec.labels.clone(),
                stop_signal: spec.stop_signal.clone(),
            },
            rootfs: RootFs {
                kind: "layers".to_owned(),
                diff_ids: spec.layers.iter().map(|l| l.diff_id.clone()).collect(),
            },
            history,
        };
        let config = JsonBlob::new(media_type::CONFIG, to_json(&config, "image config")?);
        let mut annotations = spec.manifest_annotations.clone();
        annotations
            .entry(annotation::CREATED.to_owned())
            .or_insert(created);
        let manifest = Manifest {
            schema_version: 2,
            media_type: media_type::MANIFEST.to_owned(),
            artifact_type: None,
            config: config.descriptor.clone(),
            layers: spec.layers.iter().map(LayerBlob::descriptor).collect(),
            subject: None,
            annotations,
        };
        let manifest = JsonBlob::new(media_type::MANIFEST, to_json(&manifest, "image manifest")?);
        Ok(Self {
            platform,
            config,
            manifest,
            layers: &spec.layers,
        })
    }

    /// The manifest's descriptor, with the platform, as an index lists it.
    pub(crate) fn index_entry(&self) -> Descriptor {
        Descriptor {
            platform: Some(self.platform.clone()),
            ..self.manifest.descriptor.clone()
        }
    }
}

fn set(items: &BTreeSet<String>) -> BTreeMap<String, EmptyObject> {
    items
        .iter()
        .map(|item| (item.clone(), EmptyObject {}))
        .collect()
}

fn history(spec: &ImageSpec, created: &str) -> Result<Vec<HistoryEntry>, Error> {
    if spec.history.is_empty() {
        return Ok(spec
            .layers
            .iter()
            .map(|_| HistoryEntry {
                created: created.to_owned(),
                created_by: Some("bulwark".to_owned()),
                comment: None,
                empty_layer: false,
            })
            .collect());
    }
    let with_layer = spec.history.iter().filter(|h| !h.empty_layer).count();
    if with_layer != spec.layers.len() {
        return Err(Error::HistoryMismatch {
            architecture: spec.architecture.clone(),
            layers: spec.layers.len(),
            history: with_layer,
        });
    }
    Ok(spec
        .history
        .iter()
        .map(|h| HistoryEntry {
            created: created.to_owned(),
            created_by: Some(h.created_by.clone()),
            comment: h.comment.clone(),
            empty_layer: h.empty_layer,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_oci::annotation::CREATED as ANNOTATION_CREATED;
    use bulwark_oci::media_type::LAYER_GZIP as MEDIA_TYPE_LAYER_GZIP;

    fn spec() -> ImageSpec {
        ImageSpec {
            architecture: "armhf".into(),
            layers: vec![LayerBlob {
                path: "/nonexistent".into(),
                digest: format!("sha256:{}", "a".repeat(64)),
                diff_id: format!("sha256:{}", "b".repeat(64)),
                size: 42,
                media_type: MEDIA_TYPE_LAYER_GZIP.into(),
            }],
            history: vec![
                History {
                    created_by: "layer".into(),
                    comment: Some("packages".into()),
                    empty_layer: false,
                },
                History {
                    created_by: "config".into(),
                    comment: None,
                    empty_layer: true,
                },
            ],
            entrypoint: Some(vec!["/app".into()]),
            cmd: None,
            env: vec!["Z=1".into(), "A=2".into()],
            workdir: Some("/".into()),
            user: Some("nonroot".into()),
            labels: BTreeMap::from([("z".into(), "1".into()), ("a".into(), "2".into())]),
            exposed_ports: BTreeSet::from(["8080/tcp".into()]),
            volumes: BTreeSet::new(),
            stop_signal: None,
            created: 0,
            manifest_annotations: BTreeMap::from([
                ("org.example.z".into(), "z".into()),
                ("org.example.a".into(), "a".into()),
            ]),
        }
    }

    /// The exact bytes: field order as in the image-spec, maps sorted,
    /// `Env` kept in the given order, optional fields left out.
    #[test]
    fn config_and_manifest_bytes() {
        let spec = spec();
        let image = BuiltImage::new(&spec).unwrap();
        let config = String::from_utf8(image.config.bytes.clone()).unwrap();
        assert_eq!(
            config,
            concat!(
                r#"{"created":"1970-01-01T00:00:00Z","architecture":"arm","os":"linux","variant":"v7","#,
                r#""config":{"User":"nonroot","ExposedPorts":{"8080/tcp":{}},"Env":["Z=1","A=2"],"#,
                r#""Entrypoint":["/app"],"WorkingDir":"/","Labels":{"a":"2","z":"1"}},"#,
                r#""rootfs":{"type":"layers","diff_ids":["sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"]},"#,
                r#""history":[{"created":"1970-01-01T00:00:00Z","created_by":"layer","comment":"packages"},"#,
                r#"{"created":"1970-01-01T00:00:00Z","created_by":"config","empty_layer":true}]}"#,
            )
        );
        let manifest = String::from_utf8(image.manifest.bytes.clone()).unwrap();
        assert_eq!(
            manifest,
            format!(
                concat!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
                    r#""config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"#,
                    r#""layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","#,
                    r#""digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":42}}],"#,
                    r#""annotations":{{"org.example.a":"a","org.example.z":"z","#,
                    r#""org.opencontainers.image.created":"1970-01-01T00:00:00Z"}}}}"#,
                ),
                image.config.descriptor.digest, image.config.descriptor.size
            )
        );
        assert_eq!(
            image.manifest.descriptor.digest,
            bulwark_oci::sha256_digest(manifest.as_bytes())
        );
    }

    /// An independent implementation (oci-spec) reads what we write.
    #[test]
    fn oci_spec_parses_our_documents() {
        use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
        let spec = spec();
        let image = BuiltImage::new(&spec).unwrap();
        let config = ImageConfiguration::from_reader(&image.config.bytes[..]).unwrap();
        assert_eq!(config.architecture().to_string(), "arm");
        assert_eq!(config.variant().as_deref(), Some("v7"));
        assert_eq!(config.rootfs().diff_ids().len(), 1);
        assert_eq!(config.history().as_ref().unwrap().len(), 2);
        let manifest = ImageManifest::from_reader(&image.manifest.bytes[..]).unwrap();
        assert_eq!(manifest.schema_version(), 2);
        assert_eq!(
            manifest.config().digest().to_string(),
            image.config.descriptor.digest
        );
        assert_eq!(
            manifest.annotations().as_ref().unwrap()[ANNOTATION_CREATED],
            "1970-01-01T00:00:00Z"
        );
        let index = bulwark_oci::Index::new(vec![image.index_entry()], BTreeMap::new());
        let bytes = to_json(&index, "image index").unwrap();
        let parsed = ImageIndex::from_reader(&bytes[..]).unwrap();
        let platform = parsed.manifests()[0].platform().as_ref().unwrap();
        assert_eq!(platform.variant().as_deref(), Some("v7"));
    }

    #[test]
    fn created_annotation_can_be_overridden() {
        let mut spec = spec();
        spec.manifest_annotations
            .insert(ANNOTATION_CREATED.into(), "custom".into());
        let image = BuiltImage::new(&spec).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest.bytes).unwrap();
        assert_eq!(manifest["annotations"][ANNOTATION_CREATED], "custom");
    }

    #[test]
    fn history_defaults_to_one_entry_per_layer() {
        let mut spec = spec();
        spec.history.clear();
        let image = BuiltImage::new(&spec).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
        assert_eq!(config["history"].as_array().unwrap().len(), 1);
        assert_eq!(config["history"][0]["created_by"], "bulwark");
    }
}
