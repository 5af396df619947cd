//! What the vulnerability-feed targets share: reading the fuzzer's bytes as
//! small values, and importing a file as `bulwark db import` does.
// Not every target uses every helper.
#![allow(dead_code)]

/// Reads the fuzzer's bytes as a sequence of small values, zero when out.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }

    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, _| v << 8 | u64::from(self.u8()))
    }

    /// At most `n` bytes.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }

    /// A position in `0..len` (0 when `len` is 0).
    pub fn index(&mut self, len: usize) -> usize {
        (usize::from(self.u8()) << 8 | usize::from(self.u8())) % len.max(1)
    }
}

/// Writes `bytes` as a feed file named `name`, imports it, and saves and
/// reopens what imports.
pub fn import(name: &str, bytes: &[u8]) {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let feed = dir.path().join(name);
    if std::fs::write(&feed, bytes).is_err() {
        return;
    }
    let Ok((db, _stats)) = bulwark_vuln::Database::import(&[feed.as_path()]) else {
        return;
    };
    let saved = dir.path().join("vuln.db");
    if db.save(&saved).is_ok() {
        let _ = bulwark_vuln::Database::open(&saved);
    }
}
