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

pub mod control;
pub mod deb;
pub mod relation;
pub mod version;

pub use control::Paragraph;
pub use version::Version;
