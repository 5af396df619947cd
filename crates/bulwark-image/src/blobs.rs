//! Reading blobs from a directory or from inside a tarball, checking digests.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Error;

/// The largest JSON document (index, manifest, config) read into memory.
const MAX_JSON: u64 = 64 << 20;

/// A store of named files: an OCI layout directory or a tarball's members.
pub(crate) trait Blobs: Send + Sync {
    /// Opens the file at `name` (a relative path inside the store).
    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>, Error>;
    /// Whether `name` exists.
    fn exists(&self, name: &str) -> bool;
    /// How to name `name` in messages.
    fn describe(&self, name: &str) -> String;
    /// The size of `name` in bytes, if it exists.
    fn size(&self, name: &str) -> Option<u64>;
}

/// Files of a directory.
pub(crate) struct DirBlobs {
    root: PathBuf,
}

impl DirBlobs {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }
}

impl Blobs for DirBlobs {
    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>, Error> {
        let path = self.root.join(name);
        let file = File::open(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::MissingBlob {
                    blob: path.display().to_string(),
                }
            } else {
                Error::Io { path, source }
            }
        })?;
        Ok(Box::new(file))
    }

    fn exists(&self, name: &str) -> bool {
        self.root.join(name).is_file()
    }

    fn size(&self, name: &str) -> Option<u64> {
        std::fs::metadata(self.root.join(name))
            .ok()
            .map(|m| m.len())
    }

    fn describe(&self, name: &str) -> String {
        self.root.join(name).display().to_string()
    }
}

/// The members of an uncompressed tarball, read in place.
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
        let handle = File::open(file).map_err(io_err)?;
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
}

impl Blobs for ArchiveBlobs {
    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>, Error> {
        let &(offset, size) = self.members.get(name).ok_or_else(|| Error::MissingBlob {
            blob: self.describe(name),
        })?;
        let io_err = |source| Error::Io {
            path: self.file.clone(),
            source,
        };
        let mut file = File::open(&self.file).map_err(io_err)?;
        file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        Ok(Box::new(file.take(size)))
    }

    fn exists(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    fn size(&self, name: &str) -> Option<u64> {
        self.members.get(name).map(|&(_, size)| size)
    }

    fn describe(&self, name: &str) -> String {
        format!("{}!{name}", self.file.display())
    }
}

/// The path of a blob in an OCI layout, from its digest; only `sha256`
/// digests of 64 lowercase hex digits are accepted, so that a hostile
/// `index.json` cannot name files outside `blobs/`.
pub(crate) fn blob_path(digest: &str) -> Result<String, Error> {
    let hex = sha256_hex(digest).ok_or_else(|| Error::BadDigest {
        digest: digest.to_owned(),
    })?;
    Ok(format!("blobs/sha256/{hex}"))
}

/// The hex part of a `sha256:` digest, if it is one.
pub(crate) fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then_some(hex)
}

/// Reads a whole (small) file of the store, checking its sha256 when
/// `expected_hex` is given.
pub(crate) fn read_verified(
    blobs: &dyn Blobs,
    name: &str,
    expected_hex: Option<&str>,
) -> Result<Vec<u8>, Error> {
    let mut reader = blobs.open(name)?;
    let mut bytes = Vec::new();
    (&mut reader)
        .take(MAX_JSON + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Blob {
            blob: blobs.describe(name),
            source,
        })?;
    if bytes.len() as u64 > MAX_JSON {
        return Err(Error::Blob {
            blob: blobs.describe(name),
            source: io::Error::other(format!("larger than {MAX_JSON} bytes")),
        });
    }
    if let Some(expected) = expected_hex {
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != expected {
            return Err(Error::DigestMismatch {
                blob: blobs.describe(name),
                expected: format!("sha256:{expected}"),
                actual: format!("sha256:{actual}"),
            });
        }
    }
    Ok(bytes)
}

/// A reader that hashes what passes through it when asked to.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Option<Sha256>,
}

impl<R: Read> Hashing<R> {
    pub(crate) fn new(inner: R, enabled: bool) -> Self {
        Self {
            inner,
            hasher: enabled.then(Sha256::new),
        }
    }

    /// The hex digest of everything read, if hashing.
    pub(crate) fn finish(self) -> Option<String> {
        self.hasher.map(|h| hex::encode(h.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
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
