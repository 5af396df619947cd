//! OCI layouts: artifacts attached and read back (also by skopeo), staged
//! publishing, and the referrers index.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bulwark_attest::{
    bundle_artifact, dsse_artifact, dsse_sign, generate, sign_manifest, verify_manifest_signature,
    Algorithm, Bundle, PAYLOAD_TYPE_IN_TOTO, PREDICATE_COSIGN_SIGN_V1,
    PREDICATE_SLSA_PROVENANCE_V1,
};
use bulwark_emit::{ImageSpec, Target};
use bulwark_oci::media_type::{
    CYCLONEDX_JSON as ARTIFACT_TYPE_CYCLONEDX, SPDX_JSON as ARTIFACT_TYPE_SPDX,
};
use bulwark_oci::{
    check_destination, publish, read_referrers, referrers_tag, Artifact, Descriptor, Error, Layout,
};
use serde_json::{json, Value};

/// The artifacts attached to `subject` in the layout at `dir`, with their
/// documents.
fn referrers(dir: &Path, subject: &str) -> Result<Vec<(Descriptor, Vec<u8>)>, Error> {
    let layout = Layout::open(dir)?;
    let found = read_referrers(&layout, subject, &|_| true)?;
    Ok(found
        .found
        .into_iter()
        .map(|r| (r.descriptor, r.document))
        .collect())
}

/// Attaches `artifacts` to `subject` in the layout at `dir`.
fn attach(
    dir: &Path,
    subject: &Descriptor,
    artifacts: &[Artifact],
) -> Result<Vec<Descriptor>, Error> {
    Layout::open(dir)?.attach(subject, artifacts)
}

/// Writes a one-layer image to a new OCI layout `dir` tagged `tag`, with
/// bulwark-emit, and returns its manifest descriptor.
fn image_layout(dir: &Path, tag: &str) -> Descriptor {
    let scratch = tempfile::tempdir().unwrap();
    // An empty tar archive: two zero blocks.
    let layer = bulwark_emit::compress_layer(
        &[0u8; 1024][..],
        bulwark_emit::Compression::Gzip,
        scratch.path(),
    )
    .unwrap();
    let spec = ImageSpec {
        architecture: "amd64".into(),
        layers: vec![layer],
        history: vec![bulwark_emit::History {
            created_by: "test".into(),
            comment: None,
            empty_layer: false,
        }],
        created: 0,
        ..ImageSpec::default()
    };
    let target = Target::OciLayout {
        dir: dir.to_owned(),
        tag: tag.into(),
    };
    let written = bulwark_emit::write(&target, &[spec], &BTreeMap::new()).unwrap();
    Descriptor {
        media_type: written.media_type,
        digest: written.digest,
        size: written.size,
        ..Descriptor::default()
    }
}

fn skopeo(args: &[&str]) -> std::process::Output {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn attach_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("layout");
    let subject = image_layout(&dir, "app");
    let key = generate(Algorithm::Ed25519);
    let raw_before = skopeo(&["inspect", "--raw", &format!("oci:{}:app", dir.display())]).stdout;

    let spdx = br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec();
    let cdx = br#"{"bomFormat":"CycloneDX","specVersion":"1.6"}"#.to_vec();
    let provenance = dsse_sign(PAYLOAD_TYPE_IN_TOTO, b"{}", &key).to_json();
    let first = attach(
        &dir,
        &subject,
        &[
            Artifact::new("sbom-spdx", ARTIFACT_TYPE_SPDX, spdx.clone()),
            Artifact::new("sbom-cyclonedx", ARTIFACT_TYPE_CYCLONEDX, cdx.clone()),
        ],
    )
    .unwrap();
    let signature = sign_manifest(&subject.digest, "app", &key)
        .unwrap()
        .to_json();
    let second = attach(
        &dir,
        &subject,
        &[
            dsse_artifact(
                "provenance",
                provenance.clone(),
                PREDICATE_SLSA_PROVENANCE_V1,
            ),
            bundle_artifact("signature", signature.clone(), PREDICATE_COSIGN_SIGN_V1),
        ],
    )
    .unwrap();
    // Attaching again is a no-op.
    let index_before = std::fs::read(dir.join("index.json")).unwrap();
    attach(
        &dir,
        &subject,
        &[Artifact::new("sbom-spdx", ARTIFACT_TYPE_SPDX, spdx.clone())],
    )
    .unwrap();
    assert_eq!(std::fs::read(dir.join("index.json")).unwrap(), index_before);

    // index.json: the image tag, four untagged artifacts, the referrers tag.
    let index: Value = serde_json::from_slice(&index_before).unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 6, "{index:#}");
    let tag = format!("sha256-{}", subject.digest.strip_prefix("sha256:").unwrap());
    let ref_name = |m: &Value| {
        m["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(ref_name(&manifests[0]).as_deref(), Some("app"));
    for m in &manifests[1..5] {
        assert_eq!(ref_name(m), None);
        assert!(m["artifactType"].is_string());
        assert!(m["annotations"]["dev.bulwark.artifact"].is_string());
    }
    assert_eq!(ref_name(&manifests[5]), Some(tag.clone()));

    // The referrers index, read by skopeo through the tag.
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{}:{tag}", dir.display())]).stdout;
    let referrers_index: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        referrers_index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let listed = referrers_index["manifests"].as_array().unwrap();
    let all: Vec<&Descriptor> = first.iter().chain(&second).collect();
    assert_eq!(listed.len(), 4);
    for (listed, attached) in listed.iter().zip(&all) {
        assert_eq!(listed["digest"], attached.digest);
        assert_eq!(
            listed["artifactType"],
            attached.artifact_type.clone().unwrap()
        );
        assert_eq!(
            listed["annotations"]["dev.bulwark.artifact"],
            attached.annotations["dev.bulwark.artifact"]
        );
    }
    assert_eq!(
        listed[3]["annotations"]["dev.sigstore.bundle.predicateType"],
        "https://sigstore.dev/cosign/sign/v1"
    );

    // An artifact manifest, as the OCI 1.1 spec shapes it.
    let blob = std::fs::read(
        dir.join("blobs/sha256")
            .join(first[0].digest.strip_prefix("sha256:").unwrap()),
    )
    .unwrap();
    let manifest: Value = serde_json::from_slice(&blob).unwrap();
    assert_eq!(manifest["artifactType"], "application/spdx+json");
    assert_eq!(
        manifest["config"],
        json!({
            "mediaType": "application/vnd.oci.empty.v1+json",
            "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            "size": 2,
            "data": "e30=",
        })
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/spdx+json");
    assert_eq!(
        manifest["subject"],
        json!({ "mediaType": subject.media_type, "digest": subject.digest, "size": subject.size })
    );

    // The image itself is untouched and still copies with plain tools.
    let raw_after = skopeo(&["inspect", "--raw", &format!("oci:{}:app", dir.display())]).stdout;
    assert_eq!(raw_before, raw_after);
    let copy = tmp.path().join("copy");
    skopeo(&[
        "copy",
        &format!("oci:{}:app", dir.display()),
        &format!("oci:{}:app", copy.display()),
    ]);
    let copied = skopeo(&["inspect", "--raw", &format!("oci:{}:app", copy.display())]).stdout;
    assert_eq!(copied, raw_before);

    // Read back, with the documents.
    let found = referrers(&dir, &subject.digest).unwrap();
    let documents: Vec<(&str, &[u8])> = found
        .iter()
        .map(|(d, doc)| {
            (
                d.annotations["dev.bulwark.artifact"].as_str(),
                doc.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        documents,
        [
            ("sbom-spdx", &spdx[..]),
            ("sbom-cyclonedx", &cdx[..]),
            ("provenance", &provenance[..]),
            ("signature", &signature[..]),
        ]
    );
    let bundle = Bundle::from_json(&found[3].1).unwrap();
    verify_manifest_signature(&bundle, &subject.digest, &key.verifying_key()).unwrap();
    assert!(referrers(&dir, &format!("sha256:{}", "00".repeat(32)))
        .unwrap()
        .is_empty());

    // One changed byte in a document is caught and named.
    let layer = &serde_json::from_slice::<Value>(&blob).unwrap()["layers"][0]["digest"];
    let path = dir
        .join("blobs/sha256")
        .join(layer.as_str().unwrap().strip_prefix("sha256:").unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[3] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = referrers(&dir, &subject.digest).unwrap_err();
    assert!(
        matches!(&err, Error::DigestMismatch { blob, .. } if *blob == path.display().to_string()),
        "{err}"
    );
}

#[test]
fn attach_is_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    let key = generate(Algorithm::Ed25519);
    let mut indexes = Vec::new();
    for name in ["a", "b"] {
        let dir = tmp.path().join(name);
        let subject = image_layout(&dir, "app");
        let envelope = dsse_sign(PAYLOAD_TYPE_IN_TOTO, b"{\"x\":1}", &key).to_json();
        attach(
            &dir,
            &subject,
            &[dsse_artifact(
                "provenance",
                envelope,
                PREDICATE_SLSA_PROVENANCE_V1,
            )],
        )
        .unwrap();
        indexes.push(std::fs::read(dir.join("index.json")).unwrap());
    }
    assert_eq!(indexes[0], indexes[1]);
}

#[test]
fn attach_refuses_non_layouts_and_bad_subjects() {
    let tmp = tempfile::tempdir().unwrap();
    let subject = Descriptor {
        media_type: bulwark_oci::media_type::MANIFEST.into(),
        digest: format!("sha256:{}", "00".repeat(32)),
        size: 1,
        ..Descriptor::default()
    };
    let err = attach(tmp.path(), &subject, &[]).unwrap_err();
    assert!(matches!(err, Error::NotALayout(_)), "{err}");
    let bad = Descriptor {
        digest: "sha256:xyz".into(),
        ..subject
    };
    let layout = Layout::create(tmp.path()).unwrap();
    assert!(matches!(
        layout.attach(&bad, &[]),
        Err(Error::InvalidDigest(_))
    ));
}

/// The tags of a layout's `index.json`, in order.
fn ref_names(dir: &Path) -> Vec<String> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .map(str::to_owned)
        .collect()
}

fn blob_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Blobs of the layout at `dir` that nothing reachable from its
/// `index.json` names (through indexes, manifests, configs and layers).
fn unreferenced_blobs(dir: &Path) -> Vec<String> {
    let read = |hex: &str| -> Value {
        serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap())
            .unwrap_or(Value::Null)
    };
    let mut reachable = std::collections::BTreeSet::new();
    let mut queue =
        vec![
            serde_json::from_slice::<Value>(&std::fs::read(dir.join("index.json")).unwrap())
                .unwrap(),
        ];
    while let Some(doc) = queue.pop() {
        let mut named: Vec<&Value> = Vec::new();
        for key in ["manifests", "layers"] {
            named.extend(doc[key].as_array().into_iter().flatten());
        }
        named.extend(doc.get("config"));
        for descriptor in named {
            let hex = descriptor["digest"].as_str().unwrap()[7..].to_owned();
            if reachable.insert(hex.clone())
                && descriptor["mediaType"]
                    .as_str()
                    .is_some_and(|t| t.contains("manifest") || t.contains("index"))
            {
                queue.push(read(&hex));
            }
        }
    }
    blob_names(dir)
        .into_iter()
        .filter(|b| !reachable.contains(b))
        .collect()
}

#[test]
fn publish_moves_a_staged_layout_in_with_one_index_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out/layout");
    check_destination(&dest).unwrap();

    // Into a new layout: the staged layout is renamed into place.
    let staged = tmp.path().join("stage-a");
    let subject = image_layout(&staged, "one");
    let spdx = Artifact::new("sbom-spdx", ARTIFACT_TYPE_SPDX, b"{\"a\":1}".to_vec());
    attach(&staged, &subject, &[spdx]).unwrap();
    let staged_index = std::fs::read(staged.join("index.json")).unwrap();
    publish(&staged, &dest).unwrap();
    assert!(!staged.exists());
    assert_eq!(
        std::fs::read(dest.join("index.json")).unwrap(),
        staged_index
    );
    check_destination(&dest).unwrap();

    // Into an existing layout: new tag, referrers merged, other tags kept.
    let staged = tmp.path().join("stage-b");
    assert_eq!(image_layout(&staged, "two"), subject);
    let cdx = Artifact::new(
        "sbom-cyclonedx",
        ARTIFACT_TYPE_CYCLONEDX,
        b"{\"b\":2}".to_vec(),
    );
    attach(&staged, &subject, &[cdx]).unwrap();
    publish(&staged, &dest).unwrap();
    let referrers_tag = referrers_tag(&subject.digest).unwrap();
    assert_eq!(ref_names(&dest), ["one", "two", referrers_tag.as_str()]);
    let kinds: Vec<String> = referrers(&dest, &subject.digest)
        .unwrap()
        .iter()
        .map(|(d, _)| d.annotations["dev.bulwark.artifact"].clone())
        .collect();
    assert_eq!(kinds, ["sbom-spdx", "sbom-cyclonedx"]);
    // The referrers indexes that the merged one replaces are gone.
    assert_eq!(unreferenced_blobs(&dest), Vec::<String>::new());

    // A failure while moving blobs (a directory where an artifact's blob
    // goes) leaves index.json byte-identical and removes what was added.
    let staged = tmp.path().join("stage-c");
    image_layout(&staged, "three");
    let key = generate(Algorithm::Ed25519);
    let envelope = dsse_sign(PAYLOAD_TYPE_IN_TOTO, b"{\"c\":3}", &key).to_json();
    let attached = attach(
        &staged,
        &subject,
        &[dsse_artifact(
            "provenance",
            envelope,
            PREDICATE_SLSA_PROVENANCE_V1,
        )],
    )
    .unwrap();
    // Blobs are moved in name order: block the last new one, so that the
    // others have been moved when it fails.
    let new: Vec<String> = blob_names(&staged)
        .into_iter()
        .filter(|b| !blob_names(&dest).contains(b))
        .collect();
    assert!(new.len() >= 3, "{new:?}");
    assert!(new.contains(&attached[0].digest[7..].to_owned()), "{new:?}");
    let last = new.last().unwrap();
    std::fs::create_dir_all(dest.join("blobs/sha256").join(last).join("x")).unwrap();
    let index_before = std::fs::read(dest.join("index.json")).unwrap();
    let blobs_before = blob_names(&dest);
    let err = publish(&staged, &dest).unwrap_err();
    assert!(err.to_string().contains(last.as_str()), "{err}");
    assert_eq!(
        std::fs::read(dest.join("index.json")).unwrap(),
        index_before
    );
    assert_eq!(blob_names(&dest), blobs_before);
    assert_eq!(ref_names(&dest), ["one", "two", referrers_tag.as_str()]);

    // Something that is not a layout is refused before anything is written.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(
        check_destination(&file),
        Err(Error::NotALayout(_))
    ));
    let full = tmp.path().join("full");
    std::fs::create_dir_all(full.join("x")).unwrap();
    assert!(matches!(
        check_destination(&full),
        Err(Error::NotALayout(_))
    ));
}
