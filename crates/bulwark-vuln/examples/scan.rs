//! Scans a dpkg status file against a database, for benchmarking before the
//! CLI exists: `scan DB [STATUS [OS_RELEASE]] [--format table|json|sarif|openvex]`
//! (defaults: `/var/lib/dpkg/status`, `/etc/os-release`). Prints the report
//! and, on stderr, the time to load the database and scan.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bulwark_image::{InstalledPackage, OsRelease};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut format = "table".to_string();
    if let Some(i) = args.iter().position(|a| a == "--format") {
        if i + 1 < args.len() {
            format = args.remove(i + 1);
        }
        args.remove(i);
    }
    let Some(db_path) = args.first().map(PathBuf::from) else {
        eprintln!("usage: scan DB [STATUS [OS_RELEASE]] [--format table|json|sarif|openvex]");
        return ExitCode::from(2);
    };
    let status = args.get(1).map_or("/var/lib/dpkg/status", String::as_str);
    let os_release = args.get(2).map_or("/etc/os-release", String::as_str);
    let start = Instant::now();
    let db = match bulwark_vuln::Database::open(&db_path) {
        Ok(db) => db,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let opened = start.elapsed();
    let text = std::fs::read_to_string(status).unwrap_or_default();
    let packages = read_status(&text);
    let os = std::fs::read_to_string(os_release)
        .ok()
        .map(|t| parse_os_release(&t));
    let options = bulwark_vuln::ScanOptions {
        target: format!("rootfs:{status}"),
        ..Default::default()
    };
    let report = match bulwark_vuln::scan(&db, &packages, os.as_ref(), &options) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let scanned = start.elapsed();
    let out = match format.as_str() {
        "json" => bulwark_vuln::to_json(&report),
        "sarif" => bulwark_vuln::to_sarif(&report).to_string(),
        "openvex" => bulwark_vuln::to_openvex(&report).to_string(),
        _ => bulwark_vuln::render_table(&report),
    };
    println!("{out}");
    eprintln!(
        "{} packages; open {:.1} ms; open+read+scan {:.1} ms",
        packages.len(),
        opened.as_secs_f64() * 1e3,
        scanned.as_secs_f64() * 1e3
    );
    ExitCode::SUCCESS
}

fn read_status(text: &str) -> Vec<InstalledPackage> {
    let mut out = Vec::new();
    for (_, p) in bulwark_deb::control::paragraphs(text).flatten() {
        let (Some(name), Some(version)) = (p.get("Package"), p.get("Version")) else {
            continue;
        };
        let status = p
            .get("Status")
            .unwrap_or("install ok installed")
            .to_string();
        let (source_name, source_version) = match p.get("Source") {
            Some(src) => match src.split_once(" (") {
                Some((n, v)) => (n.trim().to_string(), v.trim_end_matches(')').to_string()),
                None => (src.trim().to_string(), version.to_string()),
            },
            None => (name.to_string(), version.to_string()),
        };
        out.push(InstalledPackage {
            name: name.to_string(),
            version: version.to_string(),
            architecture: p.get("Architecture").unwrap_or("").to_string(),
            source_name,
            source_version,
            maintainer: p.get("Maintainer").map(str::to_string),
            installed: status.ends_with(" installed"),
            status,
            files: Vec::new(),
            md5sums: BTreeMap::new(),
            stanza: p.as_str().to_string(),
        });
    }
    out
}

fn parse_os_release(text: &str) -> OsRelease {
    let mut os = OsRelease::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_string();
        match k.trim() {
            "ID" => os.id = v,
            "VERSION_ID" => os.version_id = Some(v),
            "VERSION_CODENAME" => os.version_codename = Some(v),
            "PRETTY_NAME" => os.pretty_name = Some(v),
            "ID_LIKE" => os.id_like = v.split_whitespace().map(str::to_string).collect(),
            _ => {}
        }
    }
    os
}
