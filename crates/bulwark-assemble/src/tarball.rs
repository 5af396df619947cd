//! Reproducible tar writing: a sorted tree of entries, spooled file contents,
//! and deterministic headers.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, LayerTar};

/// Looks up `(mode, uid, gid)` of a directory.
pub(crate) type DirMeta<'a> = dyn Fn(&str) -> Option<(u32, u64, u64)> + 'a;

/// Where a regular file's bytes are.
#[derive(Debug)]
pub(crate) enum Content {
    Memory(Vec<u8>),
    Spool { offset: u64, len: u64 },
}

/// One entry of a layer.
#[derive(Debug)]
pub(crate) enum Kind {
    Directory,
    File(Content),
    Symlink(String),
    /// A hard link to another regular file entry of the same layer.
    Hardlink(String),
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: u64,
}

impl Node {
    pub(crate) fn dir(mode: u32, epoch: u64) -> Self {
        Node {
            kind: Kind::Directory,
            mode,
            uid: 0,
            gid: 0,
            mtime: epoch,
        }
    }

    pub(crate) fn file(data: Vec<u8>, mode: u32, epoch: u64) -> Self {
        Node {
            kind: Kind::File(Content::Memory(data)),
            mode,
            uid: 0,
            gid: 0,
            mtime: epoch,
        }
    }

    pub(crate) fn symlink(target: &str, epoch: u64) -> Self {
        Node {
            kind: Kind::Symlink(target.to_string()),
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime: epoch,
        }
    }
}

/// A layer being built: paths (relative, no leading or trailing `/`) to
/// nodes, plus a spool file for large contents.
pub(crate) struct Tree {
    pub(crate) nodes: BTreeMap<String, Node>,
    spool: Option<(File, u64)>,
    work_dir: PathBuf,
    epoch: u64,
}

impl Tree {
    pub(crate) fn new(work_dir: &Path, epoch: u64) -> Self {
        Tree {
            nodes: BTreeMap::new(),
            spool: None,
            work_dir: work_dir.to_owned(),
            epoch,
        }
    }

    /// Copies `len` bytes from `reader` into the spool.
    pub(crate) fn spool(&mut self, reader: &mut dyn Read, len: u64) -> io::Result<Content> {
        if len <= 64 * 1024 {
            let mut data = Vec::with_capacity(len as usize);
            reader.take(len).read_to_end(&mut data)?;
            return Ok(Content::Memory(data));
        }
        if self.spool.is_none() {
            self.spool = Some((tempfile::tempfile_in(&self.work_dir)?, 0));
        }
        let Some((file, end)) = self.spool.as_mut() else {
            return Err(io::Error::other("spool file missing"));
        };
        let offset = *end;
        let mut w = BufWriter::with_capacity(256 * 1024, &*file);
        let copied = io::copy(&mut reader.take(len), &mut w)?;
        w.flush()?;
        drop(w);
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("expected {len} bytes, got {copied}"),
            ));
        }
        *end += len;
        Ok(Content::Spool { offset, len })
    }

    /// Reads back a file's contents.
    pub(crate) fn read_content(&self, content: &Content) -> Option<Vec<u8>> {
        match content {
            Content::Memory(data) => Some(data.clone()),
            Content::Spool { offset, len } => {
                let (file, _) = self.spool.as_ref()?;
                let mut data = vec![0; usize::try_from(*len).ok()?];
                file.read_exact_at(&mut data, *offset).ok()?;
                Some(data)
            }
        }
    }

    /// Adds `dir` entries (0755 root) for every missing ancestor of every
    /// path.
    pub(crate) fn add_parents(&mut self) {
        self.add_parents_with(&|_| None);
    }

    /// Like [`Tree::add_parents`], taking `(mode, uid, gid)` of a missing
    /// directory from `known` when it knows it.
    pub(crate) fn add_parents_with(&mut self, known: &DirMeta) {
        let mut missing = Vec::new();
        for path in self.nodes.keys() {
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if !self.nodes.contains_key(parent) {
                    missing.push(parent.to_string());
                }
                p = parent;
            }
        }
        for m in missing {
            let mut node = Node::dir(0o755, self.epoch);
            if let Some((mode, uid, gid)) = known(&m) {
                (node.mode, node.uid, node.gid) = (mode, uid, gid);
            }
            self.nodes.entry(m).or_insert(node);
        }
    }

    /// Writes the tree as an uncompressed tar into the work directory and
    /// returns it. Entries are in byte order of their paths (parents before
    /// children); a hard link set is written with its first path (in that
    /// order) as the regular file.
    pub(crate) fn write(mut self, label: &str) -> Result<LayerTar, Error> {
        self.add_parents();
        let io_err = |source: io::Error| Error::Write {
            layer: label.to_string(),
            source,
        };
        // Re-anchor each hard link set on its first path (in write order), so
        // that the regular file is written before the links to it.
        let mut sets: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (path, node) in &self.nodes {
            if let Kind::Hardlink(target) = &node.kind {
                sets.entry(target.clone()).or_default().push(path.clone());
            }
        }
        for (target, links) in sets {
            let Some(first) = links.iter().min().filter(|f| **f < target).cloned() else {
                continue;
            };
            let (Some(file), Some(_)) = (self.nodes.remove(&target), self.nodes.remove(&first))
            else {
                continue;
            };
            let link = Node {
                kind: Kind::Hardlink(first.clone()),
                mode: file.mode,
                uid: file.uid,
                gid: file.gid,
                mtime: file.mtime,
            };
            self.nodes.insert(first.clone(), file);
            self.nodes.insert(target.clone(), link);
            for path in links.iter().filter(|p| **p != first) {
                if let Some(node) = self.nodes.get_mut(path) {
                    node.kind = Kind::Hardlink(first.clone());
                }
            }
        }

        let tmp = tempfile::NamedTempFile::new_in(&self.work_dir).map_err(io_err)?;
        let hasher = HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, tmp.as_file().try_clone().map_err(io_err)?),
            hasher: Sha256::new(),
            written: 0,
        };
        let mut builder = tar::Builder::new(hasher);
        for (path, node) in &self.nodes {
            let mut h = tar::Header::new_gnu();
            h.set_mode(node.mode & 0o7777);
            h.set_uid(node.uid);
            h.set_gid(node.gid);
            h.set_mtime(node.mtime);
            match &node.kind {
                Kind::Directory => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    builder
                        .append_data(&mut h, format!("{path}/"), io::empty())
                        .map_err(io_err)?;
                }
                Kind::File(content) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    match content {
                        Content::Memory(data) => {
                            h.set_size(data.len() as u64);
                            builder
                                .append_data(&mut h, path, data.as_slice())
                                .map_err(io_err)?;
                        }
                        Content::Spool { offset, len } => {
                            let Some((file, _)) = &self.spool else {
                                return Err(io_err(io::Error::other("spool file missing")));
                            };
                            h.set_size(*len);
                            let reader = SpoolReader {
                                file,
                                offset: *offset,
                                remaining: *len,
                            };
                            builder.append_data(&mut h, path, reader).map_err(io_err)?;
                        }
                    }
                }
                Kind::Symlink(target) | Kind::Hardlink(target) => {
                    h.set_entry_type(if matches!(node.kind, Kind::Symlink(_)) {
                        tar::EntryType::Symlink
                    } else {
                        tar::EntryType::Link
                    });
                    h.set_size(0);
                    builder.append_link(&mut h, path, target).map_err(io_err)?;
                }
            }
        }
        let mut hasher = builder.into_inner().map_err(io_err)?;
        hasher.inner.flush().map_err(io_err)?;
        let HashingWriter {
            inner,
            hasher,
            written: size,
        } = hasher;
        drop(inner);
        let digest = hex::encode(hasher.finalize());
        let path = self.work_dir.join(format!("{digest}.tar"));
        tmp.persist(&path).map_err(|e| io_err(e.error))?;
        Ok(LayerTar {
            path,
            diff_id: format!("sha256:{digest}"),
            size,
        })
    }
}

struct SpoolReader<'a> {
    file: &'a File,
    offset: u64,
    remaining: u64,
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.remaining as usize);
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "spool file truncated",
            ));
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        Ok(n)
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
