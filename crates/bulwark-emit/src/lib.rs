//! This crate provides bulwark's image writers: it compresses layer tars into
//! content-addressed blobs and writes images as OCI image layouts
//! (image-spec v1.1) or docker-archive tarballs (`docker save` format).
//!
//! # Brief overview
//!
//! [`compress_layer`] turns an uncompressed layer tar into a [`LayerBlob`]
//! (gzip or zstd), computing its diff ID and digest in one streaming pass.
//! [`write()`] takes one [`ImageSpec`] per platform and writes them to a
//! [`Target`]: one image becomes a manifest, several become an image index.
//!
//! Output is reproducible: the config, manifest and index are serialized from
//! structs with a fixed field order and sorted maps, timestamps come from
//! [`ImageSpec::created`], and archives have sorted entries owned by 0:0.
//! Identical inputs give identical digests whatever the output path, clock
//! or user.
//!
//! Writes are atomic: blobs are written to temporary files and renamed into
//! place (they are content-addressed, so that is safe before anything points
//! at them); `index.json` is replaced last, also by rename. A new layout is
//! built in a sibling temporary directory and renamed into place, and an
//! archive is a temporary file renamed at the end. A failure leaves the
//! previous state behind. (Files are not `fsync`ed: the guarantee covers
//! failed or killed processes, not power loss.)

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use bulwark_oci::Descriptor;

mod docker;
mod image;
mod layer;
mod layout;

pub use image::{History, ImageSpec};
pub use layer::{compress_layer, Compression, LayerBlob, GZIP_LEVEL, ZSTD_LEVEL};

/// Where [`write()`] puts images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An OCI image layout directory, the image tagged `tag` in its
    /// `index.json`. An existing layout keeps its other tags; a directory
    /// that exists and is not a layout (nor empty) is an error.
    OciLayout {
        /// The layout directory.
        dir: PathBuf,
        /// The tag (`org.opencontainers.image.ref.name`).
        tag: String,
    },
    /// A docker-archive tarball, replaced if it exists. Holds one image with
    /// gzip layers.
    DockerArchive {
        /// The archive file.
        file: PathBuf,
        /// The image's name, `name:tag` (`name` means `name:latest`).
        reference: String,
    },
}

/// What [`write()`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Digest of what the tag points at: the manifest of a single image, or
    /// the image index of a multi-platform one.
    pub digest: String,
    /// Size of that manifest or index.
    pub size: u64,
    /// Its media type (an OCI manifest or index).
    pub media_type: String,
    /// Each platform's manifest descriptor (with [`Descriptor::platform`]),
    /// in the order the images were given.
    pub manifests: Vec<Descriptor>,
}

/// Writes `images`, one per platform, to `target`, and returns the digest the
/// tag points at.
///
/// One image is tagged directly. Several images (an OCI layout only) are
/// listed in an image index carrying `index_annotations`, and the tag points
/// at that index; `index_annotations` is unused for a single image.
///
/// # Errors
///
/// - [`Error::NoImages`], [`Error::DuplicatePlatform`],
///   [`Error::UnknownArchitecture`], [`Error::HistoryMismatch`] and
///   [`Error::InvalidReference`] for bad input, before anything is written;
/// - [`Error::Oci`] when the layout directory holds something else, or a
///   blob is not the size its descriptor says;
/// - [`Error::DockerArchiveNeedsGzip`] and [`Error::DockerArchiveOneImage`]
///   for what a docker-archive can't hold;
/// - [`Error::Io`] and [`Error::Oci`] when reading layers or writing
///   fails.
pub fn write(
    target: &Target,
    images: &[ImageSpec],
    index_annotations: &BTreeMap<String, String>,
) -> Result<Written, Error> {
    if images.is_empty() {
        return Err(Error::NoImages);
    }
    let built = images
        .iter()
        .map(image::BuiltImage::new)
        .collect::<Result<Vec<_>, _>>()?;
    for (i, image) in built.iter().enumerate() {
        if built[..i]
            .iter()
            .any(|other| other.platform == image.platform)
        {
            return Err(Error::DuplicatePlatform(image.platform.to_string()));
        }
    }
    match target {
        Target::OciLayout { dir, tag } => layout::write_layout(dir, tag, &built, index_annotations),
        Target::DockerArchive { file, reference } => match (built.as_slice(), images) {
            ([image], [spec]) => docker::write_docker_archive(file, reference, image, spec.created),
            _ => Err(Error::DockerArchiveOneImage(built.len())),
        },
    }
}

/// An error writing an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file system operation failed.
    #[error("failed to {action} `{}`: {source}", path.display())]
    Io {
        /// What was being done (`read`, `create directory`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A document could not be serialized.
    #[error("failed to serialize the {what}: {source}")]
    Serialize {
        /// Which document.
        what: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
    /// A Debian architecture has no OCI platform.
    #[error("Debian architecture `{0}` has no OCI platform")]
    UnknownArchitecture(String),
    /// Two images for the same platform.
    #[error("two images for platform `{0}`")]
    DuplicatePlatform(String),
    /// `write` was given no image.
    #[error("no image to write")]
    NoImages,
    /// The history entries with layers don't pair up with the layers.
    #[error(
        "image for `{architecture}` has {layers} layers but {history} history entries with a layer"
    )]
    HistoryMismatch {
        /// The image's Debian architecture.
        architecture: String,
        /// Number of layers.
        layers: usize,
        /// Number of history entries without `empty_layer`.
        history: usize,
    },
    /// A tag or image reference is malformed.
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidReference {
        /// The reference.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the layout, or one of its blobs, failed.
    #[error(transparent)]
    Oci(#[from] bulwark_oci::Error),
    /// A docker-archive was asked to hold a zstd layer.
    #[error("docker-archive needs gzip layers, but layer `{digest}` is `{media_type}`")]
    DockerArchiveNeedsGzip {
        /// The layer's digest.
        digest: String,
        /// The layer's media type.
        media_type: String,
    },
    /// A docker-archive was asked to hold several platforms.
    #[error("a docker-archive holds one image, but {0} platforms were given")]
    DockerArchiveOneImage(usize),
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}
