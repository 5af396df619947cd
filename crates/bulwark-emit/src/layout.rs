//! Writing images into OCI image layouts (image-spec v1.1 `image-layout.md`).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use bulwark_oci::{check_tag, media_type, to_json, Descriptor, Index, Layout};

use crate::image::{BuiltImage, JsonBlob};
use crate::{Error, Written};

/// Writes `images` into the OCI layout at `dir`, tagged `tag`: one image as a
/// manifest, several as an image index. Other tags already in `dir` are kept.
pub(crate) fn write_layout(
    dir: &Path,
    tag: &str,
    images: &[BuiltImage<'_>],
    index_annotations: &BTreeMap<String, String>,
) -> Result<Written, Error> {
    check_tag(tag).map_err(|reason| Error::InvalidReference {
        reference: tag.to_owned(),
        reason,
    })?;
    match Layout::open(dir) {
        Ok(layout) => write_existing(&layout, tag, images, index_annotations),
        Err(bulwark_oci::Error::NotALayout(_)) => {
            bulwark_oci::check_destination(dir)?;
            match write_new(dir, tag, images, index_annotations) {
                // Another writer created the layout meanwhile: add to it.
                Err(_) if Layout::open(dir).is_ok() => {
                    write_existing(&Layout::open(dir)?, tag, images, index_annotations)
                }
                result => result,
            }
        }
        Err(err) => Err(err.into()),
    }
}

fn write_existing(
    layout: &Layout,
    tag: &str,
    images: &[BuiltImage<'_>],
    index_annotations: &BTreeMap<String, String>,
) -> Result<Written, Error> {
    let _lock = layout.lock()?;
    let written = write_images(layout, images, index_annotations)?;
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
    let written = write_images(&layout, images, index_annotations)?;
    layout.set_tag(tag, written.tagged.clone())?;
    // Renaming onto an empty directory replaces it; onto a non-empty one
    // (created meanwhile) fails, and dropping `staging` cleans up.
    fs::rename(staging.path(), dir)
        .map_err(|source| Error::io("rename a new layout to", dir, source))?;
    // The staging path is gone now; don't let `TempDir` delete `dir`.
    let _ = staging.keep();
    Ok(written.into_written())
}

/// What [`write_images`] wrote.
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

/// Writes every blob of `images` and, for several images, their index.
/// Does not touch `index.json`.
fn write_images(
    layout: &Layout,
    images: &[BuiltImage<'_>],
    index_annotations: &BTreeMap<String, String>,
) -> Result<ImagesWritten, Error> {
    for image in images {
        for layer in image.layers {
            layout.import_blob(&layer.path, &layer.descriptor())?;
        }
        write_json_blob(layout, &image.config)?;
        write_json_blob(layout, &image.manifest)?;
    }
    let manifests: Vec<Descriptor> = images.iter().map(BuiltImage::index_entry).collect();
    let tagged = match manifests.as_slice() {
        [single] => single.clone(),
        _ => {
            let index = Index::new(manifests.clone(), index_annotations.clone());
            let index = JsonBlob::new(media_type::INDEX, to_json(&index, "image index")?);
            write_json_blob(layout, &index)?;
            index.descriptor
        }
    };
    Ok(ImagesWritten { tagged, manifests })
}

fn write_json_blob(layout: &Layout, blob: &JsonBlob) -> Result<(), Error> {
    layout.write_blob(&blob.descriptor.media_type, &blob.bytes)?;
    Ok(())
}
