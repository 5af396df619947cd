//! [`Front`]: a small HTTP/1.1 server in front of a plain-HTTP registry on
//! 127.0.0.1, adding what `docker-registry` 2.8 lacks (a bearer token
//! service, the OCI 1.1 referrers API) and faults on demand.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use super::http::{
    self, body, read_head, reason, request_framing, response_framing, Framing, Head,
};
use crate::util::sha256_hex;

/// The `service` a [`Front`] with a token service names in its challenges.
pub const TOKEN_SERVICE: &str = "bulwark-test";

/// The media type of a referrers response (an OCI image index).
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// How long a connection may sit idle (or a peer may stall) before the
/// front gives up on it.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// What a [`Front`] adds to its upstream registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrontOptions {
    /// Run a bearer token service at `/token` accepting these HTTP Basic
    /// credentials (user, password), and demand its tokens on `/v2/...`.
    pub bearer: Option<(String, String)>,
    /// Implement the OCI 1.1 referrers API (`GET /v2/R/referrers/DIGEST`,
    /// and `OCI-Subject` on manifest pushes with a `subject`).
    pub referrers_api: bool,
}

/// A failure [`Front::inject`] makes the front answer (or not answer)
/// instead of handling a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer this final status (200–599) with a distribution-style JSON
    /// error body.
    Status(u16),
    /// Answer `429 Too Many Requests` with `Retry-After: SECS`.
    TooManyRequests {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Read this many bytes of the request body (fewer if the body is
    /// shorter), then shut the connection down without answering.
    CutAfter {
        /// How many body bytes to read before cutting.
        body_bytes: u64,
    },
}

/// One request a [`Front`] received, logged before it was handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `PUT`…
    pub method: String,
    /// The request path as sent, without the query (not percent-decoded).
    pub path: String,
    /// The query as sent, without `?` (empty when none).
    pub query: String,
    /// The body bytes read from the client: the declared `Content-Length`
    /// when logged, then the count actually read once the body was read (so
    /// 0 for a chunked body answered without reading it).
    pub body_len: u64,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// All the request headers, in order.
    pub headers: Vec<(String, String)>,
}

impl LoggedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server on 127.0.0.1 forwarding every request to a
/// plain-HTTP upstream registry (same method, target, headers, `Host`
/// included, and body) and relaying its answer, so the `Location`s the
/// registry builds point back at the front.
///
/// One thread per connection, keep-alive supported; each request goes to
/// the upstream on a fresh connection, so a restarted upstream is picked up
/// at once (while it is down, the front answers 502). Dropping the front
/// stops it and closes its connections.
///
/// With [`FrontOptions::bearer`], `/v2/...` needs a token from `GET /token`
/// granting `repository:R:pull` (GET, HEAD) or `repository:R:pull,push`
/// (other methods; a cross-repository mount also needs
/// `repository:FROM:pull`); without one the front answers 401 with a
/// `Bearer` challenge (`realm="http://HOST/token"`, `service="bulwark-test"`,
/// the needed `scope`, space-separated when several, and `error=` when a
/// token was sent). The upstream never sees `Authorization` then.
#[derive(Debug)]
pub struct Front {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    host: String,
    options: FrontOptions,
    stop: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    log: Vec<LoggedRequest>,
    /// How many requests [`Front::clear`] dropped: `log[i]` is request
    /// number `log_base + i`.
    log_base: usize,
    faults: VecDeque<(String, String, Fault)>,
    scopes: Vec<String>,
    tokens: HashMap<String, Vec<Scope>>,
    issued: u64,
    /// Descriptors of manifests with a subject, by (repository, subject).
    referrers: HashMap<(String, String), Vec<Value>>,
    conns: HashMap<u64, TcpStream>,
    next_conn: u64,
}

/// One granted scope: `repository:NAME:pull,push`.
#[derive(Clone, Debug)]
struct Scope {
    kind: String,
    name: String,
    actions: Vec<String>,
}

impl Front {
    /// Starts a front on a free port of 127.0.0.1 forwarding to
    /// `upstream_host` (`127.0.0.1:PORT`, plain HTTP).
    pub fn start(upstream_host: &str, options: FrontOptions) -> Front {
        let listener = match TcpListener::bind(("127.0.0.1", 0)) {
            Ok(l) => l,
            Err(e) => panic!("cannot bind a registry front on 127.0.0.1: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("cannot read the registry front's address: {e}"),
        };
        let shared = Arc::new(Shared {
            upstream: upstream_host.to_string(),
            host: addr.to_string(),
            options,
            stop: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("registry-front-{}", addr.port()))
                .spawn(move || accept_loop(&listener, &shared))
        };
        let thread = match thread {
            Ok(t) => t,
            Err(e) => panic!("cannot start the registry front's thread: {e}"),
        };
        Front {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.shared.host.clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.host)
    }

    /// Every request received so far (`/token` included), in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.state().log.clone()
    }

    /// Forgets the requests logged so far.
    pub fn clear(&self) {
        let mut state = self.shared.state();
        state.log_base += state.log.len();
        state.log.clear();
    }

    /// Queues `fault` for the next request whose method is `method` and
    /// whose path (without the query) contains `path_contains`; it applies
    /// once. Faults are checked in the order they were queued, before
    /// authentication and forwarding.
    pub fn inject(&self, method: &str, path_contains: &str, fault: Fault) {
        self.shared.state().faults.push_back((
            method.to_string(),
            path_contains.to_string(),
            fault,
        ));
    }

    /// The scopes asked of the token service so far, one entry per scope
    /// (a `scope` parameter holding several, space-separated, gives several).
    pub fn token_scopes(&self) -> Vec<String> {
        self.shared.state().scopes.clone()
    }

    /// Invalidates every token issued so far: their next use gets a 401
    /// with `error="invalid_token"`, as after an expiry.
    pub fn revoke_tokens(&self) {
        self.shared.state().tokens.clear();
    }

    /// Stops accepting connections and closes the open ones; idempotent.
    pub fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shared.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept(); if that fails the thread is left
            // detached rather than joined forever.
            if TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok() {
                let _ = thread.join();
            }
            for conn in self.shared.state().conns.values() {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the body length of request number `index` (if not cleared).
    fn set_body_len(&self, index: usize, len: u64) {
        let mut state = self.state();
        let Some(at) = index.checked_sub(state.log_base) else {
            return;
        };
        if let Some(entry) = state.log.get_mut(at) {
            entry.body_len = len;
        }
    }

    fn take_fault(&self, method: &str, path: &str) -> Option<Fault> {
        let mut state = self.state();
        let at = state
            .faults
            .iter()
            .position(|(m, p, _)| m.eq_ignore_ascii_case(method) && path.contains(p.as_str()))?;
        state.faults.remove(at).map(|(_, _, fault)| fault)
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        // A connection whose thread cannot start is dropped (closed).
        let _ = std::thread::Builder::new()
            .name("registry-front-conn".into())
            .spawn(move || serve(&shared, stream));
    }
}

/// Serves the requests of one connection until either side closes it.
fn serve(shared: &Shared, stream: TcpStream) {
    let id = {
        let mut state = shared.state();
        state.next_conn += 1;
        let id = state.next_conn;
        if let Ok(clone) = stream.try_clone() {
            state.conns.insert(id, clone);
        }
        id
    };
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IDLE_TIMEOUT));
    if let Ok(read_half) = stream.try_clone() {
        let mut reader = BufReader::new(read_half);
        let mut writer = stream;
        while !shared.stop.load(Ordering::SeqCst) {
            let head = match read_head(&mut reader) {
                Ok(Some(head)) => head,
                Ok(None) | Err(_) => break,
            };
            match exchange(shared, &head, &mut reader, &mut writer) {
                Ok(true) => {}
                Ok(false) | Err(_) => break,
            }
        }
        let _ = writer.shutdown(Shutdown::Both);
    }
    shared.state().conns.remove(&id);
}

/// One request as the front sees it.
struct Req<'a> {
    head: &'a Head,
    method: String,
    target: String,
    path: String,
    query: String,
    framing: Framing,
    /// The client sent `Expect: 100-continue` with a body.
    expect: bool,
    /// The client is willing to send another request on this connection.
    keep: bool,
    index: usize,
}

type Reader = BufReader<TcpStream>;

/// Handles one request; returns whether the connection can carry another.
fn exchange(
    shared: &Shared,
    head: &Head,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<bool> {
    let mut parts = head.start.split_whitespace();
    let (method, target, version) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or(""),
    );
    let Ok(framing) = request_framing(head) else {
        let body = error_body(400, "bad request framing");
        respond(writer, &method, 400, &json_type(), &body, false)?;
        return Ok(false);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        let body = error_body(400, "not an HTTP/1.x origin-form request");
        respond(writer, &method, 400, &json_type(), &body, false)?;
        return Ok(false);
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    let keep = if version == "HTTP/1.0" {
        head.has_token("Connection", "keep-alive")
    } else {
        !head.has_token("Connection", "close")
    };
    let index = {
        let mut state = shared.state();
        state.log.push(LoggedRequest {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            body_len: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            authorization: head.get("Authorization").map(str::to_string),
            headers: head.headers.clone(),
        });
        state.log_base + state.log.len() - 1
    };
    let req = Req {
        head,
        expect: framing != Framing::Empty && head.has_token("Expect", "100-continue"),
        method,
        target,
        path,
        query,
        framing,
        keep,
        index,
    };

    if let Some(fault) = shared.take_fault(&req.method, &req.path) {
        return apply_fault(shared, &req, fault, reader, writer);
    }
    if shared.options.bearer.is_some() {
        if req.path == "/token" {
            return token(shared, &req, reader, writer);
        }
        if let Some(challenge) = authorize(shared, &req) {
            let keep = discard_body(shared, &req, reader)?;
            let mut headers = json_type();
            headers.push(("WWW-Authenticate", challenge));
            let body = error_body(401, "authentication required");
            return respond(writer, &req.method, 401, &headers, &body, keep);
        }
    }
    if shared.options.referrers_api && matches!(req.method.as_str(), "GET" | "HEAD") {
        if let Some((repo, digest)) = split_repo(&req.path, "/referrers/") {
            let keep = discard_body(shared, &req, reader)?;
            return referrers(shared, &req, &repo, &digest, writer, keep);
        }
    }
    forward(shared, &req, reader, writer)
}

fn apply_fault(
    shared: &Shared,
    req: &Req<'_>,
    fault: Fault,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<bool> {
    match fault {
        Fault::CutAfter { body_bytes } => {
            if req.expect {
                writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                writer.flush()?;
            }
            let mut limited = body(reader, req.framing).take(body_bytes);
            let mut read = 0u64;
            let mut buf = [0u8; 16 * 1024];
            // Stop at the limit, the end of the body, or the client's error.
            while let Ok(n) = limited.read(&mut buf) {
                if n == 0 {
                    break;
                }
                read += n as u64;
            }
            shared.set_body_len(req.index, read);
            let _ = writer.shutdown(Shutdown::Both);
            Ok(false)
        }
        Fault::Status(status) => {
            let keep = discard_body(shared, req, reader)?;
            let body = error_body(status, "fault injected by the test front");
            respond(writer, &req.method, status, &json_type(), &body, keep)
        }
        Fault::TooManyRequests { retry_after_secs } => {
            let keep = discard_body(shared, req, reader)?;
            let mut headers = json_type();
            headers.push(("Retry-After", retry_after_secs.to_string()));
            let body = error_body(429, "fault injected by the test front");
            respond(writer, &req.method, 429, &headers, &body, keep)
        }
    }
}

/// Reads and drops the request body so that the connection can carry the
/// next request; returns whether it can (not when the client waits for
/// `100 Continue`: then the body is left unread and the connection closed).
fn discard_body(shared: &Shared, req: &Req<'_>, reader: &mut Reader) -> io::Result<bool> {
    if !req.keep {
        return Ok(false);
    }
    if req.framing == Framing::Empty {
        return Ok(true);
    }
    if req.expect {
        return Ok(false);
    }
    let n = http::copy(&mut body(reader, req.framing), &mut io::sink())?;
    shared.set_body_len(req.index, n);
    Ok(true)
}

/// Writes a complete response with a `Content-Length` body (omitted for
/// `HEAD`); returns `keep`.
fn respond(
    writer: &mut TcpStream,
    method: &str,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    keep: bool,
) -> io::Result<bool> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    if !keep {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    writer.write_all(out.as_bytes())?;
    if !method.eq_ignore_ascii_case("HEAD") {
        writer.write_all(body)?;
    }
    writer.flush()?;
    Ok(keep)
}

fn json_type() -> Vec<(&'static str, String)> {
    vec![(
        "Content-Type",
        "application/json; charset=utf-8".to_string(),
    )]
}

/// A distribution-style error body.
fn error_body(status: u16, message: &str) -> Vec<u8> {
    let code = match status {
        400 => "UNSUPPORTED",
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        404 => "NOT_FOUND",
        429 => "TOOMANYREQUESTS",
        503 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    let body = json!({"errors": [{"code": code, "message": message, "detail": null}]});
    body.to_string().into_bytes()
}

/// The parameters of a query, `+` and `%XX` decoded.
fn query_params(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// `GET /token`: HTTP Basic with the configured credentials, then a token
/// granting exactly the scopes asked.
fn token(
    shared: &Shared,
    req: &Req<'_>,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<bool> {
    let keep = discard_body(shared, req, reader)?;
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        let mut headers = json_type();
        headers.push(("Allow", "GET, HEAD".to_string()));
        let body = error_body(405, "the token service answers GET only");
        return respond(writer, &req.method, 405, &headers, &body, keep);
    }
    let expected = shared.options.bearer.clone();
    if basic_credentials(req.head) != expected {
        let mut headers = json_type();
        headers.push((
            "WWW-Authenticate",
            format!("Basic realm=\"{TOKEN_SERVICE} token service\""),
        ));
        let body = error_body(401, "the token service needs valid HTTP Basic credentials");
        return respond(writer, &req.method, 401, &headers, &body, keep);
    }
    let scopes: Vec<String> = query_params(&req.query)
        .into_iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let token = {
        let mut state = shared.state();
        state.issued += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let seed = format!(
            "{}-{}-{nanos}-{}",
            std::process::id(),
            shared.host,
            state.issued
        );
        let token = format!("bt-{}", &sha256_hex(seed.as_bytes())[..32]);
        state.scopes.extend(scopes.iter().cloned());
        let grants = scopes.iter().filter_map(|s| parse_scope(s)).collect();
        state.tokens.insert(token.clone(), grants);
        token
    };
    let body = json!({"token": token, "access_token": token, "expires_in": 300});
    respond(
        writer,
        &req.method,
        200,
        &json_type(),
        body.to_string().as_bytes(),
        keep,
    )
}

/// The (user, password) of an `Authorization: Basic` header.
fn basic_credentials(head: &Head) -> Option<(String, String)> {
    let value = head.get("Authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// `TYPE:NAME:ACTION,ACTION`, the name possibly holding `:` (as
/// `host:port/...` never does in a repository name, but be lenient).
fn parse_scope(scope: &str) -> Option<Scope> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(Scope {
        kind: kind.to_string(),
        name: name.to_string(),
        actions: actions.split(',').map(str::to_string).collect(),
    })
}

/// The repository of a `/v2/NAME/(manifests|blobs|tags|referrers)/...`
/// path.
fn repository_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/", "/referrers/"]
        .iter()
        .filter_map(|marker| rest.find(marker))
        .min()
        .filter(|&at| at > 0)
        .map(|at| rest[..at].to_string())
}

/// Splits `/v2/NAME<marker>REST` into (NAME, REST), both non-empty.
fn split_repo(path: &str, marker: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/v2/")?;
    let at = rest.rfind(marker)?;
    let (name, tail) = (&rest[..at], &rest[at + marker.len()..]);
    (!name.is_empty() && !tail.is_empty()).then(|| (name.to_string(), tail.to_string()))
}

/// None when the request may go on; else the `WWW-Authenticate` challenge
/// to answer with.
fn authorize(shared: &Shared, req: &Req<'_>) -> Option<String> {
    if req.path != "/v2" && !req.path.starts_with("/v2/") {
        return None;
    }
    // (type, name, action) triples needed, and the challenge's scope.
    let mut needed: Vec<(String, String, &str)> = Vec::new();
    let mut scope = Vec::new();
    if req.path == "/v2/_catalog" {
        needed.push(("registry".into(), "catalog".into(), "*"));
        scope.push("registry:catalog:*".to_string());
    } else if let Some(repo) = repository_of(&req.path) {
        if matches!(req.method.as_str(), "GET" | "HEAD") {
            needed.push(("repository".into(), repo.clone(), "pull"));
            scope.push(format!("repository:{repo}:pull"));
        } else {
            needed.push(("repository".into(), repo.clone(), "pull"));
            needed.push(("repository".into(), repo.clone(), "push"));
            scope.push(format!("repository:{repo}:pull,push"));
            let params = query_params(&req.query);
            let param = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            if req.method == "POST" && param("mount").is_some() {
                if let Some(from) = param("from").filter(|f| f != &repo) {
                    needed.push(("repository".into(), from.clone(), "pull"));
                    scope.push(format!("repository:{from}:pull"));
                }
            }
        }
    }
    let token = req.head.get("Authorization").and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("Bearer")
            .then(|| token.trim().to_string())
    });
    let error = match token {
        None => None,
        Some(token) => match shared.state().tokens.get(&token) {
            None => Some("invalid_token"),
            Some(grants) => {
                let granted = needed.iter().all(|(kind, name, action)| {
                    grants.iter().any(|g| {
                        &g.kind == kind
                            && &g.name == name
                            && g.actions.iter().any(|a| a == action || a == "*")
                    })
                });
                if granted {
                    return None;
                }
                Some("insufficient_scope")
            }
        },
    };
    let mut challenge = format!(
        "Bearer realm=\"http://{}/token\",service=\"{TOKEN_SERVICE}\"",
        shared.host
    );
    if !scope.is_empty() {
        challenge.push_str(&format!(",scope=\"{}\"", scope.join(" ")));
    }
    if let Some(error) = error {
        challenge.push_str(&format!(",error=\"{error}\""));
    }
    Some(challenge)
}

/// `GET /v2/REPO/referrers/DIGEST`.
fn referrers(
    shared: &Shared,
    req: &Req<'_>,
    repo: &str,
    digest: &str,
    writer: &mut TcpStream,
    keep: bool,
) -> io::Result<bool> {
    let filter = query_params(&req.query)
        .into_iter()
        .find(|(k, _)| k == "artifactType")
        .map(|(_, v)| v);
    let manifests: Vec<Value> = shared
        .state()
        .referrers
        .get(&(repo.to_string(), digest.to_string()))
        .map(|list| {
            list.iter()
                .filter(|d| {
                    filter
                        .as_deref()
                        .is_none_or(|t| d.get("artifactType").and_then(Value::as_str) == Some(t))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let index = json!({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests});
    let mut headers = vec![("Content-Type", INDEX_MEDIA_TYPE.to_string())];
    if filter.is_some() {
        headers.push(("OCI-Filters-Applied", "artifactType".to_string()));
    }
    respond(
        writer,
        &req.method,
        200,
        &headers,
        index.to_string().as_bytes(),
        keep,
    )
}

/// Remembers the manifest `body` pushed to `repo` if it has a subject;
/// returns the subject's digest.
fn remember_referrer(
    shared: &Shared,
    repo: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Option<String> {
    let manifest: Value = serde_json::from_slice(body).ok()?;
    let subject = manifest
        .get("subject")?
        .get("digest")?
        .as_str()?
        .to_string();
    let media_type = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .filter(|c| !c.is_empty())
        .or_else(|| {
            manifest
                .get("mediaType")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_string());
    let digest = format!("sha256:{}", sha256_hex(body));
    let mut descriptor = json!({"mediaType": media_type, "digest": digest, "size": body.len()});
    let artifact_type = manifest
        .get("artifactType")
        .and_then(Value::as_str)
        .or_else(|| {
            manifest
                .pointer("/config/mediaType")
                .and_then(Value::as_str)
        });
    if let Some(t) = artifact_type {
        descriptor["artifactType"] = json!(t);
    }
    if let Some(a) = manifest.get("annotations").filter(|a| a.is_object()) {
        descriptor["annotations"] = a.clone();
    }
    let mut state = shared.state();
    let list = state
        .referrers
        .entry((repo.to_string(), subject.clone()))
        .or_default();
    list.retain(|d| d.get("digest").and_then(Value::as_str) != Some(digest.as_str()));
    list.push(descriptor);
    Some(subject)
}

/// Headers not forwarded as they are, either way.
fn hop_by_hop(name: &str) -> bool {
    [
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Transfer-Encoding",
        "TE",
        "Upgrade",
        "Expect",
        "Content-Length",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name))
}

/// Forwards the request to the upstream and relays its answer.
fn forward(
    shared: &Shared,
    req: &Req<'_>,
    reader: &mut Reader,
    writer: &mut TcpStream,
) -> io::Result<bool> {
    let manifest_put = (shared.options.referrers_api && req.method == "PUT")
        .then(|| split_repo(&req.path, "/manifests/"))
        .flatten();
    let mut continued = false;
    let mut send_continue = |writer: &mut TcpStream| -> io::Result<()> {
        if req.expect && !continued {
            continued = true;
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()?;
        }
        Ok(())
    };
    // A chunked body, or a manifest to look into, is read whole first.
    let buffered = if req.framing == Framing::Chunked || manifest_put.is_some() {
        send_continue(writer)?;
        let mut buf = Vec::new();
        http::copy(&mut body(reader, req.framing), &mut buf)?;
        shared.set_body_len(req.index, buf.len() as u64);
        Some(buf)
    } else {
        None
    };

    let connected = TcpStream::connect(&shared.upstream).and_then(|up| {
        up.set_read_timeout(Some(IDLE_TIMEOUT))?;
        up.set_write_timeout(Some(IDLE_TIMEOUT))?;
        Ok(up)
    });
    let mut upstream = match connected {
        Ok(up) => up,
        Err(e) => {
            let keep = buffered.is_some() && req.keep
                || buffered.is_none() && discard_body(shared, req, reader)?;
            let body = error_body(502, &format!("upstream {}: {e}", shared.upstream));
            return respond(writer, &req.method, 502, &json_type(), &body, keep);
        }
    };

    let mut out = format!("{} {} HTTP/1.1\r\n", req.method, req.target);
    let strip_auth = shared.options.bearer.is_some();
    for (name, value) in &req.head.headers {
        if hop_by_hop(name) || strip_auth && name.eq_ignore_ascii_case("Authorization") {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if req.head.get("Host").is_none() {
        out.push_str(&format!("Host: {}\r\n", shared.host));
    }
    let had_length = req.head.get("Content-Length").is_some();
    match (&buffered, req.framing) {
        (Some(buf), _) => out.push_str(&format!("Content-Length: {}\r\n", buf.len())),
        (None, Framing::Length(n)) => out.push_str(&format!("Content-Length: {n}\r\n")),
        (None, _) if had_length => out.push_str("Content-Length: 0\r\n"),
        (None, _) => {}
    }
    out.push_str("Connection: close\r\n\r\n");

    // Send the head and the body. If the upstream stops reading (it may
    // answer early), its answer is still relayed, but the client's body is
    // not fully read, so that connection closes.
    let mut keep = req.keep;
    let sent = upstream
        .write_all(out.as_bytes())
        .and_then(|()| match &buffered {
            Some(buf) => upstream.write_all(buf),
            None => Ok(()),
        });
    if sent.is_err() {
        keep = false;
    } else if let (None, Framing::Length(n)) = (&buffered, req.framing) {
        let mut upstream_failed = false;
        send_continue(writer)?;
        let mut from = body(reader, req.framing);
        let mut buf = vec![0u8; 64 * 1024];
        let mut copied = 0u64;
        loop {
            let got = from.read(&mut buf)?;
            if got == 0 {
                break;
            }
            copied += got as u64;
            if upstream.write_all(&buf[..got]).is_err() {
                upstream_failed = true;
                keep = false;
                break;
            }
        }
        shared.set_body_len(req.index, copied);
        if !upstream_failed && copied < n {
            // The client went away mid-body: so does the front, and the
            // upstream sees a truncated request.
            let _ = upstream.shutdown(Shutdown::Both);
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "client closed inside the request body",
            ));
        }
    }
    let _ = upstream.flush();

    // Read the answer, skipping interim (1xx) responses.
    let mut up = BufReader::new(upstream);
    let answer = loop {
        match read_head(&mut up) {
            Ok(Some(head)) => {
                let status = head
                    .start
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse::<u16>().ok());
                match status {
                    Some(s) if (100..200).contains(&s) && s != 101 => continue,
                    Some(s) => break Ok((head, s)),
                    None => break Err(format!("bad status line `{}`", head.start)),
                }
            }
            Ok(None) => break Err("closed the connection without answering".to_string()),
            Err(e) => break Err(e.to_string()),
        }
    };
    let (answer, status) = match answer {
        Ok(a) => a,
        Err(e) => {
            let body = error_body(502, &format!("upstream {}: {e}", shared.upstream));
            return respond(writer, &req.method, 502, &json_type(), &body, false);
        }
    };

    let mut extra: Vec<(&str, String)> = Vec::new();
    if (200..300).contains(&status) {
        if let (Some((repo, _)), Some(buf)) = (&manifest_put, &buffered) {
            if let Some(subject) =
                remember_referrer(shared, repo, req.head.get("Content-Type"), buf)
            {
                extra.push(("OCI-Subject", subject));
            }
        }
        if shared.options.referrers_api && req.method == "DELETE" {
            if let Some((repo, reference)) = split_repo(&req.path, "/manifests/") {
                for ((r, _), list) in shared.state().referrers.iter_mut() {
                    if r == &repo {
                        list.retain(|d| {
                            d.get("digest").and_then(Value::as_str) != Some(reference.as_str())
                        });
                    }
                }
            }
        }
    }

    let framing = match response_framing(&req.method, status, &answer) {
        Ok(f) => f,
        Err(e) => {
            let body = error_body(502, &format!("upstream {}: {e}", shared.upstream));
            return respond(writer, &req.method, 502, &json_type(), &body, false);
        }
    };
    // Chunked and close-delimited bodies are relayed with a length.
    let relay = match framing {
        Framing::Chunked | Framing::Close => {
            let mut buf = Vec::new();
            http::copy(&mut body(&mut up, framing), &mut buf)?;
            Some(buf)
        }
        _ => None,
    };
    let reason_text = answer
        .start
        .splitn(3, ' ')
        .nth(2)
        .unwrap_or_else(|| reason(status));
    let mut out = format!("HTTP/1.1 {status} {reason_text}\r\n");
    for (name, value) in &answer.headers {
        let length = name.eq_ignore_ascii_case("Content-Length");
        if hop_by_hop(name) && !(length && relay.is_none()) {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    for (name, value) in &extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(buf) = &relay {
        out.push_str(&format!("Content-Length: {}\r\n", buf.len()));
    }
    if !keep {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    writer.write_all(out.as_bytes())?;
    match (relay, framing) {
        (Some(buf), _) => writer.write_all(&buf)?,
        (None, Framing::Length(n)) => {
            let copied = http::copy(&mut body(&mut up, framing), writer)?;
            if copied < n {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "upstream closed inside the response body",
                ));
            }
        }
        (None, _) => {}
    }
    writer.flush()?;
    Ok(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scopes_and_repositories() {
        let s = parse_scope("repository:a/b:pull,push").unwrap();
        assert_eq!((s.kind.as_str(), s.name.as_str()), ("repository", "a/b"));
        assert_eq!(s.actions, ["pull", "push"]);
        assert_eq!(
            repository_of("/v2/a/b/blobs/uploads/x").as_deref(),
            Some("a/b")
        );
        assert_eq!(
            repository_of("/v2/lib/manifests/latest").as_deref(),
            Some("lib")
        );
        assert_eq!(repository_of("/v2/"), None);
        assert_eq!(
            split_repo("/v2/a/referrers/sha256:00", "/referrers/"),
            Some(("a".into(), "sha256:00".into()))
        );
        assert_eq!(
            query_params("scope=repository%3Aa%3Apull+repository:b:pull&x"),
            [
                (
                    "scope".to_string(),
                    "repository:a:pull repository:b:pull".to_string()
                ),
                ("x".to_string(), String::new())
            ]
        );
    }
}
