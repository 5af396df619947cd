//! SPDX 2.3 JSON documents.

use std::collections::BTreeSet;

use serde::Serialize;
use sha1::{Digest as _, Sha1};

use crate::ident::{self, Prepared};
use crate::license::license_refs;
use crate::{purl, Error, SbomInput};

const NOASSERTION: &str = "NOASSERTION";
const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";
const SUBJECT_ID: &str = "SPDXRef-Subject";
const OS_ID: &str = "SPDXRef-OperatingSystem";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<Package>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<File>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    has_extracted_licensing_infos: Vec<ExtractedLicense>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    supplier: String,
    download_location: &'static str,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    package_verification_code: Option<VerificationCode>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_package_purpose: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VerificationCode {
    package_verification_code_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct File {
    file_name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    checksums: Vec<Checksum>,
    license_concluded: &'static str,
    copyright_text: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtractedLicense {
    license_id: String,
    name: String,
    extracted_text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

fn rel(from: &str, kind: &'static str, to: &str) -> Relationship {
    Relationship {
        spdx_element_id: from.to_owned(),
        relationship_type: kind,
        related_spdx_element: to.to_owned(),
    }
}

/// An SPDX actor (`Organization: NAME (EMAIL)`) for a supplier given as
/// `Name <email>`, a plain name, or already in actor form.
fn actor(supplier: &str) -> String {
    let supplier = supplier.trim();
    if ["Organization:", "Person:", "Tool:"]
        .iter()
        .any(|p| supplier.starts_with(p))
    {
        return supplier.to_owned();
    }
    let (name, email) = ident::parse_maintainer(supplier);
    if name.is_empty() {
        return NOASSERTION.to_owned();
    }
    match email {
        Some(email) => format!("Organization: {name} ({email})"),
        None => format!("Organization: {name}"),
    }
}

/// Writes the SPDX 2.3 JSON document of `input`.
///
/// The document `DESCRIBES` the subject (`SPDXRef-Subject`), which
/// `CONTAINS` the operating system (`primaryPackagePurpose`
/// `OPERATING-SYSTEM`) and every package; packages `DEPENDS_ON` each other.
/// Each package carries its PURL, its `.deb`'s SHA-256 when known, its
/// declared license (concluded license and copyright text are
/// `NOASSERTION`) and its maintainer as supplier. With files, each file has
/// its SHA-1 and SHA-256 and is contained by its owning packages (which then
/// carry a package verification code), or else by the subject.
pub fn spdx_json(input: &SbomInput) -> Result<Vec<u8>, Error> {
    let prepared = Prepared::new(input)?;
    let subject = &input.subject;
    let uuid = ident::document_uuid("spdx", &prepared.key, input.files.is_some());
    let package_ids: Vec<String> = prepared
        .packages
        .iter()
        .map(|r| {
            let p = &r.package;
            format!(
                "SPDXRef-Package-deb-{}-{}-{}",
                ident::sanitize(&p.name, 64),
                ident::sanitize(&p.architecture, 16),
                ident::short_hash(&format!("{}:{}", p.name, p.architecture))
            )
        })
        .collect();

    // Files first: packages that own some need their verification code.
    let mut files = Vec::new();
    let mut owned_sha1s: Vec<Vec<&str>> = vec![Vec::new(); prepared.packages.len()];
    let mut all_sha1s: Vec<&str> = Vec::new();
    let mut file_relationships = Vec::new();
    for (f, owners) in prepared.files.iter().flatten() {
        let id = format!("SPDXRef-File-{}", ident::short_hash(&f.path));
        all_sha1s.push(&f.sha1);
        if owners.is_empty() {
            file_relationships.push(rel(SUBJECT_ID, "CONTAINS", &id));
        }
        for &o in owners {
            owned_sha1s[o].push(&f.sha1);
            file_relationships.push(rel(&package_ids[o], "CONTAINS", &id));
        }
        files.push(File {
            file_name: format!(".{}", f.path),
            spdx_id: id,
            checksums: vec![
                Checksum {
                    algorithm: "SHA1",
                    checksum_value: f.sha1.to_ascii_lowercase(),
                },
                Checksum {
                    algorithm: "SHA256",
                    checksum_value: f.sha256.to_ascii_lowercase(),
                },
            ],
            license_concluded: NOASSERTION,
            copyright_text: NOASSERTION,
        });
    }
    file_relationships.sort_by(|a, b| {
        (&a.spdx_element_id, &a.related_spdx_element)
            .cmp(&(&b.spdx_element_id, &b.related_spdx_element))
    });

    let mut packages = Vec::with_capacity(prepared.packages.len() + 2);
    let mut checksums = Vec::new();
    if let Some(digest) = &subject.manifest_digest {
        let (alg, _, hex) = ident::split_digest(digest)?;
        checksums.push(Checksum {
            algorithm: alg,
            checksum_value: hex,
        });
    }
    packages.push(Package {
        name: subject.name.clone(),
        spdx_id: SUBJECT_ID.to_owned(),
        version_info: Some(prepared.key.clone()),
        supplier: subject
            .supplier
            .as_deref()
            .map_or(NOASSERTION.to_owned(), actor),
        download_location: NOASSERTION,
        files_analyzed: input.files.is_some(),
        package_verification_code: input.files.map(|_| verification_code(&all_sha1s)),
        checksums,
        source_info: None,
        license_concluded: NOASSERTION,
        license_declared: NOASSERTION.to_owned(),
        copyright_text: NOASSERTION,
        summary: subject.platform.as_ref().map(|p| format!("Platform {p}")),
        external_refs: Vec::new(),
        primary_package_purpose: Some(if subject.manifest_digest.is_some() {
            "CONTAINER"
        } else {
            "OTHER"
        }),
    });
    if let Some(os) = input.os {
        packages.push(Package {
            name: os.id.clone(),
            spdx_id: OS_ID.to_owned(),
            version_info: os
                .version_id
                .clone()
                .or_else(|| os.version_codename.clone()),
            supplier: ident::os_supplier(&os.id)
                .map_or(NOASSERTION.to_owned(), |s| format!("Organization: {s}")),
            download_location: NOASSERTION,
            files_analyzed: false,
            package_verification_code: None,
            checksums: Vec::new(),
            source_info: None,
            license_concluded: NOASSERTION,
            license_declared: NOASSERTION.to_owned(),
            copyright_text: NOASSERTION,
            summary: os.pretty_name.clone(),
            external_refs: Vec::new(),
            primary_package_purpose: Some("OPERATING-SYSTEM"),
        });
    }
    let mut license_ref_ids = BTreeSet::new();
    for (i, r) in prepared.packages.iter().enumerate() {
        let p = &r.package;
        let license = r.license.as_str();
        license_ref_ids.extend(license_refs(license).map(str::to_owned));
        let has_files = !owned_sha1s[i].is_empty();
        packages.push(Package {
            name: p.name.clone(),
            spdx_id: package_ids[i].clone(),
            version_info: Some(p.version.clone()),
            supplier: p
                .maintainer
                .as_deref()
                .map_or(NOASSERTION.to_owned(), actor),
            download_location: NOASSERTION,
            files_analyzed: has_files,
            package_verification_code: has_files.then(|| verification_code(&owned_sha1s[i])),
            checksums: prepared.deb_sha256[i]
                .iter()
                .map(|h| Checksum {
                    algorithm: "SHA256",
                    checksum_value: h.clone(),
                })
                .collect(),
            source_info: Some(format!(
                "built from Debian source package {} {}",
                p.source_name, p.source_version
            )),
            license_concluded: NOASSERTION,
            license_declared: license.to_owned(),
            copyright_text: NOASSERTION,
            summary: None,
            external_refs: vec![ExternalRef {
                reference_category: "PACKAGE-MANAGER",
                reference_type: "purl",
                reference_locator: purl(p, input.os),
            }],
            primary_package_purpose: None,
        });
    }

    let mut relationships = vec![rel(DOCUMENT_ID, "DESCRIBES", SUBJECT_ID)];
    if input.os.is_some() {
        relationships.push(rel(SUBJECT_ID, "CONTAINS", OS_ID));
    }
    relationships.extend(package_ids.iter().map(|id| rel(SUBJECT_ID, "CONTAINS", id)));
    for (i, deps) in prepared.depends.iter().enumerate() {
        relationships.extend(
            deps.iter()
                .map(|&j| rel(&package_ids[i], "DEPENDS_ON", &package_ids[j])),
        );
    }
    relationships.extend(file_relationships);

    let document = Document {
        spdx_version: "SPDX-2.3",
        data_license: "CC0-1.0",
        spdx_id: DOCUMENT_ID,
        name: subject.name.clone(),
        document_namespace: ident::spdx_namespace(&subject.name, &uuid),
        creation_info: CreationInfo {
            created: ident::rfc3339(input.created),
            creators: vec![format!("Tool: {}", input.tool)],
        },
        packages,
        files,
        has_extracted_licensing_infos: license_ref_ids
            .into_iter()
            .map(|id| {
                let name = id.trim_start_matches("LicenseRef-").to_owned();
                ExtractedLicense {
                    extracted_text: format!(
                        "The license named `{name}` in the machine-readable debian/copyright \
                         file of the packages that declare it; it has no SPDX License List \
                         identifier. Its text is in that file."
                    ),
                    license_id: id,
                    name,
                }
            })
            .collect(),
        relationships,
    };
    let mut out = serde_json::to_vec_pretty(&document)?;
    out.push(b'\n');
    Ok(out)
}

/// SPDX package verification code: SHA-1 over the sorted, concatenated
/// lowercase SHA-1s of the package's files.
fn verification_code(sha1s: &[&str]) -> VerificationCode {
    let mut lower: Vec<String> = sha1s.iter().map(|s| s.to_ascii_lowercase()).collect();
    lower.sort_unstable();
    let mut h = Sha1::new();
    for s in &lower {
        h.update(s.as_bytes());
    }
    VerificationCode {
        package_verification_code_value: hex::encode(h.finalize()),
    }
}
