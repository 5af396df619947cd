//! This crate provides bulwark's supply-chain attestations: signing keys,
//! in-toto statements (SLSA Provenance v1, SBOMs), DSSE envelopes, image
//! signatures as Sigstore bundles, and their storage as OCI 1.1 artifacts
//! beside the image they describe.
//!
//! # Brief overview
//!
//! * Keys: [`generate`] makes a [`SigningKey`] ([`Algorithm::Ed25519`] or
//!   [`Algorithm::P256`]); [`write_key_pair`] stores it as PKCS#8 PEM (mode
//!   0600) plus an SPKI PEM public key; [`load_signing_key`] reads one from a
//!   file or `env://VAR`. A key is named by its [key ID](SigningKey::key_id):
//!   the hex SHA-256 of its DER `SubjectPublicKeyInfo`.
//! * Statements: [`provenance_statement`] and [`sbom_statement`] build
//!   in-toto Statement v1 documents as [`serde_json::Value`]s.
//! * DSSE: [`dsse_sign`] wraps a payload in an [`Envelope`] signed over the
//!   DSSE v1 [pre-authentication encoding](pae); [`dsse_verify`] checks it.
//! * Image signatures: [`sign_manifest`] signs a manifest digest into a
//!   Sigstore [`Bundle`]; [`verify_manifest_signature`] checks one.
//! * Artifacts: [`dsse_artifact`] and [`bundle_artifact`] wrap envelopes
//!   and bundles as OCI 1.1 artifacts, annotated as cosign annotates them,
//!   for `bulwark_oci::Layout::attach`.
//!
//! Both algorithms sign deterministically (Ed25519 by design, ECDSA with
//! RFC 6979 nonces), so the same key and document give the same bytes.
//!
//! # Image signature format
//!
//! An image signature is the one cosign (v2.4 and later, with the new
//! bundle format; the default from cosign 3) writes: a Sigstore bundle v0.3
//! (`application/vnd.dev.sigstore.bundle.v0.3+json`) whose `dsseEnvelope`
//! holds an in-toto Statement v1 with predicate type
//! `https://sigstore.dev/cosign/sign/v1`, the manifest digest as subject
//! and an empty predicate. The DSSE `keyid` and
//! `verificationMaterial.publicKey.hint` are the key ID. `tlogEntries` is
//! empty: bulwark signs offline, so there is no Rekor entry and no signed
//! timestamp. It is attached as an OCI artifact of that `artifactType`,
//! annotated as cosign annotates it, so
//! `cosign verify --key KEY.pub --new-bundle-format --insecure-ignore-tlog`
//! finds and checks it once the layout is pushed (cosign requires
//! `--insecure-ignore-tlog` because there is no log entry).
//!
//! # Verification errors
//!
//! [`VerifyError`] says why a signature did not verify: missing, bad, by
//! another key, over another digest, or malformed. Callers decide what each
//! means for them (`bulwark verify` maps them to its exit codes).

use std::io;
use std::path::{Path, PathBuf};

mod bundle;
mod dsse;
mod key;
mod statement;

use bulwark_oci::{annotation, media_type, Artifact};

pub use bundle::{sign_manifest, verify_manifest_signature, Bundle};
pub use dsse::{dsse_sign, dsse_verify, pae, Envelope, Signature, PAYLOAD_TYPE_IN_TOTO};
pub use key::{generate, load_signing_key, write_key_pair, Algorithm, SigningKey, VerifyingKey};
pub use statement::{
    provenance_statement, sbom_statement, statement, ProvenanceInput, ResourceDescriptor, Subject,
    BUILD_TYPE, PREDICATE_COSIGN_SIGN_V1, PREDICATE_CYCLONEDX, PREDICATE_SLSA_PROVENANCE_V1,
    PREDICATE_SPDX, STATEMENT_TYPE_V1,
};

/// An error reading or writing keys, or reading or writing an OCI layout.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file operation failed.
    #[error("failed to {action} `{path}`: {source}")]
    Io {
        /// What was being done (`read`, `write`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A key file would be overwritten.
    #[error("`{0}` already exists; refusing to overwrite a key")]
    Exists(PathBuf),
    /// A key could not be read.
    #[error("{what} is not a usable key: {reason}")]
    InvalidKey {
        /// Where the key came from (a path, an environment variable).
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// A key could not be encoded.
    #[error("failed to encode a key: {0}")]
    EncodeKey(String),
    /// `env://VAR` named a variable that can't be read.
    #[error("cannot read a key from environment variable `{var}`: {reason}")]
    KeyEnv {
        /// The variable.
        var: String,
        /// Why.
        reason: &'static str,
    },
    /// An algorithm name other than `ed25519` or `p256`.
    #[error("unknown signing algorithm `{0}` (expected `ed25519` or `p256`)")]
    UnknownAlgorithm(String),
    /// Not a `sha256:<64 hex>` digest.
    #[error("`{0}` is not a sha256 digest (`sha256:` and 64 lowercase hex digits)")]
    InvalidDigest(String),
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// Why a signature or attestation did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// There is no signature.
    #[error("no signature")]
    Missing,
    /// A signature by the expected key does not verify: the signed content
    /// or the signature was changed.
    #[error("the signature by key `{key_id}` does not verify: the signed content or the signature was altered")]
    BadSignature {
        /// The expected key's ID.
        key_id: String,
    },
    /// The signatures are by other keys.
    #[error("signed by key `{found}`, not by the given key `{expected}`")]
    WrongKey {
        /// The given key's ID.
        expected: String,
        /// The key IDs the signatures name.
        found: String,
    },
    /// The signature is valid but is about another digest.
    #[error("the signature is for `{actual}`, not `{expected}`")]
    DigestMismatch {
        /// The digest being verified.
        expected: String,
        /// The digest(s) that were signed.
        actual: String,
    },
    /// The signature or envelope can't be parsed or is of an unexpected
    /// kind.
    #[error("malformed signature: {0}")]
    Malformed(String),
}

/// An in-toto statement of `predicate_type` in a DSSE envelope (JSON), as
/// an artifact of kind `kind` ([`annotation::ARTIFACT`]), annotated with
/// its predicate type.
pub fn dsse_artifact(kind: &str, envelope_json: Vec<u8>, predicate_type: &str) -> Artifact {
    Artifact::new(kind, media_type::DSSE_ENVELOPE, envelope_json)
        .with_annotation(annotation::PREDICATE_TYPE, predicate_type)
}

/// A Sigstore bundle (JSON) holding a DSSE envelope with an in-toto
/// statement of `predicate_type`, as an artifact of kind `kind`, annotated
/// the way cosign annotates bundles.
pub fn bundle_artifact(kind: &str, bundle_json: Vec<u8>, predicate_type: &str) -> Artifact {
    Artifact::new(kind, media_type::SIGSTORE_BUNDLE_V03, bundle_json)
        .with_annotation(annotation::BUNDLE_CONTENT, "dsse-envelope")
        .with_annotation(annotation::BUNDLE_PREDICATE_TYPE, predicate_type)
}
