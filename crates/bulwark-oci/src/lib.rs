//! This crate provides bulwark's OCI vocabulary, in one place for every
//! command that reads, writes or verifies images: descriptors, manifests,
//! indexes, media types and annotation names; image references and the tag
//! rule; a digest-checked blob store with the OCI image layout as its first
//! implementation; staged publishing into a layout; OCI 1.1 referrers; and
//! atomic file writes.
//!
//! # Brief overview
//!
//! - Documents: [`Descriptor`], [`Platform`], [`Manifest`], [`Index`],
//!   [`ImageConfig`], serialized reproducibly by [`to_json`]; names in
//!   [`media_type`] and [`annotation`].
//! - References: [`ImageRef::parse`] reads `oci:DIR[:TAG]`,
//!   `docker-archive:FILE`, `rootfs:DIR`, `sbom:FILE` and
//!   `docker://HOST/REPO[:TAG|@DIGEST]`; [`check_tag`] is the one tag rule.
//! - Stores: a [`BlobStore`] serves blobs by digest and an [`ImageStore`]
//!   also resolves tags and lists referrers. [`read_blob`] and
//!   [`VerifiedReader`] check every byte against the descriptor's digest
//!   and size. [`Layout`] is an OCI image layout.
//! - Publishing: [`Staging`] is a layout beside the output that only this
//!   process writes; [`publish`] moves it in with one `index.json` write.
//! - Referrers: [`Layout::attach`] writes OCI 1.1 artifact manifests with a
//!   `subject` and the `sha256-<hex>` referrers index; [`read_referrers`]
//!   finds them again in any [`ImageStore`].
//! - Files: [`write_atomic`], [`AtomicFile`] and [`open_regular`].

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub mod annotation;
mod atomic;
mod descriptor;
mod digest;
mod document;
mod layout;
pub mod media_type;
mod publish;
mod reference;
mod referrers;
mod store;
mod time;

pub use atomic::{copy_atomic, remove_stale_temporaries, write_atomic, AtomicFile, TEMP_PREFIX};
pub use descriptor::{Descriptor, Platform};
pub use digest::{sha256_digest, sha256_hex, HashingReader, HashingWriter};
pub use document::{
    to_json, ArchiveEntry, EmptyObject, HistoryEntry, ImageConfig, Index, LayoutFile, Manifest,
    RootFs, RunConfig,
};
pub use layout::Layout;
pub use publish::{check_destination, publish, Staging};
pub use reference::{check_repository, check_tag, ImageRef, RegistryRef, DOCKER_HUB};
pub use referrers::{
    is_referrers_tag, read_referrers, referrers_tag, Artifact, Referrer, Referrers,
};
pub use store::{read_blob, read_json, BlobStore, ImageStore, VerifiedReader, MAX_DOCUMENT};
pub use time::rfc3339;

/// An error reading or writing OCI content.
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
    /// A path that must be a regular file is a directory, a device, a FIFO
    /// or a socket.
    #[error("`{}` is not a regular file ({})", .0.display(), .1)]
    NotAFile(PathBuf, &'static str),
    /// The directory is not an OCI image layout (nor empty, where a new
    /// one may be made).
    #[error("`{}` is not an OCI image layout (no `oci-layout` file)", .0.display())]
    NotALayout(PathBuf),
    /// A layout of a version other than 1.x.
    #[error("`{}` has unsupported imageLayoutVersion `{version}`", path.display())]
    UnsupportedLayoutVersion {
        /// The `oci-layout` file.
        path: PathBuf,
        /// The version found.
        version: String,
    },
    /// A document is not valid JSON of the expected shape.
    #[error("malformed JSON in `{what}`: {source}")]
    InvalidJson {
        /// The file or blob.
        what: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A document could not be serialized.
    #[error("failed to serialize the {what}: {source}")]
    Serialize {
        /// Which document.
        what: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
    /// Not `sha256:` and 64 lowercase hex digits.
    #[error("`{0}` is not a sha256 digest (`sha256:` and 64 lowercase hex digits)")]
    InvalidDigest(String),
    /// A malformed image reference or tag.
    #[error("invalid image reference `{reference}`: {reason}")]
    InvalidReference {
        /// The reference.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// A transport bulwark does not read or write.
    #[error(
        "`{reference}`: transport `{transport}:` is not supported{}; use `oci:DIR[:TAG]`, `docker-archive:FILE` or `rootfs:DIR`",
        if *.known { " by bulwark" } else { "" }
    )]
    UnsupportedTransport {
        /// The reference.
        reference: String,
        /// The transport, without its `:`.
        transport: String,
        /// Whether skopeo knows it (a daemon, a storage driver…).
        known: bool,
    },
    /// A blob's path is not a regular file (a symlink to a device, a FIFO,
    /// a directory): it cannot hold the content its digest names.
    #[error("blob `{digest}` in `{location}` is {kind}, not a regular file")]
    BlobNotAFile {
        /// The blob's digest.
        digest: String,
        /// The layout.
        location: String,
        /// What the path is.
        kind: &'static str,
    },
    /// A file read whole is larger than bulwark reads of such a file.
    #[error("`{}` is larger than the {limit} bytes bulwark reads of such a file", .path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A blob a document names is not there.
    #[error("blob `{digest}` is missing from `{location}`")]
    BlobMissing {
        /// The blob's digest (or, in a classic docker-archive, its name).
        digest: String,
        /// Where it should be: the layout, the archive, the repository.
        location: String,
    },
    /// A blob's content does not match the digest that names it.
    #[error("blob `{blob}` does not match its digest: expected `{expected}`, found `{actual}`")]
    DigestMismatch {
        /// The blob.
        blob: String,
        /// The digest it is named by.
        expected: String,
        /// The digest of its content.
        actual: String,
    },
    /// A blob's size differs from its descriptor's.
    #[error("blob `{blob}` is not the size its descriptor gives: expected {expected} bytes, found {actual}")]
    SizeMismatch {
        /// The blob.
        blob: String,
        /// The descriptor's size.
        expected: u64,
        /// The size found (at least this much, when reading stopped early).
        actual: u64,
    },
    /// A document is larger than bulwark reads into memory.
    #[error("blob `{blob}` is larger than the {limit} bytes bulwark reads of such a document")]
    TooLarge {
        /// The blob.
        blob: String,
        /// The limit.
        limit: u64,
    },
    /// No image carries the tag.
    #[error("`{location}` has no image tagged `{tag}` (tags: {available})")]
    TagNotFound {
        /// The layout or repository.
        location: String,
        /// The tag asked for.
        tag: String,
        /// The tags there are.
        available: String,
    },
    /// Several entries carry the tag.
    #[error("`{location}`: `index.json` tags several images `{tag}`")]
    DuplicateTag {
        /// The layout.
        location: String,
        /// The tag.
        tag: String,
    },
    /// The layout holds several images and no tag chose one.
    #[error(
        "`{location}` holds several images (tags: {available}); choose one with `oci:DIR:TAG`"
    )]
    AmbiguousImage {
        /// The layout.
        location: String,
        /// The tags there are.
        available: String,
    },
    /// The layout holds no image.
    #[error("`{location}`: `index.json` lists no image")]
    NoImage {
        /// The layout.
        location: String,
    },
    /// An artifact manifest is not of the expected shape.
    #[error("artifact manifest `{digest}` is not usable: {reason}")]
    InvalidArtifact {
        /// The manifest's digest.
        digest: String,
        /// Why.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// Whether this is a blob whose content or size differs from what names
    /// it: the content was changed.
    pub fn is_mismatch(&self) -> bool {
        matches!(
            self,
            Self::DigestMismatch { .. } | Self::SizeMismatch { .. } | Self::BlobNotAFile { .. }
        )
    }

    /// The [`Error`] an I/O error of a [`VerifiedReader`] carries, if any.
    pub fn from_io(err: &io::Error) -> Option<&Error> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
    }
}

/// Opens `path` for reading, refusing anything but a regular file (after
/// following symlinks): reading a FIFO, a device such as `/dev/zero` or a
/// directory would block, never end, or fail obscurely. The check is made
/// on the opened file, so a path swapped after a check cannot slip through,
/// and the open itself does not block on a FIFO.
pub fn open_regular(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::OpenOptionsExt as _;
    // Checked before opening too: opening a device can have effects.
    let before = std::fs::metadata(path).map_err(|source| Error::io("open", path, source))?;
    if !before.is_file() {
        return Err(Error::NotAFile(
            path.to_owned(),
            file_kind(&before.file_type()),
        ));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|source| Error::io("open", path, source))?;
    let meta = file
        .metadata()
        .map_err(|source| Error::io("read", path, source))?;
    if !meta.is_file() {
        return Err(Error::NotAFile(
            path.to_owned(),
            file_kind(&meta.file_type()),
        ));
    }
    Ok(file)
}

/// Reads the regular file at `path` whole (see [`open_regular`]),
/// refusing one larger than `limit` bytes without reading it, and one
/// that grows past `limit` while it is read.
pub fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let file = open_regular(path)?;
    let len = file
        .metadata()
        .map_err(|source| Error::io("read", path, source))?
        .len();
    let too_large = || Error::FileTooLarge {
        path: path.to_owned(),
        limit,
    };
    if len > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| Error::io("read", path, source))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// What a file that is not a regular file is, as a message says it.
pub fn file_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if kind.is_file() {
        "a regular file"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}
