//! Rendering a [`Report`]: plain-text table, JSON, SARIF 2.1.0 and OpenVEX.

use std::collections::BTreeMap;
use std::fmt::Write;

use bulwark_sbom::Purl;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::model::Severity;
use crate::scan::{Finding, PackageFindings, Report};

/// The report as pretty-printed JSON (schema in `docs/scan-report.md`).
pub fn to_json(report: &Report) -> String {
    // Serializing plain structs and maps cannot fail.
    serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
}

/// The report as a plain-text table, one row per (package, finding),
/// followed by a summary and the unmatched packages. No colours: callers add
/// them on a terminal.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    let t = &report.target;
    let _ = write!(out, "Target: {}", t.reference);
    if let Some(digest) = &t.digest {
        let _ = write!(out, " ({digest})");
    }
    out.push('\n');
    if let Some(release) = &t.release {
        let _ = writeln!(
            out,
            "Debian release: {release}{}",
            t.codename
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "Database: {} (newest record {})",
        report.database.sources.join(", "),
        report
            .database
            .newest_modified
            .as_deref()
            .unwrap_or("unknown")
    );
    for warning in &report.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    out.push('\n');
    let header = [
        "PACKAGE",
        "INSTALLED",
        "VULNERABILITY",
        "SEVERITY",
        "STATUS",
        "FIXED IN (SOURCE)",
    ];
    let mut rows: Vec<[String; 6]> = Vec::new();
    for p in &report.packages {
        for f in &p.findings {
            let mut id = f.id.clone();
            if f.kernel {
                id.push_str(" [kernel]");
            }
            rows.push([
                p.name.clone(),
                p.version.clone(),
                id,
                f.severity.to_string(),
                status_text(f),
                f.fixed_version.clone().unwrap_or_default(),
            ]);
        }
    }
    if rows.is_empty() {
        out.push_str("No vulnerabilities found.\n");
    } else {
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[&str]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(cell);
                } else {
                    let _ = write!(s, "{cell:<w$}  ");
                }
            }
            s.trim_end().to_string() + "\n"
        };
        out.push_str(&line(&header));
        for row in &rows {
            out.push_str(&line(&row.each_ref().map(String::as_str)));
        }
    }
    let s = &report.summary;
    out.push('\n');
    let by: Vec<String> = Severity::ALL
        .iter()
        .rev()
        .filter_map(|sev| {
            s.by_severity
                .get(sev.as_str())
                .map(|n| format!("{n} {sev}"))
        })
        .collect();
    let _ = writeln!(
        out,
        "{} findings in {} of {} packages{}; {} fixable.",
        s.findings,
        s.packages_affected,
        s.packages_scanned,
        if by.is_empty() {
            String::new()
        } else {
            format!(" ({})", by.join(", "))
        },
        s.fixable
    );
    for p in report.packages.iter().filter(|p| p.fixed_version.is_some()) {
        let _ = writeln!(
            out,
            "  upgrade {} ({} {}) to the build of source version {} or later",
            p.name,
            p.source_name,
            p.source_version,
            p.fixed_version.as_deref().unwrap_or_default()
        );
    }
    if !report.suppressed.is_empty() {
        let _ = writeln!(out, "Suppressed by VEX: {}", report.suppressed.len());
        for sup in &report.suppressed {
            let _ = writeln!(
                out,
                "  {} in {}: {}{}",
                sup.id,
                sup.package,
                sup.status,
                sup.justification
                    .as_deref()
                    .map(|j| format!(" ({j})"))
                    .unwrap_or_default()
            );
        }
    }
    if !report.not_debian.is_empty() {
        let _ = writeln!(
            out,
            "Not matched, not built by Debian: {}",
            report.not_debian.len()
        );
        for p in &report.not_debian {
            let _ = writeln!(out, "  {} {}: {}", p.name, p.version, p.reason);
        }
    }
    if !report.not_installed.is_empty() {
        let _ = writeln!(
            out,
            "Not matched, not installed: {}",
            report.not_installed.len()
        );
        for p in &report.not_installed {
            let _ = writeln!(out, "  {} {}: {}", p.name, p.version, p.reason);
        }
    }
    out
}

fn status_text(f: &Finding) -> String {
    let mut s = match f.fixed_version {
        Some(_) => "fixed".to_string(),
        None => f.status.to_string(),
    };
    if f.next_point_update {
        s.push_str(" (next point release)");
    } else if let Some(reason) = f.nodsa_reason.as_deref().filter(|r| !r.is_empty()) {
        let _ = write!(s, " (no-dsa: {reason})");
    } else if f.nodsa.is_some() {
        s.push_str(" (no-dsa)");
    }
    s
}

/// The package URL of a finding's package.
fn package_purl(report: &Report, p: &PackageFindings) -> String {
    let mut qualifiers = BTreeMap::from([("arch".to_owned(), p.architecture.clone())]);
    if let Some(release) = &report.target.release {
        qualifiers.insert("distro".to_owned(), format!("debian-{release}"));
    }
    if p.source_name != p.name || p.source_version != p.version {
        qualifiers.insert(
            "upstream".to_owned(),
            format!("{}@{}", p.source_name, p.source_version),
        );
    }
    debian_purl(&p.name, &p.version, qualifiers)
}

/// `pkg:deb/debian/NAME@VERSION` with `qualifiers`.
fn debian_purl(name: &str, version: &str, qualifiers: BTreeMap<String, String>) -> String {
    Purl {
        kind: "deb".to_owned(),
        namespace: Some("debian".to_owned()),
        name: name.to_owned(),
        version: Some(version.to_owned()),
        qualifiers,
        subpath: None,
    }
    .to_string()
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Negligible | Severity::Unknown => "note",
    }
}

/// The report as a SARIF 2.1.0 log: one rule per vulnerability, one result
/// per (package, vulnerability), located at the dpkg database.
pub fn to_sarif(report: &Report) -> Value {
    let mut rules: BTreeMap<&str, (&Finding, Severity)> = BTreeMap::new();
    for f in report.packages.iter().flat_map(|p| &p.findings) {
        let slot = rules.entry(&f.id).or_insert((f, f.severity));
        slot.1 = slot.1.max(f.severity);
    }
    let rule_index: BTreeMap<&str, usize> =
        rules.keys().enumerate().map(|(i, id)| (*id, i)).collect();
    let rules_json: Vec<Value> = rules
        .values()
        .map(|(f, severity)| {
            let mut props = json!({
                "tags": ["security", "vulnerability"],
                "severity": severity.as_str(),
            });
            if let Some(score) = f.cvss_v3_score {
                props["security-severity"] = json!(format!("{score:.1}"));
            }
            json!({
                "id": f.id,
                "name": f.id.replace('-', ""),
                "shortDescription": {"text": f.summary.clone().unwrap_or_else(|| f.id.clone())},
                "defaultConfiguration": {"level": sarif_level(*severity)},
                "properties": props,
            })
        })
        .collect();
    let mut results = Vec::new();
    for p in &report.packages {
        for f in &p.findings {
            let fix = match &f.fixed_version {
                Some(v) => format!("fixed in source version {v}"),
                None => format!("no fix ({})", f.status),
            };
            results.push(json!({
                "ruleId": f.id,
                "ruleIndex": rule_index.get(f.id.as_str()).copied().unwrap_or(0),
                "level": sarif_level(f.severity),
                "message": {"text": format!(
                    "{} {} (source {} {}) is affected by {} ({}): {}",
                    p.name, p.version, p.source_name, p.source_version, f.id, f.severity, fix
                )},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": "var/lib/dpkg/status"}},
                    "logicalLocations": [{"name": p.name, "fullyQualifiedName": package_purl(report, p), "kind": "package"}],
                }],
                "partialFingerprints": {"package/vulnerability": format!("{}/{}/{}", p.name, p.architecture, f.id)},
                "properties": {
                    "severity": f.severity.as_str(),
                    "status": f.status.as_str(),
                    "fixedVersion": f.fixed_version,
                    "sourcePackage": p.source_name,
                    "sourceVersion": p.source_version,
                    "kernel": f.kernel,
                },
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "bulwark",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/bulwark-build/bulwark",
                "rules": rules_json,
            }},
            "results": results,
            // The report's warnings (a stale database, no release…).
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": report.warnings.iter().map(|w| json!({
                    "level": "warning",
                    "message": {"text": w},
                })).collect::<Vec<_>>(),
            }],
            "properties": {
                "target": report.target.reference,
                "digest": report.target.digest,
                "release": report.target.release,
                "databaseNewestModified": report.database.newest_modified,
            },
        }],
    })
}

/// The report as an OpenVEX v0.2.0 document: `affected` for each finding
/// (with the fix to install as the action), and the input statement's
/// status for each suppressed finding. The timestamp is the database's
/// newest `modified` date, and the `@id` a hash of the statements, so the
/// document is a pure function of the report.
pub fn to_openvex(report: &Report) -> Value {
    let timestamp = report
        .database
        .newest_modified
        .clone()
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string());
    let mut statements = Vec::new();
    for p in &report.packages {
        let purl = package_purl(report, p);
        for f in &p.findings {
            let action = match &f.fixed_version {
                Some(v) => format!(
                    "Upgrade {} to the build of source {} {v} or later",
                    p.name, p.source_name
                ),
                None => "No fix is available yet".to_string(),
            };
            statements.push(json!({
                "vulnerability": {"name": f.id, "aliases": f.aliases},
                "products": [{"@id": purl}],
                "status": "affected",
                "action_statement": action,
            }));
        }
    }
    for s in &report.suppressed {
        let mut st = json!({
            "vulnerability": {"name": s.id},
            "products": [{"@id": debian_purl(&s.package, &s.version, BTreeMap::new())}],
            "status": s.status,
        });
        if let Some(j) = &s.justification {
            st["justification"] = json!(j);
        }
        if let Some(i) = &s.impact_statement {
            st["impact_statement"] = json!(i);
        }
        statements.push(st);
    }
    let digest = hex::encode(Sha256::digest(
        serde_json::to_vec(&statements).unwrap_or_default(),
    ));
    json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": format!("urn:bulwark:vex:sha256:{digest}"),
        "author": "bulwark",
        "timestamp": timestamp,
        "version": 1,
        "statements": statements,
    })
}
