//! Signing and verifying keys: generation, PEM encoding (PKCS#8 and SPKI),
//! key IDs, and loading a key from a file or an environment variable.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::Error;

/// OID of Ed25519 (RFC 8410).
const OID_ED25519: &str = "1.3.101.112";
/// OID of an elliptic-curve public key (RFC 5480); the curve is a parameter.
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// OID of the NIST P-256 curve (`prime256v1`, `secp256r1`).
const OID_P256: &str = "1.2.840.10045.3.1.7";
/// The algorithms bulwark signs and verifies with, for error messages.
const SUPPORTED: &str = "which is not supported: bulwark supports Ed25519 and ECDSA P-256 keys";

/// DER prefix of an Ed25519 `SubjectPublicKeyInfo`; the 32 key bytes follow.
const SPKI_PREFIX_ED25519: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// DER prefix of a P-256 `SubjectPublicKeyInfo`; the 65-byte uncompressed
/// SEC1 point follows.
const SPKI_PREFIX_P256: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A signature algorithm bulwark signs with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032). Signatures are deterministic.
    #[default]
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256, DER-encoded signatures. Nonces are
    /// derived per RFC 6979, so signatures are deterministic too.
    P256,
}

impl Algorithm {
    /// The name used on the command line and in messages: `ed25519` or `p256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::P256 => "p256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "ed25519" => Ok(Self::Ed25519),
            "p256" | "p-256" | "ecdsa-p256" | "nistp256" => Ok(Self::P256),
            _ => Err(Error::UnknownAlgorithm(s.to_owned())),
        }
    }
}

/// A private key. Its secret never appears in `Debug` output or errors.
#[derive(Clone)]
pub struct SigningKey {
    inner: SigningInner,
    public: VerifyingKey,
}

#[derive(Clone)]
enum SigningInner {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// A public key, identified by its [key ID](VerifyingKey::key_id).
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    inner: VerifyingInner,
    /// DER `SubjectPublicKeyInfo`.
    spki: Vec<u8>,
}

#[derive(Clone, PartialEq, Eq)]
enum VerifyingInner {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// Generates a new random key with the operating system's random number
/// generator.
pub fn generate(algorithm: Algorithm) -> SigningKey {
    let mut rng = rand_core::OsRng;
    match algorithm {
        Algorithm::Ed25519 => SigningKey::from_inner(SigningInner::Ed25519(
            ed25519_dalek::SigningKey::generate(&mut rng),
        )),
        Algorithm::P256 => SigningKey::from_inner(SigningInner::P256(
            p256::ecdsa::SigningKey::random(&mut rng),
        )),
    }
}

impl SigningKey {
    fn from_inner(inner: SigningInner) -> Self {
        let public = match &inner {
            SigningInner::Ed25519(key) => {
                VerifyingKey::from_inner(VerifyingInner::Ed25519(key.verifying_key()))
            }
            SigningInner::P256(key) => {
                VerifyingKey::from_inner(VerifyingInner::P256(*key.verifying_key()))
            }
        };
        Self { inner, public }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    /// Encodes the private key as an unencrypted PKCS#8 PEM document
    /// (`-----BEGIN PRIVATE KEY-----`), the form `openssl genpkey` writes.
    /// The returned string is wiped from memory when dropped.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        let der = match &self.inner {
            SigningInner::Ed25519(key) => {
                // PKCS#8 v1 (no embedded public key), as OpenSSL writes it.
                ed25519_dalek::pkcs8::KeypairBytes {
                    secret_key: key.to_bytes(),
                    public_key: None,
                }
                .to_pkcs8_der()
            }
            SigningInner::P256(key) => {
                p256::SecretKey::from(key.as_nonzero_scalar()).to_pkcs8_der()
            }
        }
        .map_err(|err| Error::EncodeKey(err.to_string()))?;
        Ok(pem_encode("PRIVATE KEY", der.as_bytes()))
    }

    /// Decodes a private key from PEM: PKCS#8 (`PRIVATE KEY`, Ed25519 or
    /// P-256) or SEC1 (`EC PRIVATE KEY`, P-256). Encrypted keys are refused.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        Self::from_pem_named(pem, "private key")
    }

    pub(crate) fn from_pem_named(pem: &str, what: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidKey {
            what: what.to_owned(),
            reason,
        };
        let label = pem_label(pem).ok_or_else(|| invalid("not a PEM document".to_owned()))?;
        match label {
            "PRIVATE KEY" => {}
            "EC PRIVATE KEY" => {
                let (_, der) = p256::pkcs8::SecretDocument::from_pem(pem)
                    .map_err(|err| invalid(format!("bad PEM ({err})")))?;
                let curve = sec1_curve(der.as_bytes());
                if curve.as_ref().is_some_and(|c| c.to_string() != OID_P256) {
                    return Err(invalid(unsupported_ec(curve)));
                }
                let key = p256::SecretKey::from_sec1_der(der.as_bytes())
                    .map_err(|err| invalid(format!("bad P-256 SEC1 key ({err})")))?;
                return Ok(Self::from_inner(SigningInner::P256(key.into())));
            }
            "PUBLIC KEY" => {
                return Err(invalid(
                    "it is a public key; signing needs the private key".to_owned(),
                ))
            }
            label if label.starts_with("ENCRYPTED") => {
                return Err(invalid(format!(
                    "`{label}` is encrypted; bulwark reads unencrypted PKCS#8 keys \
                     (decrypt with `openssl pkcs8 -topk8 -nocrypt`)"
                )))
            }
            label => return Err(invalid(format!("unexpected PEM label `{label}`"))),
        }
        let (_, der) = p256::pkcs8::SecretDocument::from_pem(pem)
            .map_err(|err| invalid(format!("bad PEM ({err})")))?;
        let info = p256::pkcs8::PrivateKeyInfo::try_from(der.as_bytes())
            .map_err(|err| invalid(format!("bad PKCS#8 structure ({err})")))?;
        match info.algorithm.oid.to_string().as_str() {
            OID_ED25519 => {
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(der.as_bytes())
                    .map_err(|err| invalid(format!("bad Ed25519 key ({err})")))?;
                Ok(Self::from_inner(SigningInner::Ed25519(key)))
            }
            OID_EC_PUBLIC_KEY => {
                let curve = info.algorithm.parameters_oid().ok();
                if curve.as_ref().is_none_or(|c| c.to_string() != OID_P256) {
                    return Err(invalid(unsupported_ec(curve)));
                }
                let key = p256::SecretKey::from_pkcs8_der(der.as_bytes())
                    .map_err(|err| invalid(format!("bad P-256 key ({err})")))?;
                Ok(Self::from_inner(SigningInner::P256(key.into())))
            }
            oid => Err(invalid(unsupported_algorithm(oid))),
        }
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public.clone()
    }

    /// The key ID: lowercase hex SHA-256 of the public key's DER
    /// `SubjectPublicKeyInfo` (see [`VerifyingKey::key_id`]).
    pub fn key_id(&self) -> String {
        self.public.key_id()
    }

    /// Signs `message`: Ed25519 over the bytes, or ECDSA P-256 over their
    /// SHA-256, DER-encoded.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.inner {
            SigningInner::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            SigningInner::P256(key) => {
                let signature: p256::ecdsa::DerSignature = key.sign(message);
                signature.as_bytes().to_vec()
            }
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    fn from_inner(inner: VerifyingInner) -> Self {
        let spki = match &inner {
            VerifyingInner::Ed25519(key) => [&SPKI_PREFIX_ED25519[..], key.as_bytes()].concat(),
            VerifyingInner::P256(key) => [
                &SPKI_PREFIX_P256[..],
                key.to_encoded_point(false).as_bytes(),
            ]
            .concat(),
        };
        Self { inner, spki }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.inner {
            VerifyingInner::Ed25519(_) => Algorithm::Ed25519,
            VerifyingInner::P256(_) => Algorithm::P256,
        }
    }

    /// The key ID: lowercase hex SHA-256 of the DER `SubjectPublicKeyInfo`
    /// (`openssl pkey -pubin -outform DER | sha256sum`).
    pub fn key_id(&self) -> String {
        hex::encode(Sha256::digest(&self.spki))
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn to_spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Encodes the key as a PEM `SubjectPublicKeyInfo`
    /// (`-----BEGIN PUBLIC KEY-----`), the form cosign and OpenSSL read.
    pub fn to_spki_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki).to_string()
    }

    /// Decodes a PEM `SubjectPublicKeyInfo` holding an Ed25519 or P-256 key.
    ///
    /// A private key is refused, so that private keys are not copied to
    /// where signatures are only checked; see [`VerifyingKey::load`] for
    /// an error that names the file and its public key.
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        Self::from_pem_named(pem, "public key", None)
    }

    /// Loads a public key from the PEM file at `path` (see
    /// [`VerifyingKey::from_pem`]). Errors name the file; given a private
    /// key, the error names its public key (`PATH.pub`, as
    /// [`write_key_pair`] writes it) when that file exists.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let pem = read_key_file(path)?;
        Self::from_pem_named(&pem, &format!("`{}`", path.display()), Some(path))
    }

    /// [`VerifyingKey::from_pem`], naming the key `what` in errors; `path`
    /// is the file it came from, if any.
    fn from_pem_named(pem: &str, what: &str, path: Option<&Path>) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidKey {
            what: what.to_owned(),
            reason,
        };
        let label = pem_label(pem).ok_or_else(|| invalid("not a PEM document".to_owned()))?;
        if label != "PUBLIC KEY" {
            if label.contains("PRIVATE KEY") {
                return Err(invalid(private_key_given(path)));
            }
            return Err(invalid(format!("unexpected PEM label `{label}`")));
        }
        let (_, der) = p256::pkcs8::Document::from_pem(pem)
            .map_err(|err| invalid(format!("bad PEM ({err})")))?;
        let info = p256::pkcs8::spki::SubjectPublicKeyInfoRef::try_from(der.as_bytes())
            .map_err(|err| invalid(format!("bad SubjectPublicKeyInfo ({err})")))?;
        let inner = match info.algorithm.oid.to_string().as_str() {
            OID_ED25519 => VerifyingInner::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der.as_bytes())
                    .map_err(|err| invalid(format!("bad Ed25519 key ({err})")))?,
            ),
            OID_EC_PUBLIC_KEY => {
                let curve = info.algorithm.parameters_oid().ok();
                if curve.as_ref().is_none_or(|c| c.to_string() != OID_P256) {
                    return Err(invalid(unsupported_ec(curve)));
                }
                VerifyingInner::P256(
                    p256::PublicKey::from_public_key_der(der.as_bytes())
                        .map_err(|err| invalid(format!("bad P-256 key ({err})")))?
                        .into(),
                )
            }
            oid => return Err(invalid(unsupported_algorithm(oid))),
        };
        Ok(Self::from_inner(inner))
    }

    /// Checks `signature` over `message` (see [`SigningKey::sign`]). P-256
    /// signatures may be DER or fixed-size `r || s`. Ed25519 is checked
    /// strictly (no malleable or weak-key signatures).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.inner {
            VerifyingInner::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
            VerifyingInner::P256(key) => {
                let sig = if signature.len() == 64 {
                    p256::ecdsa::Signature::from_slice(signature)
                } else {
                    p256::ecdsa::Signature::from_der(signature)
                };
                sig.is_ok_and(|sig| key.verify(message, &sig).is_ok())
            }
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("algorithm", &self.algorithm())
            .field("key_id", &self.key_id())
            .finish()
    }
}

/// Writes `key` to `prefix` (PKCS#8 PEM, mode 0600) and its public key to
/// `prefix.pub` (SPKI PEM, mode 0644).
///
/// Refuses to overwrite either file. Each file is written to a temporary
/// file in the same directory and linked into place only if the name is
/// free, so a reader never sees a partial key; if the public key can't be
/// placed, the private key is removed again.
pub fn write_key_pair(prefix: &Path, key: &SigningKey) -> Result<(), Error> {
    let mut public_path = prefix.as_os_str().to_owned();
    public_path.push(".pub");
    let public_path = PathBuf::from(public_path);
    for path in [prefix, public_path.as_path()] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(Error::Exists(path.to_owned()));
        }
    }
    let private_pem = key.to_pkcs8_pem()?;
    let private = staged(prefix, private_pem.as_bytes(), 0o600)?;
    let public = staged(
        &public_path,
        key.verifying_key().to_spki_pem().as_bytes(),
        0o644,
    )?;
    place(private, prefix)?;
    if let Err(err) = place(public, &public_path) {
        let _ = fs::remove_file(prefix);
        return Err(err);
    }
    Ok(())
}

/// Writes `bytes` to a new temporary file beside `dest` with `mode`.
fn staged(dest: &Path, bytes: &[u8], mode: u32) -> Result<tempfile::NamedTempFile, Error> {
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // `tempfile` creates files with mode 0600, so the secret is never
    // readable by others, even before the permissions below.
    let mut file = tempfile::Builder::new()
        .prefix(".tmp-bulwark-key-")
        .tempfile_in(dir)
        .map_err(|source| Error::io("create a temporary file in", dir, source))?;
    file.write_all(bytes)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|source| Error::io("write", file.path(), source))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|source| Error::io("set permissions of", file.path(), source))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(file)
}

/// Moves a staged file to `dest`, failing if `dest` exists.
fn place(file: tempfile::NamedTempFile, dest: &Path) -> Result<(), Error> {
    file.persist_noclobber(dest).map_err(|err| {
        if err.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists(dest.to_owned())
        } else {
            Error::io("write", dest, err.error)
        }
    })?;
    Ok(())
}

/// Loads a private key from `spec`: `env://VAR` reads the PEM from the
/// environment variable `VAR`; anything else is a file path.
pub fn load_signing_key(spec: &str) -> Result<SigningKey, Error> {
    if let Some(var) = spec.strip_prefix("env://") {
        let pem = Zeroizing::new(std::env::var(var).map_err(|err| Error::KeyEnv {
            var: var.to_owned(),
            reason: match err {
                std::env::VarError::NotPresent => "it is not set",
                std::env::VarError::NotUnicode(_) => "it is not valid UTF-8",
            },
        })?);
        return SigningKey::from_pem_named(&pem, &format!("environment variable `{var}`"));
    }
    let path = Path::new(spec);
    let pem = read_key_file(path)?;
    SigningKey::from_pem_named(&pem, &format!("`{}`", path.display()))
}

/// Why a private key was refused where a public key is expected, naming
/// the public key to give instead when it can.
fn private_key_given(path: Option<&Path>) -> String {
    let Some(path) = path else {
        return "it is a private key; give its public key instead (for a key pair \
                written as `K` and `K.pub`, the file `K.pub`)"
            .to_owned();
    };
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    let public = PathBuf::from(public);
    if public.is_file() {
        format!(
            "it is a private key; give its public key, `{}`",
            public.display()
        )
    } else {
        format!(
            "it is a private key; give its public key instead (`openssl pkey -in {} -pubout` \
             prints it)",
            path.display()
        )
    }
}

/// Why an elliptic-curve key on `curve` (other than P-256) is refused.
fn unsupported_ec(curve: Option<p256::pkcs8::ObjectIdentifier>) -> String {
    let curve = match curve {
        Some(oid) => {
            let oid = oid.to_string();
            match curve_name(&oid) {
                Some((name, Some(other))) => format!("curve {name} ({other}, OID {oid})"),
                Some((name, None)) => format!("curve {name} (OID {oid})"),
                None => format!("the curve with OID {oid}"),
            }
        }
        None => "a curve not named by an OID".to_owned(),
    };
    format!("it is an EC key on {curve}, {SUPPORTED}")
}

/// Why a key of algorithm `oid` (neither Ed25519 nor EC) is refused.
fn unsupported_algorithm(oid: &str) -> String {
    let kind = match oid {
        "1.2.840.113549.1.1.1" => "an RSA key",
        "1.2.840.113549.1.1.10" => "an RSA-PSS key",
        "1.2.840.10040.4.1" => "a DSA key",
        "1.3.101.110" => "an X25519 key",
        "1.3.101.111" => "an X448 key",
        "1.3.101.113" => "an Ed448 key",
        _ => "a key",
    };
    format!("it is {kind} (algorithm OID {oid}), {SUPPORTED}")
}

/// The common name and the SEC 2 or X9.62 name, if another, of the curve
/// with OID `oid`.
fn curve_name(oid: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match oid {
        "1.2.840.10045.3.1.1" => ("P-192", Some("prime192v1")),
        "1.3.132.0.33" => ("P-224", Some("secp224r1")),
        OID_P256 => ("P-256", Some("prime256v1")),
        "1.3.132.0.34" => ("P-384", Some("secp384r1")),
        "1.3.132.0.35" => ("P-521", Some("secp521r1")),
        "1.3.132.0.10" => ("secp256k1", None),
        "1.3.36.3.3.2.8.1.1.7" => ("brainpoolP256r1", None),
        "1.3.36.3.3.2.8.1.1.11" => ("brainpoolP384r1", None),
        "1.3.36.3.3.2.8.1.1.13" => ("brainpoolP512r1", None),
        "1.2.156.10197.1.301" => ("SM2", None),
        _ => return None,
    })
}

/// The curve named by a DER SEC1 `ECPrivateKey` (RFC 5915: `version`,
/// `privateKey`, `[0] parameters`, `[1] publicKey`), if it names one.
fn sec1_curve(der: &[u8]) -> Option<p256::pkcs8::ObjectIdentifier> {
    use p256::pkcs8::der::asn1::{BitStringRef, ContextSpecific, OctetStringRef};
    use p256::pkcs8::der::{Decode as _, Reader as _, SliceReader, TagNumber};
    use p256::pkcs8::ObjectIdentifier;

    let mut reader = SliceReader::new(der).ok()?;
    reader
        .sequence(|r| {
            let _version = u8::decode(r)?;
            let _secret = OctetStringRef::decode(r)?;
            let curve = ContextSpecific::<ObjectIdentifier>::decode_explicit(r, TagNumber::N0)?;
            let _public = ContextSpecific::<BitStringRef<'_>>::decode_explicit(r, TagNumber::N1)?;
            Ok(curve.map(|c| c.value))
        })
        .ok()
        .flatten()
}

/// The label of the first `-----BEGIN …-----` line.
fn pem_label(pem: &str) -> Option<&str> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &pem[start..];
    let end = rest.find("-----")?;
    Some(&rest[..end])
}

/// PEM-encodes `der` (RFC 7468: base64 in 64-column lines, LF endings).
fn pem_encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut out = Zeroizing::new(String::with_capacity(b64.len() + b64.len() / 64 + 64));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The most bytes read of a key file: a PEM key takes a few hundred.
const MAX_KEY_FILE: u64 = 64 << 10;

/// Reads the PEM text of the key file at `path`: a regular file (not a
/// FIFO or a device, which would block or never end) of at most
/// [`MAX_KEY_FILE`] bytes, wiped from memory when dropped.
fn read_key_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    let invalid = |reason: String| Error::InvalidKey {
        what: format!("`{}`", path.display()),
        reason,
    };
    let bytes = Zeroizing::new(
        bulwark_oci::read_regular(path, MAX_KEY_FILE).map_err(|err| match err {
            bulwark_oci::Error::Io { source, .. } => Error::io("read", path, source),
            bulwark_oci::Error::NotAFile(_, kind) => {
                invalid(format!("it is not a regular file ({kind})"))
            }
            bulwark_oci::Error::FileTooLarge { limit, .. } => {
                invalid(format!("it is larger than {limit} bytes"))
            }
            other => invalid(other.to_string()),
        })?,
    );
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid("it is not UTF-8 text".into()))?;
    Ok(Zeroizing::new(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::EncodePublicKey as _;

    #[test]
    fn spki_matches_the_pkcs8_crate() {
        for alg in [Algorithm::Ed25519, Algorithm::P256] {
            let key = generate(alg);
            let expected = match &key.inner {
                SigningInner::Ed25519(k) => k.verifying_key().to_public_key_der().unwrap(),
                SigningInner::P256(k) => k.verifying_key().to_public_key_der().unwrap(),
            };
            assert_eq!(
                key.verifying_key().to_spki_der(),
                expected.as_bytes(),
                "{alg}"
            );
        }
    }

    #[test]
    fn pem_round_trips() {
        for alg in [Algorithm::Ed25519, Algorithm::P256] {
            let key = generate(alg);
            let pem = key.to_pkcs8_pem().unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let back = SigningKey::from_pem(&pem).unwrap();
            assert_eq!(back.key_id(), key.key_id());
            assert_eq!(back.algorithm(), alg);
            let public = VerifyingKey::from_pem(&key.verifying_key().to_spki_pem()).unwrap();
            assert_eq!(public, key.verifying_key());
            // A private key given where a public key is expected is refused.
            let err = VerifyingKey::from_pem(&pem).unwrap_err().to_string();
            assert!(err.contains("it is a private key"), "{err}");
            assert!(!err.contains(pem.lines().nth(1).unwrap()), "{err}");
        }
    }

    #[test]
    fn refuses_other_keys() {
        let public = generate(Algorithm::Ed25519).verifying_key().to_spki_pem();
        let err = SigningKey::from_pem(&public).unwrap_err().to_string();
        assert!(err.contains("public key"), "{err}");
        let err = SigningKey::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("encrypted"), "{err}");
        assert!(SigningKey::from_pem("garbage").is_err());
    }

    /// A P-384 `SubjectPublicKeyInfo` (the point is not checked: the curve
    /// is refused first).
    fn p384_spki_pem() -> String {
        let mut der = vec![
            0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00, 0x04,
        ];
        der.extend_from_slice(&[0x11; 96]);
        pem_encode("PUBLIC KEY", &der).to_string()
    }

    #[test]
    fn names_the_curve_of_other_ec_keys() {
        let err = VerifyingKey::from_pem(&p384_spki_pem())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "public key is not a usable key: it is an EC key on curve P-384 (secp384r1, \
             OID 1.3.132.0.34), which is not supported: bulwark supports Ed25519 and \
             ECDSA P-256 keys"
        );
        assert!(!err.contains(OID_P256), "{err}");
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = generate(Algorithm::Ed25519);
        let pem = key.to_pkcs8_pem().unwrap();
        let body: String = pem.lines().nth(1).unwrap().to_owned();
        let debug = format!("{key:?}");
        assert!(!debug.contains(&body));
        assert!(debug.contains(&key.key_id()));
    }
}
