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
//! * Storage: [`attach`] writes artifacts into an OCI layout with the image
//!   as their `subject`, plus a referrers index tagged `sha256-<hex>`;
//!   [`publish`] moves a staged layout (an image and its artifacts) into
//!   the output layout with one `index.json` write; [`referrers`] reads
//!   them back, checking every digest.
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
//! # Verification errors and exit codes
//!
//! [`VerifyError::exit_code`] maps each failure to the exit code of
//! `bulwark verify`: 3 for a missing signature, 4 for a bad signature or a
//! wrong key, 5 for a digest mismatch, 2 for malformed input.

use std::io;
use std::path::{Path, PathBuf};

mod bundle;
mod dsse;
mod key;
mod oci;
mod statement;

pub use bundle::{sign_manifest, verify_manifest_signature, Bundle, MEDIA_TYPE_BUNDLE_V03};
pub use dsse::{dsse_sign, dsse_verify, pae, Envelope, Signature, PAYLOAD_TYPE_IN_TOTO};
pub use key::{generate, load_signing_key, write_key_pair, Algorithm, SigningKey, VerifyingKey};
pub use oci::{
    attach, check_destination, publish, referrers, referrers_tag, Artifact, ANNOTATION_ARTIFACT,
    ANNOTATION_BUNDLE_CONTENT, ANNOTATION_BUNDLE_PREDICATE_TYPE, ANNOTATION_PREDICATE_TYPE,
    ARTIFACT_TYPE_CYCLONEDX, ARTIFACT_TYPE_DSSE, ARTIFACT_TYPE_SIGSTORE_BUNDLE, ARTIFACT_TYPE_SPDX,
    MEDIA_TYPE_EMPTY,
};
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
    /// The directory is not an OCI image layout.
    #[error("`{0}` is not an OCI image layout (no `oci-layout` file)")]
    NotALayout(PathBuf),
    /// A blob's content does not match the digest that names it.
    #[error("blob `{path}` does not match its digest: expected `{expected}`, found `{actual}`")]
    BlobMismatch {
        /// The blob file.
        path: PathBuf,
        /// The digest it is named by.
        expected: String,
        /// The digest of its content.
        actual: String,
    },
    /// A JSON file or blob could not be parsed.
    #[error("invalid JSON in `{path}`: {source}")]
    InvalidJson {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// An artifact manifest is not of the expected shape.
    #[error("artifact manifest `{digest}` is not usable: {reason}")]
    InvalidArtifact {
        /// The manifest's digest.
        digest: String,
        /// Why.
        reason: String,
    },
    /// A document could not be serialized.
    #[error("failed to serialize the {what}: {source}")]
    Serialize {
        /// Which document.
        what: &'static str,
        /// The cause.
        source: serde_json::Error,
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

impl VerifyError {
    /// The `bulwark verify` exit code: 3 missing, 4 bad signature or wrong
    /// key, 5 digest mismatch, 2 malformed input.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Missing => 3,
            Self::BadSignature { .. } | Self::WrongKey { .. } => 4,
            Self::DigestMismatch { .. } => 5,
            Self::Malformed(_) => 2,
        }
    }
}
