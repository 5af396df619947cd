//! Matching installed packages against the database.
//!
//! The rules (documented for users in `docs/scan-report.md`):
//!
//! - The release is the major part of os-release's `VERSION_ID` (`12.5` →
//!   `12`), or its `VERSION_CODENAME` when there is no `VERSION_ID`
//!   (testing, sid). Only `ID=debian` is matched.
//! - A package is looked up by its **source** name and compared by its
//!   **source** version, never the binary's (`bsdutils 1:2.38.1-5+b1` is
//!   `util-linux 2.38.1-5`).
//! - No entry for the release means not affected; `not-affected` entries
//!   never match; `resolved` entries match when the installed source version
//!   is lower than the fixed version; `open` and `undetermined` entries
//!   always match (no fix).
//! - Packages that are not installed (`deinstall … config-files`) and
//!   packages not built by Debian are not matched, and the report lists them.
//! - When no package can be matched at all (the release is unknown, or the
//!   database has no entry for it), a warning says why and
//!   [`Report::unmatched`] holds it, so that a caller can refuse to call
//!   the image clean.

use std::collections::BTreeMap;

use bulwark_deb::version::compare;
use bulwark_image::{InstalledPackage, OsRelease};
use bulwark_sbom::Purl;
use serde::Serialize;

use crate::model::{release_codename, release_key, Severity, Status};
use crate::vex::VexStatement;
use crate::{Database, Result};

/// How to scan.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// The target as the user gave it (image reference, rootfs path, `sbom:FILE`).
    pub target: String,
    /// The image's manifest digest (`sha256:…`), when it is an image.
    pub target_digest: Option<String>,
    /// The image's config digest (`sha256:…`), when it is an image.
    pub target_config_digest: Option<String>,
    /// Drop findings that have no fix.
    pub ignore_unfixed: bool,
    /// VEX statements: `not_affected` and `fixed` ones suppress findings.
    pub vex: Vec<VexStatement>,
    /// Per binary package name: whether it came from a repository whose
    /// Release file says `Origin: Debian` (recorded by bulwark at build
    /// time). When present this decides, instead of the Maintainer rule.
    pub debian_origin: BTreeMap<String, bool>,
    /// The release to match against (`12`, `bookworm`), overriding os-release.
    pub release: Option<String>,
    /// The time of the scan: when set, the report warns if the database's
    /// newest record is more than [`crate::STALE_AFTER_DAYS`] days older.
    /// `None` keeps the report a pure function of the target and database.
    pub now: Option<std::time::SystemTime>,
}

/// Whether a package is matched against Debian's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Built by Debian.
    Debian,
    /// Built by someone else; the reason says how that was decided.
    ThirdParty(String),
}

/// Maintainer addresses of third-party packagers whose packages carry
/// Debian-like names (matched case-insensitively as substrings). Whole
/// domains only where the company's own repository is the only packager
/// there; for companies whose employees also maintain packages in Debian
/// (Google, NVIDIA, Microsoft, Oracle, GitLab…), only the role address of
/// the vendor's repository, so that Debian's own packages stay matched.
const THIRD_PARTY_MAINTAINERS: &[&str] = &[
    "nginx-packaging@f5.com",
    "nginx-packaging@nginx.com",
    "support@docker.com",
    "azpycli@microsoft.com",
    "@nodesource.com",
    "@mongodb.com",
    "@elastic.co",
    "@grafana.com",
    "@hashicorp.com",
    "@percona.com",
    "maria-developers@lists.launchpad.net",
    "@datadoghq.com",
    "@yarnpkg.com",
    "cudatools@nvidia.com",
    "support@gitlab.com",
    "@influxdata.com",
    "chromium-dev@chromium.org",
    "mysql-build@oss.oracle.com",
    "@redis.io",
];

/// Whether `package` is Debian's. `debian_origin` (the repository's
/// `Origin: Debian`, recorded at build time) decides when known. Otherwise
/// a package is Debian's unless its Maintainer is a known third-party
/// packager, or its version carries a third-party marker: `pgdg` (the
/// PostgreSQL project's repository), `~debian.` or `~CODENAME` right after
/// the revision (nginx's and Docker's repositories) — Debian itself uses
/// `~debNuM` and `~bpoN`.
///
/// The recorded origin is not signed, so it cannot hide a package that
/// Debian maintains (see [`debian_maintainer`]): such a package is Debian's
/// whatever the record says.
pub fn package_origin(package: &InstalledPackage, debian_origin: Option<bool>) -> Origin {
    match debian_origin {
        Some(true) => return Origin::Debian,
        Some(false) if debian_maintainer(package).is_some() => return Origin::Debian,
        Some(false) => {
            return Origin::ThirdParty(
                "its repository's Release file does not say `Origin: Debian`".to_string(),
            )
        }
        None => {}
    }
    if let Some(maintainer) = &package.maintainer {
        let lower = maintainer.to_ascii_lowercase();
        if THIRD_PARTY_MAINTAINERS.iter().any(|m| lower.contains(m)) {
            return Origin::ThirdParty(format!(
                "its maintainer `{maintainer}` is a third-party packager"
            ));
        }
    }
    let version = &package.version;
    let codename_suffix = version.rsplit_once('~').is_some_and(|(_, tail)| {
        tail.starts_with("debian.")
            || ["buster", "bullseye", "bookworm", "trixie", "forky", "sid"]
                .iter()
                .any(|c| tail.starts_with(c))
    });
    if version.contains("pgdg") || codename_suffix {
        return Origin::ThirdParty(format!(
            "its version `{version}` carries a third-party repository's marker"
        ));
    }
    Origin::Debian
}

/// The `Maintainer` or `Original-Maintainer` of `package` whose address is
/// Debian's: under `debian.org` (`lists.debian.org` included) or
/// `alioth-lists.debian.net`.
pub fn debian_maintainer(package: &InstalledPackage) -> Option<&str> {
    let original = package.stanza.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field
            .eq_ignore_ascii_case("Original-Maintainer")
            .then(|| value.trim())
    });
    package
        .maintainer
        .as_deref()
        .into_iter()
        .chain(original)
        .find(|maintainer| {
            let address = maintainer
                .rsplit_once('<')
                .map_or(*maintainer, |(_, rest)| {
                    rest.trim_end().trim_end_matches('>')
                });
            let Some((_, domain)) = address.rsplit_once('@') else {
                return false;
            };
            let domain = domain.to_ascii_lowercase();
            domain == "debian.org"
                || domain.ends_with(".debian.org")
                || domain == "alioth-lists.debian.net"
        })
}

/// What was scanned.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TargetInfo {
    /// The target as the user gave it.
    pub reference: String,
    /// The image's manifest digest, if an image (none for a classic
    /// docker-archive).
    pub digest: Option<String>,
    /// The image's config digest, if an image.
    pub config_digest: Option<String>,
    /// The operating system's `PRETTY_NAME` (or `ID VERSION_ID`).
    pub os: Option<String>,
    /// The release key matched against (`12`), if any.
    pub release: Option<String>,
    /// Its codename (`bookworm`), if known.
    pub codename: Option<String>,
}

/// Which database the report was made with.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatabaseSummary {
    /// The file format version.
    pub format_version: u32,
    /// The newest `modified` date of its records.
    pub newest_modified: Option<String>,
    /// Where its data came from (paths or URLs).
    pub sources: Vec<String>,
}

/// One vulnerability of one package.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// The vulnerability id (`CVE-…`, or a `DSA-…` without CVE).
    pub id: String,
    /// Other ids of it.
    pub aliases: Vec<String>,
    /// The severity on bulwark's scale.
    pub severity: Severity,
    /// Debian's urgency, as written.
    pub urgency: Option<String>,
    /// The CVSS v3 vector.
    pub cvss_v3_vector: Option<String>,
    /// The CVSS v3 base score computed from the vector.
    pub cvss_v3_score: Option<f64>,
    /// `open`, `resolved` or `undetermined`.
    pub status: Status,
    /// The source version that fixes it, if any.
    pub fixed_version: Option<String>,
    /// DSA/DLA ids of the fix.
    pub advisories: Vec<String>,
    /// The tracker's no-DSA comment.
    pub nodsa: Option<String>,
    /// `ignored` or `postponed`.
    pub nodsa_reason: Option<String>,
    /// The fix waits for the next point release.
    pub next_point_update: bool,
    /// A Linux kernel vulnerability reached through `linux-libc-dev`
    /// (headers only): rarely relevant inside a container.
    pub kernel: bool,
    /// A short summary.
    pub summary: Option<String>,
}

/// The findings of one installed binary package.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PackageFindings {
    /// Binary package name.
    pub name: String,
    /// Installed binary version.
    pub version: String,
    /// Architecture.
    pub architecture: String,
    /// Source package name matched.
    pub source_name: String,
    /// Source version compared.
    pub source_version: String,
    /// The lowest source version that fixes every fixable finding: upgrade
    /// to the binary built from it or later. `None` when nothing is fixable.
    pub fixed_version: Option<String>,
    /// The package is `linux-libc-dev` (or another binary of `linux`).
    pub kernel: bool,
    /// Findings, most severe first, then by id.
    pub findings: Vec<Finding>,
}

/// A package that was not matched, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedPackage {
    /// Binary package name.
    pub name: String,
    /// Binary version.
    pub version: String,
    /// Why it was not matched.
    pub reason: String,
}

/// A finding a VEX statement suppressed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Suppressed {
    /// Binary package name.
    pub package: String,
    /// Binary version.
    pub version: String,
    /// The vulnerability id.
    pub id: String,
    /// The statement's status (`not_affected`, `fixed`).
    pub status: String,
    /// The statement's justification.
    pub justification: Option<String>,
    /// The statement's impact statement.
    pub impact_statement: Option<String>,
}

/// Counts over the findings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Packages scanned (installed ones).
    pub packages_scanned: usize,
    /// Packages with at least one finding.
    pub packages_affected: usize,
    /// All findings.
    pub findings: usize,
    /// Findings with a fixed version.
    pub fixable: usize,
    /// Findings by severity name.
    pub by_severity: BTreeMap<String, usize>,
    /// Findings suppressed by VEX.
    pub suppressed: usize,
}

/// The result of a scan. Its JSON form is documented in `docs/scan-report.md`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// `bulwark-scan-report/v1`.
    pub schema: &'static str,
    /// What was scanned.
    pub target: TargetInfo,
    /// The database used.
    pub database: DatabaseSummary,
    /// Counts.
    pub summary: Summary,
    /// Packages with findings, sorted by name then architecture.
    pub packages: Vec<PackageFindings>,
    /// Packages not built by Debian, not matched.
    pub not_debian: Vec<SkippedPackage>,
    /// Packages present in the dpkg database but not installed.
    pub not_installed: Vec<SkippedPackage>,
    /// Findings suppressed by VEX statements.
    pub suppressed: Vec<Suppressed>,
    /// Things the user should know (no release, not Debian…).
    pub warnings: Vec<String>,
    /// Why no package could be matched at all, if so: the release is
    /// unknown (no os-release, an `ID` other than `debian`, neither
    /// `VERSION_ID` nor `VERSION_CODENAME`) or the database has no entry
    /// for it. Also one of [`Self::warnings`]; not part of the JSON.
    #[serde(skip)]
    pub unmatched: Option<String>,
    /// Whether the database is older than [`crate::STALE_AFTER_DAYS`]
    /// (one of [`Self::warnings`] says so); not part of the JSON.
    #[serde(skip)]
    pub stale: bool,
}

impl Report {
    /// Whether any finding trips `--fail-on threshold` (see [`Severity::trips`]).
    pub fn fails(&self, threshold: Severity) -> bool {
        self.packages
            .iter()
            .flat_map(|p| &p.findings)
            .any(|f| f.severity.trips(threshold))
    }
}

/// The release key to match an image against, from os-release.
fn release_of(os: &OsRelease) -> Option<String> {
    os.version_id
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .or(os.version_codename.as_deref())
        .map(release_key)
}

/// Scans `packages` of an image whose os-release is `os` against `db`.
pub fn scan(
    db: &Database,
    packages: &[InstalledPackage],
    os: Option<&OsRelease>,
    options: &ScanOptions,
) -> Result<Report> {
    let info = db.info();
    let mut warnings = Vec::new();
    let release = match (&options.release, os) {
        (Some(release), _) => Some(release_key(release)),
        (None, Some(os)) if os.id == "debian" => {
            let release = release_of(os);
            if release.is_none() {
                warnings.push(
                    "os-release has neither VERSION_ID nor VERSION_CODENAME: nothing was matched"
                        .to_string(),
                );
            }
            release
        }
        (None, Some(os)) => {
            warnings.push(format!(
                "the operating system is `{}`, not Debian: nothing was matched",
                os.id.escape_debug()
            ));
            None
        }
        (None, None) => {
            warnings.push(
                "no os-release found, so the Debian release is unknown: nothing was matched"
                    .to_string(),
            );
            None
        }
    };
    // So far, a warning can only say why the release is unknown.
    let mut unmatched = warnings.last().cloned().filter(|_| release.is_none());
    let warned = warnings.len();
    if let Some(now) = options.now {
        let update = "update it from a newer feed";
        match info.age_days(now) {
            Some(days) if days > crate::STALE_AFTER_DAYS => warnings.push(format!(
                "the vulnerability database is {days} days old (newest record {}): {update}",
                info.newest_modified.as_deref().unwrap_or("unknown")
            )),
            Some(_) => {}
            // No record says when it changed (the Security Tracker's JSON
            // has no dates): the file's age is what is known.
            None => {
                let written = db
                    .written()
                    .and_then(|w| now.duration_since(w).ok())
                    .map(|age| age.as_secs() / 86_400);
                if let Some(days) = written.filter(|&d| d > crate::STALE_AFTER_DAYS) {
                    warnings.push(format!(
                        "the vulnerability database was written {days} days ago and its records carry no dates: {update}"
                    ));
                }
            }
        }
    }
    let stale = warnings.len() > warned;
    if let Some(release) = &release {
        if !info.releases.contains_key(release) {
            let warning = format!(
                "the database has no entries for Debian release `{}`: nothing matched",
                release.escape_debug()
            );
            unmatched = Some(warning.clone());
            warnings.push(warning);
        }
    }

    let mut report = Report {
        schema: "bulwark-scan-report/v1",
        target: TargetInfo {
            reference: options.target.clone(),
            digest: options.target_digest.clone(),
            config_digest: options.target_config_digest.clone(),
            os: os.map(|os| {
                os.pretty_name.clone().unwrap_or_else(|| {
                    format!("{} {}", os.id, os.version_id.as_deref().unwrap_or(""))
                        .trim()
                        .to_string()
                })
            }),
            codename: release
                .as_deref()
                .and_then(release_codename)
                .map(str::to_string),
            release: release.clone(),
        },
        database: DatabaseSummary {
            format_version: info.format_version,
            newest_modified: info.newest_modified.clone(),
            // Redacted again: a database written by an older bulwark may
            // have recorded a URL with its credentials.
            sources: info
                .sources
                .iter()
                .map(|s| bulwark_http::redact_url(&s.location))
                .collect(),
        },
        summary: Summary::default(),
        packages: Vec::new(),
        not_debian: Vec::new(),
        not_installed: Vec::new(),
        suppressed: Vec::new(),
        warnings,
        unmatched,
        stale,
    };

    let mut sorted: Vec<&InstalledPackage> = packages.iter().collect();
    sorted.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    for pkg in sorted {
        if !pkg.installed {
            report.not_installed.push(SkippedPackage {
                name: pkg.name.clone(),
                version: pkg.version.clone(),
                reason: format!("not installed (status `{}`)", pkg.status),
            });
            continue;
        }
        report.summary.packages_scanned += 1;
        let recorded = options.debian_origin.get(&pkg.name).copied();
        if let (Some(false), Some(maintainer)) = (recorded, debian_maintainer(pkg)) {
            report.warnings.push(format!(
                "the image records that `{}` is not from a Debian repository, but Debian \
                 maintains it (`{}`); it was scanned as Debian's",
                pkg.name.escape_debug(),
                maintainer.escape_debug()
            ));
        }
        if let Origin::ThirdParty(reason) = package_origin(pkg, recorded) {
            report.not_debian.push(SkippedPackage {
                name: pkg.name.clone(),
                version: pkg.version.clone(),
                reason,
            });
            continue;
        }
        let Some(release) = &release else {
            continue;
        };
        let kernel = pkg.source_name == "linux";
        let mut findings = Vec::new();
        for entry in db.entries(release, &pkg.source_name)? {
            let Some(entry) = entry.for_version(&pkg.source_version) else {
                continue;
            };
            if options.ignore_unfixed && entry.fixed_version.is_none() {
                continue;
            }
            let details = db.vulnerability(&entry.vulnerability)?;
            let aliases = details
                .as_ref()
                .map(|d| d.aliases.clone())
                .unwrap_or_default();
            if let Some(statement) = options.vex.iter().find(|st| {
                st.suppresses()
                    && st.names(&entry.vulnerability, &aliases)
                    && covers(st, pkg, options)
            }) {
                report.suppressed.push(Suppressed {
                    package: pkg.name.clone(),
                    version: pkg.version.clone(),
                    id: entry.vulnerability.clone(),
                    status: statement.status.clone(),
                    justification: statement.justification.clone(),
                    impact_statement: statement.impact_statement.clone(),
                });
                continue;
            }
            let cvss_v3_vector = details.as_ref().and_then(|d| d.cvss_v3.clone());
            let cvss_v3_score = cvss_v3_vector.as_deref().and_then(crate::cvss::base_score);
            findings.push(Finding {
                id: entry.vulnerability.clone(),
                aliases,
                severity: Severity::from_debian(entry.urgency.as_deref(), cvss_v3_score),
                urgency: entry.urgency.clone(),
                cvss_v3_vector,
                cvss_v3_score,
                status: entry.status,
                fixed_version: entry.fixed_version.clone(),
                advisories: entry.advisories.clone(),
                nodsa: entry.nodsa.clone(),
                nodsa_reason: entry.nodsa_reason.clone(),
                next_point_update: entry.next_point_update,
                kernel,
                summary: details.and_then(|d| d.summary),
            });
        }
        if findings.is_empty() {
            continue;
        }
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
        let fixed_version = findings
            .iter()
            .filter_map(|f| f.fixed_version.as_deref())
            .max_by(|a, b| compare(a, b))
            .map(str::to_string);
        report.packages.push(PackageFindings {
            name: pkg.name.clone(),
            version: pkg.version.clone(),
            architecture: pkg.architecture.clone(),
            source_name: pkg.source_name.clone(),
            source_version: pkg.source_version.clone(),
            fixed_version,
            kernel,
            findings,
        });
    }

    let summary = &mut report.summary;
    summary.packages_affected = report.packages.len();
    summary.suppressed = report.suppressed.len();
    for f in report.packages.iter().flat_map(|p| &p.findings) {
        summary.findings += 1;
        summary.fixable += usize::from(f.fixed_version.is_some());
        *summary
            .by_severity
            .entry(f.severity.as_str().to_string())
            .or_default() += 1;
    }
    Ok(report)
}

/// Whether a statement's products cover `pkg`: no products covers every
/// package; a `pkg:deb` URL covers the package of that binary or source
/// name (and version, when it has one); another product (an image) covers
/// the target when it names the target or its digest, narrowed by its
/// subcomponents when it has any.
fn covers(statement: &VexStatement, pkg: &InstalledPackage, options: &ScanOptions) -> bool {
    if statement.products.is_empty() {
        return true;
    }
    statement.products.iter().any(|product| {
        if let Some(purl) = deb_purl(&product.id) {
            return purl_matches(&purl, pkg);
        }
        let names_target = product.id == options.target
            || options.target_digest.as_deref().is_some_and(|d| {
                product.id.contains(d) || product.id.contains(&d.replace(':', "%3A"))
            });
        names_target
            && (product.subcomponents.is_empty()
                || product
                    .subcomponents
                    .iter()
                    .filter_map(|s| deb_purl(s))
                    .any(|s| purl_matches(&s, pkg)))
    })
}

/// `id` as a `pkg:deb` package URL, if it is one.
fn deb_purl(id: &str) -> Option<Purl> {
    Purl::parse(id).ok().filter(Purl::is_deb)
}

/// Whether a `pkg:deb` URL names `pkg`: its binary name (and version, when
/// it has one), or with `arch=source` its source name (and version).
fn purl_matches(purl: &Purl, pkg: &InstalledPackage) -> bool {
    let version = purl.deb_version();
    let is = |name: &str, installed: &str| {
        purl.name == name
            && version
                .as_deref()
                .is_none_or(|v| compare(v, installed).is_eq())
    };
    is(&pkg.name, &pkg.version)
        || (purl.arch() == Some("source") && is(&pkg.source_name, &pkg.source_version))
}
