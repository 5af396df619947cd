//! The client against servers on 127.0.0.1: size bounds, the retry policy,
//! credentials (sent as Basic authentication, never printed, never sent to
//! another host), redirects, `file://` URLs and the trusted CA files (with
//! `openssl s_server` and a private CA made by `openssl`).

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bulwark_http::{Client, Error, ErrorKind, Method, Options};

/// One request as the server saw it: the URL and the Authorization header.
type Seen = (String, Option<String>);

/// What the server answers, in order; the last answer repeats.
#[derive(Clone)]
enum Answer {
    /// A status with a body.
    Status(u16, Vec<u8>),
    /// A redirect to the URL.
    Redirect(u16, String),
    /// 200 with a body of unknown length (chunked).
    Chunked(Vec<u8>),
}

struct Server {
    server: Arc<tiny_http::Server>,
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn new(answers: Vec<Answer>) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, log) = (server.clone(), seen.clone());
        let mut answers: VecDeque<Answer> = answers.into();
        let thread = std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let auth = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Authorization"))
                    .map(|h| h.value.to_string());
                log.lock().unwrap().push((request.url().to_string(), auth));
                let answer = if answers.len() > 1 {
                    answers.pop_front().unwrap()
                } else {
                    answers[0].clone()
                };
                let _ = match answer {
                    Answer::Status(code, body) => request.respond(
                        tiny_http::Response::from_data(body)
                            .with_status_code(code)
                            .with_chunked_threshold(usize::MAX),
                    ),
                    Answer::Redirect(code, to) => {
                        request.respond(tiny_http::Response::empty(code).with_header(
                            tiny_http::Header::from_bytes("Location", to.as_bytes()).unwrap(),
                        ))
                    }
                    Answer::Chunked(body) => request.respond(tiny_http::Response::new(
                        200.into(),
                        Vec::new(),
                        std::io::Cursor::new(body),
                        None,
                        None,
                    )),
                };
            }
        });
        Server {
            server,
            url: format!("http://127.0.0.1:{port}"),
            seen,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn fast_client() -> Client {
    Client::with_options(&Options {
        retry_pause: Duration::from_millis(10),
        ..Options::default()
    })
    .unwrap()
}

fn kind(e: &Error) -> ErrorKind {
    e.kind().unwrap_or_else(|| panic!("not a fetch error: {e}"))
}

#[test]
fn bodies_are_bounded_whether_announced_or_not() {
    let big = vec![b'x'; 100_000];
    let server = Server::new(vec![Answer::Status(200, big.clone())]);
    let client = fast_client();
    let url = format!("{}/big", server.url);
    assert_eq!(client.get_bytes(&url, 100_000).unwrap(), big);
    let e = client.get_bytes(&url, 99_999).unwrap_err();
    assert_eq!(kind(&e), ErrorKind::TooLarge);
    assert!(
        e.to_string().contains(&format!(
            "`{url}`: it announces 100000 bytes, more than the 99999-byte limit"
        )),
        "{e}"
    );
    drop(server);

    // Without Content-Length, the read stops one byte past the bound.
    let server = Server::new(vec![Answer::Chunked(big.clone())]);
    let url = format!("{}/stream", server.url);
    let response = client.get(&url).unwrap();
    assert_eq!(response.content_length(), None);
    let mut body = response.body(1000).unwrap();
    let mut data = Vec::new();
    let err = body.read_to_end(&mut data).unwrap_err();
    assert!(data.len() <= 1001, "{}", data.len());
    let e = body.error(&err);
    assert_eq!(kind(&e), ErrorKind::TooLarge, "{e}");
    assert!(
        e.to_string().contains("larger than the 1000-byte limit"),
        "{e}"
    );
    // Too large is not transient: one request.
    let e = client.get_bytes(&url, 10).unwrap_err();
    assert_eq!(kind(&e), ErrorKind::TooLarge, "{e}");
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn transient_failures_are_retried_once_and_not_found_never() {
    let server = Server::new(vec![
        Answer::Status(503, Vec::new()),
        Answer::Status(200, b"ok".to_vec()),
    ]);
    let client = fast_client();
    assert_eq!(client.get_bytes(&server.url, 10).unwrap(), b"ok");
    assert_eq!(server.seen().len(), 2);
    drop(server);

    let server = Server::new(vec![Answer::Status(503, Vec::new())]);
    let e = client.get(&server.url).unwrap_err();
    assert!(
        e.is_transient() && e.to_string().contains("503 Service Unavailable"),
        "{e}"
    );
    assert_eq!(server.seen().len(), 2);
    drop(server);

    let server = Server::new(vec![Answer::Status(404, Vec::new())]);
    let e = client.get(&server.url).unwrap_err();
    assert!(e.is_not_found() && !e.is_transient(), "{e}");
    assert_eq!(server.seen().len(), 1);
    // A single request makes one attempt and returns any status.
    let response = client.request(Method::Get, &server.url).send().unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(server.seen().len(), 2);

    // A refused connection is transient, retried, and named by its URL.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/x");
    let e = client.get(&url).unwrap_err();
    assert!(e.is_transient() && e.to_string().contains(&url), "{e}");
}

#[test]
fn url_credentials_are_basic_auth_and_never_printed() {
    let server = Server::new(vec![Answer::Status(401, Vec::new())]);
    let client = fast_client();
    let url = server.url.replace("http://", "http://alice:s3cr%40t@") + "/f?token=tok123";
    let e = client.get(&url).unwrap_err();
    let msg = e.to_string();
    assert!(
        !msg.contains("s3cr") && !msg.contains("alice") && !msg.contains("tok123"),
        "{msg}"
    );
    assert!(
        msg.contains("http://***@127.0.0.1:") && msg.contains("/f?token=***"),
        "{msg}"
    );
    assert!(msg.contains("401 Unauthorized"), "{msg}");
    let seen = server.seen();
    // `s3cr@t`, percent-decoded, in Basic authentication; not in the URL.
    assert_eq!(seen[0].0, "/f?token=tok123");
    assert_eq!(seen[0].1.as_deref(), Some("Basic YWxpY2U6czNjckB0"));
    // A bearer token is sent as given.
    let _ = client
        .request(Method::Head, &server.url)
        .bearer("abc")
        .send()
        .unwrap();
    assert_eq!(server.seen()[1].1.as_deref(), Some("Bearer abc"));
}

#[test]
fn redirects_are_followed_without_credentials_to_another_host() {
    let target = Server::new(vec![Answer::Status(200, b"there".to_vec())]);
    // Another port is another host.
    let hop = Server::new(vec![
        Answer::Redirect(302, "/moved".into()),
        Answer::Redirect(307, format!("{}/final", target.url)),
    ]);
    let client = fast_client();
    let url = hop.url.replace("http://", "http://u:p@") + "/start";
    let response = client.get(&url).unwrap();
    assert_eq!(response.url(), format!("{}/final", target.url));
    assert_eq!(response.bytes(100).unwrap(), b"there");
    let hops = hop.seen();
    assert_eq!(hops[0], ("/start".into(), Some("Basic dTpw".into())));
    // A relative redirect stays on the host and keeps the credentials.
    assert_eq!(hops[1], ("/moved".into(), Some("Basic dTpw".into())));
    assert_eq!(target.seen(), vec![("/final".to_string(), None)]);

    // Redirect loops end.
    let looping = Server::new(vec![Answer::Redirect(301, "/again".into())]);
    let e = client.get(&looping.url).unwrap_err();
    assert!(e.to_string().contains("more than 10 redirects"), "{e}");
}

#[test]
fn file_urls_are_served_but_only_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a b");
    std::fs::write(&file, b"local").unwrap();
    let client = Client::new();
    let url = format!("file://{}", dir.path().join("a%20b").display());
    let response = client.get(&url).unwrap();
    assert_eq!(response.content_length(), Some(5));
    assert_eq!(response.bytes(5).unwrap(), b"local");
    assert_eq!(
        kind(&client.get_bytes(&url, 4).unwrap_err()),
        ErrorKind::TooLarge
    );

    // A FIFO would block forever, /dev/zero never end: both are refused at once.
    let fifo = dir.path().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "`mkfifo` (coreutils) is missing or failed"
    );
    let zero = dir.path().join("zero");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for path in [&fifo, &zero] {
        let started = Instant::now();
        let e = client
            .get(&format!("file://{}", path.display()))
            .unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    let e = client
        .request(Method::Put, &format!("file://{}", file.display()))
        .send_bytes(b"x")
        .unwrap_err();
    assert!(e.to_string().contains("can only be read"), "{e}");
}

/// `openssl` with `args` in `dir`; fails the test naming what is missing.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("`openssl` (package openssl) is needed for this test: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA and a server certificate for 127.0.0.1 that it signed.
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]);
    ca.extend(["-subj", "/CN=bulwark test CA"]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

struct TlsServer(Child);

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn https_trusts_the_ca_bundle_and_extra_ca_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("`openssl s_server` is needed for this test");
    let _server = TlsServer(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = format!("https://127.0.0.1:{port}/");

    // The system bundle does not know the private CA.
    let e = Client::new().get(&url).unwrap_err();
    assert_eq!(kind(&e), ErrorKind::Tls, "{e}");
    assert!(!e.is_transient());

    // As an extra CA file, or as the bundle, it is trusted.
    let extra = Client::with_options(&Options {
        extra_ca_files: vec![ca.clone()],
        ..Options::default()
    })
    .unwrap();
    assert_eq!(extra.get(&url).unwrap().status(), 200);
    let bundle = Client::with_options(&Options {
        ca_bundle: ca.clone(),
        ..Options::default()
    })
    .unwrap();
    assert_eq!(bundle.get(&url).unwrap().status(), 200);

    // A missing bundle fails https requests only, naming it.
    let missing = dir.path().join("no-bundle.crt");
    let without = Client::with_options(&Options {
        ca_bundle: missing.clone(),
        ..Options::default()
    })
    .unwrap();
    let e = without.get(&url).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("cannot use the CA bundle `{}`", missing.display())),
        "{e}"
    );
    // An extra CA file that is not one is refused when the client is made.
    let e = Client::with_options(&Options {
        extra_ca_files: vec![key.clone()],
        ..Options::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().contains(&format!("`{}`", key.display()))
            && e.to_string().contains("no PEM certificate"),
        "{e}"
    );
}

#[test]
fn a_plain_http_server_is_told_apart_from_a_bad_certificate() {
    // A plain HTTP server answers a TLS handshake with an HTTP error, as
    // Go's servers (docker-registry) do.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            use std::io::{Read as _, Write as _};
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        }
    });
    let url = format!("https://127.0.0.1:{port}/v2/");
    let e = Client::new().request(Method::Get, &url).send().unwrap_err();
    assert_eq!(kind(&e), ErrorKind::NotTls, "{e}");
    assert!(e.to_string().contains("does not speak TLS"), "{e}");
}
