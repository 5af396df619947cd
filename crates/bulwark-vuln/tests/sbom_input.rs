//! `sbom:FILE` input: sources and the operating system from SPDX and
//! CycloneDX SBOMs as trivy and syft write them (fixtures in `data/sbom/`).

mod common;

use std::path::{Path, PathBuf};

use bulwark_image::{InstalledPackage, OsRelease};
use bulwark_vuln::*;
use common::*;
use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sbom")
        .join(name)
}

fn fixture_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("feed");
    write_tree(&tree, &fixture_records());
    let (db, _) = Database::import(&[&tree]).unwrap();
    let file = dir.path().join("db/vuln.db");
    db.save(&file).unwrap();
    (dir, Database::open(&file).unwrap())
}

fn source<'a>(packages: &'a [InstalledPackage], name: &str) -> (&'a str, &'a str, &'a str) {
    let p = packages
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no package {name}"));
    (
        p.version.as_str(),
        p.source_name.as_str(),
        p.source_version.as_str(),
    )
}

fn scan_sbom(db: &Database, file: &Path) -> (Report, Option<OsRelease>) {
    let (packages, os) = packages_from_sbom(file).unwrap();
    let report = scan(db, &packages, os.as_ref(), &ScanOptions::default()).unwrap();
    (report, os)
}

/// Writes `doc` to a file in `dir` and reads it back as an SBOM.
fn read_doc(dir: &tempfile::TempDir, doc: &Value) -> (Vec<InstalledPackage>, Option<OsRelease>) {
    let file = dir.path().join("sbom.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    packages_from_sbom(&file).unwrap()
}

#[test]
fn trivy_spdx_source_info_gives_the_source() {
    let (packages, os) = packages_from_sbom(&fixture("trivy-debian-12.4.spdx.json")).unwrap();
    assert_eq!(packages.len(), 5);
    // Epoch from the qualifier, binNMU: the source version is sourceInfo's.
    assert_eq!(
        source(&packages, "bsdutils"),
        ("1:2.38.1-5+b1", "util-linux", "2.38.1-5")
    );
    assert_eq!(
        source(&packages, "libssl3"),
        ("3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2")
    );
    assert_eq!(
        source(&packages, "libc6"),
        ("2.36-9+deb12u3", "glibc", "2.36-9+deb12u3")
    );
    // A source version with an epoch, as trivy writes it.
    assert_eq!(
        source(&packages, "zlib1g"),
        ("1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1")
    );
    let os = os.unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("debian", Some("12.4"))
    );

    let (_dir, db) = fixture_db();
    let (report, _) = scan_sbom(&db, &fixture("trivy-debian-12.4.spdx.json"));
    assert_eq!(report.target.release.as_deref(), Some("12"));
    assert_eq!(ids(&report, "bsdutils"), ["CVE-2024-28085"]);
    assert_eq!(ids(&report, "libssl3"), ["CVE-2024-5535"]);
    assert_eq!(ids(&report, "openssl"), ["CVE-2024-5535"]);
    assert_eq!(ids(&report, "zlib1g"), ["CVE-2023-45853"]);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn spdx_source_info_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    let package = |name: &str, purl: &str, source_info: Option<&str>| {
        let mut p = json!({"name": name, "SPDXID": format!("SPDXRef-Package-{name}"),
            "downloadLocation": "NONE",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": purl}]});
        if let Some(info) = source_info {
            p["sourceInfo"] = json!(info);
        }
        p
    };
    let doc = json!({"spdxVersion": "SPDX-2.3", "packages": [
        // No version: the binary's.
        package("libssl3", "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64",
                Some("built package from: openssl")),
        // `upstream=` wins over sourceInfo.
        package("bsdutils", "pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bb1?arch=amd64&upstream=util-linux%402.38.1-5",
                Some("built package from: something-else 9.9-9")),
        // syft's sourceInfo says where it found the package, not its source.
        package("tar", "pkg:deb/debian/tar@1.34%2Bdfsg-1.2%2Bdeb12u1?arch=amd64",
                Some("acquired package info from DPKG DB: /var/lib/dpkg/status")),
        package("zlib1g", "pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&epoch=1", None),
    ]});
    let (packages, os) = read_doc(&dir, &doc);
    assert_eq!(
        source(&packages, "libssl3"),
        ("3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2")
    );
    assert_eq!(
        source(&packages, "bsdutils"),
        ("1:2.38.1-5+b1", "util-linux", "2.38.1-5")
    );
    assert_eq!(
        source(&packages, "tar"),
        ("1.34+dfsg-1.2+deb12u1", "tar", "1.34+dfsg-1.2+deb12u1")
    );
    assert_eq!(
        source(&packages, "zlib1g"),
        ("1:1.2.13.dfsg-1", "zlib1g", "1:1.2.13.dfsg-1")
    );
    // Debian URLs, nothing saying which release.
    assert!(os.is_none());
}

#[test]
fn ubuntu_sbom_is_ubuntu_not_a_debian_release() {
    let (packages, os) = packages_from_sbom(&fixture("trivy-ubuntu-22.04.spdx.json")).unwrap();
    assert_eq!(
        source(&packages, "bsdutils"),
        ("1:2.37.2-4ubuntu3", "util-linux", "2.37.2-4ubuntu3")
    );
    let os = os.unwrap();
    assert_eq!(os.id, "ubuntu");
    assert_eq!(os.version_id.as_deref(), Some("22.04"));
    assert_eq!(os.id_like, ["debian"]);

    let (_dir, db) = fixture_db();
    let (report, _) = scan_sbom(&db, &fixture("trivy-ubuntu-22.04.spdx.json"));
    assert!(report.packages.is_empty());
    assert_eq!(report.target.release, None);
    assert!(
        report.warnings.iter().any(|w| w.contains("not Debian")),
        "{:?}",
        report.warnings
    );
    assert!(
        !report
            .warnings
            .iter()
            .any(|w| w.contains("Debian release") || w.contains("no os-release")),
        "{:?}",
        report.warnings
    );

    // syft's CycloneDX form of the same.
    let dir = tempfile::tempdir().unwrap();
    let cdx = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "library", "name": "libssl3", "version": "3.0.2-0ubuntu1.12",
         "purl": "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.12?arch=amd64&upstream=openssl&distro=ubuntu-22.04"}]});
    let (packages, os) = read_doc(&dir, &cdx);
    assert_eq!(packages[0].source_name, "openssl");
    let os = os.unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("ubuntu", Some("22.04"))
    );

    // Without `distro=` nor an operating-system element, the namespace
    // still says it is not Debian.
    let cdx = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "library", "name": "libssl3",
         "purl": "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.12?arch=amd64"}]});
    let (packages, os) = read_doc(&dir, &cdx);
    let os = os.unwrap();
    assert_eq!((os.id.as_str(), os.version_id.as_deref()), ("ubuntu", None));
    let report = scan(&db, &packages, Some(&os), &ScanOptions::default()).unwrap();
    assert!(report.warnings.iter().any(|w| w.contains("not Debian")));
}

#[test]
fn distro_qualifier_forms() {
    // (PURL, ID, VERSION_ID, VERSION_CODENAME); a `distro=` naming another
    // system than the namespace is believed.
    for (purl, id, version_id, codename) in [
        (
            "pkg:deb/debian/libc6@2.36-9?distro=debian-12",
            "debian",
            Some("12"),
            None,
        ),
        (
            "pkg:deb/debian/libc6@2.36-9?distro=debian-12.4",
            "debian",
            Some("12.4"),
            None,
        ),
        (
            "pkg:deb/debian/libc6@2.36-9?distro=bookworm",
            "debian",
            None,
            Some("bookworm"),
        ),
        (
            "pkg:deb/debian/libc6@2.36-9?distro=debian-bookworm",
            "debian",
            None,
            Some("bookworm"),
        ),
        (
            "pkg:deb/ubuntu/libc6@2.35-0ubuntu3.6?distro=ubuntu-22.04",
            "ubuntu",
            Some("22.04"),
            None,
        ),
        (
            "pkg:deb/ubuntu/libc6@2.35-0ubuntu3.6?distro=jammy",
            "ubuntu",
            None,
            Some("jammy"),
        ),
        (
            "pkg:deb/debian/libc6@2.36-9?distro=raspbian-12",
            "raspbian",
            Some("12"),
            None,
        ),
        ("pkg:deb/libc6@2.36-9?distro=12", "debian", Some("12"), None),
    ] {
        let os = os_from_purls(&[purl]).unwrap();
        assert_eq!(
            (
                os.id.as_str(),
                os.version_id.as_deref(),
                os.version_codename.as_deref()
            ),
            (id, version_id, codename),
            "{purl}"
        );
    }
    assert!(os_from_purls(&["pkg:deb/debian/libc6@2.36-9?distro="]).is_none());
    // The release key the scan matches with.
    let bookworm = os_from_purls(&["pkg:deb/debian/libc6@2.36-9?distro=bookworm"]).unwrap();
    assert_eq!(
        release_key(bookworm.version_codename.as_deref().unwrap()),
        "12"
    );
}

/// Reads `file` (an SBOM of bsdutils and libssl3 on Debian 12.4 whose
/// release comes from its OS element), checks the source and the release
/// it gives, and that scanning it finds each package's CVE without a
/// warning; returns its packages.
fn debian_12_4_with_findings(file: &Path) -> Vec<InstalledPackage> {
    let (packages, os) = packages_from_sbom(file).unwrap();
    assert_eq!(
        source(&packages, "bsdutils"),
        ("1:2.38.1-5+b1", "util-linux", "2.38.1-5")
    );
    let os = os.unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("debian", Some("12.4"))
    );
    let (_dir, db) = fixture_db();
    let (report, _) = scan_sbom(&db, file);
    assert_eq!(report.target.release.as_deref(), Some("12"));
    assert_eq!(ids(&report, "libssl3"), ["CVE-2024-5535"]);
    assert_eq!(ids(&report, "bsdutils"), ["CVE-2024-28085"]);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    packages
}

#[test]
fn spdx_operating_system_package_gives_the_release() {
    let file = fixture("os-package-no-distro.spdx.json");
    debian_12_4_with_findings(&file);

    // trivy's older SPDX marks the OS by its SPDXID only.
    let dir = tempfile::tempdir().unwrap();
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let os_package = &mut doc["packages"][1];
    os_package
        .as_object_mut()
        .unwrap()
        .remove("primaryPackagePurpose");
    os_package["SPDXID"] = json!("SPDXRef-OperatingSystem-bd17bf9010aa612c");
    os_package["versionInfo"] = json!("bookworm");
    let (_, os) = read_doc(&dir, &doc);
    let os = os.unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_codename.as_deref()),
        ("debian", Some("bookworm"))
    );
}

#[test]
fn cyclonedx_operating_system_component_gives_the_release() {
    let file = fixture("os-component-no-distro.cdx.json");
    // trivy's CycloneDX properties still give the source.
    let packages = debian_12_4_with_findings(&file);
    assert_eq!(
        source(&packages, "libssl3"),
        ("3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2")
    );

    // An Ubuntu operating-system component (nested, as some tools write it).
    let dir = tempfile::tempdir().unwrap();
    let cdx = json!({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [
        {"type": "container", "name": "ubuntu:22.04", "components": [
            {"type": "operating-system", "name": "ubuntu", "version": "22.04"},
            {"type": "library", "name": "libssl3",
             "purl": "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.12?arch=amd64"}]}]});
    let (_, os) = read_doc(&dir, &cdx);
    let os = os.unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_id.as_deref()),
        ("ubuntu", Some("22.04"))
    );
}

#[test]
fn distro_qualifier_takes_precedence_over_the_os_element() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(fixture("trivy-debian-12.4.spdx.json")).unwrap())
            .unwrap();
    assert_eq!(
        doc["packages"][1]["primaryPackagePurpose"],
        "OPERATING-SYSTEM"
    );
    doc["packages"][1]["versionInfo"] = json!("11");
    let (_, os) = read_doc(&dir, &doc);
    assert_eq!(os.unwrap().version_id.as_deref(), Some("12.4"));

    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(fixture("os-component-no-distro.cdx.json")).unwrap())
            .unwrap();
    doc["components"][2]["purl"] =
        json!("pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.5");
    let (_, os) = read_doc(&dir, &doc);
    assert_eq!(os.unwrap().version_id.as_deref(), Some("12.5"));
}

#[test]
fn syft_sboms_give_the_source_from_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let bsdutils = "pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bb1?arch=amd64&upstream=util-linux%402.38.1-5&distro=debian-12";
    let libssl3 =
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&upstream=openssl&distro=debian-12";
    // syft's SPDX: a CPE beside each PURL, the image as the described
    // package with a `pkg:oci` URL, sourceInfo naming the dpkg database.
    let spdx = json!({
        "spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "debian",
        "packages": [
            {"name": "bsdutils", "SPDXID": "SPDXRef-Package-deb-bsdutils-1", "versionInfo": "1:2.38.1-5+b1",
             "sourceInfo": "acquired package info from DPKG DB: /var/lib/dpkg/status",
             "licenseDeclared": "GPL-2.0-or-later", "licenseConcluded": "NOASSERTION",
             "externalRefs": [
                {"referenceCategory": "SECURITY", "referenceType": "cpe23Type",
                 "referenceLocator": "cpe:2.3:a:bsdutils:bsdutils:1\\:2.38.1-5\\+b1:*:*:*:*:*:*:*"},
                {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": bsdutils}]},
            {"name": "libssl3", "SPDXID": "SPDXRef-Package-deb-libssl3-2", "versionInfo": "3.0.11-1~deb12u1",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": libssl3}]},
            {"name": "debian", "SPDXID": "SPDXRef-DocumentRoot-Image-debian",
             "checksums": [{"algorithm": "SHA256", "checksumValue": "ab".repeat(32)}],
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": "pkg:oci/debian@sha256%3Aabab?arch=amd64&tag=12"}],
             "primaryPackagePurpose": "CONTAINER"}],
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                           "relatedSpdxElement": "SPDXRef-DocumentRoot-Image-debian"}]
    });
    // syft's CycloneDX: licences by id and name, syft properties, the
    // operating system and files as components.
    let cdx = json!({
        "bomFormat": "CycloneDX", "specVersion": "1.6",
        "metadata": {"component": {"bom-ref": "af63bd4c", "type": "container", "name": "debian"}},
        "components": [
            {"bom-ref": "pkg:deb/debian/bsdutils?package-id=1", "type": "library", "name": "bsdutils",
             "version": "1:2.38.1-5+b1", "licenses": [{"license": {"id": "GPL-2.0-or-later"}}],
             "purl": bsdutils,
             "properties": [{"name": "syft:package:foundBy", "value": "dpkg-db-cataloger"}]},
            {"type": "library", "name": "libssl3", "version": "3.0.11-1~deb12u1",
             "licenses": [{"license": {"name": "Apache-2.0"}}], "purl": libssl3},
            {"bom-ref": "os:debian@12", "type": "operating-system", "name": "debian", "version": "12"},
            {"type": "file", "name": "/usr/bin/more",
             "hashes": [{"alg": "SHA-256", "content": "ef".repeat(32)}]}]
    });
    let (_db_dir, db) = fixture_db();
    for doc in [spdx, cdx] {
        let (packages, os) = read_doc(&dir, &doc);
        assert_eq!(packages.len(), 2, "{packages:?}");
        assert_eq!(
            source(&packages, "bsdutils"),
            ("1:2.38.1-5+b1", "util-linux", "2.38.1-5")
        );
        assert_eq!(
            source(&packages, "libssl3"),
            ("3.0.11-1~deb12u1", "openssl", "3.0.11-1~deb12u1")
        );
        let os = os.unwrap();
        assert_eq!(
            (os.id.as_str(), os.version_id.as_deref()),
            ("debian", Some("12"))
        );
        let report = scan(&db, &packages, Some(&os), &ScanOptions::default()).unwrap();
        assert_eq!(ids(&report, "bsdutils"), ["CVE-2024-28085"]);
        assert_eq!(ids(&report, "libssl3"), ["CVE-2024-5535"]);
    }
}

#[test]
fn malformed_sboms_are_errors_naming_the_file_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.cdx.json");
    for (doc, expected) in [
        (
            json!({"bomFormat": "CycloneDX", "components": [
                {"type": "library", "purl": "pkg:deb/debian/a@1?arch=amd64"},
                {"type": "library", "purl": {"type": "deb"}}]}),
            "`components[1].purl`: invalid type: map, expected a string",
        ),
        (
            json!({"spdxVersion": "SPDX-2.3", "packages": [{"externalRefs": [{"referenceType": "purl"}]}]}),
            "`packages[0].externalRefs[0]`: missing field `referenceLocator`",
        ),
        (
            json!({"bomFormat": "CycloneDX", "components": [{"name": "a",
                "components": [{"name": "b", "properties": [{"name": "x", "value": 1}]}]}]}),
            "`components[0].components[0].properties[0].value`: invalid type: integer `1`",
        ),
        (
            json!({"components": []}),
            "neither SPDX JSON (`spdxVersion`, `packages`) nor CycloneDX JSON (`bomFormat`)",
        ),
    ] {
        std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
        let err = packages_from_sbom(&file).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("SBOM `{}`: ", file.display())) && err.contains(expected),
            "{err}"
        );
    }
    std::fs::write(&file, b"{\"bomFormat\": \"CycloneDX\", ").unwrap();
    let err = packages_from_sbom(&file).unwrap_err().to_string();
    assert!(
        err.contains("bad.cdx.json") && err.contains("not valid JSON"),
        "{err}"
    );
    // Package URLs that are not valid are no packages.
    let doc = json!({"bomFormat": "CycloneDX", "components": [
        {"purl": "pkg:deb/debian/a@1?arch=amd64&arch=arm64"},
        {"purl": "pkg:deb/debian/b%FF@1"},
        {"purl": "pkg:deb/debian/c@1?arch=amd64"}]});
    let (packages, _) = read_doc(&dir, &doc);
    assert_eq!(
        packages.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["c"]
    );
}
