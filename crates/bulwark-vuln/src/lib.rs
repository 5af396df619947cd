//! This crate provides bulwark's vulnerability database and the scanning of
//! installed Debian packages against it, with Debian's own semantics.
//!
//! # Brief overview
//!
//! [`Database::import`] reads OSV JSON (a directory, OSV's flat `all.zip`,
//! the nested `CVE/<year>/…` snapshot layout, a tar) and Debian Security
//! Tracker JSON into one model keyed by (release, source package,
//! vulnerability): an [`Entry`] with a [`Status`], the fixed version,
//! Debian's urgency, no-DSA notes and the advisories that fix it; details
//! per vulnerability live in [`Vulnerability`]. Records that alias each
//! other (`DEBIAN-CVE-…` and `CVE-…`, an advisory and the CVEs it lists)
//! are merged. [`Database::save`] writes a compact versioned file atomically
//! ([`Database::replace`] refuses to replace a database with a much smaller
//! one) and [`Database::open`] loads it lazily, a block at a time.
//! [`Database::update`] downloads a feed through a [`bulwark_http::Client`]
//! first (see [`UpdateOptions`]). Inputs are read with bounded memory:
//! [`JSON_LIMIT`], [`MEMBER_LIMIT`], [`ARCHIVE_LIMIT`].
//!
//! [`scan`] matches installed packages by **source** package name and
//! **source** version against the entries of the image's release, and
//! returns a [`Report`] grouped by package, rendered by [`render_table`],
//! [`to_json`], [`to_sarif`] and [`to_openvex`]. OpenVEX statements
//! ([`read_openvex`]) suppress findings. [`packages_from_purls`] and
//! [`packages_from_sbom`] turn an SBOM's package URLs into packages.
//!
//! See `docs/scan-report.md` for the JSON report's schema and the matching
//! rules.

mod archive;
mod cvss;
mod db;
mod import;
mod model;
mod output;
mod purl;
mod scan;
mod vex;

use std::path::PathBuf;

pub use cvss::{base_score as cvss_v3_base_score, CvssV3};
pub use db::{
    default_path, Database, DbInfo, ReleaseCounts, UpdateOptions, DEFAULT_MAX_DOWNLOAD,
    FORMAT_VERSION, STALE_AFTER_DAYS,
};
pub use import::{ImportStats, SourceInfo};
pub use import::{ARCHIVE_LIMIT, JSON_LIMIT, MEMBER_LIMIT};
pub use model::{
    release_codename, release_key, AffectedRange, Entry, ParseSeverityError, RangeEnd, Severity,
    Status, Vulnerability,
};
pub use output::{render_table, to_json, to_openvex, to_sarif};
pub use purl::{os_from_purls, packages_from_purls, packages_from_sbom};
pub use scan::{
    package_origin, scan, DatabaseSummary, Finding, Origin, PackageFindings, Report, ScanOptions,
    SkippedPackage, Summary, Suppressed, TargetInfo,
};
pub use vex::{parse_openvex, read_openvex, VexProduct, VexStatement};

/// Which packages came from a repository whose Release says `Origin:
/// Debian`, as a bulwark build records it in the image manifest annotation
/// `dev.bulwark.origins` (`annotations`); empty for other images, where
/// [`package_origin`]'s Maintainer rule decides. For
/// [`ScanOptions::debian_origin`].
pub fn debian_origin(
    annotations: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, bool> {
    annotations
        .get("dev.bulwark.origins")
        .and_then(|v| serde_json::from_str::<std::collections::BTreeMap<String, String>>(v).ok())
        .map(|m| m.into_iter().map(|(k, v)| (k, v == "Debian")).collect())
        .unwrap_or_default()
}

/// An error of this crate; each names the file, URL or package involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A zip archive could not be read (truncated, corrupt).
    #[error("`{path}` is not a readable zip archive: {source}")]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The cause.
        source: zip::result::ZipError,
    },
    /// A member of a zip archive could not be decompressed.
    #[error("`{path}`: cannot read member `{member}`: {source}")]
    ZipMember {
        /// The archive.
        path: PathBuf,
        /// The member's name.
        member: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A tar archive could not be read.
    #[error("`{path}` is not a readable tar archive: {source}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON input is not valid JSON.
    #[error("`{path}` is not valid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// An input is of no format the importer knows.
    #[error(
        "`{path}` is neither OSV JSON, a zip or tar of OSV JSON, nor Debian Security Tracker JSON"
    )]
    UnknownInput {
        /// The file.
        path: PathBuf,
    },
    /// There is no database file.
    #[error("no vulnerability database at `{path}`")]
    NoDatabase {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The database file is damaged.
    #[error("`{path}` is not a valid bulwark vulnerability database: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The database file has another format version.
    #[error(
        "`{path}` has database format {found} but this bulwark reads format {expected}: \
         it must be made again"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// A download failed (the error names the URL, credentials redacted).
    #[error(transparent)]
    Http(#[from] bulwark_http::Error),
    /// A feed URL is plain `http://` to another host than this machine.
    #[error(
        "`{url}`: a feed is not downloaded over plain http from another host than this \
         machine, since anyone on the way could change it"
    )]
    Insecure {
        /// The URL, credentials redacted.
        url: String,
    },
    /// A download does not have the checksum it must have.
    #[error("`{url}`: the download's {what} is `{actual}`, not the expected `{expected}`")]
    Checksum {
        /// The URL, credentials redacted.
        url: String,
        /// Which checksum: `SHA-256` or `MD5 (X-Goog-Hash)`.
        what: &'static str,
        /// What it must be.
        expected: String,
        /// What it is.
        actual: String,
    },
    /// An import would replace a database with a much smaller one.
    #[error(
        "the import has {has} vulnerabilities, fewer than half of the {had} in `{path}`, \
         which is left as it was"
    )]
    Shrink {
        /// The database.
        path: PathBuf,
        /// Vulnerabilities it holds.
        had: usize,
        /// Vulnerabilities of the import.
        has: usize,
    },
    /// An input holds no record that could be read.
    #[error("`{path}` holds no vulnerability records that can be read ({malformed} malformed)")]
    NoRecords {
        /// The input as given (a URL with credentials redacted).
        path: PathBuf,
        /// Malformed records it holds.
        malformed: usize,
    },
    /// An import gives no entry for any Debian release.
    #[error("none of the {records} records of the import is about a Debian release")]
    NothingUsable {
        /// Records read.
        records: usize,
    },
    /// An input, or a member of an archive, is larger than bulwark reads.
    #[error("`{path}`: {what} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The input.
        path: PathBuf,
        /// What is too large: `the file`, `member `NAME``…
        what: String,
        /// The limit.
        limit: u64,
    },
    /// A downloaded feed is not usable, or the URL cannot be downloaded.
    #[error("`{url}`: {reason}")]
    Feed {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// No default database path can be derived.
    #[error("cannot find a default database path: neither `XDG_CACHE_HOME` nor `HOME` is set")]
    NoDefaultPath,
    /// A VEX document is not usable.
    #[error("VEX document `{path}`: {reason}")]
    Vex {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An SBOM is not usable.
    #[error("SBOM `{path}`: {reason}")]
    Sbom {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
