//! Copying images with their attestations: [`push`] from an OCI layout to
//! a registry, [`pull`] from a registry into an OCI layout.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use bulwark_oci::{
    annotation, media_type, referrers_tag, to_json, AtomicFile, BlobStore, Descriptor, ImageStore,
    Index, Layout, Staging, VerifiedReader,
};

use crate::graph::{collect, Attached, Graph, Node};
use crate::upload::{read_error, upload, Outcome};
use crate::{Error, Repository};

/// Where blobs were pushed before, so that a push to another repository of
/// the same registry can mount them instead of uploading them again.
pub trait MountRecord: Sync {
    /// Repositories of `registry` that `digest` was pushed to.
    fn sources(&self, registry: &str, digest: &str) -> Vec<String>;
    /// Notes that `repository` of `registry` holds `digest`. Failing to
    /// note it is not an error.
    fn record(&self, registry: &str, digest: &str, repository: &str);
}

/// Told how a transfer goes.
pub trait Progress: Sync {
    /// The bytes the transfer may move at most.
    fn total(&self, bytes: u64);
    /// `bytes` more were moved (or found already there).
    fn advance(&self, bytes: u64);
}

/// No record and no progress.
impl MountRecord for () {
    fn sources(&self, _: &str, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn record(&self, _: &str, _: &str, _: &str) {}
}

impl Progress for () {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// What a [`push`] did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PushReport {
    /// The digest of the manifest or index pushed.
    pub digest: String,
    /// The tag set, if any.
    pub tag: Option<String>,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Blobs the registry had.
    pub present: usize,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Manifests, indexes and artifact manifests written (not already there).
    pub manifests_written: usize,
    /// Artifacts attached to the image.
    pub attestations: usize,
    /// How the referrers are listed: `api` (the registry's referrers API) or
    /// `tag` (the `sha256-<hex>` tag fallback); `none` without artifacts.
    pub referrers: &'static str,
}

/// What a [`pull`] did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PullReport {
    /// The digest of the manifest or index pulled.
    pub digest: String,
    /// The tag it has in the layout.
    pub tag: String,
    /// Blobs downloaded.
    pub blobs: usize,
    /// Bytes downloaded.
    pub bytes: u64,
    /// Manifests and indexes.
    pub manifests: usize,
    /// Artifacts attached to the image.
    pub attestations: usize,
}

/// How often a referrers tag is written before giving up on a writer that
/// keeps replacing it.
const TAG_ROUNDS: usize = 3;

/// Manifests asked about at once.
const HEAD_PARALLEL: usize = 8;

/// Runs `work` on every item with `parallel` threads; the first error wins
/// and stops the others from starting more.
fn parallel<T: Sync>(
    items: &[T],
    parallel: usize,
    work: impl Fn(&T) -> Result<(), Error> + Sync,
) -> Result<(), Error> {
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..parallel.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if let Err(err) = work(item) {
                    let mut failed = failed.lock().unwrap_or_else(|p| p.into_inner());
                    failed.get_or_insert(err);
                    next.store(items.len(), Ordering::Relaxed);
                    break;
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Pushes the image `source_tag` names in `source` (or its only image) to
/// `dest`, tagged `dest_tag` (none: by digest only), with every artifact
/// attached to it.
///
/// The order keeps a tag from ever naming an image without its
/// attestations: blobs (skipped when there, mounted when `mounts` knows
/// another repository of the registry holding them, else uploaded in
/// chunks), then the image manifests and indexes by digest, then the
/// artifact manifests, then their listing (the registry's referrers API,
/// or the `sha256-<hex>` tag merged with what other tools listed there),
/// and the tag last. Manifests are sent as their exact bytes.
pub fn push(
    source: &Layout,
    source_tag: Option<&str>,
    dest: &Repository,
    dest_tag: Option<&str>,
    mounts: &dyn MountRecord,
    progress: &dyn Progress,
) -> Result<PushReport, Error> {
    let top = source.resolve(source_tag)?;
    let graph = collect(source, top)?;
    let registry = dest.registry().host().to_owned();
    let mut report = PushReport {
        digest: graph.top.digest.clone(),
        tag: dest_tag.map(str::to_owned),
        attestations: graph.artifacts.len(),
        referrers: "none",
        ..PushReport::default()
    };

    dest.registry().connect()?;
    // A manifest the registry holds has its blobs there (a registry takes
    // no manifest whose blobs it lacks): only the blobs of the others are
    // looked at.
    let nodes: Vec<&Node> = graph
        .manifests
        .iter()
        .chain(graph.artifacts.iter().map(|a| &a.node))
        .collect();
    let held: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    parallel(&nodes, HEAD_PARALLEL, |node| {
        if dest.head_manifest(&node.descriptor.digest, true)?.is_some() {
            held.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(node.descriptor.digest.clone());
        }
        Ok(())
    })?;
    let held = held.into_inner().unwrap_or_else(|p| p.into_inner());
    let needed: HashSet<&str> = nodes
        .iter()
        .filter(|n| !held.contains(&n.descriptor.digest))
        .flat_map(|n| n.blobs.iter().map(String::as_str))
        .collect();
    let (to_send, held_blobs): (Vec<&Descriptor>, Vec<&Descriptor>) = graph
        .blobs
        .iter()
        .partition(|b| needed.contains(b.digest.as_str()));

    progress.total(graph.blobs.iter().map(|b| b.size).sum());
    progress.advance(held_blobs.iter().map(|b| b.size).sum());
    let counts = Mutex::new((0usize, 0usize, held_blobs.len(), 0u64));
    parallel(&to_send, dest.registry().options().parallel, |blob| {
        let blob: &Descriptor = blob;
        let from = mounts.sources(&registry, &blob.digest);
        let sent = std::sync::atomic::AtomicU64::new(0);
        let outcome = upload(dest, source, blob, &from, &|n| {
            sent.fetch_add(n, Ordering::Relaxed);
            progress.advance(n);
        })?;
        let sent = sent.into_inner();
        if outcome != Outcome::Uploaded {
            progress.advance(blob.size);
        }
        mounts.record(&registry, &blob.digest, dest.name());
        let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Outcome::Present => counts.2 += 1,
            Outcome::Mounted => counts.1 += 1,
            Outcome::Uploaded => counts.0 += 1,
        }
        counts.3 += sent;
        Ok(())
    })?;
    for blob in &held_blobs {
        mounts.record(&registry, &blob.digest, dest.name());
    }
    let (uploaded, mounted, present, bytes) =
        counts.into_inner().unwrap_or_else(|p| p.into_inner());
    report.uploaded = uploaded;
    report.mounted = mounted;
    report.present = present;
    report.bytes_uploaded = bytes;

    // Image manifests, children first, by digest.
    for node in &graph.manifests {
        if !held.contains(&node.descriptor.digest) {
            dest.put_manifest(
                &node.descriptor.digest,
                &node.descriptor.media_type,
                &node.bytes,
            )?;
            report.manifests_written += 1;
        }
    }

    // Artifact manifests, then their listing.
    let mut api = None;
    for attached in &graph.artifacts {
        let node = &attached.node;
        if !held.contains(&node.descriptor.digest) {
            let said_subject =
                dest.put_manifest(&node.descriptor.digest, media_type::MANIFEST, &node.bytes)?;
            report.manifests_written += 1;
            if said_subject {
                api = Some(true);
            } else {
                api.get_or_insert(false);
            }
        }
    }
    if let Some(first) = graph.artifacts.first() {
        let api = match api {
            Some(api) => {
                dest.set_referrers_api(api);
                api
            }
            None => dest.has_referrers_api(&first.subject)?,
        };
        report.referrers = if api { "api" } else { "tag" };
        if !api {
            report.manifests_written += list_in_tags(dest, &graph.artifacts)?;
        }
    }

    if let Some(tag) = dest_tag {
        let top = graph
            .manifests
            .last()
            .filter(|n| n.descriptor.digest == graph.top.digest)
            .ok_or_else(|| Error::Protocol {
                registry: registry.clone(),
                reason: "the image has no top manifest".into(),
            })?;
        let current = dest.head_manifest(tag, true)?.flatten();
        if current.as_deref() != Some(graph.top.digest.as_str()) {
            dest.put_manifest(tag, &top.descriptor.media_type, &top.bytes)?;
            report.manifests_written += 1;
        }
    }
    Ok(report)
}

/// Lists the artifacts in their subjects' `sha256-<hex>` tags, keeping the
/// entries there (other tools' too); returns the tags written.
fn list_in_tags(dest: &Repository, artifacts: &[Attached]) -> Result<usize, Error> {
    let mut by_subject: BTreeMap<&str, Vec<&Descriptor>> = BTreeMap::new();
    for attached in artifacts {
        by_subject
            .entry(attached.subject.as_str())
            .or_default()
            .push(&attached.node.descriptor);
    }
    let mut written = 0;
    for (subject, descriptors) in by_subject {
        let tag = referrers_tag(subject)
            .ok_or_else(|| bulwark_oci::Error::InvalidDigest(subject.to_owned()))?;
        // Another writer may replace the tag between our read and write:
        // read it again after writing, and merge again if ours are gone.
        let mut rounds = 0;
        loop {
            let mut index = dest.referrers_from_tag(subject, true)?;
            let before = index.manifests.len();
            for descriptor in &descriptors {
                if !index
                    .manifests
                    .iter()
                    .any(|d| d.digest == descriptor.digest)
                {
                    index.manifests.push((*descriptor).clone());
                }
            }
            if index.manifests.len() == before {
                break;
            }
            rounds += 1;
            if rounds > TAG_ROUNDS {
                return Err(Error::Protocol {
                    registry: dest.registry().host().to_owned(),
                    reason: format!(
                        "its referrers tag `{tag}` lost bulwark's entries {TAG_ROUNDS} times: another writer keeps replacing it"
                    ),
                });
            }
            index.media_type = Some(media_type::INDEX.to_owned());
            let bytes = to_json(&index, "referrers index")?;
            dest.put_manifest(&tag, media_type::INDEX, &bytes)?;
            written += 1;
        }
    }
    Ok(written)
}

/// Pulls the image `source` names, with every artifact attached to it,
/// into the OCI layout `dest` (made when absent), tagged `tag`.
///
/// Every manifest and blob is checked against its digest as it arrives;
/// everything is written to a staging layout beside `dest` and published
/// at once, so a failure (a digest mismatch, a broken connection) leaves
/// `dest` as it was. The artifacts are listed as referrers in the layout,
/// so the image verifies offline afterwards.
pub fn pull(
    source: &Repository,
    dest: &Path,
    tag: &str,
    progress: &dyn Progress,
) -> Result<PullReport, Error> {
    bulwark_oci::check_destination(dest)?;
    let top = source.resolve(None)?;
    let graph: Graph = collect(source, top)?;
    let staging = Staging::beside(dest)?;
    let layout_dir = staging.layout_dir();
    std::fs::create_dir(&layout_dir).map_err(|source| bulwark_oci::Error::Io {
        action: "create directory",
        path: layout_dir.clone(),
        source,
    })?;
    let layout = Layout::create(&layout_dir)?;

    progress.total(graph.blobs.iter().map(|b| b.size).sum());
    let bytes = std::sync::atomic::AtomicU64::new(0);
    parallel(&graph.blobs, source.registry().options().parallel, |blob| {
        download_retrying(source, &layout, blob)?;
        bytes.fetch_add(blob.size, Ordering::Relaxed);
        progress.advance(blob.size);
        Ok(())
    })?;

    let mut entries = Vec::new();
    for node in &graph.manifests {
        layout.write_blob(&node.descriptor.media_type, &node.bytes)?;
    }
    let mut by_subject: BTreeMap<&str, Vec<Descriptor>> = BTreeMap::new();
    for attached in &graph.artifacts {
        layout.write_blob(media_type::MANIFEST, &attached.node.bytes)?;
        entries.push(attached.node.descriptor.clone());
        by_subject
            .entry(attached.subject.as_str())
            .or_default()
            .push(attached.node.descriptor.clone());
    }
    for (subject, listed) in by_subject {
        let bytes = to_json(&Index::new(listed, BTreeMap::new()), "referrers index")?;
        let mut descriptor = layout.write_blob(media_type::INDEX, &bytes)?;
        let name = referrers_tag(subject)
            .ok_or_else(|| bulwark_oci::Error::InvalidDigest(subject.to_owned()))?;
        descriptor
            .annotations
            .insert(annotation::REF_NAME.to_owned(), name);
        entries.push(descriptor);
    }
    let mut top = Descriptor::new(
        &graph.top.media_type,
        graph.top.digest.clone(),
        graph.top.size,
    );
    top.annotations
        .insert(annotation::REF_NAME.to_owned(), tag.to_owned());
    entries.insert(0, top);
    let mut index = Index::new(entries, BTreeMap::new());
    index.media_type = Some(media_type::INDEX.to_owned());
    layout.write_index(&index)?;
    bulwark_oci::publish(&layout_dir, dest)?;
    drop(staging);

    Ok(PullReport {
        digest: graph.top.digest.clone(),
        tag: tag.to_owned(),
        blobs: graph.blobs.len(),
        bytes: bytes.into_inner(),
        manifests: graph.manifests.len(),
        attestations: graph.artifacts.len(),
    })
}

/// [`download`], again from the first byte when the connection breaks off
/// (never when the bytes were wrong or the blob is missing).
fn download_retrying(source: &Repository, layout: &Layout, blob: &Descriptor) -> Result<(), Error> {
    let options = source.registry().options();
    let mut retries = options.retries;
    let mut pause = options.retry_pause;
    loop {
        match download(source, layout, blob) {
            Err(Error::Oci(bulwark_oci::Error::Io { action: "read", .. })) if retries > 0 => {
                retries -= 1;
                std::thread::sleep(pause);
                pause = (pause * 2).min(options.retry_max_wait);
            }
            result => return result,
        }
    }
}

/// Downloads one blob into `layout`, checked against its digest before it
/// gets its name.
fn download(source: &Repository, layout: &Layout, blob: &Descriptor) -> Result<(), Error> {
    use std::io::{Read as _, Write as _};
    let path = layout.blob_path(&blob.digest)?;
    let mut reader = VerifiedReader::open(source, blob)?;
    let mut file = AtomicFile::create(&path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(read_error(err, &source.describe_blob(&blob.digest))),
        };
        file.write_all(&buf[..n])
            .map_err(|err| bulwark_oci::Error::Io {
                action: "write",
                path: path.clone(),
                source: err,
            })?;
    }
    file.commit()?;
    Ok(())
}
