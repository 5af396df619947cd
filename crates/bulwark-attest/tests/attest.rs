//! Integration tests: signatures checked by an independent implementation
//! (securesystemslib in Python), statement field names and tampering.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use bulwark_attest::*;
use serde_json::{json, Value};

const ALGORITHMS: [Algorithm; 2] = [Algorithm::Ed25519, Algorithm::P256];

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("BULWARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/main/target/venv"));
    let python = venv.join("bin/python");
    let ok = python.is_file()
        && Command::new(&python)
            .args(["-c", "import securesystemslib.signer, cryptography"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "securesystemslib with cryptography is missing from the venv `{}`: \
         run scripts/setup.sh (it installs `securesystemslib[crypto]`) or set BULWARK_VENV",
        venv.display()
    );
    python
}

/// Runs `script` with the venv's Python, `args` as `sys.argv[1:]`; returns
/// stdout, failing the test with stderr on a non-zero exit.
fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Verifies a DSSE envelope with securesystemslib: the key is loaded from
/// our SPKI PEM by `cryptography`, its keyid recomputed independently, the
/// PAE computed by securesystemslib, and the signature checked by
/// `Envelope.verify`. Prints the keyid and the payload.
const SSLIB_VERIFY: &str = r#"
import sys, json, hashlib
from cryptography.hazmat.primitives.serialization import load_pem_public_key, Encoding, PublicFormat
from securesystemslib.signer import SSlibKey
from securesystemslib.dsse import Envelope
pem = open(sys.argv[1], "rb").read()
public = load_pem_public_key(pem)
keyid = hashlib.sha256(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
key = SSlibKey.from_crypto(public, keyid=keyid)
envelope = Envelope.from_dict(json.load(open(sys.argv[2])))
accepted = envelope.verify([key], 1)
assert keyid in accepted, accepted
print(key.keytype, key.scheme, keyid)
sys.stdout.write(envelope.payload.decode())
"#;

/// Signs a payload with securesystemslib's `CryptoSigner` from our PKCS#8
/// private key and prints the envelope JSON.
const SSLIB_SIGN: &str = r#"
import sys, json
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner
from securesystemslib.dsse import Envelope
signer = CryptoSigner(load_pem_private_key(open(sys.argv[1], "rb").read(), None))
envelope = Envelope(sys.argv[3].encode(), sys.argv[2], {})
envelope.sign(signer)
print(json.dumps(envelope.to_dict()))
"#;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn securesystemslib_verifies_our_envelopes() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ALGORITHMS {
        let key = generate(alg);
        let payload = br#"{"_type":"https://in-toto.io/Statement/v1","x":"\u00e9"}"#;
        let envelope = dsse_sign(PAYLOAD_TYPE_IN_TOTO, payload, &key);
        let public = write(
            dir.path(),
            "key.pub",
            key.verifying_key().to_spki_pem().as_bytes(),
        );
        let env = write(dir.path(), "env.json", &envelope.to_json());
        let out = python(
            SSLIB_VERIFY,
            &[public.to_str().unwrap(), env.to_str().unwrap()],
        );
        let (first, rest) = out.split_once('\n').unwrap();
        let expected_type = match alg {
            Algorithm::Ed25519 => "ed25519 ed25519",
            Algorithm::P256 => "ecdsa ecdsa-sha2-nistp256",
        };
        assert_eq!(first, format!("{expected_type} {}", key.key_id()), "{alg}");
        assert_eq!(rest.as_bytes(), payload);

        // And the independent verifier rejects a tampered envelope.
        let mut tampered = envelope.clone();
        tampered.payload[5] ^= 1;
        let env = write(dir.path(), "env.json", &tampered.to_json());
        let status = Command::new(venv_python())
            .args([
                "-c",
                SSLIB_VERIFY,
                public.to_str().unwrap(),
                env.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            !status.status.success(),
            "{alg}: tampered envelope verified"
        );
    }
}

#[test]
fn we_verify_securesystemslib_envelopes() {
    let dir = tempfile::tempdir().unwrap();
    for alg in ALGORITHMS {
        let key = generate(alg);
        let private = write(dir.path(), "key", key.to_pkcs8_pem().unwrap().as_bytes());
        // ECDSA signatures from OpenSSL are randomized; try several.
        for i in 0..4 {
            let payload = format!("payload {i}");
            let out = python(
                SSLIB_SIGN,
                &[private.to_str().unwrap(), "text/plain", &payload],
            );
            let envelope = Envelope::from_json(out.trim().as_bytes()).unwrap();
            assert_eq!(
                dsse_verify(&envelope, &key.verifying_key()).unwrap(),
                payload.as_bytes(),
                "{alg}"
            );
        }
    }
}

#[test]
fn signatures_are_deterministic() {
    for alg in ALGORITHMS {
        let key = generate(alg);
        let reloaded = SigningKey::from_pem(&key.to_pkcs8_pem().unwrap()).unwrap();
        let a = dsse_sign("t", b"same input", &key).to_json();
        let b = dsse_sign("t", b"same input", &reloaded).to_json();
        assert_eq!(a, b, "{alg}");
        assert_ne!(a, dsse_sign("t", b"other input", &key).to_json(), "{alg}");
    }
}

#[test]
fn tampering_and_wrong_keys() {
    for alg in ALGORITHMS {
        let key = generate(alg);
        let public = key.verifying_key();
        let envelope = dsse_sign(PAYLOAD_TYPE_IN_TOTO, b"{\"a\":1}", &key);
        assert_eq!(dsse_verify(&envelope, &public).unwrap(), b"{\"a\":1}");

        let mut payload = envelope.clone();
        payload.payload[2] ^= 0x20;
        let err = dsse_verify(&payload, &public).unwrap_err();
        assert!(
            matches!(err, VerifyError::BadSignature { .. }),
            "{alg}: {err}"
        );

        let mut payload_type = envelope.clone();
        payload_type.payload_type.push('x');
        assert!(matches!(
            dsse_verify(&payload_type, &public),
            Err(VerifyError::BadSignature { .. })
        ));

        let mut sig = envelope.clone();
        let last = sig.signatures[0].sig.len() - 1;
        sig.signatures[0].sig[last] ^= 1;
        assert!(matches!(
            dsse_verify(&sig, &public),
            Err(VerifyError::BadSignature { .. })
        ));

        for other_alg in ALGORITHMS {
            let other = generate(other_alg).verifying_key();
            let err = dsse_verify(&envelope, &other).unwrap_err();
            assert!(
                matches!(&err, VerifyError::WrongKey { expected, found }
                    if *expected == other.key_id() && *found == key.key_id()),
                "{alg}/{other_alg}: {err}"
            );
        }

        let mut unsigned = envelope.clone();
        unsigned.signatures.clear();
        let err = dsse_verify(&unsigned, &public).unwrap_err();
        assert_eq!(err, VerifyError::Missing);
    }
}

#[test]
fn key_files() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("signing");
    let key = generate(Algorithm::P256);
    write_key_pair(&prefix, &key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&prefix), 0o600);
        assert_eq!(mode(&dir.path().join("signing.pub")), 0o644);
    }
    // Refuses to overwrite, leaving the files alone.
    let err = write_key_pair(&prefix, &generate(Algorithm::Ed25519)).unwrap_err();
    assert!(matches!(err, Error::Exists(_)), "{err}");
    let loaded = load_signing_key(prefix.to_str().unwrap()).unwrap();
    assert_eq!(loaded.key_id(), key.key_id());
    let public = std::fs::read_to_string(dir.path().join("signing.pub")).unwrap();
    assert_eq!(
        VerifyingKey::from_pem(&public).unwrap(),
        key.verifying_key()
    );
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);

    // openssl reads both files and agrees on the key ID.
    let der = Command::new("openssl")
        .args(["pkey", "-in"])
        .arg(&prefix)
        .args(["-pubout", "-outform", "DER"])
        .output()
        .unwrap();
    assert!(
        der.status.success(),
        "{}",
        String::from_utf8_lossy(&der.stderr)
    );
    assert_eq!(key.verifying_key().to_spki_der(), der.stdout.as_slice());

    // env://VAR: the PEM in a variable; errors never echo the key.
    let pem = key.to_pkcs8_pem().unwrap();
    std::env::set_var("BULWARK_ATTEST_TEST_KEY", pem.as_str());
    let from_env = load_signing_key("env://BULWARK_ATTEST_TEST_KEY").unwrap();
    assert_eq!(from_env.key_id(), key.key_id());
    let err = load_signing_key("env://BULWARK_ATTEST_TEST_UNSET").unwrap_err();
    assert!(
        err.to_string().contains("BULWARK_ATTEST_TEST_UNSET"),
        "{err}"
    );
    std::env::set_var(
        "BULWARK_ATTEST_TEST_BAD",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let err = load_signing_key("env://BULWARK_ATTEST_TEST_BAD").unwrap_err();
    assert!(!err.to_string().contains("AAAA"), "{err}");
}

#[test]
fn openssl_generated_keys_load() {
    let dir = tempfile::tempdir().unwrap();
    for (args, alg) in [
        (
            &["genpkey", "-algorithm", "ED25519"][..],
            Algorithm::Ed25519,
        ),
        (
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ][..],
            Algorithm::P256,
        ),
        (
            &["ecparam", "-name", "prime256v1", "-genkey", "-noout"][..],
            Algorithm::P256,
        ),
    ] {
        let path = dir.path().join("k.pem");
        let status = Command::new("openssl")
            .args(args)
            .arg("-out")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let key = load_signing_key(path.to_str().unwrap()).unwrap();
        assert_eq!(key.algorithm(), alg, "{args:?}");
        let der = Command::new("openssl")
            .args(["pkey", "-in"])
            .arg(&path)
            .args(["-pubout", "-outform", "DER"])
            .output()
            .unwrap();
        assert_eq!(key.verifying_key().to_spki_der(), der.stdout.as_slice());
    }
    // An RSA key is refused with the reason.
    let path = dir.path().join("rsa.pem");
    Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let err = load_signing_key(path.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not supported") && err.contains("rsa.pem"),
        "{err}"
    );
}

/// Field names checked against the in-toto Statement v1 and SLSA
/// Provenance v1 specifications.
#[test]
fn provenance_statement_fields() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let input = ProvenanceInput {
        subjects: vec![Subject::new("example.com/app:1", digest.clone())],
        spec_digest: "11".repeat(32),
        lock_digest: Some(format!("sha256:{}", "22".repeat(32))),
        parameters: json!({ "platforms": ["linux/amd64"] }),
        internal_parameters: Value::Null,
        resolved_dependencies: vec![
            ResourceDescriptor {
                name: Some("bash".into()),
                ..ResourceDescriptor::new("http://deb.example/pool/b/bash.deb", &"33".repeat(32))
            },
            ResourceDescriptor::new(
                "http://deb.example/dists/bookworm/InRelease",
                &"44".repeat(32),
            ),
        ],
        builder_id: "https://github.com/bulwark-build/bulwark".into(),
        builder_version: BTreeMap::from([("bulwark".into(), "0.1.0".into())]),
        invocation_id: None,
        started_on: None,
        finished_on: Some(1_700_000_000),
    };
    let statement = provenance_statement(&input);
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        statement["subject"],
        json!([{ "name": "example.com/app:1", "digest": { "sha256": "ab".repeat(32) } }])
    );
    let predicate = &statement["predicate"];
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(predicate), ["buildDefinition", "runDetails"]);
    let definition = &predicate["buildDefinition"];
    assert_eq!(
        keys(definition),
        ["buildType", "externalParameters", "resolvedDependencies"]
    );
    assert_eq!(definition["buildType"], BUILD_TYPE);
    assert_eq!(
        definition["externalParameters"],
        json!({
            "spec": { "digest": { "sha256": "11".repeat(32) } },
            "lock": { "digest": { "sha256": "22".repeat(32) } },
            "parameters": { "platforms": ["linux/amd64"] },
        })
    );
    assert_eq!(
        definition["resolvedDependencies"][0],
        json!({
            "name": "bash",
            "uri": "http://deb.example/pool/b/bash.deb",
            "digest": { "sha256": "33".repeat(32) },
        })
    );
    let run = &predicate["runDetails"];
    assert_eq!(
        run["builder"],
        json!({ "id": "https://github.com/bulwark-build/bulwark", "version": { "bulwark": "0.1.0" } })
    );
    assert_eq!(
        run["metadata"],
        json!({ "finishedOn": "2023-11-14T22:13:20Z" })
    );

    // Pure function of the input.
    assert_eq!(
        serde_json::to_vec(&statement).unwrap(),
        serde_json::to_vec(&provenance_statement(&input.clone())).unwrap()
    );
    // No timestamps, no metadata.
    let bare = provenance_statement(&ProvenanceInput {
        finished_on: None,
        ..input
    });
    assert!(bare["predicate"]["runDetails"].get("metadata").is_none());

    let sbom = sbom_statement(
        "app",
        &digest,
        PREDICATE_SPDX,
        json!({ "spdxVersion": "SPDX-2.3" }),
    );
    assert_eq!(sbom["predicateType"], "https://spdx.dev/Document");
    assert_eq!(sbom["predicate"]["spdxVersion"], "SPDX-2.3");
    assert_eq!(sbom["subject"][0]["digest"]["sha256"], "ab".repeat(32));
}

#[test]
fn manifest_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let digest = format!("sha256:{}", "cd".repeat(32));
    for alg in ALGORITHMS {
        let key = generate(alg);
        let public = key.verifying_key();
        let bundle = sign_manifest(&digest, "example.com/app:1", &key).unwrap();
        let json: Value = serde_json::from_slice(&bundle.to_json()).unwrap();
        assert_eq!(
            json["mediaType"],
            "application/vnd.dev.sigstore.bundle.v0.3+json"
        );
        assert_eq!(
            json["verificationMaterial"],
            json!({ "publicKey": { "hint": key.key_id() }, "tlogEntries": [] })
        );
        assert_eq!(
            json["dsseEnvelope"]["payloadType"],
            "application/vnd.in-toto+json"
        );
        let bundle = Bundle::from_json(&bundle.to_json()).unwrap();
        verify_manifest_signature(&bundle, &digest, &public).unwrap();

        // The envelope inside verifies with securesystemslib, and its
        // statement is cosign's image-signature statement.
        let pem = write(dir.path(), "key.pub", public.to_spki_pem().as_bytes());
        let env = write(
            dir.path(),
            "env.json",
            json["dsseEnvelope"].to_string().as_bytes(),
        );
        let out = python(
            SSLIB_VERIFY,
            &[pem.to_str().unwrap(), env.to_str().unwrap()],
        );
        let statement: Value = serde_json::from_str(out.split_once('\n').unwrap().1).unwrap();
        assert_eq!(
            statement,
            json!({
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{ "name": "example.com/app:1", "digest": { "sha256": "cd".repeat(32) } }],
                "predicateType": "https://sigstore.dev/cosign/sign/v1",
                "predicate": {},
            })
        );

        // Another digest: a valid signature, but not of this image.
        let other = format!("sha256:{}", "ef".repeat(32));
        let err = verify_manifest_signature(&bundle, &other, &public).unwrap_err();
        assert_eq!(
            err,
            VerifyError::DigestMismatch {
                expected: other,
                actual: digest.clone()
            }
        );

        let err = verify_manifest_signature(&bundle, &digest, &generate(alg).verifying_key())
            .unwrap_err();
        assert!(matches!(err, VerifyError::WrongKey { .. }), "{err}");

        // Re-pointing the signed statement at another digest breaks it.
        let mut tampered = json.clone();
        let payload = tampered["dsseEnvelope"]["payload"].as_str().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let changed = String::from_utf8(b64.decode(payload).unwrap())
            .unwrap()
            .replace(&"cd".repeat(32), &"ef".repeat(32));
        tampered["dsseEnvelope"]["payload"] = b64.encode(changed).into();
        let tampered = Bundle::from_json(tampered.to_string().as_bytes()).unwrap();
        let err =
            verify_manifest_signature(&tampered, &format!("sha256:{}", "ef".repeat(32)), &public)
                .unwrap_err();
        assert!(matches!(err, VerifyError::BadSignature { .. }), "{err}");

        assert!(matches!(
            Bundle::from_json(b"{\"mediaType\":\"x\",\"verificationMaterial\":{}}"),
            Err(VerifyError::Malformed(_))
        ));
        let empty = Bundle::from_json(
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}"#,
        )
        .unwrap();
        assert_eq!(
            verify_manifest_signature(&empty, &digest, &public),
            Err(VerifyError::Missing)
        );
    }
}
