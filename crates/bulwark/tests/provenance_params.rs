//! Hermetic test of the provenance's `externalParameters.parameters`: the
//! spec's repositories are recorded as JSON (as the spec wrote them,
//! `${VAR}` unexpanded), not as a string holding JSON.

mod common;

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::World;

fn base64_decode(text: &str) -> Vec<u8> {
    let mut child = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// The SLSA provenance statements in the layout's blobs, decoded from their
/// DSSE envelopes.
fn provenances(layout: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for entry in fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let bytes = fs::read(entry.unwrap().path()).unwrap();
        let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if envelope["payloadType"] != "application/vnd.in-toto+json" {
            continue;
        }
        let payload = base64_decode(envelope["payload"].as_str().unwrap());
        let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        if statement["predicateType"] == "https://slsa.dev/provenance/v1" {
            out.push(statement);
        }
    }
    out
}

#[test]
fn provenance_records_repositories_as_json() {
    let w = World::new();
    let key = w.path("keys/release");
    w.run(&["key", "generate", "--out", key.to_str().unwrap()])
        .ok();
    let layout = w.path("out");
    let spec = w.spec("app", &["foo"], "");
    let out = format!("oci:{}:latest", layout.display());
    w.build_ok(&spec, &out, &["--sign", key.to_str().unwrap()]);

    let statements = provenances(&layout);
    assert!(
        !statements.is_empty(),
        "no provenance in {}",
        layout.display()
    );
    for statement in statements {
        let parameters =
            &statement["predicate"]["buildDefinition"]["externalParameters"]["parameters"];
        let repos = &parameters["repositories"];
        let list = repos
            .as_array()
            .unwrap_or_else(|| panic!("repositories is not a JSON array: {repos}"));
        assert_eq!(list.len(), 1, "{repos:#}");
        // As written: the mirror variable, not the fixture's address.
        assert_eq!(list[0]["uri"], "${BULWARK_TEST_MIRROR}", "{repos:#}");
        assert!(list[0]["suites"].is_array(), "{repos:#}");
        assert!(list[0]["components"].is_array(), "{repos:#}");
        assert_eq!(parameters["packages"][0]["name"], "foo", "{parameters:#}");
    }
}
