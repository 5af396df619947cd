//! This crate provides read access to container images and root
//! filesystems, and to the Debian packages installed in them.
//!
//! # Brief overview
//!
//! [`parse_target`] reads an image reference in skopeo's transport style
//! (`oci:DIR[:TAG]`, `docker-archive:FILE`, `rootfs:DIR`, or a bare path whose
//! kind is detected), a [`bulwark_oci::ImageRef`]. [`open`] resolves it to
//! one [`Contents`] per platform:
//! the packages the dpkg database lists ([`InstalledPackage`]), the
//! operating system from `os-release` ([`OsRelease`]), the manifest digest,
//! and a way to read any file of the merged filesystem ([`FileSource`]).
//!
//! Images are never extracted to disk. Every layer is streamed once (layers
//! in parallel), its digest checked as it is read, and its tar headers
//! merged in order with OCI whiteout semantics into an in-memory index.
//! The small files that SBOMs and scans need (the dpkg database,
//! `os-release`, `/usr/share/doc/*/copyright`) are kept in memory; any
//! other file is read again from its layer when asked for.

mod blobs;
mod dpkg;
mod fs;
mod layers;
mod oci;
mod osrelease;
mod target;
mod types;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bulwark_oci::{ImageRef, ImageStore, Layout, Platform};

pub use dpkg::{MAX_DATABASE, MAX_FILE_LIST, MAX_PACKAGES, MAX_STANZA, MAX_STATUS};
pub use layers::MAX_ENTRIES;
pub use target::parse_target;
pub use types::{Contents, FileKind, FileMeta, FileSource, InstalledPackage, OsRelease};

use crate::fs::Tree;

/// An error reading a target.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading OCI content failed: a malformed reference, a missing or
    /// altered blob, a tag that is not there.
    #[error(transparent)]
    Oci(#[from] bulwark_oci::Error),
    /// The reference names something that is not an image.
    #[error("`{target}` is {what}, not an image or a root filesystem")]
    NotAnImage {
        /// The reference.
        target: String,
        /// What it is.
        what: &'static str,
    },
    /// A bare path that does not exist.
    #[error("target `{target}` does not exist")]
    TargetNotFound {
        /// The reference.
        target: String,
    },
    /// A bare path that is none of the known kinds.
    #[error("cannot tell what `{}` is: expected an OCI layout (with `oci-layout`), a docker-archive (a tar with `manifest.json`) or a root filesystem (with `etc/`, `usr/` or `var/lib/dpkg/`)", .path.display())]
    Undetected {
        /// The path.
        path: PathBuf,
    },
    /// An I/O error on a file.
    #[error("failed to read `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// An I/O or format error while reading a blob.
    #[error("failed to read blob `{blob}`: {source}")]
    Blob {
        /// The blob, as a path.
        blob: String,
        /// The cause.
        source: io::Error,
    },
    /// The image is not what it should be.
    #[error("`{image}`: {reason}")]
    BadImage {
        /// The target.
        image: String,
        /// What is wrong.
        reason: String,
    },
    /// An image index has no image for the platform.
    #[error("`{image}` has no image for platform `{platform}` (available: {available})")]
    NoPlatform {
        /// The target.
        image: String,
        /// The platform asked for.
        platform: String,
        /// The platforms there are.
        available: String,
    },
    /// A platform that cannot be parsed.
    #[error(
        "invalid platform `{platform}`: expected OS/ARCH[/VARIANT] or ARCH, e.g. `linux/amd64`"
    )]
    BadPlatform {
        /// The platform.
        platform: String,
    },
    /// A malformed dpkg database file.
    #[error("malformed dpkg database `{path}` at line {line}: {reason}")]
    Dpkg {
        /// The file, as an absolute path inside the image.
        path: String,
        /// The 1-based line of the stanza or the bad line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Opens a target and reads what it holds, one [`Contents`] per image.
///
/// For an OCI layout, the tag (or, without one, the layout's only image)
/// is resolved through `index.json`. When it leads to an image index,
/// `platform` (`linux/amd64`, `amd64`, `linux/arm64/v8`, `aarch64`…) selects
/// one of its images, and an error lists the platforms there are when none
/// matches; `None` returns every image of the index, in index order, so
/// the caller decides (`sbom` and `scan` pass the host's platform, `verify`
/// passes `None`). A single image manifest, a docker-archive and a root
/// filesystem have one image, returned whatever `platform` says; its
/// [`Contents::platform`] tells which it is.
///
/// Every blob is checked against its digest as it is read (layers against
/// the digest of their descriptor, or the config's diff IDs for a classic
/// docker-archive); a mismatch is [`Error::DigestMismatch`] naming the
/// blob. Layers may be gzip, zstd or uncompressed.
pub fn open(target: &ImageRef, platform: Option<&str>) -> Result<Vec<Contents>, Error> {
    open_with(target, platform, None)
}

/// Opens the image `tag` names in `store` (or its only image), as [`open`]
/// does for an OCI layout: `store` may be any [`ImageStore`] (a layout, a
/// registry). `label` names the image in errors and in
/// [`Contents::target`]; `kind` is [`Contents::kind`] (`oci`, `docker`).
/// With a `cache`, what each layer holds is kept there, as by
/// [`open_cached`].
pub fn open_store(
    store: Arc<dyn ImageStore>,
    label: &str,
    kind: &'static str,
    tag: Option<&str>,
    platform: Option<&str>,
    cache: Option<&dyn LayerCache>,
) -> Result<Vec<Contents>, Error> {
    let platform = parse_platform(platform)?;
    let layers: Arc<dyn blobs::LayerSource> = Arc::new(blobs::StoreLayers(Arc::clone(&store)));
    oci::open_store(store, layers, label, kind, tag, platform.as_ref(), cache)
}

fn parse_platform(platform: Option<&str>) -> Result<Option<Platform>, Error> {
    platform
        .map(|p| {
            Platform::parse(p).ok_or_else(|| Error::BadPlatform {
                platform: p.to_owned(),
            })
        })
        .transpose()
}

/// A store for what reading one layer found, so that a layer already read
/// is not decompressed again: keys name the layer by its digest, values are
/// opaque bytes. [`open_cached`] uses it; implementations should keep
/// values safe from corruption (bulwark's keeps them in its
/// content-addressed cache, verified on every read).
pub trait LayerCache: Send + Sync {
    /// The value stored under `key`, if any.
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores `value` under `key`; failing to is not an error.
    fn put(&self, key: &str, value: &[u8]);
    /// Whether the caller itself checked, moments ago, that the layer blob
    /// `sha256:HEX` holds what its digest says (a build reading back the
    /// layers it has just written and hashed), so that a cached layer need
    /// not be hashed a second time. Every other layer is hashed.
    fn known_good(&self, _digest: &str) -> bool {
        false
    }
}

/// [`open`], keeping what each layer holds in `cache`, keyed by the layer's
/// digest. A layer found there is still checked against its digest (its
/// blob is hashed, not decompressed), so a changed blob is caught as
/// before. Only layers whose descriptor names the stored blob's digest
/// (OCI layouts, OCI docker-archives) are cached.
pub fn open_cached(
    target: &ImageRef,
    platform: Option<&str>,
    cache: &dyn LayerCache,
) -> Result<Vec<Contents>, Error> {
    open_with(target, platform, Some(cache))
}

fn open_with(
    target: &ImageRef,
    platform: Option<&str>,
    cache: Option<&dyn LayerCache>,
) -> Result<Vec<Contents>, Error> {
    if let ImageRef::Path(path) = target {
        let (target, _) = parse_target(&path.to_string_lossy())?;
        return open_with(&target, platform, cache);
    }
    let platform = parse_platform(platform)?;
    let label = target.to_string();
    match target {
        ImageRef::Oci { dir, tag } => {
            if !dir.is_dir() {
                return Err(Error::TargetNotFound { target: label });
            }
            let store: Arc<dyn ImageStore> = Arc::new(Layout::open(dir)?);
            let layers: Arc<dyn blobs::LayerSource> =
                Arc::new(blobs::StoreLayers(Arc::clone(&store)));
            oci::open_store(
                store,
                layers,
                &label,
                "oci",
                tag.as_deref(),
                platform.as_ref(),
                cache,
            )
        }
        ImageRef::DockerArchive { file } => {
            if !file.is_file() {
                return Err(Error::TargetNotFound { target: label });
            }
            let archive = Arc::new(blobs::ArchiveBlobs::open_archive(file)?);
            oci::open_docker_archive(archive, &label, platform.as_ref(), cache)
        }
        ImageRef::Rootfs { dir } => {
            if !dir.is_dir() {
                return Err(Error::TargetNotFound { target: label });
            }
            let fs = fs::RootfsFs::new(dir);
            let (packages, os) = inspect(&fs)?;
            Ok(vec![Contents {
                target: label,
                kind: "rootfs",
                manifest_digest: None,
                config_digest: None,
                platform: None,
                config: None,
                annotations: Default::default(),
                packages,
                os,
                files: Box::new(fs),
            }])
        }
        ImageRef::Sbom { .. } => Err(Error::NotAnImage {
            target: label,
            what: "an SBOM",
        }),
        // The caller reaches the registry (credentials, TLS) and passes
        // its store to `open_store`.
        ImageRef::Registry(_) => Err(Error::NotAnImage {
            target: label,
            what: "an image in a registry, which is read through `open_store`",
        }),
        // Detected above; a path that stays one is none of the kinds.
        ImageRef::Path(path) => Err(Error::Undetected { path: path.clone() }),
    }
}

/// The largest `os-release` read.
pub const MAX_OS_RELEASE: u64 = 64 << 10;

/// Reads the dpkg database and os-release of a tree.
fn inspect(tree: &dyn Tree) -> Result<(Vec<InstalledPackage>, Option<OsRelease>), Error> {
    let packages = dpkg::read_packages(tree)?;
    let mut os = None;
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        let bytes = fs::read_limited(tree, path, MAX_OS_RELEASE).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        if let Some(bytes) = bytes {
            os = Some(osrelease::parse(&String::from_utf8_lossy(&bytes)));
            break;
        }
    }
    Ok((packages, os))
}
