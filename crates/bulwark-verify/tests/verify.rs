//! `bulwark-verify` called as a library: an image with attestations made
//! here, independently of the `bulwark build` pipeline, from the documented
//! formats (OCI 1.1 referrers, DSSE, in-toto, SLSA, Sigstore bundles), then
//! verified as it is, tampered with, with the wrong key, and against each
//! policy rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulwark_attest::{
    bundle_artifact, dsse_artifact, dsse_sign, generate, provenance_statement, sbom_statement,
    sign_manifest, Algorithm, ProvenanceInput, ResourceDescriptor, SigningKey, Subject,
    PAYLOAD_TYPE_IN_TOTO, PREDICATE_COSIGN_SIGN_V1, PREDICATE_CYCLONEDX,
    PREDICATE_SLSA_PROVENANCE_V1, PREDICATE_SPDX,
};
use bulwark_emit::{compress_layer, Compression, History, ImageSpec, Target};
use bulwark_oci::{media_type, Artifact, Descriptor, ImageRef, Layout};
use bulwark_verify::{verify, FailureKind, Policy, VerifyReport, MEDIA_TYPE_DEB};
use serde_json::{json, Value};

const BUILDER: &str = "https://example.invalid/builder";
const DEB_SHA256: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

/// An uncompressed layer: a distroless dpkg database with `hello` (source
/// `greeting`), its copyright file, a binary and os-release.
fn layer_tar() -> Vec<u8> {
    let stanza = "Package: hello\nStatus: install ok installed\nVersion: 1.0-1\n\
                  Architecture: amd64\nSource: greeting\nMaintainer: Test <test@example.invalid>\n\
                  Description: says hello\n";
    let copyright =
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n\
                     Files: *\nCopyright: 2024 Test\nLicense: GPL-2+\n";
    let files: [(&str, &str, u32); 4] = [
        (
            "etc/os-release",
            "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
            0o644,
        ),
        ("usr/bin/hello", "#!/bin/sh\necho hello\n", 0o755),
        ("usr/share/doc/hello/copyright", copyright, 0o644),
        ("var/lib/dpkg/status.d/hello", stanza, 0o644),
    ];
    let mut builder = tar::Builder::new(Vec::new());
    for (path, body, mode) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(body.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        builder
            .append_data(&mut header, path, body.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

/// A one-platform image without attestations in the layout `dir`, running
/// as `user`; returns its manifest descriptor.
fn write_image(dir: &Path, user: Option<&str>) -> Descriptor {
    let scratch = tempfile::tempdir().unwrap();
    let layer = compress_layer(&layer_tar()[..], Compression::Gzip, scratch.path()).unwrap();
    let spec = ImageSpec {
        architecture: "amd64".into(),
        layers: vec![layer],
        history: vec![History {
            created_by: "test".into(),
            comment: None,
            empty_layer: false,
        }],
        user: user.map(str::to_owned),
        created: 1_700_000_000,
        ..ImageSpec::default()
    };
    let target = Target::OciLayout {
        dir: dir.to_owned(),
        tag: "app".into(),
    };
    let written = bulwark_emit::write(&target, &[spec], &BTreeMap::new()).unwrap();
    written.manifests[0].bare()
}

/// A signed, attested one-platform image in the layout `dir`; returns its
/// manifest descriptor.
fn attested_image(dir: &Path, key: &SigningKey, user: Option<&str>) -> Descriptor {
    let manifest = write_image(dir, user);
    let artifacts = attestations(dir, &manifest, key);
    Layout::open(dir)
        .unwrap()
        .attach(&manifest, &artifacts)
        .unwrap();
    manifest
}

/// The SBOMs (plain and signed), the signed provenance and the signature
/// of the image `manifest` in `dir`, as `bulwark build` attaches them.
fn attestations(dir: &Path, manifest: &Descriptor, key: &SigningKey) -> Vec<Artifact> {
    let target = ImageRef::Oci {
        dir: dir.to_owned(),
        tag: Some("app".into()),
    };
    let contents = bulwark_image::open(&target, None).unwrap();
    let image = &contents[0];
    let mut records = bulwark_sbom::records(image).unwrap();
    records[0].deb_sha256 = Some(DEB_SHA256.into());
    let input = bulwark_sbom::SbomInput {
        subject: bulwark_sbom::Subject {
            name: "app:app".into(),
            manifest_digest: Some(manifest.digest.clone()),
            platform: image.platform.clone(),
            supplier: Some("Organization: Test".into()),
        },
        os: image.os.as_ref(),
        packages: &records,
        files: None,
        created: 1_700_000_000,
        tool: "test-1",
    };
    let spdx = bulwark_sbom::spdx_json(&input).unwrap();
    let cyclonedx = bulwark_sbom::cyclonedx_json(&input).unwrap();
    let deb = ResourceDescriptor {
        name: Some("hello_1.0-1_amd64.deb".into()),
        media_type: Some(MEDIA_TYPE_DEB.into()),
        annotations: BTreeMap::from([
            ("package".into(), json!("hello")),
            ("version".into(), json!("1.0-1")),
            ("architecture".into(), json!("amd64")),
        ]),
        ..ResourceDescriptor::new("https://example.invalid/hello.deb", DEB_SHA256)
    };
    let provenance = provenance_statement(&ProvenanceInput {
        subjects: vec![Subject::new("app:app", manifest.digest.clone())],
        spec_digest: "0".repeat(64),
        parameters: json!({}),
        internal_parameters: Value::Null,
        resolved_dependencies: vec![deb],
        builder_id: BUILDER.into(),
        ..ProvenanceInput::default()
    });
    let sign = |statement: &Value| {
        dsse_sign(
            PAYLOAD_TYPE_IN_TOTO,
            &serde_json::to_vec(statement).unwrap(),
            key,
        )
        .to_json()
    };
    let mut artifacts = vec![
        Artifact::new("sbom-spdx", media_type::SPDX_JSON, spdx.clone()),
        Artifact::new(
            "sbom-cyclonedx",
            media_type::CYCLONEDX_JSON,
            cyclonedx.clone(),
        ),
        dsse_artifact(
            "provenance",
            sign(&provenance),
            PREDICATE_SLSA_PROVENANCE_V1,
        ),
    ];
    for (kind, predicate, document) in [
        ("sbom-spdx", PREDICATE_SPDX, &spdx),
        ("sbom-cyclonedx", PREDICATE_CYCLONEDX, &cyclonedx),
    ] {
        let sbom: Value = serde_json::from_slice(document).unwrap();
        let statement = sbom_statement("app:app", &manifest.digest, predicate, sbom);
        artifacts.push(dsse_artifact(kind, sign(&statement), predicate));
    }
    let bundle = sign_manifest(&manifest.digest, "app", key).unwrap();
    artifacts.push(bundle_artifact(
        "signature",
        bundle.to_json(),
        PREDICATE_COSIGN_SIGN_V1,
    ));
    artifacts
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key: SigningKey,
    manifest: Descriptor,
}

fn fixture(user: Option<&str>) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    let key = generate(Algorithm::Ed25519);
    let manifest = attested_image(&dir, &key, user);
    Fixture {
        _tmp: tmp,
        dir,
        key,
        manifest,
    }
}

impl Fixture {
    fn target(&self) -> ImageRef {
        ImageRef::Oci {
            dir: self.dir.clone(),
            tag: Some("app".into()),
        }
    }

    fn verify(&self, policy: &Policy) -> VerifyReport {
        verify(
            &self.target(),
            &self.key.verifying_key(),
            policy,
            None,
            None,
        )
        .unwrap()
    }

    fn blob(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    fn manifest_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.blob(&self.manifest.digest)).unwrap()).unwrap()
    }
}

/// The image tagged `app` in the layout `dir`, verified with no policy.
fn verify_layout(dir: PathBuf, key: &SigningKey) -> VerifyReport {
    let target = ImageRef::Oci {
        dir,
        tag: Some("app".into()),
    };
    verify(
        &target,
        &key.verifying_key(),
        &Policy::default(),
        None,
        None,
    )
    .unwrap()
}

fn failed_checks(report: &VerifyReport) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect()
}

#[test]
fn an_attested_image_verifies() {
    let f = fixture(Some("1000"));
    let report = f.verify(&Policy::default());
    assert_eq!(report.failure(), None, "{report}");
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "image linux/amd64",
        "signature linux/amd64",
        "provenance linux/amd64",
        "sbom-spdx linux/amd64 (signed)",
        "sbom-spdx linux/amd64 (unsigned copy)",
        "sbom-cyclonedx linux/amd64 (signed)",
        "sbom-cyclonedx linux/amd64 (unsigned copy)",
    ] {
        assert!(names.contains(&expected), "no `{expected}` in {names:?}");
    }
}

#[test]
fn a_changed_layer_is_a_mismatch() {
    let f = fixture(None);
    let layer = f.manifest_json()["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = f.blob(&layer);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let report = f.verify(&Policy::default());
    assert_eq!(report.failure(), Some(FailureKind::Mismatch), "{report}");
    assert!(
        failed_checks(&report)[0].contains(&layer),
        "{:?}",
        failed_checks(&report)
    );
}

#[test]
fn another_images_attestations_do_not_verify_this_one() {
    // Attestations made for another image (another user, so another
    // manifest), attached to this one: their subjects and SBOMs are not
    // this image's.
    let f = fixture(None);
    let other = fixture(Some("1000"));
    let swapped = attestations(&other.dir, &other.manifest, &f.key);
    // Keep the signature of this image, so that only the swap is wrong.
    let own_signature = attestations(&f.dir, &f.manifest, &f.key).pop().unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let dir = fresh.path().join("layout");
    let manifest = write_image(&dir, None);
    assert_eq!(manifest, f.manifest, "the same image, in a fresh layout");
    let mut artifacts: Vec<Artifact> = swapped
        .into_iter()
        .filter(|a| a.artifact_type != media_type::SIGSTORE_BUNDLE_V03)
        .collect();
    artifacts.push(own_signature);
    Layout::open(&dir)
        .unwrap()
        .attach(&manifest, &artifacts)
        .unwrap();
    let report = verify_layout(dir, &f.key);
    assert_eq!(report.failure(), Some(FailureKind::Mismatch), "{report}");
    let failed = failed_checks(&report);
    assert!(
        failed
            .iter()
            .any(|c| c.starts_with("provenance") && c.contains("not the image manifest")),
        "{failed:#?}"
    );
    assert!(
        failed.iter().any(|c| c.starts_with("sbom-spdx")),
        "{failed:#?}"
    );
}

#[test]
fn the_wrong_key_is_a_bad_signature_and_none_is_missing() {
    let f = fixture(None);
    let other = generate(Algorithm::P256).verifying_key();
    let report = verify(&f.target(), &other, &Policy::default(), None, None).unwrap();
    assert_eq!(
        report.failure(),
        Some(FailureKind::BadSignature),
        "{report}"
    );

    // The image alone, without attestations.
    let bare = tempfile::tempdir().unwrap();
    let dir = bare.path().join("layout");
    write_image(&dir, None);
    let report = verify_layout(dir, &f.key);
    assert_eq!(
        report.failure(),
        Some(FailureKind::SignatureMissing),
        "{report}"
    );
}

#[test]
fn targets_without_attestations_are_refused() {
    let key = generate(Algorithm::Ed25519).verifying_key();
    for target in ["docker-archive:x.tar", "rootfs:/", "sbom:bom.json"] {
        let target = ImageRef::parse(target).unwrap();
        let err = verify(&target, &key, &Policy::default(), None, None).unwrap_err();
        assert!(err.to_string().contains("OCI layouts"), "{err}");
    }
}

/// Each policy rule, violated and satisfied.
#[test]
fn each_policy_rule() {
    let f = fixture(None);
    let policy = |yaml: &str| Policy::parse(yaml).unwrap();
    let violations = |yaml: &str| f.verify(&policy(yaml)).violations;

    assert_eq!(violations("deny-packages: [\"hel*\"]").len(), 1);
    assert!(violations("deny-packages: [\"bye*\"]").is_empty());

    // The copyright file says GPL-2+: GPL-2.0-or-later in SPDX.
    assert!(violations("allow-licenses: [MIT]")[0].contains("GPL-2.0-or-later"));
    assert!(violations("allow-licenses: [\"gpl-*\"]").is_empty());
    assert_eq!(violations("deny-licenses: [\"GPL-*\"]").len(), 1);
    assert!(violations("deny-licenses: [MIT]").is_empty());

    assert!(violations(&format!("require-builder: {BUILDER}")).is_empty());
    assert!(violations("require-builder: https://other.invalid/")[0].contains(BUILDER));

    // No `User`: root.
    assert!(violations("require-non-root: true")[0].contains("runs as root"));
    let non_root = fixture(Some("1000:1000"));
    assert!(non_root
        .verify(&policy("require-non-root: true"))
        .violations
        .is_empty());

    let report = f.verify(&policy("deny-packages: [hello]"));
    assert_eq!(report.failure(), Some(FailureKind::Policy), "{report}");
}

#[test]
fn max_severity_is_evaluated_with_a_database() {
    let f = fixture(None);
    let feed = tempfile::tempdir().unwrap();
    let record = json!({
        "schema_version": "1.6.0",
        "id": "CVE-2024-0001",
        "modified": "2024-01-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "greeting"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}],
        }],
    });
    std::fs::write(
        feed.path().join("CVE-2024-0001.json"),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
    let (db, _) = bulwark_vuln::Database::import(&[feed.path()]).unwrap();
    let check = |yaml: &str| {
        verify(
            &f.target(),
            &f.key.verifying_key(),
            &Policy::parse(yaml).unwrap(),
            None,
            Some(&db),
        )
        .unwrap()
    };
    let report = check("max-severity: high");
    assert_eq!(report.failure(), Some(FailureKind::Policy), "{report}");
    assert!(
        report.violations[0].contains("CVE-2024-0001 (critical)"),
        "{report}"
    );
    assert_eq!(check("max-severity: critical").failure(), None);
    // Without a database the rule is not evaluated, and the report says so.
    let report = f.verify(&Policy::parse("max-severity: high").unwrap());
    assert_eq!(report.failure(), None);
    assert!(report.notes[0].contains("max-severity"), "{report}");
}
