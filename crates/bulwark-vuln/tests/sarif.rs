//! SARIF output validated against the official SARIF 2.1.0 JSON schema
//! (vendored in tests/data, see tests/data/README.md) with the Python
//! `jsonschema` package of the test venv (`$BULWARK_VENV`, set up by
//! scripts/setup.sh).

mod common;

use std::path::PathBuf;
use std::process::Command;

use bulwark_vuln::*;
use common::*;

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("BULWARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv"));
    let python = venv.join("bin/python");
    let ok = python.is_file()
        && Command::new(&python)
            .args(["-c", "import jsonschema"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "jsonschema is missing from the venv `{}`: run scripts/setup.sh or set BULWARK_VENV",
        venv.display()
    );
    python
}

#[test]
fn sarif_validates_against_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("feed");
    write_tree(&tree, &fixture_records());
    let (db, _) = Database::import(&[&tree]).unwrap();
    let report = scan(
        &db,
        &[
            pkg(
                "openssh-client",
                "1:9.2p1-2+deb12u2",
                Some(("openssh", "1:9.2p1-2+deb12u2")),
            ),
            pkg(
                "zlib1g",
                "1:1.2.13.dfsg-1",
                Some(("zlib", "1:1.2.13.dfsg-1")),
            ),
            pkg("linux-libc-dev", "6.1.76-1", Some(("linux", "6.1.76-1"))),
        ],
        Some(&bookworm()),
        &ScanOptions {
            target: "oci:test".into(),
            target_digest: Some("sha256:abc".into()),
            ..ScanOptions::default()
        },
    )
    .unwrap();
    let sarif = to_sarif(&report);
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    // Each result points at its rule.
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
    }
    let ssh = results
        .iter()
        .find(|r| r["ruleId"] == "CVE-2024-6387")
        .unwrap();
    assert_eq!(ssh["level"], "error", "critical → error");
    let file = dir.path().join("out.sarif");
    std::fs::write(&file, serde_json::to_vec_pretty(&sarif).unwrap()).unwrap();
    let schema =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-2.1.0-rtm.5.json");
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
errors = list(jsonschema.Draft4Validator(schema).iter_errors(doc))
for e in errors[:10]:
    print(list(e.absolute_path), e.message)
sys.exit(1 if errors else 0)
"#;
    let out = Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "SARIF does not validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The validator does reject an invalid log (the check can fail).
    let mut bad = sarif.clone();
    bad["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    std::fs::write(&file, serde_json::to_vec(&bad).unwrap()).unwrap();
    let out = Command::new(venv_python())
        .arg("-c")
        .arg(script)
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
}
