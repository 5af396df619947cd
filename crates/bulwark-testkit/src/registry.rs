//! OCI distribution test servers on 127.0.0.1, for registry clients.
//!
//! - [`DockerRegistry`] runs the real Debian `docker-registry` (distribution
//!   2.8) in a temporary directory: anonymous or with HTTP Basic
//!   (`htpasswd`, bcrypt), plain HTTP or HTTPS with a self-signed
//!   certificate ([`DockerRegistry::ca_cert`]), and restartable on the same
//!   port, storage and secret, so an interrupted upload can resume.
//! - [`Front`] is a small HTTP/1.1 server forwarding to such a registry that
//!   logs every request ([`Front::requests`]), injects faults once each
//!   ([`Front::inject`], [`Fault`]), and optionally adds a bearer token
//!   service ([`FrontOptions::bearer`]) and the OCI 1.1 referrers API
//!   ([`FrontOptions::referrers_api`]), which `docker-registry` 2.8 lacks.
//!
//! ```no_run
//! use bulwark_testkit::registry::{DockerRegistry, Fault, Front, FrontOptions};
//!
//! let registry = DockerRegistry::start();
//! let front = Front::start(
//!     &registry.host(),
//!     FrontOptions { bearer: Some(("user".into(), "pass".into())), referrers_api: true },
//! );
//! front.inject("PATCH", "/blobs/uploads/", Fault::CutAfter { body_bytes: 1024 });
//! let base = format!("{}/v2/", front.url());
//! # let _ = base;
//! ```

mod docker;
mod front;
mod http;

pub use docker::{DockerRegistry, RegistryOptions};
pub use front::{Fault, Front, FrontOptions, LoggedRequest, TOKEN_SERVICE};
