//! Blob stores: where an image's blobs and manifests are read from, and the
//! checks every read makes.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use crate::descriptor::Descriptor;
use crate::{sha256_hex, Error};

/// The largest JSON document (index, manifest, config, artifact manifest)
/// read into memory.
pub const MAX_DOCUMENT: u64 = 64 << 20;

/// Blobs by digest: an OCI layout's `blobs/sha256`, a tarball's members, a
/// registry's blob endpoint.
pub trait BlobStore: Send + Sync {
    /// Opens the blob with `digest` (`sha256:<hex>`, checked with
    /// [`sha256_hex`] by the caller) for reading. The bytes are not checked:
    /// read through [`read_blob`] or a [`VerifiedReader`]. A blob that is not
    /// there is [`Error::BlobMissing`].
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + Send + '_>, Error>;

    /// The size of the stored blob, when it is cheap to know.
    fn blob_size(&self, digest: &str) -> Option<u64> {
        let _ = digest;
        None
    }

    /// How to name the blob in messages: its path or URL.
    fn describe_blob(&self, digest: &str) -> String;
}

/// A store of whole images: it also resolves tags and knows the artifacts
/// that refer to a manifest (OCI 1.1 referrers).
pub trait ImageStore: BlobStore {
    /// Where the store is, for messages (`oci:DIR`, `docker://HOST/REPO`).
    fn location(&self) -> String;

    /// The descriptor `tag` names, or without a tag the store's only image.
    fn resolve(&self, tag: Option<&str>) -> Result<Descriptor, Error>;

    /// The artifact manifests that may refer to `subject`, each with
    /// whether the store lists it as a referrer of `subject` (its
    /// referrers index or API) rather than only as some artifact it holds.
    /// A listed referrer whose blobs are missing is damage; an unlisted
    /// one may belong to another image.
    fn referrer_candidates(&self, subject: &str) -> Result<Vec<(Descriptor, bool)>, Error>;
}

/// Reads a whole blob of at most `limit` bytes, checking it against the
/// descriptor's digest and size.
pub fn read_blob(
    store: &dyn BlobStore,
    descriptor: &Descriptor,
    limit: u64,
) -> Result<Vec<u8>, Error> {
    if sha256_hex(&descriptor.digest).is_none() {
        return Err(Error::InvalidDigest(descriptor.digest.clone()));
    }
    if descriptor.size > limit {
        return Err(Error::TooLarge {
            blob: store.describe_blob(&descriptor.digest),
            limit,
        });
    }
    let mut reader = VerifiedReader::open(store, descriptor)?;
    let capacity = usize::try_from(descriptor.size).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    reader
        .read_to_end(&mut bytes)
        .map_err(|err| match Error::from_io(&err) {
            Some(_) => unwrap_io(err),
            None => Error::Io {
                action: "read",
                path: store.describe_blob(&descriptor.digest).into(),
                source: err,
            },
        })?;
    Ok(bytes)
}

/// [`read_blob`] of a JSON document ([`MAX_DOCUMENT`] at most), parsed.
pub fn read_json<T: serde::de::DeserializeOwned>(
    store: &dyn BlobStore,
    descriptor: &Descriptor,
) -> Result<T, Error> {
    let bytes = read_blob(store, descriptor, MAX_DOCUMENT)?;
    serde_json::from_slice(&bytes).map_err(|source| Error::InvalidJson {
        what: store.describe_blob(&descriptor.digest),
        source,
    })
}

/// Turns the I/O error a [`VerifiedReader`] returned back into its
/// [`Error`].
fn unwrap_io(err: io::Error) -> Error {
    match err.into_inner().map(|inner| inner.downcast::<Error>()) {
        Some(Ok(inner)) => *inner,
        Some(Err(other)) => Error::Io {
            action: "read",
            path: "a blob".into(),
            source: io::Error::other(other),
        },
        None => Error::Io {
            action: "read",
            path: "a blob".into(),
            source: io::Error::other("read failed"),
        },
    }
}

/// A blob's reader that enforces its descriptor: it fails (with an
/// [`io::Error`] carrying [`Error::SizeMismatch`]) as soon as more bytes
/// arrive than the descriptor's size, so a hostile blob cannot make a reader
/// run forever, and at the end of the blob it fails unless the size and the
/// SHA-256 are the descriptor's ([`Error::SizeMismatch`],
/// [`Error::DigestMismatch`]). A caller must read to the end: only then is
/// the digest checked.
pub struct VerifiedReader<'a> {
    inner: Box<dyn Read + Send + 'a>,
    hasher: Sha256,
    read: u64,
    expected_size: u64,
    expected_digest: String,
    blob: String,
    checked: bool,
}

impl<'a> VerifiedReader<'a> {
    /// Opens the blob `descriptor` names in `store`.
    pub fn open(store: &'a dyn BlobStore, descriptor: &Descriptor) -> Result<Self, Error> {
        if sha256_hex(&descriptor.digest).is_none() {
            return Err(Error::InvalidDigest(descriptor.digest.clone()));
        }
        Ok(Self {
            inner: store.open_blob(&descriptor.digest)?,
            hasher: Sha256::new(),
            read: 0,
            expected_size: descriptor.size,
            expected_digest: descriptor.digest.clone(),
            blob: store.describe_blob(&descriptor.digest),
            checked: false,
        })
    }

    fn fail(&self, err: Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

impl Read for VerifiedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.checked {
            return Ok(0);
        }
        // One byte more than expected is enough to know the size is wrong.
        let room = (self.expected_size - self.read.min(self.expected_size)).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        if self.read > self.expected_size {
            return Err(self.fail(Error::SizeMismatch {
                blob: self.blob.clone(),
                expected: self.expected_size,
                actual: self.read,
            }));
        }
        self.hasher.update(&buf[..n]);
        if n == 0 && want > 0 {
            self.checked = true;
            if self.read != self.expected_size {
                return Err(self.fail(Error::SizeMismatch {
                    blob: self.blob.clone(),
                    expected: self.expected_size,
                    actual: self.read,
                }));
            }
            let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if actual != self.expected_digest {
                return Err(self.fail(Error::DigestMismatch {
                    blob: self.blob.clone(),
                    expected: self.expected_digest.clone(),
                    actual,
                }));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Memory(BTreeMap<String, Vec<u8>>);

    impl BlobStore for Memory {
        fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + Send + '_>, Error> {
            match self.0.get(digest) {
                Some(bytes) => Ok(Box::new(&bytes[..])),
                None => Err(Error::BlobMissing {
                    digest: digest.to_owned(),
                    location: "memory".to_owned(),
                }),
            }
        }
        fn describe_blob(&self, digest: &str) -> String {
            format!("mem:{digest}")
        }
    }

    #[test]
    fn every_byte_is_checked() {
        let good = Descriptor::of_bytes("x", b"hello");
        let mut store = Memory(BTreeMap::from([(good.digest.clone(), b"hello".to_vec())]));
        assert_eq!(read_blob(&store, &good, 100).unwrap(), b"hello");
        // Longer, shorter, changed, missing, too large, malformed digest.
        type Expect = fn(&Error) -> bool;
        let cases: [(&[u8], Expect); 3] = [
            (b"hello!", |e| {
                matches!(e, Error::SizeMismatch { actual: 6, .. })
            }),
            (b"hell", |e| {
                matches!(e, Error::SizeMismatch { actual: 4, .. })
            }),
            (b"jello", |e| matches!(e, Error::DigestMismatch { .. })),
        ];
        for (bytes, expected) in cases {
            store.0.insert(good.digest.clone(), bytes.to_vec());
            let err = read_blob(&store, &good, 100).unwrap_err();
            assert!(expected(&err), "{err}");
            assert!(err.to_string().contains("mem:sha256:"), "{err}");
        }
        store.0.clear();
        assert!(matches!(
            read_blob(&store, &good, 100),
            Err(Error::BlobMissing { .. })
        ));
        assert!(matches!(
            read_blob(&store, &good, 4),
            Err(Error::TooLarge { .. })
        ));
        let bad = Descriptor::new("x", "sha256:../../etc/passwd", 1);
        assert!(matches!(
            read_blob(&store, &bad, 4),
            Err(Error::InvalidDigest(_))
        ));
    }

    #[test]
    fn an_endless_blob_stops_after_its_size() {
        struct Endless;
        impl BlobStore for Endless {
            fn open_blob(&self, _: &str) -> Result<Box<dyn Read + Send + '_>, Error> {
                Ok(Box::new(io::repeat(0)))
            }
            fn describe_blob(&self, digest: &str) -> String {
                digest.to_owned()
            }
        }
        let descriptor = Descriptor::of_bytes("x", &[0; 10]);
        let mut reader = VerifiedReader::open(&Endless, &descriptor).unwrap();
        let err = io::copy(&mut reader, &mut io::sink()).unwrap_err();
        assert!(
            matches!(
                Error::from_io(&err),
                Some(Error::SizeMismatch { actual: 11, .. })
            ),
            "{err}"
        );
    }
}
