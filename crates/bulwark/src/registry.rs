//! `bulwark push`, `bulwark pull`, and reaching registries for every
//! command that takes a `docker://` reference: credentials from the
//! command line and the environment, the mount record in the cache, and
//! progress.

use std::io::BufRead as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use bulwark_cache::Cache;
use bulwark_cli::{OutputFormat, PullArgs, PushArgs, RegistryArgs};
use bulwark_oci::{ImageRef, Layout, RegistryRef};
use bulwark_registry::{Credentials, MountRecord, Options, Progress, Repository};

use crate::printer::Printer;

/// The environment variables that hold registry credentials, and the
/// registry they are for (when set, they go to no other).
const ENV_USER: &str = "BULWARK_REGISTRY_USER";
const ENV_PASSWORD: &str = "BULWARK_REGISTRY_PASSWORD";
const ENV_HOST: &str = "BULWARK_REGISTRY_HOST";

/// The registry options of a command whose references are `refs`. Reads
/// the password from standard input with `--password-stdin`: call once.
pub fn options(args: &RegistryArgs, refs: &[&RegistryRef]) -> Result<Options> {
    let credentials = credentials(args, refs)?;
    let insecure = if args.insecure {
        refs.iter().map(|r| r.registry.clone()).collect()
    } else {
        Vec::new()
    };
    for file in &args.ca_cert {
        bulwark_oci::read_regular(file, 16 << 20)
            .with_context(|| format!("invalid --ca-cert `{}`", file.display()))?;
    }
    Ok(Options {
        credentials,
        insecure,
        ca_files: args.ca_cert.clone(),
        retry_max_wait: Duration::from_secs(args.retry_max_wait),
        ..Options::default()
    })
}

/// `--creds`/`--password-stdin`, else the environment (when
/// `BULWARK_REGISTRY_HOST` is unset or names the registry of `refs`); else
/// none (the Docker config is read by the registry client).
fn credentials(args: &RegistryArgs, refs: &[&RegistryRef]) -> Result<Option<Credentials>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(creds) = &args.creds {
        let parsed = Credentials::parse_creds(creds).context("invalid --creds")?;
        if args.password_stdin {
            if creds.contains(':') {
                bail!(
                    "--creds gives a password and --password-stdin asks for one: use one of them"
                );
            }
            return Ok(Some(Credentials::new(
                parsed.username.clone(),
                read_password()?,
            )));
        }
        if !creds.contains(':') {
            bail!(
                "--creds `{}` has no password: write USER:PASSWORD, or add --password-stdin",
                parsed.username.escape_debug()
            );
        }
        return Ok(Some(parsed));
    }
    if args.password_stdin {
        let Some(user) = env(ENV_USER) else {
            bail!("--password-stdin needs a user name: --creds USER or {ENV_USER}");
        };
        return Ok(Some(Credentials::new(user, read_password()?)));
    }
    if let Some(host) = env(ENV_HOST) {
        if !refs
            .iter()
            .all(|r| r.registry.eq_ignore_ascii_case(host.trim()))
        {
            return Ok(None);
        }
    }
    match (env(ENV_USER), env(ENV_PASSWORD)) {
        (Some(user), Some(password)) => Ok(Some(Credentials::new(user, password))),
        (Some(_), None) => bail!("{ENV_USER} is set but {ENV_PASSWORD} is not"),
        (None, Some(_)) => bail!("{ENV_PASSWORD} is set but {ENV_USER} is not"),
        (None, None) => Ok(None),
    }
}

/// One line (at most 64 KiB) from standard input, without its line ending.
fn read_password() -> Result<String> {
    use std::io::Read as _;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(64 << 10)
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("--password-stdin: standard input holds no password");
    }
    Ok(password)
}

/// The repository `reference` names, reached with `args`.
pub fn open(reference: &RegistryRef, args: &RegistryArgs) -> Result<Arc<Repository>> {
    let options = options(args, &[reference])?;
    Ok(Arc::new(Repository::open(reference, &options)?))
}

/// The repository `reference` names, reached with `options`.
fn open_with(reference: &RegistryRef, options: &Options) -> Result<Arc<Repository>> {
    Ok(Arc::new(Repository::open(reference, options)?))
}

/// Where pushed blobs went, in the cache's records, so that a push to
/// another repository of the same registry mounts them.
struct CachedMounts<'a>(&'a Cache);

const MOUNTS: &str = "registry-mounts";
/// Repositories remembered per blob.
const MOUNTS_KEPT: usize = 8;

fn mount_key(registry: &str, digest: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(format!("{registry}\n{digest}")))
}

impl MountRecord for CachedMounts<'_> {
    fn sources(&self, registry: &str, digest: &str) -> Vec<String> {
        self.0
            .get_record(MOUNTS, &mount_key(registry, digest))
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<Vec<String>>(&bytes).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|r| bulwark_oci::check_repository(r).is_ok())
            .take(MOUNTS_KEPT)
            .collect()
    }

    fn record(&self, registry: &str, digest: &str, repository: &str) {
        let mut repos = self.sources(registry, digest);
        repos.retain(|r| r != repository);
        repos.insert(0, repository.to_owned());
        repos.truncate(MOUNTS_KEPT);
        if let Ok(bytes) = serde_json::to_vec(&repos) {
            let _ = self
                .0
                .put_record(MOUNTS, &mount_key(registry, digest), &bytes);
        }
    }
}

/// A byte progress bar on a terminal.
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn total(&self, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

/// The layout and tag of a source or destination that must be a layout.
fn layout_ref(text: &str, what: &str) -> Result<(std::path::PathBuf, Option<String>)> {
    match ImageRef::parse_output(text).with_context(|| format!("invalid {what}"))? {
        ImageRef::Oci { dir, tag } => Ok((dir, tag)),
        other => bail!("invalid {what} `{other}`: expected `oci:DIR[:TAG]` or a layout directory"),
    }
}

fn registry_ref(text: &str, what: &str) -> Result<RegistryRef> {
    match ImageRef::parse(text).with_context(|| format!("invalid {what}"))? {
        ImageRef::Registry(reference) => Ok(reference),
        other => bail!("invalid {what} `{other}`: expected `docker://HOST/REPO[:TAG|@DIGEST]`"),
    }
}

/// Pushes the image `tag` names in the layout `dir` to `dest`; the tag set
/// is the destination's, else the source's, else `latest` (none when the
/// destination names a digest, which must then be the image's).
pub fn push_layout(
    dir: &std::path::Path,
    tag: Option<&str>,
    dest: &RegistryRef,
    options: &Options,
    cache: Option<&Cache>,
    printer: &Printer,
) -> Result<bulwark_registry::PushReport> {
    let layout = Layout::open(dir)?;
    let repository = open_with(dest, options)?;
    let dest_tag = match (&dest.tag, &dest.digest) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(_)) => None,
        (None, None) => Some(tag.unwrap_or("latest").to_owned()),
    };
    if let Some(digest) = &dest.digest {
        let top = bulwark_oci::ImageStore::resolve(&layout, tag)?;
        if &top.digest != digest {
            bail!(
                "`{dest}` names digest `{digest}`, but the image to push is `{}`",
                top.digest
            );
        }
    }
    let bar = Bar(printer.bytes_bar("Pushing", 0));
    let mounts = cache.map(CachedMounts);
    let record: &dyn MountRecord = match &mounts {
        Some(m) => m,
        None => &(),
    };
    let report =
        bulwark_registry::push(&layout, tag, &repository, dest_tag.as_deref(), record, &bar)
            .with_context(|| format!("cannot push to `{dest}`"))?;
    bar.0.finish_and_clear();
    Ok(report)
}

fn print_push(
    report: &bulwark_registry::PushReport,
    dest: &RegistryRef,
    format: OutputFormat,
    printer: &Printer,
) -> Result<()> {
    match format {
        OutputFormat::Json => printer.data(&serde_json::to_string_pretty(report)?),
        OutputFormat::Human => {
            let name = format!("docker://{}/{}", dest.registry, dest.repository);
            printer.status(
                "Pushed",
                format!(
                    "{name}{}@{} ({} uploaded, {} mounted, {} already there; {} attestations, listed by {})",
                    report.tag.as_deref().map(|t| format!(":{t}")).unwrap_or_default(),
                    report.digest,
                    report.uploaded,
                    report.mounted,
                    report.present,
                    report.attestations,
                    report.referrers,
                ),
            );
            printer.data(&report.digest);
        }
    }
    Ok(())
}

/// `bulwark push`.
pub fn push(args: &PushArgs, cache: Option<&Cache>, printer: &Printer) -> Result<()> {
    let (dir, tag) = layout_ref(&args.source, "source")?;
    if !dir.is_dir() {
        bail!("source `{}` does not exist", args.source);
    }
    let dest = registry_ref(&args.destination, "destination")?;
    let options = options(&args.registry, &[&dest])?;
    let report = push_layout(&dir, tag.as_deref(), &dest, &options, cache, printer)?;
    print_push(&report, &dest, args.format, printer)
}

/// `bulwark pull`.
pub fn pull(args: &PullArgs, printer: &Printer) -> Result<()> {
    let source = registry_ref(&args.source, "source")?;
    let (dir, tag) = layout_ref(&args.destination, "destination")?;
    let tag = tag
        .or_else(|| source.tag.clone())
        .unwrap_or_else(|| "latest".to_owned());
    bulwark_oci::check_tag(&tag)
        .map_err(|reason| anyhow::anyhow!("invalid destination: {reason}"))?;
    let repository = open(&source, &args.registry)?;
    let bar = Bar(printer.bytes_bar("Pulling", 0));
    let report = bulwark_registry::pull(&repository, &dir, &tag, &bar)
        .with_context(|| format!("cannot pull `{source}`"))?;
    bar.0.finish_and_clear();
    match args.format {
        OutputFormat::Json => printer.data(&serde_json::to_string_pretty(&report)?),
        OutputFormat::Human => {
            printer.status(
                "Pulled",
                format!(
                    "{source} into oci:{}:{tag} ({} blobs, {} attestations)",
                    dir.display(),
                    report.blobs,
                    report.attestations
                ),
            );
            printer.data(&report.digest);
        }
    }
    Ok(())
}
