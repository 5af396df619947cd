//! DSSE (Dead Simple Signing Envelope) v1: the envelope, the
//! pre-authentication encoding, signing and verification.

use serde::{Deserialize, Serialize};

use crate::key::{SigningKey, VerifyingKey};
use crate::VerifyError;

/// The DSSE payload type of an in-toto Statement.
pub const PAYLOAD_TYPE_IN_TOTO: &str = bulwark_oci::media_type::IN_TOTO;

/// A DSSE envelope: a payload, its type, and signatures over both.
///
/// Serializes to the DSSE JSON form: `payload` and each `sig` base64
/// (standard alphabet, padded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The signed bytes (an in-toto Statement, for attestations).
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    /// The media type of [`Envelope::payload`]; signed along with it.
    pub payload_type: String,
    /// The signatures. Empty means unsigned.
    pub signatures: Vec<Signature>,
}

/// One signature of an [`Envelope`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signing key's ID (hex SHA-256 of its `SubjectPublicKeyInfo`).
    /// Only a hint: it is not signed.
    #[serde(default)]
    pub keyid: String,
    /// The signature over the [`pae`] of the envelope.
    #[serde(with = "b64")]
    pub sig: Vec<u8>,
}

impl Envelope {
    /// Serializes to compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Only strings and byte arrays: serialization can't fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        serde_json::from_slice(bytes)
            .map_err(|err| VerifyError::Malformed(format!("not a DSSE envelope: {err}")))
    }
}

/// The DSSE v1 pre-authentication encoding of a payload and its type:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload`, lengths as
/// ASCII decimal byte counts. This is what gets signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` into a DSSE envelope with one signature, whose `keyid`
/// is [`SigningKey::key_id`].
pub fn dsse_sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Envelope {
    let sig = key.sign(&pae(payload_type, payload));
    Envelope {
        payload: payload.to_vec(),
        payload_type: payload_type.to_owned(),
        signatures: vec![Signature {
            keyid: key.key_id(),
            sig,
        }],
    }
}

/// Verifies that `key` signed `envelope` and returns the payload.
///
/// Succeeds if any signature verifies with `key` (the `keyid` hint is not
/// required to match). On failure, tells a wrong key from a bad signature:
/// [`VerifyError::WrongKey`] when every signature names another key ID,
/// [`VerifyError::BadSignature`] when one names `key` (or names none) yet
/// does not verify, which means the payload, its type or the signature was
/// altered.
pub fn dsse_verify(envelope: &Envelope, key: &VerifyingKey) -> Result<Vec<u8>, VerifyError> {
    if envelope.signatures.is_empty() {
        return Err(VerifyError::Missing);
    }
    let message = pae(&envelope.payload_type, &envelope.payload);
    let key_id = key.key_id();
    let mut names_key = false;
    for signature in &envelope.signatures {
        if key.verify(&message, &signature.sig) {
            return Ok(envelope.payload.clone());
        }
        names_key |= signature.keyid.is_empty() || signature.keyid == key_id;
    }
    if names_key {
        Err(VerifyError::BadSignature { key_id })
    } else {
        Err(VerifyError::WrongKey {
            expected: key_id,
            found: envelope
                .signatures
                .iter()
                .map(|s| s.keyid.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

/// Serde adapter for base64 (standard, padded) byte strings.
pub(crate) mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        super::decode_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// Decodes base64, standard or URL-safe alphabet, padded or not (the DSSE
/// spec allows either alphabet).
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine as _;
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_spec_example() {
        // The worked example of the DSSE protocol document, computed by hand:
        // "DSSEv1", the type's 29 bytes, the type, the body's 11 bytes, the body.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
        // Lengths are byte counts, not characters.
        assert_eq!(pae("é", b"\xff"), b"DSSEv1 2 \xc3\xa9 1 \xff".to_vec());
    }

    #[test]
    fn json_form() {
        let envelope = Envelope {
            payload: b"hi".to_vec(),
            payload_type: "t".into(),
            signatures: vec![Signature {
                keyid: "k".into(),
                sig: vec![0xfb, 0xff],
            }],
        };
        let json = String::from_utf8(envelope.to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"payload":"aGk=","payloadType":"t","signatures":[{"keyid":"k","sig":"+/8="}]}"#
        );
        assert_eq!(Envelope::from_json(json.as_bytes()).unwrap(), envelope);
        // URL-safe, unpadded base64 is read too.
        let url = r#"{"payload":"aGk","payloadType":"t","signatures":[{"sig":"-_8"}]}"#;
        let parsed = Envelope::from_json(url.as_bytes()).unwrap();
        assert_eq!(parsed.signatures[0].sig, vec![0xfb, 0xff]);
        assert!(matches!(
            Envelope::from_json(b"{\"payload\":\"!!\"}"),
            Err(VerifyError::Malformed(_))
        ));
    }
}
