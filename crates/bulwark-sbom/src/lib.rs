//! This crate provides software bills of materials for Debian- and
//! Ubuntu-based images and root filesystems: SPDX 2.3 JSON and CycloneDX 1.6
//! JSON documents, byte-for-byte deterministic.
//!
//! # Brief overview
//!
//! An [`SbomInput`] names the [`Subject`] (an image manifest or a root
//! filesystem), its operating system, its packages ([`PackageRecord`]) and,
//! optionally, its files ([`FileRecord`]). [`spdx_json`] and
//! [`cyclonedx_json`] turn it into a document; nothing in the output depends
//! on the clock, the host or iteration order: timestamps come from
//! [`SbomInput::created`], identifiers and namespaces from the manifest digest
//! (or, for a root filesystem, from a hash of the package list), and every
//! list is sorted.
//!
//! [`records`] reads the package records of an image from its dpkg database
//! and `/usr/share/doc/PKG/copyright` files; [`file_records`] hashes its files.
//! [`purl`] builds a package URL in the form vulnerability scanners (syft,
//! grype, trivy) read, and [`Purl`] parses and writes any package URL.
//! [`license_from_copyright`] turns a machine-readable `debian/copyright`
//! file into an SPDX license expression.
//!
//! [`Sbom::from_json`] reads an SPDX 2.x or CycloneDX 1.x JSON document (as
//! bulwark, syft or trivy write it) into a typed [`Sbom`]: its subject, its
//! operating system and its packages with their package URLs, checksums,
//! licences and source packages.

mod cyclonedx;
mod ident;
mod license;
mod purl;
mod read;
mod records;
mod spdx;

use bulwark_image::{InstalledPackage, OsRelease};

pub use cyclonedx::cyclonedx_json;
pub use license::{license_from_copyright, License};
pub use purl::{purl, Purl, PurlError};
pub use read::{Format, Licenses, Package, ReadError, Sbom, SourcePackage, MAX_SBOM_BYTES};
pub use records::{file_records, records};
pub use spdx::spdx_json;

/// What an SBOM describes: one image (one platform of it) or one root
/// filesystem.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// The image name or reference, or the root filesystem's path, as the
    /// document's and the top-level component's name.
    pub name: String,
    /// `sha256:…` of the image manifest; `None` for a root filesystem. The
    /// document namespace and serial number derive from it.
    pub manifest_digest: Option<String>,
    /// OCI platform, e.g. `linux/amd64`.
    pub platform: Option<String>,
    /// Who supplies the image, as a plain name (`Example Corp`) or in SPDX
    /// actor form (`Organization: Example Corp (ops@example.com)`); `None`
    /// writes `NOASSERTION`, which NTIA conformance checkers reject.
    pub supplier: Option<String>,
}

/// One package of the subject.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageRecord {
    /// The package as the dpkg database (or the resolver) describes it.
    pub package: InstalledPackage,
    /// Hex SHA-256 of the `.deb` it was installed from, when known.
    pub deb_sha256: Option<String>,
    /// The declared license, from the package's `debian/copyright`.
    pub license: License,
    /// The packages of the same subject this one depends on, each as `NAME`
    /// or `NAME:ARCH`. Entries that name no package of the subject are
    /// ignored.
    pub depends: Vec<String>,
}

/// One regular file of the subject (spec key `sbom-files`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRecord {
    /// Absolute path inside the subject, e.g. `/usr/bin/ls`.
    pub path: String,
    /// Hex SHA-1 of the content (SPDX 2.3 requires it for files).
    pub sha1: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// The packages that own the file, each as `NAME` or `NAME:ARCH`; empty
    /// when no package does.
    pub owners: Vec<String>,
}

/// Everything an SBOM document is made from.
#[derive(Clone, Debug)]
pub struct SbomInput<'a> {
    /// What the document describes.
    pub subject: Subject,
    /// The operating system, from the subject's `os-release`.
    pub os: Option<&'a OsRelease>,
    /// The subject's packages, in any order.
    pub packages: &'a [PackageRecord],
    /// Per-file entries, when requested.
    pub files: Option<&'a [FileRecord]>,
    /// Creation time in seconds since the Unix epoch (from
    /// `SOURCE_DATE_EPOCH`), never the wall clock.
    pub created: u64,
    /// The creating tool as `NAME-VERSION`, e.g. `bulwark-0.1.0`.
    pub tool: &'a str,
}

/// Why an SBOM could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A digest or checksum is not `ALG:HEX` or not hex of the right length.
    #[error("invalid {what} `{value}`: expected {expected}")]
    InvalidDigest {
        /// What carries the digest, e.g. ``the SHA-256 of package `bash` ``.
        what: String,
        /// The offending value.
        value: String,
        /// What was expected instead.
        expected: &'static str,
    },
    /// Two package records have the same name and architecture.
    #[error("package `{name}:{architecture}` is listed twice")]
    DuplicatePackage {
        /// Package name.
        name: String,
        /// Package architecture.
        architecture: String,
    },
    /// Two file records have the same path.
    #[error("file `{0}` is listed twice")]
    DuplicateFile(String),
    /// A file of the subject could not be read.
    #[error("failed to read `{path}` from `{target}`: {source}")]
    Read {
        /// The image or root filesystem.
        target: String,
        /// The file inside it.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A dpkg database entry's control stanza is malformed.
    #[error("malformed dpkg database entry of package `{package}`: {source}")]
    Stanza {
        /// The package.
        package: String,
        /// The cause.
        source: bulwark_deb::control::ControlError,
    },
    /// JSON serialization failed.
    #[error("failed to serialize the SBOM: {0}")]
    Json(#[from] serde_json::Error),
}
