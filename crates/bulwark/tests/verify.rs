//! Hermetic tests of build-time attestations and `bulwark verify`: a signed
//! build against the fixture repository, then verification of the untouched
//! image, of copies with one byte changed in each kind of blob, with the
//! wrong key, without a signature and against a policy. Signatures and SBOMs
//! are also checked with independent implementations (securesystemslib,
//! spdx-tools, the NTIA conformance checker, cyclonedx-python-lib).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{index_json, manifest_digest, tags, Run, World};

/// The image of these tests: fixture-base, foo (+ libfoo), bar (+ baz), web
/// (+ tinyhttpd).
const MAIN: &[&str] = &["fixture-base", "foo", "bar", "web"];
const SPDX: &str = "application/spdx+json";
const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A world with a key pair `keys/release{,.pub}` and, unless `sign` is
/// false, a signed build of the main image in `out`.
struct Signed {
    w: World,
    key: PathBuf,
    layout: PathBuf,
}

impl Signed {
    fn new(sign: bool) -> Signed {
        let w = World::new();
        let key = w.path("keys/release");
        w.run(&["key", "generate", "--out", key.to_str().unwrap()])
            .ok();
        let layout = w.path("out");
        let spec = w.spec("app", MAIN, "");
        let out = format!("oci:{}:latest", layout.display());
        if sign {
            w.build_ok(&spec, &out, &["--sign", key.to_str().unwrap()]);
        } else {
            w.build_ok(&spec, &out, &[]);
        }
        Signed { w, key, layout }
    }

    fn public(&self) -> String {
        format!("{}.pub", self.key.display())
    }

    /// `bulwark verify oci:LAYOUT:latest --key KEY.pub EXTRA…`.
    fn verify(&self, layout: &Path, extra: &[&str]) -> Run {
        let target = format!("oci:{}:latest", layout.display());
        let public = self.public();
        let mut args = vec!["verify", target.as_str(), "--key", public.as_str()];
        args.extend_from_slice(extra);
        self.w.run(&args)
    }
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// The artifacts attached to `subject`, as (artifactType, kind, document
/// blob digest), from the referrers index tagged `sha256-<hex>`.
fn artifacts(layout: &Path, subject: &str) -> Vec<(String, String, String)> {
    let tag = format!("sha256-{}", subject.strip_prefix("sha256:").unwrap());
    let referrers = manifest_digest(layout, &tag);
    let index = read_json(&blob(layout, &referrers));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let manifest = read_json(&blob(layout, d["digest"].as_str().unwrap()));
            assert_eq!(manifest["subject"]["digest"], subject, "{manifest:#}");
            (
                d["artifactType"].as_str().unwrap().to_owned(),
                d["annotations"]["dev.bulwark.artifact"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                manifest["layers"][0]["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The document blob of the artifact of `artifact_type` and `kind`.
fn document(layout: &Path, subject: &str, artifact_type: &str, kind: &str) -> PathBuf {
    let all = artifacts(layout, subject);
    let (_, _, digest) = all
        .iter()
        .find(|(t, k, _)| t == artifact_type && k == kind)
        .unwrap_or_else(|| panic!("no {artifact_type} {kind} artifact: {all:?}"));
    blob(layout, digest)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// Changes one byte in the middle of a file, keeping its name.
fn tamper(path: &Path) {
    let mut bytes = fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x20;
    fs::write(path, bytes).unwrap();
}

/// Every byte of every file under `dir`, with its path.
fn all_files(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push((path.clone(), fs::read(&path).unwrap()));
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn signed_build_verifies_and_attaches_every_artifact() {
    let s = Signed::new(true);
    let digest = manifest_digest(&s.layout, "latest");

    // The referrers tag and every artifact kind.
    let all_tags: Vec<String> = common::index_json(&s.layout)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_string)
        .collect();
    assert!(
        all_tags.contains(&format!("sha256-{}", &digest[7..])),
        "{all_tags:?}"
    );
    assert_eq!(
        tags(&s.layout),
        ["latest"],
        "the referrers tag is not an image tag"
    );
    let mut found: Vec<(String, String)> = artifacts(&s.layout, &digest)
        .into_iter()
        .map(|(t, k, _)| (t, k))
        .collect();
    found.sort();
    let mut expected: Vec<(String, String)> = [
        (SPDX, "sbom-spdx"),
        (CYCLONEDX, "sbom-cyclonedx"),
        (DSSE, "provenance"),
        (DSSE, "sbom-spdx"),
        (DSSE, "sbom-cyclonedx"),
        (BUNDLE, "signature"),
    ]
    .iter()
    .map(|(t, k)| (t.to_string(), k.to_string()))
    .collect();
    expected.sort();
    assert_eq!(found, expected);
    // Every artifact manifest is listed in index.json, untagged.
    let index = index_json(&s.layout);
    let listed = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d.get("artifactType").is_some())
        .count();
    assert!(listed >= expected.len(), "{index:#}");

    let run = s.verify(&s.layout, &[]).ok();
    assert!(
        run.stdout.contains("Result: verified (exit 0)"),
        "{}",
        run.stdout
    );
    let run = s.verify(&s.layout, &["--format", "json"]).ok();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["exit_code"], 0);
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{report:#}");
    for name in ["signature", "provenance", "sbom-spdx", "sbom-cyclonedx"] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"].as_str().unwrap().starts_with(name)),
            "no `{name}` check: {report:#}"
        );
    }

    // The provenance names the spec digest, every .deb without a host name
    // (the `${BULWARK_TEST_MIRROR}` variable, unexpanded) and the builder.
    let envelope = read_json(&document(&s.layout, &digest, DSSE, "provenance"));
    let payload = base64_decode(envelope["payload"].as_str().unwrap());
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["subject"][0]["digest"]["sha256"], &digest[7..]);
    let predicate = &statement["predicate"];
    assert_eq!(
        predicate["runDetails"]["builder"]["id"],
        "https://github.com/bulwark-build/bulwark"
    );
    let spec_sha = common::sha256_file(&s.w.path("specs/app.yaml"));
    assert_eq!(
        predicate["buildDefinition"]["externalParameters"]["spec"]["digest"]["sha256"],
        spec_sha.trim_start_matches("sha256:")
    );
    let deps = predicate["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let debs: Vec<&serde_json::Value> = deps
        .iter()
        .filter(|d| d["name"].as_str().unwrap_or("").ends_with(".deb"))
        .collect();
    assert_eq!(debs.len(), 7, "{deps:#?}");
    assert!(
        deps.iter().any(|d| d["name"] == "InRelease"
            && d["uri"] == "${BULWARK_TEST_MIRROR}/dists/stable/InRelease"),
        "{deps:#?}"
    );
    let host = s.w.repo.uri();
    let text = String::from_utf8_lossy(&payload);
    assert!(!text.contains(host.as_str()), "host in provenance: {text}");
    for d in &debs {
        assert_eq!(d["digest"]["sha256"].as_str().unwrap().len(), 64);
        let uri = d["uri"].as_str().unwrap();
        assert!(uri.starts_with("${BULWARK_TEST_MIRROR}/pool/"), "{d}");
    }

    // The private key never reaches the layout: neither its PEM body, nor
    // its DER, nor any 32-byte window of the DER (the Ed25519 seed).
    let pem = fs::read_to_string(&s.key).unwrap();
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    let der = base64_decode(&body);
    let seed = &der[der.len() - 32..];
    let mut files = Vec::new();
    all_files(&s.layout, &mut files);
    for (path, bytes) in &files {
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!contains(bytes, line.as_bytes()), "PEM line in {path:?}");
        }
        assert!(!contains(bytes, &der), "key DER in {path:?}");
        assert!(!contains(bytes, seed), "private seed in {path:?}");
    }
}

/// Decodes standard base64 (what the DSSE envelopes and PEM use).
fn base64_decode(text: &str) -> Vec<u8> {
    let out = Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn one_changed_byte_anywhere_exits_5_naming_the_blob() {
    let s = Signed::new(true);
    let digest = manifest_digest(&s.layout, "latest");
    let manifest = read_json(&blob(&s.layout, &digest));
    let config = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let spdx = document(&s.layout, &digest, SPDX, "sbom-spdx");
    let signed_cdx = document(&s.layout, &digest, DSSE, "sbom-cyclonedx");
    let provenance = document(&s.layout, &digest, DSSE, "provenance");
    let name = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_owned();
    let cases: Vec<(&str, String)> = vec![
        ("layer", layer[7..].to_owned()),
        ("manifest", digest[7..].to_owned()),
        ("config", config[7..].to_owned()),
        ("sbom", name(&spdx)),
        ("signed sbom", name(&signed_cdx)),
        ("provenance", name(&provenance)),
    ];
    for (what, hex) in cases {
        let copy = s.w.path(&format!("tampered-{}", what.replace(' ', "-")));
        copy_dir(&s.layout, &copy);
        tamper(&copy.join("blobs/sha256").join(&hex));
        let run = s.verify(&copy, &[]);
        run.error(5, &["digest or the content does not match"]);
        assert!(
            run.stdout.contains(&hex),
            "changed {what}: the report does not name blob {hex}:\n{}",
            run.stdout
        );
        assert!(run.stdout.contains("FAIL"), "{}", run.stdout);
    }
}

#[test]
fn wrong_key_exits_4_and_unsigned_image_exits_3() {
    let s = Signed::new(true);
    let other = s.w.path("keys/other");
    s.w.run(&["key", "generate", "--out", other.to_str().unwrap()])
        .ok();
    let target = format!("oci:{}:latest", s.layout.display());
    let other_pub = format!("{}.pub", other.display());
    let run = s.w.run(&["verify", &target, "--key", &other_pub]);
    run.error(4, &["signature does not verify"]);
    assert!(
        run.stdout.contains("not by the given key"),
        "{}",
        run.stdout
    );

    let u = Signed::new(false);
    let digest = manifest_digest(&u.layout, "latest");
    // Unsigned builds still carry SBOMs and an unsigned provenance.
    let kinds: Vec<(String, String)> = artifacts(&u.layout, &digest)
        .into_iter()
        .map(|(t, k, _)| (t, k))
        .collect();
    assert!(
        kinds.contains(&(SPDX.into(), "sbom-spdx".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("application/vnd.in-toto+json".into(), "provenance".into())),
        "{kinds:?}"
    );
    let run = u.verify(&u.layout, &[]);
    run.error(3, &["signature is missing"]);
    assert!(run.stdout.contains("no signature of"), "{}", run.stdout);
}

#[test]
fn policy_violations_exit_1_and_unknown_keys_exit_2() {
    let s = Signed::new(true);
    let policy = s.w.path("policy.yaml");
    fs::write(
        &policy,
        "deny-packages: [\"foo*\"]\nrequire-builder: https://github.com/bulwark-build/bulwark\n",
    )
    .unwrap();
    let run = s.verify(&s.layout, &["--policy", policy.to_str().unwrap()]);
    run.error(1, &["policy"]);
    assert!(
        run.stdout
            .contains("package `foo` 1.0-1 matches deny-packages `foo*`"),
        "{}",
        run.stdout
    );
    // Globs match whole names: `libfoo` is not `foo*`.
    assert!(!run.stdout.contains("`libfoo`"), "{}", run.stdout);

    fs::write(&policy, "require-non-root: true\n").unwrap();
    let run = s.verify(
        &s.layout,
        &["--policy", policy.to_str().unwrap(), "--format", "json"],
    );
    run.error(1, &[]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        report["violations"][0]
            .as_str()
            .unwrap()
            .contains("runs as root"),
        "{report:#}"
    );

    fs::write(&policy, "deny-packages: []\nrequire-builders: x\n").unwrap();
    s.verify(&s.layout, &["--policy", policy.to_str().unwrap()])
        .error(2, &["require-builders", "line 2"]);

    fs::write(&policy, "deny-packages: [\"nothing-like-this\"]\n").unwrap();
    s.verify(&s.layout, &["--policy", policy.to_str().unwrap()])
        .ok();
}

#[test]
fn two_builds_give_byte_identical_attestations() {
    let s = Signed::new(true);
    let spec = s.w.path("specs/app.yaml");
    let second = s.w.path("out2");
    s.w.build_ok(
        &spec,
        &format!("oci:{}:latest", second.display()),
        &["--sign", s.key.to_str().unwrap()],
    );
    let digest = manifest_digest(&s.layout, "latest");
    assert_eq!(digest, manifest_digest(&second, "latest"));
    for (t, k) in [
        (SPDX, "sbom-spdx"),
        (CYCLONEDX, "sbom-cyclonedx"),
        (DSSE, "provenance"),
        (DSSE, "sbom-spdx"),
        (BUNDLE, "signature"),
    ] {
        let a = fs::read(document(&s.layout, &digest, t, k)).unwrap();
        let b = fs::read(document(&second, &digest, t, k)).unwrap();
        assert!(a == b, "{t} {k} differs between two builds");
    }
    assert_eq!(
        fs::read(s.layout.join("index.json")).unwrap(),
        fs::read(second.join("index.json")).unwrap()
    );
}

fn venv() -> PathBuf {
    std::env::var_os("BULWARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/main/target/venv"))
}

fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the venv's python ({e}): run scripts/setup.sh"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "python failed:\n{text}");
    text
}

/// securesystemslib verifies a DSSE envelope with our public key (its key
/// ID recomputed independently) and prints the payload's predicate type
/// and subject digest.
const SSLIB_VERIFY: &str = r#"
import sys, json, hashlib
from cryptography.hazmat.primitives.serialization import load_pem_public_key, Encoding, PublicFormat
from securesystemslib.signer import SSlibKey
from securesystemslib.dsse import Envelope
public = load_pem_public_key(open(sys.argv[1], "rb").read())
keyid = hashlib.sha256(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
key = SSlibKey.from_crypto(public, keyid=keyid)
doc = json.load(open(sys.argv[2]))
envelope = Envelope.from_dict(doc.get("dsseEnvelope", doc))
assert keyid in envelope.verify([key], 1)
statement = json.loads(envelope.payload)
print(statement["predicateType"], statement["subject"][0]["digest"]["sha256"])
"#;

#[test]
fn envelopes_verify_with_securesystemslib_and_sboms_pass_validators() {
    let s = Signed::new(true);
    let digest = manifest_digest(&s.layout, "latest");
    let public = PathBuf::from(s.public());
    for (t, k, predicate) in [
        (DSSE, "provenance", "https://slsa.dev/provenance/v1"),
        (DSSE, "sbom-spdx", "https://spdx.dev/Document"),
        (DSSE, "sbom-cyclonedx", "https://cyclonedx.org/bom"),
        (BUNDLE, "signature", "https://sigstore.dev/cosign/sign/v1"),
    ] {
        let out = python(
            SSLIB_VERIFY,
            &[&public, &document(&s.layout, &digest, t, k)],
        );
        assert_eq!(out.trim(), format!("{predicate} {}", &digest[7..]), "{k}");
    }

    // SPDX: spdx-tools and the NTIA minimum elements.
    let dir = s.w.path("validate");
    fs::create_dir_all(&dir).unwrap();
    let spdx = dir.join("app.spdx.json");
    fs::copy(document(&s.layout, &digest, SPDX, "sbom-spdx"), &spdx).unwrap();
    let out = Command::new(venv().join("bin/pyspdxtools"))
        .arg("-i")
        .arg(&spdx)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("invalid"), "{text}");
    let report = dir.join("ntia.json");
    Command::new(venv().join("bin/ntia-checker"))
        .args(["--comply", "ntia", "--output", "json", "--output-file"])
        .arg(&report)
        .arg(&spdx)
        .output()
        .unwrap();
    let ntia = read_json(&report);
    assert_eq!(ntia["isNtiaConformant"], true, "{ntia:#}");

    // CycloneDX 1.6, strict schema.
    let cdx = document(&s.layout, &digest, CYCLONEDX, "sbom-cyclonedx");
    let out = python(
        r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
print(repr(errors) if errors else "valid")
"#,
        &[&cdx],
    );
    assert_eq!(out.trim(), "valid");

    // The SBOM lists what the image holds, with the .deb digests.
    let doc = read_json(&spdx);
    let names: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["externalRefs"].is_array())
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for n in [
        "fixture-base",
        "foo",
        "libfoo",
        "bar",
        "baz",
        "web",
        "tinyhttpd",
    ] {
        assert!(names.contains(&n), "{n} missing: {names:?}");
    }
    assert!(doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["externalRefs"].is_array())
        .all(|p| p["checksums"][0]["algorithm"] == "SHA256"));
}
