//! OSV range semantics (`introduced` above 0, several intervals,
//! `last_affected`) and the validation of the versions in ranges.

use std::path::Path;

mod common;

use bulwark_vuln::*;
use serde_json::{json, Value};

/// An OSV record with one Debian 12 entry for `package` whose ECOSYSTEM
/// ranges hold `ranges` (each a list of events).
fn record(id: &str, package: &str, ranges: &[Value]) -> Value {
    let ranges: Vec<Value> = ranges
        .iter()
        .map(|events| json!({"type": "ECOSYSTEM", "events": events}))
        .collect();
    json!({
        "id": id,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": package},
            "ranges": ranges,
        }],
    })
}

/// Imports `records` as a JSON array, saves and reopens the database (so
/// that the ranges round-trip through the file).
fn import(dir: &Path, records: &[Value]) -> (Database, ImportStats) {
    let file = dir.join("records.json");
    std::fs::write(&file, serde_json::to_vec(&json!(records)).unwrap()).unwrap();
    let (db, stats) = Database::import(&[file.as_path()]).unwrap();
    let saved = dir.join("vuln.db");
    db.save(&saved).unwrap();
    (Database::open(&saved).unwrap(), stats)
}

fn entry(db: &Database, package: &str) -> Entry {
    let entries = db.entries("12", package).unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

/// (affected, status, fixed version) of `version`.
fn check(entry: &Entry, version: &str) -> Option<(Status, Option<String>)> {
    assert_eq!(entry.affects(version), entry.for_version(version).is_some());
    entry
        .for_version(version)
        .map(|e| (e.status, e.fixed_version.clone()))
}

#[test]
fn introduced_above_zero_is_a_lower_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = import(
        dir.path(),
        &[record(
            "CVE-2024-1000",
            "foo",
            &[json!([{"introduced": "1.5-1"}, {"fixed": "1.8-1"}])],
        )],
    );
    let e = entry(&db, "foo");
    assert_eq!(check(&e, "1.0-1"), None, "before introduced");
    assert_eq!(check(&e, "1.4-9"), None);
    let fixed = Some((Status::Resolved, Some("1.8-1".to_string())));
    assert_eq!(check(&e, "1.5-1"), fixed, "introduced is affected");
    assert_eq!(check(&e, "1.7-3"), fixed);
    assert_eq!(check(&e, "1.8-1"), None, "fixed is not affected");
    assert_eq!(check(&e, "2.0-1"), None);
    // The summary: resolved in 1.8-1.
    assert_eq!(e.status, Status::Resolved);
    assert_eq!(e.fixed_version.as_deref(), Some("1.8-1"));
}

#[test]
fn several_intervals_in_one_range_and_across_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = import(
        dir.path(),
        &[
            record(
                "CVE-2024-1001",
                "foo",
                &[json!([
                    // Out of order on purpose: events are sorted by version.
                    {"introduced": "2.0-1"},
                    {"fixed": "1.2-1"},
                    {"introduced": "0"},
                    {"fixed": "2.3-1"},
                    {"introduced": "3.0-1"},
                ])],
            ),
            record(
                "CVE-2024-1002",
                "bar",
                &[
                    json!([{"introduced": "1:1.0-1"}, {"fixed": "1:1.1-1"}]),
                    json!([{"introduced": "1:2.0-1"}, {"fixed": "1:2.2-1"}]),
                ],
            ),
        ],
    );
    let e = entry(&db, "foo");
    let fix = |v: &str| Some((Status::Resolved, Some(v.to_string())));
    assert_eq!(check(&e, "1.0-1"), fix("1.2-1"));
    assert_eq!(check(&e, "1.2-1"), None);
    assert_eq!(check(&e, "1.9-1"), None, "between the intervals");
    assert_eq!(check(&e, "2.0-1"), fix("2.3-1"));
    assert_eq!(check(&e, "2.3-1"), None);
    assert_eq!(check(&e, "3.0-1"), Some((Status::Open, None)), "no fix yet");
    assert_eq!(check(&e, "9.0-1"), Some((Status::Open, None)));
    assert_eq!(e.status, Status::Open);
    assert_eq!(e.fixed_version, None);

    let e = entry(&db, "bar");
    assert_eq!(check(&e, "1.5-1"), None, "epoch 0 is before 1:1.0-1");
    assert_eq!(check(&e, "1:1.0-1"), fix("1:1.1-1"));
    assert_eq!(check(&e, "1:1.5-1"), None);
    assert_eq!(check(&e, "1:2.1-1"), fix("1:2.2-1"));
    assert_eq!(check(&e, "1:2.2-1"), None);
}

#[test]
fn last_affected_is_included_and_later_versions_are_not_affected() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = import(
        dir.path(),
        &[
            record(
                "CVE-2024-1003",
                "foo",
                &[json!([{"introduced": "0"}, {"last_affected": "1.2-1"}])],
            ),
            record(
                "CVE-2024-1004",
                "bar",
                &[json!([{"introduced": "1.0-1"}, {"last_affected": "1.2-1"}])],
            ),
        ],
    );
    let e = entry(&db, "foo");
    let open = Some((Status::Open, None));
    assert_eq!(check(&e, "0.1-1"), open);
    assert_eq!(check(&e, "1.2-1"), open, "last_affected is affected");
    assert_eq!(check(&e, "1.2-1+b1"), None);
    assert_eq!(check(&e, "2.0-1"), None, "after last_affected");
    // No fix is known for the affected versions.
    assert_eq!(e.status, Status::Open);
    assert_eq!(e.fixed_version, None);
    let e = entry(&db, "bar");
    assert_eq!(check(&e, "0.9-1"), None);
    assert_eq!(check(&e, "1.1-1"), open);
    assert_eq!(check(&e, "1.3-1"), None);
}

#[test]
fn debian_shaped_ranges_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = import(
        dir.path(),
        &[
            record(
                "CVE-2024-1005",
                "fixed",
                &[json!([{"introduced": "0"}, {"fixed": "1.2-1"}])],
            ),
            record("CVE-2024-1006", "open", &[json!([{"introduced": "0"}])]),
            // A real version below `0`, as in the snapshot.
            record(
                "CVE-2024-1008",
                "tilde",
                &[json!([{"introduced": "0"}, {"fixed": "0~20200229.4c0f6e34-1"}])],
            ),
            record(
                "CVE-2024-1007",
                "never",
                &[json!([{"introduced": "0"}, {"fixed": "0"}])],
            ),
        ],
    );
    let e = entry(&db, "fixed");
    assert_eq!(
        (e.status, e.fixed_version.as_deref()),
        (Status::Resolved, Some("1.2-1"))
    );
    assert!(e.ranges.is_empty(), "no ranges needed: {e:?}");
    assert!(e.affects("1.1-1") && !e.affects("1.2-1"));
    let e = entry(&db, "open");
    assert_eq!((e.status, e.ranges.len()), (Status::Open, 0));
    assert!(e.affects("99-1"));
    let e = entry(&db, "tilde");
    assert_eq!(
        (e.status, e.fixed_version.as_deref()),
        (Status::Resolved, Some("0~20200229.4c0f6e34-1"))
    );
    assert!(e.affects("0~20190101-1") && !e.affects("0~20200229.4c0f6e34-1"));
    let e = entry(&db, "never");
    assert_eq!(e.status, Status::NotAffected);
    assert!(!e.affects("0.1-1"));
}

#[test]
fn invalid_versions_skip_the_record_as_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let (db, stats) = import(
        dir.path(),
        &[
            record(
                "CVE-2024-2000",
                "bad-fixed",
                &[json!([{"introduced": "0"}, {"fixed": "not a version!!"}])],
            ),
            record(
                "CVE-2024-2001",
                "bad-introduced",
                &[json!([{"introduced": "1.0 beta"}, {"fixed": "1.2-1"}])],
            ),
            record(
                "CVE-2024-2002",
                "bad-last",
                &[json!([{"introduced": "0"}, {"last_affected": "1.0-"}])],
            ),
            record(
                "CVE-2024-2003",
                "good",
                &[json!([{"introduced": "0"}, {"fixed": "1:1.2-1"}])],
            ),
        ],
    );
    assert_eq!(stats.records, 4);
    assert_eq!(stats.skipped.get("malformed"), Some(&3), "{stats:?}");
    assert!(
        stats
            .examples
            .iter()
            .any(|e| e.contains("records.json") && e.contains("not a version!!")),
        "{:?}",
        stats.examples
    );
    for package in ["bad-fixed", "bad-introduced", "bad-last"] {
        assert!(db.entries("12", package).unwrap().is_empty(), "{package}");
    }
    assert!(db.vulnerability("CVE-2024-2000").unwrap().is_none());
    assert_eq!(entry(&db, "good").fixed_version.as_deref(), Some("1:1.2-1"));
}

#[test]
fn invalid_tracker_fixed_version_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tracker.json");
    let tracker = json!({
        "foo": {
            "CVE-2024-3000": {"releases": {
                "bookworm": {"status": "resolved", "fixed_version": "not a version!!"}}},
            "CVE-2024-3001": {"releases": {
                "bookworm": {"status": "resolved", "fixed_version": "1.2-1"}}},
        }
    });
    std::fs::write(&file, serde_json::to_vec(&tracker).unwrap()).unwrap();
    let (db, stats) = Database::import(&[file.as_path()]).unwrap();
    assert_eq!(stats.skipped.get("malformed"), Some(&1), "{stats:?}");
    let ids: Vec<_> = db
        .entries("12", "foo")
        .unwrap()
        .iter()
        .map(|e| e.vulnerability.clone())
        .collect();
    assert_eq!(ids, ["CVE-2024-3001"]);
}

/// What `bulwark scan` makes of the ranges: the findings (id, fixed
/// version) of package `foo` at each version.
#[test]
fn scan_follows_the_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = import(
        dir.path(),
        &[
            record(
                "CVE-2024-2000",
                "foo",
                &[json!([{"introduced": "1.5-1"}, {"fixed": "1.8-1"}])],
            ),
            record(
                "CVE-2024-2001",
                "foo",
                &[json!([{"introduced": "0"}, {"last_affected": "1.2-1"}])],
            ),
        ],
    );
    let findings = |version: &str| -> Vec<(String, Option<String>)> {
        let report = scan(
            &db,
            &[common::pkg("foo", version, None)],
            Some(&common::bookworm()),
            &ScanOptions::default(),
        )
        .unwrap();
        report
            .packages
            .iter()
            .flat_map(|p| p.findings.iter())
            .map(|f| (f.id.clone(), f.fixed_version.clone()))
            .collect()
    };
    let open = |id: &str| (id.to_string(), None);
    let fixed = |id: &str, v: &str| (id.to_string(), Some(v.to_string()));
    assert_eq!(findings("1.0-1"), [open("CVE-2024-2001")]);
    assert_eq!(findings("1.2-1"), [open("CVE-2024-2001")]);
    assert_eq!(findings("1.4-1"), []);
    assert_eq!(findings("1.6-1"), [fixed("CVE-2024-2000", "1.8-1")]);
    assert_eq!(findings("2.0-1"), []);
}
