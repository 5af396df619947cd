//! A real Debian `docker-registry` (distribution 2.8) process on 127.0.0.1.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{run, tempdir, write};
use crate::yaml_quote;

/// How long [`DockerRegistry::start`] and [`DockerRegistry::restart`] wait
/// for the registry to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a [`DockerRegistry`] requires of its clients.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryOptions {
    /// HTTP Basic credentials (user, password) the registry demands, through
    /// an `htpasswd` file with a bcrypt hash; `None` for anonymous access.
    pub htpasswd: Option<(String, String)>,
    /// Serve HTTPS with a fresh self-signed certificate for `127.0.0.1` and
    /// `localhost` (see [`DockerRegistry::ca_cert`]).
    pub tls: bool,
}

/// A `docker-registry serve` child process listening on `127.0.0.1`, with
/// its configuration, storage and output in a temporary directory.
///
/// Dropping it kills the process and removes the directory.
#[derive(Debug)]
pub struct DockerRegistry {
    dir: tempfile::TempDir,
    storage: PathBuf,
    port: u16,
    options: RegistryOptions,
    child: Option<Child>,
}

impl DockerRegistry {
    /// Starts an anonymous, plain-HTTP registry.
    pub fn start() -> DockerRegistry {
        DockerRegistry::start_with(RegistryOptions::default())
    }

    /// Starts a registry with `options`, and waits until it answers
    /// `GET /v2/` (panicking, with its output, after 10 s).
    pub fn start_with(options: RegistryOptions) -> DockerRegistry {
        let dir = tempdir("bulwark-registry-");
        let storage = dir.path().join("storage");
        crate::util::create_dir_all(&storage);
        if let Some((user, password)) = &options.htpasswd {
            let out = run(
                Command::new("htpasswd").args(["-Bbn", user, password]),
                "htpasswd (package apache2-utils) for a test registry",
            );
            write(&dir.path().join("htpasswd"), &out.stdout);
        }
        if options.tls {
            let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            run(
                Command::new("openssl")
                    .args([
                        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    ])
                    .args(["-subj", "/CN=localhost"])
                    .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
                    // rustls refuses a CA certificate as a server's own.
                    .args(["-addext", "basicConstraints=critical,CA:FALSE"])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert)
                    .stdin(Stdio::null()),
                "openssl: a self-signed certificate for a test registry",
            );
        }
        let mut registry = DockerRegistry {
            dir,
            storage,
            port: 0,
            options,
            child: None,
        };
        // Another process may take the free port between our probe and the
        // registry's bind: try a few ports.
        let mut attempts = 0;
        loop {
            attempts += 1;
            registry.port = free_port();
            registry.write_config();
            registry.spawn();
            match registry.wait_ready() {
                Ok(()) => return registry,
                Err(reason) => {
                    registry.stop();
                    let log = registry.log();
                    if attempts < 3 && log.contains("address already in use") {
                        continue;
                    }
                    panic!(
                        "docker-registry on 127.0.0.1:{} {reason}; its output:\n{}",
                        registry.port,
                        log.trim()
                    );
                }
            }
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The PEM file of the registry's self-signed certificate, to trust as a
    /// CA; `None` for a plain-HTTP registry.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.options.tls.then(|| self.dir.path().join("cert.pem"))
    }

    /// The registry's storage root (`storage.filesystem.rootdirectory`).
    pub fn storage(&self) -> &Path {
        &self.storage
    }

    /// Everything the registry process wrote to stdout and stderr so far
    /// (across restarts).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Kills the registry process and waits for it; idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the registry if it runs, then starts it again on the same
    /// port, storage and `http.secret` (so an upload started before resumes
    /// after), and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
        if let Err(reason) = self.wait_ready() {
            self.stop();
            panic!(
                "docker-registry restarted on 127.0.0.1:{} {reason}; its output:\n{}",
                self.port,
                self.log().trim()
            );
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }

    fn write_config(&self) {
        let d = self.dir.path();
        let q = |p: PathBuf| yaml_quote(&p.to_string_lossy());
        let mut cfg = format!(
            "version: 0.1\n\
             log:\n  level: error\n  formatter: text\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             health:\n  storagedriver:\n    enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: bulwark-test-secret-not-secret\n",
            root = q(self.storage.clone()),
            port = self.port,
        );
        if self.options.tls {
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                q(d.join("cert.pem")),
                q(d.join("key.pem"))
            ));
        }
        if self.options.htpasswd.is_some() {
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: bulwark-test\n    path: {}\n",
                q(d.join("htpasswd"))
            ));
        }
        write(&self.config_path(), cfg.as_bytes());
    }

    fn spawn(&mut self) {
        let log = match OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
        {
            Ok(f) => f,
            Err(e) => panic!("cannot open `{}`: {e}", self.log_path().display()),
        };
        let log2 = match log.try_clone() {
            Ok(f) => f,
            Err(e) => panic!("cannot duplicate a file handle: {e}"),
        };
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(self.config_path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // The registry lets REGISTRY_* variables override its configuration.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(key);
            }
        }
        match cmd.spawn() {
            Ok(child) => self.child = Some(child),
            Err(e) => panic!(
                "cannot run `docker-registry` (package docker-registry; see scripts/setup.sh): {e}"
            ),
        }
    }

    /// Polls `GET /v2/` until the registry answers, its process exits, or
    /// [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(child) = self.child.as_mut() {
                match child.try_wait() {
                    Ok(Some(status)) => return Err(format!("exited early ({status})")),
                    Ok(None) => {}
                    Err(e) => return Err(format!("cannot be waited for: {e}")),
                }
            }
            if probe(addr, self.options.tls) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "did not answer GET /v2/ within {} s",
                    READY_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the registry at `addr` serves HTTP: `GET /v2/` answers 200 or
/// 401, or, for TLS (probed in clear text, which Go's server answers with
/// a 400 naming HTTPS), that 400.
fn probe(addr: SocketAddr, tls: bool) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = s.take(64 * 1024).read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .unwrap_or("");
    if tls {
        status == "400" && answer.contains("HTTPS")
    } else {
        status == "200" || status == "401"
    }
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    let listener = match TcpListener::bind(("127.0.0.1", 0)) {
        Ok(l) => l,
        Err(e) => panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"),
    };
    match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => panic!("cannot read a bound address: {e}"),
    }
}
