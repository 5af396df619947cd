//! Errors for keys bulwark cannot use, with keys that OpenSSL writes: other
//! curves and algorithms are named, and a private key given where a public
//! key is expected is refused, naming the public key to give instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark_attest::{generate, load_signing_key, write_key_pair, Algorithm, VerifyingKey};

const SUPPORTED: &str = "which is not supported: bulwark supports Ed25519 and ECDSA P-256 keys";

fn openssl(args: &[&str], out: &Path) {
    let run = Command::new("openssl")
        .args(args)
        .arg("-out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// A private key from `openssl genpkey ARGS` at `DIR/NAME` and its public
/// key at `DIR/NAME.pub`.
fn openssl_pair(dir: &Path, name: &str, genpkey: &[&str]) -> (PathBuf, PathBuf) {
    let private = dir.join(name);
    let public = dir.join(format!("{name}.pub"));
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey);
    openssl(&args, &private);
    openssl(
        &["pkey", "-in", private.to_str().unwrap(), "-pubout"],
        &public,
    );
    (private, public)
}

fn one_line(err: &bulwark_attest::Error) -> String {
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text}");
    text
}

#[test]
fn other_curves_and_algorithms_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = openssl_pair(
        dir.path(),
        "p384",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    );
    let expected = format!(
        "is not a usable key: it is an EC key on curve P-384 (secp384r1, OID 1.3.132.0.34), \
         {SUPPORTED}"
    );

    // Verifying: the public key.
    let err = one_line(&VerifyingKey::load(&public).unwrap_err());
    assert_eq!(err, format!("`{}` {expected}", public.display()));
    // The P-256 curve's OID is not mistaken for the key's.
    assert!(!err.contains("1.2.840.10045.3.1.7"), "{err}");
    let pem = std::fs::read_to_string(&public).unwrap();
    let err = one_line(&VerifyingKey::from_pem(&pem).unwrap_err());
    assert_eq!(err, format!("public key {expected}"));

    // Signing: PKCS#8 (`genpkey`) and SEC1 (`ecparam -genkey`).
    let err = one_line(&load_signing_key(private.to_str().unwrap()).unwrap_err());
    assert_eq!(err, format!("`{}` {expected}", private.display()));
    let sec1 = dir.path().join("p384.sec1");
    openssl(
        &["ecparam", "-name", "secp384r1", "-genkey", "-noout"],
        &sec1,
    );
    assert!(std::fs::read_to_string(&sec1)
        .unwrap()
        .starts_with("-----BEGIN EC PRIVATE KEY-----"));
    let err = one_line(&load_signing_key(sec1.to_str().unwrap()).unwrap_err());
    assert_eq!(err, format!("`{}` {expected}", sec1.display()));

    // Other curves and algorithms.
    for (name, genpkey, what) in [
        (
            "p521",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"][..],
            "an EC key on curve P-521 (secp521r1, OID 1.3.132.0.35)",
        ),
        (
            "k256",
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
            ][..],
            "an EC key on curve secp256k1 (OID 1.3.132.0.10)",
        ),
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"][..],
            "an RSA key (algorithm OID 1.2.840.113549.1.1.1)",
        ),
        (
            "ed448",
            &["-algorithm", "ED448"][..],
            "an Ed448 key (algorithm OID 1.3.101.113)",
        ),
    ] {
        let (private, public) = openssl_pair(dir.path(), name, genpkey);
        let err = one_line(&VerifyingKey::load(&public).unwrap_err());
        assert_eq!(
            err,
            format!(
                "`{}` is not a usable key: it is {what}, {SUPPORTED}",
                public.display()
            )
        );
        let err = one_line(&load_signing_key(private.to_str().unwrap()).unwrap_err());
        assert!(err.contains(&format!("it is {what}, {SUPPORTED}")), "{err}");
    }

    // P-256 and Ed25519 keys from OpenSSL still load.
    for (name, genpkey) in [
        (
            "p256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"][..],
        ),
        ("ed25519", &["-algorithm", "ED25519"][..]),
    ] {
        let (private, public) = openssl_pair(dir.path(), name, genpkey);
        let signing = load_signing_key(private.to_str().unwrap()).unwrap();
        assert_eq!(
            VerifyingKey::load(&public).unwrap(),
            signing.verifying_key()
        );
    }
}

#[test]
fn a_private_key_is_refused_where_a_public_key_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [Algorithm::Ed25519, Algorithm::P256] {
        // A pair as `bulwark key generate --out K` writes it: `K`, `K.pub`.
        let private = dir.path().join(format!("k-{alg}"));
        let key = generate(alg);
        write_key_pair(&private, &key).unwrap();
        let err = one_line(&VerifyingKey::load(&private).unwrap_err());
        assert_eq!(
            err,
            format!(
                "`{}` is not a usable key: it is a private key; give its public key, `{}.pub`",
                private.display(),
                private.display()
            )
        );
        let body = key
            .to_pkcs8_pem()
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_owned();
        assert!(!err.contains(&body), "{err}");
        let public = dir.path().join(format!("k-{alg}.pub"));
        assert_eq!(VerifyingKey::load(&public).unwrap(), key.verifying_key());
    }

    // Without a `.pub` beside it, the error says how to get one; a SEC1
    // `EC PRIVATE KEY` is refused too.
    let sec1 = dir.path().join("ec.key");
    openssl(
        &["ecparam", "-name", "prime256v1", "-genkey", "-noout"],
        &sec1,
    );
    let err = one_line(&VerifyingKey::load(&sec1).unwrap_err());
    assert_eq!(
        err,
        format!(
            "`{0}` is not a usable key: it is a private key; give its public key instead \
             (`openssl pkey -in {0} -pubout` prints it)",
            sec1.display()
        )
    );
    let pem = std::fs::read_to_string(&sec1).unwrap();
    let err = one_line(&VerifyingKey::from_pem(&pem).unwrap_err());
    assert!(err.contains("it is a private key"), "{err}");
    // It still signs.
    assert_eq!(
        load_signing_key(sec1.to_str().unwrap())
            .unwrap()
            .algorithm(),
        Algorithm::P256
    );
}
