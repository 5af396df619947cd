//! OpenPGP keyrings and clear-signed `InRelease` verification.
//!
//! The rules follow what `apt` (through `gpgv`) accepts: at least one
//! signature must verify against a key of the repository's keyring, and that
//! key (the primary key, or a subkey bound to it with the signing flag and a
//! valid back-signature) must be neither expired nor revoked now.
//! Signatures over MD5, SHA-1 or RIPEMD-160 digests are ignored.

use std::fmt::Write as _;
use std::path::Path;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag, VerifyingKey};

/// The most bytes read of a keyring file (Debian's whole archive keyring
/// takes under 200 KiB).
pub const MAX_KEYRING: u64 = 16 << 20;

/// Why a repository's `InRelease` is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The file is not an OpenPGP clear-signed message.
    #[error("`InRelease` is not signed (not an OpenPGP clear-signed message: {0})")]
    Unsigned(String),
    /// A signature was made by a key of the keyring but does not match the
    /// signed text.
    #[error("bad signature by key {0}: the signed text was altered or the signature is corrupt")]
    BadSignature(String),
    /// No signature was made by a key of the keyring.
    #[error("signed by unknown key {0}, which is not in the repository's keyring")]
    UnknownKey(String),
    /// The signing key expired.
    #[error("signing key {key} expired at {expired_at} (Unix time)")]
    ExpiredKey {
        /// Fingerprint of the key.
        key: String,
        /// When it expired, in seconds since the Unix epoch.
        expired_at: i64,
    },
    /// The signing key was revoked.
    #[error("signing key {0} is revoked")]
    RevokedKey(String),
    /// The signing key exists but may not make signatures (no signing flag,
    /// no valid binding or self-signature).
    #[error("key {key} may not sign: {reason}")]
    UnusableKey {
        /// Fingerprint of the key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The signature itself expired.
    #[error("signature by key {0} has expired")]
    ExpiredSignature(String),
    /// The Release file's `Valid-Until` is in the past.
    #[error("the Release file expired at `{0}` (Valid-Until); the mirror may be stale or replaying old data")]
    Expired(String),
}

/// A set of OpenPGP public keys.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Parses keys from binary or ASCII-armored OpenPGP data, concatenated
    /// armored blocks included. Keys that cannot be parsed (e.g. an algorithm
    /// this library does not know) are skipped, like `gpgv` does.
    pub fn parse(data: &[u8]) -> Result<Keyring, String> {
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        if is_armored(data) {
            // Every armored block in turn.
            let text = String::from_utf8_lossy(data);
            for block in armored_blocks(&text) {
                parse_into(block.as_bytes(), &mut keys, &mut errors);
            }
        } else {
            parse_into(data, &mut keys, &mut errors);
        }
        if keys.is_empty() {
            return Err(match errors.first() {
                Some(e) => format!("no usable OpenPGP public key ({e})"),
                None => "no OpenPGP public key found".to_string(),
            });
        }
        Ok(Keyring { keys })
    }

    /// Reads and parses a keyring file: a regular file (not a FIFO or a
    /// device) of at most [`MAX_KEYRING`] bytes.
    pub fn read(path: &Path) -> Result<Keyring, String> {
        let data = bulwark_oci::read_regular(path, MAX_KEYRING).map_err(|e| match e {
            bulwark_oci::Error::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        })?;
        Self::parse(&data)
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: Keyring) {
        self.keys.extend(other.keys);
    }

    /// Keeps only keys whose primary key or a subkey has one of these
    /// fingerprints (hex, case and spaces ignored, a trailing `!` allowed).
    pub fn retain_fingerprints(&mut self, fingerprints: &[String]) {
        let wanted: Vec<String> = fingerprints
            .iter()
            .map(|f| {
                f.trim_end_matches('!')
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_ascii_lowercase()
            })
            .collect();
        self.keys.retain(|k| {
            std::iter::once(hex::encode(k.primary_key.fingerprint().as_bytes()))
                .chain(
                    k.public_subkeys
                        .iter()
                        .map(|s| hex::encode(s.key.fingerprint().as_bytes())),
                )
                .any(|fp| {
                    wanted
                        .iter()
                        .any(|w| fp.ends_with(w.as_str()) && w.len() >= 16)
                })
        });
    }

    /// Number of (primary) keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a clear-signed message at time `now` (seconds since the Unix
    /// epoch) and returns the signed text with `\n` line endings.
    pub fn verify_cleartext(&self, data: &[u8], now: i64) -> Result<String, TrustError> {
        let text =
            std::str::from_utf8(data).map_err(|_| TrustError::Unsigned("not UTF-8 text".into()))?;
        let message = Cleartext::parse(text).map_err(TrustError::Unsigned)?;
        let signatures: Vec<Signature> =
            DetachedSignature::from_armor_many(message.armor.as_bytes())
                .and_then(|(sigs, _)| sigs.map(|s| s.map(|s| s.signature)).collect())
                .map_err(|e| TrustError::Unsigned(format!("malformed signature block: {e}")))?;
        if signatures.is_empty() {
            return Err(TrustError::Unsigned("no signature".into()));
        }
        let signed = message.signed;
        let mut failure: Option<TrustError> = None;
        let mut issuers = Vec::new();
        for sig in &signatures {
            issuers.push(issuer_name(sig));
            match self.check_signature(sig, signed.as_bytes(), now) {
                Ok(()) => return Ok(message.text),
                Err(e) => {
                    if failure.as_ref().is_none_or(|f| rank(&e) > rank(f)) {
                        failure = Some(e);
                    }
                }
            }
        }
        Err(failure.unwrap_or_else(|| TrustError::UnknownKey(issuers.join(", "))))
    }

    /// Checks one signature against every matching key component.
    fn check_signature(&self, sig: &Signature, data: &[u8], now: i64) -> Result<(), TrustError> {
        let issuer = issuer_name(sig);
        if matches!(
            sig.hash_alg(),
            Some(HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160) | None
        ) {
            return Err(TrustError::UnusableKey {
                key: issuer,
                reason: "the signature uses a weak or unknown digest algorithm".into(),
            });
        }
        let mut result = Err(TrustError::UnknownKey(issuer.clone()));
        for key in &self.keys {
            let primary = &key.primary_key;
            let components = std::iter::once((primary as &dyn Component, None)).chain(
                key.public_subkeys
                    .iter()
                    .map(|s| (&s.key as &dyn Component, Some(s))),
            );
            for (component, subkey) in components {
                if !issued_by(sig, component) {
                    continue;
                }
                let fingerprint = hex::encode_upper(component.fingerprint().as_bytes());
                if component.verify_sig(sig, data).is_err() {
                    if rank(&TrustError::BadSignature(String::new())) > rank_result(&result) {
                        result = Err(TrustError::BadSignature(fingerprint));
                    }
                    continue;
                }
                let status = match subkey {
                    None => primary_status(key, now, true),
                    Some(sub) => {
                        primary_status(key, now, false).and_then(|()| subkey_status(key, sub, now))
                    }
                };
                let status = status
                    .map_err(|e| e.into_trust_error(fingerprint.clone()))
                    .and_then(|()| signature_status(sig, now, &fingerprint));
                match status {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        if rank(&e) > rank_result(&result) {
                            result = Err(e);
                        }
                    }
                }
            }
        }
        result
    }
}

/// A parsed clear-signed message (RFC 9580, section 7).
struct Cleartext {
    /// The text as hashed: dash-escapes removed, trailing blanks trimmed,
    /// lines joined by CRLF, no final line break.
    signed: String,
    /// The text with `\n` line endings.
    text: String,
    /// The armored signature block.
    armor: String,
}

impl Cleartext {
    /// A strict parser: nothing but blank lines may precede the header or
    /// follow the signature, only `Hash` headers are allowed, and lines of
    /// the text starting with `-` must be dash-escaped. (pgp's own parser is
    /// much slower on the 150 KB files of the Debian archive.)
    fn parse(input: &str) -> Result<Cleartext, String> {
        let mut lines = input.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let header = lines.by_ref().find(|l| !l.trim().is_empty());
        if header != Some("-----BEGIN PGP SIGNED MESSAGE-----") {
            return Err("no `-----BEGIN PGP SIGNED MESSAGE-----` header".into());
        }
        loop {
            match lines.next() {
                None => return Err("the message ends in its headers".into()),
                Some("") => break,
                Some(h) if h.starts_with("Hash:") || h.starts_with("SaltedHash:") => {}
                Some(h) => return Err(format!("unexpected armor header `{h}`")),
            }
        }
        let mut signed = String::with_capacity(input.len() + input.len() / 32);
        let mut text = String::with_capacity(input.len());
        let mut first = true;
        loop {
            let Some(line) = lines.next() else {
                return Err("no `-----BEGIN PGP SIGNATURE-----` block".into());
            };
            if line == "-----BEGIN PGP SIGNATURE-----" {
                break;
            }
            let line = match line.strip_prefix("- ") {
                Some(rest) => rest,
                None if line.starts_with('-') => {
                    return Err(format!(
                        "line `{line}` of the signed text is not dash-escaped"
                    ))
                }
                None => line,
            };
            if !first {
                signed.push_str("\r\n");
            }
            first = false;
            signed.push_str(line.trim_end_matches([' ', '\t']));
            text.push_str(line);
            text.push('\n');
        }
        let mut armor = String::from("-----BEGIN PGP SIGNATURE-----\n");
        let mut ended = false;
        for line in lines {
            if ended {
                if !line.trim().is_empty() {
                    return Err("unexpected data after the signature".into());
                }
                continue;
            }
            armor.push_str(line);
            armor.push('\n');
            ended = line == "-----END PGP SIGNATURE-----";
        }
        if !ended {
            return Err("unterminated signature block".into());
        }
        Ok(Cleartext {
            signed,
            text,
            armor,
        })
    }
}

/// Orders failures by how informative they are.
fn rank(e: &TrustError) -> u8 {
    match e {
        TrustError::Unsigned(_) | TrustError::Expired(_) => 0,
        TrustError::UnknownKey(_) => 1,
        TrustError::UnusableKey { .. } => 2,
        TrustError::BadSignature(_) => 3,
        TrustError::ExpiredSignature(_) => 4,
        TrustError::ExpiredKey { .. } => 5,
        TrustError::RevokedKey(_) => 6,
    }
}

fn rank_result(r: &Result<(), TrustError>) -> u8 {
    r.as_ref().err().map_or(0, rank)
}

/// A primary key or subkey packet.
trait Component: KeyDetails {
    fn verify_sig(&self, sig: &Signature, data: &[u8]) -> pgp::errors::Result<()>;
}

impl<T: VerifyingKey> Component for T {
    fn verify_sig(&self, sig: &Signature, data: &[u8]) -> pgp::errors::Result<()> {
        sig.verify(self, data)
    }
}

fn issued_by(sig: &Signature, key: &dyn Component) -> bool {
    let ids = sig.issuer_key_id();
    let fps = sig.issuer_fingerprint();
    if ids.is_empty() && fps.is_empty() {
        return true;
    }
    let id = key.legacy_key_id();
    let fp = key.fingerprint();
    ids.iter().any(|&i| *i == id) || fps.iter().any(|&f| *f == fp)
}

fn issuer_name(sig: &Signature) -> String {
    if let Some(fp) = sig.issuer_fingerprint().first() {
        return hex::encode_upper(fp.as_bytes());
    }
    let mut s = String::new();
    for id in sig.issuer_key_id() {
        if !s.is_empty() {
            s.push('/');
        }
        let _ = write!(s, "{}", hex::encode_upper(id.as_ref()));
    }
    if s.is_empty() {
        "(no issuer)".into()
    } else {
        s
    }
}

/// Why a key component may not be used.
enum KeyProblem {
    Expired(i64),
    Revoked,
    Unusable(String),
}

impl KeyProblem {
    fn into_trust_error(self, key: String) -> TrustError {
        match self {
            KeyProblem::Expired(expired_at) => TrustError::ExpiredKey { key, expired_at },
            KeyProblem::Revoked => TrustError::RevokedKey(key),
            KeyProblem::Unusable(reason) => TrustError::UnusableKey { key, reason },
        }
    }
}

fn created(sig: &Signature) -> i64 {
    sig.created().map_or(0, |t| i64::from(t.as_secs()))
}

/// The newest of `sigs`, ignoring signatures from the future.
fn newest<'a>(sigs: impl Iterator<Item = &'a Signature>, now: i64) -> Option<&'a Signature> {
    sigs.filter(|s| created(s) <= now)
        .max_by_key(|s| created(s))
}

fn expiry(created_at: i64, sig: &Signature) -> Option<i64> {
    sig.key_expiration_time()
        .map(|d| i64::from(d.as_secs()))
        .filter(|&d| d > 0)
        .map(|d| created_at + d)
}

fn any_flag(sig: &Signature) -> bool {
    let f = sig.key_flags();
    f.sign() || f.certify() || f.encrypt_comms() || f.encrypt_storage() || f.authentication()
}

/// Whether the primary key is valid now (and, with `sign`, may sign).
fn primary_status(key: &SignedPublicKey, now: i64, sign: bool) -> Result<(), KeyProblem> {
    let primary = &key.primary_key;
    let revoked = key.details.revocation_signatures.iter().any(|sig| {
        sig.typ() == Some(SignatureType::KeyRevocation)
            && issued_by(sig, primary)
            && sig.verify_key(primary).is_ok()
    });
    if revoked {
        return Err(KeyProblem::Revoked);
    }
    // Self-signatures: direct-key signatures and the newest valid
    // certification of each user id that is not revoked.
    let mut self_sigs: Vec<&Signature> = key
        .details
        .direct_signatures
        .iter()
        .filter(|s| issued_by(s, primary) && s.verify_key(primary).is_ok())
        .collect();
    for user in &key.details.users {
        let valid: Vec<&Signature> = user
            .signatures
            .iter()
            .filter(|s| {
                s.verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
            })
            .collect();
        if let Some(latest) = newest(valid.into_iter(), now) {
            if latest.typ() != Some(SignatureType::CertRevocation) {
                self_sigs.push(latest);
            }
        }
    }
    let Some(sig) = newest(self_sigs.into_iter(), now) else {
        return Err(KeyProblem::Unusable("no valid self-signature".into()));
    };
    if let Some(at) = expiry(i64::from(primary.created_at().as_secs()), sig) {
        if at <= now {
            return Err(KeyProblem::Expired(at));
        }
    }
    if sign && any_flag(sig) && !sig.key_flags().sign() {
        return Err(KeyProblem::Unusable(
            "the primary key lacks the signing flag".into(),
        ));
    }
    Ok(())
}

/// Whether a subkey is bound, signing-capable and current.
fn subkey_status(
    key: &SignedPublicKey,
    sub: &pgp::composed::SignedPublicSubKey,
    now: i64,
) -> Result<(), KeyProblem> {
    let primary = &key.primary_key;
    let valid = |s: &&Signature| s.verify_subkey_binding(primary, &sub.key).is_ok();
    if sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
        .any(|s| valid(&s))
    {
        return Err(KeyProblem::Revoked);
    }
    let bindings = sub
        .signatures
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .filter(valid);
    let Some(binding) = newest(bindings, now) else {
        return Err(KeyProblem::Unusable(
            "no valid subkey binding signature".into(),
        ));
    };
    if !binding.key_flags().sign() {
        return Err(KeyProblem::Unusable(
            "the subkey lacks the signing flag".into(),
        ));
    }
    let back_signed = binding
        .embedded_signature()
        .is_some_and(|b| b.verify_primary_key_binding(&sub.key, primary).is_ok());
    if !back_signed {
        return Err(KeyProblem::Unusable(
            "the signing subkey has no valid back-signature".into(),
        ));
    }
    if let Some(at) = expiry(i64::from(sub.key.created_at().as_secs()), binding) {
        if at <= now {
            return Err(KeyProblem::Expired(at));
        }
    }
    Ok(())
}

fn signature_status(sig: &Signature, now: i64, fingerprint: &str) -> Result<(), TrustError> {
    let expired = sig
        .signature_expiration_time()
        .map(|d| i64::from(d.as_secs()))
        .filter(|&d| d > 0)
        .is_some_and(|d| created(sig) + d <= now);
    if expired {
        Err(TrustError::ExpiredSignature(fingerprint.to_string()))
    } else {
        Ok(())
    }
}

fn is_armored(data: &[u8]) -> bool {
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    data[start..].starts_with(b"-----BEGIN PGP")
}

/// Splits text into its `-----BEGIN PGP …-----` … `-----END PGP …-----` blocks.
fn armored_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_end();
        if trimmed.starts_with("-----BEGIN PGP") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(trimmed);
            block.push('\n');
        }
        if trimmed.starts_with("-----END PGP") {
            if let Some(block) = current.take() {
                blocks.push(block);
            }
        }
    }
    blocks
}

fn parse_into(data: &[u8], keys: &mut Vec<SignedPublicKey>, errors: &mut Vec<String>) {
    match SignedPublicKey::from_reader_many(data) {
        Ok((iter, _)) => {
            for key in iter {
                match key {
                    Ok(key) => keys.push(key),
                    Err(e) => errors.push(e.to_string()),
                }
            }
        }
        Err(e) => errors.push(e.to_string()),
    }
}
