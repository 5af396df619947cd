//! Attaching documents to an image in an OCI image layout as OCI 1.1
//! artifact manifests, and finding them again (referrers tag schema).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use bulwark_emit::{Descriptor, ANNOTATION_REF_NAME, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::bundle::{digest_hex, MEDIA_TYPE_BUNDLE_V03};
use crate::Error;

/// Artifact type of an SPDX JSON document.
pub const ARTIFACT_TYPE_SPDX: &str = "application/spdx+json";
/// Artifact type of a CycloneDX JSON document.
pub const ARTIFACT_TYPE_CYCLONEDX: &str = "application/vnd.cyclonedx+json";
/// Artifact type of a DSSE envelope (in-toto attestation).
pub const ARTIFACT_TYPE_DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// Artifact type of a Sigstore bundle (an image signature).
pub const ARTIFACT_TYPE_SIGSTORE_BUNDLE: &str = MEDIA_TYPE_BUNDLE_V03;
/// Media type of the OCI empty descriptor (`{}`), the config of artifacts.
pub const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Annotation naming what an artifact is (`sbom-spdx`, `sbom-cyclonedx`,
/// `provenance`, `signature`, …), on its manifest and its descriptors.
pub const ANNOTATION_ARTIFACT: &str = "dev.bulwark.artifact";
/// Annotation with the in-toto predicate type of a DSSE envelope artifact.
pub const ANNOTATION_PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// cosign's annotation of a bundle's content (`dsse-envelope`).
pub const ANNOTATION_BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
/// cosign's annotation of a bundle's in-toto predicate type.
pub const ANNOTATION_BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";

const EMPTY_JSON: &[u8] = b"{}";
const EMPTY_JSON_BASE64: &str = "e30=";

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
    /// `kind` ([`ANNOTATION_ARTIFACT`]).
    pub fn new(kind: &str, artifact_type: &str, document: Vec<u8>) -> Self {
        Self {
            artifact_type: artifact_type.to_owned(),
            document,
            annotations: BTreeMap::from([(ANNOTATION_ARTIFACT.to_owned(), kind.to_owned())]),
        }
    }

    /// A DSSE envelope (JSON) with an in-toto statement of `predicate_type`.
    pub fn dsse(kind: &str, envelope_json: Vec<u8>, predicate_type: &str) -> Self {
        Self::new(kind, ARTIFACT_TYPE_DSSE, envelope_json)
            .with_annotation(ANNOTATION_PREDICATE_TYPE, predicate_type)
    }

    /// A Sigstore bundle (JSON) holding a DSSE envelope with an in-toto
    /// statement of `predicate_type`, annotated the way cosign annotates
    /// bundles.
    pub fn sigstore_bundle(kind: &str, bundle_json: Vec<u8>, predicate_type: &str) -> Self {
        Self::new(kind, ARTIFACT_TYPE_SIGSTORE_BUNDLE, bundle_json)
            .with_annotation(ANNOTATION_BUNDLE_CONTENT, "dsse-envelope")
            .with_annotation(ANNOTATION_BUNDLE_PREDICATE_TYPE, predicate_type)
    }

    /// Adds an annotation.
    #[must_use]
    pub fn with_annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_owned(), value.to_owned());
        self
    }
}

/// An OCI image manifest, as an artifact manifest. Field order matches
/// `bulwark-emit`'s so the serialization is stable.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: u32,
    media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    config: Descriptor,
    layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

/// An OCI image index (`index.json`, or a referrers index).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact_type: Option<String>,
    manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl Index {
    fn new(manifests: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_INDEX.to_owned()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The referrers tag of a subject digest: `sha256-<hex>`.
pub fn referrers_tag(subject_digest: &str) -> Option<String> {
    digest_hex(subject_digest).map(|hex| format!("sha256-{hex}"))
}

/// Attaches `artifacts` to the image whose manifest (or index) is `subject`
/// in the OCI layout at `layout`.
///
/// For each artifact, writes the document as a blob and an OCI 1.1 artifact
/// manifest (`artifactType`, the empty config, one layer, `subject`), and
/// lists it in `index.json` without a tag. Then (re)writes the referrers
/// index of `subject`, tagged `sha256-<hex>`: the artifacts already listed
/// there plus the new ones. Attaching the same document again changes
/// nothing. Returns the artifact manifests' descriptors, in order.
///
/// Holds the layout's lock (the one bulwark-emit takes) throughout;
/// `index.json` is replaced atomically, once.
pub fn attach(
    layout: &Path,
    subject: &Descriptor,
    artifacts: &[Artifact],
) -> Result<Vec<Descriptor>, Error> {
    let tag = referrers_tag(&subject.digest)
        .ok_or_else(|| Error::InvalidDigest(subject.digest.clone()))?;
    let layout = Layout::open(layout)?;
    let _lock = layout.lock()?;
    let subject = Descriptor {
        media_type: subject.media_type.clone(),
        digest: subject.digest.clone(),
        size: subject.size,
        ..Descriptor::default()
    };
    let config = layout.write_blob(MEDIA_TYPE_EMPTY, EMPTY_JSON)?;
    let config = Descriptor {
        data: Some(EMPTY_JSON_BASE64.to_owned()),
        ..config
    };

    let mut attached = Vec::with_capacity(artifacts.len());
    for artifact in artifacts {
        let layer = layout.write_blob(&artifact.artifact_type, &artifact.document)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: MEDIA_TYPE_MANIFEST.to_owned(),
            artifact_type: Some(artifact.artifact_type.clone()),
            config: config.clone(),
            layers: vec![layer],
            subject: Some(subject.clone()),
            annotations: artifact.annotations.clone(),
        };
        let bytes = to_json(&manifest, "artifact manifest")?;
        let descriptor = layout.write_blob(MEDIA_TYPE_MANIFEST, &bytes)?;
        attached.push(Descriptor {
            artifact_type: Some(artifact.artifact_type.clone()),
            annotations: artifact.annotations.clone(),
            ..descriptor
        });
    }

    let mut index = layout.read_index()?;
    // The referrers listed so far, then the new ones (each digest once).
    let mut referrers = match tagged(&index, &tag) {
        Some(descriptor) => layout.read_json::<Index>(descriptor)?.manifests,
        None => Vec::new(),
    };
    for descriptor in &attached {
        if !referrers.iter().any(|d| d.digest == descriptor.digest) {
            referrers.push(descriptor.clone());
        }
        let listed = |d: &Descriptor| {
            d.digest == descriptor.digest && !d.annotations.contains_key(ANNOTATION_REF_NAME)
        };
        if !index.manifests.iter().any(listed) {
            index.manifests.push(descriptor.clone());
        }
    }
    let referrers_index = to_json(&Index::new(referrers), "referrers index")?;
    let mut referrers_descriptor = layout.write_blob(MEDIA_TYPE_INDEX, &referrers_index)?;
    referrers_descriptor
        .annotations
        .insert(ANNOTATION_REF_NAME.to_owned(), tag.clone());
    index
        .manifests
        .retain(|d| d.annotations.get(ANNOTATION_REF_NAME) != Some(&tag));
    index.manifests.push(referrers_descriptor);
    if index.media_type.is_none() {
        index.media_type = Some(MEDIA_TYPE_INDEX.to_owned());
    }
    layout.write_index(&index)?;
    Ok(attached)
}

/// Lists the artifacts attached to `subject_digest` in the OCI layout at
/// `layout`, with their documents.
///
/// Reads the referrers index tagged `sha256-<hex>` and, so that artifacts
/// whose tag was lost are still found, every artifact manifest listed in
/// `index.json`; keeps those whose `subject` is `subject_digest`. Every blob
/// read is checked against its digest and size: a changed byte is
/// [`Error::BlobMismatch`]. Returns each artifact manifest's descriptor
/// (with `artifactType` and annotations) and its document, in referrers
/// index order.
pub fn referrers(layout: &Path, subject_digest: &str) -> Result<Vec<(Descriptor, Vec<u8>)>, Error> {
    let tag = referrers_tag(subject_digest)
        .ok_or_else(|| Error::InvalidDigest(subject_digest.to_owned()))?;
    let layout = Layout::open(layout)?;
    let index = layout.read_index()?;
    let mut candidates: Vec<Descriptor> = match tagged(&index, &tag) {
        Some(descriptor) => layout.read_json::<Index>(descriptor)?.manifests,
        None => Vec::new(),
    };
    for descriptor in &index.manifests {
        if descriptor.artifact_type.is_some()
            && descriptor.media_type == MEDIA_TYPE_MANIFEST
            && !candidates.iter().any(|d| d.digest == descriptor.digest)
        {
            let mut descriptor = descriptor.clone();
            descriptor.annotations.remove(ANNOTATION_REF_NAME);
            candidates.push(descriptor);
        }
    }

    let mut found = Vec::new();
    for descriptor in candidates {
        if descriptor.media_type != MEDIA_TYPE_MANIFEST {
            continue;
        }
        let manifest: Manifest = layout.read_json(&descriptor)?;
        if manifest.subject.as_ref().map(|s| s.digest.as_str()) != Some(subject_digest) {
            continue;
        }
        let [layer] = manifest.layers.as_slice() else {
            return Err(Error::InvalidArtifact {
                digest: descriptor.digest.clone(),
                reason: format!("it has {} layers, not one", manifest.layers.len()),
            });
        };
        let document = layout.read_blob(layer)?;
        let descriptor = Descriptor {
            artifact_type: descriptor
                .artifact_type
                .or_else(|| manifest.artifact_type.clone()),
            annotations: if descriptor.annotations.is_empty() {
                manifest.annotations.clone()
            } else {
                descriptor.annotations
            },
            ..descriptor
        };
        found.push((descriptor, document));
    }
    Ok(found)
}

/// Checks that [`publish`] can write to `dest`: it is absent, an empty
/// directory, or an OCI layout (a symlink to one is written through).
pub fn check_destination(dest: &Path) -> Result<(), Error> {
    destination(dest).map(|_| ())
}

/// Publishes the OCI layout at `staging` into the layout at `dest`, so that
/// an image's tag and every artifact attached to it appear together, or
/// not at all.
///
/// `staging` is a layout only this process writes (bulwark-emit's output
/// and [`attach`]'s artifacts); it is consumed.
///
/// - `dest` absent or an empty directory: `staging` is renamed to `dest`.
/// - `dest` an OCI layout: under its lock, every blob of `staging` that
///   `dest` lacks is moved (or copied) into it, then `dest`'s `index.json`
///   is replaced once, atomically. Each tag of `staging` replaces the entry
///   of that tag in `dest`, except that a referrers tag (`sha256-<hex>`)
///   keeps the referrers `dest` listed and adds the new ones; untagged
///   artifact entries are added unless listed. Other entries are kept.
///
/// When anything fails before `index.json` is replaced, the blobs this call
/// added are removed again, so `dest` is left as it was.
pub fn publish(staging: &Path, dest: &Path) -> Result<(), Error> {
    let source = Layout::open(staging)?;
    if let Destination::New = destination(dest)? {
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|source| Error::io("create directory", parent, source))?;
        }
        match fs::rename(staging, dest) {
            Ok(()) => return Ok(()),
            // Another writer created the layout meanwhile: merge into it.
            Err(_) if matches!(destination(dest), Ok(Destination::Existing)) => {}
            Err(source) => return Err(Error::io("rename a new layout to", dest, source)),
        }
    }
    let target = Layout::open(dest)?;
    let _lock = target.lock()?;
    let mut added = Vec::new();
    let result = merge_into(&source, &target, &mut added);
    if result.is_err() {
        for path in &added {
            let _ = fs::remove_file(path);
        }
    }
    result
}

enum Destination {
    New,
    Existing,
}

fn destination(dest: &Path) -> Result<Destination, Error> {
    let link = match fs::symlink_metadata(dest) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Destination::New),
        Err(source) => return Err(Error::io("read", dest, source)),
        Ok(meta) => meta,
    };
    if dest.join("oci-layout").is_file() {
        return Ok(Destination::Existing);
    }
    if link.is_dir() {
        let mut entries =
            fs::read_dir(dest).map_err(|source| Error::io("read directory", dest, source))?;
        if entries.next().is_none() {
            return Ok(Destination::New);
        }
    }
    Err(Error::NotALayout(dest.to_owned()))
}

/// Whether `tag` has the referrers tag schema's form, `sha256-<64 hex>`.
fn is_referrers_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The locked part of [`publish`] into an existing layout; records every
/// blob file it creates in `added`.
fn merge_into(source: &Layout, dest: &Layout, added: &mut Vec<PathBuf>) -> Result<(), Error> {
    fs::create_dir_all(&dest.blobs)
        .map_err(|source| Error::io("create directory", &dest.blobs, source))?;
    let mut names = Vec::new();
    for entry in fs::read_dir(&source.blobs)
        .map_err(|err| Error::io("read directory", &source.blobs, err))?
    {
        let entry = entry.map_err(|err| Error::io("read directory", &source.blobs, err))?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        let from = source.blobs.join(&name);
        let to = dest.blobs.join(&name);
        let size = fs::metadata(&from)
            .map_err(|err| Error::io("read", &from, err))?
            .len();
        if fs::metadata(&to).is_ok_and(|m| m.is_file() && m.len() == size) {
            continue;
        }
        let existed = fs::symlink_metadata(&to).is_ok();
        move_blob(&from, &to)?;
        if !existed {
            added.push(to);
        }
    }

    let staged = source.read_index()?;
    let mut index = dest.read_index()?;
    // Referrers indexes that merging replaces; removed once the new
    // index.json is written, unless it still lists them.
    let mut replaced: Vec<String> = Vec::new();
    for descriptor in staged.manifests {
        let Some(tag) = descriptor.annotations.get(ANNOTATION_REF_NAME).cloned() else {
            let listed = |d: &Descriptor| {
                d.digest == descriptor.digest && !d.annotations.contains_key(ANNOTATION_REF_NAME)
            };
            if !index.manifests.iter().any(listed) {
                index.manifests.push(descriptor);
            }
            continue;
        };
        let entry = if is_referrers_tag(&tag) && descriptor.media_type == MEDIA_TYPE_INDEX {
            let mut referrers = match tagged(&index, &tag) {
                Some(existing) => {
                    replaced.push(existing.digest.clone());
                    dest.read_json::<Index>(existing)?.manifests
                }
                None => Vec::new(),
            };
            replaced.push(descriptor.digest.clone());
            for d in dest.read_json::<Index>(&descriptor)?.manifests {
                if !referrers.iter().any(|r| r.digest == d.digest) {
                    referrers.push(d);
                }
            }
            let bytes = to_json(&Index::new(referrers), "referrers index")?;
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
            let path = dest.blob_path(&digest)?;
            let existed = fs::symlink_metadata(&path).is_ok();
            let mut merged = dest.write_blob(MEDIA_TYPE_INDEX, &bytes)?;
            if !existed {
                added.push(path);
            }
            merged
                .annotations
                .insert(ANNOTATION_REF_NAME.to_owned(), tag.clone());
            merged
        } else {
            descriptor
        };
        index
            .manifests
            .retain(|d| d.annotations.get(ANNOTATION_REF_NAME) != Some(&tag));
        index.manifests.push(entry);
    }
    if index.media_type.is_none() {
        index.media_type = Some(MEDIA_TYPE_INDEX.to_owned());
    }
    dest.write_index(&index)?;
    // Only index.json points at a referrers index: one it no longer lists
    // is garbage. Best effort: the layout is already complete.
    for digest in replaced {
        if !index.manifests.iter().any(|d| d.digest == digest) {
            if let Ok(path) = dest.blob_path(&digest) {
                let _ = fs::remove_file(path);
            }
        }
    }
    Ok(())
}

/// Moves a blob file by renaming it, or by copying it through a temporary
/// file when the rename fails (another file system).
fn move_blob(from: &Path, to: &Path) -> Result<(), Error> {
    let Err(rename_error) = fs::rename(from, to) else {
        return Ok(());
    };
    let copy = || -> io::Result<()> {
        let dir = to.parent().unwrap_or(Path::new("."));
        let mut file = tempfile::Builder::new()
            .prefix(".tmp-bulwark-")
            .tempfile_in(dir)?;
        io::copy(&mut File::open(from)?, file.as_file_mut())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))?;
        }
        file.persist(to).map_err(|err| err.error)?;
        Ok(())
    };
    copy().map_err(|_| Error::io("move a blob to", to, rename_error))
}

fn tagged<'a>(index: &'a Index, tag: &str) -> Option<&'a Descriptor> {
    index
        .manifests
        .iter()
        .find(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(tag))
}

fn to_json<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|source| Error::Serialize { what, source })
}

/// An existing OCI layout directory.
struct Layout {
    root: PathBuf,
    blobs: PathBuf,
}

impl Layout {
    fn open(root: &Path) -> Result<Self, Error> {
        if !root.join("oci-layout").is_file() {
            return Err(Error::NotALayout(root.to_owned()));
        }
        Ok(Self {
            root: root.to_owned(),
            blobs: root.join("blobs").join("sha256"),
        })
    }

    /// Takes the exclusive `flock` on `oci-layout` that bulwark-emit takes
    /// while it updates `index.json`.
    fn lock(&self) -> Result<File, Error> {
        let path = self.root.join("oci-layout");
        let file = File::open(&path).map_err(|source| Error::io("open", &path, source))?;
        fs4::FileExt::lock(&file).map_err(|source| Error::io("lock", &path, source))?;
        Ok(file)
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, Error> {
        let hex = digest_hex(digest).ok_or_else(|| Error::InvalidDigest(digest.to_owned()))?;
        Ok(self.blobs.join(hex))
    }

    /// Stores `bytes` (idempotent: an existing blob of the right size is
    /// kept) and returns their descriptor.
    fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, Error> {
        let descriptor = Descriptor {
            media_type: media_type.to_owned(),
            digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
            size: bytes.len() as u64,
            ..Descriptor::default()
        };
        let path = self.blob_path(&descriptor.digest)?;
        let exists = fs::metadata(&path).is_ok_and(|m| m.len() == descriptor.size);
        if !exists {
            fs::create_dir_all(&self.blobs)
                .map_err(|source| Error::io("create directory", &self.blobs, source))?;
            write_atomic(&path, bytes)?;
        }
        Ok(descriptor)
    }

    /// Reads a blob and checks its size and digest.
    fn read_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>, Error> {
        let path = self.blob_path(&descriptor.digest)?;
        let bytes = fs::read(&path).map_err(|source| Error::io("read", &path, source))?;
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        if actual != descriptor.digest || bytes.len() as u64 != descriptor.size {
            return Err(Error::BlobMismatch {
                path,
                expected: descriptor.digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        descriptor: &Descriptor,
    ) -> Result<T, Error> {
        let bytes = self.read_blob(descriptor)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::InvalidJson {
            path: self.blob_path(&descriptor.digest).unwrap_or_default(),
            source,
        })
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn read_index(&self) -> Result<Index, Error> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| Error::InvalidJson { path, source })
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Index::new(Vec::new())),
            Err(source) => Err(Error::io("read", &path, source)),
        }
    }

    fn write_index(&self, index: &Index) -> Result<(), Error> {
        write_atomic(&self.index_path(), &to_json(index, "index.json")?)
    }
}

/// Writes `dest` through a temporary file in its directory and a rename,
/// with mode 0644.
fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".tmp-bulwark-")
        .tempfile_in(dir)
        .map_err(|source| Error::io("create a temporary file in", dir, source))?;
    file.write_all(bytes)
        .map_err(|source| Error::io("write", file.path(), source))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(|source| Error::io("set permissions of", file.path(), source))?;
    }
    file.persist(dest)
        .map_err(|err| Error::io("rename a temporary file to", dest, err.error))?;
    Ok(())
}
