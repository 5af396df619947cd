//! Hand-made OSV and tracker fixtures and package builders.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use bulwark_image::{InstalledPackage, OsRelease};
use bulwark_vuln::Report;
use serde_json::{json, Value};

/// An OSV record with one `affected` entry per (release, package, fixed).
pub fn osv(id: &str, modified: &str, affected: &[(&str, &str, Option<&str>)]) -> Value {
    let affected: Vec<Value> = affected
        .iter()
        .map(|(release, package, fixed)| {
            let mut events = vec![json!({"introduced": "0"})];
            if let Some(fixed) = fixed {
                events.push(json!({"fixed": fixed}));
            }
            json!({
                "package": {"ecosystem": format!("Debian:{release}"), "name": package,
                            "purl": format!("pkg:deb/debian/{package}?arch=source")},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "versions": ["0.1-1", "99-1"],
                "ecosystem_specific": {"urgency": "not yet assigned"},
            })
        })
        .collect();
    json!({"schema_version": "1.6.0", "id": id, "modified": modified, "affected": affected})
}

/// The records of the fixture feed, as (path in the nested layout, record).
pub fn fixture_records() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut add = |path: &str, v: Value| out.push((path.to_string(), v));

    // openssh: a fix carrying an epoch; CVSS 9.8, urgency not yet assigned.
    let mut r = osv(
        "CVE-2024-6387",
        "2024-07-10T00:00:00Z",
        &[
            ("12", "openssh", Some("1:9.2p1-2+deb12u3")),
            ("11", "openssh", Some("1:8.4p1-5+deb11u3")),
        ],
    );
    r["severity"] =
        json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]);
    r["details"] = json!("A signal handler race condition was found in sshd.\n\nMore text.");
    // Another ecosystem's entry must be ignored.
    r["affected"].as_array_mut().unwrap().push(json!({
        "package": {"ecosystem": "Alpine:v3.20", "name": "openssh"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.8_p1-r0"}]}],
    }));
    r["affected"].as_array_mut().unwrap().push(json!({
        "ranges": [{"type": "GIT", "repo": "https://example.org/x.git", "events": [{"introduced": "0"}]}],
    }));
    add("CVE/2024/CVE-2024-6387.json", r);

    // The DSA that fixed it lists the CVE in `related`.
    let mut dsa = osv(
        "DSA-5724-1",
        "2024-07-01T00:00:00Z",
        &[("12", "openssh", Some("1:9.2p1-2+deb12u3"))],
    );
    dsa["related"] = json!(["CVE-2024-6387"]);
    dsa["summary"] = json!("openssh - security update");
    add("DSA/2024/DSA-5724-1.json", dsa.clone());
    // The same DSA again in another year folder, older.
    dsa["modified"] = json!("2024-06-01T00:00:00Z");
    dsa["affected"][0]["ranges"][0]["events"][1]["fixed"] = json!("1:9.2p1-2+deb12u99");
    add("DSA/2023/DSA-5724-1.json", dsa);

    // openssl: tilde ordering; urgency high.
    let mut r = osv(
        "CVE-2024-5535",
        "2024-08-01T00:00:00Z",
        &[("12", "openssl", Some("3.0.14-1"))],
    );
    r["affected"][0]["ecosystem_specific"]["urgency"] = json!("high");
    add("CVE/2024/CVE-2024-5535.json", r);

    // util-linux: binary version (epoch, binNMU) differs from the source version.
    add(
        "CVE/2024/CVE-2024-28085.json",
        osv(
            "CVE-2024-28085",
            "2024-04-01T00:00:00Z",
            &[("12", "util-linux", Some("2.38.1-5+deb12u1"))],
        ),
    );
    // binNMU: fixed in exactly the installed source version.
    add(
        "CVE/2023/CVE-2023-0001.json",
        osv(
            "CVE-2023-0001",
            "2023-01-01T00:00:00Z",
            &[("12", "foo", Some("1.2-3"))],
        ),
    );
    // epoch ordering: fixed in 1:9.9, installed source 2:1.0.
    add(
        "CVE/2023/CVE-2023-0002.json",
        osv(
            "CVE-2023-0002",
            "2023-01-01T00:00:00Z",
            &[("12", "epochy", Some("1:9.9-1"))],
        ),
    );
    // Unfixed, urgency unimportant.
    let mut r = osv(
        "CVE-2023-45853",
        "2024-01-01T00:00:00Z",
        &[("12", "zlib", None)],
    );
    r["affected"][0]["ecosystem_specific"]["urgency"] = json!("unimportant");
    add("CVE/2023/CVE-2023-45853.json", r);
    // Fixed long before the release.
    add(
        "CVE/2010/CVE-2010-0624.json",
        osv(
            "CVE-2010-0624",
            "2010-03-01T00:00:00Z",
            &[("12", "tar", Some("1.22-2"))],
        ),
    );
    // One CVE, two source packages, two fixes.
    add(
        "CVE/2024/CVE-2024-0553.json",
        osv(
            "CVE-2024-0553",
            "2024-02-01T00:00:00Z",
            &[
                ("12", "gnutls28", Some("3.7.9-2+deb12u2")),
                ("12", "nettle", Some("3.8.1-2+deb12u1")),
            ],
        ),
    );
    // xz: only for trixie.
    add(
        "CVE/2024/CVE-2024-3094.json",
        osv(
            "CVE-2024-3094",
            "2024-04-01T00:00:00Z",
            &[("13", "xz-utils", Some("5.6.1+really5.4.5-1"))],
        ),
    );
    // kernel.
    add(
        "CVE/2024/CVE-2024-26581.json",
        osv(
            "CVE-2024-26581",
            "2024-05-01T00:00:00Z",
            &[("12", "linux", Some("6.1.85-1"))],
        ),
    );
    // nginx (for the third-party rule).
    add(
        "CVE/2024/CVE-2024-7347.json",
        osv(
            "CVE-2024-7347",
            "2024-08-01T00:00:00Z",
            &[("12", "nginx", Some("1.22.1-9+deb12u1"))],
        ),
    );
    // A DLA without CVE ids becomes its own vulnerability.
    let mut dla = osv(
        "DLA-3000-1",
        "2022-05-01T00:00:00Z",
        &[("10", "bar", Some("1.0-1+deb10u1"))],
    );
    dla["summary"] = json!("bar - security update");
    add("DLA/2022/DLA-3000-1.json", dla);
    out
}

/// Writes the fixture records as a nested directory tree.
pub fn write_tree(dir: &Path, records: &[(String, Value)]) {
    for (path, record) in records {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, serde_json::to_vec_pretty(record).unwrap()).unwrap();
    }
}

/// Writes `members` as a zip.
pub fn write_zip(file: &Path, members: &[(String, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(file).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        zip.start_file(name.as_str(), options).unwrap();
        std::io::Write::write_all(&mut zip, data).unwrap();
    }
    zip.finish().unwrap();
}

pub fn members(records: &[(String, Value)]) -> Vec<(String, Vec<u8>)> {
    records
        .iter()
        .map(|(p, v)| (p.clone(), serde_json::to_vec(v).unwrap()))
        .collect()
}

/// An installed package built by hand, as bulwark-image's reader makes them.
pub fn pkg(name: &str, version: &str, source: Option<(&str, &str)>) -> InstalledPackage {
    let (source_name, source_version) = source.unwrap_or((name, version));
    InstalledPackage {
        name: name.to_string(),
        version: version.to_string(),
        architecture: "amd64".to_string(),
        source_name: source_name.to_string(),
        source_version: source_version.to_string(),
        maintainer: Some("Example Maintainers <maint@example.invalid>".to_string()),
        status: "install ok installed".to_string(),
        installed: true,
        files: Vec::new(),
        md5sums: BTreeMap::new(),
        stanza: String::new(),
    }
}

pub fn bookworm() -> OsRelease {
    OsRelease {
        id: "debian".into(),
        version_id: Some("12".into()),
        version_codename: Some("bookworm".into()),
        pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
        id_like: Vec::new(),
    }
}

/// The finding ids of binary package `package` in `report`.
pub fn ids(report: &Report, package: &str) -> Vec<String> {
    report
        .packages
        .iter()
        .filter(|p| p.name == package)
        .flat_map(|p| p.findings.iter().map(|f| f.id.clone()))
        .collect()
}
