//! One registry host: how to reach it, who to be, and when to retry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use bulwark_http::{Client, ErrorKind, Method, Response};

use crate::challenge::{self, Challenge};
use crate::credentials::{self, CredentialSource, Credentials};
use crate::Error;

/// The host a reference without one names, and where its API really is.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// The most bytes of an error answer or a token answer read.
const SMALL_BODY: u64 = 64 << 10;

/// How long a request for a document (a manifest, an index, a token, an
/// error) may take, its body included.
const DOCUMENT_DEADLINE: Duration = Duration::from_secs(300);

/// How a [`Registry`] is reached and retried.
#[derive(Clone, Debug)]
pub struct Options {
    /// Credentials given on the command line or in the environment; they
    /// come before the Docker config file.
    pub credentials: Option<Credentials>,
    /// The Docker config file; `None` is `$DOCKER_CONFIG/config.json`,
    /// else `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
    /// Registries (`HOST[:PORT]`) that may be reached over plain HTTP.
    pub insecure: Vec<String>,
    /// CA certificates (PEM) trusted besides the system bundle.
    pub ca_files: Vec<PathBuf>,
    /// How often a `429`, a `5xx` or a broken connection is retried: 4.
    pub retries: u32,
    /// The longest pause before a retry, whatever `Retry-After` says: 30 s.
    pub retry_max_wait: Duration,
    /// The first pause before a retry, doubled each time: 500 ms.
    pub retry_pause: Duration,
    /// The size of one upload request: 16 MiB.
    pub chunk_size: u64,
    /// Blobs transferred at once: 4.
    pub parallel: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            credentials: None,
            docker_config: None,
            insecure: Vec::new(),
            ca_files: Vec::new(),
            retries: 4,
            retry_max_wait: Duration::from_secs(30),
            retry_pause: Duration::from_millis(500),
            chunk_size: 16 << 20,
            parallel: 4,
        }
    }
}

/// A request body.
#[derive(Clone, Copy)]
pub(crate) enum Body<'a> {
    None,
    Bytes(&'a [u8]),
}

/// What a request is for: the repositories it acts on, for the token's
/// scope, and how to name it in errors.
pub(crate) struct Access<'a> {
    pub(crate) repository: &'a str,
    pub(crate) push: bool,
    /// Another repository read from (a cross-repository mount).
    pub(crate) from: Option<&'a str>,
}

impl Access<'_> {
    fn scopes(&self) -> Vec<String> {
        let mut scopes = vec![format!(
            "repository:{}:{}",
            self.repository,
            if self.push { "pull,push" } else { "pull" }
        )];
        if let Some(from) = self.from.filter(|f| *f != self.repository) {
            scopes.push(format!("repository:{from}:pull"));
        }
        scopes
    }

    fn describe(&self) -> String {
        if self.push {
            format!("push to `{}`", self.repository)
        } else {
            format!("pull from `{}`", self.repository)
        }
    }
}

/// How requests are authorized, learnt from the registry's challenges.
#[derive(Default)]
struct AuthState {
    /// The registry asked for Basic authentication.
    basic: bool,
    /// The registry's bearer challenge (realm and service).
    bearer: Option<(String, Option<String>)>,
    /// Tokens by their scopes, joined by spaces.
    tokens: HashMap<String, String>,
}

/// A registry host: its scheme, credentials, tokens and retry policy.
/// Shared by the repositories of one host; cheap to share in an [`Arc`].
pub struct Registry {
    host: String,
    api_host: String,
    client: Client,
    options: Options,
    base: OnceLock<String>,
    probing: Mutex<()>,
    authenticating: Mutex<()>,
    credentials: OnceLock<Option<(Credentials, CredentialSource)>>,
    auth: Mutex<AuthState>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// The origin of a URL, lower-cased, with the scheme's default port left
/// out: `https://host` for `https://Host:443/v2/…`.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let mut authority = authority.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    if authority.ends_with(default) {
        authority.truncate(authority.len() - default.len());
    }
    format!("{scheme}://{authority}")
}

/// Whether `host` (`HOST[:PORT]`) is this machine: `localhost`, an address
/// of 127.0.0.0/8, or `[::1]`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Registry {
    /// The registry `host` (`HOST[:PORT]`, as in an image reference) with
    /// `options`; nothing is sent yet.
    pub fn new(host: &str, options: &Options) -> Result<Registry, Error> {
        let http = bulwark_http::Options {
            extra_ca_files: options.ca_files.clone(),
            retries: 0,
            ..bulwark_http::Options::default()
        };
        let client = Client::with_options(&http).map_err(|source| Error::Http {
            registry: host.to_owned(),
            source,
        })?;
        let api_host = if host == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            host
        };
        Ok(Registry {
            host: host.to_owned(),
            api_host: api_host.to_owned(),
            client,
            options: options.clone(),
            base: OnceLock::new(),
            probing: Mutex::new(()),
            authenticating: Mutex::new(()),
            credentials: OnceLock::new(),
            auth: Mutex::new(AuthState::default()),
        })
    }

    /// The host, as the image reference names it.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    fn http_error(&self, source: bulwark_http::Error) -> Error {
        Error::Http {
            registry: self.host.clone(),
            source,
        }
    }

    /// `https://HOST` or, for a loopback or `insecure` host that does not
    /// speak TLS, `http://HOST`; found by asking `/v2/` once. A server that
    /// answers the TLS handshake in plain HTTP, or hangs up on it, does not
    /// speak TLS; a certificate that cannot be verified is an error, never
    /// a reason for plain HTTP.
    fn base(&self) -> Result<&str, Error> {
        if let Some(base) = self.base.get() {
            return Ok(base);
        }
        // One probe, whichever thread asks first; the others wait for it.
        let _probing = self.probing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(base) = self.base.get() {
            return Ok(base);
        }
        let https = format!("https://{}", self.api_host);
        let plain_allowed = is_loopback(&self.host)
            || self
                .options
                .insecure
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&self.host));
        // Where plain HTTP is allowed, a server that hangs up on the TLS
        // handshake is not retried: it is asked in plain HTTP at once.
        let base = match self.ping(&https, !plain_allowed) {
            Ok(()) => https,
            Err(Error::Http { source, .. })
                if plain_allowed
                    && matches!(source.kind(), Some(ErrorKind::NotTls | ErrorKind::Network)) =>
            {
                let http = format!("http://{}", self.api_host);
                self.ping(&http, true)?;
                http
            }
            Err(err) => return Err(err),
        };
        Ok(self.base.get_or_init(|| base))
    }

    /// Finds how to reach the registry now, so that parallel work after it
    /// does not each find out that it cannot.
    pub(crate) fn connect(&self) -> Result<(), Error> {
        self.base().map(|_| ())
    }

    /// `GET /v2/`, which a registry answers `200` or `401`; learns the
    /// registry's challenge.
    fn ping(&self, base: &str, retry: bool) -> Result<(), Error> {
        let url = format!("{base}/v2/");
        let attempt = || {
            self.client
                .request(Method::Get, &url)
                .send()
                .map_err(|e| self.http_error(e))
        };
        let response = if retry {
            self.retrying(attempt)?
        } else {
            attempt()?
        };
        match response.status() {
            200 => Ok(()),
            401 => {
                self.learn(&response);
                Ok(())
            }
            _ => Err(self.status_error(response, format!("GET `{url}` (the registry API)"))),
        }
    }

    /// Remembers what a `401` answer's challenge asks for.
    fn learn(&self, response: &Response) {
        let Some(challenge) = response
            .header("www-authenticate")
            .and_then(challenge::parse)
        else {
            return;
        };
        let mut auth = self.lock_auth();
        match challenge {
            Challenge::Basic { .. } => auth.basic = true,
            Challenge::Bearer { realm, service, .. } => auth.bearer = Some((realm, service)),
        }
    }

    fn lock_auth(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The credentials to use: the caller's, else the Docker config's.
    fn credentials(&self) -> Result<Option<&Credentials>, Error> {
        if let Some(found) = self.credentials.get() {
            return Ok(found.as_ref().map(|(c, _)| c));
        }
        let found = match &self.options.credentials {
            Some(c) => Some((c.clone(), CredentialSource::Explicit)),
            None => {
                credentials::from_docker_config(&self.host, self.options.docker_config.as_deref())?
            }
        };
        Ok(self
            .credentials
            .get_or_init(|| found)
            .as_ref()
            .map(|(c, _)| c))
    }

    fn credential_source(&self) -> String {
        match self.credentials.get() {
            Some(Some((c, source))) => {
                let from = match source {
                    CredentialSource::Explicit => "given to bulwark".to_owned(),
                    CredentialSource::DockerConfigHelper(h) => {
                        format!("from credential helper `docker-credential-{h}`")
                    }
                    CredentialSource::DockerConfigAuths(path) => {
                        format!("from `{}`", path.display())
                    }
                    CredentialSource::Anonymous => "anonymous".to_owned(),
                };
                format!(
                    "the credentials of user `{}` ({from})",
                    c.username.escape_debug()
                )
            }
            _ => "anonymous access".to_owned(),
        }
    }

    /// The `Authorization` header for `access`, if one is known.
    fn authorization(&self, access: &Access<'_>) -> Result<Option<String>, Error> {
        let (basic, bearer) = {
            let auth = self.lock_auth();
            let key = access.scopes().join(" ");
            (auth.basic, auth.tokens.get(&key).cloned())
        };
        if let Some(token) = bearer {
            return Ok(Some(format!("Bearer {token}")));
        }
        if basic {
            return Ok(self.credentials()?.map(Credentials::basic_header));
        }
        Ok(None)
    }

    /// Answers a `401`: fetches a token for `access`, or takes up Basic
    /// authentication. Errors when there is nothing more to try.
    fn authenticate(
        &self,
        response: &Response,
        access: &Access<'_>,
        sent: Option<&str>,
    ) -> Result<(), Error> {
        // One thread at a time asks for credentials and tokens: parallel
        // transfers share what it gets instead of each running a credential
        // helper or a token request.
        let _one = self
            .authenticating
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if self.authorization(access)?.as_deref() != sent {
            return Ok(());
        }
        let refused = |reason: String| Error::Auth {
            registry: self.host.clone(),
            what: access.describe(),
            reason,
        };
        let challenge = response
            .header("www-authenticate")
            .and_then(challenge::parse)
            .ok_or_else(|| {
                refused("it answered 401 without a usable `WWW-Authenticate` challenge".into())
            })?;
        match challenge {
            Challenge::Basic { .. } => {
                if self.credentials()?.is_none() {
                    return Err(refused(
                        "it asks for credentials and none were given".into(),
                    ));
                }
                self.lock_auth().basic = true;
                Ok(())
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let mut scopes = access.scopes();
                if let Some(scope) = scope {
                    for s in scope.split(' ').filter(|s| !s.is_empty()) {
                        if !scopes.iter().any(|have| have == s) {
                            scopes.push(s.to_owned());
                        }
                    }
                }
                let token = self.fetch_token(&realm, service.as_deref(), &scopes, access)?;
                self.lock_auth()
                    .tokens
                    .insert(access.scopes().join(" "), token);
                Ok(())
            }
        }
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        access: &Access<'_>,
    ) -> Result<String, Error> {
        let url = challenge::token_url(realm, service, scopes);
        let credentials = self.credentials()?;
        if credentials.is_some() && !self.may_send_credentials(realm) {
            return Err(Error::Auth {
                registry: self.host.clone(),
                what: access.describe(),
                reason: format!(
                    "its token service `{}` is plain HTTP on another machine: bulwark sends no credentials there (use --insecure for this registry to allow it)",
                    bulwark_http::redact_url(realm)
                ),
            });
        }
        let response = self.retrying(|| {
            let mut request = self.client.request(Method::Get, &url);
            if let Some(c) = credentials {
                request = request.header("authorization", &c.basic_header());
            }
            request.send().map_err(|e| self.http_error(e))
        })?;
        let status = response.status();
        if status == 401 || status == 403 {
            return Err(Error::Auth {
                registry: self.host.clone(),
                what: access.describe(),
                reason: format!(
                    "its token service `{}` answered {status} for {}",
                    bulwark_http::redact_url(realm),
                    self.credential_source()
                ),
            });
        }
        let body = response
            .success()
            .and_then(|r| r.bytes(SMALL_BODY))
            .map_err(|e| self.http_error(e))?;
        challenge::parse_token_response(&body)
            .map(|t| t.token)
            .map_err(|reason| Error::Protocol {
                registry: self.host.clone(),
                reason: format!("its token service answered {reason}"),
            })
    }

    /// Whether credentials may go to the token service `realm`: over
    /// `https`, to this machine, or to a registry named `insecure`.
    fn may_send_credentials(&self, realm: &str) -> bool {
        let realm = realm.to_ascii_lowercase();
        let Some(rest) = realm.strip_prefix("http://") else {
            return true;
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        is_loopback(host)
            || self
                .options
                .insecure
                .iter()
                .any(|h| h.eq_ignore_ascii_case(&self.host))
    }

    /// The URL of `path` (`/v2/…`, or a `Location` the registry gave:
    /// absolute or relative), and whether it is on the registry's own
    /// origin. A location of another scheme than `http(s)`, or one that
    /// leaves `https` for `http`, is refused: a registry does not get to
    /// make bulwark read a local file or talk in clear text.
    fn target(&self, path: &str) -> Result<(String, bool), Error> {
        let base = self.base()?;
        if path.starts_with('/') {
            return Ok((format!("{base}{path}"), true));
        }
        let lower = path.to_ascii_lowercase();
        let refused = |why: &str| Error::Protocol {
            registry: self.host.clone(),
            reason: format!(
                "it sent the location `{}`, which {why}",
                bulwark_http::redact_url(path).escape_debug()
            ),
        };
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(refused("is not an http(s) URL or an absolute path"));
        }
        if base.starts_with("https://") && lower.starts_with("http://") {
            return Err(refused("leaves https for plain http"));
        }
        Ok((path.to_owned(), self.same_origin(path)))
    }

    /// Whether `url` is on the registry's scheme, host and port.
    fn same_origin(&self, url: &str) -> bool {
        self.base().is_ok_and(|base| origin(url) == origin(base))
    }

    /// Sends `method path` (`/v2/…`, or an absolute URL the registry gave)
    /// for `access`, authenticating as challenged and retrying transient
    /// failures when `idempotent`. Returns the answer whatever its status
    /// (but `401` after authenticating is an error).
    pub(crate) fn send(
        &self,
        method: Method,
        path: &str,
        access: &Access<'_>,
        headers: &[(&str, &str)],
        body: Body<'_>,
        idempotent: bool,
    ) -> Result<Response, Error> {
        let (url, own_host) = self.target(path)?;
        // Documents, tokens and errors are small: the whole exchange has a
        // deadline, so a registry that sends a byte a minute cannot hold
        // bulwark forever. Blob transfers are bounded by their size.
        let bulk = (method == Method::Get && path.contains("/blobs/"))
            || matches!(body, Body::Bytes(b) if b.len() as u64 > SMALL_BODY);
        let mut authenticated = false;
        loop {
            // Credentials and tokens go to the registry's own origin only.
            let authorization = if own_host {
                self.authorization(access)?
            } else {
                None
            };
            let attempt = || {
                let mut request = self.client.request(method, &url);
                if !bulk {
                    request = request.deadline(DOCUMENT_DEADLINE);
                }
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                if let Some(value) = &authorization {
                    request = request.header("authorization", value);
                }
                let sent = match body {
                    Body::None => request.send(),
                    Body::Bytes(bytes) => request.send_bytes(bytes),
                };
                sent.map_err(|e| self.http_error(e))
            };
            let response = if idempotent {
                self.retrying(attempt)?
            } else {
                attempt()?
            };
            if response.status() != 401 {
                return Ok(response);
            }
            // A 401 from elsewhere (a redirect's target, another origin's
            // location) gets no credentials of this registry.
            if authenticated || !own_host || !self.same_origin(&response.url()) {
                return Err(Error::Auth {
                    registry: self.host.clone(),
                    what: access.describe(),
                    reason: format!("it answered 401 to {}", self.credential_source()),
                });
            }
            self.authenticate(&response, access, authorization.as_deref())?;
            authenticated = true;
        }
    }

    /// Runs `attempt` until it gives an answer that is not `429` or `5xx`
    /// and no broken connection, up to the retries of the options, pausing
    /// with backoff or as `Retry-After` says (capped).
    pub(crate) fn retrying(
        &self,
        mut attempt: impl FnMut() -> Result<Response, Error>,
    ) -> Result<Response, Error> {
        let mut pause = self.options.retry_pause;
        let mut retries = self.options.retries;
        loop {
            let wait = match attempt() {
                Ok(response) if retries > 0 && is_retryable(response.status()) => response
                    .header("retry-after")
                    .and_then(retry_after)
                    .unwrap_or(pause),
                Err(err) if retries > 0 && err.is_transient() => pause,
                result => return result,
            };
            retries -= 1;
            std::thread::sleep(wait.min(self.options.retry_max_wait));
            pause = (pause * 2).min(self.options.retry_max_wait);
        }
    }

    /// An error for an answer that is not what `what` needed, with the
    /// registry's own error codes and messages.
    pub(crate) fn status_error(&self, response: Response, what: String) -> Error {
        let status = response.status();
        let detail = response
            .bytes(SMALL_BODY)
            .ok()
            .and_then(|body| error_detail(&body));
        Error::Status {
            registry: self.host.clone(),
            what,
            status,
            detail,
        }
    }
}

/// A `Retry-After` value: seconds, or an HTTP date (the time until it;
/// none when it has passed).
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let wait = at
        .as_second()
        .saturating_sub(jiff::Timestamp::now().as_second());
    Some(Duration::from_secs(u64::try_from(wait).unwrap_or(0)))
}

fn is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429) || status >= 500
}

/// The codes and messages of a registry's error body
/// (`{"errors":[{"code":…,"message":…}]}`), escaped and shortened.
fn error_detail(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let errors: Errors = serde_json::from_slice(body).ok()?;
    let text = errors
        .errors
        .iter()
        .take(3)
        .map(|e| format!("{} {}", e.code, e.message).trim().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let mut text: String = text.chars().take(300).collect();
    text = text.escape_debug().to_string();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120);
        let header = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&later)
            .unwrap();
        let wait = retry_after(&header).unwrap();
        assert!((110..=120).contains(&wait.as_secs()), "{header}: {wait:?}");
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.9.0.1",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example:1",
            "[::2]:5000",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn error_bodies_are_summarized_and_escaped() {
        let body = br#"{"errors":[{"code":"MANIFEST_INVALID","message":"bad\u001b[31m"}]}"#;
        assert_eq!(
            error_detail(body).unwrap(),
            "MANIFEST_INVALID bad\\u{1b}[31m"
        );
        assert_eq!(error_detail(b"<html>"), None);
    }

    #[test]
    fn locations_stay_on_http_and_credentials_on_their_origin() {
        let registry = Registry::new("registry.example:5000", &Options::default()).unwrap();
        registry
            .base
            .set("https://registry.example:5000".to_owned())
            .unwrap();
        let ok = |p: &str| registry.target(p).unwrap();
        assert_eq!(
            ok("/v2/a/blobs/uploads/1"),
            (
                "https://registry.example:5000/v2/a/blobs/uploads/1".to_owned(),
                true
            )
        );
        assert!(ok("HTTPS://Registry.Example:5000/v2/x?_state=1").1);
        assert!(
            !ok("https://storage.example/upload/1").1,
            "another host gets no credentials"
        );
        assert!(
            !ok("https://registry.example:5001/v2/x").1,
            "nor another port"
        );
        for hostile in [
            "file:///etc/passwd",
            "http://registry.example:5000/v2/x",
            "uploads/1",
        ] {
            let err = registry.target(hostile).unwrap_err().to_string();
            assert!(err.contains("registry.example:5000"), "{err}");
        }
    }

    #[test]
    fn scopes_name_every_repository() {
        let access = Access {
            repository: "a/b",
            push: true,
            from: Some("c"),
        };
        assert_eq!(
            access.scopes(),
            ["repository:a/b:pull,push", "repository:c:pull"]
        );
    }
}
