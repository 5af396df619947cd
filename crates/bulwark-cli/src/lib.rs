//! This crate provides the command-line definitions of `bulwark`: the clap
//! structs, their help text and nothing else. The `bulwark` crate runs them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

macro_rules! exit_codes {
    () => {
        "\
Exit codes:
  0  success
  1  findings or policy violations (--fail-on, verify)
  2  usage or input error (bad spec, unknown package, unsatisfiable dependency, I/O)
  3  signature missing (an unsigned repository)
  4  bad signature or wrong key
  5  digest or content mismatch (a download or cache entry whose hash differs)"
    };
}

const EXIT_CODES: &str = exit_codes!();

/// Build minimal, reproducible OCI images from real Debian packages.
///
/// bulwark turns one declarative YAML spec into a distroless-style OCI image:
/// no root, no daemon, no maintainer scripts, the same bytes every time.
#[derive(Debug, Parser)]
#[command(name = "bulwark", version, after_long_help = EXIT_CODES)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Print only errors.
    #[arg(long, short, global = true, help_heading = "Global options")]
    pub quiet: bool,
    /// Print more about what is being done.
    #[arg(long, short, global = true, help_heading = "Global options")]
    pub verbose: bool,
    /// Never draw progress bars (they are drawn only on a terminal anyway).
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_progress: bool,
    /// Output format for results on stdout.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = OutputFormat::Human,
        help_heading = "Global options"
    )]
    pub format: OutputFormat,
    /// Where downloads, indices and layers are cached [env: BULWARK_CACHE_DIR=]
    ///
    /// Default: $XDG_CACHE_HOME/bulwark, else ~/.cache/bulwark. The cache is
    /// content-addressed, verified on every read and safe to share between
    /// concurrent builds.
    #[arg(
        long,
        global = true,
        env = "BULWARK_CACHE_DIR",
        help_heading = "Global options"
    )]
    pub cache_dir: Option<PathBuf>,
}

/// How results are printed on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Readable text.
    Human,
    /// One JSON document, for machines.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an OCI image from a spec.
    ///
    /// Resolves the spec's packages against its signed repositories (or the
    /// lockfile with --locked), downloads the .debs into the shared cache,
    /// unpacks them without running maintainer scripts and writes the image.
    /// Prints the digest the tag points at.
    #[command(after_long_help = concat!("\
Examples:
  bulwark build examples/base.yaml
  bulwark build examples/python.yaml -o oci:./images/python:3.11
  bulwark build examples/static.yaml -o docker-archive:static.tar
  bulwark build --locked examples/base.yaml

", exit_codes!()))]
    Build(BuildArgs),
    /// Resolve a spec and write its lockfile beside it (SPEC.lock).
    ///
    /// The lockfile records every package (name, version, architecture, pool
    /// path, repository as the spec wrote it, SHA-256) and the digests of the
    /// signed InRelease files. It names no host: repositories appear as the
    /// spec wrote them, with ${VAR} unexpanded.
    #[command(after_long_help = concat!("\
Examples:
  bulwark lock examples/python.yaml
  bulwark lock examples/python.yaml --update            # re-resolve everything
  bulwark lock examples/python.yaml --update libssl3    # only libssl3

", exit_codes!()))]
    Lock(LockArgs),
    /// Explain why a package is in the image a spec builds.
    ///
    /// Prints the chain of dependencies from a requested package to PACKAGE,
    /// and every alternative that was chosen on the way, with the reason.
    #[command(after_long_help = concat!("\
Example:
  bulwark explain examples/python.yaml libssl3

", exit_codes!()))]
    Explain(ExplainArgs),
    /// Print a shell completion script.
    #[command(after_long_help = "\
Examples:
  bulwark completions bash > /etc/bash_completion.d/bulwark
  bulwark completions zsh > ~/.zfunc/_bulwark")]
    Completions {
        /// The shell.
        shell: clap_complete_shell::Shell,
    },
}

/// Re-exported so the binary and this crate agree on the shell type.
pub mod clap_complete_shell {
    pub use clap_complete::Shell;
}

/// Arguments of `bulwark build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The spec file (YAML).
    pub spec: PathBuf,
    /// Where to write the image.
    ///
    /// `oci:DIR[:TAG]` (an OCI image layout; other tags in it are kept),
    /// `docker-archive:FILE` (a `docker load`-able tarball), or a bare DIR
    /// (an OCI layout). Default: `oci:./out/NAME`.
    #[arg(long, short)]
    pub output: Option<String>,
    /// The tag to write; overrides the spec's `tag` and a tag in --output.
    #[arg(long)]
    pub tag: Option<String>,
    /// Install exactly what the lockfile says; download no index; fail if
    /// the spec drifted from the lockfile.
    #[arg(long)]
    pub locked: bool,
    /// Parallel downloads.
    #[arg(long, short, default_value_t = 8)]
    pub jobs: usize,
}

/// Arguments of `bulwark lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// The spec file (YAML).
    pub spec: PathBuf,
    /// Re-resolve and print what changed: all packages, or only those named.
    /// Without --update, an existing lockfile that still matches the spec is
    /// kept as it is.
    #[arg(long, num_args = 0.., value_name = "PACKAGE")]
    pub update: Option<Vec<String>>,
}

/// Arguments of `bulwark explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The spec file (YAML).
    pub spec: PathBuf,
    /// The package to explain.
    pub package: String,
    /// The architecture to explain for (default: the spec's first).
    #[arg(long)]
    pub arch: Option<String>,
}
