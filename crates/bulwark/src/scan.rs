//! `bulwark scan` and `bulwark db`: known vulnerabilities, matched with
//! Debian's semantics by `bulwark-vuln`.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use bulwark_cli::{DbCommand, OutputFormat, ScanArgs, ScanFormat, SeverityArg};
use bulwark_vuln::{Database, Severity};

use crate::printer::Printer;

fn db_path(db: Option<&Path>) -> Result<PathBuf> {
    match db {
        Some(p) => Ok(p.to_path_buf()),
        None => Ok(bulwark_vuln::default_path()
            .map_err(|e| Hinted(e, "pass --db FILE or set BULWARK_DB"))?),
    }
}

/// A library error with the command line's hint of what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{0} ({1})")]
struct Hinted(#[source] bulwark_vuln::Error, &'static str);

/// Adds the command line's hint of what to do to a database error: the
/// flag that overrides a refusal, or the command that makes a database.
pub(crate) fn hint(err: bulwark_vuln::Error) -> anyhow::Error {
    match err {
        e @ bulwark_vuln::Error::NoDatabase { .. } => Hinted(
            e,
            "make one with `bulwark db import PATH` (OSV JSON, a zip such as OSV's Debian \
             all.zip, or Debian Security Tracker JSON) or `bulwark db update --url URL`",
        )
        .into(),
        e @ bulwark_vuln::Error::Version { .. } => Hinted(
            e,
            "make it again with `bulwark db import` or `bulwark db update`",
        )
        .into(),
        e @ bulwark_vuln::Error::Shrink { .. } => {
            Hinted(e, "pass --allow-shrink to accept a smaller feed").into()
        }
        e @ bulwark_vuln::Error::Insecure { .. } => {
            Hinted(e, "use https, or pass --allow-http").into()
        }
        e @ bulwark_vuln::Error::Feed { .. } if e.to_string().contains("only http://") => {
            Hinted(e, "import a local file with `bulwark db import PATH`").into()
        }
        e => e.into(),
    }
}

fn severity(arg: SeverityArg) -> Severity {
    match arg {
        SeverityArg::Unknown => Severity::Unknown,
        SeverityArg::Negligible => Severity::Negligible,
        SeverityArg::Low => Severity::Low,
        SeverityArg::Medium => Severity::Medium,
        SeverityArg::High => Severity::High,
        SeverityArg::Critical => Severity::Critical,
    }
}

/// `bulwark scan`; returns whether `--fail-on` tripped. With `--fail-on`,
/// a scan that could match nothing (the release is unknown, or the
/// database lacks it) is an input error after the report is written:
/// nothing was checked, so it must not pass.
pub fn scan(
    args: &ScanArgs,
    cache: Option<&bulwark_cache::Cache>,
    printer: &Printer,
) -> Result<bool> {
    if looks_like_json(Path::new(&args.target)) {
        bail!(
            "`{0}` is a JSON file, not an image or a root filesystem: to scan an SBOM, write `sbom:{0}`",
            args.target
        );
    }
    let path = db_path(args.db.as_deref())?;
    let db = Database::open(&path).map_err(hint)?;
    let mut vex = Vec::new();
    for file in &args.vex {
        vex.extend(bulwark_vuln::read_openvex(file)?);
    }
    let (packages, os, (digest, config_digest), debian_origin) =
        match args.target.strip_prefix("sbom:") {
            Some(file) => {
                let (packages, os) = bulwark_vuln::packages_from_sbom(Path::new(file))?;
                (packages, os, (None, None), BTreeMap::new())
            }
            None => {
                let contents = crate::inspect::open_one(
                    &args.target,
                    args.platform.as_deref(),
                    cache,
                    &args.registry,
                    printer,
                )?;
                let origin = debian_origin(&contents);
                (
                    contents.packages,
                    contents.os,
                    (contents.manifest_digest, contents.config_digest),
                    origin,
                )
            }
        };
    let options = bulwark_vuln::ScanOptions {
        target: args.target.clone(),
        target_digest: digest,
        target_config_digest: config_digest,
        ignore_unfixed: args.ignore_unfixed,
        vex,
        debian_origin,
        release: None,
        // Makes the report warn (in `warnings`) when the database is stale.
        now: Some(std::time::SystemTime::now()),
    };
    let report = bulwark_vuln::scan(&db, &packages, os.as_ref(), &options)?;
    for w in &report.warnings {
        printer.warn(w);
    }
    if report.stale {
        printer.warn(
            "update the database with `bulwark db update --url URL` or `bulwark db import PATH`",
        );
    }
    let text = match args.format {
        ScanFormat::Table => {
            // Before colours are added: strings from the image and the
            // feed must not carry terminal controls of their own.
            let table = crate::printer::escape_controls(&bulwark_vuln::render_table(&report), "\n")
                .into_owned();
            if args.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none()
            {
                colourize(&table)
            } else {
                table
            }
        }
        ScanFormat::Json => bulwark_vuln::to_json(&report),
        ScanFormat::Sarif => serde_json::to_string_pretty(&bulwark_vuln::to_sarif(&report))? + "\n",
        ScanFormat::Openvex => {
            serde_json::to_string_pretty(&bulwark_vuln::to_openvex(&report))? + "\n"
        }
    };
    match &args.output {
        Some(file) => {
            bulwark_oci::write_atomic(file, text.as_bytes())?;
            printer.status("Wrote", format!("`{}`", file.display()));
        }
        None => printer.data(&text),
    }
    if let (Some(_), Some(why)) = (args.fail_on, &report.unmatched) {
        bail!("`--fail-on` cannot pass a scan that checked nothing: {why}");
    }
    Ok(args.fail_on.is_some_and(|s| report.fails(severity(s))))
}

/// Whether `path` is a regular file that starts like a JSON document (an
/// SBOM given without its `sbom:` prefix).
fn looks_like_json(path: &Path) -> bool {
    use std::io::Read;
    if !path.is_file() {
        return false;
    }
    let mut head = [0u8; 64];
    let Ok(n) = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)) else {
        return false;
    };
    head[..n]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// Which packages came from a repository whose Release says `Origin: Debian`,
/// as recorded by bulwark in the image (`dev.bulwark.origins`); empty for
/// other images, where bulwark-vuln's Maintainer rule decides.
fn debian_origin(contents: &bulwark_image::Contents) -> BTreeMap<String, bool> {
    contents
        .annotations
        .get("dev.bulwark.origins")
        .and_then(|v| serde_json::from_str::<BTreeMap<String, String>>(v).ok())
        .map(|m| m.into_iter().map(|(k, v)| (k, v == "Debian")).collect())
        .unwrap_or_default()
}

/// Colours severity words in a table for a terminal.
fn colourize(table: &str) -> String {
    let mut out = table.to_string();
    for (word, code) in [
        ("critical", "1;31"),
        ("high", "31"),
        ("medium", "33"),
        ("low", "36"),
        ("negligible", "2"),
    ] {
        out = out.replace(
            &format!(" {word} "),
            &format!(" \x1b[{code}m{word}\x1b[0m "),
        );
    }
    out
}

/// `bulwark db …`.
pub fn db(command: &DbCommand, printer: &Printer) -> Result<()> {
    match command {
        DbCommand::Import {
            paths,
            db,
            allow_shrink,
        } => {
            let path = db_path(db.as_deref())?;
            let inputs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
            let (database, stats) = Database::import(&inputs).map_err(hint)?;
            database.replace(&path, *allow_shrink).map_err(hint)?;
            report_import(&path, &stats, printer);
        }
        DbCommand::Update {
            url,
            db,
            allow_http,
            allow_shrink,
            sha256,
            max_size,
            timeout,
        } => {
            let path = db_path(db.as_deref())?;
            let timeout = std::time::Duration::from_secs(*timeout);
            let client = bulwark_http::Client::with_options(&bulwark_http::Options {
                connect_timeout: timeout.min(std::time::Duration::from_secs(20)),
                read_timeout: timeout,
                ..bulwark_http::Options::default()
            })?;
            let options = bulwark_vuln::UpdateOptions {
                allow_http: *allow_http,
                sha256: sha256.clone(),
                max_size: *max_size,
                ..bulwark_vuln::UpdateOptions::default()
            };
            let (database, stats) = Database::update(url, &client, &options).map_err(hint)?;
            database.replace(&path, *allow_shrink).map_err(hint)?;
            report_import(&path, &stats, printer);
        }
        DbCommand::Info { db, format } => {
            let path = db_path(db.as_deref())?;
            let database = Database::open(&path).map_err(hint)?;
            let mut info = database.info().clone();
            // A database written by an older bulwark may hold a URL with
            // its credentials.
            for source in &mut info.sources {
                source.location = bulwark_http::redact_url(&source.location);
            }
            let info = &info;
            match format {
                OutputFormat::Json => {
                    printer.data(&serde_json::to_string_pretty(&serde_json::json!({
                        "path": path,
                        "info": info,
                    }))?)
                }
                OutputFormat::Human => {
                    let mut text = format!(
                        "database:        {}\nformat version:  {}\nnewest modified: {}\nvulnerabilities: {}\n",
                        path.display(),
                        info.format_version,
                        info.newest_modified.as_deref().unwrap_or("unknown"),
                        info.vulnerabilities,
                    );
                    for source in &info.sources {
                        text.push_str(&format!(
                            "source:          {}\n",
                            serde_json::to_string(source)?
                        ));
                    }
                    for (release, counts) in &info.releases {
                        text.push_str(&format!(
                            "release {release}: {} entries ({} fixed, {} open, {} undetermined, {} not affected)\n",
                            counts.entries, counts.resolved, counts.open, counts.undetermined, counts.not_affected
                        ));
                    }
                    printer.text(&text);
                }
            }
        }
    }
    Ok(())
}

fn report_import(path: &Path, stats: &bulwark_vuln::ImportStats, printer: &Printer) {
    let used: usize = stats.by_kind.values().sum();
    let skipped: usize = stats.skipped.values().sum();
    printer.status(
        "Imported",
        format!(
            "{used} of {} records into `{}`",
            stats.records,
            path.display()
        ),
    );
    if skipped > 0 {
        let reasons: Vec<String> = stats
            .skipped
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        printer.status("Skipped", reasons.join(", "));
    }
    for example in &stats.examples {
        printer.warn(format!("skipped {example}"));
    }
}
