//! What reading an image's layers found, kept in bulwark's cache so that
//! `sbom`, `scan` and a build's read-back do not decompress a layer twice.
//!
//! Each value is a content-addressed blob (verified by SHA-256 on every
//! read); a record maps the layer's key to it. `bulwark-image` still hashes
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

fn record_key(key: &str) -> String {
    hex::encode(Sha256::digest(format!(
        "{}\n{key}",
        env!("CARGO_PKG_VERSION")
    )))
}

impl bulwark_image::LayerCache for CachedLayers<'_> {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let record = self.cache.get_record(NAMESPACE, &record_key(key)).ok()??;
        let blob = std::str::from_utf8(&record).ok()?.trim();
        self.cache.read(blob).ok()?
    }

    fn put(&self, key: &str, value: &[u8]) {
        // Only a shortcut for the next reading: failing to keep it fails
        // nothing.
        if let Ok((blob, _)) = self.cache.put_bytes(None, value) {
            let _ = self
                .cache
                .put_record(NAMESPACE, &record_key(key), blob.as_bytes());
        }
    }

    fn known_good(&self, digest: &str) -> bool {
        self.known_good.contains(digest)
    }
}
