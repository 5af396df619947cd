//! This crate provides the Debian formats bulwark reads: version ordering
//! (deb-version(7)), control paragraphs (deb822), dependency relations and
//! `.deb` archives.
//!
//! # Brief overview
//!
//! - [`Version`] parses and orders Debian versions exactly like
//!   `dpkg --compare-versions`.
//! - [`control::Paragraph`] is a zero-copy view of one control stanza, as found
//!   in `Packages` indices, `status` files and `DEBIAN/control`.
//! - [`relation`] parses `Depends`-style fields into alternatives with
//!   version constraints and architecture qualifiers.
//! - [`deb::DebArchive`] reads a `.deb`: its control members and a streaming
//!   view of its data tarball.
//! - [`changelog`] reads Debian changelogs and lists the CVE ids named in
//!   the entries between two versions.

pub mod changelog;
pub mod control;
pub mod deb;
pub mod relation;
pub mod version;

pub use control::Paragraph;
pub use version::Version;

/// The Debian architecture of the machine bulwark runs on (`amd64`,
/// `arm64`, …): the default architecture of a build and, as an OCI
/// platform, of what `sbom` and `scan` read.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        other => other,
    }
}
