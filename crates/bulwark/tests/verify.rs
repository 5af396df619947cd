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

use common::{index_json, manifest_digest, tags, Run, World, MAIN, MAIN_CLOSURE};

/// The image of these tests: fixture-base, foo (+ libfoo), bar (+ baz), web
/// (+ tinyhttpd).
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
    for n in MAIN_CLOSURE {
        assert!(names.contains(n), "{n} missing: {names:?}");
    }
    assert!(doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["externalRefs"].is_array())
        .all(|p| p["checksums"][0]["algorithm"] == "SHA256"));
}

/// pyspdxtools accepts the SPDX document at `path`.
fn assert_pyspdxtools_valid(path: &Path) {
    let out = Command::new(venv().join("bin/pyspdxtools"))
        .arg("-i")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run pyspdxtools ({e}): run scripts/setup.sh"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !text.contains("invalid"), "{text}");
}

/// cyclonedx-python-lib's strict CycloneDX 1.6 schema validation accepts
/// the document at `path`.
fn assert_cyclonedx_strict_valid(path: &Path) {
    let out = python(
        r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
print(repr(errors) if errors else "valid")
"#,
        &[path],
    );
    assert_eq!(out.trim(), "valid");
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn sbom_files_lists_every_file_with_its_sha256_and_passes_validators() {
    let w = World::new();
    let layout = w.path("out");
    let spec = w.spec("app", MAIN, "sbom-files: true\n");
    w.build_ok(&spec, &format!("oci:{}:files", layout.display()), &[]);
    let plain = w.spec("plain", MAIN, "");
    w.build_ok(&plain, &format!("oci:{}:plain", layout.display()), &[]);
    let digest = manifest_digest(&layout, "files");
    let foo_sha256 = sha256_hex(common::FOO_BIN.as_bytes());

    // SPDX: a file entry per regular file, with SHA-1 and SHA-256, owned
    // by its package.
    let spdx_path = document(&layout, &digest, SPDX, "sbom-spdx");
    let spdx = read_json(&spdx_path);
    let files = spdx["files"].as_array().expect("SPDX `files`");
    let foo = files
        .iter()
        .find(|f| f["fileName"] == "./usr/bin/foo")
        .unwrap_or_else(|| panic!("no /usr/bin/foo in {files:#?}"));
    let checksum = |f: &serde_json::Value, alg: &str| {
        f["checksums"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["algorithm"] == alg)
            .map(|c| c["checksumValue"].as_str().unwrap().to_owned())
    };
    assert_eq!(checksum(foo, "SHA256"), Some(foo_sha256.clone()));
    assert!(files.iter().all(|f| checksum(f, "SHA256").is_some()));
    for path in [
        "/usr/lib/os-release",
        "/usr/share/bar/bar.txt",
        "/usr/sbin/tinyhttpd",
    ] {
        assert!(
            files.iter().any(|f| f["fileName"] == format!(".{path}")),
            "no {path} in the SPDX files"
        );
    }
    let foo_pkg = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "foo")
        .unwrap();
    assert!(
        spdx["relationships"].as_array().unwrap().iter().any(|r| {
            r["spdxElementId"] == foo_pkg["SPDXID"]
                && r["relationshipType"] == "CONTAINS"
                && r["relatedSpdxElement"] == foo["SPDXID"]
        }),
        "foo does not contain /usr/bin/foo"
    );
    let dir = w.path("validate");
    fs::create_dir_all(&dir).unwrap();
    let spdx_copy = dir.join("files.spdx.json");
    fs::copy(&spdx_path, &spdx_copy).unwrap();
    assert_pyspdxtools_valid(&spdx_copy);

    // CycloneDX: file components with SHA-256, nested under their package.
    let cdx_path = document(&layout, &digest, CYCLONEDX, "sbom-cyclonedx");
    let cdx = read_json(&cdx_path);
    let foo_component = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "foo")
        .unwrap();
    let foo_file = foo_component["components"]
        .as_array()
        .expect("foo's file components")
        .iter()
        .find(|c| c["name"] == "/usr/bin/foo")
        .unwrap();
    assert_eq!(foo_file["type"], "file");
    assert!(foo_file["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["alg"] == "SHA-256" && h["content"] == foo_sha256.as_str()));
    let cdx_copy = dir.join("files.cdx.json");
    fs::copy(&cdx_path, &cdx_copy).unwrap();
    assert_cyclonedx_strict_valid(&cdx_copy);

    // A rebuild takes what reading each layer found from the cache, and an
    // unusable cache record is read again from the image: the same bytes.
    let again = w.path("again");
    w.build_ok(&spec, &format!("oci:{}:files", again.display()), &[]);
    let records = w.path("cache/records/layer-scan");
    let mut damaged = 0;
    for entry in walk(&records) {
        fs::write(entry, b"not a digest").unwrap();
        damaged += 1;
    }
    assert!(
        damaged >= 2,
        "no layer-scan records in {}",
        records.display()
    );
    let damaged_build = w.path("damaged");
    w.build_ok(
        &spec,
        &format!("oci:{}:files", damaged_build.display()),
        &[],
    );
    for other in [&again, &damaged_build] {
        assert_eq!(manifest_digest(other, "files"), digest);
        for (t, k) in [(SPDX, "sbom-spdx"), (CYCLONEDX, "sbom-cyclonedx")] {
            assert!(
                fs::read(document(&layout, &digest, t, k)).unwrap()
                    == fs::read(document(other, &digest, t, k)).unwrap(),
                "{k} differs in {}",
                other.display()
            );
        }
    }

    // The default is no file entries.
    let plain_digest = manifest_digest(&layout, "plain");
    assert_ne!(plain_digest, digest, "the spec digest is in the manifest");
    let plain_spdx = read_json(&document(&layout, &plain_digest, SPDX, "sbom-spdx"));
    assert!(
        plain_spdx["files"].as_array().is_none_or(|f| f.is_empty()),
        "{:#}",
        plain_spdx["files"]
    );
    let plain_cdx = read_json(&document(
        &layout,
        &plain_digest,
        CYCLONEDX,
        "sbom-cyclonedx",
    ));
    assert!(plain_cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["components"].as_array().is_none_or(|f| f.is_empty())));
}

#[test]
fn a_failed_attestation_step_leaves_the_layout_unchanged() {
    let s = Signed::new(true);
    let key = s.key.to_str().unwrap().to_owned();
    let spec = s.w.spec("second", &["foo"], "");

    // A key that cannot be read fails before anything is written.
    let index_before = fs::read(s.layout.join("index.json")).unwrap();
    let listing_before = common::listing(&s.layout);
    let out = format!("oci:{}:second", s.layout.display());
    let missing = s.w.path("keys/missing").display().to_string();
    s.w.run(&[
        "build",
        spec.to_str().unwrap(),
        "-o",
        &out,
        "--sign",
        &missing,
    ])
    .error(2, &["keys/missing"]);
    assert_eq!(fs::read(s.layout.join("index.json")).unwrap(), index_before);
    assert_eq!(common::listing(&s.layout), listing_before);

    // The same build into a fresh layout gives the artifacts' blobs (builds
    // are reproducible). Put a directory where the image signature's blob
    // goes, so the build fails after every attestation was made.
    let probe = s.w.path("probe");
    s.w.build_ok(
        &spec,
        &format!("oci:{}:second", probe.display()),
        &["--sign", &key],
    );
    let second = manifest_digest(&probe, "second");
    let signature = document(&probe, &second, BUNDLE, "signature");
    let hex = signature.file_name().unwrap().to_str().unwrap().to_owned();
    let blocked = s.layout.join("blobs/sha256").join(&hex);
    assert!(!blocked.exists());
    fs::create_dir_all(blocked.join("x")).unwrap();
    let listing_blocked = common::listing(&s.layout);

    let run =
        s.w.run(&["build", spec.to_str().unwrap(), "-o", &out, "--sign", &key]);
    run.error(2, &["cannot write image", &hex]);
    assert_eq!(fs::read(s.layout.join("index.json")).unwrap(), index_before);
    assert_eq!(tags(&s.layout), ["latest"]);
    assert_eq!(
        common::listing(&s.layout),
        listing_blocked,
        "blobs were left behind"
    );
    let beside: Vec<String> = fs::read_dir(s.w.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(beside.is_empty(), "staging left behind: {beside:?}");
    s.verify(&s.layout, &[]).ok();

    // Without the obstacle, the same build publishes the tag and all its
    // attestations together.
    fs::remove_dir_all(&blocked).unwrap();
    s.w.build_ok(&spec, &out, &["--sign", &key]);
    assert_eq!(tags(&s.layout), ["latest", "second"]);
    assert_eq!(manifest_digest(&s.layout, "second"), second);
    assert_eq!(artifacts(&s.layout, &second).len(), 6);
    s.verify(&s.layout, &[]).ok();
    let target = format!("oci:{}:second", s.layout.display());
    let public = s.public();
    s.w.run(&["verify", &target, "--key", &public]).ok();
}

/// A world whose packages have machine-readable copyright files:
/// `mit-tool` (Expat → MIT), `gpl-tool` (GPL-2+ → GPL-2.0-or-later),
/// `dual-tool` (Expat or GPL-3+), and `fixture-base`, whose copyright is
/// not machine-readable (NOASSERTION).
fn licensed_world() -> World {
    use bulwark_testkit::{DebBuilder, FixtureRepo};
    let dep5 = |license: &str| {
        format!(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
             Files: *\nCopyright: 2024 bulwark tests\nLicense: {license}\n"
        )
    };
    let tool = |name: &str, license: &str| {
        DebBuilder::new(name, "1.0-1")
            .arch("all")
            .file(&format!("usr/share/{name}/x"), "x\n")
            .file(&format!("usr/share/doc/{name}/copyright"), dep5(license))
    };
    let repo = FixtureRepo::builder()
        .deb(
            DebBuilder::new("fixture-base", "12.4")
                .field("Essential", "yes")
                .field("Priority", "required")
                .file("usr/lib/os-release", common::OS_RELEASE)
                .symlink("etc/os-release", "../usr/lib/os-release")
                .file("usr/share/doc/fixture-base/copyright", "public domain\n"),
        )
        .deb(tool("mit-tool", "Expat"))
        .deb(tool("gpl-tool", "GPL-2+"))
        .deb(tool("dual-tool", "Expat or GPL-3+"))
        .build();
    World {
        tmp: tempfile::tempdir().unwrap(),
        repo,
    }
}

/// `bulwark verify --policy` with `policy` as the policy file, as JSON:
/// the exit code and the violations.
fn policy_run(s: &Signed, policy: &str) -> (Option<i32>, Vec<String>) {
    let path = s.w.path("policy.yaml");
    fs::write(&path, policy).unwrap();
    let run = s.verify(
        &s.layout,
        &["--policy", path.to_str().unwrap(), "--format", "json"],
    );
    let report: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {run:#?}"));
    let violations = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    (run.code, violations)
}

/// The licensed fixture packages built signed into `out:latest`, with
/// `extra` spec keys.
fn signed_licensed(extra: &str) -> Signed {
    let w = licensed_world();
    let key = w.path("keys/release");
    w.run(&["key", "generate", "--out", key.to_str().unwrap()])
        .ok();
    let layout = w.path("out");
    let spec = w.spec(
        "licensed",
        &["fixture-base", "mit-tool", "gpl-tool", "dual-tool"],
        extra,
    );
    w.build_ok(
        &spec,
        &format!("oci:{}:latest", layout.display()),
        &["--sign", key.to_str().unwrap()],
    );
    Signed { w, key, layout }
}

#[test]
fn license_and_builder_policies_through_verify() {
    let s = signed_licensed("");
    let only = |violations: &[String], packages: &[&str], rule: &str| {
        assert_eq!(violations.len(), packages.len(), "{violations:#?}");
        for p in packages {
            assert!(
                violations
                    .iter()
                    .any(|v| v.contains(&format!("package `{p}` has license")) && v.contains(rule)),
                "no {rule} violation for `{p}`: {violations:#?}"
            );
        }
    };

    // allow-licenses: every expression must be satisfiable with the list.
    let (code, v) = policy_run(&s, "allow-licenses: [MIT, \"GPL-*\", NOASSERTION]\n");
    assert_eq!((code, v.len()), (Some(0), 0), "{v:#?}");
    let (code, v) = policy_run(&s, "allow-licenses: [MIT, NOASSERTION]\n");
    assert_eq!(code, Some(1));
    only(&v, &["gpl-tool"], "not allowed by allow-licenses");
    assert!(
        v[0].contains("`GPL-2.0-or-later`"),
        "the violation names the license: {v:#?}"
    );
    // Case-insensitive globs; NOASSERTION must be listed to be accepted.
    let (code, v) = policy_run(&s, "allow-licenses: [mit, \"gpl-*\"]\n");
    assert_eq!(code, Some(1));
    only(&v, &["fixture-base"], "not allowed by allow-licenses");

    // deny-licenses: every expression must be satisfiable without them.
    let (code, v) = policy_run(&s, "deny-licenses: [\"GPL-*\"]\n");
    assert_eq!(code, Some(1));
    only(&v, &["gpl-tool"], "denied by deny-licenses");
    let (code, v) = policy_run(&s, "deny-licenses: [MIT]\n");
    assert_eq!(code, Some(1));
    only(&v, &["mit-tool"], "denied by deny-licenses");
    let (code, v) = policy_run(&s, "deny-licenses: [Apache-2.0]\n");
    assert_eq!((code, v.len()), (Some(0), 0), "{v:#?}");

    // require-builder: the signed provenance's builder must match.
    let (code, v) = policy_run(&s, "require-builder: https://example.invalid/builder\n");
    assert_eq!(code, Some(1));
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].contains("builder is `https://github.com/bulwark-build/bulwark`")
            && v[0].contains("require-builder wants `https://example.invalid/builder`"),
        "{v:#?}"
    );
    let (code, _) = policy_run(
        &s,
        "require-builder: https://github.com/bulwark-build/bulwark\n",
    );
    assert_eq!(code, Some(0));
}

/// A tiny OSV feed for the main image's packages (Debian 12): `foo`
/// (high), `baz` (critical, by CVSS) and `bar` (low), all fixed later.
fn write_osv_fixture(dir: &Path) {
    let record = |id: &str, package: &str, fixed: &str, urgency: &str| {
        serde_json::json!({
            "schema_version": "1.6.0",
            "id": id,
            "modified": "2024-06-01T00:00:00Z",
            "affected": [{
                "package": {"ecosystem": "Debian:12", "name": package,
                            "purl": format!("pkg:deb/debian/{package}?arch=source")},
                "ranges": [{"type": "ECOSYSTEM",
                            "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                "ecosystem_specific": {"urgency": urgency},
            }],
        })
    };
    let mut critical = record("CVE-2099-0002", "baz", "1.0-2", "not yet assigned");
    critical["severity"] = serde_json::json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]);
    for (name, value) in [
        (
            "CVE-2099-0001.json",
            record("CVE-2099-0001", "foo", "1.0-2", "high"),
        ),
        ("CVE-2099-0002.json", critical),
        (
            "CVE-2099-0003.json",
            record("CVE-2099-0003", "bar", "2.0-2", "low"),
        ),
    ] {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(name), serde_json::to_vec(&value).unwrap()).unwrap();
    }
}

#[test]
fn max_severity_fails_naming_the_worst_findings_above_it() {
    let s = Signed::new(true);
    let feed = s.w.path("osv");
    write_osv_fixture(&feed);
    let db = s.w.path("vuln.db");
    let db_arg = db.to_str().unwrap();
    s.w.run(&["db", "import", feed.to_str().unwrap(), "--db", db_arg])
        .ok();
    let policy = s.w.path("policy.yaml");
    let policy_arg = policy.to_str().unwrap();

    fs::write(&policy, "max-severity: medium\n").unwrap();
    let run = s.verify(&s.layout, &["--policy", policy_arg, "--db", db_arg]);
    run.error(1, &["policy"]);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("above max-severity `medium`"))
        .unwrap_or_else(|| panic!("no max-severity violation:\n{}", run.stdout));
    let critical = line.find("CVE-2099-0002 (critical) in `baz` 1.0-1");
    let high = line.find("CVE-2099-0001 (high) in `foo` 1.0-1");
    assert!(
        critical.is_some() && high.is_some() && critical < high,
        "worst first: {line}"
    );
    assert!(line.contains("3 findings"), "{line}");
    // libfoo is built from the source package foo.
    assert!(
        line.contains("CVE-2099-0001 (high) in `libfoo` 1.0-1"),
        "{line}"
    );
    assert!(!run.stdout.contains("CVE-2099-0003"), "{}", run.stdout);

    // The same through BULWARK_DB; a threshold nothing exceeds passes.
    fs::write(&policy, "max-severity: critical\n").unwrap();
    let target = format!("oci:{}:latest", s.layout.display());
    let public = s.public();
    let args = ["verify", &target, "--key", &public, "--policy", policy_arg];
    let out =
        s.w.cmd()
            .env("BULWARK_DB", &db)
            .args(args)
            .output()
            .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("no finding above max-severity `critical` (4 findings in all)"),
        "{stdout}"
    );

    // A value that is not a severity is refused at load, naming its line.
    fs::write(&policy, "deny-packages: []\nmax-severity: severe\n").unwrap();
    s.verify(&s.layout, &["--policy", policy_arg, "--db", db_arg])
        .error(2, &["max-severity", "severe", "line 2"]);

    // No database: one line, with a hint (exit 2).
    fs::write(&policy, "max-severity: high\n").unwrap();
    let out =
        s.w.cmd()
            .env_remove("BULWARK_DB")
            .env_remove("XDG_CACHE_HOME")
            .args(args)
            .output()
            .unwrap();
    let run = Run {
        args: args.join(" "),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.error(
        2,
        &[
            "max-severity: high",
            "--db FILE",
            "no vulnerability database",
            "bulwark db import",
        ],
    );

    // A database without the image's release checks nothing: that fails
    // the rule rather than passing it.
    let other = s.w.path("osv-11");
    fs::create_dir_all(&other).unwrap();
    fs::write(
        other.join("CVE-2099-0011.json"),
        r#"{"schema_version":"1.6.0","id":"CVE-2099-0011","modified":"2025-01-01T00:00:00Z",
           "affected":[{"package":{"ecosystem":"Debian:11","name":"foo"},
           "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"9"}]}]}]}"#,
    )
    .unwrap();
    let db_11 = s.w.path("vuln-11.db");
    s.w.run(&[
        "db",
        "import",
        other.to_str().unwrap(),
        "--db",
        db_11.to_str().unwrap(),
    ])
    .ok();
    fs::write(&policy, "max-severity: critical\n").unwrap();
    let run = s.verify(
        &s.layout,
        &["--policy", policy_arg, "--db", db_11.to_str().unwrap()],
    );
    run.error(1, &["policy"]);
    assert!(
        run.stdout.contains("nothing could be checked")
            && run.stdout.contains("no entries for Debian release `12`"),
        "{}",
        run.stdout
    );
}

/// Rewrites the document of the artifact of `artifact_type` and `kind`
/// attached to `subject` with `edit`, and fixes up every digest that names
/// it (the artifact manifest, the referrers index, `index.json`), so that
/// every blob still matches its digest. Returns the new artifact manifest
/// digest.
fn rewrite_artifact(
    layout: &Path,
    subject: &str,
    artifact_type: &str,
    kind: &str,
    edit: impl FnOnce(Vec<u8>) -> Vec<u8>,
) -> String {
    let put = |bytes: &[u8]| -> (String, u64) {
        let digest = format!("sha256:{}", sha256_hex(bytes));
        fs::write(blob(layout, &digest), bytes).unwrap();
        (digest, bytes.len() as u64)
    };
    let tag = format!("sha256-{}", &subject[7..]);
    let referrers_digest = manifest_digest(layout, &tag);
    let mut referrers = read_json(&blob(layout, &referrers_digest));
    let entry = referrers["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| {
            d["artifactType"] == artifact_type && d["annotations"]["dev.bulwark.artifact"] == kind
        })
        .unwrap_or_else(|| panic!("no {artifact_type} {kind} artifact"));
    let old_manifest = entry["digest"].as_str().unwrap().to_owned();
    let mut manifest = read_json(&blob(layout, &old_manifest));
    let document = fs::read(blob(
        layout,
        manifest["layers"][0]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let (digest, size) = put(&edit(document));
    manifest["layers"][0]["digest"] = digest.into();
    manifest["layers"][0]["size"] = size.into();
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    entry["digest"] = manifest_digest.clone().into();
    entry["size"] = manifest_size.into();
    let (referrers_new, referrers_size) = put(&serde_json::to_vec(&referrers).unwrap());
    let mut index = index_json(layout);
    for d in index["manifests"].as_array_mut().unwrap() {
        if d["digest"] == old_manifest.as_str() {
            d["digest"] = manifest_digest.clone().into();
            d["size"] = manifest_size.into();
        } else if d["digest"] == referrers_digest.as_str() {
            d["digest"] = referrers_new.clone().into();
            d["size"] = referrers_size.into();
        }
    }
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    manifest_digest
}

/// Edits the payload (an in-toto statement) of a DSSE envelope; re-signs
/// it with `key` when given, else keeps the old signature.
fn edit_statement(
    envelope: Vec<u8>,
    key: Option<&Path>,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Vec<u8> {
    let envelope: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    let mut statement: serde_json::Value =
        serde_json::from_slice(&base64_decode(envelope["payload"].as_str().unwrap())).unwrap();
    edit(&mut statement);
    let payload = serde_json::to_vec(&statement).unwrap();
    match key {
        Some(key) => {
            let key = bulwark_attest::load_signing_key(key.to_str().unwrap()).unwrap();
            bulwark_attest::dsse_sign(bulwark_attest::PAYLOAD_TYPE_IN_TOTO, &payload, &key)
                .to_json()
        }
        None => {
            let mut envelope = envelope;
            envelope["payload"] = base64_encode(&payload).into();
            serde_json::to_vec(&envelope).unwrap()
        }
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// `verify` of a copy of the signed layout whose artifact was rewritten
/// consistently by `rewrite`; asserts exit `code`, a FAIL line for
/// `check` that contains every needle, and that the report names the new
/// artifact manifest.
fn verify_rewritten(
    s: &Signed,
    name: &str,
    code: i32,
    check: &str,
    needles: &[&str],
    rewrite: impl FnOnce(&Path, &str) -> String,
) {
    let copy = s.w.path(name);
    copy_dir(&s.layout, &copy);
    let digest = manifest_digest(&copy, "latest");
    let artifact = rewrite(&copy, &digest);
    let run = s.verify(&copy, &[]);
    assert_eq!(run.code, Some(code), "{name}: {run:#?}");
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("FAIL") && l.contains(check))
        .unwrap_or_else(|| panic!("{name}: no failed `{check}` check:\n{}", run.stdout));
    for n in needles.iter().chain([&artifact.as_str()]) {
        assert!(line.contains(n), "{name}: `{n}` not in: {line}");
    }
}

#[test]
fn consistently_rewritten_artifacts_fail_their_deeper_checks() {
    let s = Signed::new(true);
    let key = s.key.clone();
    let drop_package = |doc: &mut serde_json::Value, list: &str, name: &str| {
        let items = doc[list].as_array_mut().unwrap();
        let before = items.len();
        items.retain(|p| p["name"] != name);
        assert_eq!(items.len(), before - 1, "no `{name}` in `{list}`");
    };

    // An unsigned SBOM copy that lists other packages than the image.
    verify_rewritten(
        &s,
        "unsigned-spdx-differs",
        5,
        "sbom-spdx",
        &[
            "unsigned copy",
            "`bar` 2.0-1 (all) is in the image, not in the SBOM",
        ],
        |layout, digest| {
            rewrite_artifact(layout, digest, SPDX, "sbom-spdx", |doc| {
                let mut doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
                drop_package(&mut doc, "packages", "bar");
                serde_json::to_vec(&doc).unwrap()
            })
        },
    );
    // A validly signed SBOM statement that lists other packages.
    verify_rewritten(
        &s,
        "signed-cdx-differs",
        5,
        "sbom-cyclonedx",
        &[
            "(signed)",
            "`web` 1.0-1 (all) is in the image, not in the SBOM",
        ],
        |layout, digest| {
            rewrite_artifact(layout, digest, DSSE, "sbom-cyclonedx", |envelope| {
                edit_statement(envelope, Some(&key), |statement| {
                    drop_package(&mut statement["predicate"], "components", "web");
                })
            })
        },
    );
    // A PURL that is not the image's, in the unsigned CycloneDX copy.
    verify_rewritten(
        &s,
        "purl-differs",
        5,
        "sbom-cyclonedx",
        &["`foo` 1.0-1", "has PURL", "distro=debian-11"],
        |layout, digest| {
            rewrite_artifact(layout, digest, CYCLONEDX, "sbom-cyclonedx", |doc| {
                let text = String::from_utf8(doc).unwrap();
                let purl = "pkg:deb/debian/foo@1.0-1?arch=amd64&distro=debian-12";
                assert!(text.contains(purl), "{text}");
                text.replace(purl, "pkg:deb/debian/foo@1.0-1?arch=amd64&distro=debian-11")
                    .into_bytes()
            })
        },
    );
    // A .deb checksum that is not the one the signed provenance names.
    verify_rewritten(
        &s,
        "checksum-differs",
        5,
        "sbom-spdx",
        &["`libfoo` 1.0-1 (amd64)", "SHA-256", "signed provenance"],
        |layout, digest| {
            rewrite_artifact(layout, digest, SPDX, "sbom-spdx", |doc| {
                let mut doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
                let libfoo = doc["packages"]
                    .as_array_mut()
                    .unwrap()
                    .iter_mut()
                    .find(|p| p["name"] == "libfoo")
                    .unwrap();
                libfoo["checksums"][0]["checksumValue"] = "00".repeat(32).into();
                serde_json::to_vec(&doc).unwrap()
            })
        },
    );
    // A validly signed provenance whose subject is another image.
    let other = "ab".repeat(32);
    verify_rewritten(
        &s,
        "provenance-other-subject",
        5,
        "provenance",
        &[&format!(
            "subject is sha256:{other}, not the image manifest"
        )],
        |layout, digest| {
            rewrite_artifact(layout, digest, DSSE, "provenance", |envelope| {
                edit_statement(envelope, Some(&key), |statement| {
                    statement["subject"][0]["digest"]["sha256"] = other.clone().into();
                })
            })
        },
    );
    // An altered payload under the old signature.
    verify_rewritten(
        &s,
        "payload-altered",
        4,
        "sbom-spdx",
        &["does not verify"],
        |layout, digest| {
            rewrite_artifact(layout, digest, DSSE, "sbom-spdx", |envelope| {
                edit_statement(envelope, None, |statement| {
                    drop_package(&mut statement["predicate"], "packages", "foo");
                })
            })
        },
    );
}

/// `rewrite_artifact` of a JSON document (an unsigned SBOM copy) by `edit`.
fn rewrite_json(
    layout: &Path,
    subject: &str,
    artifact_type: &str,
    kind: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> String {
    rewrite_artifact(layout, subject, artifact_type, kind, |doc| {
        let mut doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        edit(&mut doc);
        serde_json::to_vec(&doc).unwrap()
    })
}

/// The entry of `list` named `name` in an SBOM document.
fn entry<'a>(doc: &'a mut serde_json::Value, list: &str, name: &str) -> &'a mut serde_json::Value {
    doc[list]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` in `{list}`"))
}

#[test]
fn forged_sbom_entries_fail_duplicates_extra_packages_and_licenses() {
    let s = Signed::new(true);
    let key = s.key.clone();

    // A duplicate placed first, with another repository and an all-zero
    // .deb SHA-256: the package is named as listed twice.
    verify_rewritten(
        &s,
        "spdx-duplicate",
        5,
        "sbom-spdx",
        &["unsigned copy", "`libfoo` 1.0-1 (amd64) is listed twice"],
        |layout, digest| {
            rewrite_json(layout, digest, SPDX, "sbom-spdx", |doc| {
                let mut forged = entry(doc, "packages", "libfoo").clone();
                let purl = forged["externalRefs"][0]["referenceLocator"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                forged["externalRefs"][0]["referenceLocator"] =
                    format!("{purl}&repository_url=https://evil.example").into();
                forged["checksums"][0]["checksumValue"] = "00".repeat(32).into();
                forged["SPDXID"] = "SPDXRef-Package-forged".into();
                doc["packages"].as_array_mut().unwrap().insert(0, forged);
            })
        },
    );
    // An extra package with only a CPE, no PURL.
    verify_rewritten(
        &s,
        "spdx-cpe-only",
        5,
        "sbom-spdx",
        &["package `libevil` (SPDXRef-Package-evil) has no pkg:deb PURL"],
        |layout, digest| {
            rewrite_json(layout, digest, SPDX, "sbom-spdx", |doc| {
                let mut evil = entry(doc, "packages", "foo").clone();
                evil["name"] = "libevil".into();
                evil["SPDXID"] = "SPDXRef-Package-evil".into();
                evil["versionInfo"] = "6.6.6".into();
                evil["externalRefs"] = serde_json::json!([{
                    "referenceCategory": "SECURITY",
                    "referenceType": "cpe23Type",
                    "referenceLocator": "cpe:2.3:a:evil:libevil:6.6.6:*:*:*:*:*:*:*"
                }]);
                doc["packages"].as_array_mut().unwrap().push(evil);
            })
        },
    );
    // A relicensed package, in the unsigned copy and in a validly signed
    // statement.
    verify_rewritten(
        &s,
        "spdx-relicensed",
        5,
        "sbom-spdx",
        &[
            "`foo` 1.0-1 (amd64) has license `MIT` in the SBOM",
            "NOASSERTION",
        ],
        |layout, digest| {
            rewrite_json(layout, digest, SPDX, "sbom-spdx", |doc| {
                entry(doc, "packages", "foo")["licenseDeclared"] = "MIT".into();
            })
        },
    );
    verify_rewritten(
        &s,
        "signed-spdx-relicensed",
        5,
        "sbom-spdx",
        &["(signed)", "`bar` 2.0-1 (all) has license `MIT`"],
        |layout, digest| {
            rewrite_artifact(layout, digest, DSSE, "sbom-spdx", |envelope| {
                edit_statement(envelope, Some(&key), |statement| {
                    entry(&mut statement["predicate"], "packages", "bar")["licenseConcluded"] =
                        "MIT".into();
                })
            })
        },
    );
    // A component nested under another, not in the image.
    verify_rewritten(
        &s,
        "cdx-nested",
        5,
        "sbom-cyclonedx",
        &["`libevil` 6.6.6 (amd64) is in the SBOM, not in the image"],
        |layout, digest| {
            rewrite_json(layout, digest, CYCLONEDX, "sbom-cyclonedx", |doc| {
                let purl = "pkg:deb/debian/libevil@6.6.6?arch=amd64&distro=debian-12";
                entry(doc, "components", "foo")["components"] = serde_json::json!([{
                    "type": "library", "bom-ref": purl, "name": "libevil",
                    "version": "6.6.6", "purl": purl,
                }]);
            })
        },
    );
    // A nested component without a PURL.
    verify_rewritten(
        &s,
        "cdx-nested-no-purl",
        5,
        "sbom-cyclonedx",
        &["component `libevil` (type library) has no pkg:deb PURL"],
        |layout, digest| {
            rewrite_json(layout, digest, CYCLONEDX, "sbom-cyclonedx", |doc| {
                entry(doc, "components", "web")["components"] = serde_json::json!([{
                    "type": "library", "name": "libevil", "version": "6.6.6",
                }]);
            })
        },
    );
    // A relicensed component.
    verify_rewritten(
        &s,
        "cdx-relicensed",
        5,
        "sbom-cyclonedx",
        &["`web` 1.0-1 (all) has license `MIT` in the SBOM"],
        |layout, digest| {
            rewrite_json(layout, digest, CYCLONEDX, "sbom-cyclonedx", |doc| {
                entry(doc, "components", "web")["licenses"] =
                    serde_json::json!([{"license": {"id": "MIT"}}]);
            })
        },
    );
}

#[test]
fn sboms_with_licenses_and_files_verify() {
    // Real licenses (MIT, GPL, `MIT OR GPL-3.0-or-later`, NOASSERTION)
    // and, with `sbom-files`, file components nested under packages.
    let s = signed_licensed("sbom-files: true\n");
    let run = s.verify(&s.layout, &[]).ok();
    assert_eq!(
        run.stdout.matches("with their PURLs, licenses").count(),
        4,
        "{}",
        run.stdout
    );
    // A relicensed package of a machine-readable copyright file.
    verify_rewritten(
        &s,
        "cdx-relicensed",
        5,
        "sbom-cyclonedx",
        &[
            "`gpl-tool` 1.0-1 (all) has license `MIT`",
            "GPL-2.0-or-later",
        ],
        |layout, digest| {
            rewrite_json(layout, digest, CYCLONEDX, "sbom-cyclonedx", |doc| {
                entry(doc, "components", "gpl-tool")["licenses"] =
                    serde_json::json!([{"expression": "MIT"}]);
            })
        },
    );
}

#[test]
fn a_missing_layer_blob_exits_5_naming_it() {
    let s = Signed::new(true);
    let digest = manifest_digest(&s.layout, "latest");
    let manifest = read_json(&blob(&s.layout, &digest));
    let layer = manifest["layers"][0]["digest"].as_str().unwrap().to_owned();
    let copy = s.w.path("missing-layer");
    copy_dir(&s.layout, &copy);
    fs::remove_file(blob(&copy, &layer)).unwrap();
    let run = s.verify(&copy, &[]);
    run.error(5, &["digest or the content does not match"]);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("FAIL"))
        .unwrap_or_else(|| panic!("no FAIL line:\n{}", run.stdout));
    assert!(
        line.contains(&layer[7..]) && line.contains("is missing"),
        "{line}"
    );
    assert!(
        run.stdout
            .contains("Result: digest or content mismatch (exit 5)"),
        "{}",
        run.stdout
    );

    // A missing artifact document that the image's referrers index lists
    // is a mismatch too.
    let copy = s.w.path("missing-document");
    copy_dir(&s.layout, &copy);
    let spdx = document(&copy, &digest, SPDX, "sbom-spdx");
    fs::remove_file(&spdx).unwrap();
    let run = s.verify(&copy, &[]);
    run.error(5, &[]);
    let hex = spdx.file_name().unwrap().to_str().unwrap();
    assert!(
        run.stdout.contains(hex) && run.stdout.contains("is missing"),
        "{}",
        run.stdout
    );
}

#[test]
fn unrelated_dangling_artifacts_are_ignored_and_errors_are_reported_once() {
    let s = Signed::new(true);
    let digest = manifest_digest(&s.layout, "latest");
    let other = s.w.spec("other", &["foo"], "");
    s.w.build_ok(
        &other,
        &format!("oci:{}:other", s.layout.display()),
        &["--sign", s.key.to_str().unwrap()],
    );

    // An artifact entry of another type whose blob is absent.
    let copy = s.w.path("dangling");
    copy_dir(&s.layout, &copy);
    let dangling = format!("sha256:{}", "a".repeat(64));
    let mut index = index_json(&copy);
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": dangling,
            "size": 512,
            "artifactType": "application/vnd.example.unrelated",
        }));
    fs::write(copy.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let public = s.public();
    for tag in ["latest", "other"] {
        let target = format!("oci:{}:{tag}", copy.display());
        let run = s.w.run(&["verify", &target, "--key", &public]).ok();
        assert!(!run.stdout.contains("FAIL"), "{}", run.stdout);
        assert_eq!(
            run.stdout.matches(&dangling).count(),
            1,
            "one note names the ignored entry:\n{}",
            run.stdout
        );
    }

    // The same entry listed in the image's referrers index claims to be
    // one of its artifacts: a mismatch, reported once.
    let tag = format!("sha256-{}", &digest[7..]);
    let referrers_digest = manifest_digest(&copy, &tag);
    let mut referrers = read_json(&blob(&copy, &referrers_digest));
    referrers["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": dangling,
            "size": 512,
            "artifactType": "application/vnd.example.unrelated",
        }));
    let bytes = serde_json::to_vec(&referrers).unwrap();
    let new_digest = format!("sha256:{}", sha256_hex(&bytes));
    fs::write(blob(&copy, &new_digest), &bytes).unwrap();
    let mut index = index_json(&copy);
    for d in index["manifests"].as_array_mut().unwrap() {
        if d["digest"] == referrers_digest.as_str() {
            d["digest"] = new_digest.clone().into();
            d["size"] = bytes.len().into();
        }
    }
    fs::write(copy.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let run = s.verify(&copy, &[]);
    run.error(5, &["digest or the content does not match"]);
    let failures: Vec<&str> = run.stdout.lines().filter(|l| l.contains("FAIL")).collect();
    assert_eq!(failures.len(), 1, "{}", run.stdout);
    assert!(
        failures[0].contains(&dangling) && failures[0].contains("is missing"),
        "{}",
        run.stdout
    );
    // The other image's verification is not affected.
    let target = format!("oci:{}:other", copy.display());
    s.w.run(&["verify", &target, "--key", &public]).ok();
}

#[test]
fn an_unknown_policy_key_on_the_first_line_is_named_with_its_line() {
    let w = World::new();
    let key = w.path("keys/release");
    w.run(&["key", "generate", "--out", key.to_str().unwrap()])
        .ok();
    let policy = w.path("policy.yaml");
    fs::write(&policy, "deny-package: [x]\n").unwrap();
    let target = format!("oci:{}:latest", w.path("out").display());
    let public = format!("{}.pub", key.display());
    let run = w.run(&[
        "verify",
        &target,
        "--key",
        &public,
        "--policy",
        policy.to_str().unwrap(),
    ]);
    run.error(2, &["deny-package", "line 1", "policy.yaml"]);
}
