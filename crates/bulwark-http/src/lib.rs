//! This crate provides bulwark's one HTTP client: every download of the
//! repository client, the package downloader and `bulwark db update` goes
//! through it, and the registry client builds on it.
//!
//! # Brief overview
//!
//! A [`Client`] (an HTTP agent with a connection pool) trusts the system's
//! CA bundle ([`SYSTEM_CA_BUNDLE`]) plus any extra CA files given in
//! [`Options`], not roots compiled into the program, so that private
//! mirrors and registries work. It has bulwark's timeouts (connecting, and
//! silence while waiting for or reading an answer), sends the user agent
//! `bulwark/VERSION`, takes proxies from the environment, and serves
//! `file://` URLs from the local filesystem.
//!
//! - [`Client::request`] builds a [`Request`] (any [`Method`], headers, a
//!   bearer token, a body of bytes or a stream) that makes **one** attempt
//!   and returns a [`Response`] whatever its status: its status, headers
//!   and a size-bounded [`Body`] reader.
//! - [`Client::get`] and [`Client::get_bytes`] are the common case: a `GET`
//!   that must succeed, retried by the client's policy.
//! - [`Client::retry`] is that policy (one retry after a short pause, for
//!   timeouts, broken connections and `408`/`429`/`5xx` answers), for work
//!   that spans a body, such as streaming a download into a cache.
//!
//! Every body read has a bound, and a `Content-Length` above it is refused
//! before anything is read. Credentials in a URL's userinfo are sent as
//! HTTP Basic authentication, never as part of the URL, and every error and
//! [`Response::url`] shows URLs through [`redact_url`]. Redirects are
//! followed for requests without a body, never from `https` to `http`, and
//! credentials are not sent to another host.

mod file;
mod redact;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use file::file_url_path;
pub use redact::redact_url;

/// The system's CA bundle on Debian and its derivatives (package
/// `ca-certificates`), which a [`Client`] trusts by default.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The most bytes a CA file may have.
const CA_FILE_LIMIT: u64 = 16 << 20;

/// Redirects followed per request.
const MAX_REDIRECTS: usize = 10;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URL could not be fetched, or its answer was not what was asked for.
    #[error("cannot fetch `{url}`: {reason}")]
    Fetch {
        /// The URL, credentials redacted.
        url: String,
        /// What went wrong, credentials redacted.
        reason: String,
        /// What kind of failure it is.
        kind: ErrorKind,
    },
    /// A CA file given to [`Client::with_options`] cannot be used.
    #[error("cannot use the CA certificates `{}`: {reason}", path.display())]
    Certificates {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The kind of a [`Error::Fetch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server answered 404 or 410, or the local file does not exist.
    NotFound,
    /// The server answered another status than success.
    Status(u16),
    /// The connection failed, broke off or timed out: retrying may help.
    Network,
    /// The body is larger than the caller's bound.
    TooLarge,
    /// The TLS connection could not be established or verified.
    Tls,
    /// The server answered the TLS handshake with something that is not
    /// TLS: it speaks plain HTTP on that port. (A certificate that cannot be
    /// verified is [`ErrorKind::Tls`], never this.)
    NotTls,
    /// The request is refused before it is sent (an unsupported URL, a
    /// redirect from `https` to `http`, too many redirects).
    Refused,
    /// A local file could not be read.
    Io,
}

impl Error {
    /// The kind of failure; `None` for [`Error::Certificates`].
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Fetch { kind, .. } => Some(*kind),
            Error::Certificates { .. } => None,
        }
    }

    /// The server answered 404 or 410, or the local file does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(ErrorKind::NotFound)
    }

    /// Retrying may help: a timeout, a broken connection, or a `408`,
    /// `429` or `5xx` answer.
    pub fn is_transient(&self) -> bool {
        match self.kind() {
            Some(ErrorKind::Network) => true,
            Some(ErrorKind::Status(code)) => transient_status(code),
            _ => false,
        }
    }

    fn fetch(url: &str, kind: ErrorKind, reason: impl std::fmt::Display) -> Error {
        let reason = match kind {
            ErrorKind::NotTls => format!("the server does not speak TLS ({reason})"),
            _ => reason.to_string(),
        };
        Error::Fetch {
            url: redact_url(url),
            reason: redact::scrub(&reason.to_string(), url),
            kind,
        }
    }
}

fn transient_status(code: u16) -> bool {
    matches!(code, 408 | 429) || code >= 500
}

/// How a [`Client`] is set up; [`Options::default`] is what
/// [`Client::new`] uses.
#[derive(Clone, Debug)]
pub struct Options {
    /// The CA bundle trusted for `https` (PEM): [`SYSTEM_CA_BUNDLE`].
    pub ca_bundle: PathBuf,
    /// More CA certificates (PEM files) trusted besides the bundle, for a
    /// private mirror or registry.
    pub extra_ca_files: Vec<PathBuf>,
    /// How long connecting (name lookup, TCP and TLS) may take: 20 s.
    pub connect_timeout: Duration,
    /// How long the server may stay silent while a request is sent, its
    /// answer awaited or its body read: 60 s.
    pub read_timeout: Duration,
    /// How often a transient failure is retried by [`Client::retry`]: 1.
    pub retries: u32,
    /// The pause before a retry: 300 ms.
    pub retry_pause: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ca_bundle: PathBuf::from(SYSTEM_CA_BUNDLE),
            extra_ca_files: Vec::new(),
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
            retries: 1,
            retry_pause: Duration::from_millis(300),
        }
    }
}

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`.
    Head,
    /// `PUT`.
    Put,
    /// `POST`.
    Post,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Method {
    fn as_http(self) -> ureq::http::Method {
        use ureq::http::Method as M;
        match self {
            Method::Get => M::GET,
            Method::Head => M::HEAD,
            Method::Put => M::PUT,
            Method::Post => M::POST,
            Method::Patch => M::PATCH,
            Method::Delete => M::DELETE,
        }
    }
}

/// Fetches URLs over HTTP(S) or from the local filesystem. Cheap to clone
/// (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    /// Why `https` cannot be used (the system bundle is missing), reported
    /// when an `https` URL is requested rather than when the client is made,
    /// so that `http` and `file` URLs still work without it.
    tls_unavailable: Option<Arc<str>>,
    retries: u32,
    retry_pause: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("tls_unavailable", &self.tls_unavailable)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with the default [`Options`]. If the system CA bundle
    /// cannot be read, `https` requests fail naming it.
    pub fn new() -> Client {
        match Client::build(&Options::default()) {
            Ok(client) => client,
            // Only extra CA files make `build` fail, and there are none.
            Err(_) => Client::build_with_roots(&Options::default(), Vec::new(), None),
        }
    }

    /// A client with `options`; fails when an extra CA file cannot be read
    /// or holds no certificate. (A missing [`Options::ca_bundle`] fails
    /// `https` requests only, naming it.)
    pub fn with_options(options: &Options) -> Result<Client, Error> {
        Client::build(options)
    }

    /// A process-wide client with the default options, so that
    /// connections are reused.
    pub fn shared() -> &'static Client {
        static SHARED: OnceLock<Client> = OnceLock::new();
        SHARED.get_or_init(Client::new)
    }

    fn build(options: &Options) -> Result<Client, Error> {
        let mut roots = Vec::new();
        let tls_unavailable = match read_certificates(&options.ca_bundle) {
            Ok(mut certs) => {
                roots.append(&mut certs);
                None
            }
            Err(reason) => Some(Arc::from(format!(
                "cannot use the CA bundle `{}`: {reason}",
                options.ca_bundle.display()
            ))),
        };
        for path in &options.extra_ca_files {
            let mut certs = read_certificates(path).map_err(|reason| Error::Certificates {
                path: path.clone(),
                reason,
            })?;
            roots.append(&mut certs);
        }
        Ok(Client::build_with_roots(options, roots, tls_unavailable))
    }

    fn build_with_roots(
        options: &Options,
        roots: Vec<ureq::tls::Certificate<'static>>,
        tls_unavailable: Option<Arc<str>>,
    ) -> Client {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
            .build();
        let config = ureq::Agent::config_builder()
            .user_agent(concat!("bulwark/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_resolve(Some(options.connect_timeout))
            .timeout_connect(Some(options.connect_timeout))
            .timeout_send_request(Some(options.read_timeout))
            .timeout_recv_response(Some(options.read_timeout))
            .timeout_per_read(Some(options.read_timeout))
            .timeout_per_write(Some(options.read_timeout))
            .max_idle_connections_per_host(16)
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            tls_unavailable,
            retries: options.retries,
            retry_pause: options.retry_pause,
        }
    }

    /// A request of `method` for `url`, to add headers and a body to.
    pub fn request(&self, method: Method, url: &str) -> Request<'_> {
        Request {
            client: self,
            method,
            url: url.to_string(),
            headers: Vec::new(),
            deadline: None,
        }
    }

    /// `GET url`, retried by the client's policy; any answer but success
    /// (2xx) is an error.
    pub fn get(&self, url: &str) -> Result<Response, Error> {
        self.retry(
            || self.request(Method::Get, url).send()?.success(),
            Error::is_transient,
        )
    }

    /// All of `url`, refusing more than `limit` bytes; the request and the
    /// read are retried together by the client's policy.
    pub fn get_bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>, Error> {
        self.retry(
            || {
                self.request(Method::Get, url)
                    .send()?
                    .success()?
                    .bytes(limit)
            },
            Error::is_transient,
        )
    }

    /// Runs `attempt`, and again after a pause while it fails with an error
    /// that `transient` accepts, up to the client's number of retries: the
    /// one retry policy, for work that spans a request and its body.
    pub fn retry<T, E>(
        &self,
        mut attempt: impl FnMut() -> Result<T, E>,
        transient: impl Fn(&E) -> bool,
    ) -> Result<T, E> {
        let mut retries = self.retries;
        loop {
            match attempt() {
                Err(e) if retries > 0 && transient(&e) => {
                    retries -= 1;
                    std::thread::sleep(self.retry_pause);
                }
                result => return result,
            }
        }
    }

    fn execute(&self, request: Request<'_>, body: Payload<'_>) -> Result<Response, Error> {
        if let Some(path) = file_url_path(&request.url) {
            return open_file(&request.url, &path, request.method);
        }
        let mut url = request.url.clone();
        let mut headers = request.headers;
        let follow = matches!(body, Payload::None);
        let mut body = Some(body);
        for _ in 0..=MAX_REDIRECTS {
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err(Error::fetch(
                    &url,
                    ErrorKind::Refused,
                    "only http, https and file URLs are supported",
                ));
            }
            if lower.starts_with("https://") {
                if let Some(why) = &self.tls_unavailable {
                    return Err(Error::fetch(&url, ErrorKind::Tls, why));
                }
            }
            // Credentials in the URL become Basic authentication.
            let mut target = url.clone();
            let mut all_headers = headers.clone();
            if let Some((user, password, bare)) = redact::split_credentials(&url) {
                target = bare;
                if !all_headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
                {
                    use base64::Engine;
                    let token = base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{password}"));
                    all_headers.push(("authorization".into(), format!("Basic {token}")));
                }
            }
            let response = self.send_once(
                &url,
                &target,
                request.method,
                &all_headers,
                body.take().unwrap_or(Payload::None),
                request.deadline,
            )?;
            let location = response
                .header("location")
                .map(str::to_string)
                .filter(|_| follow && matches!(response.status, 301 | 302 | 303 | 307 | 308));
            let Some(location) = location else {
                return Ok(response);
            };
            let (next, same_host) = redirect(&url, &location)?;
            if !same_host {
                // Neither the caller's credentials nor the URL's go to
                // another host.
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
            }
            url = next;
        }
        Err(Error::fetch(
            &request.url,
            ErrorKind::Refused,
            format!("more than {MAX_REDIRECTS} redirects"),
        ))
    }

    fn send_once(
        &self,
        url: &str,
        target: &str,
        method: Method,
        headers: &[(String, String)],
        body: Payload<'_>,
        deadline: Option<Duration>,
    ) -> Result<Response, Error> {
        let mut builder = ureq::http::Request::builder()
            .method(method.as_http())
            .uri(target);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = match body {
            Payload::None => self.run(url, builder, (), deadline),
            Payload::Bytes(bytes) => self.run(url, builder, bytes, deadline),
            Payload::Reader(reader, length) => {
                if let Some(length) = length {
                    builder = builder.header("content-length", length.to_string());
                }
                self.run(url, builder, ureq::SendBody::from_reader(reader), deadline)
            }
        }?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(Response {
            url: url.to_string(),
            status,
            headers,
            length,
            reader: Box::new(response.into_body().into_reader()),
        })
    }
}

impl Client {
    fn run(
        &self,
        url: &str,
        builder: ureq::http::request::Builder,
        body: impl ureq::AsSendBody,
        deadline: Option<Duration>,
    ) -> Result<ureq::http::Response<ureq::Body>, Error> {
        let request = builder
            .body(body)
            .map_err(|e| Error::fetch(url, ErrorKind::Refused, e))?;
        let request = match deadline {
            Some(d) => self
                .agent
                .configure_request(request)
                .timeout_global(Some(d))
                .build(),
            None => request,
        };
        self.agent
            .run(request)
            .map_err(|e| Error::fetch(url, classify(&e), &e))
    }
}

/// Reads the certificates of a PEM file.
fn read_certificates(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let (file, len) = file::open(path).map_err(|e| e.to_string())?;
    if len > CA_FILE_LIMIT {
        return Err(format!("larger than the {CA_FILE_LIMIT}-byte limit"));
    }
    let mut pem = Vec::new();
    file.take(CA_FILE_LIMIT)
        .read_to_end(&mut pem)
        .map_err(|e| e.to_string())?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(format!("not a PEM file: {e}")),
        }
    }
    if certs.is_empty() {
        return Err("it holds no PEM certificate".into());
    }
    Ok(certs)
}

/// Where a redirect from `url` to `location` goes, and whether it stays on
/// the same host; a redirect from `https` to anything else is refused, and
/// credentials in the URL go to the same host only.
fn redirect(url: &str, location: &str) -> Result<(String, bool), Error> {
    let next = resolve_location(url, location);
    if url.to_ascii_lowercase().starts_with("https://")
        && !next.to_ascii_lowercase().starts_with("https://")
    {
        return Err(Error::fetch(
            url,
            ErrorKind::Refused,
            format!(
                "redirected from https to `{}`, which is not https",
                redact_url(&next)
            ),
        ));
    }
    let same_host = host_of(&next) == host_of(url);
    match redact::split_credentials(&next) {
        Some((_, _, bare)) if !same_host => Ok((bare, false)),
        _ => Ok((next, same_host)),
    }
}

/// The `host[:port]` of a URL, lower-cased, without userinfo.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.to_ascii_lowercase()
}

/// `location` (absolute, scheme-relative, absolute-path or relative) as
/// an absolute URL, relative to `base`.
fn resolve_location(base: &str, location: &str) -> String {
    let location = location.trim();
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(net) = location.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..authority_end]);
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = rest[authority_end..].split(['?', '#']).next().unwrap_or("");
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{origin}{dir}/{location}")
}

fn classify(e: &ureq::Error) -> ErrorKind {
    match e {
        ureq::Error::StatusCode(code) => status_kind(*code),
        // rustls reports a certificate it does not trust, and a server
        // that does not speak TLS, as I/O errors.
        ureq::Error::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidMessage(_)) => ErrorKind::NotTls,
            Some(_) => ErrorKind::Tls,
            None => ErrorKind::Network,
        },
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => {
            ErrorKind::Network
        }
        ureq::Error::Tls(_) | ureq::Error::Pem(_) | ureq::Error::Rustls(_) => ErrorKind::Tls,
        ureq::Error::BadUri(_) => ErrorKind::Refused,
        _ => ErrorKind::Io,
    }
}

fn status_kind(code: u16) -> ErrorKind {
    if matches!(code, 404 | 410) {
        ErrorKind::NotFound
    } else {
        ErrorKind::Status(code)
    }
}

fn open_file(url: &str, path: &Path, method: Method) -> Result<Response, Error> {
    if !matches!(method, Method::Get | Method::Head) {
        return Err(Error::fetch(
            url,
            ErrorKind::Refused,
            "a file URL can only be read",
        ));
    }
    let (file, length) = file::open(path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            ErrorKind::NotFound
        } else {
            ErrorKind::Io
        };
        Error::fetch(url, kind, e)
    })?;
    let reader: Box<dyn Read + Send> = match method {
        Method::Head => Box::new(std::io::empty()),
        _ => Box::new(file),
    };
    Ok(Response {
        url: url.to_string(),
        status: 200,
        headers: vec![("content-length".into(), length.to_string())],
        length: Some(length),
        reader,
    })
}

/// The body of a request.
enum Payload<'a> {
    None,
    Bytes(&'a [u8]),
    Reader(&'a mut (dyn Read + Send), Option<u64>),
}

/// A request being built; [`Request::send`] and its siblings make one
/// attempt (see [`Client::retry`]).
#[must_use = "a request does nothing until it is sent"]
pub struct Request<'a> {
    client: &'a Client,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    deadline: Option<Duration>,
}

impl Request<'_> {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds `Authorization: Bearer TOKEN`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Limits the whole exchange, body reading included, to `total`.
    pub fn deadline(mut self, total: Duration) -> Self {
        self.deadline = Some(total);
        self
    }

    /// Sends the request without a body. Redirects are followed.
    pub fn send(self) -> Result<Response, Error> {
        let client = self.client;
        client.execute(self, Payload::None)
    }

    /// Sends the request with `body` (its length as `Content-Length`).
    pub fn send_bytes(self, body: &[u8]) -> Result<Response, Error> {
        let client = self.client;
        client.execute(self, Payload::Bytes(body))
    }

    /// Sends the request with a body read from `body`: with
    /// `Content-Length: length` when given, else chunked.
    pub fn send_reader(
        self,
        body: &mut (dyn Read + Send),
        length: Option<u64>,
    ) -> Result<Response, Error> {
        let client = self.client;
        client.execute(self, Payload::Reader(body, length))
    }
}

/// An answer: status, headers and the body, read through [`Response::body`]
/// or [`Response::bytes`] with a size bound.
pub struct Response {
    url: String,
    status: u16,
    headers: Vec<(String, String)>,
    length: Option<u64>,
    reader: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Response {
    /// The URL that answered (after redirects), credentials redacted.
    pub fn url(&self) -> String {
        redact_url(&self.url)
    }

    /// The status code (`200` for a `file://` URL).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header, names in lower case, in the order received.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The announced length of the body, when known.
    pub fn content_length(&self) -> Option<u64> {
        self.length
    }

    /// The response if its status is a success (2xx), else an error naming
    /// the status.
    pub fn success(self) -> Result<Response, Error> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        Err(Error::fetch(
            &self.url,
            status_kind(self.status),
            format!("the server answered {}", status_text(self.status)),
        ))
    }

    /// The body, bounded to `limit` bytes: a `Content-Length` above it is
    /// refused here, and reading past it fails (after one byte more, so
    /// that a reader that counts sees that there is more).
    pub fn body(self, limit: u64) -> Result<Body, Error> {
        if let Some(length) = self.length.filter(|&l| l > limit) {
            return Err(Error::fetch(
                &self.url,
                ErrorKind::TooLarge,
                format!("it announces {length} bytes, more than the {limit}-byte limit"),
            ));
        }
        Ok(Body {
            url: self.url,
            reader: self.reader,
            limit,
            read: 0,
        })
    }

    /// All of the body, refusing more than `limit` bytes.
    pub fn bytes(self, limit: u64) -> Result<Vec<u8>, Error> {
        let mut body = self.body(limit)?;
        let mut data = Vec::new();
        body.read_to_end(&mut data).map_err(|e| body.error(&e))?;
        Ok(data)
    }
}

fn status_text(code: u16) -> String {
    match ureq::http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{code} {reason}"),
        None => code.to_string(),
    }
}

/// A response body that fails once more than its bound has been read.
pub struct Body {
    url: String,
    reader: Box<dyn Read + Send>,
    limit: u64,
    read: u64,
}

impl Body {
    /// The error to report for `e`, an error this body's reader returned:
    /// [`ErrorKind::TooLarge`] past the bound, else [`ErrorKind::Network`],
    /// naming the URL.
    pub fn error(&self, e: &std::io::Error) -> Error {
        if self.read > self.limit {
            return Error::fetch(
                &self.url,
                ErrorKind::TooLarge,
                format!("larger than the {}-byte limit", self.limit),
            );
        }
        Error::fetch(&self.url, ErrorKind::Network, e)
    }
}

impl Read for Body {
    /// Reads up to the bound and one byte more, so that a reader that
    /// counts sees that there is more; the read after that fails.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "`{}`: larger than the {}-byte limit",
                    redact_url(&self.url),
                    self.limit
                ),
            ));
        }
        let room = (self.limit.saturating_add(1) - self.read).min(buf.len() as u64) as usize;
        let n = self.reader.read(&mut buf[..room])?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_base() {
        let base = "https://h:1/a/b/c?q";
        assert_eq!(resolve_location(base, "https://x/y"), "https://x/y");
        assert_eq!(resolve_location(base, "//x/y"), "https://x/y");
        assert_eq!(resolve_location(base, "/y"), "https://h:1/y");
        assert_eq!(resolve_location(base, "d"), "https://h:1/a/b/d");
        assert_eq!(host_of("https://u:p@H:1/x"), "h:1");
    }

    #[test]
    fn redirects_never_downgrade_and_keep_credentials_on_their_host() {
        let e = redirect("https://u:p@h/a", "http://h/b").unwrap_err();
        assert_eq!(e.kind(), Some(ErrorKind::Refused));
        assert_eq!(
            e.to_string(),
            "cannot fetch `https://***@h/a`: redirected from https to `http://h/b`, which is not https"
        );
        assert_eq!(
            redirect("https://u:p@h/a", "/b").unwrap(),
            ("https://u:p@h/b".to_string(), true)
        );
        assert_eq!(
            redirect("https://h/a", "https://v:q@other/b").unwrap(),
            ("https://other/b".to_string(), false)
        );
        assert_eq!(
            redirect("http://h/a", "https://h/b").unwrap(),
            ("https://h/b".to_string(), true)
        );
    }

    #[test]
    fn missing_file_is_not_found() {
        let e = Client::new()
            .get("file:///nonexistent/bulwark")
            .err()
            .unwrap();
        assert!(e.is_not_found() && !e.is_transient());
        assert!(
            e.to_string().contains("`file:///nonexistent/bulwark`"),
            "{e}"
        );
    }
}
