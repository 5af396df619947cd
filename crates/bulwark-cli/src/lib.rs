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
  2  usage or input error (bad spec, unknown package, unsatisfiable dependency, I/O,
     a registry that cannot be reached or refuses the credentials)
  3  signature missing (an unsigned repository)
  4  bad signature or wrong key
  5  digest or content mismatch (a download or cache entry whose hash differs)"
    };
}

const EXIT_CODES: &str = exit_codes!();

/// `name` for an argument's `env`, unless the variable is set but empty:
/// then none, so that `BULWARK_DB=` behaves as if it were unset (as a shell
/// user expects) instead of being an empty value.
fn env_if_set(name: &'static str) -> Option<&'static str> {
    match std::env::var_os(name) {
        Some(value) if value.is_empty() => None,
        _ => Some(name),
    }
}

/// A size in bytes: a number, optionally with `K`, `M` or `G` (powers of
/// 1024, also written `KiB`, `MiB`, `GiB`).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        other => return Err(format!("unknown unit `{other}` (use K, M or G)")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{text}` is not a size in bytes (such as 512M or 1G)"))
}

/// A SHA-256: 64 hexadecimal digits, returned in lower case.
fn parse_sha256(text: &str) -> Result<String, String> {
    let hex = text.trim().to_ascii_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err("a SHA-256 is 64 hexadecimal digits".into())
    }
}

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
    /// Where downloads, indices and layers are cached [env: BULWARK_CACHE_DIR=]
    ///
    /// Default: $XDG_CACHE_HOME/bulwark, else ~/.cache/bulwark. The cache is
    /// content-addressed, verified on every read and safe to share between
    /// concurrent builds.
    #[arg(
        long,
        global = true,
        env = env_if_set("BULWARK_CACHE_DIR"),
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
    /// Write an SBOM (SPDX 2.3 or CycloneDX 1.6) of an image or root filesystem.
    ///
    /// Works on any Debian- or Ubuntu-based image, not only bulwark's: it
    /// reads the dpkg database (`status` or the distroless `status.d`),
    /// `os-release` and the packages' machine-readable copyright files.
    /// Layer and manifest digests are checked while reading.
    #[command(after_long_help = concat!("\
Targets:
  oci:DIR[:TAG]          an OCI image layout (the last `:` splits off the tag)
  docker://HOST/REPO[:TAG|@DIGEST]
                         an image in a registry (only what is needed is fetched)
  docker-archive:FILE    a `docker save` tarball
  rootfs:DIR             an unpacked root filesystem
  PATH                   detected: a layout, an archive or a root filesystem

Examples:
  bulwark sbom oci:out/python:latest > python.spdx.json
  bulwark sbom rootfs:/srv/chroot --format cyclonedx-json -o bom.json
  bulwark sbom image.tar --platform linux/arm64 --files

", exit_codes!()))]
    Sbom(SbomArgs),
    /// Scan an image, root filesystem or SBOM for known vulnerabilities.
    ///
    /// Matches each package by its source package and source version against
    /// Debian's security data for the image's release (from os-release),
    /// with Debian's version ordering and semantics: no entry for the release
    /// means not affected, no fixed version means open. Needs a local
    /// database: `bulwark db import` or `bulwark db update`.
    #[command(after_long_help = concat!("\
Targets: as for `bulwark sbom`, plus `sbom:FILE` (SPDX or CycloneDX JSON with
Debian PURLs, in syft's or trivy's form).

Examples:
  bulwark scan oci:out/python:latest
  bulwark scan rootfs:/srv/chroot --format sarif > scan.sarif
  bulwark scan sbom:python.spdx.json --fail-on high --ignore-unfixed
  bulwark scan oci:out/base --vex triage.openvex.json --format json

", exit_codes!()))]
    Scan(ScanArgs),
    /// Manage the local vulnerability database.
    #[command(subcommand)]
    Db(DbCommand),
    /// Check an image's signatures, attestations and SBOMs, and a policy.
    #[command(after_long_help = concat!("\
Examples:
  bulwark verify oci:out/app:latest --key keys/release.pub
  bulwark verify oci:out/app:latest --key keys/release.pub --policy policy.yaml --format json
  bulwark verify oci:out/app:latest --key keys/release.pub --policy policy.yaml --db vuln.db
  bulwark verify docker://registry.example:5000/app:1.0 --key keys/release.pub

", exit_codes!()))]
    Verify(VerifyArgs),
    /// Push an image with its SBOMs, provenance and signatures to a registry.
    ///
    /// Manifests travel as their exact bytes, so digests and signatures are
    /// unchanged. Blobs the registry has are skipped, blobs pushed before to
    /// another repository of the registry are mounted, others are uploaded
    /// in chunks that resume after a broken connection. The attestations
    /// are listed through the registry's OCI 1.1 referrers API, or its
    /// `sha256-<hex>` tag where it has none, before the tag is set: nobody
    /// sees the tag without them.
    #[command(after_long_help = concat!("\
Examples:
  bulwark push oci:out/python:latest docker://registry.example:5000/python:3.11
  bulwark push oci:out/base docker://localhost:5000/base --creds ci --password-stdin < token
  bulwark push oci:out/base docker://registry.example/team/base:1 --ca-cert corp-ca.pem

", exit_codes!()))]
    Push(PushArgs),
    /// Pull an image with its attestations from a registry into an OCI layout.
    ///
    /// Every manifest and blob is checked against its digest; the image and
    /// its attestations appear in the layout together or not at all, so
    /// `bulwark verify oci:…` works offline afterwards.
    #[command(after_long_help = concat!("\
Examples:
  bulwark pull docker://registry.example:5000/python:3.11 oci:images/python
  bulwark pull docker://registry.example/app@sha256:0123… oci:images/app:pinned

", exit_codes!()))]
    Pull(PullArgs),
    /// Manage signing keys.
    #[command(subcommand)]
    Key(KeyCommand),
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
    /// `docker-archive:FILE` (a `docker load`-able tarball),
    /// `docker://HOST/REPO[:TAG]` (built into a staging layout, then pushed
    /// with its attestations), or a bare DIR (an OCI layout). Default:
    /// `oci:./out/NAME`.
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
    /// Sign the image and its attestations with KEY (a PEM file or `env://VAR`).
    #[arg(long, value_name = "KEY")]
    pub sign: Option<String>,
    /// Output format on stdout: readable text, or one JSON document.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// How to reach a registry output.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How to reach and authenticate to registries (`docker://` references).
#[derive(Clone, Debug, Default, Args)]
pub struct RegistryArgs {
    /// Credentials for the registry, `USER[:PASSWORD]`.
    ///
    /// Without the password, add --password-stdin to read it from standard
    /// input. Credentials are taken from, in order: --creds
    /// and --password-stdin, the environment (BULWARK_REGISTRY_USER and
    /// BULWARK_REGISTRY_PASSWORD, for the registry BULWARK_REGISTRY_HOST
    /// names, or for any when it is unset), the Docker config's `credHelpers` (and
    /// `credsStore`), its `auths` ($DOCKER_CONFIG/config.json, else
    /// ~/.docker/config.json); else anonymous.
    #[arg(
        long,
        value_name = "USER[:PASSWORD]",
        help_heading = "Registry options"
    )]
    pub creds: Option<String>,
    /// Read the registry password from standard input (one line).
    #[arg(long, help_heading = "Registry options")]
    pub password_stdin: bool,
    /// Trust the CA certificates in FILE (PEM) for registries, besides the
    /// system's bundle. Repeatable.
    #[arg(long, value_name = "FILE", help_heading = "Registry options")]
    pub ca_cert: Vec<PathBuf>,
    /// Allow plain HTTP to the registries of this command's references.
    ///
    /// Loopback registries (127.0.0.0/8, [::1], localhost) fall back to
    /// plain HTTP by themselves when they do not speak TLS. A certificate
    /// that fails verification is never accepted.
    #[arg(long, help_heading = "Registry options")]
    pub insecure: bool,
    /// The longest pause before retrying a registry that answered 429 or
    /// 5xx (it may ask for longer with Retry-After).
    #[arg(long, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600),
          help_heading = "Registry options")]
    pub retry_max_wait: u64,
}

/// Arguments of `bulwark push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image to push: `oci:DIR[:TAG]` or a layout directory.
    pub source: String,
    /// Where to push it: `docker://HOST[:PORT]/REPO[:TAG]`; without a tag,
    /// the source's tag.
    pub destination: String,
    /// Output format on stdout: readable text, or one JSON document.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Arguments of `bulwark pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The image to pull: `docker://HOST[:PORT]/REPO[:TAG|@sha256:…]`.
    pub source: String,
    /// Where to write it: `oci:DIR[:TAG]` or a directory; without a tag,
    /// the source's tag (`latest` for a digest).
    pub destination: String,
    /// Output format on stdout: readable text, or one JSON document.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
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
    /// Output format on stdout: readable text, or one JSON document.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

/// Arguments of `bulwark sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// The image or root filesystem: `oci:DIR[:TAG]`, `docker-archive:FILE`,
    /// `rootfs:DIR`, or a path whose kind is detected.
    pub target: String,
    /// The SBOM format.
    #[arg(long, value_enum, default_value_t = SbomFormat::SpdxJson)]
    pub format: SbomFormat,
    /// Write to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The platform of a multi-platform image, e.g. `linux/arm64` [default: the host's].
    #[arg(long)]
    pub platform: Option<String>,
    /// Also list every file with its SHA-1 and SHA-256 (slower: reads every file).
    #[arg(long)]
    pub files: bool,
    /// Who supplies the image, e.g. `Organization: Example Inc.` [default: the
    /// image's `org.opencontainers.image.vendor` annotation].
    #[arg(long)]
    pub supplier: Option<String>,
    /// How to reach a registry target.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Arguments of `bulwark verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The image: `oci:DIR[:TAG]`.
    pub target: String,
    /// The public key (PEM) the image must be signed with.
    #[arg(long, value_name = "PUBKEY")]
    pub key: PathBuf,
    /// A policy file (YAML).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Check one platform only [default: all].
    #[arg(long)]
    pub platform: Option<String>,
    /// The vulnerability database the policy's `max-severity` is checked
    /// with [env: BULWARK_DB=] [default: $XDG_CACHE_HOME/bulwark/vuln.db].
    #[arg(long, env = env_if_set("BULWARK_DB"), value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// How to reach a registry target.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// SBOM formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SbomFormat {
    /// SPDX 2.3, JSON.
    SpdxJson,
    /// CycloneDX 1.6, JSON.
    CyclonedxJson,
}

/// Arguments of `bulwark scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// What to scan: `oci:DIR[:TAG]`, `docker-archive:FILE`, `rootfs:DIR`,
    /// `sbom:FILE`, or a path whose kind is detected.
    pub target: String,
    /// The vulnerability database [env: BULWARK_DB=] [default: $XDG_CACHE_HOME/bulwark/vuln.db].
    #[arg(long, env = env_if_set("BULWARK_DB"), value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// The report format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Exit with 1 when a finding has this severity or worse. `unknown` trips
    /// only when named. Exit with 2 when nothing could be matched (the
    /// release is unknown or not in the database).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<SeverityArg>,
    /// Leave out findings that have no fixed version yet.
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// OpenVEX documents whose `not_affected` and `fixed` statements suppress
    /// findings; the report lists what was suppressed.
    #[arg(long, value_name = "FILE")]
    pub vex: Vec<PathBuf>,
    /// The platform of a multi-platform image [default: the host's].
    #[arg(long)]
    pub platform: Option<String>,
    /// Write the report to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// How to reach a registry target.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Scan report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// A readable table, grouped by package.
    Table,
    /// JSON (`bulwark-scan-report/v1`, see docs/scan-report.md).
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// An OpenVEX document with one statement per finding.
    Openvex,
}

/// Severities, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// Neither an urgency nor a CVSS score is known.
    Unknown,
    /// Debian's `unimportant`.
    Negligible,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical (CVSS 9.0 and above).
    Critical,
}

/// `bulwark db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Import OSV records (a directory, a zip such as OSV's all.zip, or a tar)
    /// and Debian Security Tracker JSON into the database, replacing it.
    ///
    /// An input none of whose records can be read is refused, and so is an
    /// import with fewer than half as many vulnerabilities as the database
    /// holds (see --allow-shrink); the database is then left as it was.
    #[command(after_long_help = "\
Examples:
  bulwark db import ~/Downloads/osv-debian.zip
  bulwark db import osv/ debian-security-tracker.json --db ./vuln.db")]
    Import {
        /// The feeds to import.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The database file [env: BULWARK_DB=].
        #[arg(long, env = env_if_set("BULWARK_DB"), value_name = "FILE")]
        db: Option<PathBuf>,
        /// Replace the database even with fewer than half as many
        /// vulnerabilities as it holds (otherwise refused, as a truncated or
        /// wrong feed would be).
        #[arg(long)]
        allow_shrink: bool,
    },
    /// Show where the database came from and how fresh it is.
    Info {
        /// The database file [env: BULWARK_DB=].
        #[arg(long, env = env_if_set("BULWARK_DB"), value_name = "FILE")]
        db: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
        format: OutputFormat,
    },
    /// Download a feed (OSV zip or tracker JSON) and import it.
    ///
    /// The download trusts the system's CA bundle, is bounded in size and
    /// time, is retried once after a network failure, and goes to an unnamed
    /// temporary file that never outlives the command. Its import is refused
    /// in the same cases as `db import`'s. Neither OSV nor the Debian Security
    /// Tracker publishes a checksum or signature of its feed: --sha256 checks
    /// one you obtained yourself (a Google Cloud Storage MD5, as OSV's bucket
    /// sends, is checked when present).
    #[command(after_long_help = "\
Examples:
  bulwark db update --url https://HOST/Debian/all.zip     # OSV's Debian all.zip, or a mirror of it
  bulwark db update --url https://HOST/all.zip --sha256 HEX --db ./vuln.db")]
    Update {
        /// Where to download from. Credentials in it
        /// (`https://USER:TOKEN@HOST/…`) are sent as HTTP Basic
        /// authentication and never printed or recorded.
        #[arg(long)]
        url: String,
        /// The database file [env: BULWARK_DB=].
        #[arg(long, env = env_if_set("BULWARK_DB"), value_name = "FILE")]
        db: Option<PathBuf>,
        /// Download over plain http from another host than this machine
        /// (refused otherwise: anyone on the way could change the feed).
        #[arg(long)]
        allow_http: bool,
        /// Replace the database even with fewer than half as many
        /// vulnerabilities as it holds.
        #[arg(long)]
        allow_shrink: bool,
        /// The SHA-256 the download must have (64 hexadecimal digits).
        #[arg(long, value_name = "HEX", value_parser = parse_sha256)]
        sha256: Option<String>,
        /// The most bytes to download (`512M`, `2G`).
        #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
        max_size: u64,
        /// Give up when the server stays silent this long, in seconds
        /// (connecting, answering or sending).
        #[arg(long, value_name = "SECONDS", default_value_t = 60,
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        timeout: u64,
    },
}

/// `bulwark key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a signing key pair: PREFIX (private, PKCS#8 PEM, mode 0600)
    /// and PREFIX.pub (public, PEM). Prints the key id.
    #[command(after_long_help = "\
Examples:
  bulwark key generate --out keys/release
  bulwark key generate --algorithm p256 --out keys/ci")]
    Generate {
        /// The signature algorithm.
        #[arg(long, value_enum, default_value_t = KeyAlgorithm::Ed25519)]
        algorithm: KeyAlgorithm,
        /// Path prefix of the key files; existing files are never overwritten.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
}

/// Signature algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyAlgorithm {
    /// Ed25519: small keys, deterministic signatures.
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256.
    P256,
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
    /// Output format on stdout: readable text, or one JSON document.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}
