//! Content-addressed blob primitives: hashing writers, atomic file writes and
//! blob import into a `blobs/sha256` directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::json::Descriptor;
use crate::Error;

/// Permissions of every file bulwark writes (blobs, `index.json`, archives).
#[cfg(unix)]
const FILE_MODE: u32 = 0o644;

/// `sha256:<hex>` of `bytes`.
pub(crate) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A writer that hashes and counts everything written through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Returns the inner writer, the `sha256:<hex>` digest and byte count.
    pub(crate) fn finish(self) -> (W, String, u64) {
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

/// A temporary file in `dir`, created for an atomic write: fill it, then
/// [`persist`] it under its final name. Dropped unpersisted, it is deleted.
pub(crate) fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile, Error> {
    tempfile::Builder::new()
        .prefix(".tmp-bulwark-")
        .tempfile_in(dir)
        .map_err(|source| Error::io("create a temporary file in", dir, source))
}

/// Gives a filled temporary file its final permissions and renames it to
/// `dest` (atomic within one file system).
pub(crate) fn persist(file: tempfile::NamedTempFile, dest: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(|source| Error::io("set permissions of", file.path(), source))?;
    }
    file.persist(dest)
        .map_err(|err| Error::io("rename a temporary file to", dest, err.error))?;
    Ok(())
}

/// Writes `bytes` to `dest` atomically (temporary file in the same directory,
/// then rename).
pub(crate) fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut file = temp_file_in(dir)?;
    file.write_all(bytes)
        .map_err(|source| Error::io("write", file.path(), source))?;
    persist(file, dest)
}

/// A directory of content-addressed blobs named by their sha256 hex
/// (`<layout>/blobs/sha256`).
///
/// Blobs are immutable, so writing one is idempotent and may happen before
/// anything references it: a blob that already exists with the right size is
/// left alone.
#[derive(Debug)]
pub(crate) struct BlobDir<'a> {
    dir: &'a Path,
}

impl<'a> BlobDir<'a> {
    /// Wraps `dir`, which must exist.
    pub(crate) fn new(dir: &'a Path) -> Self {
        Self { dir }
    }

    /// Stores `bytes` and returns their descriptor.
    pub(crate) fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, Error> {
        let descriptor = Descriptor {
            media_type: media_type.to_owned(),
            digest: sha256_digest(bytes),
            size: bytes.len() as u64,
            ..Descriptor::default()
        };
        let dest = self.path_of(&descriptor)?;
        if !has_size(&dest, descriptor.size) {
            write_atomic(&dest, bytes)?;
        }
        Ok(descriptor)
    }

    /// Stores the file at `src`, whose descriptor the caller computed (as
    /// [`crate::compress_layer`] does). Hard-links when `src` is on the same
    /// file system, copies otherwise.
    pub(crate) fn import_file(&self, src: &Path, descriptor: &Descriptor) -> Result<(), Error> {
        let dest = self.path_of(descriptor)?;
        let meta = fs::metadata(src).map_err(|source| Error::io("read", src, source))?;
        if meta.len() != descriptor.size {
            return Err(Error::BlobSize {
                path: src.to_owned(),
                expected: descriptor.size,
                actual: meta.len(),
            });
        }
        if has_size(&dest, descriptor.size) {
            return Ok(());
        }
        // Link to a temporary name first, then rename: a concurrent writer of
        // the same blob can't make this fail, and `dest` never appears partly
        // written.
        let tmp = temp_file_in(self.dir)?;
        let tmp_path = tmp.into_temp_path();
        let linked = fs::remove_file(&tmp_path).is_ok() && fs::hard_link(src, &tmp_path).is_ok();
        if !linked {
            let mut reader = File::open(src).map_err(|source| Error::io("open", src, source))?;
            let mut file =
                File::create(&tmp_path).map_err(|source| Error::io("create", &tmp_path, source))?;
            io::copy(&mut reader, &mut file)
                .map_err(|source| Error::io("copy a blob to", &tmp_path, source))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
                    .map_err(|source| Error::io("set permissions of", &tmp_path, source))?;
            }
        }
        tmp_path
            .persist(&dest)
            .map_err(|err| Error::io("rename a temporary file to", &dest, err.error))?;
        Ok(())
    }

    fn path_of(&self, descriptor: &Descriptor) -> Result<std::path::PathBuf, Error> {
        let hex = descriptor
            .sha256_hex()
            .ok_or_else(|| Error::InvalidDigest(descriptor.digest.clone()))?;
        Ok(self.dir.join(hex))
    }
}

fn has_size(path: &Path, size: u64) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.len() == size)
}
