//! What reading an image's layers found, kept in bulwark's cache so that
//! `sbom`, `scan` and a build's read-back do not decompress a layer twice.
//!
//! Each value is one record: a `sha256:HEX` line, then the value, whose
//! hash is checked on every read (a damaged record is a miss). One file
//! per layer, not a blob and a record naming it, because on a first
//! reading creating those files is a tenth of the time. `bulwark-image` still hashes
//! every cached layer's blob against its digest, so a changed image is
//! caught as before, except the layers a build has itself just written and
//! hashed. `verify` does not use it: it recomputes everything.

use std::collections::BTreeSet;

use bulwark_cache::Cache;
use sha2::{Digest, Sha256};

/// The records' namespace.
const NAMESPACE: &str = "layer-scan";

/// [`bulwark_image::LayerCache`] over a [`Cache`].
pub(crate) struct CachedLayers<'a> {
    cache: &'a Cache,
    /// Layer digests (`sha256:HEX`) this process has just hashed itself.
    known_good: BTreeSet<String>,
}

impl<'a> CachedLayers<'a> {
    /// Reads through `cache`, hashing every layer blob.
    pub(crate) fn new(cache: &'a Cache) -> Self {
        Self::known_good(cache, BTreeSet::new())
    }

    /// Also trusts, without hashing them again, the layer blobs with these
    /// digests: a build's own layers, hashed as it wrote them.
    pub(crate) fn known_good(cache: &'a Cache, digests: BTreeSet<String>) -> Self {
        Self {
            cache,
            known_good: digests,
        }
    }
}

/// What starts a record, before the value's digest.
const DIGEST_PREFIX: &[u8] = b"sha256:";

fn record_key(key: &str) -> String {
    hex::encode(Sha256::digest(format!(
        "{}\nrecord-v2\n{key}",
        env!("CARGO_PKG_VERSION")
    )))
}

/// A record holding `value`: its digest on the first line, then it.
fn seal(value: &[u8]) -> Vec<u8> {
    let digest = hex::encode(Sha256::digest(value));
    let mut record = Vec::with_capacity(DIGEST_PREFIX.len() + digest.len() + 1 + value.len());
    record.extend_from_slice(DIGEST_PREFIX);
    record.extend_from_slice(digest.as_bytes());
    record.push(b'\n');
    record.extend_from_slice(value);
    record
}

/// The value of a record [`seal`] made, if its digest still matches.
fn open_sealed(mut record: Vec<u8>) -> Option<Vec<u8>> {
    let newline = record.iter().position(|&b| b == b'\n')?;
    let expected = record[..newline].strip_prefix(DIGEST_PREFIX)?;
    let actual = hex::encode(Sha256::digest(&record[newline + 1..]));
    if expected != actual.as_bytes() {
        return None;
    }
    record.drain(..=newline);
    Some(record)
}

impl bulwark_image::LayerCache for CachedLayers<'_> {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let record = self.cache.get_record(NAMESPACE, &record_key(key)).ok()??;
        open_sealed(record)
    }

    fn put(&self, key: &str, value: &[u8]) {
        // Only a shortcut for the next reading: failing to keep it fails
        // nothing.
        let _ = self
            .cache
            .put_record(NAMESPACE, &record_key(key), &seal(value));
    }

    fn known_good(&self, digest: &str) -> bool {
        self.known_good.contains(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_image::LayerCache;

    #[test]
    fn values_round_trip_and_damaged_records_are_misses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let layers = CachedLayers::new(&cache);
        assert_eq!(layers.get("k"), None);
        layers.put("k", b"what layer k holds\n\nwith blank lines");
        assert_eq!(
            layers.get("k").as_deref(),
            Some(&b"what layer k holds\n\nwith blank lines"[..])
        );
        layers.put("empty", b"");
        assert_eq!(layers.get("empty").as_deref(), Some(&b""[..]));

        let path = dir
            .path()
            .join("records")
            .join(NAMESPACE)
            .join(record_key("k"));
        let good = std::fs::read(&path).unwrap();
        // One flipped bit in the value, a truncated value, a lost header.
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let truncated = good[..good.len() - 1].to_vec();
        let headless = good[good.iter().position(|&b| b == b'\n').unwrap() + 1..].to_vec();
        for damaged in [flipped, truncated, headless] {
            std::fs::write(&path, &damaged).unwrap();
            assert_eq!(
                layers.get("k"),
                None,
                "{:?}",
                String::from_utf8_lossy(&damaged)
            );
        }
        // A record is one file: no blob is written beside it.
        assert!(std::fs::read_dir(dir.path().join("blobs/sha256"))
            .unwrap()
            .next()
            .is_none());
    }
}
