//! [`FixtureRepo`]: a signed Debian repository served on 127.0.0.1.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use crate::gpg::{self, Which};
use crate::server::{Request, Server};
use crate::util;
use crate::DebBuilder;

/// A package to put in a [`FixtureRepo`]: built from a [`DebBuilder`], or an
/// existing `.deb` file (e.g. from [`crate::hostile_deb`]).
#[derive(Clone, Debug)]
pub enum DebSource {
    /// Built with `dpkg-deb` when the repository is built.
    Builder(DebBuilder),
    /// Copied into the pool as is.
    Path(PathBuf),
}

impl From<DebBuilder> for DebSource {
    fn from(b: DebBuilder) -> Self {
        DebSource::Builder(b)
    }
}

impl From<PathBuf> for DebSource {
    fn from(p: PathBuf) -> Self {
        DebSource::Path(p)
    }
}

impl From<&Path> for DebSource {
    fn from(p: &Path) -> Self {
        DebSource::Path(p.to_path_buf())
    }
}

/// The default `Date` of a fixture `Release`: [`crate::SOURCE_DATE_EPOCH`].
const DEFAULT_DATE: &str = "Tue, 14 Nov 2023 22:13:20 UTC";

/// Configures a [`FixtureRepo`]; see [`FixtureRepo::builder`].
#[derive(Clone, Debug)]
pub struct FixtureRepoBuilder {
    suite: String,
    codename: Option<String>,
    version: Option<String>,
    components: Vec<String>,
    archs: Vec<String>,
    origin: String,
    label: String,
    date: String,
    valid_until: Option<String>,
    debs: Vec<(String, DebSource)>,
}

impl FixtureRepoBuilder {
    /// The suite (default `stable`): the directory under `dists/` and the
    /// `Suite` field.
    pub fn suite(mut self, suite: impl Into<String>) -> Self {
        self.suite = suite.into();
        self
    }

    /// The `Codename` field (default: `bookworm`, like Debian's bookworm
    /// Release, whose `Suite` is `oldstable`).
    pub fn codename(mut self, codename: impl Into<String>) -> Self {
        self.codename = Some(codename.into());
        self
    }

    /// The `Version` field (default `12.4`); `None` leaves it out, as
    /// Debian's testing and unstable do.
    pub fn version(mut self, version: Option<&str>) -> Self {
        self.version = version.map(str::to_string);
        self
    }

    /// Adds a component. Without any, the repository has the components
    /// its packages use, or `main`.
    pub fn component(mut self, component: impl Into<String>) -> Self {
        push_unique(&mut self.components, component.into());
        self
    }

    /// Adds an architecture (`binary-ARCH` index). Without any, `amd64`.
    pub fn arch(mut self, arch: impl Into<String>) -> Self {
        push_unique(&mut self.archs, arch.into());
        self
    }

    /// The `Origin` field (default `Debian`).
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = origin.into();
        self
    }

    /// The `Label` field (default `Debian`).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// The `Date` field, RFC 2822 in UTC like
    /// `Tue, 14 Nov 2023 22:13:20 UTC` (the default).
    pub fn date(mut self, date: impl Into<String>) -> Self {
        self.date = date.into();
        self
    }

    /// Adds a `Valid-Until` field (same format as [`Self::date`]); a date
    /// in the past makes an expired repository.
    pub fn valid_until(mut self, date: impl Into<String>) -> Self {
        self.valid_until = Some(date.into());
        self
    }

    /// Adds a package to component `main`.
    pub fn deb(self, deb: impl Into<DebSource>) -> Self {
        self.deb_in("main", deb)
    }

    /// Adds a package to `component`.
    pub fn deb_in(mut self, component: impl Into<String>, deb: impl Into<DebSource>) -> Self {
        self.debs.push((component.into(), deb.into()));
        self
    }

    /// Builds the packages, writes `pool/` and `dists/`, signs the
    /// `Release`, exports the keyrings and starts serving.
    ///
    /// # Panics
    ///
    /// If a tool fails (its stderr is in the message), or a package's
    /// architecture is neither `all` nor one of the repository's.
    pub fn build(self) -> FixtureRepo {
        let mut components = self.components.clone();
        for (c, _) in &self.debs {
            push_unique(&mut components, c.clone());
        }
        if components.is_empty() {
            components.push("main".into());
        }
        let archs = if self.archs.is_empty() {
            vec!["amd64".to_string()]
        } else {
            self.archs.clone()
        };
        let root = util::tempdir("bulwark-fixture-");
        let repo = root.path().join("repo");
        util::create_dir_all(&repo);
        let key = gpg::key(Which::Main);
        util::write(&root.path().join("keyring.gpg"), &key.public_binary);
        util::write(&root.path().join("keyring.asc"), &key.public_armored);

        let config = Config {
            suite: self.suite,
            codename: self.codename,
            version: self.version,
            components,
            archs,
            origin: self.origin,
            label: self.label,
            date: self.date,
            valid_until: self.valid_until,
        };
        let staging = root.path().join("staging");
        for (component, deb) in &self.debs {
            add_to_pool(&config, &repo, &staging, component, deb);
        }
        publish(&config, &repo);
        let server = Server::start(repo.clone());
        let uri = format!("http://127.0.0.1:{}/", server.addr().port());
        FixtureRepo {
            server: Mutex::new(Some(server)),
            uri,
            repo,
            config,
            root,
        }
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// What a repository was built with.
#[derive(Clone, Debug)]
struct Config {
    suite: String,
    codename: Option<String>,
    version: Option<String>,
    components: Vec<String>,
    archs: Vec<String>,
    origin: String,
    label: String,
    date: String,
    valid_until: Option<String>,
}

/// A signed Debian repository in a temporary directory, served over HTTP on
/// 127.0.0.1 until dropped.
///
/// Layout (all under [`FixtureRepo::dir`]):
///
/// ```text
/// pool/COMPONENT/PREFIX/SOURCE/NAME_VERSION_ARCH.deb
/// dists/SUITE/{Release,InRelease,Release.gpg}
/// dists/SUITE/COMPONENT/binary-ARCH/{Packages,Packages.gz,Packages.xz,Release}
/// dists/SUITE/COMPONENT/binary-ARCH/by-hash/SHA256/HEX
/// ```
///
/// `Release` is written by `apt-ftparchive release` with `Acquire-By-Hash:
/// yes`; `InRelease` (clear-signed) and `Release.gpg` (detached) are made by
/// `gpg` with a throwaway RSA-3072 key shared by the test process. The
/// public key is exported next to the served directory, as
/// [`FixtureRepo::keyring`] (binary) and [`FixtureRepo::keyring_armored`].
///
/// ```no_run
/// use bulwark_testkit::{DebBuilder, FixtureRepo};
///
/// let repo = FixtureRepo::builder()
///     .deb(DebBuilder::new("libfoo", "1.0-1").multi_arch("same"))
///     .deb(DebBuilder::new("foo", "1.0-1").depends("libfoo (>= 1.0)"))
///     .build();
/// repo.tamper_inrelease(); // a client must now refuse the repository
/// ```
#[derive(Debug)]
pub struct FixtureRepo {
    // Declared first: the server stops before the directory is removed.
    server: Mutex<Option<Server>>,
    uri: String,
    repo: PathBuf,
    config: Config,
    root: tempfile::TempDir,
}

impl FixtureRepo {
    /// Starts configuring a repository: suite `stable`, codename
    /// `bookworm`, version `12.4`, origin and label `Debian`, a fixed
    /// `Date`; components and architectures default to `main` and `amd64`.
    pub fn builder() -> FixtureRepoBuilder {
        FixtureRepoBuilder {
            suite: "stable".into(),
            codename: None,
            version: Some("12.4".into()),
            components: Vec::new(),
            archs: Vec::new(),
            origin: "Debian".into(),
            label: "Debian".into(),
            date: DEFAULT_DATE.into(),
            valid_until: None,
            debs: Vec::new(),
        }
    }

    /// The base URI, `http://127.0.0.1:PORT/` (with the trailing slash).
    /// It stays the same after [`FixtureRepo::stop_server`], but nothing
    /// answers there any more.
    pub fn uri(&self) -> String {
        self.uri.clone()
    }

    /// The binary keyring (`gpg --export`) that verifies this repository.
    pub fn keyring(&self) -> PathBuf {
        self.root.path().join("keyring.gpg")
    }

    /// The same keyring, armored (`gpg --armor --export`).
    pub fn keyring_armored(&self) -> PathBuf {
        self.root.path().join("keyring.asc")
    }

    /// The served directory (holding `dists/` and `pool/`).
    pub fn dir(&self) -> &Path {
        &self.repo
    }

    /// The suite.
    pub fn suite(&self) -> &str {
        &self.config.suite
    }

    /// The components, in the order they were first named.
    pub fn components(&self) -> &[String] {
        &self.config.components
    }

    /// The architectures with a `binary-ARCH` index.
    pub fn architectures(&self) -> &[String] {
        &self.config.archs
    }

    /// One item of a spec's `repositories` list naming this repository:
    /// `uri` verbatim (e.g. `${SECURITY_MIRROR}`, which the test sets to
    /// [`FixtureRepo::uri`]), its suite, components and binary keyring.
    /// Several items make a spec with several repositories;
    /// [`crate::spec_yaml`] is the one-repository shortcut.
    pub fn spec_repository(&self, uri: &str) -> String {
        format!(
            "  - uri: {}\n    suites: [{}]\n    components: [{}]\n    signed-by: {}\n",
            crate::yaml_quote(uri),
            self.suite(),
            self.components().join(", "),
            crate::yaml_quote(&self.keyring().to_string_lossy())
        )
    }

    /// The path of `dists/SUITE/InRelease`.
    pub fn inrelease(&self) -> PathBuf {
        self.suite_dir().join("InRelease")
    }

    /// The pool files of package `name` (every version and architecture),
    /// sorted.
    pub fn pool_files(&self, name: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        collect_debs(&self.repo.join("pool"), &mut out);
        out.retain(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(&format!("{name}_")))
        });
        out.sort();
        out
    }

    /// The requests the server answered so far, in order: tests use it to
    /// check what a client downloaded (e.g. that `--locked` fetched no
    /// index).
    pub fn requests(&self) -> Vec<Request> {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(Server::requests)
            .unwrap_or_default()
    }

    /// Stops the HTTP server but keeps the files and keyrings: later
    /// connections to [`FixtureRepo::uri`] are refused. For offline tests.
    pub fn stop_server(&self) {
        if let Some(mut s) = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            s.stop();
        }
    }

    /// Adds a package to `component` and republishes the indices and
    /// signatures (same key, same server).
    ///
    /// # Panics
    ///
    /// As [`FixtureRepoBuilder::build`]; also if `component` is not one of
    /// the repository's.
    pub fn add_deb(&self, component: &str, deb: impl Into<DebSource>) {
        assert!(
            self.config.components.iter().any(|c| c == component),
            "component `{component}` is not in the fixture repository"
        );
        let staging = self.root.path().join("staging");
        add_to_pool(&self.config, &self.repo, &staging, component, &deb.into());
        publish(&self.config, &self.repo);
    }

    /// Removes every pool file of package `name` and republishes.
    ///
    /// # Panics
    ///
    /// If the package is not in the pool.
    pub fn remove_package(&self, name: &str) {
        let files = self.pool_files(name);
        assert!(!files.is_empty(), "package `{name}` is not in the pool");
        for f in files {
            if let Err(e) = std::fs::remove_file(&f) {
                panic!("cannot remove `{}`: {e}", f.display());
            }
        }
        publish(&self.config, &self.repo);
    }

    /// Changes one byte of the signed text of `InRelease` (and of
    /// `Release`, so that `Release.gpg` no longer verifies either): the
    /// last letter of the `Origin` value. The signatures are left as they
    /// were, so verification must fail.
    pub fn tamper_inrelease(&self) {
        for name in ["InRelease", "Release"] {
            let path = self.suite_dir().join(name);
            let mut bytes = util::read(&path);
            let Some(at) =
                find(&bytes, b"\nOrigin: ").or_else(|| bytes.starts_with(b"Origin: ").then_some(0))
            else {
                panic!("no `Origin` line in `{}`", path.display());
            };
            let Some(eol) = bytes[at + 1..].iter().position(|&b| b == b'\n') else {
                panic!("unterminated `Origin` line in `{}`", path.display());
            };
            // Flip the case of the last character of the value.
            bytes[at + eol] ^= 0x20;
            util::write(&path, &bytes);
        }
    }

    /// Makes the repository unsigned: `InRelease` becomes the plain
    /// `Release` text and `Release.gpg` is removed.
    pub fn strip_signature(&self) {
        let dir = self.suite_dir();
        let release = util::read(&dir.join("Release"));
        util::write(&dir.join("InRelease"), &release);
        let detached = dir.join("Release.gpg");
        if let Err(e) = std::fs::remove_file(&detached) {
            panic!("cannot remove `{}`: {e}", detached.display());
        }
    }

    /// Changes one byte in the middle of every pool file of package `name`,
    /// keeping its size, so its SHA-256 no longer matches the index.
    /// Calling it again flips the byte back, restoring the files.
    ///
    /// # Panics
    ///
    /// If the package is not in the pool.
    pub fn corrupt_pool_file(&self, name: &str) {
        let files = self.pool_files(name);
        assert!(!files.is_empty(), "package `{name}` is not in the pool");
        for f in files {
            let mut bytes = util::read(&f);
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            util::write(&f, &bytes);
        }
    }

    /// Signs `InRelease` and `Release.gpg` again with a different
    /// throwaway key, which [`FixtureRepo::keyring`] does not hold.
    pub fn resign_with_other_key(&self) {
        sign(&self.suite_dir(), Which::Other);
    }

    fn suite_dir(&self) -> PathBuf {
        self.repo.join("dists").join(&self.config.suite)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn collect_debs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_debs(&path, out);
        } else if path.extension().is_some_and(|e| e == "deb") {
            out.push(path);
        }
    }
}

/// Puts one package in `pool/COMPONENT/PREFIX/SOURCE/`.
fn add_to_pool(config: &Config, repo: &Path, staging: &Path, component: &str, deb: &DebSource) {
    let built;
    let file = match deb {
        DebSource::Builder(b) => {
            built = b.build(staging);
            &built
        }
        DebSource::Path(p) => p,
    };
    let fields = deb_fields(file);
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let Some(name) = get("Package") else {
        panic!("`{}` has no Package field", file.display());
    };
    let arch = get("Architecture").unwrap_or("all");
    assert!(
        arch == "all" || config.archs.iter().any(|a| a == arch),
        "package `{name}` is for `{arch}`, which the fixture repository does not index \
         (add it with `.arch(\"{arch}\")`)"
    );
    let source = get("Source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(name);
    let prefix = if source.starts_with("lib") && source.len() > 3 {
        &source[..4]
    } else {
        &source[..1]
    };
    let dir = repo.join("pool").join(component).join(prefix).join(source);
    util::create_dir_all(&dir);
    let Some(file_name) = file.file_name() else {
        panic!("`{}` is not a file", file.display());
    };
    let dest = dir.join(file_name);
    if let Err(e) = std::fs::copy(file, &dest) {
        panic!("cannot copy `{}` into the pool: {e}", file.display());
    }
}

/// Reads the control fields `dpkg-deb --field` prints for `deb`.
fn deb_fields(deb: &Path) -> Vec<(String, String)> {
    let out = util::run(
        Command::new("dpkg-deb").arg("--field").arg(deb).args([
            "Package",
            "Source",
            "Architecture",
        ]),
        &format!("reading the control fields of `{}`", deb.display()),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Regenerates every index, `Release` and the signatures from the pool.
fn publish(config: &Config, repo: &Path) {
    let suite_dir = repo.join("dists").join(&config.suite);
    if suite_dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(&suite_dir) {
            panic!("cannot clear `{}`: {e}", suite_dir.display());
        }
    }
    let mut indices = Vec::new();
    for component in &config.components {
        for arch in &config.archs {
            let dir = suite_dir.join(component).join(format!("binary-{arch}"));
            util::create_dir_all(&dir);
            let pool = Path::new("pool").join(component);
            let packages = if repo.join(&pool).is_dir() {
                let out = util::run(
                    Command::new("apt-ftparchive")
                        .current_dir(repo)
                        .args(["--arch", arch, "packages"])
                        .arg(&pool),
                    &format!("indexing `{}` for `{arch}`", pool.display()),
                );
                sort_paragraphs(&String::from_utf8_lossy(&out.stdout))
            } else {
                String::new()
            };
            let files = [
                ("Packages", packages.clone().into_bytes()),
                ("Packages.gz", gzip(packages.as_bytes())),
                ("Packages.xz", xz(packages.as_bytes())),
            ];
            for (name, bytes) in &files {
                util::write(&dir.join(name), bytes);
            }
            let component_release = format!(
                "Archive: {}\nOrigin: {}\nLabel: {}\nAcquire-By-Hash: yes\n\
                 Component: {component}\nArchitecture: {arch}\n",
                config.suite, config.origin, config.label
            );
            util::write(&dir.join("Release"), component_release.as_bytes());
            indices.push((dir, files));
        }
    }

    let opt = |k: &str, v: &str| format!("APT::FTPArchive::Release::{k}={v}");
    let mut cmd = Command::new("apt-ftparchive");
    cmd.current_dir(&suite_dir);
    let mut options = vec![
        opt("Origin", &config.origin),
        opt("Label", &config.label),
        opt("Suite", &config.suite),
        opt("Codename", config.codename.as_deref().unwrap_or("bookworm")),
        opt("Date", &config.date),
        opt("Architectures", &config.archs.join(" ")),
        opt("Components", &config.components.join(" ")),
        opt("Acquire-By-Hash", "yes"),
        opt("Description", "bulwark test fixture"),
    ];
    if let Some(version) = &config.version {
        options.push(opt("Version", version));
    }
    // Debian's Release files carry MD5Sum and SHA256 only.
    options.push("APT::FTPArchive::Release::SHA1=false".into());
    options.push("APT::FTPArchive::Release::SHA512=false".into());
    for o in &options {
        cmd.arg("-o").arg(o);
    }
    cmd.args(["release", "."]);
    let release = util::run(&mut cmd, "writing the fixture Release").stdout;
    let mut release = String::from_utf8_lossy(&release).into_owned();
    if let Some(v) = &config.valid_until {
        // apt-ftparchive only derives Valid-Until from a positive ValidTime,
        // so the field is inserted after `Date`.
        let Some(at) = release.find("\nDate: ") else {
            panic!("no `Date` in the generated Release:\n{release}");
        };
        let eol = release[at + 1..]
            .find('\n')
            .map_or(release.len(), |e| at + 1 + e);
        release.insert_str(eol, &format!("\nValid-Until: {v}"));
    }
    util::write(&suite_dir.join("Release"), release.as_bytes());

    // By-hash copies come after Release, which must not list them.
    for (dir, files) in &indices {
        let by_hash = dir.join("by-hash").join("SHA256");
        for (_, bytes) in files {
            util::write(&by_hash.join(util::sha256_hex(bytes)), bytes);
        }
    }
    sign(&suite_dir, Which::Main);
}

fn sign(suite_dir: &Path, which: Which) {
    gpg::sign(
        gpg::key(which),
        &suite_dir.join("Release"),
        &suite_dir.join("InRelease"),
        &suite_dir.join("Release.gpg"),
    );
}

/// Sorts index paragraphs by their text (`Package:` comes first), so the
/// index does not depend on directory order.
fn sort_paragraphs(text: &str) -> String {
    let paragraphs: BTreeSet<&str> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut out = String::new();
    for p in paragraphs {
        out.push_str(p);
        out.push_str("\n\n");
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    match enc.write_all(bytes).and_then(|()| enc.finish()) {
        Ok(b) => b,
        Err(e) => panic!("cannot gzip an index: {e}"),
    }
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = liblzma::write::XzEncoder::new(Vec::new(), 6);
    match enc.write_all(bytes).and_then(|()| enc.finish()) {
        Ok(b) => b,
        Err(e) => panic!("cannot xz an index: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_paragraphs_is_order_independent() {
        let a = "Package: b\nVersion: 1\n\nPackage: a\nVersion: 2\n\n";
        let b = "Package: a\nVersion: 2\n\nPackage: b\nVersion: 1\n";
        assert_eq!(sort_paragraphs(a), sort_paragraphs(b));
        assert!(sort_paragraphs(a).starts_with("Package: a\n"));
        assert_eq!(sort_paragraphs(""), "");
    }
}
