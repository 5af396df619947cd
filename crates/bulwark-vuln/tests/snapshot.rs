//! The shipped OSV snapshot (`shared/data/osv-debian-2025-02-12.zip` beside
//! the repository, or `$BULWARK_OSV_SNAPSHOT`): a real import, and Debian
//! version ordering checked against `dpkg --compare-versions`.

mod common;

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use bulwark_deb::version::compare;
use bulwark_vuln::*;
use common::*;

fn snapshot() -> PathBuf {
    let path = std::env::var_os("BULWARK_OSV_SNAPSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/osv-debian-2025-02-12.zip")
        });
    assert!(
        path.is_file(),
        "the OSV snapshot `{}` is missing: set BULWARK_OSV_SNAPSHOT",
        path.display()
    );
    path
}

#[test]
fn shipped_snapshot_import() {
    let zip = snapshot();
    let (db, stats) = Database::import(&[zip.as_path()]).unwrap();
    assert_eq!(stats.records, 44_181);
    assert_eq!(
        stats.skipped.get("duplicate id (older modified)"),
        Some(&29)
    );
    assert_eq!(stats.skipped.get("malformed"), None, "{:?}", stats.examples);
    assert_eq!(stats.by_kind["CVE"], 33_844);
    let info = db.info();
    assert!(info
        .newest_modified
        .as_deref()
        .unwrap()
        .starts_with("2025-02-12T16:46"));
    let counts = &info.releases["12"];
    // The notes count 33,154 (CVE, source) entries from CVE records, 3,294
    // of them open; advisories add a few CVEs their CVE record lacks.
    assert_eq!(counts.open, 3_294);
    assert!((33_154..33_300).contains(&counts.entries), "{counts:?}");
    assert_eq!(counts.packages, 2_983);
    assert_eq!(info.releases["13"].entries, 32_841);

    // The newest advisory is linked to the CVEs it lists.
    let webkit = db.entries("12", "webkit2gtk").unwrap();
    let e = webkit
        .iter()
        .find(|e| e.vulnerability == "CVE-2025-24143")
        .unwrap();
    assert!(e.advisories.contains(&"DSA-5865-1".to_string()), "{e:?}");
    // xz's backdoor is a trixie-only entry.
    assert!(db
        .entries("12", "xz-utils")
        .unwrap()
        .iter()
        .all(|e| e.vulnerability != "CVE-2024-3094"));
    assert!(db
        .entries("13", "xz-utils")
        .unwrap()
        .iter()
        .any(|e| e.vulnerability == "CVE-2024-3094"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vuln.db");
    db.save(&file).unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size <= 30 << 20, "database is {size} bytes");
    let db = Database::open(&file).unwrap();
    let report = scan(
        &db,
        &[
            pkg("liblzma5", "5.4.1-0.2", Some(("xz-utils", "5.4.1-0.2"))),
            pkg(
                "openssh-client",
                "1:9.2p1-2+deb12u2",
                Some(("openssh", "1:9.2p1-2+deb12u2")),
            ),
            pkg(
                "bsdutils",
                "1:2.38.1-5+b1",
                Some(("util-linux", "2.38.1-5")),
            ),
        ],
        Some(&bookworm()),
        &ScanOptions::default(),
    )
    .unwrap();
    let all: Vec<(&str, &str)> = report
        .packages
        .iter()
        .flat_map(|p| {
            p.findings
                .iter()
                .map(move |f| (p.name.as_str(), f.id.as_str()))
        })
        .collect();
    assert!(!all.iter().any(|(_, id)| *id == "CVE-2024-3094"));
    // regreSSHion was fixed in 1:9.2p1-2+deb12u3 (DSA-5724-1).
    let ssh = report
        .packages
        .iter()
        .find(|p| p.name == "openssh-client")
        .unwrap();
    let f = ssh
        .findings
        .iter()
        .find(|f| f.id == "CVE-2024-6387")
        .unwrap();
    assert_eq!(f.fixed_version.as_deref(), Some("1:9.2p1-2+deb12u3"));
    assert!(f.advisories.contains(&"DSA-5724-1".to_string()));
    // CVE-2024-28085 (wall) was fixed in util-linux 2.38.1-5+deb12u1.
    assert!(all.contains(&("bsdutils", "CVE-2024-28085")), "{all:?}");
}

/// Every distinct version of the snapshot's bookworm records (fixed
/// versions and `versions` lists).
fn bookworm_versions() -> Vec<String> {
    let bytes = std::fs::read(snapshot()).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut versions = BTreeSet::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&data) else {
            continue;
        };
        for affected in value["affected"].as_array().into_iter().flatten() {
            if affected["package"]["ecosystem"] != "Debian:12" {
                continue;
            }
            for v in affected["versions"].as_array().into_iter().flatten() {
                versions.insert(v.as_str().unwrap().to_string());
            }
            for range in affected["ranges"].as_array().into_iter().flatten() {
                for event in range["events"].as_array().into_iter().flatten() {
                    if let Some(fixed) = event["fixed"].as_str() {
                        versions.insert(fixed.to_string());
                    }
                }
            }
        }
    }
    versions.into_iter().collect()
}

/// Checks `a OP b` for every (a, op, b) with dpkg, in one `sh` per thread;
/// returns the triples dpkg disagrees with.
fn dpkg_disagreements(checks: &[(String, &'static str, String)]) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let chunk = checks.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = checks
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut child = Command::new("sh")
                        .arg("-c")
                        .arg(
                            "while read -r a op b; do \
                               dpkg --compare-versions \"$a\" \"$op\" \"$b\" || echo \"$a $op $b\"; \
                             done",
                        )
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .spawn()
                        .expect("dpkg (via sh) is needed for this test");
                    let mut input = String::new();
                    for (a, op, b) in part {
                        input.push_str(&format!("{a} {op} {b}\n"));
                    }
                    let mut stdin = child.stdin.take().unwrap();
                    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
                    let out = child.wait_with_output().unwrap();
                    writer.join().unwrap().unwrap();
                    assert!(out.status.success());
                    String::from_utf8(out.stdout)
                        .unwrap()
                        .lines()
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn op(ordering: Ordering) -> &'static str {
    match ordering {
        Ordering::Less => "lt",
        Ordering::Equal => "eq",
        Ordering::Greater => "gt",
    }
}

#[test]
fn version_ordering_matches_dpkg() {
    let mut versions = bookworm_versions();
    assert!(versions.len() > 15_000, "{} versions", versions.len());
    assert!(versions.iter().any(|v| v.contains('~')) && versions.iter().any(|v| v.contains(':')));
    versions.sort_by(|a, b| compare(a, b));
    let mut checks: Vec<(String, &'static str, String)> = versions
        .windows(2)
        .map(|w| (w[0].clone(), op(compare(&w[0], &w[1])), w[1].clone()))
        .collect();
    // 10,000 seeded random pairs (xorshift64*).
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize
    };
    for _ in 0..10_000 {
        let a = &versions[next() % versions.len()];
        let b = &versions[next() % versions.len()];
        checks.push((a.clone(), op(compare(a, b)), b.clone()));
    }
    let wrong = dpkg_disagreements(&checks);
    assert!(
        wrong.is_empty(),
        "dpkg disagrees with {} of {} comparisons, e.g. {:?}",
        wrong.len(),
        checks.len(),
        &wrong[..wrong.len().min(10)]
    );
}
