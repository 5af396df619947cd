//! SBOMs of this host's real Debian packages (its dpkg database and
//! `/usr/share/doc/*/copyright` files), checked by third-party validators:
//! spdx-tools (`pyspdxtools`), the NTIA conformance checker and
//! cyclonedx-python-lib's strict CycloneDX 1.6 JSON-schema validation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark_deb::control;
use bulwark_image::{Contents, FileSource, InstalledPackage, OsRelease};
use bulwark_sbom::{
    cyclonedx_json, file_records, license_from_copyright, records, spdx_json, License,
    PackageRecord, SbomInput, Subject,
};

const TOOL: &str = "bulwark-0.1.0";
const DIGEST: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

/// The virtualenv with the validators (made by `scripts/setup.sh`).
fn venv() -> PathBuf {
    let dir = std::env::var_os("BULWARK_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/venv"),
        PathBuf::from,
    );
    assert!(
        dir.join("bin/pyspdxtools").exists(),
        "the SBOM validators are missing from `{}`: run scripts/setup.sh",
        dir.display()
    );
    dir
}

/// Reads the host's files below `root`, listing only `listed`.
struct HostFiles {
    root: PathBuf,
    listed: Vec<String>,
}

impl FileSource for HostFiles {
    fn open(&self, path: &str) -> std::io::Result<Option<Box<dyn std::io::Read + '_>>> {
        let full = self.root.join(path.trim_start_matches('/'));
        match std::fs::File::open(full) {
            Ok(file) => Ok(Some(Box::new(file))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn list(&self) -> std::io::Result<Vec<String>> {
        Ok(self.listed.clone())
    }
}

/// The host's dpkg database as `InstalledPackage`s, sorted by name and
/// architecture.
fn host_packages() -> Vec<InstalledPackage> {
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
    let mut out = Vec::new();
    for item in control::paragraphs(&status) {
        let (_, p) = item.unwrap();
        let name = p.get("Package").unwrap().to_owned();
        let version = p.get("Version").unwrap_or_default().to_owned();
        let architecture = p.get("Architecture").unwrap_or_default().to_owned();
        let (source_name, source_version) = match p.get("Source") {
            Some(s) => match s.split_once('(') {
                Some((n, v)) => (
                    n.trim().to_owned(),
                    v.trim_end_matches(')').trim().to_owned(),
                ),
                None => (s.trim().to_owned(), version.clone()),
            },
            None => (name.clone(), version.clone()),
        };
        let status = p.get("Status").unwrap_or_default().to_owned();
        let list = ["", &format!(":{architecture}")]
            .iter()
            .find_map(|suffix| {
                std::fs::read_to_string(format!("/var/lib/dpkg/info/{name}{suffix}.list")).ok()
            })
            .unwrap_or_default();
        out.push(InstalledPackage {
            installed: status.ends_with(" installed"),
            name,
            version,
            architecture,
            source_name,
            source_version,
            maintainer: p.get("Maintainer").map(str::to_owned),
            status,
            files: list
                .lines()
                .filter(|l| Path::new(l).is_file())
                .map(str::to_owned)
                .collect(),
            md5sums: BTreeMap::new(),
            stanza: p.as_str().to_owned(),
        });
    }
    out.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    out
}

fn host_os() -> OsRelease {
    let text = std::fs::read_to_string("/etc/os-release").unwrap();
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim_matches('"').to_owned())
    };
    OsRelease {
        id: get("ID").unwrap(),
        version_id: get("VERSION_ID"),
        version_codename: get("VERSION_CODENAME"),
        pretty_name: get("PRETTY_NAME"),
        id_like: Vec::new(),
    }
}

fn host_contents(listed: Vec<String>) -> Contents {
    let os = host_os();
    Contents {
        target: "rootfs:/".to_owned(),
        kind: "rootfs",
        manifest_digest: None,
        config_digest: None,
        platform: None,
        config: None,
        annotations: BTreeMap::new(),
        packages: host_packages(),
        os: Some(os),
        files: Box::new(HostFiles {
            root: PathBuf::from("/"),
            listed,
        }),
    }
}

fn image_subject() -> Subject {
    Subject {
        name: "example.org/bulwark/host:latest".to_owned(),
        manifest_digest: Some(DIGEST.to_owned()),
        platform: Some("linux/amd64".to_owned()),
        supplier: Some("Bulwark Test Suite <sbom@example.org>".to_owned()),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Validates an SPDX document with spdx-tools and checks NTIA minimum
/// elements.
fn check_spdx(doc: &[u8], dir: &Path, name: &str) {
    let venv = venv();
    let path = dir.join(format!("{name}.spdx.json"));
    std::fs::write(&path, doc).unwrap();
    // pyspdxtools exits with 1 on any parse or validation error.
    let out = run(Command::new(venv.join("bin/pyspdxtools"))
        .arg("-i")
        .arg(&path));
    assert!(!out.contains("invalid"), "{out}");
    let report = dir.join(format!("{name}.ntia.json"));
    let out = Command::new(venv.join("bin/ntia-checker"))
        .args(["--comply", "ntia", "--output", "json", "--output-file"])
        .arg(&report)
        .arg(&path)
        .output()
        .unwrap();
    let report_text = std::fs::read_to_string(&report).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&report_text).unwrap_or_else(|e| {
        panic!(
            "ntia-checker wrote no JSON report ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        json["isNtiaConformant"],
        serde_json::Value::Bool(true),
        "NTIA minimum elements missing in `{}`:\n{report_text}",
        path.display()
    );
}

/// Strict CycloneDX 1.6 JSON-schema validation.
fn check_cyclonedx(doc: &[u8], dir: &Path, name: &str) {
    let path = dir.join(format!("{name}.cdx.json"));
    std::fs::write(&path, doc).unwrap();
    let script = r#"
import sys
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())
if errors:
    print(repr(errors))
    sys.exit(1)
print("valid")
"#;
    let out = run(Command::new(venv().join("bin/python"))
        .args(["-c", script])
        .arg(&path));
    assert!(out.contains("valid"), "{out}");
}

fn input<'a>(
    subject: Subject,
    os: Option<&'a OsRelease>,
    packages: &'a [PackageRecord],
    files: Option<&'a [bulwark_sbom::FileRecord]>,
) -> SbomInput<'a> {
    SbomInput {
        subject,
        os,
        packages,
        files,
        created: 1_700_000_000,
        tool: TOOL,
    }
}

#[test]
fn host_image_sboms_pass_third_party_validators() {
    let contents = host_contents(Vec::new());
    let records = records(&contents).unwrap();
    assert!(
        records.len() > 100,
        "only {} packages on the host",
        records.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let input = input(image_subject(), contents.os.as_ref(), &records, None);

    let spdx = spdx_json(&input).unwrap();
    check_spdx(&spdx, dir.path(), "image");
    let cdx = cyclonedx_json(&input).unwrap();
    check_cyclonedx(&cdx, dir.path(), "image");

    // Spot checks of content the validators do not judge.
    let doc: serde_json::Value = serde_json::from_slice(&spdx).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    assert_eq!(packages.len(), records.len() + 2);
    let libc = packages.iter().find(|p| p["name"] == "libc6").unwrap();
    assert_eq!(
        libc["supplier"],
        "Organization: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
    );
    assert_eq!(libc["licenseDeclared"], "NOASSERTION");
    let os = packages
        .iter()
        .find(|p| p["primaryPackagePurpose"] == "OPERATING-SYSTEM")
        .unwrap();
    assert_eq!(os["name"], contents.os.as_ref().unwrap().id.as_str());
    let namespace = doc["documentNamespace"].as_str().unwrap();
    assert!(
        namespace.contains("example.org-bulwark-host-latest-"),
        "{namespace}"
    );
    let rels = doc["relationships"].as_array().unwrap();
    let coreutils_id =
        packages.iter().find(|p| p["name"] == "coreutils").unwrap()["SPDXID"].clone();
    let libc_id = libc["SPDXID"].clone();
    assert!(rels.iter().any(|r| r["spdxElementId"] == coreutils_id
        && r["relationshipType"] == "DEPENDS_ON"
        && r["relatedSpdxElement"] == libc_id));
    assert_eq!(
        rels.iter()
            .filter(|r| r["relationshipType"] == "CONTAINS")
            .count(),
        records.len() + 1
    );

    let bom: serde_json::Value = serde_json::from_slice(&cdx).unwrap();
    let os = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "operating-system")
        .unwrap();
    assert_eq!(os["name"], contents.os.as_ref().unwrap().id.as_str());
    assert_eq!(bom["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(
        bom["metadata"]["component"]["hashes"][0]["content"],
        &DIGEST[7..]
    );
}

#[test]
fn host_rootfs_sboms_with_files_pass_third_party_validators() {
    // A few hundred real files: those of some essential packages, plus a
    // file no package owns.
    let owners = [
        "base-files",
        "coreutils",
        "dash",
        "debianutils",
        "diffutils",
        "dpkg",
        "libc-bin",
        "libc6",
    ];
    let mut listed: Vec<String> = host_packages()
        .iter()
        .filter(|p| owners.contains(&p.name.as_str()))
        .flat_map(|p| p.files.clone())
        .collect();
    listed.push("/var/lib/dpkg/status".to_owned());
    listed.retain(|p| Path::new(p).is_file() && !Path::new(p).is_symlink());
    listed.sort();
    listed.dedup();
    let contents = host_contents(listed.clone());
    let records = records(&contents).unwrap();
    let files = file_records(&contents).unwrap();
    assert_eq!(files.len(), listed.len());
    assert!(files.iter().any(|f| f.owners.is_empty()));
    assert!(files.iter().any(|f| f.owners.len() == 1));

    let subject = Subject {
        name: "/srv/rootfs".to_owned(),
        supplier: Some("Organization: Bulwark Test Suite".to_owned()),
        ..Subject::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let input = input(subject, contents.os.as_ref(), &records, Some(&files));
    let spdx = spdx_json(&input).unwrap();
    check_spdx(&spdx, dir.path(), "rootfs");
    // Package verification codes as spdx-tools computes them from the
    // files each package contains.
    let script = r#"
import sys
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.spdx_element_utils import calculate_package_verification_code
doc = parse_file(sys.argv[1])
files = {f.spdx_id: f for f in doc.files}
checked = 0
for p in doc.packages:
    if p.verification_code is None:
        continue
    contained = [files[r.related_spdx_element_id] for r in doc.relationships
                 if r.spdx_element_id == p.spdx_id and r.relationship_type.name == "CONTAINS"
                 and r.related_spdx_element_id in files]
    if p.spdx_id == "SPDXRef-Subject":
        contained = list(files.values())
    want = calculate_package_verification_code(contained).value
    assert p.verification_code.value == want, (p.name, p.verification_code.value, want)
    checked += 1
print("checked", checked)
"#;
    let path = dir.path().join("rootfs.spdx.json");
    let out = run(Command::new(venv().join("bin/python"))
        .args(["-c", script])
        .arg(&path));
    assert!(out.contains("checked 9"), "{out}");
    check_cyclonedx(&cyclonedx_json(&input).unwrap(), dir.path(), "rootfs");

    // SHA-1 of a real file as sha1sum computes it.
    let f = files
        .iter()
        .find(|f| f.path == "/var/lib/dpkg/status")
        .unwrap();
    assert!(f.owners.is_empty());
    let out = run(Command::new("sha1sum").arg("/var/lib/dpkg/status"));
    assert_eq!(out.split_whitespace().next().unwrap(), f.sha1);
    let out = run(Command::new("sha256sum").arg("/var/lib/dpkg/status"));
    assert_eq!(out.split_whitespace().next().unwrap(), f.sha256);
}

/// The validators do reject what is wrong: the checks above can fail.
#[test]
fn validators_reject_broken_documents() {
    let contents = host_contents(Vec::new());
    let mut records = records(&contents).unwrap();
    records.truncate(5);
    records[0].license = License::Expression("Not-A-Real-License".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let input = input(image_subject(), contents.os.as_ref(), &records, None);
    let path = dir.path().join("broken.spdx.json");
    std::fs::write(&path, spdx_json(&input).unwrap()).unwrap();
    let status = Command::new(venv().join("bin/pyspdxtools"))
        .arg("-i")
        .arg(&path)
        .output()
        .unwrap()
        .status;
    assert!(
        !status.success(),
        "pyspdxtools accepted an unknown license id"
    );

    let mut bom: serde_json::Value =
        serde_json::from_slice(&cyclonedx_json(&input).unwrap()).unwrap();
    bom["components"][1]["hashes"] = serde_json::json!([{"alg": "SHA-256", "content": "xyz"}]);
    let path = dir.path().join("broken.cdx.json");
    std::fs::write(&path, serde_json::to_vec(&bom).unwrap()).unwrap();
    let status = Command::new(venv().join("bin/python"))
        .args([
            "-c",
            "import sys\n\
             from cyclonedx.schema import SchemaVersion\n\
             from cyclonedx.validation.json import JsonStrictValidator\n\
             sys.exit(1 if JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read()) else 0)",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the CycloneDX validator accepted a bad hash"
    );
}

#[test]
fn records_match_dpkg_query() {
    let contents = host_contents(Vec::new());
    let records = records(&contents).unwrap();
    let out = run(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${db:Status-Status} ${Package} ${Architecture} ${Version}\n",
    ]));
    let mut expected: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with("config-files ") && !l.starts_with("not-installed "))
        .map(|l| l.split_once(' ').unwrap().1.to_owned())
        .collect();
    expected.sort();
    let mut got: Vec<String> = records
        .iter()
        .map(|r| {
            let p = &r.package;
            format!("{} {} {}", p.name, p.architecture, p.version)
        })
        .collect();
    got.sort();
    assert_eq!(got, expected);
}

#[test]
fn licenses_of_real_copyright_files() {
    let read = |pkg: &str| {
        let path = format!("/usr/share/doc/{pkg}/copyright");
        license_from_copyright(&std::fs::read_to_string(path).unwrap())
    };
    // Not machine-readable: never a guess.
    assert_eq!(read("libc6"), License::NoAssertion);
    assert_eq!(
        read("tzdata"),
        License::Expression("LicenseRef-public-domain".to_owned())
    );
    assert_eq!(
        read("ca-certificates"),
        License::Expression("GPL-2.0-or-later AND MPL-2.0".to_owned())
    );
    // `GPL-3+ and BSD-4-clause-UC`-style lines split into their parts.
    assert_eq!(
        read("coreutils"),
        License::Expression(
            "BSD-4-Clause-UC AND FSFULLR AND GFDL-1.3-no-invariants-only AND GPL-3.0-or-later \
             AND ISC"
                .to_owned()
        )
    );
    // A disjunction stays grouped.
    assert_eq!(
        read("openssl"),
        License::Expression("(GPL-1.0-or-later OR LicenseRef-Artistic) AND Apache-2.0".to_owned())
    );
    // Every expression derived from this host's copyright files is one the
    // `spdx` crate (which evaluates `allow-licenses`/`deny-licenses` in
    // bulwark-verify) parses strictly, each identifier as written.
    let mut derived = 0;
    for entry in std::fs::read_dir("/usr/share/doc").unwrap() {
        let path = entry.unwrap().path().join("copyright");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let License::Expression(expression) = license_from_copyright(&text) else {
            continue;
        };
        let parsed = spdx::Expression::parse_mode(&expression, spdx::ParseMode::STRICT)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for req in parsed.requirements() {
            let written = req.req.license.to_string();
            assert!(expression.contains(&written), "{expression}: {written}");
        }
        derived += 1;
    }
    assert!(
        derived >= 20,
        "only {derived} machine-readable copyright files"
    );
}

#[test]
fn documents_are_deterministic() {
    let contents = host_contents(Vec::new());
    let records = records(&contents).unwrap();
    let mut reversed = records.clone();
    reversed.reverse();
    let os = contents.os.as_ref();
    let a = input(image_subject(), os, &records, None);
    let b = input(image_subject(), os, &reversed, None);
    assert_eq!(spdx_json(&a).unwrap(), spdx_json(&b).unwrap());
    assert_eq!(cyclonedx_json(&a).unwrap(), cyclonedx_json(&b).unwrap());

    // Another manifest: another namespace and serial number, nothing else.
    let mut other = image_subject();
    other.manifest_digest = Some(format!("sha256:{}", "ab".repeat(32)));
    let c = input(other, os, &records, None);
    let (x, y) = (spdx_json(&a).unwrap(), spdx_json(&c).unwrap());
    let (x, y): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&x).unwrap(),
        serde_json::from_slice(&y).unwrap(),
    );
    assert_ne!(x["documentNamespace"], y["documentNamespace"]);
    let (x, y) = (cyclonedx_json(&a).unwrap(), cyclonedx_json(&c).unwrap());
    let (x, y): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&x).unwrap(),
        serde_json::from_slice(&y).unwrap(),
    );
    assert_ne!(x["serialNumber"], y["serialNumber"]);
    assert_eq!(x["components"], y["components"]);
}

#[test]
fn rejects_malformed_checksums_and_duplicates() {
    let contents = host_contents(Vec::new());
    let mut records = records(&contents).unwrap();
    records.truncate(3);
    records[0].deb_sha256 = Some("not-hex".to_owned());
    let err = spdx_json(&input(image_subject(), None, &records, None)).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("`{}`", records[0].package.name)),
        "{err}"
    );
    records[0].deb_sha256 = None;
    records[1] = records[0].clone();
    let err = cyclonedx_json(&input(image_subject(), None, &records, None)).unwrap_err();
    assert!(err.to_string().contains("listed twice"), "{err}");
}
