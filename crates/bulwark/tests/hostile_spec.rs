//! Hostile specs through the CLI, one test per class: each is refused with
//! exit 2 and one `error: ` line naming the key (and line, where the parser
//! knows it), within a bounded peak RSS (measured by `/usr/bin/time -f %M`)
//! and a generous time, and nothing is written.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{listing, Run, World};

/// Where a build is refused.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// While the spec is loaded, before anything is fetched: nothing is
    /// written but the cache's empty directories (the CLI opens the cache
    /// first), and it costs what the binary costs to start plus the spec's
    /// text (before the limits, the alias test below took 8 GB and the
    /// nesting test minutes of CPU).
    Spec,
    /// While the image is assembled: the packages were fetched into the
    /// cache, and nothing else is written.
    Assembly,
}

impl Stage {
    /// The peak RSS a refusal may reach, in KiB.
    fn max_rss_kb(self) -> u64 {
        match self {
            Stage::Spec => 32 * 1024,
            Stage::Assembly => 256 * 1024,
        }
    }
}
/// Generous, so that a loaded machine does not fail the test; a FIFO read
/// or a quadratic parse would never end or take far longer.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `bulwark ARGS…` under `/usr/bin/time -f %M`, killed after
/// [`DEADLINE`]. Returns the run and its peak RSS in KiB.
fn measured(w: &World, args: &[&str]) -> (Run, u64) {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.is_file(),
        "/usr/bin/time (Debian package `time`) is needed to measure peak RSS"
    );
    let bulwark = w.cmd();
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let err_file = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new(time);
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rss_file.path())
        .arg(bulwark.get_program())
        .args(args)
        .current_dir(w.tmp.path())
        .stdin(Stdio::null())
        .stdout(out_file.reopen().unwrap())
        .stderr(err_file.reopen().unwrap());
    for (k, v) in bulwark.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("cannot run /usr/bin/time");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`bulwark {}` still ran after {DEADLINE:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let rss = fs::read_to_string(rss_file.path()).unwrap();
    let rss: u64 = rss
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {rss:?}"));
    let run = Run {
        args: args.join(" "),
        code: status.code(),
        stdout: fs::read_to_string(out_file.path()).unwrap(),
        stderr: String::from_utf8_lossy(&fs::read(err_file.path()).unwrap()).into_owned(),
    };
    (run, rss)
}

/// `bulwark build SPEC -o oci:out` must be refused at `stage`: exit 2, one
/// error line with every needle, a bounded peak RSS, and the scratch
/// directory as it was, the cache aside (see [`Stage`]). Returns the error
/// line.
#[track_caller]
fn refused(w: &World, spec: &Path, needles: &[&str], stage: Stage) -> String {
    let cache = w.path("cache");
    let written = || -> Vec<String> {
        listing(w.tmp.path())
            .into_iter()
            .filter(|p| !w.path(p).starts_with(&cache))
            .collect()
    };
    let before = written();
    let out = w.path("out");
    let (run, rss) = measured(
        w,
        &[
            "build",
            spec.to_str().unwrap(),
            "-o",
            &format!("oci:{}", out.display()),
        ],
    );
    let line = run.error(2, needles);
    let max = stage.max_rss_kb();
    assert!(rss <= max, "peak RSS {rss} KiB over {max} KiB: {line}");
    assert!(!out.exists(), "an output was written: {line}");
    assert_eq!(before, written(), "files were written: {line}");
    if stage == Stage::Spec {
        let cached: Vec<String> = listing(&cache)
            .into_iter()
            .filter(|p| !cache.join(p).is_dir())
            .collect();
        assert!(cached.is_empty(), "the cache was written: {cached:?}");
    }
    line
}

/// Makes a FIFO, which no one will write to.
fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap_or_else(|e| panic!("mkfifo (coreutils) is needed for this test: {e}"));
    assert!(made.success(), "mkfifo {}", path.display());
}

/// A spec with a valid head and the fixture repository, then `body`.
fn spec(w: &World, name: &str, body: &str) -> PathBuf {
    w.spec(name, &["fixture-base"], body)
}

#[test]
fn alias_amplification_is_refused() {
    let w = World::new();
    // 9^9 nodes from half a kilobyte.
    let mut laughs = "prefer:\n  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n".to_string();
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        laughs.push_str(&format!("  - &a{i} [{refs}]\n"));
    }
    let p = spec(&w, "laughs", &laughs);
    refused(
        &w,
        &p,
        &["laughs.yaml", "aliases expanded", "nodes", "line "],
        Stage::Spec,
    );
    // One 400 KB value aliased 200,000 times from 1 MB: 80 GB of strings.
    let long = "x".repeat(400_000);
    let aliases = vec!["*s"; 200_000].join(",");
    let p = spec(
        &w,
        "strings",
        &format!("environment: {{A: &s {long}}}\ncmd: [{aliases}]\n"),
    );
    assert!(fs::metadata(&p).unwrap().len() <= bulwark_spec::MAX_SPEC_BYTES as u64);
    refused(
        &w,
        &p,
        &["strings.yaml", "bytes of text", "line 4"],
        Stage::Spec,
    );
}

#[test]
fn deep_nesting_is_refused() {
    let w = World::new();
    let room = bulwark_spec::MAX_SPEC_BYTES - 2048;
    let p = spec(&w, "flow", &format!("cmd: {}\n", "[".repeat(room)));
    refused(
        &w,
        &p,
        &["flow.yaml", "nests deeper than 32 levels", "line 3"],
        Stage::Spec,
    );
    let p = spec(
        &w,
        "block",
        &format!("cmd:\n  {}x\n", "- ".repeat(room / 2)),
    );
    refused(
        &w,
        &p,
        &["block.yaml", "nests deeper than 32 levels", "line 4"],
        Stage::Spec,
    );
}

#[test]
fn an_oversized_spec_is_refused() {
    let w = World::new();
    let mut text = fs::read_to_string(spec(&w, "big", "")).unwrap();
    text.push_str(&"#".repeat(bulwark_spec::MAX_SPEC_BYTES));
    let p = w.raw_spec("big.yaml", &text);
    refused(
        &w,
        &p,
        &["cannot read spec", "big.yaml", "larger than 1048576 bytes"],
        Stage::Spec,
    );
}

#[test]
fn a_spec_that_is_not_a_regular_file_is_refused() {
    use std::os::unix::fs::symlink;
    let w = World::new();
    let dir = w.path("specs");
    fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo.yaml");
    mkfifo(&fifo);
    refused(
        &w,
        &fifo,
        &[
            "cannot read spec",
            "fifo.yaml",
            "not a regular file (a FIFO)",
        ],
        Stage::Spec,
    );
    let zero = dir.join("zero.yaml");
    symlink("/dev/zero", &zero).unwrap();
    refused(
        &w,
        &zero,
        &["zero.yaml", "not a regular file (a character device)"],
        Stage::Spec,
    );
}

#[test]
fn environment_and_annotations_are_checked() {
    let w = World::new();
    for (name, body, needles) in [
        (
            "envname",
            "environment: {\"A-B\": x}\n".to_string(),
            vec!["`environment.A-B`", "^[A-Za-z_][A-Za-z0-9_]*$"],
        ),
        (
            "envsize",
            format!("environment: {{A: {}}}\n", "v".repeat(32 * 1024 + 1)),
            vec!["`environment.A`", "the limit of 32768"],
        ),
        (
            "annsize",
            format!(
                "annotations: {{org.example.x: {}}}\n",
                "v".repeat(64 * 1024 + 1)
            ),
            vec!["`annotations.org.example.x`", "the limit of 65536"],
        ),
        (
            "annbulwark",
            "annotations: {dev.bulwark.origins: \"{}\"}\n".to_string(),
            vec!["`annotations.dev.bulwark.origins`", "bulwark's own records"],
        ),
    ] {
        let p = spec(&w, name, &body);
        let file = format!("{name}.yaml");
        let mut needles = needles.clone();
        needles.push(&file);
        refused(&w, &p, &needles, Stage::Spec);
    }
}

#[test]
fn a_second_root_needs_allow_uid_0() {
    let w = World::new();
    let users = "accounts:\n  users: [{username: app, uid: 1000}, {username: toor, uid: 0}]\n";
    let p = spec(&w, "toor", users);
    refused(
        &w,
        &p,
        &[
            "`accounts.users[1].uid`",
            "second root",
            "allow-uid-0: true",
        ],
        Stage::Spec,
    );
    let allowed = users.replace("uid: 0}", "uid: 0, allow-uid-0: true}");
    let p = spec(&w, "toor", &allowed);
    let out = w.path("out-toor");
    w.build_ok(&p, &format!("oci:{}", out.display()), &[]);
    assert!(out.join("index.json").is_file());
}

/// `files[].source` that never ends or never opens: a FIFO without a
/// writer, a symlink to one, and a symlink to `/dev/zero`.
#[test]
fn file_sources_that_are_not_regular_files_are_refused() {
    use std::os::unix::fs::symlink;
    let w = World::new();
    let dir = w.path("specs");
    fs::create_dir_all(&dir).unwrap();
    mkfifo(&dir.join("fifo"));
    symlink("fifo", dir.join("to-fifo")).unwrap();
    symlink("/dev/zero", dir.join("zero")).unwrap();
    for (source, needle) in [
        ("fifo", "`fifo` is not a regular file"),
        ("to-fifo", "`to-fifo` is not a regular file"),
        ("zero", "is outside the spec's directory"),
    ] {
        let p = spec(
            &w,
            "src",
            &format!("files: [{{source: {source}, path: /etc/x}}]\n"),
        );
        refused(&w, &p, &["`files[0].source`", needle], Stage::Assembly);
    }
}
