//! Evaluating a policy against an image's packages, licences, builder,
//! user and known vulnerabilities.

use bulwark_image::Contents;
use bulwark_sbom::PackageRecord;
use bulwark_vuln::Severity;
use serde_json::Value;

use crate::license::{glob_match, license_satisfies};
use crate::report::{FailureKind, VerifyReport};
use crate::Rules;

pub(crate) fn evaluate_policy(
    report: &mut VerifyReport,
    rules: &Rules,
    image: &Contents,
    records: &[PackageRecord],
    builder: Option<&str>,
    label: &str,
) {
    let policy = rules.policy;
    if let (Some(max), Some(db)) = (policy.max_severity, rules.db) {
        evaluate_max_severity(report, db, max, image, label);
    }
    for r in records {
        let p = &r.package;
        if let Some(glob) = policy
            .deny_packages
            .iter()
            .find(|g| glob_match(g, &p.name, false))
        {
            report.violations.push(format!(
                "{label}: package `{}` {} matches deny-packages `{glob}`",
                p.name, p.version
            ));
        }
        let license = r.license.as_str();
        if let Some(allow) = &policy.allow_licenses {
            let allowed = |id: &str| allow.iter().any(|g| glob_match(g, id, true));
            if !license_satisfies(license, &allowed) {
                report.violations.push(format!(
                    "{label}: package `{}` has license `{license}`, not allowed by allow-licenses",
                    p.name
                ));
            }
        }
        if !policy.deny_licenses.is_empty() {
            let clean = |id: &str| !policy.deny_licenses.iter().any(|g| glob_match(g, id, true));
            if !license_satisfies(license, &clean) {
                report.violations.push(format!(
                    "{label}: package `{}` has license `{license}`, denied by deny-licenses",
                    p.name
                ));
            }
        }
    }
    if let Some(required) = &policy.require_builder {
        if builder != Some(required.as_str()) {
            report.violations.push(format!(
                "{label}: builder is {}, require-builder wants `{required}`",
                builder.map_or("not established by signed provenance".to_owned(), |b| {
                    format!("`{b}`")
                })
            ));
        }
    }
    if policy.require_non_root {
        let user = image
            .config
            .as_ref()
            .and_then(|c| c.pointer("/config/User"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = user.split(':').next().unwrap_or("");
        if matches!(name, "" | "0" | "root") {
            report.violations.push(format!(
                "{label}: the image runs as root (config User `{user}`), require-non-root is set"
            ));
        }
    }
}

/// The most findings a `max-severity` violation names.
const WORST_SHOWN: usize = 5;

/// Scans the image's packages and records a violation naming the worst
/// findings whose severity is above `max` (see [`exceeds`]), worst first.
fn evaluate_max_severity(
    report: &mut VerifyReport,
    db: &bulwark_vuln::Database,
    max: Severity,
    image: &Contents,
    label: &str,
) {
    let name = format!("vulnerabilities {label}");
    let options = bulwark_vuln::ScanOptions {
        target: report.target.clone(),
        target_digest: image.manifest_digest.clone(),
        debian_origin: bulwark_vuln::debian_origin(&image.annotations),
        ..bulwark_vuln::ScanOptions::default()
    };
    let scan = match bulwark_vuln::scan(db, &image.packages, image.os.as_ref(), &options) {
        Ok(scan) => scan,
        Err(err) => {
            report.fail(
                name,
                format!("cannot scan the image: {err}"),
                FailureKind::Input,
            );
            return;
        }
    };
    report
        .notes
        .extend(scan.warnings.iter().map(|w| format!("{label}: {w}")));
    // An image whose release cannot be matched was not checked at all: it
    // must not pass a rule about its vulnerabilities.
    if let Some(why) = &scan.unmatched {
        report.fail(
            name,
            format!("nothing could be checked: {why}"),
            FailureKind::Policy,
        );
        return;
    }
    let mut above: Vec<(Severity, &str, &str, &str)> = scan
        .packages
        .iter()
        .flat_map(|p| {
            p.findings
                .iter()
                .filter(|f| exceeds(f.severity, max))
                .map(move |f| {
                    (
                        f.severity,
                        f.id.as_str(),
                        p.name.as_str(),
                        p.version.as_str(),
                    )
                })
        })
        .collect();
    above.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (a.1, a.2).cmp(&(b.1, b.2))));
    if above.is_empty() {
        report.pass(
            name,
            format!(
                "no finding above max-severity `{max}` ({} findings in all)",
                scan.summary.findings
            ),
        );
        return;
    }
    let worst: Vec<String> = above
        .iter()
        .take(WORST_SHOWN)
        .map(|(severity, id, package, version)| {
            format!("{id} ({severity}) in `{package}` {version}")
        })
        .collect();
    let more = match above.len().saturating_sub(WORST_SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    report.violations.push(format!(
        "{label}: {} finding{} above max-severity `{max}`: {}{more}",
        above.len(),
        if above.len() == 1 { "" } else { "s" },
        worst.join(", ")
    ));
}

/// Whether a finding of `severity` is above `max-severity: max`. Severities
/// order unknown < negligible < low < medium < high < critical, so a
/// finding of unknown severity is above no threshold, and `unknown`
/// accepts only findings of unknown severity.
fn exceeds(severity: Severity, max: Severity) -> bool {
    severity > max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_above_the_maximum() {
        assert!(exceeds(Severity::Critical, Severity::High));
        assert!(!exceeds(Severity::High, Severity::High));
        assert!(!exceeds(Severity::Low, Severity::Medium));
        // Unknown is above no known threshold; `unknown` accepts only it.
        assert!(!exceeds(Severity::Unknown, Severity::Negligible));
        assert!(exceeds(Severity::Negligible, Severity::Unknown));
        assert!(!exceeds(Severity::Unknown, Severity::Unknown));
    }
}
