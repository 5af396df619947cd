//! Staged publishing: an image and its attestations are written into a
//! layout only this process writes, then moved into the output layout with
//! one `index.json` write, so that a tag and all its attestations appear
//! together or not at all.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::descriptor::Descriptor;
use crate::document::{to_json, Index};
use crate::layout::OCI_LAYOUT_FILE;
use crate::store::read_json;
use crate::{annotation, is_referrers_tag, media_type, Error, Layout};

/// What a layout destination holds.
pub(crate) enum Destination {
    /// Nothing yet, or an empty directory.
    New,
    /// An OCI layout (possibly behind a symlink).
    Existing,
}

/// What `dest` is: absent or an empty directory, an OCI layout (a symlink
/// to one is written through), or something else ([`Error::NotALayout`]).
pub(crate) fn destination(dest: &Path) -> Result<Destination, Error> {
    let link = match fs::symlink_metadata(dest) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Destination::New),
        Err(source) => return Err(Error::io("read", dest, source)),
        Ok(meta) => meta,
    };
    let meta = fs::metadata(dest).map_err(|source| Error::io("read", dest, source))?;
    if !meta.is_dir() {
        return Err(Error::NotALayout(dest.to_owned()));
    }
    if dest.join(OCI_LAYOUT_FILE).is_file() {
        return Ok(Destination::Existing);
    }
    if link.file_type().is_symlink() {
        return Err(Error::NotALayout(dest.to_owned()));
    }
    let mut entries =
        fs::read_dir(dest).map_err(|source| Error::io("read directory", dest, source))?;
    if entries.next().is_none() {
        Ok(Destination::New)
    } else {
        Err(Error::NotALayout(dest.to_owned()))
    }
}

/// Checks that [`publish`] can write to `dest`: it is absent, an empty
/// directory, or an OCI layout (a symlink to one is written through).
pub fn check_destination(dest: &Path) -> Result<(), Error> {
    destination(dest).map(|_| ())
}

/// A new directory beside an output layout, on its file system (so that
/// publishing renames rather than copies), removed when dropped; also a
/// build's scratch space. It is named `.NAME.build-*` and holds a lock
/// while its owner lives; making one removes the staging directories of
/// owners that are gone (a killed build), never a live one's.
#[derive(Debug)]
pub struct Staging {
    dir: tempfile::TempDir,
    _lock: File,
}

const LOCK_FILE: &str = ".lock";

impl Staging {
    /// Makes a staging directory beside `dest`.
    pub fn beside(dest: &Path) -> Result<Self, Error> {
        let dest = fs::canonicalize(dest)
            .or_else(|_| std::path::absolute(dest))
            .map_err(|source| Error::io("resolve", dest, source))?;
        let parent = dest.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(parent)
            .map_err(|source| Error::io("create directory", parent, source))?;
        let name = dest
            .file_name()
            .map_or_else(|| "layout".into(), |n| n.to_string_lossy().into_owned());
        let prefix = format!(".{name}.build-");
        remove_stale_staging(parent, &prefix);
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(parent)
            .map_err(|source| Error::io("create a staging directory in", parent, source))?;
        let lock_path = dir.path().join(LOCK_FILE);
        let lock =
            File::create(&lock_path).map_err(|source| Error::io("create", &lock_path, source))?;
        fs4::FileExt::try_lock(&lock)
            .map_err(|source| Error::io("lock", &lock_path, io::Error::other(source)))?;
        Ok(Self { dir, _lock: lock })
    }

    /// The staging directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where to write the staged layout: `layout` inside the directory.
    pub fn layout_dir(&self) -> PathBuf {
        self.dir.path().join("layout")
    }
}

/// Removes the directories named `PREFIX*` in `parent` whose lock can be
/// taken: their owner is gone. Best effort.
fn remove_stale_staging(parent: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = entry.path();
        let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        let Ok(lock) = File::open(path.join(LOCK_FILE)) else {
            continue;
        };
        if is_dir && fs4::FileExt::try_lock(&lock).is_ok() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// Publishes the OCI layout at `staging` into the layout at `dest`.
///
/// `staging` is a layout only this process writes (an image and artifacts
/// attached to it); it is consumed.
///
/// - `dest` absent or an empty directory: `staging` is renamed to `dest`.
/// - `dest` an OCI layout: under its lock, every blob of `staging` that
///   `dest` lacks is moved (or copied) into it, then `dest`'s `index.json`
///   is replaced once, atomically. Each tag of `staging` replaces the entry
///   of that tag in `dest`, except that a referrers tag (`sha256-<hex>`)
///   keeps the referrers `dest` listed and adds the new ones; untagged
///   artifact entries are added unless listed. Other entries are kept.
///
/// When anything fails before `index.json` is replaced, the blobs this call
/// added are removed again, so `dest` is left as it was.
pub fn publish(staging: &Path, dest: &Path) -> Result<(), Error> {
    let source = Layout::open(staging)?;
    if let Destination::New = destination(dest)? {
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|source| Error::io("create directory", parent, source))?;
        }
        match fs::rename(staging, dest) {
            Ok(()) => return Ok(()),
            // Another writer created the layout meanwhile: merge into it.
            Err(_) if matches!(destination(dest), Ok(Destination::Existing)) => {}
            Err(source) => return Err(Error::io("rename a new layout to", dest, source)),
        }
    }
    let target = Layout::open(dest)?;
    let _lock = target.lock()?;
    let mut added = Vec::new();
    let result = merge_into(&source, &target, &mut added);
    if result.is_err() {
        for path in &added {
            let _ = fs::remove_file(path);
        }
    }
    result
}

/// Whether the blob file at `path` hashes to `hex`, the name it is stored
/// under; an unreadable one does not.
fn holds_its_digest(path: &Path, hex: &str) -> bool {
    let Ok(mut file) = crate::open_regular(path) else {
        return false;
    };
    let mut hashing = crate::HashingWriter::new(std::io::sink());
    if std::io::copy(&mut file, &mut hashing).is_err() {
        return false;
    }
    let (_, digest, _) = hashing.finish();
    digest.strip_prefix("sha256:") == Some(hex)
}

/// The locked part of [`publish`] into an existing layout; records every
/// blob file it creates in `added`.
fn merge_into(source: &Layout, dest: &Layout, added: &mut Vec<PathBuf>) -> Result<(), Error> {
    let blobs = dest.blob_dir();
    fs::create_dir_all(blobs).map_err(|err| Error::io("create directory", blobs, err))?;
    crate::remove_stale_temporaries(blobs);
    let from_dir = source.blob_dir();
    let mut names = Vec::new();
    for entry in fs::read_dir(from_dir).map_err(|err| Error::io("read directory", from_dir, err))? {
        let entry = entry.map_err(|err| Error::io("read directory", from_dir, err))?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        let from = from_dir.join(&name);
        let to = blobs.join(&name);
        let size = fs::metadata(&from)
            .map_err(|err| Error::io("read", &from, err))?
            .len();
        // A blob already there is kept only if its content is what its
        // name says: one damaged in place is replaced, not trusted.
        if fs::metadata(&to).is_ok_and(|m| m.is_file() && m.len() == size)
            && holds_its_digest(&to, &name.to_string_lossy())
        {
            continue;
        }
        let existed = fs::symlink_metadata(&to).is_ok();
        move_blob(&from, &to)?;
        if !existed {
            added.push(to);
        }
    }

    let staged = source.read_index()?;
    let mut index = dest.read_index()?;
    // Referrers indexes that merging replaces; removed once the new
    // index.json is written, unless it still lists them.
    let mut replaced: Vec<String> = Vec::new();
    for descriptor in staged.manifests {
        let Some(tag) = descriptor.ref_name().map(str::to_owned) else {
            let listed = |d: &Descriptor| d.digest == descriptor.digest && d.ref_name().is_none();
            if !index.manifests.iter().any(listed) {
                index.manifests.push(descriptor);
            }
            continue;
        };
        let entry = if is_referrers_tag(&tag) && descriptor.media_type == media_type::INDEX {
            let mut referrers = match index.tagged(&tag) {
                Some(existing) => {
                    replaced.push(existing.digest.clone());
                    read_json::<Index>(dest, existing)?.manifests
                }
                None => Vec::new(),
            };
            replaced.push(descriptor.digest.clone());
            for d in read_json::<Index>(dest, &descriptor)?.manifests {
                if !referrers.iter().any(|r| r.digest == d.digest) {
                    referrers.push(d);
                }
            }
            let bytes = to_json(
                &Index::new(referrers, Default::default()),
                "referrers index",
            )?;
            let path = dest.blob_path(&crate::sha256_digest(&bytes))?;
            let existed = fs::symlink_metadata(&path).is_ok();
            let mut merged = dest.write_blob(media_type::INDEX, &bytes)?;
            if !existed {
                added.push(path);
            }
            merged
                .annotations
                .insert(annotation::REF_NAME.to_owned(), tag.clone());
            merged
        } else {
            descriptor
        };
        index
            .manifests
            .retain(|d| d.ref_name() != Some(tag.as_str()));
        index.manifests.push(entry);
    }
    if index.media_type.is_none() {
        index.media_type = Some(media_type::INDEX.to_owned());
    }
    dest.write_index(&index)?;
    // Only index.json points at a referrers index: one it no longer lists
    // is garbage. Best effort: the layout is already complete.
    for digest in replaced {
        if !index.manifests.iter().any(|d| d.digest == digest) {
            if let Ok(path) = dest.blob_path(&digest) {
                let _ = fs::remove_file(path);
            }
        }
    }
    Ok(())
}

/// Moves a blob file by renaming it, or by copying it when the rename
/// fails (another file system).
fn move_blob(from: &Path, to: &Path) -> Result<(), Error> {
    let Err(rename_error) = fs::rename(from, to) else {
        return Ok(());
    };
    crate::copy_atomic(from, to)
        .map(|_| ())
        .map_err(|_| Error::io("move a blob to", to, rename_error))
}
