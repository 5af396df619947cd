//! Atomic file writes, with one rule for the mode of what is written.
//!
//! A file is written as a temporary file beside its destination (named
//! `.tmp-bulwark-*`, locked with `flock` while its writer lives), synced,
//! then renamed over the destination: readers see the old file or the new
//! one, never part of one, and a killed writer leaves at most a temporary
//! file that [`remove_stale_temporaries`] recognizes as ownerless.
//!
//! The mode rule: a file that replaces a regular file keeps that file's
//! mode; a new file gets 0666 less the umask, like any file a program
//! creates.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::Error;

/// The prefix of the temporary files an [`AtomicFile`] writes.
pub const TEMP_PREFIX: &str = ".tmp-bulwark-";

/// A file being written; it replaces its destination on [`commit`], and
/// disappears if dropped before.
///
/// [`commit`]: AtomicFile::commit
#[derive(Debug)]
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: Option<PathBuf>,
}

impl AtomicFile {
    /// Starts writing `dest`, creating its directory if needed. A `dest`
    /// that is a directory, a device or a FIFO is refused before anything is
    /// written (renaming over it would replace it); a symlink is replaced,
    /// never its target.
    pub fn create(dest: &Path) -> Result<Self, Error> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let replaced = match fs::symlink_metadata(dest) {
            Ok(meta) if meta.is_file() => Some(meta.permissions().mode() & 0o7777),
            Ok(meta) if meta.file_type().is_symlink() => None,
            Ok(meta) => {
                return Err(Error::NotAFile(
                    dest.to_owned(),
                    crate::file_kind(&meta.file_type()),
                ))
            }
            Err(_) => None,
        };
        let mut file = Self::create_in(dir)?;
        if let Some(mode) = replaced {
            // The umask applied at creation; a replaced file's mode is kept.
            file.tmp
                .as_file()
                .set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|source| Error::io("set permissions of", file.tmp.path(), source))?;
        }
        file.dest = Some(dest.to_owned());
        Ok(file)
    }

    /// Starts writing a new file in `dir` whose name is known only once it
    /// is written (a content-addressed blob): finish it with
    /// [`AtomicFile::commit_as`].
    pub fn create_in(dir: &Path) -> Result<Self, Error> {
        fs::create_dir_all(dir).map_err(|source| Error::io("create directory", dir, source))?;
        let tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .permissions(fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(|source| Error::io("create a temporary file in", dir, source))?;
        // Marks the file as owned by a live process for the sweeper.
        fs4::FileExt::try_lock(tmp.as_file())
            .map_err(|source| Error::io("lock", tmp.path(), io::Error::other(source)))?;
        Ok(Self { tmp, dest: None })
    }

    /// The file to write to.
    pub fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Syncs the data and renames the file over its destination.
    pub fn commit(self) -> Result<(), Error> {
        let dest = self
            .dest
            .clone()
            .unwrap_or_else(|| self.tmp.path().to_owned());
        self.commit_as(&dest)
    }

    /// Syncs the data and renames the file to `dest`, which must be in the
    /// directory it was created in.
    pub fn commit_as(self, dest: &Path) -> Result<(), Error> {
        self.tmp
            .as_file()
            .sync_data()
            .map_err(|source| Error::io("write", self.tmp.path(), source))?;
        self.tmp
            .persist(dest)
            .map_err(|err| Error::io("rename a temporary file to", dest, err.error))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// Writes `bytes` to `dest` atomically (see [`AtomicFile`]).
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file = AtomicFile::create(dest)?;
    file.write_all(bytes)
        .map_err(|source| Error::io("write", file.path(), source))?;
    file.commit()
}

/// Copies the file at `src` to `dest` atomically (see [`AtomicFile`]),
/// refusing a `src` that is not a regular file.
pub fn copy_atomic(src: &Path, dest: &Path) -> Result<u64, Error> {
    let mut from = crate::open_regular(src)?;
    let mut file = AtomicFile::create(dest)?;
    let copied = io::copy(&mut from, file.file())
        .map_err(|source| Error::io("copy to", file.path(), source))?;
    file.commit()?;
    Ok(copied)
}

/// Removes the temporary files of [`AtomicFile`]s in `dir` whose writer is
/// gone (a killed process): those whose lock can be taken. A live writer's
/// file is left alone, so concurrent writers into one directory stay
/// correct. Best effort: returns how many were removed.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if fs4::FileExt::try_lock(&file).is_ok() && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_files_follow_the_umask_and_replaced_files_keep_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        write_atomic(&path, b"one").unwrap();
        let sibling = dir.path().join("plain");
        fs::write(&sibling, b"x").unwrap();
        assert_eq!(mode(&path), mode(&sibling), "what File::create gives");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(mode(&path), 0o640);
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    }

    #[test]
    fn special_files_are_refused_and_symlinks_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(dir.path(), b"x").unwrap_err();
        assert!(matches!(err, Error::NotAFile(..)), "{err}");
        let target = dir.path().join("target");
        fs::write(&target, b"keep").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        assert!(fs::symlink_metadata(&link).unwrap().is_file());
        assert!(copy_atomic(Path::new("/dev/zero"), &dir.path().join("z")).is_err());
    }

    #[test]
    fn only_ownerless_temporaries_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let live = AtomicFile::create(&dir.path().join("a")).unwrap();
        let dead = dir.path().join(format!("{TEMP_PREFIX}dead"));
        fs::write(&dead, b"left by a killed writer").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 1);
        assert!(!dead.exists());
        assert!(live.path().exists());
        live.commit().unwrap();
        assert!(dir.path().join("a").exists());
    }
}
