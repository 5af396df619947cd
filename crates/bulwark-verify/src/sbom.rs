//! Checking an SBOM against the image it describes: every entry must be a
//! package of the image, listed once, with the PURL, licence and `.deb`
//! digest bulwark derives from the image.

use std::collections::{BTreeMap, BTreeSet};

use bulwark_image::Contents;
use bulwark_sbom::{Format, Licenses, PackageRecord, Purl, Sbom};
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
    /// Its licences, as the SBOM declares them.
    license: Licenses,
}

/// What `listed` declares, when it is not `expected` (the licence
/// bulwark's SBOMs derive from the image's copyright file) the way bulwark
/// writes it: SPDX `licenseDeclared` the expression (or `NOASSERTION`) and
/// `licenseConcluded` `NOASSERTION` (or the same); CycloneDX one
/// `expression`, none for `NOASSERTION`.
fn license_differs(listed: &Licenses, expected: &bulwark_sbom::License) -> Option<String> {
    let want = expected.as_str();
    match listed {
        Licenses::Spdx {
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
        Licenses::CycloneDx(listed) => {
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

    /// Adds the package `p` (described as `show`) by its PURL `purl`; a
    /// PURL that is not `pkg:deb/` or an identity already listed is a
    /// problem.
    fn add(&mut self, show: &str, p: &bulwark_sbom::Package, purl: &str) {
        let arch = match Purl::parse(purl) {
            Ok(parsed) if parsed.is_deb() => parsed.arch().unwrap_or_default().to_owned(),
            _ => {
                self.problem(format!(
                    "{show} has PURL `{purl}`, not a pkg:deb package of the image"
                ));
                return;
            }
        };
        let key = (p.name.clone(), p.version.clone().unwrap_or_default(), arch);
        if self.packages.contains_key(&key) {
            let (n, v, a) = &key;
            self.problem(format!("`{n}` {v} ({a}) is listed twice"));
            return;
        }
        self.packages.insert(
            key,
            Listed {
                purl: purl.to_owned(),
                sha256: p.sha256.clone(),
                license: p.licenses.clone(),
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
        if let Some(found) = license_differs(&entry.license, &r.license) {
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

/// Packages an SBOM document of `format` lists, by identity.
///
/// Besides the image (SPDX: the package the document `DESCRIBES` that
/// carries the manifest `digest`; CycloneDX: `metadata.component`, which
/// must carry it), the image's operating system (no PURL) and, in
/// CycloneDX, files (type `file`, no PURL), every package or component at
/// any depth must have exactly one PURL, a `pkg:deb/` one, and be listed
/// once; each other entry is a problem, and so is a document that is not a
/// readable SBOM of `format`.
pub(crate) fn listing(doc: Value, format: Format, image: &Contents, digest: &str) -> Listing {
    let mut out = Listing::default();
    let doc = match Sbom::from_value(doc) {
        Ok(doc) if doc.format == format => doc,
        Ok(doc) => {
            out.problem(format!(
                "it is a {} document, not {}",
                doc.format.as_str(),
                format.as_str()
            ));
            return out;
        }
        Err(err) => {
            out.problem(format!(
                "it is not a readable {} document: {err}",
                format.as_str()
            ));
            return out;
        }
    };
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let carries_digest = |p: &bulwark_sbom::Package| p.sha256.iter().any(|h| h == hex);
    if format == Format::CycloneDx && !doc.subjects().any(carries_digest) {
        out.problem(format!(
            "metadata.component does not carry the image's manifest digest {digest}"
        ));
    }
    let mut subject_seen = false;
    let mut os_seen = false;
    for p in &doc.packages {
        let kind = p.kind.as_deref().unwrap_or("");
        let show = match format {
            Format::Spdx => format!("package `{}` ({})", p.name, p.id.as_deref().unwrap_or("")),
            Format::CycloneDx => format!("component `{}` (type {kind})", p.name),
        };
        match p.purls.as_slice() {
            [] if format == Format::CycloneDx && kind == "file" => {}
            [] if format == Format::Spdx
                && !subject_seen
                && doc.describes(p)
                && carries_digest(p) =>
            {
                subject_seen = true;
            }
            [] if !os_seen && p.is_operating_system() && is_image_os(image, p) => {
                os_seen = true;
            }
            [] => out.problem(format!("{show} has no pkg:deb PURL")),
            [purl] => out.add(&show, p, purl),
            purls => out.problem(format!("{show} has {} PURLs", purls.len())),
        }
    }
    if format == Format::Spdx && !subject_seen {
        out.problem(format!(
            "no package that the document describes carries the image's manifest digest {digest}"
        ));
    }
    out
}

/// Whether an SBOM's operating-system entry is the image's, as bulwark's
/// SBOMs write it: `ID` and `VERSION_ID` (else `VERSION_CODENAME`).
fn is_image_os(image: &Contents, p: &bulwark_sbom::Package) -> bool {
    image.os.as_ref().is_some_and(|os| {
        os.id == p.name
            && p.version.as_deref() == os.version_id.as_deref().or(os.version_codename.as_deref())
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
    }
}
