//! Merging image layers into one filesystem index, without extracting them.
//!
//! Every layer is streamed once (in parallel), its blob's digest checked,
//! and its tar headers recorded. The layers are then applied in order with
//! OCI whiteout semantics into a [`BTreeMap`] from path to [`Node`]. Small
//! files of the trees bulwark reads for SBOMs and scans (the dpkg database,
//! `os-release`, `usr/share/doc/*/copyright`) are kept in memory; any other
//! file is read again from its layer on demand.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use bulwark_oci::HashingReader;

use crate::blobs::{Check, Decoder, LayerRef, LayerSource};
use crate::fs::{resolve, Lookup, Tree};
use crate::{Error, FileKind as Kind, FileMeta, FileSource, LayerCache};

/// Part of every [`LayerCache`] key; bump it whenever [`LayerScan`] or what
/// [`read_tar`] records changes.
const CACHE_FORMAT: &str = "bulwark-layer-scan-v1";

/// Files at most this large, in the trees [`is_interesting`] names, are kept
/// in memory.
const INLINE_MAX: u64 = 1 << 20;

/// The most entries (files, directories, links, whiteouts) an image's
/// layers may hold together: a large real image has a few hundred
/// thousand. Each costs memory while reading, so a layer of millions of
/// tiny entries (which compress to almost nothing) is refused.
pub const MAX_ENTRIES: usize = 2_000_000;

/// The buffer between a layer's decompressor and its tar reader.
const PLAIN_BUFFER: usize = 1 << 17;

/// Where a regular file's bytes are.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Data {
    /// Kept in memory.
    Inline(Arc<[u8]>),
    /// At `offset` of layer `layer`'s uncompressed tar stream.
    Layer { layer: usize, offset: u64 },
}

/// One entry of the merged filesystem.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    /// The symlink target, for symlinks.
    pub(crate) link: Option<String>,
    pub(crate) size: u64,
    /// The content, for regular files.
    pub(crate) data: Option<Data>,
}

/// What one layer's tar holds, in order.
#[derive(Default, Serialize, Deserialize)]
struct LayerScan {
    /// Entries, with the hardlink target for hardlinks.
    entries: Vec<(String, Node, Option<String>)>,
    /// Paths that `.wh.NAME` entries delete.
    whiteouts: Vec<String>,
    /// Directories that `.wh..wh..opq` entries make opaque.
    opaque: Vec<String>,
}

/// Lexically normalizes a tar path to a relative path without `.`
/// components or slashes at either end; `None` for the root itself or a
/// path that leaves the root.
pub(crate) fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Whether `path` is in a tree whose small files are kept in memory.
fn is_interesting(path: &str) -> bool {
    if path.starts_with("var/lib/dpkg/") {
        return true;
    }
    if path == "etc/os-release" || path == "usr/lib/os-release" {
        return true;
    }
    path.strip_prefix("usr/share/doc/")
        .and_then(|rest| rest.strip_suffix("/copyright"))
        .is_some_and(|package| !package.contains('/'))
}

/// The merged filesystem of an image's layers.
pub(crate) struct LayerFs {
    blobs: Arc<dyn LayerSource>,
    layers: Vec<LayerRef>,
    nodes: BTreeMap<String, Node>,
}

impl LayerFs {
    /// Streams every layer (in parallel, checking digests) and merges them.
    pub(crate) fn load(
        blobs: Arc<dyn LayerSource>,
        layers: Vec<LayerRef>,
        cache: Option<&dyn LayerCache>,
    ) -> Result<Self, Error> {
        let scans = scan_all(blobs.as_ref(), &layers, cache)?;
        let entries: usize = scans
            .iter()
            .map(|s| s.entries.len() + s.whiteouts.len() + s.opaque.len())
            .sum();
        if entries > MAX_ENTRIES {
            return Err(Error::Blob {
                blob: layers
                    .first()
                    .map_or_else(String::new, |l| blobs.describe_layer(l)),
                source: io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the image's layers hold more than {MAX_ENTRIES} entries"),
                ),
            });
        }
        let mut nodes = BTreeMap::new();
        for scan in scans {
            apply(&mut nodes, scan);
        }
        Ok(Self {
            blobs,
            layers,
            nodes,
        })
    }

    fn lookup(&self, path: &str) -> Lookup {
        if path.is_empty() {
            return Lookup::Dir;
        }
        match self.nodes.get(path) {
            Some(node) => match node.kind {
                Kind::Dir => Lookup::Dir,
                Kind::File => Lookup::File,
                Kind::Symlink => Lookup::Symlink(node.link.clone().unwrap_or_default()),
                _ => Lookup::Other,
            },
            // A directory that only appears as the parent of other entries.
            None if self.children_of(path).next().is_some() => Lookup::Dir,
            None => Lookup::Missing,
        }
    }

    /// Entries below directory `dir` ("" for the root), recursively.
    fn children_of<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
    }

    fn node(&self, path: &str) -> io::Result<Option<&Node>> {
        let Some((resolved, _)) = resolve(path, true, |p| Ok(self.lookup(p)))? else {
            return Ok(None);
        };
        Ok(self.nodes.get(&resolved))
    }

    /// A reader of `size` bytes at `offset` of layer `layer`'s uncompressed
    /// stream.
    fn open_at(&self, layer: usize, offset: u64, size: u64) -> io::Result<Box<dyn Read + '_>> {
        let mut stream = self.stream(layer)?;
        io::copy(&mut (&mut stream).take(offset), &mut io::sink())?;
        Ok(Box::new(Exact::new(
            stream.take(size),
            size,
            self.describe(layer),
        )))
    }

    fn stream(&self, layer: usize) -> io::Result<Decoder<BufReader<Box<dyn Read + Send + '_>>>> {
        let raw = self
            .blobs
            .open_layer(&self.layers[layer])
            .map_err(io::Error::other)?;
        Decoder::new(BufReader::with_capacity(1 << 17, raw))
    }

    fn describe(&self, layer: usize) -> String {
        self.blobs.describe_layer(&self.layers[layer])
    }
}

impl Tree for LayerFs {
    fn open_file(&self, path: &str) -> io::Result<Option<(Box<dyn Read + '_>, u64)>> {
        let Some(node) = self.node(path)? else {
            return Ok(None);
        };
        if node.kind != Kind::File {
            return Ok(None);
        }
        let reader: Box<dyn Read + '_> = match &node.data {
            None => Box::new(io::empty()),
            Some(Data::Inline(bytes)) => Box::new(io::Cursor::new(Arc::clone(bytes))),
            Some(Data::Layer { layer, offset }) => self.open_at(*layer, *offset, node.size)?,
        };
        Ok(Some((reader, node.size)))
    }

    fn read_dir(&self, path: &str) -> io::Result<Option<Vec<String>>> {
        let Some((dir, kind)) = resolve(path, true, |p| Ok(self.lookup(p)))? else {
            return Ok(None);
        };
        if kind != Lookup::Dir {
            return Ok(None);
        }
        let skip = if dir.is_empty() { 0 } else { dir.len() + 1 };
        let mut names: Vec<String> = Vec::new();
        for (key, _) in self.children_of(&dir) {
            let name = key[skip..].split('/').next().unwrap_or_default();
            if names.last().map(String::as_str) != Some(name) {
                names.push(name.to_owned());
            }
        }
        names.dedup();
        Ok(Some(names))
    }
}

impl FileSource for LayerFs {
    fn open(&self, path: &str) -> io::Result<Option<Box<dyn Read + '_>>> {
        Ok(self.open_file(path)?.map(|(reader, _)| reader))
    }

    fn read(&self, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
        crate::fs::read_limited(self, path, limit)
    }

    fn metadata(&self, path: &str) -> io::Result<Option<FileMeta>> {
        let Some((resolved, kind)) = resolve(path, false, |p| Ok(self.lookup(p)))? else {
            return Ok(None);
        };
        Ok(Some(match self.nodes.get(&resolved) {
            Some(node) => FileMeta {
                kind: node.kind,
                mode: node.mode,
                uid: node.uid,
                gid: node.gid,
                size: node.size,
                link: node.link.clone(),
            },
            // The root, or a directory only implied by its children.
            None if kind == Lookup::Dir => FileMeta {
                kind: Kind::Dir,
                mode: 0o755,
                uid: 0,
                gid: 0,
                size: 0,
                link: None,
            },
            None => return Ok(None),
        }))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self
            .nodes
            .iter()
            .filter(|(_, n)| n.kind == Kind::File)
            .map(|(k, _)| format!("/{k}"))
            .collect())
    }

    fn for_each_file(
        &self,
        f: &mut dyn FnMut(&str, &mut dyn Read) -> io::Result<()>,
    ) -> io::Result<()> {
        // Files kept in memory or empty first, then each layer streamed once.
        let mut by_layer: BTreeMap<usize, Offsets<'_>> = BTreeMap::new();
        for (path, node) in &self.nodes {
            if node.kind != Kind::File {
                continue;
            }
            match &node.data {
                None => f(&format!("/{path}"), &mut io::empty())?,
                Some(Data::Inline(bytes)) => f(&format!("/{path}"), &mut &bytes[..])?,
                Some(Data::Layer { layer, offset }) => by_layer
                    .entry(*layer)
                    .or_default()
                    .entry(*offset)
                    .or_default()
                    .push((path, node.size)),
            }
        }
        for (layer, files) in by_layer {
            let mut stream = self.stream(layer)?;
            let mut pos = 0u64;
            for (offset, paths) in files {
                let size = paths.first().map_or(0, |p| p.1);
                io::copy(&mut (&mut stream).take(offset - pos), &mut io::sink())?;
                pos = offset + size;
                let describe = || self.describe(layer);
                match paths.as_slice() {
                    // One path: streamed, whatever its size.
                    [(path, _)] => {
                        let mut content = Exact::new((&mut stream).take(size), size, describe());
                        f(&format!("/{path}"), &mut content)?;
                        io::copy(&mut content, &mut io::sink())?;
                    }
                    // Hard links to one content: held once, given to each.
                    _ => {
                        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                        Exact::new((&mut stream).take(size), size, describe())
                            .read_to_end(&mut buf)?;
                        for (path, _) in paths {
                            f(&format!("/{path}"), &mut &buf[..])?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A reader of a file's content in a layer stream that fails, instead of
/// ending, when the stream ends before the size its tar header gave.
struct Exact<R> {
    inner: R,
    left: u64,
    layer: String,
}

impl<R: Read> Exact<R> {
    fn new(inner: R, size: u64, layer: String) -> Self {
        Self {
            inner,
            left: size,
            layer,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("layer `{}` ends early", self.layer),
            ));
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

/// Files of one layer by offset: (path, size).
type Offsets<'a> = BTreeMap<u64, Vec<(&'a str, u64)>>;

/// Scans every layer, on as many threads as there are cores, largest
/// first, so that no thread is left with a big layer at the end.
fn scan_all(
    blobs: &dyn LayerSource,
    layers: &[LayerRef],
    cache: Option<&dyn LayerCache>,
) -> Result<Vec<LayerScan>, Error> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(layers.len())
        .max(1);
    let results: Vec<Mutex<Option<Result<LayerScan, Error>>>> =
        layers.iter().map(|_| Mutex::new(None)).collect();
    let mut order: Vec<usize> = (0..layers.len()).collect();
    order.sort_by_cached_key(|&i| std::cmp::Reverse(blobs.layer_size(&layers[i]).unwrap_or(0)));
    let next = AtomicUsize::new(0);
    let work = || {
        while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            let layer = &layers[i];
            let result = match cache {
                Some(cache) => scan_layer_cached(blobs, layer, i, cache),
                None => scan_layer(blobs, layer, i),
            };
            if let Ok(mut slot) = results[i].lock() {
                *slot = Some(result);
            }
        }
    };
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    results
        .into_iter()
        .enumerate()
        .map(|(i, slot)| {
            slot.into_inner().ok().flatten().unwrap_or_else(|| {
                Err(Error::Blob {
                    blob: blobs.describe_layer(&layers[i]),
                    source: io::Error::other("layer was not read"),
                })
            })
        })
        .collect()
}

/// Streams one layer, recording its entries and checking its digest: a
/// stored blob's digest and size as it is read (see
/// [`LayerSource::open_layer`]), an uncompressed tar's digest here.
fn scan_layer(blobs: &dyn LayerSource, layer: &LayerRef, index: usize) -> Result<LayerScan, Error> {
    let describe = || blobs.describe_layer(layer);
    let uncompressed = match &layer.check {
        Check::Stored(_) => None,
        Check::Uncompressed(hex) => Some(format!("sha256:{hex}")),
    };
    let raw = BufReader::with_capacity(1 << 17, blobs.open_layer(layer)?);
    let result = (|| {
        let mut decoder = Decoder::new(raw)?;
        // Decompressing into a large buffer keeps the inflater on its fast
        // path; tar's 512-byte header reads are then copies.
        let mut plain = BufReader::with_capacity(
            PLAIN_BUFFER,
            HashingReader::new(&mut decoder, uncompressed.is_some()),
        );
        let scan = read_tar(&mut plain, index)?;
        // Read to the end, so that trailers are checked and hashed.
        io::copy(&mut plain, &mut io::sink())?;
        let plain_digest = plain.into_inner().finish();
        // And the stored blob to its end, where its digest is checked.
        io::copy(&mut decoder.into_inner(), &mut io::sink())?;
        Ok::<_, io::Error>((scan, plain_digest))
    })();
    let (scan, plain_digest) = match result {
        Ok(r) => r,
        Err(source) => {
            if let Some(err) = bulwark_oci::Error::from_io(&source) {
                if err.is_mismatch() {
                    return Err(into_inner(source));
                }
            }
            // A damaged blob usually fails to decompress before its digest
            // can be compared; say that it does not match when it does not.
            if let Check::Stored(_) = &layer.check {
                verify_blob(blobs, layer)?;
            }
            return Err(Error::Blob {
                blob: describe(),
                source,
            });
        }
    };
    if let (Some(expected), Some(actual)) = (uncompressed, plain_digest) {
        if expected != actual {
            return Err(bulwark_oci::Error::DigestMismatch {
                blob: describe(),
                expected,
                actual,
            }
            .into());
        }
    }
    Ok(scan)
}

/// The [`bulwark_oci::Error`] inside an I/O error of a verified reader.
fn into_inner(err: io::Error) -> Error {
    let text = err.to_string();
    match err
        .into_inner()
        .map(|inner| inner.downcast::<bulwark_oci::Error>())
    {
        Some(Ok(inner)) => Error::Oci(*inner),
        _ => Error::Blob {
            blob: text,
            source: io::Error::other("unreadable layer"),
        },
    }
}

/// Reads a stored layer blob to its end through its verified reader,
/// without decompressing it: an error when its size or digest is wrong.
fn verify_blob(blobs: &dyn LayerSource, layer: &LayerRef) -> Result<(), Error> {
    let mut reader = blobs.open_layer(layer)?;
    match io::copy(&mut reader, &mut io::sink()) {
        Ok(_) => Ok(()),
        Err(err) if bulwark_oci::Error::from_io(&err).is_some() => Err(into_inner(err)),
        Err(source) => Err(Error::Blob {
            blob: blobs.describe_layer(layer),
            source,
        }),
    }
}

/// [`scan_layer`] through `cache`: a layer read before is only hashed (to
/// check it still matches its digest), not decompressed and parsed again.
fn scan_layer_cached(
    blobs: &dyn LayerSource,
    layer: &LayerRef,
    index: usize,
    cache: &dyn LayerCache,
) -> Result<LayerScan, Error> {
    let Check::Stored(descriptor) = &layer.check else {
        return scan_layer(blobs, layer, index);
    };
    let key = format!("{CACHE_FORMAT}\n{}", descriptor.digest);
    let cached = cache
        .get(&key)
        .and_then(|bytes| postcard::from_bytes::<LayerScan>(&bytes).ok());
    let Some(mut scan) = cached else {
        let scan = scan_layer(blobs, layer, index)?;
        if let Ok(bytes) = postcard::to_stdvec(&scan) {
            cache.put(&key, &bytes);
        }
        return Ok(scan);
    };
    if !cache.known_good(&descriptor.digest) {
        verify_blob(blobs, layer)?;
    }
    // Offsets into the layer's stream were recorded under the index the
    // layer had in the image it was first read from.
    for (_, node, _) in &mut scan.entries {
        if let Some(Data::Layer { layer, .. }) = &mut node.data {
            *layer = index;
        }
    }
    Ok(scan)
}

/// Reads one layer's tar headers (and small interesting files).
fn read_tar(reader: &mut dyn Read, layer: usize) -> io::Result<LayerScan> {
    let mut scan = LayerScan::default();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        if scan.entries.len() + scan.whiteouts.len() + scan.opaque.len() >= MAX_ENTRIES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the layer holds more than {MAX_ENTRIES} entries"),
            ));
        }
        let mut entry = entry?;
        let raw_path = entry.path()?.to_string_lossy().into_owned();
        let Some(path) = normalize(&raw_path) else {
            if raw_path.split('/').any(|p| p == "..") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("entry `{raw_path}` is outside the root"),
                ));
            }
            continue; // the root directory itself
        };
        let (dir, base) = match path.rsplit_once('/') {
            Some((dir, base)) => (dir, base),
            None => ("", path.as_str()),
        };
        if let Some(name) = base.strip_prefix(".wh.") {
            if name == ".wh..opq" {
                scan.opaque.push(dir.to_owned());
            } else if !name.starts_with(".wh.") && !name.is_empty() {
                scan.whiteouts.push(if dir.is_empty() {
                    name.to_owned()
                } else {
                    format!("{dir}/{name}")
                });
            }
            continue;
        }
        let header = entry.header();
        let entry_type = header.entry_type();
        let kind = match entry_type {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Link => {
                Kind::File
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Char => Kind::CharDevice,
            tar::EntryType::Block => Kind::BlockDevice,
            tar::EntryType::Fifo => Kind::Fifo,
            _ => continue,
        };
        let mode = header.mode()?;
        let uid = header.uid()?;
        let gid = header.gid()?;
        let link_name = match entry_type {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                entry.link_name()?.map(|l| l.to_string_lossy().into_owned())
            }
            _ => None,
        };
        if entry_type == tar::EntryType::Link {
            let target = link_name.as_deref().and_then(normalize).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("hard link `{raw_path}` has no valid target"),
                )
            })?;
            let node = Node {
                kind,
                mode,
                uid,
                gid,
                link: None,
                size: 0,
                data: None,
            };
            scan.entries.push((path, node, Some(target)));
            continue;
        }
        let size = if kind == Kind::File { entry.size() } else { 0 };
        let data = if kind != Kind::File || size == 0 {
            None
        } else if size <= INLINE_MAX && is_interesting(&path) {
            let mut bytes = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut bytes)?;
            Some(Data::Inline(bytes.into()))
        } else {
            Some(Data::Layer {
                layer,
                offset: entry.raw_file_position(),
            })
        };
        let node = Node {
            kind,
            mode,
            uid,
            gid,
            link: if kind == Kind::Symlink {
                link_name
            } else {
                None
            },
            size,
            data,
        };
        scan.entries.push((path, node, None));
    }
    Ok(scan)
}

/// Removes `path` and everything below it.
fn remove_tree(nodes: &mut BTreeMap<String, Node>, path: &str) {
    nodes.remove(path);
    remove_below(nodes, path);
}

/// Removes everything below directory `dir` ("" for the root).
fn remove_below(nodes: &mut BTreeMap<String, Node>, dir: &str) {
    if dir.is_empty() {
        nodes.clear();
        return;
    }
    let prefix = format!("{dir}/");
    let doomed: Vec<String> = nodes
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for key in doomed {
        nodes.remove(&key);
    }
}

/// Applies one layer onto the lower layers' merged tree.
fn apply(nodes: &mut BTreeMap<String, Node>, scan: LayerScan) {
    // Whiteouts only hide what lower layers hold, so they go first.
    for dir in &scan.opaque {
        remove_below(nodes, dir);
    }
    for path in &scan.whiteouts {
        remove_tree(nodes, path);
    }
    for (path, mut node, hardlink) in scan.entries {
        if let Some(target) = hardlink {
            match nodes.get(&target) {
                Some(t) if t.kind == Kind::File => {
                    node.size = t.size;
                    node.data = t.data.clone();
                }
                // A link to nothing, or to a non-file: nothing to read.
                _ => continue,
            }
        }
        if node.kind != Kind::Dir {
            remove_below(nodes, &path);
        }
        nodes.insert(path, node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("./etc/passwd"), Some("etc/passwd".into()));
        assert_eq!(normalize("/usr//lib/"), Some("usr/lib".into()));
        assert_eq!(normalize("a/../b"), Some("b".into()));
        assert_eq!(normalize("./"), None);
        assert_eq!(normalize("../etc"), None);
    }

    #[test]
    fn interesting_paths() {
        assert!(is_interesting("var/lib/dpkg/status"));
        assert!(is_interesting("var/lib/dpkg/status.d/libc6.md5sums"));
        assert!(is_interesting("etc/os-release"));
        assert!(is_interesting("usr/share/doc/libc6/copyright"));
        assert!(!is_interesting("usr/share/doc/libc6/x/copyright"));
        assert!(!is_interesting("usr/bin/bash"));
    }
}
