//! Writing OCI image layouts (image-spec v1.1 `image-layout.md`).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::blob::{write_atomic, BlobDir};
use crate::image::{serialize, BuiltImage, JsonBlob};
use crate::json::{Descriptor, Index, OciLayoutFile, ANNOTATION_REF_NAME, MEDIA_TYPE_INDEX};
use crate::{Error, Written};

const OCI_LAYOUT_FILE: &str = "oci-layout";
const INDEX_FILE: &str = "index.json";
const LAYOUT_VERSION: &str = "1.0.0";

/// Where a layout write starts from.
enum State {
    /// No layout yet: build it beside `dir`, then rename it into place.
    New,
    /// A layout exists: add blobs, then swap `index.json`.
    Existing,
}

/// Writes `images` into the OCI layout at `dir`, tagged `tag`: one image as a
/// manifest, several as an image index. Other tags already in `dir` are kept.
pub(crate) fn write_layout(
    dir: &Path,
    tag: &str,
    images: &[BuiltImage<'_>],
    index_annotations: &BTreeMap<String, String>,
) -> Result<Written, Error> {
    validate_tag(tag)?;
    match state(dir)? {
        State::Existing => write_existing(dir, tag, images, index_annotations),
        State::New => match write_new(dir, tag, images, index_annotations) {
            // Another writer created the layout meanwhile: add to it.
            Err(_) if matches!(state(dir), Ok(State::Existing)) => {
                write_existing(dir, tag, images, index_annotations)
            }
            result => result,
        },
    }
}

fn write_existing(
    dir: &Path,
    tag: &str,
    images: &[BuiltImage<'_>],
    index_annotations: &BTreeMap<String, String>,
) -> Result<Written, Error> {
    let layout = Layout::open(dir)?;
    let _lock = layout.lock()?;
    let written = layout.write_images(images, index_annotations)?;
    layout.set_tag(tag, written.tagged.clone())?;
    Ok(written.into_written())
}

/// Builds the layout in a sibling temporary directory and renames it to
/// `dir` (absent or empty).
fn write_new(
    dir: &Path,
    tag: &str,
    images: &[BuiltImage<'_>],
    index_annotations: &BTreeMap<String, String>,
) -> Result<Written, Error> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(|source| Error::io("create directory", parent, source))?;
    let name = dir
        .file_name()
        .map_or_else(|| "layout".into(), |n| n.to_string_lossy().into_owned());
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempdir_in(parent)
        .map_err(|source| Error::io("create a temporary directory in", parent, source))?;
    let layout = Layout::create(staging.path())?;
    let written = layout.write_images(images, index_annotations)?;
    layout.set_tag(tag, written.tagged.clone())?;
    // Renaming onto an empty directory replaces it; onto a non-empty one
    // (created meanwhile) fails, and dropping `staging` cleans up.
    fs::rename(staging.path(), dir)
        .map_err(|source| Error::io("rename a new layout to", dir, source))?;
    // The staging path is gone now; don't let `TempDir` delete `dir`.
    let _ = staging.keep();
    Ok(written.into_written())
}

fn state(dir: &Path) -> Result<State, Error> {
    let link = match fs::symlink_metadata(dir) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(State::New),
        Err(source) => return Err(Error::io("read", dir, source)),
        Ok(meta) => meta,
    };
    // A symlink to a layout is written through; anything else behind a
    // symlink is refused rather than replaced.
    let meta = fs::metadata(dir).map_err(|source| Error::io("read", dir, source))?;
    if !meta.is_dir() {
        return Err(Error::NotALayout(dir.to_owned()));
    }
    if dir.join(OCI_LAYOUT_FILE).is_file() {
        return Ok(State::Existing);
    }
    if link.file_type().is_symlink() {
        return Err(Error::NotALayout(dir.to_owned()));
    }
    let mut entries =
        fs::read_dir(dir).map_err(|source| Error::io("read directory", dir, source))?;
    if entries.next().is_none() {
        Ok(State::New)
    } else {
        Err(Error::NotALayout(dir.to_owned()))
    }
}

/// Checks a tag against the OCI `org.opencontainers.image.ref.name` grammar:
/// alphanumeric components joined by `/`, with `-._:@+` (or `--`) as
/// separators inside a component.
fn validate_tag(tag: &str) -> Result<(), Error> {
    let invalid = |reason| Error::InvalidReference {
        reference: tag.to_owned(),
        reason,
    };
    for component in tag.split('/') {
        let bytes = component.as_bytes();
        let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
            return Err(invalid("empty component"));
        };
        if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
            return Err(invalid(
                "components must start and end with a letter or digit",
            ));
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:@+".contains(b))
        {
            return Err(invalid("only letters, digits and `-._:@+/` are allowed"));
        }
    }
    Ok(())
}

/// What [`Layout::write_images`] wrote.
struct ImagesWritten {
    /// The descriptor to tag: the manifest (one image) or the index.
    tagged: Descriptor,
    manifests: Vec<Descriptor>,
}

impl ImagesWritten {
    fn into_written(self) -> Written {
        Written {
            digest: self.tagged.digest,
            size: self.tagged.size,
            media_type: self.tagged.media_type,
            manifests: self.manifests,
        }
    }
}

/// An OCI layout directory that exists (or is being built).
///
/// The blob primitives here are the ones a later artifact writer (OCI 1.1
/// manifests with `subject`, referrers-fallback tags) reuses: write blobs,
/// then add a descriptor to `index.json`.
pub(crate) struct Layout {
    root: PathBuf,
    blobs: PathBuf,
}

impl Layout {
    /// Makes an empty layout in the existing, empty directory `root`.
    pub(crate) fn create(root: &Path) -> Result<Self, Error> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(root, fs::Permissions::from_mode(0o755))
                .map_err(|source| Error::io("set permissions of", root, source))?;
        }
        let layout = Self::at(root);
        fs::create_dir_all(&layout.blobs)
            .map_err(|source| Error::io("create directory", &layout.blobs, source))?;
        let file = OciLayoutFile {
            image_layout_version: LAYOUT_VERSION.to_owned(),
        };
        write_atomic(
            &root.join(OCI_LAYOUT_FILE),
            &serialize(&file, "oci-layout file")?,
        )?;
        write_atomic(
            &root.join(INDEX_FILE),
            &serialize(&Index::new(Vec::new(), BTreeMap::new()), "index.json")?,
        )?;
        Ok(layout)
    }

    /// Opens the layout at `root`, checking its `oci-layout` file.
    pub(crate) fn open(root: &Path) -> Result<Self, Error> {
        let path = root.join(OCI_LAYOUT_FILE);
        let bytes = fs::read(&path).map_err(|source| Error::io("read", &path, source))?;
        let file: OciLayoutFile =
            serde_json::from_slice(&bytes).map_err(|source| Error::InvalidJson {
                path: path.clone(),
                source,
            })?;
        if !file.image_layout_version.starts_with("1.") {
            return Err(Error::UnsupportedLayoutVersion {
                path,
                version: file.image_layout_version,
            });
        }
        let layout = Self::at(root);
        fs::create_dir_all(&layout.blobs)
            .map_err(|source| Error::io("create directory", &layout.blobs, source))?;
        Ok(layout)
    }

    /// Takes an exclusive advisory lock (`flock`) on the `oci-layout` file,
    /// held until the returned file is dropped, so that concurrent bulwark
    /// runs adding tags to one layout don't lose each other's `index.json`
    /// entries.
    pub(crate) fn lock(&self) -> Result<File, Error> {
        let path = self.root.join(OCI_LAYOUT_FILE);
        let file = File::open(&path).map_err(|source| Error::io("open", &path, source))?;
        fs4::FileExt::lock(&file).map_err(|source| Error::io("lock", &path, source))?;
        Ok(file)
    }

    fn at(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            blobs: root.join("blobs").join("sha256"),
        }
    }

    pub(crate) fn blob_dir(&self) -> BlobDir<'_> {
        BlobDir::new(&self.blobs)
    }

    /// Writes every blob of `images` and, for several images, their index.
    /// Does not touch `index.json`.
    fn write_images(
        &self,
        images: &[BuiltImage<'_>],
        index_annotations: &BTreeMap<String, String>,
    ) -> Result<ImagesWritten, Error> {
        let blobs = self.blob_dir();
        for image in images {
            for layer in image.layers {
                blobs.import_file(&layer.path, &layer.descriptor())?;
            }
            write_json_blob(&blobs, &image.config)?;
            write_json_blob(&blobs, &image.manifest)?;
        }
        let manifests: Vec<Descriptor> = images.iter().map(BuiltImage::index_entry).collect();
        let tagged = match manifests.as_slice() {
            [single] => single.clone(),
            _ => {
                let index = Index::new(manifests.clone(), index_annotations.clone());
                let index = JsonBlob::new(MEDIA_TYPE_INDEX, serialize(&index, "image index")?);
                write_json_blob(&blobs, &index)?;
                index.descriptor
            }
        };
        Ok(ImagesWritten { tagged, manifests })
    }

    fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// Reads `index.json`; a missing one reads as empty.
    pub(crate) fn read_index(&self) -> Result<Index, Error> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| Error::InvalidJson { path, source })
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                Ok(Index::new(Vec::new(), BTreeMap::new()))
            }
            Err(source) => Err(Error::io("read", &path, source)),
        }
    }

    /// Points `tag` at `descriptor` in `index.json`, replacing the entry
    /// that had this tag, if any, and keeping every other entry in order.
    /// The new `index.json` replaces the old one atomically.
    pub(crate) fn set_tag(&self, tag: &str, mut descriptor: Descriptor) -> Result<(), Error> {
        let mut index = self.read_index()?;
        index
            .manifests
            .retain(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) != Some(tag));
        descriptor
            .annotations
            .insert(ANNOTATION_REF_NAME.to_owned(), tag.to_owned());
        index.manifests.push(descriptor);
        if index.media_type.is_none() {
            index.media_type = Some(MEDIA_TYPE_INDEX.to_owned());
        }
        write_atomic(&self.index_path(), &serialize(&index, "index.json")?)
    }
}

fn write_json_blob(blobs: &BlobDir<'_>, blob: &JsonBlob) -> Result<(), Error> {
    blobs.write_blob(&blob.descriptor.media_type, &blob.bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_tag;

    #[test]
    fn tags() {
        for ok in [
            "latest",
            "1.0",
            "v1.2.3-rc1",
            "example.com/app:1",
            "a--b",
            "sha256-abc",
        ] {
            validate_tag(ok).unwrap();
        }
        for bad in ["", "-x", "x-", "a b", "a//b", "tag/", "ä"] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }
}
