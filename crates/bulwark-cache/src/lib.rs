//! This crate provides bulwark's content-addressed, hash-verified on-disk
//! cache, shared by every build and safe when several processes use it at
//! once.
//!
//! # Brief overview
//!
//! [`Cache`] stores two kinds of entries under its root:
//!
//! - **Blobs** (`blobs/sha256/ab/abcdef…`), named by the SHA-256 of their
//!   content. [`Cache::put`] streams data into a temporary file inside the
//!   cache, checks its digest (and size), then renames it into place, so a
//!   blob is either absent or complete. [`Cache::get`] re-hashes the file on
//!   every call and deletes a corrupt entry instead of returning it.
//! - **Records** (`records/NAMESPACE/KEY`): small values keyed by a caller's
//!   own key, such as "the unpacked layer for these inputs". Records are
//!   written atomically; whatever digests they name must still be read back
//!   through [`Cache::get`], which verifies them.
//!
//! Concurrency needs no lock: every write goes to a unique temporary file in
//! `tmp/` and is published with an atomic `rename(2)`. Two processes that put
//! the same blob write the same bytes, so whichever rename lands last wins
//! harmlessly.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// Size of the buffer used to stream data into and out of the cache.
const BUF_SIZE: usize = 256 * 1024;

/// Temporary files older than this are left-overs of a killed process.
const STALE_TMP_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// An error from the cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation failed.
    #[error("cannot {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done, e.g. `create directory`.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Reading the data to store failed.
    #[error("cannot read data to cache: {0}")]
    Read(#[source] io::Error),
    /// The stored data does not have the expected SHA-256.
    #[error("SHA-256 mismatch: expected `{expected}`, got `{actual}`")]
    DigestMismatch {
        /// The digest the caller expected.
        expected: String,
        /// The digest of the data actually read.
        actual: String,
    },
    /// The stored data does not have the expected size.
    #[error("size mismatch: expected {expected} bytes, got {actual}{}", if *truncated { " or more" } else { "" })]
    SizeMismatch {
        /// The size the caller expected.
        expected: u64,
        /// The number of bytes read (a lower bound when `truncated`).
        actual: u64,
        /// Reading stopped early because the data was already too large.
        truncated: bool,
    },
    /// A digest is not 64 lowercase hexadecimal characters.
    #[error("`{0}` is not a SHA-256 digest (64 lowercase hex characters)")]
    InvalidDigest(String),
    /// A record namespace or key is empty or has characters other than
    /// ASCII letters, digits, `-`, `_` and `.` (or starts with `.`).
    #[error("`{0}` is not a valid record namespace or key")]
    InvalidRecordName(String),
}

/// The content-addressed cache. Cheap to clone; all methods take `&self` and
/// may be called from several threads.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (creating if needed) the cache rooted at `root`, and removes
    /// temporary files that a killed process left behind more than a day ago.
    pub fn open(root: &Path) -> Result<Cache, Error> {
        let cache = Cache {
            root: root.to_path_buf(),
        };
        for dir in [cache.blob_dir(), cache.records_dir(), cache.tmp_dir()] {
            create_dir_all(&dir)?;
        }
        cache.remove_stale_tmp();
        Ok(cache)
    }

    /// The default cache location: `$XDG_CACHE_HOME/bulwark`, else
    /// `$HOME/.cache/bulwark`, else `.bulwark-cache` in the current
    /// directory. (The command line's `--cache-dir` and its environment
    /// variable come before it; they are the caller's business.)
    pub fn default_root() -> PathBuf {
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        if let Some(dir) = non_empty("XDG_CACHE_HOME") {
            return PathBuf::from(dir).join("bulwark");
        }
        if let Some(home) = non_empty("HOME") {
            return PathBuf::from(home).join(".cache").join("bulwark");
        }
        PathBuf::from(".bulwark-cache")
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of the verified blob with digest `sha256`, or `None` if it
    /// is not cached. The file is re-hashed on every call; a corrupt entry is
    /// deleted and reported as absent.
    pub fn get(&self, sha256: &str) -> Result<Option<PathBuf>, Error> {
        check_digest(sha256)?;
        let path = self.blob_path(sha256);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_error("open", &path, source)),
        };
        let (actual, _) = hash_reader(&mut file).map_err(|e| io_error("read", &path, e))?;
        if actual == sha256 {
            Ok(Some(path))
        } else {
            self.discard(&path)?;
            Ok(None)
        }
    }

    /// The content of the verified blob with digest `sha256`, or `None` if it
    /// is not cached. Reads and hashes the file in one pass; a corrupt entry
    /// is deleted and reported as absent.
    pub fn read(&self, sha256: &str) -> Result<Option<Vec<u8>>, Error> {
        check_digest(sha256)?;
        let path = self.blob_path(sha256);
        let data = match fs::read(&path) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_error("read", &path, source)),
        };
        if hex::encode(Sha256::digest(&data)) == sha256 {
            Ok(Some(data))
        } else {
            self.discard(&path)?;
            Ok(None)
        }
    }

    /// Like [`Cache::read`], but into one shared allocation, without
    /// copying: suited to large blobs that many readers keep slices of.
    pub fn read_shared(&self, sha256: &str) -> Result<Option<Arc<[u8]>>, Error> {
        check_digest(sha256)?;
        let path = self.blob_path(sha256);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(io_error("open", &path, source)),
        };
        let len = file
            .metadata()
            .map_err(|e| io_error("stat", &path, e))?
            .len();
        let len = usize::try_from(len)
            .map_err(|_| io_error("read", &path, io::Error::other("file too large for memory")))?;
        let mut data: Arc<[u8]> = std::iter::repeat_n(0u8, len).collect();
        let Some(buf) = Arc::get_mut(&mut data) else {
            return Err(io_error(
                "read",
                &path,
                io::Error::other("buffer is shared"),
            ));
        };
        // Read and hash in chunks, so the bytes are hashed while still in
        // the CPU cache.
        let mut hasher = Sha256::new();
        for chunk in buf.chunks_mut(BUF_SIZE) {
            file.read_exact(chunk)
                .map_err(|e| io_error("read", &path, e))?;
            hasher.update(&*chunk);
        }
        if hex::encode(hasher.finalize()) == sha256 {
            Ok(Some(data))
        } else {
            self.discard(&path)?;
            Ok(None)
        }
    }

    /// Streams `reader` into the cache and returns the content's SHA-256 and
    /// the blob's path.
    ///
    /// The data goes to a temporary file inside the cache; only when its
    /// digest equals `expected_sha256` and its size equals `expected_size`
    /// (each when given) is it renamed into place. On any error nothing is
    /// left behind. Reading stops as soon as more than `expected_size` bytes
    /// arrive.
    pub fn put(
        &self,
        expected_sha256: Option<&str>,
        expected_size: Option<u64>,
        mut reader: impl Read,
    ) -> Result<(String, PathBuf), Error> {
        if let Some(expected) = expected_sha256 {
            check_digest(expected)?;
        }
        let tmp_dir = self.tmp_dir();
        let mut tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&tmp_dir)
            .map_err(|e| io_error("create a temporary file in", &tmp_dir, e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; BUF_SIZE];
        let mut total: u64 = 0;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Read(e)),
            };
            total += n as u64;
            if let Some(expected) = expected_size.filter(|&s| total > s) {
                return Err(Error::SizeMismatch {
                    expected,
                    actual: total,
                    truncated: true,
                });
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(|e| io_error("write", tmp.path(), e))?;
        }
        if let Some(expected) = expected_size.filter(|&s| total != s) {
            return Err(Error::SizeMismatch {
                expected,
                actual: total,
                truncated: false,
            });
        }
        let actual = hex::encode(hasher.finalize());
        if let Some(expected) = expected_sha256.filter(|&e| e != actual) {
            return Err(Error::DigestMismatch {
                expected: expected.to_string(),
                actual,
            });
        }
        let path = self.blob_path(&actual);
        if let Some(parent) = path.parent() {
            create_dir_all(parent)?;
        }
        // Blobs are content, not secrets: image layouts hard-link them, and
        // an image root builds must be readable by others (tempfile makes
        // its files 0600).
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))
                .map_err(|e| io_error("set the mode of", tmp.path(), e))?;
        }
        tmp.persist(&path)
            .map_err(|e| io_error("rename a temporary file to", &path, e.error))?;
        Ok((actual, path))
    }

    /// Copies the file at `path` into the cache, like [`Cache::put`].
    pub fn put_file(
        &self,
        expected_sha256: Option<&str>,
        path: &Path,
    ) -> Result<(String, PathBuf), Error> {
        let file = File::open(path).map_err(|e| io_error("open", path, e))?;
        self.put(expected_sha256, None, file)
    }

    /// Stores `bytes` in the cache, like [`Cache::put`].
    pub fn put_bytes(
        &self,
        expected_sha256: Option<&str>,
        bytes: &[u8],
    ) -> Result<(String, PathBuf), Error> {
        self.put(expected_sha256, Some(bytes.len() as u64), bytes)
    }

    /// The record `key` in `namespace`, or `None`. Records are not verified:
    /// blobs they name must be read through [`Cache::get`].
    pub fn get_record(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let path = self.record_path(namespace, key)?;
        match fs::read(&path) {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io_error("read", &path, source)),
        }
    }

    /// Writes the record `key` in `namespace` atomically, replacing any
    /// previous value. Namespaces and keys are ASCII letters, digits, `-`,
    /// `_` and `.`, and do not start with `.`.
    pub fn put_record(&self, namespace: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        let path = self.record_path(namespace, key)?;
        if let Some(parent) = path.parent() {
            create_dir_all(parent)?;
        }
        let tmp_dir = self.tmp_dir();
        let mut tmp = tempfile::Builder::new()
            .prefix("record-")
            .tempfile_in(&tmp_dir)
            .map_err(|e| io_error("create a temporary file in", &tmp_dir, e))?;
        tmp.write_all(value)
            .map_err(|e| io_error("write", tmp.path(), e))?;
        tmp.persist(&path)
            .map_err(|e| io_error("rename a temporary file to", &path, e.error))?;
        Ok(())
    }

    fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn records_dir(&self) -> PathBuf {
        self.root.join("records")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.blob_dir().join(&sha256[..2]).join(sha256)
    }

    fn record_path(&self, namespace: &str, key: &str) -> Result<PathBuf, Error> {
        check_record_name(namespace)?;
        check_record_name(key)?;
        Ok(self.records_dir().join(namespace).join(key))
    }

    fn discard(&self, path: &Path) -> Result<(), Error> {
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            // Another process discarded (or replaced) it first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(io_error("remove corrupt cache entry", path, source)),
        }
    }

    /// Best effort: a failure here must not fail the build.
    fn remove_stale_tmp(&self) {
        let Ok(entries) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_TMP_AGE);
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Hashes everything `reader` yields; returns the hex SHA-256 and the size.
pub fn hash_reader(reader: &mut impl Read) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF_SIZE];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` is a hex SHA-256 digest as the cache names blobs.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_digest(s: &str) -> Result<(), Error> {
    if is_sha256_hex(s) {
        Ok(())
    } else {
        Err(Error::InvalidDigest(s.to_string()))
    }
}

fn check_record_name(s: &str) -> Result<(), Error> {
    let ok = !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= 200
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRecordName(s.to_string()))
    }
}

fn create_dir_all(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, e))
}

fn io_error(action: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn cache() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        (dir, cache)
    }

    #[test]
    fn put_then_get() {
        let (_dir, cache) = cache();
        assert_eq!(cache.get(HELLO_SHA).unwrap(), None);
        let (sha, path) = cache.put(Some(HELLO_SHA), Some(5), &b"hello"[..]).unwrap();
        assert_eq!(sha, HELLO_SHA);
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        {
            use std::os::unix::fs::PermissionsExt;
            // Readable by all: image layouts hard-link cache blobs.
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644);
        }
        assert_eq!(path, cache.root().join("blobs/sha256/2c").join(HELLO_SHA));
        assert_eq!(cache.get(HELLO_SHA).unwrap(), Some(path));
        assert_eq!(cache.read(HELLO_SHA).unwrap().unwrap(), b"hello");
        assert_eq!(&*cache.read_shared(HELLO_SHA).unwrap().unwrap(), b"hello");
        // Nothing left in tmp.
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn digest_matches_sha256sum() {
        let (dir, cache) = cache();
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let file = dir.path().join("data");
        fs::write(&file, &data).unwrap();
        let out = std::process::Command::new("sha256sum")
            .arg(&file)
            .output()
            .unwrap();
        let expected = String::from_utf8(out.stdout).unwrap();
        let expected = expected.split_whitespace().next().unwrap();
        let (sha, _) = cache.put_file(None, &file).unwrap();
        assert_eq!(sha, expected);
    }

    #[test]
    fn corrupt_entry_is_deleted() {
        let (_dir, cache) = cache();
        let (_, path) = cache.put_bytes(None, b"hello").unwrap();
        fs::write(&path, b"jello").unwrap();
        assert_eq!(cache.get(HELLO_SHA).unwrap(), None);
        assert!(!path.exists());
        cache.put_bytes(None, b"hello").unwrap();
        fs::write(&path, b"hellp").unwrap();
        assert_eq!(cache.read(HELLO_SHA).unwrap(), None);
        assert!(!path.exists());
        cache.put_bytes(None, b"hello").unwrap();
        fs::write(&path, b"hello!").unwrap();
        assert_eq!(cache.read_shared(HELLO_SHA).unwrap(), None);
        assert!(!path.exists());
        cache.put_bytes(None, b"hello").unwrap();
        fs::write(&path, b"hellq").unwrap();
        assert_eq!(cache.read_shared(HELLO_SHA).unwrap(), None);
        assert!(!path.exists());
    }

    #[test]
    fn mismatch_names_both_digests_and_leaves_nothing() {
        let (_dir, cache) = cache();
        let wrong = "0".repeat(64);
        let err = cache.put(Some(&wrong), None, &b"hello"[..]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&wrong) && msg.contains(HELLO_SHA), "{msg}");
        assert!(matches!(err, Error::DigestMismatch { .. }));
        assert_eq!(cache.get(&wrong).unwrap(), None);
        assert_eq!(cache.get(HELLO_SHA).unwrap(), None);
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);

        let err = cache.put(None, Some(3), &b"hello"[..]).unwrap_err();
        assert!(matches!(
            err,
            Error::SizeMismatch {
                expected: 3,
                truncated: true,
                ..
            }
        ));
        let err = cache.put(None, Some(9), &b"hello"[..]).unwrap_err();
        assert!(matches!(
            err,
            Error::SizeMismatch {
                expected: 9,
                actual: 5,
                truncated: false
            }
        ));
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn read_error_leaves_nothing() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
                }
                self.0 -= 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let (_dir, cache) = cache();
        let err = cache.put(None, None, Failing(3)).unwrap_err();
        assert!(err.to_string().contains("reset"), "{err}");
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn rejects_bad_digests_and_record_names() {
        let (_dir, cache) = cache();
        assert!(matches!(
            cache.get("../etc/passwd"),
            Err(Error::InvalidDigest(_))
        ));
        assert!(matches!(
            cache.get(&"A".repeat(64)),
            Err(Error::InvalidDigest(_))
        ));
        for bad in ["", "..", "a/b", ".hidden", "a b"] {
            assert!(cache.put_record("ns", bad, b"x").is_err(), "{bad:?}");
            assert!(cache.get_record(bad, "k").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn records_roundtrip_and_replace() {
        let (_dir, cache) = cache();
        assert_eq!(cache.get_record("layer", "k1").unwrap(), None);
        cache.put_record("layer", "k1", b"{\"a\":1}").unwrap();
        assert_eq!(
            cache.get_record("layer", "k1").unwrap().unwrap(),
            b"{\"a\":1}"
        );
        cache.put_record("layer", "k1", b"{}").unwrap();
        assert_eq!(cache.get_record("layer", "k1").unwrap().unwrap(), b"{}");
        assert_eq!(cache.get_record("other", "k1").unwrap(), None);
    }

    #[test]
    fn concurrent_puts_of_the_same_blob() {
        let (_dir, cache) = cache();
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let expected = sha256_hex(&data);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..3 {
                        let (sha, path) = cache.put(Some(&expected), None, &data[..]).unwrap();
                        assert_eq!(sha, expected);
                        // Whatever rename landed, readers see a complete blob.
                        assert_eq!(cache.get(&expected).unwrap(), Some(path));
                    }
                });
            }
        });
        assert_eq!(cache.read(&expected).unwrap().unwrap(), data);
        assert_eq!(fs::read_dir(cache.root().join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn concurrent_processes_share_a_cache() {
        // Two independent `Cache` values on one root behave like two processes.
        let (_dir, cache) = cache();
        let other = Cache::open(cache.root()).unwrap();
        let (sha, _) = cache.put_bytes(None, b"shared").unwrap();
        assert!(other.get(&sha).unwrap().is_some());
    }

    #[test]
    fn stale_temporary_files_are_removed_on_open() {
        let (_dir, cache) = cache();
        let stale = cache.root().join("tmp/blob-stale");
        let fresh = cache.root().join("tmp/blob-fresh");
        fs::write(&stale, b"x").unwrap();
        fs::write(&fresh, b"x").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(old)
            .unwrap();
        Cache::open(cache.root()).unwrap();
        assert!(!stale.exists());
        assert!(fresh.exists());
    }
}
