//! Registry credentials: a user name and a secret ([`Credentials`]), given
//! explicitly (`USER[:PASS]`, [`Credentials::parse_creds`]) or looked up the
//! way `docker login` stores them ([`from_docker_config`]): in the Docker
//! config file's `credHelpers` and `credsStore` (credential helper
//! programs, `docker-credential-<name>`, run with the
//! docker-credential-helpers protocol) and its `auths` entries.
//!
//! Secrets are wiped from memory when dropped, never shown by `Debug`, and
//! never put into an error message.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::Deserialize;
use zeroize::Zeroizing;

/// The most bytes read of a Docker config file.
const MAX_CONFIG: u64 = 1 << 20;
/// The most bytes read of a credential helper's standard output.
const MAX_HELPER_OUTPUT: u64 = 1 << 20;
/// The most bytes kept of a credential helper's standard error (the rest is
/// read and dropped, so the helper does not block on a full pipe).
const MAX_HELPER_STDERR: u64 = 64 << 10;
/// How long a credential helper may run.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// The most characters of a helper's message an error shows.
const MAX_SHOWN: usize = 200;
/// The longest registry host accepted (a host name is at most 253 bytes).
const MAX_HOST: usize = 512;
/// The server URL credential helpers and `auths` know Docker Hub by.
const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";
/// The names Docker Hub goes by.
const DOCKER_HUB_ALIASES: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// What a hidden secret is shown as.
const HIDDEN: &str = "***";

/// A user name and a secret. `Debug` never shows the secret; the secret is
/// zeroized on drop.
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    password: Zeroizing<String>,
}

impl Credentials {
    /// Credentials of `username` with secret `password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    /// The secret (empty when none was given).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// `USER[:PASS]` as given to `--creds`, split at the first `:`; without
    /// `:PASS` the password is empty (the CLI then asks or errors). An empty
    /// user name is refused. The error never repeats the value.
    pub fn parse_creds(s: &str) -> Result<Credentials, CredentialsError> {
        let (user, pass) = s.split_once(':').unwrap_or((s, ""));
        if user.is_empty() {
            return Err(CredentialsError::InvalidCreds {
                reason: "the user name is empty",
            });
        }
        Ok(Credentials::new(user, pass))
    }

    /// The `Authorization: Basic ...` header value: `Basic ` and the
    /// base64 of `user:password`.
    pub fn basic_header(&self) -> String {
        let mut plain = Zeroizing::new(String::with_capacity(
            self.username.len() + 1 + self.password.len(),
        ));
        plain.push_str(&self.username);
        plain.push(':');
        plain.push_str(&self.password);
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain.as_bytes());
        format!("Basic {encoded}")
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &HIDDEN)
            .finish()
    }
}

/// Where credentials came from, for messages (never the secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// Given explicitly (`--creds`, an environment variable, …).
    Explicit,
    /// From the credential helper `docker-credential-<name>`, named by the
    /// Docker config's `credHelpers` or `credsStore`; holds `<name>`.
    DockerConfigHelper(String),
    /// From an `auths` entry of the Docker config file at this path.
    DockerConfigAuths(PathBuf),
    /// No credentials.
    Anonymous,
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Explicit => f.write_str("explicit credentials"),
            Self::DockerConfigHelper(name) => {
                write!(f, "credential helper `docker-credential-{name}`")
            }
            Self::DockerConfigAuths(path) => write!(f, "`auths` of `{}`", path.display()),
            Self::Anonymous => f.write_str("no credentials (anonymous)"),
        }
    }
}

/// An error getting credentials. Messages are one line, name the file,
/// helper and registry concerned, and never hold a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// A `USER[:PASS]` value that cannot be used.
    #[error("invalid credentials `USER[:PASS]`: {reason}")]
    InvalidCreds {
        /// What is wrong.
        reason: &'static str,
    },
    /// A registry host that cannot be looked up.
    #[error("invalid registry host `{host}`: {reason}")]
    InvalidHost {
        /// The host, escaped and shortened.
        host: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The Docker config file could not be read.
    #[error("failed to read Docker config `{}`: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The Docker config path is a directory, a FIFO, a device or a socket.
    #[error("Docker config `{}` is not a regular file ({kind})", path.display())]
    NotAFile {
        /// The config file.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The Docker config file is larger than bulwark reads.
    #[error("Docker config `{}` is larger than the {limit} bytes bulwark reads of it", path.display())]
    TooLarge {
        /// The config file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The Docker config file is not JSON, or not of the expected shape.
    #[error("Docker config `{}` is not valid: {reason} at line {line} column {column}", path.display())]
    Json {
        /// The config file.
        path: PathBuf,
        /// What is wrong (never the file's content).
        reason: &'static str,
        /// Where (1-based).
        line: usize,
        /// Where (1-based).
        column: usize,
    },
    /// An `auths` entry for the registry that cannot be decoded.
    #[error("Docker config `{}`: the `auths` entry `{key}` for `{host}` is malformed: {reason}", path.display())]
    MalformedAuth {
        /// The config file.
        path: PathBuf,
        /// The entry's key, escaped.
        key: String,
        /// The registry looked up.
        host: String,
        /// What is wrong (never the secret).
        reason: &'static str,
    },
    /// A `credHelpers` or `credsStore` value that is not a helper name.
    #[error("Docker config `{}`: credential helper name `{name}` for `{host}` is invalid (allowed: letters, digits, `_`, `.` and `-`)", path.display())]
    InvalidHelperName {
        /// The config file.
        path: PathBuf,
        /// The name, escaped and shortened.
        name: String,
        /// The registry looked up.
        host: String,
    },
    /// The credential helper the config names is not on `PATH`.
    #[error("credential helper `{helper}` for `{host}` is not an executable file in any absolute directory of PATH")]
    HelperNotFound {
        /// The program, `docker-credential-<name>`.
        helper: String,
        /// The registry looked up.
        host: String,
    },
    /// The credential helper could not be started or waited for.
    #[error("failed to run credential helper `{}` for `{host}`: {source}", program.display())]
    HelperRun {
        /// The program run.
        program: PathBuf,
        /// The registry looked up.
        host: String,
        /// The cause.
        source: io::Error,
    },
    /// The credential helper failed (other than "credentials not found").
    #[error("credential helper `{helper}` failed for `{host}` ({status}){}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    HelperFailed {
        /// The program, `docker-credential-<name>`.
        helper: String,
        /// The registry looked up.
        host: String,
        /// How it ended.
        status: String,
        /// Its message (standard error, else a standard output that is not
        /// JSON), escaped and shortened; empty when it said nothing.
        message: String,
    },
    /// The credential helper did not end in time; it was killed.
    #[error("credential helper `{helper}` for `{host}` did not finish within {seconds} s; it was killed")]
    HelperTimeout {
        /// The program, `docker-credential-<name>`.
        helper: String,
        /// The registry looked up.
        host: String,
        /// The time limit.
        seconds: u64,
    },
    /// The credential helper wrote more than bulwark reads.
    #[error("credential helper `{helper}` for `{host}` wrote more than {limit} bytes")]
    HelperOutputTooLarge {
        /// The program, `docker-credential-<name>`.
        helper: String,
        /// The registry looked up.
        host: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The credential helper's answer is not what the protocol says.
    #[error("credential helper `{helper}` for `{host}` gave a malformed answer: {reason}")]
    HelperMalformed {
        /// The program, `docker-credential-<name>`.
        helper: String,
        /// The registry looked up.
        host: String,
        /// What is wrong (never the answer's content).
        reason: &'static str,
    },
    /// Credentials of a kind bulwark cannot use (an identity token).
    #[error("{origin} holds {what} for `{host}`, which bulwark does not support; give a user name and password instead")]
    Unsupported {
        /// Where: ``Docker config `PATH` `` or ``credential helper `NAME` ``.
        origin: String,
        /// The registry looked up.
        host: String,
        /// What it holds.
        what: &'static str,
    },
}

/// Looks up the credentials for registry `host` (`HOST[:PORT]`, e.g.
/// "127.0.0.1:5000" or "docker.io") in the Docker config file: `config`
/// when given, else `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`; a missing file (or neither variable set)
/// is not an error (`Ok(None)`), nor is an empty file or one without an
/// entry for `host`.
///
/// Precedence inside the file is docker's: the helper `credHelpers[host]`
/// names, else the global helper `credsStore`; if that helper has no
/// credentials for `host`, the `auths[host]` entry. Keys match as docker
/// matches them: exactly, or by the host of a URL key
/// (`https://host/v1/`), case-insensitively; Docker Hub is known as
/// `docker.io`, `index.docker.io`, `registry-1.docker.io` and
/// `https://index.docker.io/v1/`. Helpers are run as
/// `docker-credential-<name> get` found in an absolute directory of `PATH`,
/// for at most 30 seconds.
pub fn from_docker_config(
    host: &str,
    config: Option<&Path>,
) -> Result<Option<(Credentials, CredentialSource)>, CredentialsError> {
    check_host(host)?;
    let path = match config {
        Some(path) => path.to_owned(),
        None => match default_config_path() {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    from_docker_config_with(host, &path, std::env::var_os("PATH").as_deref())
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
fn default_config_path() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = non_empty("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    non_empty("HOME").map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// [`from_docker_config`] with the config file at `config` and helpers
/// looked up in (and run with) the search path `path_env`.
fn from_docker_config_with(
    host: &str,
    config: &Path,
    path_env: Option<&OsStr>,
) -> Result<Option<(Credentials, CredentialSource)>, CredentialsError> {
    lookup(host, config, path_env, HELPER_TIMEOUT)
}

/// The parts of a Docker config file bulwark reads; the rest is ignored.
#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: Option<BTreeMap<String, Option<AuthEntry>>>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: Option<BTreeMap<String, Option<String>>>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

/// An `auths` entry.
#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<Secret>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default)]
    identitytoken: Option<Secret>,
    #[serde(default)]
    registrytoken: Option<Secret>,
}

/// A secret string read from JSON, wiped when dropped.
struct Secret(Zeroizing<String>);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Secret(Zeroizing::new(s)))
    }
}

impl Secret {
    fn as_str(&self) -> &str {
        &self.0
    }
}

/// The non-empty secret in `field`, if any.
fn non_empty(field: &Option<Secret>) -> Option<&str> {
    field.as_ref().map(Secret::as_str).filter(|s| !s.is_empty())
}

/// A credential helper's answer to `get`.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(default, rename = "Username")]
    username: Option<String>,
    #[serde(default, rename = "Secret")]
    secret: Option<Secret>,
}

fn lookup(
    host: &str,
    config: &Path,
    path_env: Option<&OsStr>,
    timeout: Duration,
) -> Result<Option<(Credentials, CredentialSource)>, CredentialsError> {
    check_host(host)?;
    let Some(bytes) = read_config(config)? else {
        return Ok(None);
    };
    // Docker reads an empty file as an empty configuration.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parsed: DockerConfig = serde_json::from_slice(&bytes).map_err(|err| {
        let reason = match err.classify() {
            serde_json::error::Category::Data => "unexpected JSON structure",
            _ => "malformed JSON",
        };
        CredentialsError::Json {
            path: config.to_owned(),
            reason,
            line: err.line(),
            column: err.column(),
        }
    })?;

    let specific = parsed.cred_helpers.as_ref().and_then(|helpers| {
        matching_keys(helpers, host)
            .into_iter()
            .find_map(|key| helpers.get(key).and_then(Option::as_deref))
            .filter(|name| !name.is_empty())
    });
    let helper = specific.or(parsed
        .creds_store
        .as_deref()
        .filter(|name| !name.is_empty()));
    if let Some(name) = helper {
        if !is_helper_name(name) {
            return Err(CredentialsError::InvalidHelperName {
                path: config.to_owned(),
                name: shown(name),
                host: host.to_owned(),
            });
        }
        if let Some(credentials) = from_helper(name, host, path_env, timeout)? {
            return Ok(Some((
                credentials,
                CredentialSource::DockerConfigHelper(name.to_owned()),
            )));
        }
    }

    if let Some(auths) = &parsed.auths {
        for key in matching_keys(auths, host) {
            let Some(Some(entry)) = auths.get(key) else {
                continue;
            };
            if let Some(credentials) = from_auth_entry(entry, config, key, host)? {
                return Ok(Some((
                    credentials,
                    CredentialSource::DockerConfigAuths(config.to_owned()),
                )));
            }
        }
    }
    Ok(None)
}

/// The config file's bytes, wiped when dropped; `None` when it does not
/// exist.
fn read_config(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, CredentialsError> {
    match bulwark_oci::read_regular(path, MAX_CONFIG) {
        Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
        Err(bulwark_oci::Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(bulwark_oci::Error::Io { source, .. }) => Err(CredentialsError::Read {
            path: path.to_owned(),
            source,
        }),
        Err(bulwark_oci::Error::NotAFile(_, kind)) => Err(CredentialsError::NotAFile {
            path: path.to_owned(),
            kind,
        }),
        Err(bulwark_oci::Error::FileTooLarge { limit, .. }) => Err(CredentialsError::TooLarge {
            path: path.to_owned(),
            limit,
        }),
        Err(other) => Err(CredentialsError::Read {
            path: path.to_owned(),
            source: io::Error::other(other.to_string()),
        }),
    }
}

/// Refuses a host that cannot name a registry, or that would break the
/// credential helper protocol (one line on standard input).
fn check_host(host: &str) -> Result<(), CredentialsError> {
    let reason = if host.is_empty() {
        "it is empty"
    } else if host.len() > MAX_HOST {
        "it is too long"
    } else if host.chars().any(|c| c.is_control() || c.is_whitespace()) {
        "it holds whitespace or control characters"
    } else if host.contains('/') {
        "it holds a `/`; give HOST[:PORT]"
    } else {
        return Ok(());
    };
    Err(CredentialsError::InvalidHost {
        host: shown(host),
        reason,
    })
}

/// Whether `name` may follow `docker-credential-` in a program name.
fn is_helper_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether `host` is one of Docker Hub's names.
fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_ALIASES
        .iter()
        .any(|alias| alias.eq_ignore_ascii_case(host))
}

/// The host (`HOST[:PORT]`) a config key names: the key itself, or the
/// authority of a URL key (`https://host/v1/` → `host`).
fn key_host(key: &str) -> &str {
    let rest = key.split_once("://").map_or(key, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// Whether config key `key` names registry `host`.
fn key_matches(key: &str, host: &str) -> bool {
    let named = key_host(key);
    named.eq_ignore_ascii_case(host) || (is_docker_hub(host) && is_docker_hub(named))
}

/// The keys of `map` naming `host`, best first: the exact key, then (for
/// Docker Hub) docker's own key, then the others in key order.
fn matching_keys<'a, V>(map: &'a BTreeMap<String, V>, host: &str) -> Vec<&'a str> {
    let mut keys: Vec<&str> = Vec::new();
    let mut add = |key: &'a str| {
        if !keys.contains(&key) {
            keys.push(key);
        }
    };
    if let Some((key, _)) = map.get_key_value(host) {
        add(key);
    }
    if is_docker_hub(host) {
        if let Some((key, _)) = map.get_key_value(DOCKER_HUB_SERVER) {
            add(key);
        }
    }
    for key in map.keys() {
        if key_matches(key, host) {
            add(key);
        }
    }
    keys
}

/// The credentials an `auths` entry holds, if any.
fn from_auth_entry(
    entry: &AuthEntry,
    path: &Path,
    key: &str,
    host: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    let malformed = |reason| CredentialsError::MalformedAuth {
        path: path.to_owned(),
        key: shown(key),
        host: host.to_owned(),
        reason,
    };
    let has_token =
        non_empty(&entry.identitytoken).is_some() || non_empty(&entry.registrytoken).is_some();
    let unsupported = || CredentialsError::Unsupported {
        origin: format!("Docker config `{}`", path.display()),
        host: host.to_owned(),
        what: "an identity token",
    };
    let credentials = if let Some(auth) = non_empty(&entry.auth) {
        let engine = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let decoded = Zeroizing::new(
            engine
                .decode(auth.trim())
                .map_err(|_| malformed("`auth` is not valid base64"))?,
        );
        let text = std::str::from_utf8(&decoded)
            .map_err(|_| malformed("`auth` does not decode to UTF-8 text"))?;
        let (user, pass) = text
            .split_once(':')
            .ok_or_else(|| malformed("`auth` does not decode to `user:password`"))?;
        if user.is_empty() {
            return Err(malformed("`auth` holds an empty user name"));
        }
        Credentials::new(user, pass)
    } else if let Some(user) = entry.username.as_deref().filter(|u| !u.is_empty()) {
        Credentials::new(user, non_empty(&entry.password).unwrap_or_default())
    } else if has_token {
        return Err(unsupported());
    } else {
        return Ok(None);
    };
    if has_token && credentials.password().is_empty() {
        return Err(unsupported());
    }
    Ok(Some(credentials))
}

/// Runs credential helper `docker-credential-<name>` for `host`: `None`
/// when it has no credentials for it.
fn from_helper(
    name: &str,
    host: &str,
    path_env: Option<&OsStr>,
    timeout: Duration,
) -> Result<Option<Credentials>, CredentialsError> {
    let helper = format!("docker-credential-{name}");
    let program =
        find_program(&helper, path_env).ok_or_else(|| CredentialsError::HelperNotFound {
            helper: helper.clone(),
            host: host.to_owned(),
        })?;
    let server_url = if is_docker_hub(host) {
        DOCKER_HUB_SERVER
    } else {
        host
    };
    let run = run_helper(&program, server_url, path_env, timeout).map_err(|err| match err {
        RunError::Io(source) => CredentialsError::HelperRun {
            program: program.clone(),
            host: host.to_owned(),
            source,
        },
        RunError::Timeout => CredentialsError::HelperTimeout {
            helper: helper.clone(),
            host: host.to_owned(),
            seconds: timeout.as_secs_f64().ceil() as u64,
        },
    })?;
    if run.stdout_overflow {
        return Err(CredentialsError::HelperOutputTooLarge {
            helper,
            host: host.to_owned(),
            limit: MAX_HELPER_OUTPUT,
        });
    }
    if !run.status.success() {
        const NOT_FOUND: &str = "credentials not found";
        if contains_ignore_case(&run.stdout, NOT_FOUND)
            || contains_ignore_case(&run.stderr, NOT_FOUND)
        {
            return Ok(None);
        }
        // Helpers of the protocol write their error message on standard
        // output; a JSON answer there might hold a secret, so it is not
        // shown.
        let stdout = String::from_utf8_lossy(&run.stdout);
        let stderr = String::from_utf8_lossy(&run.stderr);
        let message = if !stderr.trim().is_empty() {
            shown(stderr.trim())
        } else if !stdout.trim_start().starts_with('{') {
            shown(stdout.trim())
        } else {
            String::new()
        };
        return Err(CredentialsError::HelperFailed {
            helper,
            host: host.to_owned(),
            status: run.status.to_string(),
            message,
        });
    }
    let malformed = |reason| CredentialsError::HelperMalformed {
        helper: helper.clone(),
        host: host.to_owned(),
        reason,
    };
    let answer: HelperAnswer = serde_json::from_slice(&run.stdout).map_err(|err| {
        malformed(match err.classify() {
            serde_json::error::Category::Data => "unexpected JSON structure",
            _ => "not JSON",
        })
    })?;
    let username = answer.username.unwrap_or_default();
    let secret = non_empty(&answer.secret);
    if username == "<token>" {
        return Err(CredentialsError::Unsupported {
            origin: format!("credential helper `{helper}`"),
            host: host.to_owned(),
            what: "an identity token",
        });
    }
    match (username.is_empty(), secret) {
        (true, None) => Ok(None),
        (true, Some(_)) => Err(malformed("a `Secret` without a `Username`")),
        (false, secret) => Ok(Some(Credentials::new(username, secret.unwrap_or_default()))),
    }
}

/// The first file named `name` that is executable, in the absolute
/// directories of `path_env` (relative ones, such as an empty entry meaning
/// the current directory, are skipped).
fn find_program(name: &str, path_env: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    std::env::split_paths(path_env?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// How a helper run ended.
struct HelperRun {
    status: ExitStatus,
    /// Standard output, up to [`MAX_HELPER_OUTPUT`] bytes; wiped when
    /// dropped.
    stdout: Zeroizing<Vec<u8>>,
    /// Whether standard output went on past [`MAX_HELPER_OUTPUT`] bytes.
    stdout_overflow: bool,
    /// Standard error, up to [`MAX_HELPER_STDERR`] bytes.
    stderr: Vec<u8>,
}

/// Why a helper run did not end normally.
enum RunError {
    /// Starting, feeding or waiting for it failed.
    Io(io::Error),
    /// It ran (or kept its output open) past the time limit; it was
    /// killed.
    Timeout,
}

/// Which output stream a reader thread read.
enum Stream {
    Out(Zeroizing<Vec<u8>>, bool),
    Err(Vec<u8>),
}

/// Runs `program get` with `server_url` and a newline on standard input,
/// `PATH` set to `path_env`, killing it after `timeout`.
fn run_helper(
    program: &Path,
    server_url: &str,
    path_env: Option<&OsStr>,
    timeout: Duration,
) -> Result<HelperRun, RunError> {
    let deadline = Instant::now() + timeout;
    let mut command = Command::new(program);
    command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(path_env) = path_env {
        command.env("PATH", path_env);
    }
    let mut child = command.spawn().map_err(RunError::Io)?;

    // The line is far shorter than a pipe's buffer, so this cannot block;
    // a helper that exits without reading it is not an error here.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(format!("{server_url}\n").as_bytes());
    }

    let (sender, receiver) = mpsc::channel();
    if let Some(mut stdout) = child.stdout.take() {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut bytes = Zeroizing::new(Vec::with_capacity(4096));
            let read = (&mut stdout)
                .take(MAX_HELPER_OUTPUT + 1)
                .read_to_end(&mut bytes);
            let overflow = bytes.len() as u64 > MAX_HELPER_OUTPUT;
            bytes.truncate(usize::try_from(MAX_HELPER_OUTPUT).unwrap_or(usize::MAX));
            // Dropping the pipe makes a helper writing on fail (EPIPE).
            drop(stdout);
            let _ = sender.send(read.map(|_| Stream::Out(bytes, overflow)));
        });
    }
    if let Some(mut stderr) = child.stderr.take() {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let read = (&mut stderr)
                .take(MAX_HELPER_STDERR)
                .read_to_end(&mut bytes)
                .and_then(|_| io::copy(&mut stderr, &mut io::sink()));
            let _ = sender.send(read.map(|_| Stream::Err(bytes)));
        });
    }
    drop(sender);

    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Io(err));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Timeout);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    };

    // A process the helper started may hold the pipes open: wait for the
    // readers no longer than the time left.
    let mut stdout = None;
    let mut stderr = None;
    while stdout.is_none() || stderr.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(Ok(Stream::Out(bytes, overflow))) => stdout = Some((bytes, overflow)),
            Ok(Ok(Stream::Err(bytes))) => stderr = Some(bytes),
            Ok(Err(err)) => return Err(RunError::Io(err)),
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(RunError::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(RunError::Io(io::Error::other(
                    "an output reader ended without a result",
                )))
            }
        }
    }
    let (stdout, stdout_overflow) = stdout.unwrap_or_default();
    Ok(HelperRun {
        status,
        stdout,
        stdout_overflow,
        stderr: stderr.unwrap_or_default(),
    })
}

/// Whether `haystack` holds ASCII `needle`, ignoring ASCII case.
fn contains_ignore_case(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// `text` for a one-line message: escaped, and cut to [`MAX_SHOWN`]
/// characters.
fn shown(text: &str) -> String {
    let mut out: String = text
        .chars()
        .flat_map(char::escape_debug)
        .take(MAX_SHOWN + 1)
        .collect();
    if out.chars().count() > MAX_SHOWN {
        out = out.chars().take(MAX_SHOWN).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::sync::{Mutex, MutexGuard};

    /// Held by every test that writes a script or runs one: a script
    /// written while another thread forks can be held open for writing by
    /// the fork, and running it then fails with "text file busy".
    static PROCESSES: Mutex<()> = Mutex::new(());

    fn lock() -> MutexGuard<'static, ()> {
        PROCESSES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    struct Env {
        dir: tempfile::TempDir,
    }

    impl Env {
        fn new() -> Self {
            Self {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        fn config(&self, json: &str) -> PathBuf {
            let path = self.dir.path().join("config.json");
            std::fs::write(&path, json).unwrap();
            path
        }

        fn bin(&self) -> PathBuf {
            self.dir.path().join("bin")
        }

        /// Puts a `docker-credential-<name>` shell script in `bin`.
        fn helper(&self, name: &str, body: &str) {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::create_dir_all(self.bin()).unwrap();
            let path = self.bin().join(format!("docker-credential-{name}"));
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        fn path_env(&self) -> OsString {
            std::env::join_paths([self.bin(), "/usr/bin".into(), "/bin".into()]).unwrap()
        }

        fn lookup(
            &self,
            host: &str,
            config: &Path,
        ) -> Result<Option<(Credentials, CredentialSource)>, CredentialsError> {
            from_docker_config_with(host, config, Some(&self.path_env()))
        }
    }

    fn user_pass(
        found: Option<(Credentials, CredentialSource)>,
    ) -> (String, String, CredentialSource) {
        let (creds, source) = found.expect("credentials");
        (creds.username.clone(), creds.password().to_owned(), source)
    }

    #[test]
    fn debug_hides_the_secret() {
        let creds = Credentials::new("u", "s3cret");
        assert_eq!(
            format!("{creds:?}"),
            r#"Credentials { username: "u", password: "***" }"#
        );
        assert_eq!(format!("{:?}", creds.clone()), format!("{creds:?}"));
    }

    #[test]
    fn parse_creds_splits_at_the_first_colon() {
        let creds = Credentials::parse_creds("me:pa:ss").unwrap();
        assert_eq!((creds.username.as_str(), creds.password()), ("me", "pa:ss"));
        let creds = Credentials::parse_creds("me").unwrap();
        assert_eq!((creds.username.as_str(), creds.password()), ("me", ""));
        let creds = Credentials::parse_creds("me:").unwrap();
        assert_eq!(creds.password(), "");
        for bad in ["", ":secret"] {
            let err = Credentials::parse_creds(bad).unwrap_err();
            assert!(matches!(err, CredentialsError::InvalidCreds { .. }));
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn basic_header() {
        // RFC 7617's example.
        let creds = Credentials::new("Aladdin", "open sesame");
        assert_eq!(creds.basic_header(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(
            Credentials::new("u", "").basic_header(),
            format!("Basic {}", b64("u:"))
        );
    }

    #[test]
    fn source_display() {
        assert_eq!(
            CredentialSource::DockerConfigHelper("pass".into()).to_string(),
            "credential helper `docker-credential-pass`"
        );
        assert_eq!(
            CredentialSource::DockerConfigAuths("/c.json".into()).to_string(),
            "`auths` of `/c.json`"
        );
    }

    #[test]
    fn missing_empty_and_unrelated_configs_give_none() {
        let env = Env::new();
        let missing = env.dir.path().join("nope.json");
        assert!(env.lookup("127.0.0.1:5000", &missing).unwrap().is_none());
        let missing_dir = env.dir.path().join("nope").join("config.json");
        assert!(env
            .lookup("127.0.0.1:5000", &missing_dir)
            .unwrap()
            .is_none());
        assert!(from_docker_config("127.0.0.1:5000", Some(&missing))
            .unwrap()
            .is_none());
        for json in [
            "",
            " \n",
            "{}",
            r#"{"auths": {}}"#,
            r#"{"auths": null, "credsStore": ""}"#,
        ] {
            let config = env.config(json);
            assert!(
                env.lookup("127.0.0.1:5000", &config).unwrap().is_none(),
                "{json}"
            );
        }
        let config = env.config(&format!(
            r#"{{"auths": {{"other:5000": {{"auth": "{}"}}, "127.0.0.1:5000": {{}}}}, "psFormat": "x"}}"#,
            b64("u:p")
        ));
        assert!(env.lookup("127.0.0.1:5000", &config).unwrap().is_none());
    }

    #[test]
    fn auths_entries() {
        let env = Env::new();
        let config = env.config(&format!(
            r#"{{"auths": {{
                "127.0.0.1:5000": {{"auth": "{}"}},
                "http://localhost:5001": {{"auth": "{}"}},
                "https://Registry.Example:443/v2/": {{"username": "named", "password": "pw"}},
                "padless:1": {{"auth": "{}"}}
            }}}}"#,
            b64("alice:pa:ss"),
            b64("bob:"),
            b64("carol:xy").trim_end_matches('='),
        ));
        let (user, pass, source) = user_pass(env.lookup("127.0.0.1:5000", &config).unwrap());
        assert_eq!((user.as_str(), pass.as_str()), ("alice", "pa:ss"));
        assert_eq!(source, CredentialSource::DockerConfigAuths(config.clone()));
        let (user, pass, _) = user_pass(env.lookup("localhost:5001", &config).unwrap());
        assert_eq!((user.as_str(), pass.as_str()), ("bob", ""));
        let (user, pass, _) = user_pass(env.lookup("registry.example:443", &config).unwrap());
        assert_eq!((user.as_str(), pass.as_str()), ("named", "pw"));
        let (user, pass, _) = user_pass(env.lookup("padless:1", &config).unwrap());
        assert_eq!((user.as_str(), pass.as_str()), ("carol", "xy"));
        assert!(env.lookup("127.0.0.1:5001", &config).unwrap().is_none());
        assert!(env.lookup("127.0.0.1", &config).unwrap().is_none());
    }

    #[test]
    fn exact_key_wins_over_url_keys() {
        let env = Env::new();
        let config = env.config(&format!(
            r#"{{"auths": {{"https://h:1/v1/": {{"auth": "{}"}}, "h:1": {{"auth": "{}"}}}}}}"#,
            b64("url:x"),
            b64("exact:x"),
        ));
        assert_eq!(user_pass(env.lookup("h:1", &config).unwrap()).0, "exact");
    }

    #[test]
    fn docker_hub_aliases() {
        let env = Env::new();
        for key in [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "registry-1.docker.io",
            "docker.io",
            "https://docker.io",
        ] {
            let config = env.config(&format!(
                r#"{{"auths": {{"{key}": {{"auth": "{}"}}}}}}"#,
                b64("hub:pw")
            ));
            for host in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
                let (user, pass, _) = user_pass(env.lookup(host, &config).unwrap());
                assert_eq!(
                    (user.as_str(), pass.as_str()),
                    ("hub", "pw"),
                    "{key} {host}"
                );
            }
            assert!(env.lookup("quay.example", &config).unwrap().is_none());
        }
        // Docker's own key is preferred over other aliases.
        let config = env.config(&format!(
            r#"{{"auths": {{"index.docker.io": {{"auth": "{}"}}, "https://index.docker.io/v1/": {{"auth": "{}"}}}}}}"#,
            b64("alias:x"),
            b64("canonical:x"),
        ));
        assert_eq!(
            user_pass(env.lookup("docker.io", &config).unwrap()).0,
            "canonical"
        );
    }

    #[test]
    fn malformed_auth_entries_name_the_file_and_key() {
        let env = Env::new();
        for (auth, reason) in [
            ("!!!notbase64".to_owned(), "base64"),
            (b64("nocolon"), "user:password"),
            (b64(":secretpw"), "empty user"),
        ] {
            let config = env.config(&format!(
                r#"{{"auths": {{"https://h:1/v1/": {{"auth": "{auth}"}}}}}}"#
            ));
            let err = env.lookup("h:1", &config).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, CredentialsError::MalformedAuth { .. }),
                "{message}"
            );
            assert!(message.contains(&config.display().to_string()), "{message}");
            assert!(message.contains("`https://h:1/v1/`"), "{message}");
            assert!(message.contains("`h:1`"), "{message}");
            assert!(message.contains(reason), "{message}");
            assert!(
                !message.contains("secretpw") && !message.contains(&auth),
                "{message}"
            );
        }
    }

    #[test]
    fn identity_tokens_are_unsupported() {
        let env = Env::new();
        let config = env.config(r#"{"auths": {"h:1": {"identitytoken": "tok"}}}"#);
        let err = env.lookup("h:1", &config).unwrap_err();
        assert!(matches!(err, CredentialsError::Unsupported { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains(&config.display().to_string()) && message.contains("`h:1`"));
        assert!(!message.contains("tok`"), "{message}");
        let config = env.config(&format!(
            r#"{{"auths": {{"h:1": {{"auth": "{}", "identitytoken": "tok"}}}}}}"#,
            b64("u:")
        ));
        assert!(matches!(
            env.lookup("h:1", &config),
            Err(CredentialsError::Unsupported { .. })
        ));
        // A password alongside a token is used.
        let config = env.config(&format!(
            r#"{{"auths": {{"h:1": {{"auth": "{}", "identitytoken": "tok"}}}}}}"#,
            b64("u:p")
        ));
        assert_eq!(user_pass(env.lookup("h:1", &config).unwrap()).1, "p");
    }

    #[test]
    fn malformed_json_names_the_file_not_the_content() {
        let env = Env::new();
        for json in [
            r#"{"auths": {"h:1": {"auth": "c2VjcmV0"}"#,
            r#"{"auths": "s3cretvalue"}"#,
            r#"{"auths": {"h:1": {"password": 5}}}"#,
            "[1]",
        ] {
            let config = env.config(json);
            let err = env.lookup("h:1", &config).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, CredentialsError::Json { .. }), "{message}");
            assert!(message.contains(&config.display().to_string()), "{message}");
            assert!(
                !message.contains("s3cret") && !message.contains("c2VjcmV0"),
                "{message}"
            );
        }
    }

    #[test]
    fn non_regular_and_large_files_are_refused() {
        let env = Env::new();
        let err = env.lookup("h:1", env.dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                CredentialsError::NotAFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{err}"
        );

        let big = env.config(&format!(r#"{{"x": "{}"}}"#, "a".repeat(1 << 20)));
        let err = env.lookup("h:1", &big).unwrap_err();
        assert!(matches!(err, CredentialsError::TooLarge { .. }), "{err}");

        let fifo = env.dir.path().join("fifo");
        let made = Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|status| status.success()) {
            let err = env.lookup("h:1", &fifo).unwrap_err();
            assert!(
                matches!(err, CredentialsError::NotAFile { kind: "a FIFO", .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn hosts_that_would_break_the_protocol_are_refused() {
        let env = Env::new();
        let config = env.config("{}");
        for host in ["", "a\nb", "a b", "h/x", &"h".repeat(MAX_HOST + 1)] {
            let err = env.lookup(host, &config).unwrap_err();
            assert!(
                matches!(err, CredentialsError::InvalidHost { .. }),
                "{host:?}"
            );
            assert!(!err.to_string().contains('\n'));
            assert!(from_docker_config(host, Some(&config)).is_err());
        }
    }

    #[test]
    fn key_hosts() {
        assert_eq!(key_host("h:1"), "h:1");
        assert_eq!(key_host("https://h:1/v1/"), "h:1");
        assert_eq!(key_host("http://u@h"), "h");
        assert_eq!(key_host("h/path"), "h");
        assert_eq!(key_host("https://h?x"), "h");
        assert!(is_helper_name("ecr-login") && is_helper_name("a.b_c"));
        assert!(!is_helper_name("") && !is_helper_name("../x") && !is_helper_name("a b"));
    }

    #[test]
    fn shown_escapes_and_cuts() {
        assert_eq!(shown("a\nb\"c"), "a\\nb\\\"c");
        let long = shown(&"x".repeat(500));
        assert_eq!(long.chars().count(), MAX_SHOWN + 1);
        assert!(long.ends_with('…'));
        assert_eq!(shown(&"y".repeat(MAX_SHOWN)), "y".repeat(MAX_SHOWN));
    }

    /// A helper answering with the server URL it was given as the user
    /// name, and its arguments as the secret.
    const ECHO_HELPER: &str = r#"read -r url
printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$url" "$url" "$*""#;

    #[test]
    fn helper_gets_the_server_url() {
        let _guard = lock();
        let env = Env::new();
        env.helper("test", ECHO_HELPER);
        let config = env.config(r#"{"credsStore": "test"}"#);
        let (user, pass, source) = user_pass(env.lookup("127.0.0.1:5000", &config).unwrap());
        assert_eq!((user.as_str(), pass.as_str()), ("127.0.0.1:5000", "get"));
        assert_eq!(source, CredentialSource::DockerConfigHelper("test".into()));
        for host in ["docker.io", "index.docker.io"] {
            let (user, _, _) = user_pass(env.lookup(host, &config).unwrap());
            assert_eq!(user, "https://index.docker.io/v1/");
        }
    }

    #[test]
    fn helper_precedence() {
        let _guard = lock();
        let env = Env::new();
        env.helper(
            "specific",
            r#"read -r url; printf '{"Username":"specific","Secret":"s"}'"#,
        );
        env.helper(
            "store",
            r#"read -r url; printf '{"Username":"store","Secret":"s"}'"#,
        );
        env.helper(
            "empty",
            r#"read -r url; echo "credentials not found in native keychain"; exit 1"#,
        );
        let config = env.config(&format!(
            r#"{{"credHelpers": {{"https://a:1": "specific", "b:1": "empty", "c:1": ""}},
                "credsStore": "store",
                "auths": {{"b:1": {{"auth": "{}"}}, "c:1": {{"auth": "{}"}}}}}}"#,
            b64("fromauths:x"),
            b64("unused:x"),
        ));
        assert_eq!(user_pass(env.lookup("a:1", &config).unwrap()).0, "specific");
        // credHelpers' helper has nothing: auths is next, not credsStore.
        let (user, _, source) = user_pass(env.lookup("b:1", &config).unwrap());
        assert_eq!(user, "fromauths");
        assert_eq!(source, CredentialSource::DockerConfigAuths(config.clone()));
        // An empty credHelpers value leaves the host to credsStore.
        assert_eq!(user_pass(env.lookup("c:1", &config).unwrap()).0, "store");
        assert_eq!(user_pass(env.lookup("d:1", &config).unwrap()).0, "store");

        let config = env.config(r#"{"credsStore": "empty"}"#);
        assert!(env.lookup("d:1", &config).unwrap().is_none());
    }

    #[test]
    fn helper_not_found_or_badly_named() {
        let _guard = lock();
        let env = Env::new();
        let config = env.config(r#"{"credsStore": "absent"}"#);
        let err = env.lookup("h:1", &config).unwrap_err();
        assert!(
            matches!(err, CredentialsError::HelperNotFound { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("docker-credential-absent"));
        // No PATH at all.
        let err = from_docker_config_with("h:1", &config, None).unwrap_err();
        assert!(
            matches!(err, CredentialsError::HelperNotFound { .. }),
            "{err}"
        );
        // A relative PATH entry is not searched.
        env.helper("rel", ECHO_HELPER);
        let config = env.config(r#"{"credsStore": "rel"}"#);
        let err = from_docker_config_with("h:1", &config, Some(OsStr::new("bin"))).unwrap_err();
        assert!(
            matches!(err, CredentialsError::HelperNotFound { .. }),
            "{err}"
        );
        // Not executable.
        std::fs::write(env.bin().join("docker-credential-noexec"), "").unwrap();
        let config = env.config(r#"{"credsStore": "noexec"}"#);
        assert!(matches!(
            env.lookup("h:1", &config),
            Err(CredentialsError::HelperNotFound { .. })
        ));

        let config = env.config(r#"{"credHelpers": {"h:1": "../../bin/sh"}}"#);
        let err = env.lookup("h:1", &config).unwrap_err();
        assert!(
            matches!(err, CredentialsError::InvalidHelperName { .. }),
            "{err}"
        );
        assert!(err.to_string().contains(&config.display().to_string()));
    }

    #[test]
    fn helper_failures_show_an_escaped_cut_message_and_no_secret() {
        let _guard = lock();
        let env = Env::new();
        env.helper(
            "loud",
            r#"read -r url; printf 'line one\nline two %0300d' 0 >&2; exit 3"#,
        );
        env.helper("quiet", "exit 4");
        env.helper(
            "jsonfail",
            r#"printf '{"Username":"u","Secret":"s3cretvalue"}'; exit 1"#,
        );
        env.helper("stdoutmsg", r#"echo "error: keychain is locked"; exit 1"#);

        let config = env.config(r#"{"credsStore": "loud"}"#);
        let err = env.lookup("h:1", &config).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, CredentialsError::HelperFailed { .. }),
            "{message}"
        );
        assert!(message.contains("docker-credential-loud") && message.contains("`h:1`"));
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(message.contains(r"line one\nline two 000"), "{message}");
        assert!(
            !message.contains('\n') && message.ends_with('…'),
            "{message}"
        );
        assert!(message.len() < 400, "{message}");

        let config = env.config(r#"{"credsStore": "quiet"}"#);
        let message = env.lookup("h:1", &config).unwrap_err().to_string();
        assert!(message.ends_with("(exit status: 4)"), "{message}");

        let config = env.config(r#"{"credsStore": "jsonfail"}"#);
        let message = env.lookup("h:1", &config).unwrap_err().to_string();
        assert!(!message.contains("s3cret"), "{message}");

        let config = env.config(r#"{"credsStore": "stdoutmsg"}"#);
        let message = env.lookup("h:1", &config).unwrap_err().to_string();
        assert!(message.contains("keychain is locked"), "{message}");
    }

    #[test]
    fn helper_answers() {
        let _guard = lock();
        let env = Env::new();
        env.helper("token", r#"printf '{"Username":"<token>","Secret":"tok"}'"#);
        env.helper(
            "garbage",
            r#"printf '{"Username":"u","Secret":"s3cretvalue"'"#,
        );
        env.helper(
            "wrongtype",
            r#"printf '{"Username":"u","Secret":["s3cretvalue"]}'"#,
        );
        env.helper(
            "nothing",
            r#"printf '{"ServerURL":"x","Username":"","Secret":""}'"#,
        );
        env.helper("nouser", r#"printf '{"Secret":"s3cretvalue"}'"#);
        env.helper("nosecret", r#"printf '{"Username":"u"}'"#);

        let lookup = |name: &str| {
            let config = env.config(&format!(r#"{{"credsStore": "{name}"}}"#));
            env.lookup("h:1", &config)
        };
        let err = lookup("token").unwrap_err();
        assert!(matches!(err, CredentialsError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("docker-credential-token"));
        for name in ["garbage", "wrongtype", "nouser"] {
            let err = lookup(name).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, CredentialsError::HelperMalformed { .. }),
                "{message}"
            );
            assert!(!message.contains("s3cret"), "{message}");
        }
        assert!(lookup("nothing").unwrap().is_none());
        let (user, pass, _) = user_pass(lookup("nosecret").unwrap());
        assert_eq!((user.as_str(), pass.as_str()), ("u", ""));
    }

    #[test]
    fn helper_runs_are_bounded() {
        let _guard = lock();
        let env = Env::new();
        env.helper("slow", "exec sleep 20");
        env.helper("flood", "exec yes");
        let program = |name: &str| env.bin().join(format!("docker-credential-{name}"));

        let started = Instant::now();
        let result = run_helper(
            &program("slow"),
            "h:1",
            Some(&env.path_env()),
            Duration::from_millis(300),
        );
        assert!(matches!(result, Err(RunError::Timeout)));
        assert!(started.elapsed() < Duration::from_secs(10));

        let config = env.config(r#"{"credsStore": "flood"}"#);
        let err = env.lookup("h:1", &config).unwrap_err();
        assert!(
            matches!(err, CredentialsError::HelperOutputTooLarge { .. }),
            "{err}"
        );

        let config = env.config(r#"{"credsStore": "slow"}"#);
        let err = lookup(
            "h:1",
            &config,
            Some(&env.path_env()),
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(
            matches!(err, CredentialsError::HelperTimeout { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("killed"));
    }

    #[test]
    fn helper_that_ignores_stdin_is_fine() {
        let _guard = lock();
        let env = Env::new();
        env.helper("deaf", r#"exec printf '{"Username":"u","Secret":"p"}'"#);
        let config = env.config(r#"{"credsStore": "deaf"}"#);
        let (user, pass, _) = user_pass(env.lookup("h:1", &config).unwrap());
        assert_eq!((user.as_str(), pass.as_str()), ("u", "p"));
    }
}
