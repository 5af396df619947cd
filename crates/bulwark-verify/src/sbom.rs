//! Checking an SBOM against the image it describes: every entry must be a
//! package of the image, listed once, with the PURL, licence and `.deb`
//! digest bulwark derives from the image.

use std::collections::{BTreeMap, BTreeSet};

use bulwark_image::Contents;
use bulwark_sbom::PackageRecord;
use serde_json::Value;

/// One package identity: name, version, architecture.
pub(crate) type Pkg = (String, String, String);

/// What an SBOM says about one package besides its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Listed {
    /// Its `pkg:deb/` PURL.
    purl: String,
    /// The hex SHA-256s of its `.deb` the SBOM gives (bulwark's give one,
    /// when the build knew it).
    sha256: Vec<String>,
    /// Its license, as the SBOM declares it.
    license: ListedLicense,
}

/// A package's license as an SBOM declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ListedLicense {
    /// SPDX `licenseDeclared` and `licenseConcluded` (`None` when absent).
    Spdx {
        declared: Option<String>,
        concluded: Option<String>,
    },
    /// CycloneDX `licenses`: each entry's `expression` (or `license.id`,
    /// `license.name`).
    CycloneDx(Vec<String>),
}

impl ListedLicense {
    /// What the SBOM declares, when it is not `expected` (the license
    /// bulwark's SBOMs derive from the image's copyright file) the way
    /// bulwark writes it: SPDX `licenseDeclared` the expression (or
    /// `NOASSERTION`) and `licenseConcluded` `NOASSERTION` (or the same);
    /// CycloneDX one `expression`, none for `NOASSERTION`.
    fn differs(&self, expected: &bulwark_sbom::License) -> Option<String> {
        let want = expected.as_str();
        match self {
            Self::Spdx {
                declared,
                concluded,
            } => {
                let declared = declared.as_deref().unwrap_or("NOASSERTION");
                let concluded = concluded.as_deref().unwrap_or("NOASSERTION");
                if declared != want {
                    Some(format!("`{declared}`"))
                } else if concluded != "NOASSERTION" && concluded != want {
                    Some(format!("`{concluded}` (licenseConcluded)"))
                } else {
                    None
                }
            }
            Self::CycloneDx(listed) => {
                let ok = match expected {
                    bulwark_sbom::License::NoAssertion => listed.is_empty(),
                    bulwark_sbom::License::Expression(e) => listed.as_slice() == [e.clone()],
                };
                (!ok).then(|| {
                    if listed.is_empty() {
                        "none".to_owned()
                    } else {
                        listed
                            .iter()
                            .map(|l| format!("`{l}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                })
            }
        }
    }
}

/// The packages an SBOM lists, by identity, and what in it is not one
/// package of the image listed once.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) packages: BTreeMap<Pkg, Listed>,
    /// Entries that are no package of the image, or list one again.
    pub(crate) problems: Vec<String>,
}

impl Listing {
    fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// Adds the entry `show` of (name, version, PURL, `.deb` SHA-256s,
    /// license); a PURL that is not `pkg:deb/` or an identity already
    /// listed is a problem.
    fn add(
        &mut self,
        show: &str,
        (name, version, purl, sha256, license): (String, String, &str, Vec<String>, ListedLicense),
    ) {
        if !purl.starts_with("pkg:deb/") {
            self.problem(format!(
                "{show} has PURL `{purl}`, not a pkg:deb package of the image"
            ));
            return;
        }
        let key = (name, version, purl_arch(purl).unwrap_or("").to_owned());
        if self.packages.contains_key(&key) {
            let (n, v, a) = &key;
            self.problem(format!("`{n}` {v} ({a}) is listed twice"));
            return;
        }
        self.packages.insert(
            key,
            Listed {
                purl: purl.to_owned(),
                sha256,
                license,
            },
        );
    }
}

/// For an SBOM that lists the image's packages: the first package whose
/// PURL differs from the one recomputed from the image, whose license
/// differs from the one bulwark's SBOMs derive from the image's copyright
/// file for it, or whose `.deb` SHA-256 differs from the verified
/// provenance's (`debs`, when there is one).
pub(crate) fn first_detail_difference(
    records: &[PackageRecord],
    image: &Contents,
    listed: &BTreeMap<Pkg, Listed>,
    debs: &BTreeMap<Pkg, String>,
) -> Option<String> {
    for r in records {
        let p = &r.package;
        let key = (p.name.clone(), p.version.clone(), p.architecture.clone());
        let Some(entry) = listed.get(&key) else {
            continue;
        };
        let show = format!("`{}` {} ({})", p.name, p.version, p.architecture);
        let purl = bulwark_sbom::purl(p, image.os.as_ref());
        if entry.purl != purl {
            return Some(format!(
                "{show} has PURL `{}` in the SBOM, the image gives `{purl}`",
                entry.purl
            ));
        }
        if let Some(found) = entry.license.differs(&r.license) {
            return Some(format!(
                "{show} has license {found} in the SBOM, the image's copyright file gives `{}`",
                r.license
            ));
        }
        if let Some(expected) = debs.get(&key) {
            if entry.sha256.as_slice() != [expected.clone()] {
                return Some(format!(
                    "{show} has .deb SHA-256 {} in the SBOM, the signed provenance says {expected}",
                    if entry.sha256.is_empty() {
                        "(none)".to_owned()
                    } else {
                        entry.sha256.join(", ")
                    }
                ));
            }
        }
    }
    None
}

/// The `arch` qualifier of a `pkg:deb/` PURL.
fn purl_arch(purl: &str) -> Option<&str> {
    let (_, qualifiers) = purl.split_once('?')?;
    qualifiers
        .split('#')
        .next()?
        .split('&')
        .find_map(|q| q.strip_prefix("arch="))
}

/// Packages an SPDX document lists, by identity. Besides the image (the
/// package the document `DESCRIBES` that carries the manifest digest) and
/// the image's operating system (purpose `OPERATING-SYSTEM`, no PURL),
/// every package must have exactly one PURL, a `pkg:deb/` one, and be
/// listed once; each other entry is a problem.
pub(crate) fn spdx_packages(doc: &Value, image: &Contents, digest: &str) -> Listing {
    let mut out = Listing::default();
    let described: BTreeSet<&str> = doc
        .get("relationships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| {
            r.get("spdxElementId").and_then(Value::as_str) == Some("SPDXRef-DOCUMENT")
                && r.get("relationshipType").and_then(Value::as_str) == Some("DESCRIBES")
        })
        .filter_map(|r| r.get("relatedSpdxElement").and_then(Value::as_str))
        .chain(
            doc.get("documentDescribes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        )
        .collect();
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let mut subject_seen = false;
    let mut os_seen = false;
    for p in doc
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let id = s("SPDXID");
        let show = format!("package `{}` ({id})", s("name"));
        let sha256: Vec<String> = p
            .get("checksums")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c.get("algorithm").and_then(Value::as_str) == Some("SHA256"))
            .map(|c| {
                c.get("checksumValue")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        let purls: Vec<&str> = p
            .get("externalRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
            .map(|r| {
                r.get("referenceLocator")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            })
            .collect();
        if purls.is_empty() {
            if !subject_seen && described.contains(id.as_str()) && sha256.iter().any(|h| h == hex) {
                subject_seen = true;
            } else if !os_seen
                && p.get("primaryPackagePurpose").and_then(Value::as_str)
                    == Some("OPERATING-SYSTEM")
                && is_image_os(image, &s("name"), p.get("versionInfo"))
            {
                os_seen = true;
            } else {
                out.problem(format!("{show} has no pkg:deb PURL"));
            }
            continue;
        }
        let [purl] = purls.as_slice() else {
            out.problem(format!("{show} has {} PURLs", purls.len()));
            continue;
        };
        let license = ListedLicense::Spdx {
            declared: p
                .get("licenseDeclared")
                .map(|v| v.as_str().unwrap_or("(not a string)").to_owned()),
            concluded: p
                .get("licenseConcluded")
                .map(|v| v.as_str().unwrap_or("(not a string)").to_owned()),
        };
        out.add(&show, (s("name"), s("versionInfo"), purl, sha256, license));
    }
    if !subject_seen {
        out.problem(format!(
            "no package that the document describes carries the image's manifest digest {digest}"
        ));
    }
    out
}

/// Packages a CycloneDX document lists, by identity: every component at
/// any depth (under `components` and under `metadata.component`). Besides
/// files (type `file`, no PURL) and the image's operating system (type
/// `operating-system`, no PURL), every component must have a `pkg:deb/`
/// PURL and be listed once; each other component is a problem. The
/// `metadata.component` must carry the image's manifest digest.
pub(crate) fn cyclonedx_packages(doc: &Value, image: &Contents, digest: &str) -> Listing {
    let mut out = Listing::default();
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let hashes = |c: &Value| -> Vec<String> {
        c.get("hashes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|h| h.get("alg").and_then(Value::as_str) == Some("SHA-256"))
            .map(|h| {
                h.get("content")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    };
    let children = |c: &Value| -> Vec<Value> {
        c.get("components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let metadata = doc.pointer("/metadata/component");
    if !metadata.is_some_and(|m| hashes(m).iter().any(|h| h == hex)) {
        out.problem(format!(
            "metadata.component does not carry the image's manifest digest {digest}"
        ));
    }
    let mut pending: Vec<Value> = children(doc);
    pending.extend(metadata.map(children).unwrap_or_default());
    pending.reverse();
    let mut os_seen = false;
    while let Some(c) = pending.pop() {
        let mut nested = children(&c);
        nested.reverse();
        pending.extend(nested);
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let kind = s("type");
        let show = format!("component `{}` (type {kind})", s("name"));
        let Some(purl) = c.get("purl") else {
            if kind == "file" {
                continue;
            }
            if kind == "operating-system"
                && !os_seen
                && is_image_os(image, &s("name"), c.get("version"))
            {
                os_seen = true;
            } else {
                out.problem(format!("{show} has no pkg:deb PURL"));
            }
            continue;
        };
        let purl = purl.as_str().unwrap_or("(not a string)");
        let licenses = c
            .get("licenses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| {
                l.get("expression")
                    .or_else(|| l.pointer("/license/id"))
                    .or_else(|| l.pointer("/license/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("(unreadable)")
                    .to_owned()
            })
            .collect();
        out.add(
            &show,
            (
                s("name"),
                s("version"),
                purl,
                hashes(&c),
                ListedLicense::CycloneDx(licenses),
            ),
        );
    }
    out
}

/// Whether an SBOM's operating-system entry is the image's, as bulwark's
/// SBOMs write it: `ID` and `VERSION_ID` (else `VERSION_CODENAME`).
fn is_image_os(image: &Contents, name: &str, version: Option<&Value>) -> bool {
    image.os.as_ref().is_some_and(|os| {
        os.id == name
            && version.and_then(Value::as_str)
                == os.version_id.as_deref().or(os.version_codename.as_deref())
    })
}

/// The first package (in name order) that is in one set and not the other.
pub(crate) fn first_difference(image: &BTreeSet<Pkg>, sbom: &BTreeSet<Pkg>) -> Option<String> {
    let missing = image.difference(sbom).next();
    let extra = sbom.difference(image).next();
    let show = |(n, v, a): &Pkg| format!("`{n}` {v} ({a})");
    match (missing, extra) {
        (None, None) => None,
        (Some(m), Some(e)) if e < m => {
            Some(format!("{} is in the SBOM, not in the image", show(e)))
        }
        (Some(m), _) => Some(format!("{} is in the image, not in the SBOM", show(m))),
        (None, Some(e)) => Some(format!("{} is in the SBOM, not in the image", show(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_first_package() {
        let p = |n: &str| (n.to_owned(), "1".to_owned(), "amd64".to_owned());
        let image: BTreeSet<Pkg> = [p("a"), p("b")].into();
        let sbom: BTreeSet<Pkg> = [p("a"), p("c")].into();
        assert_eq!(
            first_difference(&image, &sbom).unwrap(),
            "`b` 1 (amd64) is in the image, not in the SBOM"
        );
        assert_eq!(first_difference(&image, &image), None);
        assert_eq!(
            purl_arch("pkg:deb/debian/a@1?arch=arm64&distro=debian-12"),
            Some("arm64")
        );
    }
}
