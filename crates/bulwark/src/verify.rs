//! `bulwark verify`: the command's inputs and output around
//! `bulwark-verify`.

use std::path::Path;

use anyhow::{Context, Result};
use bulwark_cli::{OutputFormat, VerifyArgs};
use bulwark_verify::{FailureKind, Policy};
use bulwark_vuln::Severity;

use crate::printer::Printer;

/// The error `bulwark verify` returns when the image did not verify; the
/// exit code comes from its kind (see [`crate::exit`]).
#[derive(Debug)]
pub struct VerifyFailed(pub FailureKind);

impl std::fmt::Display for VerifyFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.0 {
            FailureKind::Policy => "the image violates the policy",
            FailureKind::SignatureMissing => "a signature is missing",
            FailureKind::BadSignature => "a signature does not verify with the given key",
            FailureKind::Mismatch => "a digest or the content does not match",
            FailureKind::Input => "the image could not be verified",
        };
        write!(f, "verification failed: {what} (see the report above)")
    }
}

impl std::error::Error for VerifyFailed {}

/// `bulwark verify`.
pub fn verify(args: &VerifyArgs, printer: &Printer) -> Result<()> {
    let key = bulwark_attest::VerifyingKey::load(&args.key)?;
    let policy = match &args.policy {
        Some(path) => Policy::load(path)?,
        None => Policy::default(),
    };
    let db = match policy.max_severity {
        Some(max) => Some(open_database(args.db.as_deref(), max)?),
        None => None,
    };
    let (target, _) = bulwark_image::parse_target(&args.target)?;
    let report = match &target {
        bulwark_oci::ImageRef::Registry(reference) => bulwark_verify::verify_store(
            crate::registry::open(reference, &args.registry)?,
            &target.to_string(),
            None,
            &key,
            &policy,
            args.platform.as_deref(),
            db.as_ref(),
        )?,
        _ => bulwark_verify::verify(
            &target,
            &key,
            &policy,
            args.platform.as_deref(),
            db.as_ref(),
        )?,
    };
    let failure = report.failure();
    let code = failure.map_or(0, crate::exit::verify_code);
    match args.format {
        OutputFormat::Json => {
            #[derive(serde::Serialize)]
            struct Output<'a> {
                #[serde(flatten)]
                report: &'a bulwark_verify::VerifyReport,
                exit_code: u8,
            }
            let output = Output {
                report: &report,
                exit_code: code,
            };
            printer.data(&serde_json::to_string_pretty(&output)?);
        }
        OutputFormat::Human => printer.text(&format!("{report} (exit {code})")),
    }
    match failure {
        Some(kind) => Err(VerifyFailed(kind).into()),
        None => Ok(()),
    }
}

/// The vulnerability database that `max-severity` is evaluated with: `db`
/// (`--db`, `BULWARK_DB`) or `bulwark scan`'s default.
fn open_database(db: Option<&Path>, max: Severity) -> Result<bulwark_vuln::Database> {
    let needs = || {
        format!("policy rule `max-severity: {max}` needs a vulnerability database (--db FILE or BULWARK_DB)")
    };
    let path = match db {
        Some(path) => path.to_path_buf(),
        None => bulwark_vuln::default_path().with_context(needs)?,
    };
    bulwark_vuln::Database::open(&path)
        .map_err(crate::scan::hint)
        .with_context(needs)
}
