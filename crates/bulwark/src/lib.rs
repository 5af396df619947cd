//! This crate provides the `bulwark` commands. It wires the pipeline stages
//! (spec → repo → resolve → fetch → assemble → emit → attest) together
//! behind the command line defined in `bulwark-cli`, runs the readers
//! (`sbom`, `scan`, `db`, `verify`) over the library crates, and owns what
//! spans them: the lockfile, the layer caches, output and progress, the
//! `BULWARK_*` environment, the hints that name commands, and exit codes.
//!
//! # Brief overview
//!
//! [`run`] parses the command line, runs one command and maps its error to
//! a documented exit code (see [`exit`]).

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{CommandFactory, Parser};

use bulwark_cache::Cache;
use bulwark_cli::{Cli, Command, KeyAlgorithm, KeyCommand, OutputFormat};

pub mod attest;
mod build;
pub mod exit;
mod inspect;
mod layer_cache;
mod lock;
pub mod lockfile;
mod plan;
mod platform;
mod printer;
mod progress;
mod registry;
mod scan;
mod verify;

use printer::Printer;

/// Runs the command line and returns the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let printer = Printer::new(&cli.global);
    match dispatch(cli, &printer) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(exit::FINDINGS),
        Err(err) => {
            printer.error(&err);
            ExitCode::from(exit::code_for(&err))
        }
    }
}

fn open_cache(cli: &Cli) -> Result<Cache> {
    let root = cli
        .global
        .cache_dir
        .clone()
        .unwrap_or_else(Cache::default_root);
    Ok(Cache::open(&root)?)
}

/// `bulwark build`; an output `docker://…` is built into a scratch layout
/// and pushed from there.
fn build_command(
    args: &bulwark_cli::BuildArgs,
    cache: &Cache,
    printer: &Printer,
) -> Result<build::BuildReport> {
    let parsed = args
        .output
        .as_deref()
        .map(bulwark_oci::ImageRef::parse_output)
        .transpose()
        .context("invalid --output")?;
    let mut opts = build::BuildOptions {
        spec_path: &args.spec,
        output: args.output.as_deref(),
        tag: args.tag.as_deref(),
        locked: args.locked,
        jobs: args.jobs,
        sign: args.sign.as_deref(),
    };
    let Some(bulwark_oci::ImageRef::Registry(dest)) = parsed else {
        return build::build(&opts, cache, printer);
    };
    if dest.digest.is_some() {
        anyhow::bail!("invalid --output `{dest}`: a build is pushed to a tag, not a digest");
    }
    // Bad registry options fail before the build; the password is read once.
    let options = registry::options(&args.registry, &[&dest])?;
    let scratch = tempfile::Builder::new()
        .prefix(".bulwark.push-")
        .tempdir()
        .context("cannot create a scratch directory for the image to push")?;
    let layout = scratch.path().join("layout");
    let output = format!("oci:{}", layout.display());
    opts.output = Some(&output);
    opts.tag = args.tag.as_deref().or(dest.tag.as_deref());
    let mut report = build::build(&opts, cache, printer)?;
    let tag = bulwark_oci::Layout::open(&layout)?
        .read_index()?
        .manifests
        .iter()
        .find_map(|d| {
            d.ref_name()
                .filter(|t| !bulwark_oci::is_referrers_tag(t))
                .map(str::to_owned)
        });
    // The tag built (--tag, else the output's, else the spec's) is pushed.
    let dest = bulwark_oci::RegistryRef {
        tag: tag.clone(),
        ..dest
    };
    let pushed = registry::push_layout(
        &layout,
        tag.as_deref(),
        &dest,
        &options,
        Some(cache),
        printer,
    )?;
    printer.status("Pushed", format!("{dest}@{}", pushed.digest));
    report.image = dest.to_string();
    report.pushed = Some(pushed);
    Ok(report)
}

/// How a command that did not fail ended.
enum Outcome {
    /// Nothing to report.
    Ok,
    /// Findings or policy violations.
    Findings,
}

fn dispatch(cli: Cli, printer: &Printer) -> Result<Outcome> {
    match &cli.command {
        Command::Build(args) => {
            let cache = open_cache(&cli)?;
            let report = build_command(args, &cache, printer)?;
            match args.format {
                OutputFormat::Json => printer.data(&serde_json::to_string_pretty(&report)?),
                OutputFormat::Human => printer.data(&report.digest),
            }
        }
        Command::Lock(args) => {
            let cache = open_cache(&cli)?;
            let (path, changes) = lock::lock(&args.spec, args.update.as_deref(), &cache, printer)?;
            match args.format {
                OutputFormat::Json => printer.data(&serde_json::to_string_pretty(
                    &serde_json::json!({"lockfile": path, "changes": changes}),
                )?),
                OutputFormat::Human => {
                    for c in &changes {
                        printer.text(c);
                    }
                    printer.status("Locked", path.display());
                }
            }
        }
        Command::Explain(args) => {
            let cache = open_cache(&cli)?;
            let text = lock::explain(
                &args.spec,
                &args.package,
                args.arch.as_deref(),
                &cache,
                printer,
            )?;
            match args.format {
                OutputFormat::Json => printer.data(&serde_json::to_string_pretty(
                    &serde_json::json!({"package": args.package, "explanation": text}),
                )?),
                OutputFormat::Human => printer.text(&text),
            }
        }
        // A cache that cannot be opened only makes reading slower.
        Command::Sbom(args) => inspect::sbom(args, open_cache(&cli).ok().as_ref(), printer)?,
        Command::Verify(args) => verify::verify(args, printer)?,
        Command::Scan(args) => {
            if scan::scan(args, open_cache(&cli).ok().as_ref(), printer)? {
                return Ok(Outcome::Findings);
            }
        }
        Command::Db(command) => scan::db(command, printer)?,
        Command::Push(args) => registry::push(args, open_cache(&cli).ok().as_ref(), printer)?,
        Command::Pull(args) => registry::pull(args, printer)?,
        Command::Key(KeyCommand::Generate { algorithm, out }) => {
            let algorithm = match algorithm {
                KeyAlgorithm::Ed25519 => bulwark_attest::Algorithm::Ed25519,
                KeyAlgorithm::P256 => bulwark_attest::Algorithm::P256,
            };
            inspect::key_generate(algorithm, out, printer)?;
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "bulwark", &mut out);
            printer.data(&String::from_utf8_lossy(&out));
        }
    }
    Ok(Outcome::Ok)
}

/// `SOURCE_DATE_EPOCH`, if set: the time of everything a build writes, and
/// of documents about an image.
pub(crate) fn source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds")),
        _ => Ok(None),
    }
}

/// The hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}
