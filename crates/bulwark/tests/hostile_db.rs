//! Hostile input to `bulwark db import` and `bulwark db update`, one test
//! per class: feeds that would empty or shrink the database, archives that
//! lie about their members' sizes or inflate without end, downloads that
//! are too large, too slow, tampered with, insecure or carry credentials,
//! and paths that are no regular file.
//!
//! Each test asserts the exit code, the one-line message, a bounded peak
//! RSS (measured with `/usr/bin/time -f %M`, package `time`) and that
//! nothing was written or changed: the database keeps its bytes and the
//! temporary directory stays empty. Servers listen on 127.0.0.1 only.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Measured;
use serde_json::{json, Value};

/// Peak RSS allowed for any of these runs, in KiB: reading a member is
/// bounded at 16 MiB (a buffer of at most 32 MiB) per worker thread, and
/// everything else is small.
fn rss_limit_kb() -> u64 {
    let threads = std::thread::available_parallelism().map_or(8, |n| n.get()) as u64;
    (64 + 32 * threads) * 1024
}

/// One OSV record for `package` in bookworm, fixed in `fixed`.
fn osv(id: &str, package: &str, fixed: &str) -> Value {
    json!({
        "schema_version": "1.6.0",
        "id": id,
        "modified": "2025-01-01T00:00:00Z",
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": package},
            "ranges": [{"type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": fixed}]}],
        }],
    })
}

/// `n` records `CVE-2024-{first}`… as (member name, JSON bytes).
fn records(first: usize, n: usize) -> Vec<(String, Vec<u8>)> {
    (first..first + n)
        .map(|i| {
            let id = format!("CVE-2024-{i}");
            let record = osv(&id, &format!("pkg{i}"), "1.0-2");
            (format!("{id}.json"), serde_json::to_vec(&record).unwrap())
        })
        .collect()
}

/// A flat zip of `members`.
fn zip_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for (name, data) in members {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

/// A tar of `members`, with its end-of-archive blocks.
fn tar_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// One test's scratch directory: a database with ten vulnerabilities,
/// an empty temporary directory for `bulwark`, and a runner that measures
/// peak RSS.
struct Scratch {
    tmp: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let scratch = Scratch {
            tmp: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(scratch.path("tmp")).unwrap();
        let feed = scratch.path("feed.zip");
        fs::write(&feed, zip_of(&records(1, 10))).unwrap();
        let db = scratch.db();
        scratch
            .run(&["db", "import", s(&feed), "--db", s(&db)])
            .run
            .ok();
        scratch
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn db(&self) -> PathBuf {
        self.path("db/vuln.db")
    }

    /// `bulwark ARGS…` under `/usr/bin/time -f %M`, with `TMPDIR` in the
    /// scratch directory and no proxy.
    fn run(&self, args: &[&str]) -> Measured {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bulwark"));
        cmd.current_dir(self.tmp.path())
            .env("HOME", self.tmp.path())
            .env("TMPDIR", self.path("tmp"))
            .env("NO_COLOR", "1")
            .env_remove("BULWARK_DB")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY");
        common::measure(&cmd, args, &self.path("rss"))
    }

    /// Runs `args`, which must fail with `code` and one error line holding
    /// every needle, within the RSS bound and `seconds`, leaving the
    /// database and the temporary directory as they were. Returns the line.
    fn refused(&self, args: &[&str], code: i32, needles: &[&str], seconds: u64) -> String {
        let before = fs::read(self.db()).unwrap();
        let m = self.run(args);
        let line = m.run.error(code, needles);
        assert!(
            m.rss_kb < rss_limit_kb(),
            "`bulwark {}` peaked at {} KiB",
            m.run.args,
            m.rss_kb
        );
        assert!(
            m.took < Duration::from_secs(seconds),
            "`bulwark {}` took {:?}",
            m.run.args,
            m.took
        );
        assert_eq!(fs::read(self.db()).unwrap(), before, "the database changed");
        let db_dir: Vec<_> = fs::read_dir(self.path("db")).unwrap().collect();
        assert_eq!(db_dir.len(), 1, "files were left beside the database");
        let left: Vec<_> = fs::read_dir(self.path("tmp")).unwrap().collect();
        assert!(left.is_empty(), "temporary files were left: {left:?}");
        line
    }

    /// `db import INPUT`, which must be refused (exit 2) naming every needle.
    fn import_refused(&self, input: &Path, needles: &[&str]) -> String {
        let db = self.db();
        self.refused(&["db", "import", s(input), "--db", s(&db)], 2, needles, 30)
    }

    /// `db update --url URL EXTRA…`, which must be refused with `code`
    /// naming every needle.
    fn update_refused(&self, url: &str, extra: &[&str], code: i32, needles: &[&str]) -> String {
        let db = self.db();
        let mut args = vec!["db", "update", "--url", url, "--db", s(&db)];
        args.extend_from_slice(extra);
        self.refused(&args, code, needles, 30)
    }

    fn vulnerabilities(&self) -> u64 {
        let db = self.db();
        let info = self
            .run(&["db", "info", "--db", s(&db), "--format", "json"])
            .run
            .ok();
        let info: Value = serde_json::from_str(&info.stdout).unwrap();
        info["info"]["vulnerabilities"].as_u64().unwrap()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_feed_that_would_empty_or_shrink_the_database_is_refused() {
    let w = Scratch::new();
    let db = w.db();
    assert_eq!(w.vulnerabilities(), 10);
    // One malformed record and nothing else: nothing parses.
    let bad = w.path("bad.json");
    fs::write(&bad, br#"[{"id": "CVE-2024-9", "affected": "not a list"}]"#).unwrap();
    w.import_refused(
        &bad,
        &[&format!(
            "`{}` holds no vulnerability records that can be read (1 malformed)",
            bad.display()
        )],
    );
    // The same feed downloaded: named by its URL.
    let body = fs::read(&bad).unwrap();
    let server = Server::new(move |stream, _, _| send(stream, "200 OK", "", &body));
    let url = server.url("/feed.json");
    w.update_refused(
        &url,
        &[],
        2,
        &[&format!(
            "error: `{url}` holds no vulnerability records that can be read (1 malformed)"
        )],
    );
    // Four good records where there were ten: fewer than half.
    let small = w.path("small.zip");
    fs::write(&small, zip_of(&records(1, 4))).unwrap();
    w.import_refused(
        &small,
        &[
            &format!(
                "the import has 4 vulnerabilities, fewer than half of the 10 in `{}`, which is left as it was",
                db.display()
            ),
            "--allow-shrink",
        ],
    );
    // Records of no Debian release are refused too.
    let other = w.path("other.json");
    let mut pypi = osv("PYSEC-1", "x", "1");
    pypi["affected"][0]["package"]["ecosystem"] = json!("PyPI");
    fs::write(&other, serde_json::to_vec(&pypi).unwrap()).unwrap();
    w.import_refused(
        &other,
        &["none of the 1 records of the import is about a Debian release"],
    );
    // Five is half: accepted; and --allow-shrink accepts fewer on purpose.
    let half = w.path("half.zip");
    fs::write(&half, zip_of(&records(1, 5))).unwrap();
    w.run(&["db", "import", s(&half), "--db", s(&db)]).run.ok();
    assert_eq!(w.vulnerabilities(), 5);
    let one = w.path("one.zip");
    fs::write(&one, zip_of(&records(1, 1))).unwrap();
    w.run(&["db", "import", s(&one), "--db", s(&db), "--allow-shrink"])
        .run
        .ok();
    assert_eq!(w.vulnerabilities(), 1);
}

#[test]
fn a_tar_member_claiming_a_terabyte_is_refused_without_allocating_it() {
    let w = Scratch::new();
    // 1 KiB: a header claiming 1 TiB, and 512 bytes of data.
    let lying = |name: &str| {
        let mut header = tar::Header::new_gnu();
        header.set_path(name).unwrap();
        header.set_size(1 << 40);
        header.set_mode(0o644);
        header.set_cksum();
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend_from_slice(&[b' '; 512]);
        bytes
    };
    let tar = w.path("claims.tar");
    fs::write(&tar, lying("CVE-2024-1.json")).unwrap();
    assert_eq!(fs::metadata(&tar).unwrap().len(), 1024);
    w.import_refused(
        &tar,
        &[&format!(
            "`{}`: member `CVE-2024-1.json` (as declared) is larger than the 16777216-byte limit",
            tar.display()
        )],
    );
    // A member that is not read (not JSON) is skipped by reading through
    // it, which ends at the end of the file.
    let other = w.path("other.tar.gz");
    fs::write(&other, gzip(&lying("README"))).unwrap();
    w.import_refused(
        &other,
        &[&format!(
            "`{}` is not a readable tar archive",
            other.display()
        )],
    );
    // A long name larger than its bound.
    let mut long = tar::Header::new_gnu();
    long.set_path("././@LongLink").unwrap();
    long.set_entry_type(tar::EntryType::GNULongName);
    long.set_size(1 << 20);
    long.set_cksum();
    let mut bytes = long.as_bytes().to_vec();
    bytes.extend(std::iter::repeat_n(b'a', 1 << 20));
    let named = w.path("long-name.tar.gz");
    fs::write(&named, gzip(&bytes)).unwrap();
    w.import_refused(
        &named,
        &["a long member name is larger than the 65536-byte limit"],
    );
}

/// A zip of one member, `bomb.json`, of `size` spaces (JSON whitespace),
/// deflated; with its declared size patched to `declared` when given.
fn zip_bomb(size: usize, declared: Option<u32>) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9));
    zip.start_file("bomb.json", options).unwrap();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..size >> 20 {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap();
    let mut bytes = out.into_inner();
    if let Some(declared) = declared {
        // The uncompressed size: at 22 in the local header, at 24 in the
        // central directory entry.
        let patch = |bytes: &mut Vec<u8>, signature: &[u8], offset: usize| {
            let at = bytes
                .windows(4)
                .position(|w| w == signature)
                .expect("zip header");
            bytes[at + offset..at + offset + 4].copy_from_slice(&declared.to_le_bytes());
        };
        patch(&mut bytes, b"PK\x03\x04", 22);
        patch(&mut bytes, b"PK\x01\x02", 24);
    }
    bytes
}

#[test]
fn a_zip_bomb_stays_within_bounded_memory() {
    let w = Scratch::new();
    // 256 MiB of whitespace in about 256 KB.
    let honest = w.path("honest.zip");
    fs::write(&honest, zip_bomb(256 << 20, None)).unwrap();
    assert!(fs::metadata(&honest).unwrap().len() < 2 << 20);
    w.import_refused(
        &honest,
        &[&format!(
            "`{}`: member `bomb.json` (as declared) is larger than the 16777216-byte limit",
            honest.display()
        )],
    );
    // Declaring 1000 bytes does not help: inflating stops there.
    let lying = w.path("lying.zip");
    fs::write(&lying, zip_bomb(256 << 20, Some(1000))).unwrap();
    w.import_refused(&lying, &[&format!(
            "`{}`: cannot read member `bomb.json`: File is larger than its declared uncompressed size",
            lying.display()
        )]);
    // 64 members of 15 MiB each: about a gigabyte inflated, each member
    // within the bound, in bounded memory (each is malformed JSON).
    let one = zip::ZipArchive::new(std::io::Cursor::new(zip_bomb(15 << 20, None))).unwrap();
    let mut many = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut one = one;
    for i in 0..64 {
        many.raw_copy_file_rename(one.by_index(0).unwrap(), format!("bomb-{i}.json"))
            .unwrap();
    }
    let many_path = w.path("many.zip");
    fs::write(&many_path, many.finish().unwrap().into_inner()).unwrap();
    w.import_refused(
        &many_path,
        &[&format!(
            "`{}` holds no vulnerability records that can be read (64 malformed)",
            many_path.display()
        )],
    );
}

#[test]
fn a_multi_member_tar_gz_is_read_whole() {
    let w = Scratch::new();
    let db = w.db();
    // One tar split across two gzip members, then a second tar in a third.
    let first = tar_of(&records(1, 8));
    let split = 512 * 5;
    let mut feed = gzip(&first[..split]);
    feed.extend(gzip(&first[split..]));
    feed.extend(gzip(&tar_of(&records(9, 4))));
    let path = w.path("multi.tar.gz");
    fs::write(&path, feed).unwrap();
    let m = w.run(&["db", "import", s(&path), "--db", s(&db)]);
    assert!(m.rss_kb < rss_limit_kb(), "peaked at {} KiB", m.rss_kb);
    let run = m.run.ok();
    assert!(
        run.stderr.contains("Imported 12 of 12 records"),
        "{}",
        run.stderr
    );
    assert_eq!(w.vulnerabilities(), 12);
}

#[test]
fn paths_that_are_no_regular_file_or_too_large_are_refused_at_once() {
    let w = Scratch::new();
    let zero = w.path("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    w.import_refused(
        &zero,
        &[&format!(
            "cannot read `{}`: not a regular file",
            zero.display()
        )],
    );
    // Sparse files claiming a terabyte: a JSON feed, and one file of a
    // feed directory.
    let huge = w.path("huge.json");
    fs::File::create(&huge).unwrap().set_len(1 << 40).unwrap();
    w.import_refused(
        &huge,
        &[&format!(
            "`{}`: the file is larger than the 536870912-byte limit",
            huge.display()
        )],
    );
    let dir = w.path("feed-dir");
    fs::create_dir_all(dir.join("CVE/2024")).unwrap();
    for (name, data) in records(1, 10) {
        fs::write(dir.join("CVE/2024").join(name), data).unwrap();
    }
    let member = dir.join("CVE/2024/CVE-2024-99.json");
    fs::File::create(&member).unwrap().set_len(1 << 40).unwrap();
    w.import_refused(
        &dir,
        &[&format!(
            "`{}`: the file is larger than the 16777216-byte limit",
            member.display()
        )],
    );
    let fifo = w.path("fifo.db");
    common::tool(Command::new("mkfifo").arg(&fifo));
    w.refused(
        &["db", "info", "--db", s(&fifo)],
        2,
        &[&format!(
            "cannot read `{}`: not a regular file",
            fifo.display()
        )],
        10,
    );
}

/// A server on 127.0.0.1 that answers each connection with `respond`
/// (given the connection and the request head) on a thread of its own.
struct Server {
    port: u16,
    hits: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Respond = dyn Fn(&mut TcpStream, &str, &AtomicBool) + Send + Sync;

impl Server {
    fn new(respond: impl Fn(&mut TcpStream, &str, &AtomicBool) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let respond: Arc<Respond> = Arc::new(respond);
        let thread = {
            let (hits, heads, stop) = (hits.clone(), heads.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut stream) = stream else { continue };
                    hits.fetch_add(1, Ordering::SeqCst);
                    let (respond, heads, stop) = (respond.clone(), heads.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let mut head = String::new();
                        let mut reader = BufReader::new(stream.try_clone().unwrap());
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                        heads.lock().unwrap().push(head.clone());
                        respond(&mut stream, &head, &stop);
                    });
                }
            })
        };
        Server {
            port,
            hits,
            heads,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers 200 with `body` and `headers` (`Name: value\r\n` lines).
fn send(stream: &mut TcpStream, status: &str, headers: &str, body: &[u8]) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// Writes zeros until the client goes away, `cap` bytes are sent or the
/// server stops.
fn flood(stream: &mut TcpStream, chunked: bool, cap: u64, stop: &AtomicBool) {
    let block = vec![0u8; 1 << 16];
    let mut sent = 0u64;
    while sent < cap && !stop.load(Ordering::SeqCst) {
        let ok = if chunked {
            write!(stream, "{:x}\r\n", block.len()).is_ok()
                && stream.write_all(&block).is_ok()
                && stream.write_all(b"\r\n").is_ok()
        } else {
            stream.write_all(&block).is_ok()
        };
        if !ok {
            return;
        }
        sent += block.len() as u64;
    }
}

#[test]
fn downloads_larger_than_the_bound_are_refused() {
    let w = Scratch::new();
    // Announced: refused before the body is read.
    let announced = Server::new(|stream, _, stop| {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\nConnection: close\r\n\r\n"
        );
        flood(stream, false, 64 << 20, stop);
    });
    let url = announced.url("/all.zip");
    w.update_refused(
        &url,
        &[],
        2,
        &[&format!(
            "cannot fetch `{url}`: it announces 1099511627776 bytes, more than the 1073741824-byte limit"
        )],
    );
    // Not announced: the read stops at the bound (here 1 MiB).
    let streamed = Server::new(|stream, _, stop| {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        );
        flood(stream, true, 256 << 20, stop);
    });
    let url = streamed.url("/all.zip");
    w.update_refused(
        &url,
        &["--max-size", "1M"],
        2,
        &[&format!(
            "cannot fetch `{url}`: larger than the 1048576-byte limit"
        )],
    );
    // Too large is not worth a retry.
    assert_eq!(streamed.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn a_silent_server_times_out_after_one_retry() {
    let w = Scratch::new();
    let db = w.db();
    let silent = Server::new(|_, _, stop| {
        let until = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let url = silent.url("/all.zip");
    w.update_refused(
        &url,
        &["--timeout", "2"],
        2,
        &[&format!("cannot fetch `{url}`: "), "timeout"],
    );
    assert_eq!(silent.hits.load(Ordering::SeqCst), 2, "one retry");
    // A server that stops mid-body is retried too.
    let feed = zip_of(&records(1, 10));
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let flaky = Server::new(move |stream, _, _| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                feed.len()
            );
            let _ = stream.write_all(&feed[..feed.len() / 2]);
        } else {
            send(stream, "200 OK", "", &feed);
        }
    });
    let m = w.run(&[
        "db",
        "update",
        "--url",
        &flaky.url("/all.zip"),
        "--db",
        s(&db),
    ]);
    m.run.ok();
    assert_eq!(flaky.hits.load(Ordering::SeqCst), 2);
}

#[test]
fn plain_http_is_refused_except_to_this_machine() {
    let w = Scratch::new();
    let db = w.db();
    // Never contacted: the address is a documentation one (TEST-NET-1).
    w.update_refused(
        "http://192.0.2.1/all.zip",
        &[],
        2,
        &[
            "`http://192.0.2.1/all.zip`: a feed is not downloaded over plain http",
            "--allow-http",
        ],
    );
    // `localhost` and 127.0.0.0/8 are this machine.
    let feed = zip_of(&records(1, 10));
    let server = Server::new(move |stream, _, _| send(stream, "200 OK", "", &feed));
    let local = format!("http://localhost:{}/all.zip", server.port);
    w.run(&["db", "update", "--url", &local, "--db", s(&db)])
        .run
        .ok();
}

#[test]
fn checksums_are_verified() {
    let w = Scratch::new();
    let db = w.db();
    let feed = zip_of(&records(1, 10));
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&feed));
    let md5 = {
        use base64::Engine;
        use md5::Digest;
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&feed))
    };
    let served = feed.clone();
    let server = Server::new(move |stream, head, _| {
        let header = if head.starts_with("GET /bad-md5 ") {
            "x-goog-hash: crc32c=AAAAAA==,md5=1B2M2Y8AsgTpgAmY7PhCfg==\r\n".to_string()
        } else {
            format!("x-goog-hash: crc32c=AAAAAA==,md5={md5}\r\n")
        };
        send(stream, "200 OK", &header, &served);
    });
    let url = server.url("/all.zip");
    let wrong = "0".repeat(64);
    w.update_refused(
        &url,
        &["--sha256", &wrong],
        5,
        &[&format!(
            "`{url}`: the download's SHA-256 is `{sha256}`, not the expected `{wrong}`"
        )],
    );
    let bad = server.url("/bad-md5");
    w.update_refused(
        &bad,
        &[],
        5,
        &[
            "the download's MD5 (X-Goog-Hash) is",
            "1B2M2Y8AsgTpgAmY7PhCfg==",
        ],
    );
    // The right SHA-256 and MD5 pass.
    w.run(&[
        "db",
        "update",
        "--url",
        &url,
        "--db",
        s(&db),
        "--sha256",
        &sha256,
    ])
    .run
    .ok();
}

#[test]
fn credentials_in_the_url_are_sent_but_never_printed_or_recorded() {
    let w = Scratch::new();
    let db = w.db();
    let feed = zip_of(&records(1, 10));
    let server = Server::new(move |stream, head, _| {
        let authorized = head
            .lines()
            .any(|l| l.eq_ignore_ascii_case("authorization: Basic dXNlcjpzM2NyZXQ="));
        if authorized && head.starts_with("GET /all.zip?token=t0ken ") {
            send(stream, "200 OK", "", &feed);
        } else {
            send(stream, "401 Unauthorized", "", b"");
        }
    });
    let port = server.port;
    let url = format!("http://user:s3cret@127.0.0.1:{port}/all.zip?token=t0ken");
    let shown = format!("http://***@127.0.0.1:{port}/all.zip?token=***");
    let m = w.run(&["db", "update", "--url", &url, "--db", s(&db)]);
    let run = m.run.ok();
    let info = w
        .run(&["db", "info", "--db", s(&db), "--format", "json"])
        .run
        .ok();
    let info_json: Value = serde_json::from_str(&info.stdout).unwrap();
    assert_eq!(info_json["info"]["sources"][0]["location"], shown.as_str());
    let human = w.run(&["db", "info", "--db", s(&db)]).run.ok();
    let bytes = fs::read(&db).unwrap();
    for secret in ["s3cret", "t0ken", "user:"] {
        for text in [&run.stderr, &run.stdout, &info.stdout, &human.stdout] {
            assert!(!text.contains(secret), "`{secret}` printed: {text}");
        }
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "`{secret}` in the database"
        );
    }
    // A refusal names the URL redacted too.
    let wrong = format!("http://user:wr0ng@127.0.0.1:{port}/all.zip?token=t0ken");
    let line = w.update_refused(
        &wrong,
        &[],
        2,
        &[&format!(
            "cannot fetch `{shown}`: the server answered 401 Unauthorized"
        )],
    );
    assert!(!line.contains("wr0ng") && !line.contains("t0ken"), "{line}");
    assert!(
        server
            .heads
            .lock()
            .unwrap()
            .iter()
            .all(|h| !h.contains("s3cret")),
        "the password went into the request line"
    );
}
