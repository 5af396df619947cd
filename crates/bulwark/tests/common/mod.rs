//! Shared set-up for the hermetic CLI tests: a small package universe in a
//! signed fixture repository on 127.0.0.1, a scratch directory per test and
//! a runner for the `bulwark` binary with a hermetic environment.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use bulwark_testkit::{
    hostile_deb, spec_yaml, DebBuilder, FixtureRepo, FixtureRepoBuilder, Hostile, MIRROR_ENV,
};

/// `/usr/lib/os-release` of the fixture base package.
pub const OS_RELEASE: &str = "PRETTY_NAME=\"Fixture GNU/Linux 12 (bookworm)\"\n\
NAME=\"Fixture GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n\
VERSION_CODENAME=bookworm\nID=debian\n";

/// The body of `/usr/bin/foo`.
pub const FOO_BIN: &str = "#!/bin/sh\necho foo\n";

/// The hostile packages in the universe, by kind: `evil-dotdot`…
pub fn hostile_name(kind: Hostile) -> String {
    format!("evil-{}", kind.label())
}

/// The universe's packages:
///
/// - `fixture-base`: Essential, `/usr/lib/os-release` and the
///   `/etc/os-release` → `../usr/lib/os-release` link;
/// - `libfoo` 1.0-1 (Multi-Arch: same, `/usr/lib/x86_64-linux-gnu/libfoo.so.1`);
/// - `foo` 1.0-1 → `libfoo (>= 1.0)`, `/usr/bin/foo`;
/// - `bar` → `baz | qux` (both exist; apt takes `baz`);
/// - `web` → `httpd`, a virtual package provided by `tinyhttpd`;
/// - `conflicting` Conflicts with `foo`;
/// - `scripty` with a postinst that runs an unknown command;
/// - `top` → `mid` → `libmissing (>= 2)`, and only `libmissing` 1.0 exists;
/// - one hostile package per [`Hostile`] kind, named by [`hostile_name`].
fn universe_debs() -> &'static [PathBuf] {
    static DEBS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DEBS.get_or_init(|| {
        // Builds are reproducible: rebuilding over an earlier run's files
        // gives the same bytes, so a fixed directory under target/ is safe.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hermetic-universe");
        fs::create_dir_all(&dir).unwrap();
        let mut debs: Vec<PathBuf> = universe_builders().iter().map(|b| b.build(&dir)).collect();
        for kind in Hostile::ALL {
            debs.push(hostile_deb(kind, &hostile_name(kind), "1.0", &dir));
        }
        debs
    })
}

fn universe_builders() -> Vec<DebBuilder> {
    vec![
        DebBuilder::new("fixture-base", "12.4")
            .field("Essential", "yes")
            .field("Priority", "required")
            .file("usr/lib/os-release", OS_RELEASE)
            .symlink("etc/os-release", "../usr/lib/os-release")
            .file("usr/share/doc/fixture-base/copyright", "public domain\n"),
        DebBuilder::new("libfoo", "1.0-1")
            .multi_arch("same")
            .field("Source", "foo")
            .file(
                "usr/lib/x86_64-linux-gnu/libfoo.so.1",
                "\x7fELF fake libfoo\n",
            ),
        DebBuilder::new("foo", "1.0-1")
            .depends("libfoo (>= 1.0)")
            .file_mode("usr/bin/foo", FOO_BIN, 0o755),
        DebBuilder::new("bar", "2.0-1")
            .arch("all")
            .depends("baz | qux")
            .file("usr/share/bar/bar.txt", "bar\n"),
        DebBuilder::new("baz", "1.0-1")
            .arch("all")
            .file("usr/share/baz/marker", "baz\n"),
        DebBuilder::new("qux", "1.0-1")
            .arch("all")
            .file("usr/share/qux/marker", "qux\n"),
        DebBuilder::new("web", "1.0-1")
            .arch("all")
            .depends("httpd")
            .file("usr/share/web/index.html", "<html></html>\n"),
        DebBuilder::new("tinyhttpd", "0.9-1")
            .provides("httpd")
            .file_mode("usr/sbin/tinyhttpd", "#!/bin/sh\n", 0o755),
        DebBuilder::new("conflicting", "1.0-1")
            .arch("all")
            .conflicts("foo")
            .file("usr/share/conflicting/x", "x\n"),
        DebBuilder::new("scripty", "1.0-1")
            .arch("all")
            .file("usr/share/scripty/x", "x\n")
            .script(
                "postinst",
                "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n    \
                 frobnicate-widgets --rebuild /var/lib/scripty\nfi\n",
            ),
        DebBuilder::new("top", "1.0-1").arch("all").depends("mid"),
        DebBuilder::new("mid", "1.0-1")
            .arch("all")
            .depends("libmissing (>= 2)"),
        DebBuilder::new("libmissing", "1.0-1").arch("all"),
    ]
}

/// The main test image: fixture-base, foo (+ libfoo), bar (+ baz), web
/// (+ tinyhttpd).
pub const MAIN: &[&str] = &["fixture-base", "foo", "bar", "web"];

/// Every binary package of the main image.
pub const MAIN_CLOSURE: &[&str] = &[
    "fixture-base",
    "foo",
    "libfoo",
    "bar",
    "baz",
    "web",
    "tinyhttpd",
];

/// One test's world: a scratch directory (the `bulwark` working directory,
/// holding the cache and the specs) and the fixture repository.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub repo: FixtureRepo,
}

impl World {
    /// A fresh scratch directory and a fixture repository holding the whole
    /// universe.
    pub fn new() -> World {
        World::with_repo(|b| b)
    }

    /// Like [`World::new`], with the repository's builder changed by
    /// `configure` first (`Origin`, `Version`…).
    pub fn with_repo(configure: impl FnOnce(FixtureRepoBuilder) -> FixtureRepoBuilder) -> World {
        let mut b = configure(FixtureRepo::builder());
        for deb in universe_debs() {
            b = b.deb(deb.as_path());
        }
        World {
            tmp: tempfile::tempdir().unwrap(),
            repo: b.build(),
        }
    }

    /// A path in the scratch directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// Writes `specs/NAME.yaml`: `name: NAME`, the packages, `extra`, and
    /// the fixture repository (see [`spec_yaml`]).
    pub fn spec(&self, name: &str, packages: &[&str], extra: &str) -> PathBuf {
        let body = format!("name: {name}\npackages: [{}]\n{extra}", packages.join(", "));
        self.raw_spec(&format!("{name}.yaml"), &spec_yaml(&self.repo, &body))
    }

    /// Writes `specs/FILE` with exactly `text`.
    pub fn raw_spec(&self, file: &str, text: &str) -> PathBuf {
        let path = self.path("specs").join(file);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    /// The `bulwark` command with a hermetic environment: the fixture as
    /// `${BULWARK_TEST_MIRROR}`, a cache in the scratch directory,
    /// `SOURCE_DATE_EPOCH`, and the scratch directory as working directory.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bulwark"));
        c.current_dir(self.tmp.path())
            .env(MIRROR_ENV, self.repo.uri())
            .env("BULWARK_CACHE_DIR", self.path("cache"))
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("HOME", self.tmp.path())
            .env("NO_COLOR", "1")
            .env_remove("BULWARK_APT_ROOT")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY");
        c
    }

    /// Runs `bulwark ARGS…`.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.cmd().args(args).output().unwrap();
        Run::from(out, args)
    }

    /// `bulwark build SPEC -o oci:DIR` that must succeed; returns the run.
    pub fn build_ok(&self, spec: &Path, out: &str, extra: &[&str]) -> Run {
        let mut args = vec!["build", spec.to_str().unwrap(), "-o", out];
        args.extend_from_slice(extra);
        self.run(&args).ok()
    }
}

/// What one `bulwark` run did.
#[derive(Debug)]
pub struct Run {
    pub args: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output, args: &[&str]) -> Run {
        Run {
            args: args.join(" "),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "`bulwark {}` failed:\n{self:#?}",
            self.args
        );
        self
    }

    /// Asserts exit code `code` and a one-line `error: ` on stderr (the
    /// last line) that contains every needle. Returns that line.
    pub fn error(&self, code: i32, needles: &[&str]) -> String {
        assert_eq!(self.code, Some(code), "`bulwark {}`:\n{self:#?}", self.args);
        let line = self.error_line();
        for n in needles {
            assert!(
                line.contains(n),
                "`bulwark {}`: the error does not name `{n}`: {line}",
                self.args
            );
        }
        line
    }

    /// Asserts that stderr ends with exactly one `error: ` line and
    /// returns it.
    pub fn error_line(&self) -> String {
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "`bulwark {}`: expected one `error: ` line on stderr:\n{}",
            self.args,
            self.stderr
        );
        let last = self.stderr.trim_end().lines().last().unwrap_or("");
        assert_eq!(
            last, errors[0],
            "`bulwark {}`: the error must be one line, the last on stderr:\n{}",
            self.args, self.stderr
        );
        errors[0].to_string()
    }
}

/// What one run measured by `/usr/bin/time` did.
#[derive(Debug)]
pub struct Measured {
    pub run: Run,
    /// Peak resident set size, in KiB.
    pub rss_kb: u64,
    pub took: std::time::Duration,
}

/// Runs `cmd` (a configured `bulwark` command) with `args` under
/// `/usr/bin/time -f %M` (package `time`, which the test command
/// installs), keeping its working directory and environment; the peak RSS
/// goes through `rss_file`.
pub fn measure(cmd: &Command, args: &[&str], rss_file: &Path) -> Measured {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.is_file(),
        "`/usr/bin/time` (package `time`, installed by scripts/setup.sh) is needed to \
         measure peak RSS"
    );
    let mut timed = Command::new(time);
    timed
        .args(["-f", "%M", "-o"])
        .arg(rss_file)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .args(args);
    if let Some(dir) = cmd.get_current_dir() {
        timed.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    let started = std::time::Instant::now();
    let out = timed.output().unwrap();
    let took = started.elapsed();
    let rss = fs::read_to_string(rss_file).unwrap();
    // `time` writes "Command exited with non-zero status N" first.
    let rss_kb = rss
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS from /usr/bin/time: {rss:?}"));
    Measured {
        run: Run::from(out, args),
        rss_kb,
        took,
    }
}

/// Runs an external tool that must succeed; returns its stdout.
pub fn tool(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `skopeo inspect [--config] REF` as JSON.
pub fn skopeo_inspect(reference: &str, config: bool) -> serde_json::Value {
    let mut cmd = Command::new("skopeo");
    cmd.arg("inspect");
    if config {
        cmd.arg("--config");
    }
    let text = tool(cmd.arg(reference));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("skopeo output: {e}\n{text}"))
}

/// The layout's `index.json`.
pub fn index_json(layout: &Path) -> serde_json::Value {
    let text = fs::read_to_string(layout.join("index.json"))
        .unwrap_or_else(|e| panic!("`{}/index.json`: {e}", layout.display()));
    serde_json::from_str(&text).unwrap()
}

/// The digest of the manifest tagged `tag` in the layout.
pub fn manifest_digest(layout: &Path, tag: &str) -> String {
    let index = index_json(layout);
    let manifests = index["manifests"].as_array().expect("index.json manifests");
    manifests
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no manifest tagged `{tag}` in {index:#}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The tags (`org.opencontainers.image.ref.name`) in the layout, sorted.
/// The image tags of a layout, leaving out the `sha256-<hex>` referrers
/// tags that point at attestation indexes.
pub fn tags(layout: &Path) -> Vec<String> {
    let mut t: Vec<String> = index_json(layout)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str())
        .filter(|t| !t.starts_with("sha256-"))
        .map(str::to_string)
        .collect();
    t.sort();
    t
}

/// `umoci unpack --rootless` of `layout:tag` into `bundle`; returns the
/// rootfs.
pub fn unpack(layout: &Path, tag: &str, bundle: &Path) -> PathBuf {
    tool(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:{tag}", layout.display()))
            .arg(bundle),
    );
    bundle.join("rootfs")
}

/// The hex SHA-256 of a file, by `sha256sum`.
pub fn sha256_file(path: &Path) -> String {
    let out = tool(Command::new("sha256sum").arg(path));
    out.split_whitespace().next().unwrap().to_string()
}

/// A recursive listing of `dir` (relative paths, sorted) to compare trees.
pub fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
