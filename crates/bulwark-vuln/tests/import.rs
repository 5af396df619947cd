//! Import shapes: nested and flat zips with alias merging, tar.gz, tracker
//! JSON, bad input, and download.

mod common;

use bulwark_vuln::*;
use common::*;
use serde_json::json;

#[test]
fn nested_zip_matches_directory_tree() {
    let dir = tempfile::tempdir().unwrap();
    let records = fixture_records();
    let tree = dir.path().join("tree");
    write_tree(&tree, &records);
    let zip = dir.path().join("feed.zip");
    write_zip(&zip, &members(&records));
    let (a, sa) = Database::import(&[&tree]).unwrap();
    let (b, sb) = Database::import(&[zip.as_path()]).unwrap();
    assert_eq!(sa.by_kind, sb.by_kind);
    assert_eq!(b.info().sources[0].kind, "osv-zip");
    assert_eq!(
        b.info().sources[0].sha256,
        format!("sha256:{}", sha256_file(&zip))
    );
    assert_eq!(a.info().releases, b.info().releases);
    assert_eq!(
        a.entries("12", "openssh").unwrap(),
        b.entries("12", "openssh").unwrap()
    );
}

fn sha256_file(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn flat_zip_merges_debian_cve_aliases() {
    // OSV's current all.zip: flat, with DEBIAN-CVE-* records that alias
    // CVE-* records (and CVE records from other sources).
    let dir = tempfile::tempdir().unwrap();
    let mut debian = osv(
        "DEBIAN-CVE-2024-1111",
        "2025-01-02T00:00:00Z",
        &[
            ("12", "curl", Some("7.88.1-10+deb12u8")),
            ("13", "curl", None),
        ],
    );
    debian["upstream"] = json!(["CVE-2024-1111"]);
    debian["details"] = json!("curl does a bad thing.");
    let mut upstream = json!({
        "schema_version": "1.6.0", "id": "CVE-2024-1111", "modified": "2024-12-01T00:00:00Z",
        "aliases": ["CURL-CVE-2024-1111"],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
        "affected": [{"package": {"ecosystem": "Alpine:v3.20", "name": "curl"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "8.9.0-r0"}]}]}],
    });
    // A DSA listing the CVE as DEBIAN-CVE in `upstream`.
    let mut dsa = osv(
        "DSA-5800-1",
        "2025-01-03T00:00:00Z",
        &[("12", "curl", Some("7.88.1-10+deb12u8"))],
    );
    dsa["upstream"] = json!(["DEBIAN-CVE-2024-1111"]);
    // A malformed record and a withdrawn one.
    let mut withdrawn = osv(
        "DEBIAN-CVE-2020-0001",
        "2025-01-01T00:00:00Z",
        &[("12", "curl", None)],
    );
    withdrawn["withdrawn"] = json!("2025-01-01T00:00:00Z");
    upstream["summary"] = json!("");
    let zip = dir.path().join("all.zip");
    write_zip(
        &zip,
        &[
            (
                "DEBIAN-CVE-2024-1111.json".into(),
                serde_json::to_vec(&debian).unwrap(),
            ),
            (
                "CVE-2024-1111.json".into(),
                serde_json::to_vec(&upstream).unwrap(),
            ),
            ("DSA-5800-1.json".into(), serde_json::to_vec(&dsa).unwrap()),
            (
                "DEBIAN-CVE-2020-0001.json".into(),
                serde_json::to_vec(&withdrawn).unwrap(),
            ),
            (
                "broken.json".into(),
                b"{\"id\": \"X\", \"affected\": [".to_vec(),
            ),
            ("no-id.json".into(), b"{\"affected\": []}".to_vec()),
        ],
    );
    let (db, stats) = Database::import(&[zip.as_path()]).unwrap();
    assert_eq!(stats.records, 6);
    assert_eq!(stats.skipped.get("malformed"), Some(&2), "{stats:?}");
    assert_eq!(stats.skipped.get("withdrawn"), Some(&1));
    assert_eq!(
        stats.skipped.get("no Debian entries"),
        Some(&1),
        "CVE record with only Alpine"
    );
    assert!(
        stats.examples.iter().any(|e| e.contains("broken.json")),
        "{:?}",
        stats.examples
    );
    let entries = db.entries("12", "curl").unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].vulnerability, "CVE-2024-1111");
    assert_eq!(entries[0].advisories, ["DSA-5800-1"]);
    assert_eq!(db.entries("13", "curl").unwrap()[0].status, Status::Open);
    let v = db.vulnerability("CVE-2024-1111").unwrap().unwrap();
    assert_eq!(v.aliases, ["DEBIAN-CVE-2024-1111"]);
    assert_eq!(v.summary.as_deref(), Some("curl does a bad thing."));
}

#[test]
fn cvss_of_the_cve_record_is_merged_when_it_has_debian_entries() {
    let dir = tempfile::tempdir().unwrap();
    let debian = osv(
        "DEBIAN-CVE-2024-2222",
        "2025-01-02T00:00:00Z",
        &[("12", "git", None)],
    );
    let mut cve = osv(
        "CVE-2024-2222",
        "2024-12-01T00:00:00Z",
        &[("12", "git", Some("1:2.39.5-0+deb12u1"))],
    );
    cve["severity"] =
        json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]);
    let tree = dir.path().join("t");
    write_tree(
        &tree,
        &[
            ("a/DEBIAN-CVE-2024-2222.json".into(), debian),
            ("b/CVE-2024-2222.json".into(), cve),
        ],
    );
    let (db, _) = Database::import(&[&tree]).unwrap();
    let e = db.entries("12", "git").unwrap();
    // The newer record (DEBIAN-CVE, modified 2025) decides the entry.
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].status, Status::Open);
    let v = db.vulnerability("CVE-2024-2222").unwrap().unwrap();
    assert_eq!(v.cvss_v3_score(), Some(7.5));
    assert_eq!(v.modified.as_deref(), Some("2025-01-02T00:00:00Z"));
}

#[test]
fn tar_gz_and_tracker_json() {
    let dir = tempfile::tempdir().unwrap();
    let records = fixture_records();
    let tgz = dir.path().join("feed.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, data) in members(&records) {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, &name, data.as_slice())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    let tracker = json!({
        "openssh": {
            "CVE-2024-6387": {"description": "regreSSHion", "scope": "remote", "releases": {
                "bookworm": {"status": "resolved", "repositories": {"bookworm": "1:9.2p1-2+deb12u3"},
                             "fixed_version": "1:9.2p1-2+deb12u3", "urgency": "high"},
                "bullseye": {"status": "resolved", "repositories": {"bullseye": "1:8.4p1-5+deb11u3"},
                             "fixed_version": "0", "urgency": "unimportant"}}},
            "CVE-2023-51767": {"description": "row hammer", "releases": {
                "bookworm": {"status": "open", "repositories": {"bookworm": "1:9.2p1-2+deb12u3"},
                             "urgency": "low", "nodsa": "Minor issue", "nodsa_reason": "ignored"}}},
            "CVE-2023-48795": {"releases": {
                "bookworm": {"status": "resolved", "fixed_version": "1:9.2p1-2+deb12u2", "urgency": "medium",
                             "next_point_update": true}}},
            "CVE-2025-0000": {"releases": {"bookworm": {"status": "undetermined", "urgency": "not yet assigned"}}},
            "CVE-2025-0001": {"releases": {"bookworm": {"status": "mystery"}}},
            "CVE-2025-0002": {"releases": "not an object"}
        },
        "glibc": {
            "TEMP-0000000-ABCDEF": {"releases": {"sid": {"status": "open", "urgency": "unimportant"}}}
        }
    });
    let tracker_file = dir.path().join("tracker.json");
    std::fs::write(&tracker_file, serde_json::to_vec(&tracker).unwrap()).unwrap();
    // The tracker given first still takes precedence over OSV.
    let (db, stats) = Database::import(&[tracker_file.as_path(), tgz.as_path()]).unwrap();
    assert_eq!(db.info().sources[0].kind, "debian-tracker-json");
    assert_eq!(db.info().sources[1].kind, "osv-tar");
    assert_eq!(stats.skipped.get("malformed"), Some(&2), "{stats:?}");
    let e = db.entries("12", "openssh").unwrap();
    let by_id = |id: &str| e.iter().find(|e| e.vulnerability == id).unwrap();
    let regresshion = by_id("CVE-2024-6387");
    assert_eq!(regresshion.urgency.as_deref(), Some("high"));
    assert_eq!(
        regresshion.advisories,
        ["DSA-5724-1"],
        "advisory kept from OSV"
    );
    let row = by_id("CVE-2023-51767");
    assert_eq!(row.status, Status::Open);
    assert_eq!(row.nodsa.as_deref(), Some("Minor issue"));
    assert_eq!(row.nodsa_reason.as_deref(), Some("ignored"));
    assert!(by_id("CVE-2023-48795").next_point_update);
    assert_eq!(by_id("CVE-2025-0000").status, Status::Undetermined);
    let bullseye = db.entries("11", "openssh").unwrap();
    assert_eq!(bullseye[0].status, Status::NotAffected);
    assert_eq!(
        db.entries("sid", "glibc").unwrap()[0].vulnerability,
        "TEMP-0000000-ABCDEF"
    );

    // Scanning: not-affected never matches; undetermined does, without a fix.
    let report = scan(
        &db,
        &[pkg(
            "openssh-client",
            "1:9.2p1-2+deb12u2",
            Some(("openssh", "1:9.2p1-2+deb12u2")),
        )],
        Some(&bookworm()),
        &ScanOptions::default(),
    )
    .unwrap();
    let found: Vec<_> = report.packages[0]
        .findings
        .iter()
        .map(|f| (f.id.as_str(), f.severity, f.status))
        .collect();
    assert_eq!(
        found,
        [
            ("CVE-2024-6387", Severity::High, Status::Resolved),
            ("CVE-2023-51767", Severity::Low, Status::Open),
            ("CVE-2025-0000", Severity::Unknown, Status::Undetermined),
        ]
    );
    assert!(report.fails(Severity::Unknown));
    assert!(render_table(&report).contains("open (no-dsa: ignored)"));
    let mut bullseye_os = bookworm();
    bullseye_os.version_id = Some("11".into());
    let report = scan(
        &db,
        &[pkg(
            "openssh-client",
            "1:8.4p1-5",
            Some(("openssh", "1:8.4p1-5")),
        )],
        Some(&bullseye_os),
        &ScanOptions::default(),
    )
    .unwrap();
    assert!(
        report.packages.is_empty(),
        "fixed_version 0 means not affected"
    );
}

#[test]
fn truncated_zip_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("cut.zip");
    write_zip(&zip, &members(&fixture_records()));
    let bytes = std::fs::read(&zip).unwrap();
    std::fs::write(&zip, &bytes[..bytes.len() / 2]).unwrap();
    let err = Database::import(&[zip.as_path()]).unwrap_err().to_string();
    assert!(err.contains("cut.zip") && err.contains("zip"), "{err}");
    // Unknown content is refused too.
    let odd = dir.path().join("odd.json");
    std::fs::write(&odd, b"[1, 2").unwrap();
    let err = Database::import(&[odd.as_path()]).unwrap_err().to_string();
    assert!(err.contains("odd.json"), "{err}");
    let err = Database::import(&[dir.path().join("absent.zip").as_path()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.zip"), "{err}");
}

#[test]
fn update_downloads_from_a_local_server() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("feed.zip");
    write_zip(&zip, &members(&fixture_records()));
    let body = std::fs::read(&zip).unwrap();
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap();
    let handle = std::thread::spawn(move || {
        for _ in 0..2 {
            let request = server.recv().unwrap();
            let response = if request.url() == "/all.zip" {
                tiny_http::Response::from_data(body.clone())
            } else {
                tiny_http::Response::from_data(b"no".to_vec()).with_status_code(404)
            };
            request.respond(response).unwrap();
        }
    });
    let url = format!("http://{addr}/all.zip");
    let client = bulwark_http::Client::new();
    let options = bulwark_vuln::UpdateOptions::default();
    let (db, stats) = Database::update(&url, &client, &options).unwrap();
    assert_eq!(stats.by_kind["CVE"], 11);
    assert_eq!(db.info().sources[0].location, url);
    assert_eq!(db.info().sources[0].kind, "osv-zip");
    let missing = format!("http://{addr}/missing.zip");
    let err = Database::update(&missing, &client, &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.zip") && err.contains("404"), "{err}");
    handle.join().unwrap();
}

#[test]
fn duplicate_ids_keep_the_record_modified_last_as_an_instant() {
    // The nested snapshot holds some advisories in two year folders. The
    // newer record must win wherever it lies, and `modified` must compare as
    // a time: as text, `…00:00Z` sorts after `…00:00.5Z`, though it is
    // half a second earlier.
    let dir = tempfile::tempdir().unwrap();
    let advisory = |id: &str, modified: &str, fixed: &str| {
        let mut r = osv(id, modified, &[("12", "dupe", Some(fixed))]);
        r["summary"] = json!(format!("dupe - security update ({modified})"));
        r
    };
    let records = vec![
        // Newest in the later folder, with fractional seconds.
        (
            "DSA/2023/DSA-9001-1.json".to_string(),
            advisory("DSA-9001-1", "2024-06-01T00:00:00Z", "1.0-2"),
        ),
        (
            "DSA/2024/DSA-9001-1.json".to_string(),
            advisory("DSA-9001-1", "2024-06-01T00:00:00.5Z", "1.0-3"),
        ),
        // Newest in the earlier folder, in another time zone.
        (
            "DLA/2023/DLA-9002-1.json".to_string(),
            advisory("DLA-9002-1", "2024-06-02T01:00:00+01:00", "1.0-4"),
        ),
        (
            "DLA/2024/DLA-9002-1.json".to_string(),
            advisory("DLA-9002-1", "2024-06-01T23:30:00Z", "1.0-1"),
        ),
    ];
    let tree = dir.path().join("tree");
    write_tree(&tree, &records);
    let zip = dir.path().join("feed.zip");
    write_zip(&zip, &members(&records));
    for input in [tree.as_path(), zip.as_path()] {
        let (db, stats) = Database::import(&[input]).unwrap();
        assert_eq!(
            stats.skipped.get("duplicate id (older modified)"),
            Some(&2),
            "{input:?}"
        );
        let entries = db.entries("12", "dupe").unwrap();
        let fixed: Vec<(&str, Option<&str>)> = entries
            .iter()
            .map(|e| (e.vulnerability.as_str(), e.fixed_version.as_deref()))
            .collect();
        assert_eq!(
            fixed,
            [("DLA-9002-1", Some("1.0-4")), ("DSA-9001-1", Some("1.0-3"))],
            "{input:?}"
        );
        let dsa = db.vulnerability("DSA-9001-1").unwrap().unwrap();
        assert_eq!(dsa.modified.as_deref(), Some("2024-06-01T00:00:00.5Z"));
        // The newest `modified` of the database is an instant too.
        assert_eq!(
            db.info().newest_modified.as_deref(),
            Some("2024-06-02T01:00:00+01:00")
        );
        // The choice changes the result: 1.0-2 is affected only by the
        // newer records.
        let report = scan(
            &db,
            &[pkg("dupe", "1.0-2", None)],
            Some(&bookworm()),
            &ScanOptions::default(),
        )
        .unwrap();
        let ids: Vec<&str> = report.packages[0]
            .findings
            .iter()
            .map(|f| f.id.as_str())
            .collect();
        assert_eq!(ids, ["DLA-9002-1", "DSA-9001-1"], "{input:?}");
    }
}

#[test]
fn a_json_array_of_records_skips_only_the_malformed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.json");
    let mut escaped = osv(
        "CVE-2024-2000",
        "2024-01-01T00:00:00Z",
        &[("12", "foo", Some("1.0-2"))],
    );
    // Escapes in strings cannot be borrowed from the input; they still parse.
    escaped["details"] = json!("line one\n\n\"quoted\" \u{e9}");
    let array = json!([
        escaped,
        {"id": "CVE-2024-2001", "affected": "not a list"},
        osv("CVE-2024-2002", "2024-01-01T00:00:00Z", &[("12", "bar", None)]),
    ]);
    std::fs::write(&file, serde_json::to_vec(&array).unwrap()).unwrap();
    let (db, stats) = Database::import(&[file.as_path()]).unwrap();
    assert_eq!(db.info().sources[0].kind, "osv-json");
    assert_eq!(stats.records, 3);
    assert_eq!(stats.skipped.get("malformed"), Some(&1));
    assert!(
        stats.examples[0].contains("records.json"),
        "{:?}",
        stats.examples
    );
    assert_eq!(
        db.entries("12", "foo").unwrap()[0].fixed_version.as_deref(),
        Some("1.0-2")
    );
    assert_eq!(
        db.entries("12", "bar").unwrap()[0].vulnerability,
        "CVE-2024-2002"
    );
    assert_eq!(
        db.vulnerability("CVE-2024-2000")
            .unwrap()
            .unwrap()
            .summary
            .as_deref(),
        Some("line one")
    );
}
