//! Where layers and documents are read from: an OCI image store (a layout,
//! a tarball's OCI members), or the named members of a `docker save`
//! tarball; and decompression.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulwark_oci::{BlobStore, Descriptor, ImageStore, Index, VerifiedReader};

use crate::Error;

/// The largest JSON document of a classic docker-archive read into memory.
const MAX_JSON: u64 = bulwark_oci::MAX_DOCUMENT;

/// How a layer's digest is checked.
#[derive(Clone, Debug)]
pub(crate) enum Check {
    /// The blob as stored: its descriptor's digest and size (OCI).
    Stored(Box<Descriptor>),
    /// The uncompressed tar's sha256 hex (a classic docker-archive's diff
    /// IDs, whose layers are named members, not blobs).
    Uncompressed(String),
}

/// One layer of an image, and how to check it.
#[derive(Clone, Debug)]
pub(crate) struct LayerRef {
    /// Its name where it is stored: the digest in an OCI store, the member
    /// name in a classic docker-archive.
    pub(crate) name: String,
    /// The digest to check it against.
    pub(crate) check: Check,
}

/// What layers are read from.
pub(crate) trait LayerSource: Send + Sync {
    /// Opens a layer. A [`Check::Stored`] layer is read through a
    /// [`VerifiedReader`] (its size enforced while reading, its digest
    /// checked at the end); a [`Check::Uncompressed`] one as stored.
    fn open_layer(&self, layer: &LayerRef) -> Result<Box<dyn Read + Send + '_>, Error>;
    /// The stored size, for scheduling the largest first.
    fn layer_size(&self, layer: &LayerRef) -> Option<u64>;
    /// How to name it in messages.
    fn describe_layer(&self, layer: &LayerRef) -> String;
}

fn open_stored<'a>(
    store: &'a dyn BlobStore,
    layer: &LayerRef,
) -> Result<Box<dyn Read + Send + 'a>, Error> {
    match &layer.check {
        Check::Stored(descriptor) => Ok(Box::new(VerifiedReader::open(store, descriptor)?)),
        Check::Uncompressed(_) => Ok(store.open_blob(&layer.name)?),
    }
}

/// Layers of an OCI image store, by digest.
pub(crate) struct StoreLayers(pub(crate) Arc<dyn ImageStore>);

impl LayerSource for StoreLayers {
    fn open_layer(&self, layer: &LayerRef) -> Result<Box<dyn Read + Send + '_>, Error> {
        open_stored(self.0.as_ref(), layer)
    }

    fn layer_size(&self, layer: &LayerRef) -> Option<u64> {
        self.0.blob_size(&layer.name)
    }

    fn describe_layer(&self, layer: &LayerRef) -> String {
        self.0.describe_blob(&layer.name)
    }
}

/// The members of an uncompressed tarball, read in place: a `docker save`
/// archive, in the classic form (members named by `manifest.json`) or
/// Docker 25's OCI form (an OCI layout's files).
pub(crate) struct ArchiveBlobs {
    file: PathBuf,
    /// Member path → (offset of its data, size).
    members: BTreeMap<String, (u64, u64)>,
}

impl ArchiveBlobs {
    /// Indexes the regular-file members of the tarball at `file` (symlinked
    /// members, which `docker save` writes for shared layers, are resolved).
    pub(crate) fn open_archive(file: &Path) -> Result<Self, Error> {
        let io_err = |source| Error::Io {
            path: file.to_owned(),
            source,
        };
        let handle = bulwark_oci::open_regular(file)?;
        let mut archive = tar::Archive::new(BufReader::new(handle));
        let mut members = BTreeMap::new();
        let mut links = Vec::new();
        for entry in archive.entries_with_seek().map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let path = entry.path().map_err(io_err)?;
            let Some(name) = crate::layers::normalize(&path.to_string_lossy()) else {
                continue;
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    members.insert(name, (entry.raw_file_position(), entry.size()));
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Ok(Some(target)) = entry.link_name() {
                        let target = target.to_string_lossy().into_owned();
                        let joined = if entry.header().entry_type() == tar::EntryType::Symlink {
                            match name.rsplit_once('/') {
                                Some((dir, _)) => format!("{dir}/{target}"),
                                None => target,
                            }
                        } else {
                            target
                        };
                        if let Some(target) = crate::layers::normalize(&joined) {
                            links.push((name, target));
                        }
                    }
                }
                _ => {}
            }
        }
        for (name, target) in links {
            if let Some(&location) = members.get(&target) {
                members.insert(name, location);
            }
        }
        Ok(Self {
            file: file.to_owned(),
            members,
        })
    }

    /// Whether the archive has the member `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    /// Opens the member `name`.
    pub(crate) fn open_member(
        &self,
        name: &str,
    ) -> Result<Box<dyn Read + Send + '_>, bulwark_oci::Error> {
        let &(offset, size) =
            self.members
                .get(name)
                .ok_or_else(|| bulwark_oci::Error::BlobMissing {
                    digest: name
                        .strip_prefix("blobs/sha256/")
                        .map_or_else(|| name.to_owned(), |hex| format!("sha256:{hex}")),
                    location: self.file.display().to_string(),
                })?;
        let io_err = |source| bulwark_oci::Error::Io {
            action: "read",
            path: self.file.clone(),
            source,
        };
        let mut file = File::open(&self.file).map_err(io_err)?;
        file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        Ok(Box::new(file.take(size)))
    }

    /// Reads the whole member `name` (a small JSON document), checking its
    /// sha256 when `expected_hex` is given.
    pub(crate) fn read_member(
        &self,
        name: &str,
        expected_hex: Option<&str>,
    ) -> Result<Vec<u8>, bulwark_oci::Error> {
        let mut bytes = Vec::new();
        self.open_member(name)?
            .take(MAX_JSON + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| bulwark_oci::Error::Io {
                action: "read",
                path: self.describe_member(name).into(),
                source,
            })?;
        if bytes.len() as u64 > MAX_JSON {
            return Err(bulwark_oci::Error::TooLarge {
                blob: self.describe_member(name),
                limit: MAX_JSON,
            });
        }
        if let Some(expected) = expected_hex {
            let actual = bulwark_oci::sha256_digest(&bytes);
            if actual.strip_prefix("sha256:") != Some(expected) {
                return Err(bulwark_oci::Error::DigestMismatch {
                    blob: self.describe_member(name),
                    expected: format!("sha256:{expected}"),
                    actual,
                });
            }
        }
        Ok(bytes)
    }

    /// [`ArchiveBlobs::read_member`], parsed as JSON.
    pub(crate) fn read_member_json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        expected_hex: Option<&str>,
    ) -> Result<T, bulwark_oci::Error> {
        let bytes = self.read_member(name, expected_hex)?;
        serde_json::from_slice(&bytes).map_err(|source| bulwark_oci::Error::InvalidJson {
            what: self.describe_member(name),
            source,
        })
    }

    fn describe_member(&self, name: &str) -> String {
        format!("{}!{name}", self.file.display())
    }

    fn blob_member(digest: &str) -> String {
        format!(
            "blobs/sha256/{}",
            bulwark_oci::sha256_hex(digest).unwrap_or("invalid")
        )
    }
}

impl BlobStore for ArchiveBlobs {
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + Send + '_>, bulwark_oci::Error> {
        if bulwark_oci::sha256_hex(digest).is_none() {
            return Err(bulwark_oci::Error::InvalidDigest(digest.to_owned()));
        }
        self.open_member(&Self::blob_member(digest))
    }

    fn blob_size(&self, digest: &str) -> Option<u64> {
        self.members
            .get(&Self::blob_member(digest))
            .map(|&(_, size)| size)
    }

    fn describe_blob(&self, digest: &str) -> String {
        self.describe_member(&Self::blob_member(digest))
    }
}

impl ImageStore for ArchiveBlobs {
    fn location(&self) -> String {
        format!("docker-archive:{}", self.file.display())
    }

    fn resolve(&self, tag: Option<&str>) -> Result<Descriptor, bulwark_oci::Error> {
        let index: Index = self.read_member_json("index.json", None)?;
        index.resolve(tag, &self.location())
    }

    /// A docker-archive carries no attestations.
    fn referrer_candidates(&self, _: &str) -> Result<Vec<(Descriptor, bool)>, bulwark_oci::Error> {
        Ok(Vec::new())
    }
}

impl LayerSource for ArchiveBlobs {
    fn open_layer(&self, layer: &LayerRef) -> Result<Box<dyn Read + Send + '_>, Error> {
        match &layer.check {
            Check::Stored(_) => open_stored(self, layer),
            Check::Uncompressed(_) => Ok(self.open_member(&layer.name)?),
        }
    }

    fn layer_size(&self, layer: &LayerRef) -> Option<u64> {
        match &layer.check {
            Check::Stored(_) => self.blob_size(&layer.name),
            Check::Uncompressed(_) => self.members.get(&layer.name).map(|&(_, size)| size),
        }
    }

    fn describe_layer(&self, layer: &LayerRef) -> String {
        match &layer.check {
            Check::Stored(_) => self.describe_blob(&layer.name),
            Check::Uncompressed(_) => self.describe_member(&layer.name),
        }
    }
}

/// A layer's compression, told by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A decompressing reader over a buffered reader.
pub(crate) enum Decoder<R: BufRead> {
    Plain(R),
    Gzip(Box<flate2::bufread::MultiGzDecoder<R>>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
}

impl<R: BufRead> Decoder<R> {
    /// Wraps `inner`, sniffing its compression.
    pub(crate) fn new(mut inner: R) -> io::Result<Self> {
        let compression = Compression::sniff(inner.fill_buf()?);
        Ok(match compression {
            Compression::None => Decoder::Plain(inner),
            Compression::Gzip => {
                Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(inner)))
            }
            Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(inner)?),
        })
    }

    /// The underlying reader.
    pub(crate) fn into_inner(self) -> R {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish(),
        }
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}
