//! End-to-end tests of the repository client against signed fixture
//! repositories built with the real Debian and GnuPG tools, served over
//! HTTP on 127.0.0.1 or read through `file://`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use bulwark_cache::Cache;
use bulwark_repo::{load, load_with, Error, LoadOptions, NoReporter, SignedBy, Source, TrustError};

const SUITE: &str = "testing";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A throwaway GnuPG home; its agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Gpg {
        let home = tempfile::Builder::new()
            .prefix("bwg")
            .tempdir_in("/tmp")
            .unwrap();
        Gpg { home }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.arg("--homedir").arg(self.home.path()).args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        c
    }

    /// Generates a key; returns the fingerprint of the key that signs
    /// (a signing subkey when `subkey`).
    fn gen(
        &self,
        uid: &str,
        algo: &str,
        expire: &str,
        subkey: bool,
        faked_time: Option<&str>,
    ) -> String {
        let mut c = self.cmd();
        if let Some(t) = faked_time {
            c.args(["--faked-system-time", t]);
        }
        c.args([
            "--quick-gen-key",
            uid,
            algo,
            if subkey { "cert" } else { "sign" },
            expire,
        ]);
        run(&mut c);
        let primary = self.fingerprints(uid)[0].clone();
        if subkey {
            run(self
                .cmd()
                .args(["--quick-add-key", &primary, algo, "sign", expire]));
            return self.fingerprints(uid)[1].clone();
        }
        primary
    }

    fn fingerprints(&self, uid: &str) -> Vec<String> {
        run(self.cmd().args(["--with-colons", "--list-keys", uid]))
            .lines()
            .filter_map(|l| l.strip_prefix("fpr:::::::::"))
            .map(|l| l.trim_end_matches(':').to_string())
            .collect()
    }

    fn export(&self, uid: &str, armor: bool, out: &Path) {
        let mut c = self.cmd();
        if armor {
            c.arg("--armor");
        }
        c.arg("--output").arg(out).args(["--export", uid]);
        run(&mut c);
    }

    fn clearsign(&self, signer: &str, input: &Path, output: &Path, faked_time: Option<&str>) {
        let mut c = self.cmd();
        if let Some(t) = faked_time {
            c.args(["--faked-system-time", t]);
        }
        c.args([
            "--digest-algo",
            "SHA256",
            "--local-user",
            &format!("{signer}!"),
        ])
        .arg("--output")
        .arg(output)
        .arg("--clearsign")
        .arg(input);
        run(&mut c);
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// A repository on disk: two real `.deb`s, indices made by apt-ftparchive.
struct Repo {
    dir: tempfile::TempDir,
    gpg: Gpg,
    signer: String,
    keyring: PathBuf,
    packages_text: String,
}

impl Repo {
    fn dist(&self) -> PathBuf {
        self.dir.path().join("repo/dists").join(SUITE)
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let gpg = Gpg::new();
        let signer = gpg.gen(
            "Test Archive <archive@test>",
            "rsa2048",
            "never",
            true,
            None,
        );
        let keyring = dir.path().join("archive.gpg");
        gpg.export("Test Archive <archive@test>", false, &keyring);
        let root = dir.path().join("repo");
        for (name, version, arch) in [
            ("hello-test", "1.0-1", "amd64"),
            ("data-test", "2:0.5~rc1-3", "all"),
        ] {
            let pkg = dir.path().join("build").join(name);
            std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
            std::fs::create_dir_all(pkg.join("usr/share/doc").join(name)).unwrap();
            std::fs::write(pkg.join("usr/share/doc").join(name).join("README"), name).unwrap();
            std::fs::write(
                pkg.join("DEBIAN/control"),
                format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: T <t@test>\nDescription: test package\n long text\n"),
            )
            .unwrap();
            let pool = root.join("pool/main").join(&name[..1]).join(name);
            std::fs::create_dir_all(&pool).unwrap();
            let file = version.rsplit(':').next().unwrap();
            run(Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zxz", "--build"])
                .arg(&pkg)
                .arg(pool.join(format!("{name}_{file}_{arch}.deb"))));
        }
        let packages_text = run(Command::new("apt-ftparchive")
            .current_dir(&root)
            .args(["packages", "pool"]));
        let repo = Repo {
            dir,
            gpg,
            signer,
            keyring,
            packages_text,
        };
        repo.write_indices(&repo.packages_text.clone());
        repo
    }

    /// Writes Packages, Packages.xz and Packages.gz (and by-hash copies).
    fn write_indices(&self, text: &str) {
        let bin = self.dist().join("main/binary-amd64");
        std::fs::create_dir_all(bin.join("by-hash/SHA256")).unwrap();
        std::fs::write(bin.join("Packages"), text).unwrap();
        run(Command::new("sh").current_dir(&bin).args([
            "-c",
            "xz -kf Packages && gzip -kfn Packages && for f in Packages.xz Packages.gz Packages; do cp $f by-hash/SHA256/$(sha256sum $f | cut -d' ' -f1); done",
        ]));
    }

    /// Writes Release with apt-ftparchive (plus `extra` fields) and signs
    /// InRelease with `signer`.
    fn release(&self, by_hash: bool, extra: &str) -> String {
        let dist = self.dist();
        let _ = std::fs::remove_file(dist.join("Release"));
        let _ = std::fs::remove_file(dist.join("InRelease"));
        let mut cmd = Command::new("apt-ftparchive");
        cmd.current_dir(&dist).args([
            "-o",
            "APT::FTPArchive::Release::Origin=Test",
            "-o",
            "APT::FTPArchive::Release::Suite=testing",
            "-o",
            "APT::FTPArchive::Release::Codename=testing",
            "-o",
            "APT::FTPArchive::Release::Architectures=amd64",
            "-o",
            "APT::FTPArchive::Release::Components=main",
        ]);
        if by_hash {
            cmd.args(["-o", "APT::FTPArchive::Release::Acquire-By-Hash=yes"]);
        }
        let mut text = run(cmd.args(["release", "."]));
        // Drop by-hash copies from the listing, as the archive does.
        text = text
            .lines()
            .filter(|l| !l.contains("by-hash"))
            .map(|l| format!("{l}\n"))
            .collect();
        let at = text.find("MD5Sum:").unwrap();
        text.insert_str(at, extra);
        std::fs::write(dist.join("Release"), &text).unwrap();
        text
    }

    fn sign(&self) {
        self.sign_with(&self.gpg, &self.signer.clone(), None);
    }

    fn sign_with(&self, gpg: &Gpg, signer: &str, faked_time: Option<&str>) {
        let dist = self.dist();
        gpg.clearsign(
            signer,
            &dist.join("Release"),
            &dist.join("InRelease"),
            faked_time,
        );
    }

    fn source(&self, uri: &str) -> Source {
        Source::new(
            uri,
            SUITE,
            &["main"],
            SignedBy::Keyrings(vec![self.keyring.clone()]),
        )
    }

    fn file_source(&self) -> Source {
        self.source(&format!("file://{}", self.root().display()))
    }
}

/// A static file server on 127.0.0.1 that logs request paths.
struct Server {
    server: Arc<tiny_http::Server>,
    url: String,
    log: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn new(root: PathBuf) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (server.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            for request in s.incoming_requests() {
                let path = request.url().to_string();
                l.lock().unwrap().push(path.clone());
                let file = root.join(path.trim_start_matches('/'));
                let _ = match std::fs::File::open(&file) {
                    Ok(f) if file.is_file() => request.respond(tiny_http::Response::from_file(f)),
                    _ => request.respond(tiny_http::Response::empty(404)),
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
        std::mem::take(&mut *self.log.lock().unwrap())
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

fn cache() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    (dir, cache)
}

fn trust_error(result: Result<bulwark_repo::PackageIndex, Error>) -> TrustError {
    match result {
        Err(Error::Untrusted { repository, source }) => {
            assert!(repository.ends_with(" testing"), "{repository}");
            source
        }
        other => panic!("expected Untrusted, got {other:?}"),
    }
}

#[test]
fn valid_repository_loads_by_hash_and_warm_run_only_fetches_inrelease() {
    let repo = Repo::new();
    repo.release(true, "");
    repo.sign();
    let server = Server::new(repo.root());
    let (_c, cache) = cache();
    let source = repo.source(&format!("{}/", server.url));
    let index = load(std::slice::from_ref(&source), "amd64", &cache, &NoReporter).unwrap();

    let mut got: Vec<_> = index
        .packages
        .iter()
        .map(|p| (p.name(), p.version(), p.architecture(), p.component()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("data-test", "2:0.5~rc1-3", "all", "main"),
            ("hello-test", "1.0-1", "amd64", "main")
        ]
    );
    // The stanza is the one apt-ftparchive wrote.
    let hello = index
        .packages
        .iter()
        .find(|p| p.name() == "hello-test")
        .unwrap();
    assert!(repo.packages_text.contains(hello.paragraph().as_str()));
    let deb = repo.root().join(hello.filename().unwrap());
    assert_eq!(hello.size(), Some(std::fs::metadata(&deb).unwrap().len()));
    assert_eq!(
        hello.url().unwrap(),
        format!("{}/{}", server.url, hello.filename().unwrap())
    );
    let release = &index.releases[0];
    assert_eq!(release.origin.as_deref(), Some("Test"));
    assert!(release.acquire_by_hash);
    assert_eq!(release.source.suite, SUITE);
    let inrelease = std::fs::read(repo.dist().join("InRelease")).unwrap();
    assert_eq!(
        release.inrelease_sha256,
        bulwark_cache::sha256_hex(&inrelease)
    );

    let log = server.take_log();
    assert_eq!(log[0], "/dists/testing/InRelease");
    // gzip is preferred: it decompresses faster than xz.
    let gz_sha = &release.files["main/binary-amd64/Packages.gz"].sha256;
    assert_eq!(
        log[1],
        format!("/dists/testing/main/binary-amd64/by-hash/SHA256/{gz_sha}")
    );
    assert_eq!(log.len(), 2, "{log:?}");

    // Warm: same InRelease, so only InRelease is fetched.
    let again = load(&[source], "amd64", &cache, &NoReporter).unwrap();
    assert_eq!(again.packages.len(), 2);
    assert_eq!(server.take_log(), ["/dists/testing/InRelease"]);
}

#[test]
fn fetches_by_name_without_acquire_by_hash_and_reports_progress() {
    #[derive(Default)]
    struct Count(Mutex<(Vec<String>, u64, usize)>);
    impl bulwark_repo::Reporter for Count {
        fn on_index_start(&self, url: &str, _size: u64) {
            self.0.lock().unwrap().0.push(url.to_string());
        }
        fn on_index_progress(&self, bytes: u64) {
            self.0.lock().unwrap().1 += bytes;
        }
        fn on_index_done(&self, _url: &str) {
            self.0.lock().unwrap().2 += 1;
        }
    }
    let repo = Repo::new();
    // Without a Packages.gz, the .xz is used.
    std::fs::remove_file(repo.dist().join("main/binary-amd64/Packages.gz")).unwrap();
    repo.release(false, "");
    repo.sign();
    let server = Server::new(repo.root());
    let (_c, cache) = cache();
    let reporter = Count::default();
    let index = load(&[repo.source(&server.url)], "amd64", &cache, &reporter).unwrap();
    assert_eq!(index.packages.len(), 2);
    assert_eq!(
        server.take_log(),
        [
            "/dists/testing/InRelease",
            "/dists/testing/main/binary-amd64/Packages.xz"
        ]
    );
    let (urls, bytes, done) = std::mem::take(&mut *reporter.0.lock().unwrap());
    assert_eq!(urls.len(), 1);
    let xz = std::fs::metadata(repo.dist().join("main/binary-amd64/Packages.xz")).unwrap();
    assert_eq!((bytes, done), (xz.len(), 1));
}

#[test]
fn keyrings_binary_armored_and_inline_and_file_uris() {
    let repo = Repo::new();
    repo.release(true, "");
    repo.sign();
    let (_c, cache) = cache();
    let armored = repo.dir.path().join("archive.asc");
    repo.gpg
        .export("Test Archive <archive@test>", true, &armored);
    let text = std::fs::read_to_string(&armored).unwrap();
    for signed_by in [
        SignedBy::Keyrings(vec![repo.keyring.clone()]),
        SignedBy::Keyrings(vec![armored.clone()]),
        SignedBy::Inline(text),
    ] {
        let source = Source {
            signed_by,
            ..repo.file_source()
        };
        let index = load(&[source], "amd64", &cache, &NoReporter).unwrap();
        assert_eq!(index.packages.len(), 2);
    }
}

#[test]
fn ed25519_primary_key_signature_verifies() {
    let repo = Repo::new();
    repo.release(true, "");
    let other = Gpg::new();
    let fpr = other.gen("Ed Archive <ed@test>", "ed25519", "never", false, None);
    repo.sign_with(&other, &fpr, None);
    let ring = repo.dir.path().join("ed.asc");
    other.export("Ed Archive <ed@test>", true, &ring);
    let (_c, cache) = cache();
    let source = Source {
        signed_by: SignedBy::Keyrings(vec![ring, repo.keyring.clone()]),
        ..repo.file_source()
    };
    assert_eq!(
        load(&[source], "amd64", &cache, &NoReporter)
            .unwrap()
            .packages
            .len(),
        2
    );
}

#[test]
fn unsigned_inrelease_is_refused() {
    let repo = Repo::new();
    let text = repo.release(true, "");
    std::fs::write(repo.dist().join("InRelease"), text).unwrap();
    let (_c, cache) = cache();
    let e = trust_error(load(&[repo.file_source()], "amd64", &cache, &NoReporter));
    assert!(matches!(e, TrustError::Unsigned(_)), "{e}");
}

#[test]
fn a_release_without_inrelease_is_unsigned() {
    let repo = Repo::new();
    let text = repo.release(true, "");
    let dist = repo.dist();
    std::fs::write(dist.join("Release"), text).unwrap();
    let _ = std::fs::remove_file(dist.join("InRelease"));
    let (_c, cache) = cache();
    let e = trust_error(load(&[repo.file_source()], "amd64", &cache, &NoReporter));
    assert!(matches!(e, TrustError::Unsigned(_)), "{e}");
    assert!(e.to_string().contains("no `InRelease`"), "{e}");
}

#[test]
fn tampered_inrelease_is_refused() {
    let repo = Repo::new();
    repo.release(true, "");
    repo.sign();
    let path = repo.dist().join("InRelease");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("Origin: Test", "Origin: Tesu", 1)).unwrap();
    // gpg agrees it is bad.
    assert!(!Command::new("gpgv")
        .arg("--keyring")
        .arg(&repo.keyring)
        .arg(&path)
        .output()
        .unwrap()
        .status
        .success());
    let (_c, cache) = cache();
    let e = trust_error(load(&[repo.file_source()], "amd64", &cache, &NoReporter));
    assert!(matches!(e, TrustError::BadSignature(_)), "{e}");
}

#[test]
fn unknown_key_is_refused() {
    let repo = Repo::new();
    repo.release(true, "");
    let other = Gpg::new();
    let fpr = other.gen("Intruder <evil@test>", "rsa2048", "never", false, None);
    repo.sign_with(&other, &fpr, None);
    let (_c, cache) = cache();
    let e = trust_error(load(&[repo.file_source()], "amd64", &cache, &NoReporter));
    match &e {
        TrustError::UnknownKey(k) => assert_eq!(k, &fpr),
        e => panic!("{e}"),
    }
    assert!(e.to_string().contains(&fpr));
}

#[test]
fn expired_key_is_refused() {
    let repo = Repo::new();
    repo.release(true, "");
    let old = Gpg::new();
    let t = "20200101T000000!";
    let fpr = old.gen("Old Archive <old@test>", "rsa2048", "2d", false, Some(t));
    repo.sign_with(&old, &fpr, Some("20200101T120000!"));
    let ring = repo.dir.path().join("old.gpg");
    old.export("Old Archive <old@test>", false, &ring);
    let (_c, cache) = cache();
    let source = Source {
        signed_by: SignedBy::Keyrings(vec![ring]),
        ..repo.file_source()
    };
    // Valid while the key was (at the signing time) ...
    let then = LoadOptions {
        now: Some(1_577_880_000),
        ..LoadOptions::default()
    };
    assert!(load_with(
        std::slice::from_ref(&source),
        "amd64",
        &cache,
        &NoReporter,
        &then
    )
    .is_ok());
    // ... refused now.
    let e = trust_error(load(&[source], "amd64", &cache, &NoReporter));
    assert!(matches!(e, TrustError::ExpiredKey { .. }), "{e}");
}

#[test]
fn valid_until_in_the_past_is_refused() {
    let repo = Repo::new();
    repo.release(true, "Valid-Until: Sat, 01 Jan 2022 00:00:00 UTC\n");
    repo.sign();
    let (_c, cache) = cache();
    let e = trust_error(load(&[repo.file_source()], "amd64", &cache, &NoReporter));
    assert_eq!(
        e,
        TrustError::Expired("Sat, 01 Jan 2022 00:00:00 UTC".into())
    );

    repo.release(true, "Valid-Until: Sat, 01 Jan 2220 00:00:00 UTC\n");
    repo.sign();
    let index = load(&[repo.file_source()], "amd64", &cache, &NoReporter).unwrap();
    assert_eq!(
        index.releases[0].valid_until.as_deref(),
        Some("Sat, 01 Jan 2220 00:00:00 UTC")
    );
}

#[test]
fn index_not_matching_release_is_refused() {
    let repo = Repo::new();
    repo.release(false, "");
    repo.sign();
    // Replace the indices after signing.
    repo.write_indices(&repo.packages_text.replace("1.0-1", "6.6-6"));
    let (_c, cache) = cache();
    let e = load(&[repo.file_source()], "amd64", &cache, &NoReporter).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::IndexMismatch { .. }), "{msg}");
    assert!(
        msg.contains("Packages.gz") && msg.contains("does not match"),
        "{msg}"
    );
    // Nothing unverified was cached.
    let blobs: Vec<_> = walk(&cache.root().join("blobs"));
    assert_eq!(blobs.len(), 1, "only InRelease may be cached: {blobs:?}");
}

#[test]
fn decompressed_index_must_match_the_uncompressed_entry() {
    let repo = Repo::new();
    repo.release(false, "");
    // List a different uncompressed Packages digest, then sign.
    let release = std::fs::read_to_string(repo.dist().join("Release")).unwrap();
    let plain = std::fs::read(repo.dist().join("main/binary-amd64/Packages")).unwrap();
    let sha = bulwark_cache::sha256_hex(&plain);
    let tampered = release.replace(&sha, &"1".repeat(64));
    assert_ne!(tampered, release);
    std::fs::write(repo.dist().join("Release"), tampered).unwrap();
    repo.sign();
    let (_c, cache) = cache();
    let e = load(&[repo.file_source()], "amd64", &cache, &NoReporter).unwrap_err();
    assert!(
        matches!(e, bulwark_repo::Error::IndexMismatch { .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("(decompressed)`")
            && e.to_string()
                .contains("does not match the signed Release file"),
        "{e}"
    );
}

#[test]
fn offline_uses_the_last_verified_inrelease() {
    let repo = Repo::new();
    repo.release(true, "");
    repo.sign();
    let (_c, cache) = cache();
    let offline = LoadOptions {
        offline: true,
        ..LoadOptions::default()
    };
    let server = Server::new(repo.root());
    let source = repo.source(&server.url);
    let e = load_with(
        std::slice::from_ref(&source),
        "amd64",
        &cache,
        &NoReporter,
        &offline,
    )
    .unwrap_err();
    assert!(matches!(e, Error::NotCached { .. }), "{e}");
    load(std::slice::from_ref(&source), "amd64", &cache, &NoReporter).unwrap();
    server.take_log();
    let index = load_with(&[source], "amd64", &cache, &NoReporter, &offline).unwrap();
    assert_eq!(index.packages.len(), 2);
    assert!(server.take_log().is_empty());
}

#[test]
fn missing_component_and_architecture_filtering() {
    let repo = Repo::new();
    repo.release(true, "");
    repo.sign();
    let (_c, cache) = cache();
    let source = Source {
        components: vec!["contrib".into()],
        ..repo.file_source()
    };
    let e = load(&[source], "amd64", &cache, &NoReporter).unwrap_err();
    assert!(e.to_string().contains("`contrib`"), "{e}");
    let e = load(&[repo.file_source()], "arm64", &cache, &NoReporter).unwrap_err();
    assert!(e.to_string().contains("binary-arm64"), "{e}");
    let arm_only = Source {
        architectures: vec!["arm64".into()],
        ..repo.file_source()
    };
    assert!(load(&[arm_only], "amd64", &cache, &NoReporter)
        .unwrap()
        .packages
        .is_empty());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Loads the host's Debian bookworm repository (from the host's APT
/// configuration) and checks `base-files` is there. A live test: it fails
/// when there is no such source or the mirror cannot be reached.
#[test]
fn live_host_bookworm() {
    let sources = bulwark_repo::host_sources(Path::new("/"))
        .unwrap_or_else(|e| panic!("a live test needs the host's APT sources: {e}"));
    let source = sources
        .into_iter()
        .find(|s| s.suite == "bookworm")
        .expect("a live test needs a host APT source carrying `bookworm`");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bulwark-repo-live-cache");
    let cache = Cache::open(&dir).unwrap();
    let index = load(&[source], "amd64", &cache, &NoReporter).unwrap_or_else(|e| panic!("{e}"));
    let base = index.packages.iter().find(|p| p.name() == "base-files");
    let base = base.expect("base-files is in bookworm");
    assert!(base.version().starts_with("12."), "{}", base.version());
    assert_eq!(index.releases[0].codename.as_deref(), Some("bookworm"));
    assert!(index.packages.len() > 50_000);
}

#[test]
fn revoked_key_is_refused() {
    let repo = Repo::new();
    repo.release(true, "");
    let gpg = Gpg::new();
    let fpr = gpg.gen(
        "Revoked Archive <rev@test>",
        "rsa2048",
        "never",
        false,
        None,
    );
    repo.sign_with(&gpg, &fpr, None);
    // Import the revocation certificate gpg stored at key generation.
    let cert = gpg.home.path().join(format!("openpgp-revocs.d/{fpr}.rev"));
    let cert_text = std::fs::read_to_string(&cert)
        .unwrap()
        .replace(":-----BEGIN", "-----BEGIN");
    let armored = repo.dir.path().join("revocation.asc");
    std::fs::write(&armored, cert_text).unwrap();
    run(gpg.cmd().arg("--import").arg(&armored));
    let ring = repo.dir.path().join("revoked.gpg");
    gpg.export("Revoked Archive <rev@test>", false, &ring);
    let (_c, cache) = cache();
    let source = Source {
        signed_by: SignedBy::Keyrings(vec![ring]),
        ..repo.file_source()
    };
    let e = trust_error(load(&[source], "amd64", &cache, &NoReporter));
    assert_eq!(e, TrustError::RevokedKey(fpr));
}

#[test]
fn a_new_inrelease_is_never_served_stale_indices() {
    let repo = Repo::new();
    repo.release(true, "");
    repo.sign();
    let (_c, cache) = cache();
    let first = load(&[repo.file_source()], "amd64", &cache, &NoReporter).unwrap();
    assert!(first.packages.iter().any(|p| p.version() == "1.0-1"));
    // The archive moves on: the read-ahead of the old index must not be used.
    repo.write_indices(&repo.packages_text.replace("1.0-1", "1.0-2"));
    repo.release(true, "");
    repo.sign();
    let second = load(&[repo.file_source()], "amd64", &cache, &NoReporter).unwrap();
    let hello = second
        .packages
        .iter()
        .find(|p| p.name() == "hello-test")
        .unwrap();
    assert_eq!(hello.version(), "1.0-2");
    assert_ne!(
        first.releases[0].inrelease_sha256,
        second.releases[0].inrelease_sha256
    );
}
