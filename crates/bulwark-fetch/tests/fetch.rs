//! Downloads from a local HTTP server on 127.0.0.1 and from `file://` URLs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bulwark_cache::{sha256_hex, Cache};
use bulwark_fetch::{fetch_all, Download, Error, NoReporter, Reporter};

/// A file server that logs requests and answers 503 to the first
/// `failures[path]` requests of a path.
struct Server {
    server: Arc<tiny_http::Server>,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn new(root: &Path, failures: HashMap<String, usize>) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l, root) = (server.clone(), log.clone(), root.to_path_buf());
        let failures = Mutex::new(failures);
        let thread = std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let path = request.url().to_string();
                l.lock().unwrap().push(path.clone());
                let fail = {
                    let mut f = failures.lock().unwrap();
                    match f.get_mut(&path) {
                        Some(n) if *n > 0 => {
                            *n -= 1;
                            true
                        }
                        _ => false,
                    }
                };
                let file = root.join(path.trim_start_matches('/'));
                let _ = if fail {
                    request.respond(tiny_http::Response::empty(503))
                } else if file.is_file() {
                    request.respond(tiny_http::Response::from_file(
                        std::fs::File::open(file).unwrap(),
                    ))
                } else {
                    request.respond(tiny_http::Response::empty(404))
                };
            }
        });
        Server {
            server,
            url: format!("http://127.0.0.1:{port}"),
            log,
            thread: Some(thread),
        }
    }

    fn take_log(&self) -> Vec<String> {
        let mut log = std::mem::take(&mut *self.log.lock().unwrap());
        log.sort();
        log
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

struct Fixture {
    dir: tempfile::TempDir,
    cache: Cache,
    files: Vec<(String, Vec<u8>)>,
}

impl Fixture {
    fn new(count: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let pool = dir.path().join("pool");
        std::fs::create_dir_all(&pool).unwrap();
        let files: Vec<(String, Vec<u8>)> = (0..count)
            .map(|i| {
                let name = format!("pkg{i}_1.0_amd64.deb");
                let data: Vec<u8> = (0..(50_000 + i * 7919))
                    .map(|j| ((i * 31 + j) % 251) as u8)
                    .collect();
                std::fs::write(pool.join(&name), &data).unwrap();
                (name, data)
            })
            .collect();
        Fixture { dir, cache, files }
    }

    fn downloads(&self, base: &str) -> Vec<Download> {
        self.files
            .iter()
            .map(|(name, data)| Download {
                name: name.trim_end_matches(".deb").to_string(),
                url: format!("{base}/pool/{name}"),
                sha256: sha256_hex(data),
                size: data.len() as u64,
            })
            .collect()
    }

    fn blobs(&self) -> usize {
        count_files(&self.cache.root().join("blobs"))
    }

    fn tmp_is_empty(&self) -> bool {
        count_files(&self.cache.root().join("tmp")) == 0
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        count_files(&p)
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct Counting {
    start: Mutex<Option<(usize, u64)>>,
    bytes: AtomicU64,
    done: AtomicUsize,
    finished: AtomicUsize,
}

impl Reporter for Counting {
    fn on_start(&self, count: usize, bytes: u64) {
        *self.start.lock().unwrap() = Some((count, bytes));
    }
    fn on_progress(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    fn on_done(&self, _name: &str) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }
    fn on_finish(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn downloads_in_parallel_in_input_order_then_hits_the_cache_offline() {
    let fx = Fixture::new(12);
    let server = Server::new(fx.dir.path(), HashMap::new());
    let items = fx.downloads(&server.url);
    let reporter = Counting::default();
    let paths = fetch_all(&items, &fx.cache, 4, &reporter).unwrap();
    assert_eq!(paths.len(), items.len());
    for (path, (_, data)) in paths.iter().zip(&fx.files) {
        assert_eq!(&std::fs::read(path).unwrap(), data);
    }
    let total: u64 = items.iter().map(|i| i.size).sum();
    assert_eq!(*reporter.start.lock().unwrap(), Some((12, total)));
    assert_eq!(reporter.bytes.load(Ordering::Relaxed), total);
    assert_eq!(reporter.done.load(Ordering::Relaxed), 12);
    assert_eq!(reporter.finished.load(Ordering::Relaxed), 1);
    assert_eq!(server.take_log().len(), 12);

    // Warm: no request at all, even with the server gone.
    drop(server);
    let reporter = Counting::default();
    let again = fetch_all(&items, &fx.cache, 4, &reporter).unwrap();
    assert_eq!(again, paths);
    assert_eq!(*reporter.start.lock().unwrap(), Some((0, 0)));
}

#[test]
fn duplicate_items_are_downloaded_once() {
    let fx = Fixture::new(2);
    let server = Server::new(fx.dir.path(), HashMap::new());
    let mut items = fx.downloads(&server.url);
    items.push(items[0].clone());
    let paths = fetch_all(&items, &fx.cache, 8, &NoReporter).unwrap();
    assert_eq!(paths[0], paths[2]);
    assert_eq!(server.take_log().len(), 2);
}

#[test]
fn digest_mismatch_names_package_url_and_both_digests() {
    let fx = Fixture::new(3);
    let server = Server::new(fx.dir.path(), HashMap::new());
    let mut items = fx.downloads(&server.url);
    let actual = items[1].sha256.clone();
    items[1].sha256 = sha256_hex(b"something else");
    let e = fetch_all(&items, &fx.cache, 2, &NoReporter).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::DigestMismatch { .. }), "{msg}");
    for needle in [
        items[1].name.as_str(),
        items[1].url.as_str(),
        items[1].sha256.as_str(),
        actual.as_str(),
    ] {
        assert!(msg.contains(needle), "{needle} not in {msg}");
    }
    // Never a partial or unverified file.
    assert!(fx.tmp_is_empty());
    assert!(fx.cache.get(&actual).unwrap().is_none());
    assert!(fx.blobs() <= 2);
}

#[test]
fn size_mismatch_is_an_error() {
    let fx = Fixture::new(1);
    let base = format!("file://{}", fx.dir.path().display());
    let mut items = fx.downloads(&base);
    items[0].size -= 1;
    let e = fetch_all(&items, &fx.cache, 1, &NoReporter).unwrap_err();
    assert!(
        matches!(
            e,
            Error::SizeMismatch {
                truncated: true,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains(&items[0].url));
    assert_eq!(fx.blobs(), 0);
    assert!(fx.tmp_is_empty());
}

#[test]
fn file_urls_are_supported() {
    let fx = Fixture::new(3);
    let base = format!("file://{}", fx.dir.path().display());
    let paths = fetch_all(&fx.downloads(&base), &fx.cache, 2, &NoReporter).unwrap();
    assert_eq!(std::fs::read(&paths[2]).unwrap(), fx.files[2].1);
}

#[test]
fn transient_failure_is_retried_once() {
    let fx = Fixture::new(2);
    let once: HashMap<String, usize> = [(format!("/pool/{}", fx.files[0].0), 1)].into();
    let server = Server::new(fx.dir.path(), once);
    let items = fx.downloads(&server.url);
    fetch_all(&items, &fx.cache, 2, &NoReporter).unwrap();
    assert_eq!(server.take_log().len(), 3);
    drop(server);

    let fx = Fixture::new(1);
    let twice: HashMap<String, usize> = [(format!("/pool/{}", fx.files[0].0), 2)].into();
    let server = Server::new(fx.dir.path(), twice);
    let e = fetch_all(&fx.downloads(&server.url), &fx.cache, 1, &NoReporter).unwrap_err();
    assert!(e.to_string().contains("503"), "{e}");
    assert_eq!(server.take_log().len(), 2);
}

#[test]
fn not_found_is_not_retried_and_names_the_package() {
    let fx = Fixture::new(1);
    let server = Server::new(fx.dir.path(), HashMap::new());
    let mut items = fx.downloads(&server.url);
    items[0].url = format!("{}/pool/missing.deb", server.url);
    let e = fetch_all(&items, &fx.cache, 1, &NoReporter).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("`pkg0_1.0_amd64`") && msg.contains("missing.deb") && msg.contains("404"),
        "{msg}"
    );
    assert_eq!(server.take_log().len(), 1);
}

#[test]
fn empty_input_reports_finish() {
    let fx = Fixture::new(0);
    let reporter = Counting::default();
    let paths: Vec<PathBuf> = fetch_all(&[], &fx.cache, 8, &reporter).unwrap();
    assert!(paths.is_empty());
    assert_eq!(reporter.finished.load(Ordering::Relaxed), 1);
}
