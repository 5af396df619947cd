//! This crate is bulwark's registry client: the OCI distribution API over
//! the shared HTTP client, synchronous and byte-exact.
//!
//! # Brief overview
//!
//! - A [`Registry`] is one registry host: how to reach it (`https`, or
//!   plain `http` for loopback hosts that do not speak TLS and hosts named
//!   `insecure`), who to be ([`Credentials`] given by the caller, else the
//!   Docker config file's credential helpers and `auths`), the bearer-token
//!   flow its `WWW-Authenticate` challenges ask for, and the retry policy
//!   for `429` and `5xx` answers (`Retry-After` honoured up to a cap).
//! - A [`Repository`] is one repository of a registry and the second
//!   [`bulwark_oci::ImageStore`]: the code that reads OCI layouts reads a
//!   registry through it, every manifest and blob checked against its
//!   digest. Its referrers come from the OCI 1.1 referrers API, or the
//!   `sha256-<hex>` tag fallback where the registry has no API.
//! - [`push`] copies an image from an OCI layout to a repository with its
//!   attestations, in an order that never shows a tag without them; [`pull`]
//!   copies one back into a layout, through a staged write. Manifests travel
//!   as their exact bytes, so digests and signatures are unchanged.
//!
//! Credentials never appear in errors: messages name the registry, the
//! repository and what was refused.

pub mod challenge;
mod copy;
mod credentials;
mod error;
mod graph;
mod registry;
mod repository;
#[cfg(test)]
mod tests;
mod upload;

pub use copy::{pull, push, MountRecord, Progress, PullReport, PushReport};
pub use credentials::{from_docker_config, CredentialSource, Credentials, CredentialsError};
pub use error::Error;
pub use registry::{Options, Registry};
pub use repository::Repository;
