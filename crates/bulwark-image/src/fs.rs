//! Path resolution inside an image, and root filesystems on disk.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use crate::{FileKind, FileMeta, FileSource};

/// How many symlinks one path may go through (Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// Read access to a filesystem tree, by absolute path inside it.
pub(crate) trait Tree {
    /// Opens the regular file at `path` (following symlinks), with its size.
    fn open_file(&self, path: &str) -> io::Result<Option<(Box<dyn Read + '_>, u64)>>;
    /// The sorted names in directory `path` (following symlinks).
    fn read_dir(&self, path: &str) -> io::Result<Option<Vec<String>>>;
}

/// The error of a file larger than bulwark reads of it.
pub(crate) fn too_large(path: &str, limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "`{}` is larger than the {limit} bytes bulwark reads of such a file",
            path.escape_debug()
        ),
    )
}

/// Reads the whole file at `path` of at most `limit` bytes; a larger one is
/// refused before it is read.
pub(crate) fn read_limited(tree: &dyn Tree, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let Some((reader, size)) = tree.open_file(path)? else {
        return Ok(None);
    };
    if size > limit {
        return Err(too_large(path, limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    reader.take(size).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("`{}` ends early", path.escape_debug()),
        ));
    }
    Ok(Some(bytes))
}

/// What one path of a tree is, without following it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Dir,
    File,
    Symlink(String),
    Other,
    Missing,
}

/// Resolves `path` inside a tree as the kernel would inside a chroot:
/// symlinks are followed relative to the tree's root, and `..` never goes
/// above it. Returns the resolved relative path ("" for the root) and what
/// it is, or `None` when a component is missing or not a directory.
pub(crate) fn resolve(
    path: &str,
    follow_last: bool,
    mut lookup: impl FnMut(&str) -> io::Result<Lookup>,
) -> io::Result<Option<(String, Lookup)>> {
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .rev()
        .map(str::to_owned)
        .collect();
    let mut resolved: Vec<String> = Vec::new();
    let mut current = Lookup::Dir;
    let mut hops = 0;
    while let Some(component) = pending.pop() {
        if current != Lookup::Dir {
            return Ok(None);
        }
        if component == ".." {
            resolved.pop();
            continue;
        }
        resolved.push(component);
        match lookup(&resolved.join("/"))? {
            Lookup::Symlink(target) if follow_last || !pending.is_empty() => {
                hops += 1;
                if hops > MAX_SYMLINKS {
                    return Err(io::Error::other(format!(
                        "too many levels of symbolic links resolving `{path}`"
                    )));
                }
                resolved.pop();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty() && *c != ".")
                        .rev()
                        .map(str::to_owned),
                );
            }
            Lookup::Missing => return Ok(None),
            other => current = other,
        }
    }
    Ok(Some((resolved.join("/"), current)))
}

/// An unpacked root filesystem on disk. Symlinks are resolved inside it,
/// never followed out of it.
pub(crate) struct RootfsFs {
    root: PathBuf,
}

impl RootfsFs {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    fn lookup(&self, rel: &str) -> io::Result<Lookup> {
        let path = self.root.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&path)?;
                Ok(Lookup::Symlink(target.to_string_lossy().into_owned()))
            }
            Ok(meta) if meta.is_dir() => Ok(Lookup::Dir),
            Ok(meta) if meta.is_file() => Ok(Lookup::File),
            Ok(_) => Ok(Lookup::Other),
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20) => {
                Ok(Lookup::Missing)
            }
            Err(e) => Err(e),
        }
    }

    fn resolve(&self, path: &str) -> io::Result<Option<(PathBuf, Lookup)>> {
        Ok(resolve(path, true, |p| self.lookup(p))?.map(|(rel, kind)| (self.root.join(rel), kind)))
    }
}

impl Tree for RootfsFs {
    fn open_file(&self, path: &str) -> io::Result<Option<(Box<dyn Read + '_>, u64)>> {
        match self.resolve(path)? {
            Some((real, Lookup::File)) => {
                // The file was a regular one when resolved; refuse one
                // swapped for a FIFO or device since.
                let file = bulwark_oci::open_regular(&real).map_err(io::Error::other)?;
                let size = file.metadata()?.len();
                Ok(Some((Box::new(file), size)))
            }
            _ => Ok(None),
        }
    }

    fn read_dir(&self, path: &str) -> io::Result<Option<Vec<String>>> {
        let Some((real, Lookup::Dir)) = self.resolve(path)? else {
            return Ok(None);
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(real)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(Some(names))
    }
}

impl FileSource for RootfsFs {
    fn open(&self, path: &str) -> io::Result<Option<Box<dyn Read + '_>>> {
        Ok(self.open_file(path)?.map(|(reader, _)| reader))
    }

    fn read(&self, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
        read_limited(self, path, limit)
    }

    fn metadata(&self, path: &str) -> io::Result<Option<FileMeta>> {
        let Some((rel, _)) = resolve(path, false, |p| self.lookup(p))? else {
            return Ok(None);
        };
        let real = self.root.join(rel);
        let meta = fs::symlink_metadata(&real)?;
        let file_type = meta.file_type();
        let kind = if file_type.is_symlink() {
            FileKind::Symlink
        } else if file_type.is_dir() {
            FileKind::Dir
        } else if file_type.is_char_device() {
            FileKind::CharDevice
        } else if file_type.is_block_device() {
            FileKind::BlockDevice
        } else if file_type.is_fifo() {
            FileKind::Fifo
        } else {
            FileKind::File
        };
        let link = match kind {
            FileKind::Symlink => Some(fs::read_link(&real)?.to_string_lossy().into_owned()),
            _ => None,
        };
        Ok(Some(FileMeta {
            kind,
            mode: meta.mode() & 0o7777,
            uid: u64::from(meta.uid()),
            gid: u64::from(meta.gid()),
            size: if kind == FileKind::File {
                meta.len()
            } else {
                0
            },
            link,
        }))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut files = Vec::new();
        let mut stack = vec![(self.root.clone(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            for entry in fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = format!("{rel}/{name}");
                let file_type = entry.file_type()?;
                if file_type.is_dir() {
                    stack.push((entry.path(), child));
                } else if file_type.is_file() {
                    files.push(child);
                }
            }
        }
        files.sort();
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_never_leave_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host secret").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(root.join("usr/lib/os-release"), "ID=debian\n").unwrap();
        std::fs::write(root.join("secret"), "image secret").unwrap();
        symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
        // Absolute and `..`-laden links resolve against the image's root.
        let host = outside.path().join("secret");
        symlink(&host, root.join("etc/abs")).unwrap();
        symlink("../../../../../../../../secret", root.join("etc/up")).unwrap();
        symlink(outside.path(), root.join("escape")).unwrap();
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();

        let fs = RootfsFs::new(root);
        let read = |p: &str| {
            fs.read(p, 1 << 20)
                .unwrap()
                .map(|b| String::from_utf8(b).unwrap())
        };
        assert_eq!(read("/etc/os-release").as_deref(), Some("ID=debian\n"));
        // `/etc/abs` points at the host's file, which inside the image is a
        // path that does not exist.
        assert_eq!(read("/etc/abs"), None);
        assert_eq!(read("/etc/up").as_deref(), Some("image secret"));
        assert_eq!(read("/escape/secret"), None);
        assert_eq!(read("/../../secret").as_deref(), Some("image secret"));
        assert_eq!(read("/etc"), None);
        assert_eq!(read("/usr/lib/os-release/x"), None);
        assert!(fs.read("/loop1", 1 << 20).is_err());
        assert!(
            fs.read("/etc/os-release", 3).is_err(),
            "larger than the limit"
        );
        let meta = fs.metadata("/etc/os-release").unwrap().unwrap();
        assert_eq!(meta.kind, FileKind::Symlink);
        assert_eq!(meta.link.as_deref(), Some("../usr/lib/os-release"));
        let meta = fs.metadata("/etc/up/../usr").unwrap();
        assert_eq!(meta, None, "`up` is a symlink to a file");
        let meta = fs.metadata("/escape").unwrap().unwrap();
        assert_eq!(meta.kind, FileKind::Symlink);
        assert_eq!(
            fs.metadata("/usr/lib").unwrap().unwrap().kind,
            FileKind::Dir
        );
        let list = fs.list().unwrap();
        assert_eq!(list, ["/secret", "/usr/lib/os-release"]);
    }
}
