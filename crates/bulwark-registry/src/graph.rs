//! Everything an image is made of, in any store: its manifests and indexes,
//! its blobs, and the artifacts attached to it.

use std::collections::HashSet;
use std::sync::Arc;

use bulwark_oci::{media_type, read_blob, Descriptor, ImageStore, Index, Manifest, MAX_DOCUMENT};

use crate::Error;

/// How deep indexes may nest, and artifacts refer to artifacts.
const MAX_DEPTH: usize = 4;

/// The most manifests (images, indexes, artifacts) and blobs one image may
/// have: a hostile index cannot make a copy run without end.
const MAX_MANIFESTS: usize = 4096;
const MAX_BLOBS: usize = 65536;
/// The most bytes of manifests one image may have, all together.
const MAX_MANIFEST_BYTES: u64 = 512 << 20;

/// A manifest or index with its exact bytes (checked against its digest).
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) descriptor: Descriptor,
    pub(crate) bytes: Arc<[u8]>,
    /// The digests of the blobs it names (config and layers; none for an
    /// index).
    pub(crate) blobs: Vec<String>,
}

/// An artifact manifest attached to a subject.
#[derive(Clone, Debug)]
pub(crate) struct Attached {
    /// The subject's digest.
    pub(crate) subject: String,
    /// The artifact manifest as the store lists it (with `artifactType` and
    /// annotations), and its bytes.
    pub(crate) node: Node,
}

/// An image and what belongs to it.
#[derive(Debug)]
pub(crate) struct Graph {
    /// The manifest or index the reference names.
    pub(crate) top: Descriptor,
    /// Every blob (configs, layers, artifact documents), each once.
    pub(crate) blobs: Vec<Descriptor>,
    /// Image manifests and indexes, each after the manifests it lists, the
    /// top one last.
    pub(crate) manifests: Vec<Node>,
    /// Attached artifacts, each after its subject.
    pub(crate) artifacts: Vec<Attached>,
}

struct Walk<'a> {
    store: &'a dyn ImageStore,
    manifest_bytes: u64,
    seen: HashSet<String>,
    blobs_seen: HashSet<String>,
    graph: Graph,
}

/// Collects the image `top` names in `store`, with the artifacts its
/// manifests and indexes (and those artifacts) list as referrers. Every
/// document is read through the store's digest check.
pub(crate) fn collect(store: &dyn ImageStore, top: Descriptor) -> Result<Graph, Error> {
    let mut walk = Walk {
        store,
        manifest_bytes: 0,
        seen: HashSet::new(),
        blobs_seen: HashSet::new(),
        graph: Graph {
            top: top.clone(),
            blobs: Vec::new(),
            manifests: Vec::new(),
            artifacts: Vec::new(),
        },
    };
    walk.image(&top, 0)?;
    let subjects: Vec<Descriptor> = walk
        .graph
        .manifests
        .iter()
        .map(|n| n.descriptor.clone())
        .collect();
    for subject in subjects {
        walk.referrers(&subject.digest, 0)?;
    }
    Ok(walk.graph)
}

fn invalid(descriptor: &Descriptor, reason: impl std::fmt::Display) -> Error {
    bulwark_oci::Error::InvalidArtifact {
        digest: descriptor.digest.clone(),
        reason: reason.to_string(),
    }
    .into()
}

impl Walk<'_> {
    fn read(&mut self, descriptor: &Descriptor) -> Result<Arc<[u8]>, Error> {
        self.manifest_bytes = self.manifest_bytes.saturating_add(descriptor.size);
        if self.manifest_bytes > MAX_MANIFEST_BYTES {
            return Err(invalid(
                descriptor,
                format!("the image's manifests hold more than {MAX_MANIFEST_BYTES} bytes"),
            ));
        }
        Ok(read_blob(self.store, descriptor, MAX_DOCUMENT)?.into())
    }

    fn blob(&mut self, descriptor: &Descriptor) -> Result<(), Error> {
        if self.blobs_seen.insert(descriptor.digest.clone()) {
            if self.graph.blobs.len() >= MAX_BLOBS {
                return Err(invalid(
                    descriptor,
                    format!("the image names more than {MAX_BLOBS} blobs"),
                ));
            }
            self.graph.blobs.push(descriptor.bare());
        }
        Ok(())
    }

    /// Notes one more manifest; too many is an error.
    fn count(&self, descriptor: &Descriptor) -> Result<(), Error> {
        if self.seen.len() > MAX_MANIFESTS {
            return Err(invalid(
                descriptor,
                format!("the image has more than {MAX_MANIFESTS} manifests"),
            ));
        }
        Ok(())
    }

    /// An image manifest or index, after what it lists.
    fn image(&mut self, descriptor: &Descriptor, depth: usize) -> Result<(), Error> {
        if !self.seen.insert(descriptor.digest.clone()) {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(invalid(descriptor, "indexes nest too deep"));
        }
        self.count(descriptor)?;
        let bytes = self.read(descriptor)?;
        let mut blobs = Vec::new();
        if media_type::INDEXES.contains(&descriptor.media_type.as_str()) {
            let index: Index = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(descriptor, format!("not an image index: {e}")))?;
            for child in &index.manifests {
                self.image(child, depth + 1)?;
            }
        } else {
            let manifest: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(descriptor, format!("not an image manifest: {e}")))?;
            for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
                self.blob(blob)?;
                blobs.push(blob.digest.clone());
            }
        }
        self.graph.manifests.push(Node {
            descriptor: descriptor.clone(),
            bytes,
            blobs,
        });
        Ok(())
    }

    /// The artifacts listed as referrers of `subject`, and theirs.
    fn referrers(&mut self, subject: &str, depth: usize) -> Result<(), Error> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let candidates = self.store.referrer_candidates(subject)?;
        for (mut descriptor, listed) in candidates {
            // A layout may hold artifacts of other images: only the listed
            // ones belong to this one.
            if !listed
                || descriptor.media_type != media_type::MANIFEST
                || !self.seen.insert(descriptor.digest.clone())
            {
                continue;
            }
            self.count(&descriptor)?;
            let bytes = self.read(&descriptor)?;
            let manifest: Manifest = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(&descriptor, format!("not an artifact manifest: {e}")))?;
            if manifest.subject.as_ref().map(|s| s.digest.as_str()) != Some(subject) {
                return Err(invalid(
                    &descriptor,
                    format!("it is listed as a referrer of `{subject}` but its subject differs"),
                ));
            }
            if descriptor.artifact_type.is_none() {
                descriptor.artifact_type = manifest
                    .artifact_type
                    .clone()
                    .or_else(|| Some(manifest.config.media_type.clone()));
            }
            descriptor
                .annotations
                .remove(bulwark_oci::annotation::REF_NAME);
            let mut blobs = Vec::new();
            for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
                self.blob(blob)?;
                blobs.push(blob.digest.clone());
            }
            let digest = descriptor.digest.clone();
            self.graph.artifacts.push(Attached {
                subject: subject.to_owned(),
                node: Node {
                    descriptor,
                    bytes,
                    blobs,
                },
            });
            self.referrers(&digest, depth + 1)?;
        }
        Ok(())
    }
}
