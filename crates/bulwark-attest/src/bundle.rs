//! Image signatures as Sigstore bundles (v0.3), the shape cosign's new
//! bundle format gives an image signature.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dsse::{dsse_sign, dsse_verify, Envelope, PAYLOAD_TYPE_IN_TOTO};
use crate::key::{SigningKey, VerifyingKey};
use crate::statement::{statement, Subject, PREDICATE_COSIGN_SIGN_V1, STATEMENT_TYPE_V1};
use crate::{Error, VerifyError};

/// A Sigstore bundle holding a DSSE envelope signed with a plain key.
///
/// Only fields of the Sigstore protobuf schema are written (cosign parses
/// bundles strictly). `verificationMaterial.publicKey.hint` is the key ID;
/// `tlogEntries` is empty: bulwark signs offline, nothing is logged in
/// Rekor, and there is no timestamp authority.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    media_type: String,
    verification_material: VerificationMaterial,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dsse_envelope: Option<Envelope>,
    /// Read only to report it as unsupported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_signature: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_key: Option<PublicKeyIdentifier>,
    /// Always written, empty: the record that there is no log entry.
    #[serde(default)]
    tlog_entries: Vec<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct PublicKeyIdentifier {
    #[serde(default)]
    hint: String,
}

impl Bundle {
    /// Wraps a signed envelope; `key_id` becomes the public key hint.
    pub fn from_envelope(envelope: Envelope, key_id: &str) -> Self {
        Self {
            media_type: bulwark_oci::media_type::SIGSTORE_BUNDLE_V03.to_owned(),
            verification_material: VerificationMaterial {
                public_key: Some(PublicKeyIdentifier {
                    hint: key_id.to_owned(),
                }),
                tlog_entries: Vec::new(),
            },
            dsse_envelope: Some(envelope),
            message_signature: None,
        }
    }

    /// The bundle's DSSE envelope, if it holds one.
    pub fn envelope(&self) -> Option<&Envelope> {
        self.dsse_envelope.as_ref()
    }

    /// Serializes to compact JSON (the `.sigstore.json` form).
    pub fn to_json(&self) -> Vec<u8> {
        // Strings, byte arrays and JSON values only: can't fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        let bundle: Self = serde_json::from_slice(bytes)
            .map_err(|err| VerifyError::Malformed(format!("not a Sigstore bundle: {err}")))?;
        if !bundle
            .media_type
            .starts_with("application/vnd.dev.sigstore.bundle")
        {
            return Err(VerifyError::Malformed(format!(
                "media type `{}` is not a Sigstore bundle's",
                bundle.media_type
            )));
        }
        Ok(bundle)
    }
}

/// Signs an image manifest digest (`sha256:<hex>`): an in-toto Statement v1
/// with predicate type [`PREDICATE_COSIGN_SIGN_V1`], the manifest as its
/// subject (named `reference`, when not empty) and an empty predicate, in a
/// DSSE envelope, in a Sigstore bundle.
pub fn sign_manifest(
    manifest_digest: &str,
    reference: &str,
    key: &SigningKey,
) -> Result<Bundle, Error> {
    let hex = bulwark_oci::sha256_hex(manifest_digest)
        .ok_or_else(|| Error::InvalidDigest(manifest_digest.to_owned()))?;
    let statement = statement(
        &[Subject::new(reference, hex)],
        PREDICATE_COSIGN_SIGN_V1,
        Value::Object(serde_json::Map::new()),
    );
    let payload = serde_json::to_vec(&statement).unwrap_or_default();
    let envelope = dsse_sign(PAYLOAD_TYPE_IN_TOTO, &payload, key);
    Ok(Bundle::from_envelope(envelope, &key.key_id()))
}

/// Verifies that `bundle` is `key`'s signature of the manifest with digest
/// `manifest_digest` (`sha256:<hex>`).
///
/// Checks the DSSE signature (see [`crate::dsse_verify`]), then that the
/// payload is an in-toto statement of type [`PREDICATE_COSIGN_SIGN_V1`]
/// whose subjects include the digest.
pub fn verify_manifest_signature(
    bundle: &Bundle,
    manifest_digest: &str,
    key: &VerifyingKey,
) -> Result<(), VerifyError> {
    let expected = bulwark_oci::sha256_hex(manifest_digest).ok_or_else(|| {
        VerifyError::Malformed(format!("`{manifest_digest}` is not a sha256 digest"))
    })?;
    let Some(envelope) = bundle.envelope() else {
        return Err(if bundle.message_signature.is_some() {
            VerifyError::Malformed(
                "the bundle holds a message signature; bulwark verifies DSSE image signatures"
                    .to_owned(),
            )
        } else {
            VerifyError::Missing
        });
    };
    let payload = dsse_verify(envelope, key)?;
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(VerifyError::Malformed(format!(
            "signed payload type is `{}`, not `{PAYLOAD_TYPE_IN_TOTO}`",
            envelope.payload_type
        )));
    }
    let statement: Value = serde_json::from_slice(&payload)
        .map_err(|err| VerifyError::Malformed(format!("signed statement is not JSON: {err}")))?;
    let field = |name: &str| statement.get(name).and_then(Value::as_str).unwrap_or("");
    if field("_type") != STATEMENT_TYPE_V1 {
        return Err(VerifyError::Malformed(format!(
            "signed statement type is `{}`, not `{STATEMENT_TYPE_V1}`",
            field("_type")
        )));
    }
    if field("predicateType") != PREDICATE_COSIGN_SIGN_V1 {
        return Err(VerifyError::Malformed(format!(
            "signed predicate type is `{}`, not `{PREDICATE_COSIGN_SIGN_V1}`",
            field("predicateType")
        )));
    }
    let signed: Vec<&str> = statement
        .get("subject")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.pointer("/digest/sha256").and_then(Value::as_str))
        .collect();
    if signed.iter().any(|hex| hex.eq_ignore_ascii_case(expected)) {
        Ok(())
    } else {
        Err(VerifyError::DigestMismatch {
            expected: manifest_digest.to_owned(),
            actual: signed
                .iter()
                .map(|hex| format!("sha256:{hex}"))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}
