//! OCI 1.1 referrers: documents attached to an image as artifact manifests
//! whose `subject` is the image, listed in a referrers index (the
//! `sha256-<hex>` tag schema in a layout, the referrers API or the same
//! tag in a registry).

use std::collections::BTreeMap;

use crate::descriptor::Descriptor;
use crate::document::{to_json, Index, Manifest};
use crate::store::{read_blob, read_json, ImageStore};
use crate::{annotation, media_type, sha256_hex, Error, Layout};

/// The empty JSON object: the config of every artifact manifest.
const EMPTY_JSON: &[u8] = b"{}";
const EMPTY_JSON_BASE64: &str = "e30=";

/// The largest attached document read into memory (an SBOM that lists
/// every file of a large image is tens of megabytes).
const MAX_ARTIFACT: u64 = 256 << 20;

/// The referrers tag of a subject digest: `sha256-<hex>`.
pub fn referrers_tag(subject_digest: &str) -> Option<String> {
    sha256_hex(subject_digest).map(|hex| format!("sha256-{hex}"))
}

/// Whether `tag` has the referrers tag schema's form, `sha256-<64 hex>`.
pub fn is_referrers_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-")
        .is_some_and(|hex| sha256_hex(&format!("sha256:{hex}")).is_some())
}

/// A document to attach to an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The manifest's `artifactType`, also the media type of its one layer.
    pub artifact_type: String,
    /// The document.
    pub document: Vec<u8>,
    /// Annotations of the artifact manifest, repeated on its descriptors in
    /// `index.json` and in the referrers index.
    pub annotations: BTreeMap<String, String>,
}

impl Artifact {
    /// An artifact of type `artifact_type` holding `document`, annotated as
    /// `kind` ([`annotation::ARTIFACT`]).
    pub fn new(kind: &str, artifact_type: &str, document: Vec<u8>) -> Self {
        Self {
            artifact_type: artifact_type.to_owned(),
            document,
            annotations: BTreeMap::from([(annotation::ARTIFACT.to_owned(), kind.to_owned())]),
        }
    }

    /// Adds an annotation.
    #[must_use]
    pub fn with_annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }
}

impl Layout {
    /// Attaches `artifacts` to the image whose manifest (or index) is
    /// `subject`.
    ///
    /// For each artifact, writes the document as a blob and an OCI 1.1
    /// artifact manifest (`artifactType`, the empty config, one layer,
    /// `subject`), and lists it in `index.json` without a tag. Then
    /// (re)writes the referrers index of `subject`, tagged `sha256-<hex>`:
    /// the artifacts listed there already plus the new ones. Attaching the
    /// same document again changes nothing. Returns the artifact manifests'
    /// descriptors, in order.
    ///
    /// Holds the layout's lock throughout; `index.json` is replaced
    /// atomically, once.
    pub fn attach(
        &self,
        subject: &Descriptor,
        artifacts: &[Artifact],
    ) -> Result<Vec<Descriptor>, Error> {
        let tag = referrers_tag(&subject.digest)
            .ok_or_else(|| Error::InvalidDigest(subject.digest.clone()))?;
        let _lock = self.lock()?;
        let subject = subject.bare();
        let config = Descriptor {
            data: Some(EMPTY_JSON_BASE64.to_owned()),
            ..self.write_blob(media_type::EMPTY, EMPTY_JSON)?
        };

        let mut attached = Vec::with_capacity(artifacts.len());
        for artifact in artifacts {
            let layer = self.write_blob(&artifact.artifact_type, &artifact.document)?;
            let manifest = Manifest {
                schema_version: 2,
                media_type: media_type::MANIFEST.to_owned(),
                artifact_type: Some(artifact.artifact_type.clone()),
                config: config.clone(),
                layers: vec![layer],
                subject: Some(subject.clone()),
                annotations: artifact.annotations.clone(),
            };
            let bytes = to_json(&manifest, "artifact manifest")?;
            let descriptor = self.write_blob(media_type::MANIFEST, &bytes)?;
            attached.push(Descriptor {
                artifact_type: Some(artifact.artifact_type.clone()),
                annotations: artifact.annotations.clone(),
                ..descriptor
            });
        }

        let mut index = self.read_index()?;
        // The referrers listed so far, then the new ones (each digest once).
        let mut referrers = match index.tagged(&tag) {
            Some(descriptor) => read_json::<Index>(self, descriptor)?.manifests,
            None => Vec::new(),
        };
        for descriptor in &attached {
            if !referrers.iter().any(|d| d.digest == descriptor.digest) {
                referrers.push(descriptor.clone());
            }
            let listed = |d: &Descriptor| d.digest == descriptor.digest && d.ref_name().is_none();
            if !index.manifests.iter().any(listed) {
                index.manifests.push(descriptor.clone());
            }
        }
        let referrers_index = to_json(&Index::new(referrers, BTreeMap::new()), "referrers index")?;
        let mut referrers_descriptor = self.write_blob(media_type::INDEX, &referrers_index)?;
        referrers_descriptor
            .annotations
            .insert(annotation::REF_NAME.to_owned(), tag.clone());
        index
            .manifests
            .retain(|d| d.ref_name() != Some(tag.as_str()));
        index.manifests.push(referrers_descriptor);
        if index.media_type.is_none() {
            index.media_type = Some(media_type::INDEX.to_owned());
        }
        self.write_index(&index)?;
        Ok(attached)
    }
}

/// One artifact attached to an image.
#[derive(Clone, Debug)]
pub struct Referrer {
    /// Its manifest's descriptor, with the `artifactType` and annotations
    /// (from the manifest itself when the listing gives none).
    pub descriptor: Descriptor,
    /// Its document: the manifest's one layer, checked against its digest.
    pub document: Vec<u8>,
}

/// What [`read_referrers`] found.
#[derive(Clone, Debug, Default)]
pub struct Referrers {
    /// The artifacts whose `subject` is the image, in listing order.
    pub found: Vec<Referrer>,
    /// What was passed over, and why (an unlisted artifact manifest whose
    /// blob is missing).
    pub notes: Vec<String>,
}

/// The artifacts attached to `subject` in `store` that `wanted` selects (by
/// their descriptor), with their documents.
///
/// Every blob read is checked against its digest and size. An artifact the
/// store lists as a referrer of `subject` claims to be one: its missing or
/// changed blobs are errors ([`Error::BlobMissing`], [`Error::is_mismatch`]),
/// as is a malformed manifest. An artifact the store only holds may belong
/// to any image: if its manifest is missing it is passed over with a note,
/// if malformed it is passed over. Artifacts whose `subject` is another
/// image are left out; an artifact manifest with other than one layer is
/// [`Error::InvalidArtifact`].
pub fn read_referrers(
    store: &dyn ImageStore,
    subject: &str,
    wanted: &dyn Fn(&Descriptor) -> bool,
) -> Result<Referrers, Error> {
    let mut out = Referrers::default();
    for (descriptor, listed) in store.referrer_candidates(subject)? {
        if descriptor.media_type != media_type::MANIFEST {
            continue;
        }
        let bytes = match read_blob(store, &descriptor, crate::MAX_DOCUMENT) {
            Ok(bytes) => bytes,
            Err(Error::BlobMissing { .. }) if !listed => {
                let note =
                    format!(
                    "ignored the artifact {} (type {}) that {} lists: its manifest blob is missing",
                    descriptor.digest,
                    descriptor.artifact_type.as_deref().unwrap_or("").escape_debug(),
                    store.location()
                );
                if !out.notes.contains(&note) {
                    out.notes.push(note);
                }
                continue;
            }
            Err(err) => return Err(err),
        };
        let manifest: Manifest = match serde_json::from_slice(&bytes) {
            Ok(manifest) => manifest,
            Err(_) if !listed => continue,
            Err(source) => {
                return Err(Error::InvalidJson {
                    what: store.describe_blob(&descriptor.digest),
                    source,
                })
            }
        };
        if manifest.subject.as_ref().map(|s| s.digest.as_str()) != Some(subject) {
            continue;
        }
        let descriptor = Descriptor {
            artifact_type: descriptor
                .artifact_type
                .clone()
                .or_else(|| manifest.artifact_type.clone()),
            annotations: if descriptor.annotations.is_empty() {
                manifest.annotations.clone()
            } else {
                descriptor.annotations.clone()
            },
            ..descriptor
        };
        if !wanted(&descriptor) {
            continue;
        }
        let [layer] = manifest.layers.as_slice() else {
            return Err(Error::InvalidArtifact {
                digest: descriptor.digest,
                reason: format!("it has {} layers, not one", manifest.layers.len()),
            });
        };
        let document = read_blob(store, layer, MAX_ARTIFACT)?;
        out.found.push(Referrer {
            descriptor,
            document,
        });
    }
    Ok(out)
}
