//! A small std-only HTTP/1.1 file server bound to 127.0.0.1.
//!
//! It serves `GET` and `HEAD` of regular files under one directory, with
//! `Content-Length` and `Connection: close`, one thread per connection, and
//! answers 404 for anything else it can map and 400/405 for what it cannot.
//! It records every request so tests can assert what a client fetched.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request the fixture server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`…
    pub method: String,
    /// The request path, percent-decoded, without the query (e.g.
    /// `/dists/stable/InRelease`).
    pub path: String,
    /// The status code sent.
    pub status: u16,
}

/// The running server; stops (and joins its accept thread) when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Starts serving `root` on `127.0.0.1` at a free port.
    pub(crate) fn start(root: PathBuf) -> Server {
        let listener = match TcpListener::bind(("127.0.0.1", 0)) {
            Ok(l) => l,
            Err(e) => panic!("cannot bind a fixture server on 127.0.0.1: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("cannot read the fixture server's address: {e}"),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let root = Arc::new(root);
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::Builder::new()
                .name(format!("fixture-http-{}", addr.port()))
                .spawn(move || accept_loop(&listener, &root, &stop, &log))
        };
        let thread = match thread {
            Ok(t) => t,
            Err(e) => panic!("cannot start the fixture server thread: {e}"),
        };
        Server {
            addr,
            stop,
            thread: Some(thread),
            log,
        }
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests answered so far, in order.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops accepting connections; later connections are refused.
    pub(crate) fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept(); if that fails the thread is left
            // detached rather than joined forever.
            if TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    listener: &TcpListener,
    root: &Arc<PathBuf>,
    stop: &AtomicBool,
    log: &Arc<Mutex<Vec<Request>>>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let (root, log) = (root.clone(), log.clone());
        // A connection whose thread cannot start is dropped (closed).
        let _ = std::thread::Builder::new()
            .name("fixture-http-conn".into())
            .spawn(move || {
                if let Some(req) = handle(stream, &root) {
                    log.lock().unwrap_or_else(PoisonError::into_inner).push(req);
                }
            });
    }
}

/// Answers one request; returns what was answered (None if the client sent
/// nothing usable or went away before the head was read).
fn handle(stream: TcpStream, root: &Path) -> Option<Request> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    // Read (and ignore) the headers, bounded.
    let mut total = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).ok()?;
        total += n;
        if n == 0 || line == "\r\n" || line == "\n" || total > 64 * 1024 {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next().unwrap_or(""));
    let path = percent_decode(target.split('?').next().unwrap_or(""));
    let mut stream = stream;
    let status = match (method.as_str(), resolve(root, path.as_deref())) {
        ("GET" | "HEAD", Some(file)) if file.is_file() => {
            match send_file(&mut stream, &file, method == "HEAD") {
                Ok(()) => 200,
                Err(_) => 500,
            }
        }
        ("GET" | "HEAD", Some(_)) => send_status(&mut stream, 404, "Not Found"),
        ("GET" | "HEAD", None) => send_status(&mut stream, 400, "Bad Request"),
        _ => send_status(&mut stream, 405, "Method Not Allowed"),
    };
    let _ = stream.shutdown(Shutdown::Write);
    Some(Request {
        method,
        path: path.unwrap_or_else(|| target.to_string()),
        status,
    })
}

/// Maps a decoded request path to a file under `root`; None if it is not
/// absolute or would leave `root`.
fn resolve(root: &Path, path: Option<&str>) -> Option<PathBuf> {
    let rel = path?.strip_prefix('/')?;
    let mut out = root.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn send_file(stream: &mut TcpStream, file: &Path, head_only: bool) -> io::Result<()> {
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\
         Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
    )?;
    if !head_only {
        io::copy(&mut f, stream)?;
    }
    stream.flush()
}

fn send_status(stream: &mut TcpStream, code: u16, reason: &str) -> u16 {
    let body = format!("{code} {reason}\n");
    let _ = write!(
        stream,
        "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\n\
         Content-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
    code
}

/// Decodes `%XX` escapes; None on invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn raw(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_get_head_404_and_refuses_traversal() {
        let dir = crate::util::tempdir("t-");
        crate::util::write(&dir.path().join("a/b c.txt"), b"hello");
        let mut server = Server::start(dir.path().to_path_buf());
        let addr = server.addr();

        let get = raw(addr, "GET /a/b%20c.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
        assert!(get.contains("Content-Length: 5\r\n"), "{get}");
        assert!(get.ends_with("\r\n\r\nhello"), "{get}");

        let head = raw(addr, "HEAD /a/b%20c.txt?x=1 HTTP/1.1\r\n\r\n");
        assert!(head.contains("Content-Length: 5\r\n") && head.ends_with("\r\n\r\n"));

        assert!(raw(addr, "GET /a HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(raw(addr, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(raw(addr, "GET /../etc/passwd HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(raw(addr, "GET /%2e%2e/x HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert!(raw(addr, "POST /a/b%20c.txt HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));

        // Requests are logged after the response, by the thread serving
        // the connection, so the log fills soon but in no fixed order.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while server.requests().len() < 7 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = server.requests();
        assert_eq!(log.len(), 7, "{log:?}");
        for (method, status) in [("GET", 200), ("HEAD", 200), ("POST", 405)] {
            let logged = Request {
                method: method.into(),
                path: "/a/b c.txt".into(),
                status,
            };
            assert!(log.contains(&logged), "{logged:?} not in {log:?}");
        }

        server.stop();
        // The freed port may go to another test's server at once; what must
        // hold is that this one serves nothing any more.
        let after = TcpStream::connect(addr).map(|mut s| {
            let _ = s.write_all(b"GET /a/b%20c.txt HTTP/1.1\r\n\r\n");
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        });
        assert!(
            after.as_ref().map_or(true, |out| !out.ends_with("hello")),
            "still serving after stop: {after:?}"
        );
    }

    #[test]
    fn serves_concurrent_connections() {
        let dir = crate::util::tempdir("t-");
        crate::util::write(&dir.path().join("f"), &vec![7u8; 1 << 20]);
        let server = Server::start(dir.path().to_path_buf());
        let addr = server.addr();
        // Hold one connection open without sending anything: the others
        // must still be served.
        let _idle = TcpStream::connect(addr).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(move || raw(addr, "GET /f HTTP/1.1\r\n\r\n").len()))
            .collect();
        for h in handles {
            assert!(h.join().unwrap() > 1 << 20);
        }
    }
}
