//! What reading an image's layers found, kept in bulwark's cache so that
//! `sbom`, `scan` and a build's read-back do not decompress a layer twice.
//!
//! Each value is a content-addressed blob (verified by SHA-256 on every
//! read); a record maps the layer's key to it. `bulwark-image` still hashes
//! every cached layer's blob against its digest, so a changed image is
//! caught as before. `verify` does not use it: it recomputes everything.

use bulwark_cache::Cache;
use sha2::{Digest, Sha256};

/// The records' namespace.
const NAMESPACE: &str = "layer-scan";

/// [`bulwark_image::LayerCache`] over a [`Cache`].
pub(crate) struct CachedLayers<'a>(pub &'a Cache);

fn record_key(key: &str) -> String {
    hex::encode(Sha256::digest(format!(
        "{}\n{key}",
        env!("CARGO_PKG_VERSION")
    )))
}

impl bulwark_image::LayerCache for CachedLayers<'_> {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let record = self.0.get_record(NAMESPACE, &record_key(key)).ok()??;
        let blob = std::str::from_utf8(&record).ok()?.trim();
        self.0.read(blob).ok()?
    }

    fn put(&self, key: &str, value: &[u8]) {
        // Only a shortcut for the next reading: failing to keep it fails
        // nothing.
        if let Ok((blob, _)) = self.0.put_bytes(None, value) {
            let _ = self
                .0
                .put_record(NAMESPACE, &record_key(key), blob.as_bytes());
        }
    }
}
