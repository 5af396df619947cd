//! Import, database file and matching, on hand-made fixtures.

mod common;

use std::path::Path;

use bulwark_vuln::*;
use common::*;
use serde_json::json;

fn fixture_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("feed");
    write_tree(&tree, &fixture_records());
    let (db, stats) = Database::import(&[&tree]).unwrap();
    assert_eq!(stats.skipped.get("duplicate id (older modified)"), Some(&1));
    // Round-trip through the file so every test exercises the lazy loader.
    let file = dir.path().join("db/vuln.db");
    db.save(&file).unwrap();
    let db = Database::open(&file).unwrap();
    (dir, db)
}

fn scan_one(db: &Database, packages: &[bulwark_image::InstalledPackage]) -> Report {
    scan(
        db,
        packages,
        Some(&bookworm()),
        &ScanOptions {
            target: "oci:test".into(),
            target_digest: Some("sha256:abc".into()),
            ..ScanOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn fix_with_epoch_and_advisory_merge() {
    let (_dir, db) = fixture_db();
    let old = pkg(
        "openssh-client",
        "1:9.2p1-2+deb12u2",
        Some(("openssh", "1:9.2p1-2+deb12u2")),
    );
    let new = pkg(
        "openssh-server",
        "1:9.2p1-2+deb12u3",
        Some(("openssh", "1:9.2p1-2+deb12u3")),
    );
    let report = scan_one(&db, &[old, new]);
    assert_eq!(ids(&report, "openssh-client"), ["CVE-2024-6387"]);
    assert!(ids(&report, "openssh-server").is_empty());
    let p = &report.packages[0];
    assert_eq!(p.fixed_version.as_deref(), Some("1:9.2p1-2+deb12u3"));
    let f = &p.findings[0];
    assert_eq!(
        f.severity,
        Severity::Critical,
        "CVSS 9.8 band when urgency is not yet assigned"
    );
    assert_eq!(f.cvss_v3_score, Some(9.8));
    assert_eq!(f.status, Status::Resolved);
    // The newest of the two DSA-5724-1 copies was kept, and it is linked to the CVE.
    assert_eq!(f.advisories, ["DSA-5724-1"]);
    assert_eq!(
        f.summary.as_deref(),
        Some("A signal handler race condition was found in sshd.")
    );
    assert!(report.fails(Severity::High));
}

#[test]
fn tilde_sorts_before_release() {
    let (_dir, db) = fixture_db();
    let report = scan_one(
        &db,
        &[
            pkg(
                "libssl3",
                "3.0.14-1~deb12u1",
                Some(("openssl", "3.0.14-1~deb12u1")),
            ),
            pkg("openssl", "3.0.14-1", None),
        ],
    );
    assert_eq!(ids(&report, "libssl3"), ["CVE-2024-5535"]);
    assert!(ids(&report, "openssl").is_empty());
    assert_eq!(report.packages[0].findings[0].severity, Severity::High);
}

#[test]
fn binary_version_differs_from_source_version() {
    let (_dir, db) = fixture_db();
    // bsdutils 1:2.38.1-5+b1 is built from util-linux 2.38.1-5: affected by a
    // fix in 2.38.1-5+deb12u1 although the binary version sorts higher.
    let report = scan_one(
        &db,
        &[pkg(
            "bsdutils",
            "1:2.38.1-5+b1",
            Some(("util-linux", "2.38.1-5")),
        )],
    );
    assert_eq!(ids(&report, "bsdutils"), ["CVE-2024-28085"]);
    assert_eq!(report.packages[0].source_name, "util-linux");
}

#[test]
fn binnmu_of_the_fixed_source_is_fixed() {
    let (_dir, db) = fixture_db();
    let report = scan_one(
        &db,
        &[
            pkg("libfoo1", "1.2-3+b1", Some(("foo", "1.2-3"))),
            pkg("libfoo-old", "1.2-2+b1", Some(("foo", "1.2-2"))),
        ],
    );
    assert!(ids(&report, "libfoo1").is_empty());
    assert_eq!(ids(&report, "libfoo-old"), ["CVE-2023-0001"]);
}

#[test]
fn epoch_ordering() {
    let (_dir, db) = fixture_db();
    let report = scan_one(
        &db,
        &[
            pkg("epochy", "2:1.0-1", None),
            pkg("epochy-old", "1:9.8-1", Some(("epochy", "1:9.8-1"))),
        ],
    );
    assert!(ids(&report, "epochy").is_empty(), "2:1.0 > 1:9.9");
    assert_eq!(ids(&report, "epochy-old"), ["CVE-2023-0002"]);
}

#[test]
fn unfixed_and_ignore_unfixed() {
    let (_dir, db) = fixture_db();
    let packages = [pkg(
        "zlib1g",
        "1:1.2.13.dfsg-1",
        Some(("zlib", "1:1.2.13.dfsg-1")),
    )];
    let report = scan_one(&db, &packages);
    let f = &report.packages[0].findings[0];
    assert_eq!(f.id, "CVE-2023-45853");
    assert_eq!(f.status, Status::Open);
    assert_eq!(f.fixed_version, None);
    assert_eq!(f.severity, Severity::Negligible);
    assert_eq!(report.packages[0].fixed_version, None);
    assert_eq!(report.summary.fixable, 0);
    assert!(!report.fails(Severity::Low));
    assert!(report.fails(Severity::Negligible));
    let report = scan(
        &db,
        &packages,
        Some(&bookworm()),
        &ScanOptions {
            ignore_unfixed: true,
            ..ScanOptions::default()
        },
    )
    .unwrap();
    assert!(report.packages.is_empty());
}

#[test]
fn fixed_before_the_release_and_other_release_only() {
    let (_dir, db) = fixture_db();
    let report = scan_one(
        &db,
        &[
            pkg("tar", "1.34+dfsg-1.2+deb12u1", None),
            // CVE-2024-3094 has only a Debian:13 entry.
            pkg("liblzma5", "5.4.1-0.2", Some(("xz-utils", "5.4.1-0.2"))),
        ],
    );
    assert!(report.packages.is_empty(), "{:#?}", report.packages);
    // The same xz on trixie is matched.
    let trixie = bulwark_image::OsRelease {
        id: "debian".into(),
        version_id: None,
        version_codename: Some("trixie".into()),
        ..Default::default()
    };
    let report = scan(
        &db,
        &[pkg(
            "liblzma5",
            "5.6.0-0.2",
            Some(("xz-utils", "5.6.0-0.2")),
        )],
        Some(&trixie),
        &ScanOptions::default(),
    )
    .unwrap();
    assert_eq!(report.target.release.as_deref(), Some("13"));
    assert_eq!(ids(&report, "liblzma5"), ["CVE-2024-3094"]);
}

#[test]
fn one_cve_two_sources_two_fixes() {
    let (_dir, db) = fixture_db();
    let report = scan_one(
        &db,
        &[
            pkg(
                "libgnutls30",
                "3.7.9-2+deb12u1",
                Some(("gnutls28", "3.7.9-2+deb12u1")),
            ),
            pkg("libnettle8", "3.8.1-2", Some(("nettle", "3.8.1-2"))),
        ],
    );
    let fixes: Vec<_> = report
        .packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.findings[0].id.as_str(),
                p.fixed_version.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fixes,
        [
            ("libgnutls30", "CVE-2024-0553", "3.7.9-2+deb12u2"),
            ("libnettle8", "CVE-2024-0553", "3.8.1-2+deb12u1"),
        ]
    );
}

#[test]
fn deinstall_third_party_and_kernel() {
    let (_dir, db) = fixture_db();
    let mut gone = pkg(
        "libssl3",
        "3.0.11-1~deb12u1",
        Some(("openssl", "3.0.11-1~deb12u1")),
    );
    gone.status = "deinstall ok config-files".into();
    gone.installed = false;
    let mut nginx = pkg("nginx", "1.22.1-9", None);
    nginx.maintainer = Some("NGINX Packaging <nginx-packaging@f5.com>".into());
    let mut nginx_debian = pkg("nginx-common", "1.22.1-9", Some(("nginx", "1.22.1-9")));
    let headers = pkg("linux-libc-dev", "6.1.76-1", Some(("linux", "6.1.76-1")));
    let mut report = scan_one(
        &db,
        &[
            gone.clone(),
            nginx.clone(),
            nginx_debian.clone(),
            headers.clone(),
        ],
    );
    assert_eq!(report.not_installed.len(), 1);
    assert!(report.not_installed[0]
        .reason
        .contains("deinstall ok config-files"));
    assert_eq!(report.not_debian.len(), 1);
    assert_eq!(report.not_debian[0].name, "nginx");
    assert!(report.not_debian[0]
        .reason
        .contains("nginx-packaging@f5.com"));
    assert_eq!(ids(&report, "nginx-common"), ["CVE-2024-7347"]);
    let kernel = report
        .packages
        .iter()
        .find(|p| p.name == "linux-libc-dev")
        .unwrap();
    assert!(kernel.kernel && kernel.findings[0].kernel);
    assert!(render_table(&report).contains("CVE-2024-26581 [kernel]"));

    // The build-time origin hook overrides the Maintainer rule both ways.
    nginx_debian.maintainer = None;
    let mut options = ScanOptions::default();
    options.debian_origin.insert("nginx".into(), true);
    options.debian_origin.insert("nginx-common".into(), false);
    report = scan(&db, &[nginx, nginx_debian], Some(&bookworm()), &options).unwrap();
    assert_eq!(ids(&report, "nginx"), ["CVE-2024-7347"]);
    assert_eq!(report.not_debian[0].name, "nginx-common");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    // The record is unsigned: it cannot hide a package Debian maintains,
    // named as Maintainer or as Original-Maintainer; the disagreement is
    // reported.
    for (field, maintainer) in [
        (
            "Maintainer",
            "Debian Nginx Maintainers <pkg-nginx-maintainers@alioth-lists.debian.net>",
        ),
        ("Original-Maintainer", "Jan Doe <jdoe@debian.org>"),
        ("Maintainer", "Debian QA Group <packages@qa.debian.org>"),
    ] {
        let mut hidden = pkg("nginx-common", "1.22.1-9", Some(("nginx", "1.22.1-9")));
        hidden.maintainer = Some("Someone <someone@example.com>".into());
        if field == "Maintainer" {
            hidden.maintainer = Some(maintainer.into());
        } else {
            hidden.stanza = format!("Package: nginx-common\n{field}: {maintainer}\n");
        }
        let mut options = ScanOptions::default();
        options.debian_origin.insert("nginx-common".into(), false);
        let report = scan(&db, &[hidden], Some(&bookworm()), &options).unwrap();
        assert_eq!(
            ids(&report, "nginx-common"),
            ["CVE-2024-7347"],
            "{maintainer}"
        );
        assert!(report.not_debian.is_empty());
        assert!(
            report.warnings.iter().any(|w| w
                .contains("`nginx-common` is not from a Debian repository")
                && w.contains(maintainer)),
            "{:?}",
            report.warnings
        );
    }
    // Look-alike domains are not Debian's.
    let mut lookalike = pkg("nginx-common", "1.22.1-9", None);
    lookalike.maintainer = Some("X <x@notdebian.org>".into());
    assert!(matches!(
        package_origin(&lookalike, Some(false)),
        Origin::ThirdParty(_)
    ));
    lookalike.maintainer = Some("X <x@debian.org.evil.example>".into());
    assert!(matches!(
        package_origin(&lookalike, Some(false)),
        Origin::ThirdParty(_)
    ));
    // A version with a third-party marker.
    let pg = pkg(
        "postgresql-16",
        "16.2-1.pgdg120+2",
        Some(("postgresql-16", "16.2-1.pgdg120+2")),
    );
    assert!(matches!(package_origin(&pg, None), Origin::ThirdParty(_)));
    // Debian packages maintained under a company address stay Debian's
    // (xsecurelock and due in bookworm); the vendors' repositories do not.
    for (maintainer, debian) in [
        ("Guy Badger <badger@google.com>", true),
        ("Alex Hacker <ahacker@nvidia.com>", true),
        ("Docker <support@docker.com>", false),
        ("cudatools <cudatools@nvidia.com>", false),
        ("Chrome Linux Team <chromium-dev@chromium.org>", false),
    ] {
        let mut p = pkg("xsecurelock", "1.8.0-1", None);
        p.maintainer = Some(maintainer.into());
        assert_eq!(
            package_origin(&p, None) == Origin::Debian,
            debian,
            "{maintainer}"
        );
    }
    let docker = pkg("docker-ce", "5:24.0.7-1~debian.12~bookworm", None);
    assert!(matches!(
        package_origin(&docker, None),
        Origin::ThirdParty(_)
    ));
    let security = pkg("libssl3", "3.0.15-1~deb12u1", None);
    assert_eq!(package_origin(&security, None), Origin::Debian);
}

#[test]
fn not_debian_or_unknown_release_matches_nothing() {
    let (_dir, db) = fixture_db();
    let packages = [pkg(
        "zlib1g",
        "1:1.2.13.dfsg-1",
        Some(("zlib", "1:1.2.13.dfsg-1")),
    )];
    let ubuntu = bulwark_image::OsRelease {
        id: "ubuntu".into(),
        version_id: Some("24.04".into()),
        id_like: vec!["debian".into()],
        ..Default::default()
    };
    let report = scan(&db, &packages, Some(&ubuntu), &ScanOptions::default()).unwrap();
    assert!(report.packages.is_empty());
    assert!(
        report.warnings[0].contains("not Debian"),
        "{:?}",
        report.warnings
    );
    let report = scan(&db, &packages, None, &ScanOptions::default()).unwrap();
    assert!(report.packages.is_empty());
    assert!(report.warnings[0].contains("no os-release"));
    // An explicit release (e.g. from an SBOM's `distro=`) works without os-release.
    let report = scan(
        &db,
        &packages,
        None,
        &ScanOptions {
            release: Some("bookworm".into()),
            ..ScanOptions::default()
        },
    )
    .unwrap();
    assert_eq!(ids(&report, "zlib1g"), ["CVE-2023-45853"]);
    // VERSION_ID 12.5-style point release.
    let mut os = bookworm();
    os.version_id = Some("12.9".into());
    let report = scan(&db, &packages, Some(&os), &ScanOptions::default()).unwrap();
    assert_eq!(report.target.release.as_deref(), Some("12"));
    assert_eq!(report.summary.findings, 1);
}

#[test]
fn vex_statements_suppress_findings() {
    let (dir, db) = fixture_db();
    let vex = json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "urn:test:vex",
        "author": "test",
        "timestamp": "2025-01-01T00:00:00Z",
        "version": 1,
        "statements": [
            {"vulnerability": {"name": "CVE-2023-45853"}, "products": [{"@id": "pkg:deb/debian/zlib1g"}],
             "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
            {"vulnerability": "CVE-2024-5535", "status": "affected"},
            {"vulnerability": {"name": "CVE-2024-0553"},
             "products": [{"@id": "pkg:oci/test@sha256%3Aabc", "subcomponents": [{"@id": "pkg:deb/debian/nettle@3.8.1-2?arch=source"}]}],
             "status": "fixed"},
        ],
    });
    let file = dir.path().join("vex.json");
    std::fs::write(&file, serde_json::to_vec(&vex).unwrap()).unwrap();
    let statements = read_openvex(&file).unwrap();
    assert_eq!(statements.len(), 3);
    let report = scan(
        &db,
        &[
            pkg(
                "zlib1g",
                "1:1.2.13.dfsg-1",
                Some(("zlib", "1:1.2.13.dfsg-1")),
            ),
            pkg(
                "libssl3",
                "3.0.11-1~deb12u1",
                Some(("openssl", "3.0.11-1~deb12u1")),
            ),
            pkg("libnettle8", "3.8.1-2", Some(("nettle", "3.8.1-2"))),
            pkg("libgnutls30", "3.7.9-2", Some(("gnutls28", "3.7.9-2"))),
        ],
        Some(&bookworm()),
        &ScanOptions {
            target: "oci:test".into(),
            target_digest: Some("sha256:abc".into()),
            vex: statements,
            ..ScanOptions::default()
        },
    )
    .unwrap();
    let suppressed: Vec<_> = report
        .suppressed
        .iter()
        .map(|s| (s.package.as_str(), s.id.as_str(), s.status.as_str()))
        .collect();
    assert_eq!(
        suppressed,
        [
            ("libnettle8", "CVE-2024-0553", "fixed"),
            ("zlib1g", "CVE-2023-45853", "not_affected")
        ]
    );
    // `affected` statements do not suppress; gnutls is another package.
    assert_eq!(ids(&report, "libssl3"), ["CVE-2024-5535"]);
    assert_eq!(ids(&report, "libgnutls30"), ["CVE-2024-0553"]);
    assert_eq!(report.summary.suppressed, 2);
    // The OpenVEX output carries both kinds of statement and is deterministic.
    let out = to_openvex(&report);
    assert_eq!(out, to_openvex(&report));
    let statuses: Vec<_> = out["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["affected", "affected", "fixed", "not_affected"]);
    // And bulwark reads its own output back.
    let again = parse_openvex(&serde_json::to_vec(&out).unwrap(), Path::new("out.json")).unwrap();
    assert_eq!(again.len(), 4);
    assert!(parse_openvex(b"{}", Path::new("bad.json"))
        .unwrap_err()
        .to_string()
        .contains("`bad.json`"));
    // OpenVEX requires a reason for `not_affected`, and knows four statuses.
    let unjustified = br#"{"statements": [{"vulnerability": "CVE-1", "status": "not_affected"}]}"#;
    let err = parse_openvex(unjustified, Path::new("why.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`why.json`") && err.contains("CVE-1") && err.contains("justification"),
        "{err}"
    );
    let odd = br#"{"statements": [{"vulnerability": "CVE-1", "status": "wontfix"}]}"#;
    let err = parse_openvex(odd, Path::new("odd.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`wontfix`"), "{err}");
    let with_impact = br#"{"statements": [{"vulnerability": "CVE-1", "status": "not_affected",
        "impact_statement": "not reachable"}]}"#;
    assert_eq!(
        parse_openvex(with_impact, Path::new("ok.json"))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn database_info_and_files() {
    let (dir, db) = fixture_db();
    let info = db.info();
    assert_eq!(info.format_version, FORMAT_VERSION);
    assert_eq!(
        info.newest_modified.as_deref(),
        Some("2024-08-01T00:00:00Z")
    );
    assert_eq!(info.sources[0].kind, "osv-directory");
    assert!(info.sources[0].sha256.starts_with("sha256:"));
    let bookworm = &info.releases["12"];
    assert_eq!(bookworm.codename.as_deref(), Some("bookworm"));
    assert_eq!(bookworm.open, 1);
    assert_eq!(info.releases["13"].entries, 1);
    // A DLA without CVE is a vulnerability of its own.
    let dla = db.entries("10", "bar").unwrap();
    assert_eq!(dla[0].vulnerability, "DLA-3000-1");
    assert_eq!(dla[0].advisories, ["DLA-3000-1"]);
    assert_eq!(
        db.vulnerability("DLA-3000-1")
            .unwrap()
            .unwrap()
            .summary
            .as_deref(),
        Some("bar - security update")
    );
    assert_eq!(db.vulnerability("CVE-1999-0001").unwrap(), None);
    assert!(db.entries("12", "no-such-package").unwrap().is_empty());
    assert!(db.entries("99", "openssh").unwrap().is_empty());
    // Saving a loaded database copies it byte for byte; importing twice gives the same file.
    let a = dir.path().join("db/vuln.db");
    let b = dir.path().join("copy.db");
    db.save(&b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let tree = dir.path().join("feed");
    let (again, _) = Database::import(&[&tree]).unwrap();
    again.save(&b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // No temporary files are left next to it.
    let names: Vec<_> = std::fs::read_dir(dir.path().join("db"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["vuln.db"]);
}

#[test]
fn missing_and_corrupt_database() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let err = Database::open(&missing).unwrap_err().to_string();
    assert!(err.contains("nope.db"), "{err}");
    // Which command makes one is the command line's to say.
    assert!(!err.contains("bulwark "), "{err}");
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all").unwrap();
    let err = Database::open(&junk).unwrap_err().to_string();
    assert!(
        err.contains("junk.db") && err.contains("not a valid"),
        "{err}"
    );
    // A newer format version is refused with advice.
    let (_d, db) = fixture_db();
    let file = dir.path().join("v.db");
    db.save(&file).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[8] = 99;
    std::fs::write(&file, &bytes).unwrap();
    let err = Database::open(&file).unwrap_err().to_string();
    assert!(err.contains("format 99"), "{err}");
    // A damaged file is refused when it is opened (tests/integrity.rs
    // also damages a block behind a recomputed checksum).
    bytes[8] = FORMAT_VERSION as u8;
    let len = bytes.len();
    for b in &mut bytes[len - 200..] {
        *b ^= 0x5a;
    }
    std::fs::write(&file, &bytes).unwrap();
    let err = Database::open(&file).unwrap_err().to_string();
    assert!(
        err.contains("v.db") && err.contains("checksum mismatch"),
        "{err}"
    );
}

#[test]
fn default_path_follows_environment() {
    // One test touches the environment, so no other test races it.
    let saved: Vec<_> = ["BULWARK_DB", "XDG_CACHE_HOME", "HOME"]
        .iter()
        .map(|k| (k, std::env::var_os(k)))
        .collect();
    // SAFETY-free: set_var is safe in edition 2021.
    // `BULWARK_DB` is the command line's (through `--db`), not the library's.
    std::env::set_var("BULWARK_DB", "/x/my.db");
    std::env::set_var("XDG_CACHE_HOME", "/cache");
    assert_eq!(default_path().unwrap(), Path::new("/cache/bulwark/vuln.db"));
    std::env::remove_var("XDG_CACHE_HOME");
    std::env::set_var("HOME", "/home/u");
    assert_eq!(
        default_path().unwrap(),
        Path::new("/home/u/.cache/bulwark/vuln.db")
    );
    for (k, v) in saved {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
}

#[test]
fn status_d_style_packages() {
    // distroless status.d stanzas have no Status field: the reader marks
    // them installed; their Source field gives the source as usual.
    let (_dir, db) = fixture_db();
    let mut p = pkg(
        "libssl3",
        "3.0.11-1~deb12u1",
        Some(("openssl", "3.0.11-1~deb12u1")),
    );
    p.status = String::new();
    p.stanza =
        "Package: libssl3\nSource: openssl\nVersion: 3.0.11-1~deb12u1\nArchitecture: amd64\n"
            .into();
    let report = scan_one(&db, &[p]);
    assert_eq!(ids(&report, "libssl3"), ["CVE-2024-5535"]);
}

#[test]
fn sbom_packages_feed_the_scan() {
    let (dir, db) = fixture_db();
    let spdx = json!({
        "spdxVersion": "SPDX-2.3",
        "packages": [
            {"name": "bsdutils", "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
              "referenceLocator": "pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bb1?arch=amd64&upstream=util-linux%402.38.1-5&distro=debian-12"}]},
            {"name": "left-pad", "externalRefs": [{"referenceType": "purl", "referenceLocator": "pkg:npm/left-pad@1.3.0"}]},
        ],
    });
    let file = dir.path().join("sbom.spdx.json");
    std::fs::write(&file, serde_json::to_vec(&spdx).unwrap()).unwrap();
    let (packages, os) = packages_from_sbom(&file).unwrap();
    assert_eq!(packages.len(), 1);
    let report = scan(&db, &packages, os.as_ref(), &ScanOptions::default()).unwrap();
    assert_eq!(ids(&report, "bsdutils"), ["CVE-2024-28085"]);

    // trivy's CycloneDX: epoch qualifier, source in properties.
    let cdx = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "components": [{"type": "library", "name": "bsdutils",
            "purl": "pkg:deb/debian/bsdutils@2.38.1-5+b1?arch=amd64&distro=debian-12.5&epoch=1",
            "properties": [
                {"name": "aquasecurity:trivy:SrcName", "value": "util-linux"},
                {"name": "aquasecurity:trivy:SrcVersion", "value": "2.38.1"},
                {"name": "aquasecurity:trivy:SrcRelease", "value": "5"},
            ]}],
    });
    std::fs::write(&file, serde_json::to_vec(&cdx).unwrap()).unwrap();
    let (packages, os) = packages_from_sbom(&file).unwrap();
    assert_eq!(packages[0].version, "1:2.38.1-5+b1");
    assert_eq!(
        (
            packages[0].source_name.as_str(),
            packages[0].source_version.as_str()
        ),
        ("util-linux", "2.38.1-5")
    );
    assert_eq!(os.unwrap().version_id.as_deref(), Some("12.5"));

    // An SBOM without package URLs is refused, naming the file.
    let bare = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"type": "library", "name": "x"}]});
    std::fs::write(&file, serde_json::to_vec(&bare).unwrap()).unwrap();
    let err = packages_from_sbom(&file).unwrap_err().to_string();
    assert!(
        err.contains("sbom.spdx.json") && err.contains("no Debian package URLs"),
        "{err}"
    );
}

#[test]
fn json_report_is_stable_and_documented_fields_exist() {
    let (_dir, db) = fixture_db();
    let packages = [
        pkg(
            "libssl3",
            "3.0.11-1~deb12u1",
            Some(("openssl", "3.0.11-1~deb12u1")),
        ),
        pkg(
            "openssh-client",
            "1:9.2p1-2+deb12u2",
            Some(("openssh", "1:9.2p1-2+deb12u2")),
        ),
    ];
    let a = to_json(&scan_one(&db, &packages));
    let mut reversed = packages.clone();
    reversed.reverse();
    let b = to_json(&scan_one(&db, &reversed));
    assert_eq!(a, b, "package order must not change the report");
    let v: serde_json::Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["schema"], "bulwark-scan-report/v1");
    assert_eq!(v["target"]["digest"], "sha256:abc");
    assert_eq!(v["target"]["release"], "12");
    assert_eq!(v["summary"]["findings"], 2);
    assert_eq!(v["summary"]["by_severity"]["critical"], 1);
    let f = &v["packages"][1]["findings"][0];
    for key in [
        "id",
        "aliases",
        "severity",
        "urgency",
        "cvss_v3_vector",
        "cvss_v3_score",
        "status",
        "fixed_version",
        "advisories",
        "nodsa",
        "nodsa_reason",
        "next_point_update",
        "kernel",
        "summary",
    ] {
        assert!(f.get(key).is_some(), "missing {key}");
    }
    let table = render_table(&scan_one(&db, &packages));
    assert!(
        table.contains("openssh-client  1:9.2p1-2+deb12u2  CVE-2024-6387"),
        "{table}"
    );
    assert!(
        table.contains("2 findings in 2 of 2 packages (1 critical, 1 high); 2 fixable."),
        "{table}"
    );
}

#[test]
fn a_stale_database_is_a_report_warning() {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let (_dir, db) = fixture_db();
    // The fixture's newest record: 2024-08-01T00:00:00Z.
    let newest = UNIX_EPOCH + Duration::from_secs(1_722_470_400);
    let day = Duration::from_secs(86_400);
    let warnings_at = |now: Option<SystemTime>| {
        let report = scan(
            &db,
            &[pkg(
                "zlib1g",
                "1:1.2.13.dfsg-1",
                Some(("zlib", "1:1.2.13.dfsg-1")),
            )],
            Some(&bookworm()),
            &ScanOptions {
                now,
                ..ScanOptions::default()
            },
        )
        .unwrap();
        (report.warnings.clone(), to_sarif(&report))
    };
    let (warnings, _) = warnings_at(None);
    assert!(warnings.is_empty(), "{warnings:?}");
    let (warnings, _) = warnings_at(Some(newest + 7 * day + day / 2));
    assert!(warnings.is_empty(), "7 days is not stale: {warnings:?}");
    let (warnings, sarif) = warnings_at(Some(newest + 8 * day));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("8 days old")
            && warnings[0].contains("2024-08-01T00:00:00Z")
            && warnings[0].contains("update it"),
        "{warnings:?}"
    );
    // SARIF readers see it as a tool notification.
    let notes = &sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"];
    assert_eq!(
        notes[0]["message"]["text"],
        warnings[0].as_str(),
        "{sarif:#}"
    );
    assert_eq!(notes[0]["level"], "warning");
}

#[test]
fn many_blocks_find_every_entry_and_record() {
    // Enough source packages and records for many blocks of each kind.
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<(String, serde_json::Value)> = (0..700)
        .map(|i| {
            let id = format!("CVE-2020-{:05}", i * 7);
            let package = format!("pkg{:04}", (i * 13) % 700);
            let mut r = osv(
                &id,
                "2024-01-01T00:00:00Z",
                &[("12", &package, Some("2.0-1"))],
            );
            r["summary"] = json!(format!("summary of {id}"));
            (format!("CVE/2020/{id}.json"), r)
        })
        .collect();
    let tree = dir.path().join("tree");
    write_tree(&tree, &records);
    let (imported, _) = Database::import(&[&tree]).unwrap();
    let file = dir.path().join("vuln.db");
    imported.save(&file).unwrap();
    let check = |db: &Database| {
        for i in 0..700 {
            let id = format!("CVE-2020-{:05}", i * 7);
            let package = format!("pkg{:04}", (i * 13) % 700);
            let entries = db.entries("12", &package).unwrap();
            assert_eq!(entries.len(), 1, "{package}");
            assert_eq!(entries[0].vulnerability, id);
            let v = db.vulnerability(&id).unwrap().unwrap();
            assert_eq!(
                v.summary.as_deref(),
                Some(format!("summary of {id}").as_str())
            );
        }
        for absent in ["", "a", "pkg0000a", "pkg9999", "zzz"] {
            assert!(db.entries("12", absent).unwrap().is_empty(), "{absent}");
        }
        for absent in ["", "CVE-2020-00001", "CVE-2020-99999", "DSA-1-1"] {
            assert_eq!(db.vulnerability(absent).unwrap(), None, "{absent}");
        }
        assert_eq!(db.release_entries("12").unwrap().count(), 700);
    };
    let opened = Database::open(&file).unwrap();
    check(&opened);
    // Saving a loaded database (blocks decoded above, and blocks never
    // decoded) writes the same bytes.
    let again = dir.path().join("again.db");
    opened.save(&again).unwrap();
    Database::open(&file)
        .unwrap()
        .save(&dir.path().join("copy.db"))
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
    assert_eq!(std::fs::read(dir.path().join("copy.db")).unwrap(), bytes);
    check(&Database::open(&again).unwrap());
}
