//! SHA-256 digests (`sha256:<64 lowercase hex>`), and readers and writers
//! that compute them while bytes pass through.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

/// The 64 hex digits of a `sha256:<hex>` digest, or `None` when `digest` is
/// not one: only lowercase hex of the right length, so that a digest read
/// from a hostile document can name a file without leaving its directory.
pub fn sha256_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Returns the inner writer, the `sha256:<hex>` digest of what was
    /// written and its size.
    pub fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (self.inner, digest, self.size)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes what passes through it, when asked to (hashing
/// costs time that a caller that does not need the digest should not pay).
pub struct HashingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`, hashing when `enabled`.
    pub fn new(inner: R, enabled: bool) -> Self {
        Self {
            inner,
            hasher: enabled.then(Sha256::new),
        }
    }

    /// The `sha256:<hex>` digest of everything read, if hashing.
    pub fn finish(self) -> Option<String> {
        self.hasher
            .map(|h| format!("sha256:{}", hex::encode(h.finalize())))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lowercase_sha256_digests_name_blobs() {
        let good = format!("sha256:{}", "a".repeat(64));
        assert_eq!(sha256_hex(&good), Some("a".repeat(64).as_str()));
        for bad in [
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha512:{}", "a".repeat(64)),
            format!("sha256:../{}", "a".repeat(61)),
            String::new(),
        ] {
            assert_eq!(sha256_hex(&bad), None, "{bad}");
        }
        assert_eq!(
            sha256_digest(b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn hashing_reader_and_writer_agree() {
        let mut reader = HashingReader::new(&b"hello"[..], true);
        let mut writer = HashingWriter::new(Vec::new());
        io::copy(&mut reader, &mut writer).unwrap();
        let (bytes, digest, size) = writer.finish();
        assert_eq!((bytes.as_slice(), size), (&b"hello"[..], 5));
        assert_eq!(reader.finish(), Some(digest.clone()));
        assert_eq!(digest, sha256_digest(b"hello"));
        assert_eq!(HashingReader::new(&b""[..], false).finish(), None);
    }
}
