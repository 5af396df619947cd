//! Hostile images read by `sbom` and `scan`, one test per class: a dpkg
//! database beyond its bounds (a status file too large, one stanza too
//! large, too many packages, a package listed twice), a layer with more
//! entries than bulwark reads, blobs that are no regular file or do not
//! match their descriptors, terminal controls in the strings an image
//! carries, and layouts sharing storage with the cache.
//!
//! Images are written by hand (`bulwark_testkit::oci`), so each holds
//! exactly the hostile part. Each refusal asserts the exit code, the
//! one-line message, a bounded peak RSS (`/usr/bin/time -f %M`) and time,
//! and that no temporary file is left in `$TMPDIR`.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bulwark_testkit::oci::{layer, write_layout, LayerFile};
use common::{manifest_digest, measure, Run, World};

const OS_RELEASE: &[u8] = b"ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n";

/// Peak RSS allowed for reading a hostile image, in KiB. Reading is
/// bounded per file (the largest, a status file, is streamed); a real
/// image of the same kind takes about 20 MiB.
const RSS_LIMIT_KB: u64 = 160 * 1024;

struct Scratch {
    tmp: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let scratch = Scratch {
            tmp: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(scratch.path("tmp")).unwrap();
        scratch
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bulwark"));
        cmd.current_dir(self.tmp.path())
            .env("HOME", self.tmp.path())
            .env("TMPDIR", self.path("tmp"))
            .env("BULWARK_CACHE_DIR", self.path("cache"))
            .env("NO_COLOR", "1")
            .env_remove("BULWARK_DB");
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        measure(&self.cmd(), args, &self.path("rss")).run
    }

    /// An image of one layer holding `os-release`, `files` and nothing
    /// else; returns `oci:DIR:t`.
    fn image(&self, name: &str, files: Vec<LayerFile<'_>>) -> String {
        let mut all = vec![LayerFile::bytes("etc/os-release", OS_RELEASE)];
        all.extend(files);
        let dir = self.path(name);
        write_layout(&dir, "t", &[layer(all)]);
        format!("oci:{}:t", dir.display())
    }

    /// Runs `args`, which must fail with `code` and one error line holding
    /// every needle, within the RSS bound and a minute, leaving no
    /// temporary file in `$TMPDIR`. Returns the line.
    fn refused(&self, args: &[&str], code: i32, needles: &[&str]) -> String {
        self.refused_within(args, code, needles, RSS_LIMIT_KB)
    }

    /// [`Self::refused`] with a peak RSS bound of `rss_limit_kb`.
    fn refused_within(
        &self,
        args: &[&str],
        code: i32,
        needles: &[&str],
        rss_limit_kb: u64,
    ) -> String {
        let m = measure(&self.cmd(), args, &self.path("rss"));
        let line = m.run.error(code, needles);
        assert!(
            m.rss_kb < rss_limit_kb,
            "`bulwark {}` peaked at {} KiB",
            m.run.args,
            m.rss_kb
        );
        assert!(
            m.took < Duration::from_secs(60),
            "`bulwark {}` took {:?}",
            m.run.args,
            m.took
        );
        let left: Vec<_> = fs::read_dir(self.path("tmp")).unwrap().collect();
        assert!(left.is_empty(), "temporary files were left: {left:?}");
        assert!(
            !line.contains('\u{1b}'),
            "a terminal control reached the error: {line:?}"
        );
        line
    }

    /// `sbom TARGET`, which must be refused with `code`.
    fn sbom_refused(&self, target: &str, code: i32, needles: &[&str]) -> String {
        self.refused(&["sbom", target], code, needles)
    }

    /// A vulnerability database of one record for `pkg`; returns its path.
    fn db(&self) -> PathBuf {
        let feed = self.path("feed");
        fs::create_dir_all(&feed).unwrap();
        fs::write(
            feed.join("CVE-2024-1.json"),
            r#"{"schema_version":"1.6.0","id":"CVE-2024-1","modified":"2025-01-01T00:00:00Z",
               "affected":[{"package":{"ecosystem":"Debian:12","name":"pkg"},
               "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2"}]}]}]}"#,
        )
        .unwrap();
        let db = self.path("vuln.db");
        self.run(&["db", "import", s(&feed), "--db", s(&db)]).ok();
        db
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One installed package's status stanza.
fn stanza(name: &str, version: &str) -> String {
    format!(
        "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\n"
    )
}

#[test]
fn a_status_file_beyond_its_cap_is_refused_before_it_is_read() {
    let x = Scratch::new();
    let size = bulwark_image::MAX_STATUS + 1;
    let target = x.image(
        "big-status",
        vec![LayerFile::zeros("var/lib/dpkg/status", size)],
    );
    x.sbom_refused(&target, 2, &["var/lib/dpkg/status", "larger than"]);
    let db = x.db();
    x.refused(
        &["scan", &target, "--db", s(&db)],
        2,
        &["var/lib/dpkg/status", "larger than"],
    );
}

#[test]
fn one_stanza_beyond_its_cap_is_refused() {
    let x = Scratch::new();
    let mut status = stanza("a", "1");
    status.push_str("Package: b\nDescription: ");
    status.push_str(&"x".repeat(bulwark_image::MAX_STANZA as usize + 10));
    status.push_str("\n\n");
    let target = x.image(
        "big-stanza",
        vec![LayerFile::bytes("var/lib/dpkg/status", status.as_bytes())],
    );
    x.sbom_refused(&target, 2, &["var/lib/dpkg/status", "stanza larger than"]);
}

#[test]
fn more_packages_than_the_cap_are_refused() {
    let x = Scratch::new();
    let status: String = (0..=bulwark_image::MAX_PACKAGES)
        .map(|i| stanza(&format!("p{i}"), "1"))
        .collect();
    let target = x.image(
        "many-packages",
        vec![LayerFile::bytes("var/lib/dpkg/status", status.as_bytes())],
    );
    x.sbom_refused(
        &target,
        2,
        &["var/lib/dpkg/status", "more than 100000 packages"],
    );
}

#[test]
fn a_package_listed_twice_is_refused_and_its_name_is_escaped() {
    let x = Scratch::new();
    // A name with a terminal control: the error must not carry it raw.
    let name = "evil\u{1b}]0;owned\u{7}";
    let status = stanza(name, "1") + &stanza(name, "2");
    let target = x.image(
        "twice",
        vec![LayerFile::bytes("var/lib/dpkg/status", status.as_bytes())],
    );
    x.sbom_refused(&target, 2, &["is listed twice", "evil"]);
}

#[test]
fn a_layer_with_more_entries_than_the_cap_is_refused() {
    let x = Scratch::new();
    let names: Vec<String> = (0..=bulwark_image::MAX_ENTRIES)
        .map(|i| format!("d/{i}"))
        .collect();
    let files = names.iter().map(|n| LayerFile::bytes(n, b"")).collect();
    let target = x.image("many-entries", files);
    // What bulwark keeps of an entry (its path and metadata, about 160
    // bytes) is held until the cap: the bound is the cap's, not the
    // layer's (which could claim any number of entries).
    x.refused_within(
        &["sbom", &target],
        2,
        &["more than 2000000 entries"],
        512 * 1024,
    );
}

/// The last layer blob of the (only) image in `layout`.
fn layer_blob(layout: &Path) -> PathBuf {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"].as_str().unwrap();
    let blob = |d: &str| layout.join("blobs/sha256").join(&d["sha256:".len()..]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(blob(digest)).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    blob(layers.last().unwrap()["digest"].as_str().unwrap())
}

#[test]
fn blobs_that_are_no_regular_file_or_do_not_match_exit_5() {
    let x = Scratch::new();
    let status = stanza("pkg", "1");
    let files = || vec![LayerFile::bytes("var/lib/dpkg/status", status.as_bytes())];

    // A blob replaced by a symlink to /dev/zero would never end.
    let target = x.image("zero", files());
    let blob = layer_blob(&x.path("zero"));
    fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &blob).unwrap();
    x.sbom_refused(&target, 5, &["a character device", "not a regular file"]);

    // A FIFO would block.
    let target = x.image("fifo", files());
    let blob = layer_blob(&x.path("fifo"));
    fs::remove_file(&blob).unwrap();
    let made = Command::new("mkfifo").arg(&blob).status().unwrap();
    assert!(made.success());
    x.sbom_refused(&target, 5, &["a FIFO", "not a regular file"]);

    // A blob longer than its descriptor says: read no further than that.
    let target = x.image("longer", files());
    let blob = layer_blob(&x.path("longer"));
    fs::OpenOptions::new()
        .append(true)
        .open(&blob)
        .unwrap()
        .write_all(&[0; 4096])
        .unwrap();
    let db = x.db();
    x.sbom_refused(&target, 5, &["size"]);
    x.refused(&["scan", &target, "--db", s(&db)], 5, &["size"]);

    // The same size, other bytes: a digest mismatch.
    let target = x.image("changed", files());
    let blob = layer_blob(&x.path("changed"));
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    x.sbom_refused(&target, 5, &["digest"]);
    x.refused(&["scan", &target, "--db", s(&db)], 5, &["digest"]);
}

#[test]
fn terminal_controls_from_an_image_are_printed_escaped() {
    let x = Scratch::new();
    // A package that is not installed is listed with its version in the
    // table; the version carries a terminal title sequence and a clear.
    let status = "Package: pkg\nStatus: deinstall ok config-files\nArchitecture: amd64\n\
                  Version: 1\u{1b}]0;owned\u{7}\u{1b}[2J\n\n"
        .to_string()
        + &stanza("other", "1");
    let target = x.image(
        "controls",
        vec![LayerFile::bytes("var/lib/dpkg/status", status.as_bytes())],
    );
    let db = x.db();
    let run = x.run(&["scan", &target, "--db", s(&db)]).ok();
    assert!(
        run.stdout.contains("pkg 1\\u{1b}]0;owned\\u{7}\\u{1b}[2J"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'));
    // JSON escapes them as JSON does.
    let run = x
        .run(&["scan", &target, "--db", s(&db), "--format", "json"])
        .ok();
    assert!(!run.stdout.contains('\u{1b}'));
    assert!(run.stdout.contains("\\u001b]0;owned"), "{}", run.stdout);
}

/// Two layouts built from one cache share no inode with it or with each
/// other: overwriting a blob of one in place (as a careless tool might)
/// breaks that layout only.
#[test]
fn layouts_never_share_storage_with_the_cache() {
    let w = World::new();
    let key = w.path("keys/release");
    w.run(&["key", "generate", "--out", s(&key)]).ok();
    let spec = w.spec("app", &["fixture-base", "foo"], "");
    let (a, b) = (w.path("a"), w.path("b"));
    for layout in [&a, &b] {
        w.build_ok(
            &spec,
            &format!("oci:{}:latest", layout.display()),
            &["--sign", s(&key)],
        );
    }
    assert_eq!(manifest_digest(&a, "latest"), manifest_digest(&b, "latest"));

    let inodes = |dir: &Path| -> Vec<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        walk(dir)
            .iter()
            .map(|p| fs::metadata(p).unwrap())
            .filter(|m| m.is_file())
            .map(|m| (m.dev(), m.ino()))
            .collect()
    };
    let (in_a, in_b, in_cache) = (inodes(&a), inodes(&b), inodes(&w.path("cache")));
    for inode in &in_a {
        assert!(!in_b.contains(inode) && !in_cache.contains(inode));
    }
    for inode in &in_b {
        assert!(!in_cache.contains(inode));
    }

    // Overwrite A's largest blob in place, keeping its size.
    let largest = walk(&a.join("blobs/sha256"))
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let size = fs::metadata(&largest).unwrap().len() as usize;
    fs::OpenOptions::new()
        .write(true)
        .open(&largest)
        .unwrap()
        .write_all(&vec![b'X'; size])
        .unwrap();

    let public = format!("{}.pub", key.display());
    let verify = |layout: &Path| {
        w.run(&[
            "verify",
            &format!("oci:{}:latest", layout.display()),
            "--key",
            &public,
        ])
    };
    verify(&a).error(5, &[]);
    verify(&b).ok();
    // Building into A again replaces the damaged blob instead of trusting
    // it because its name and size are right.
    w.build_ok(
        &spec,
        &format!("oci:{}:latest", a.display()),
        &["--sign", s(&key)],
    );
    verify(&a).ok();
    // A third build from the same cache is still right.
    let c = w.path("c");
    w.build_ok(
        &spec,
        &format!("oci:{}:latest", c.display()),
        &["--sign", s(&key)],
    );
    verify(&c).ok();
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Key, keyring, VEX and SBOM paths that are a FIFO (which would block) or a
/// device (which would never end) are refused at once, naming the path.
#[test]
fn key_keyring_vex_and_sbom_paths_that_are_no_regular_file_are_refused_at_once() {
    let x = Scratch::new();
    let status = stanza("pkg", "1");
    let target = x.image(
        "plain",
        vec![LayerFile::bytes("var/lib/dpkg/status", status.as_bytes())],
    );
    let db = x.db();
    let fifo = x.path("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let zero = x.path("zero");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for (path, kind) in [(&fifo, "a FIFO"), (&zero, "a character device")] {
        x.refused(&["verify", &target, "--key", s(path)], 2, &[s(path), kind]);
        x.refused(
            &["scan", &target, "--db", s(&db), "--vex", s(path)],
            2,
            &[s(path), kind],
        );
        x.refused(
            &["scan", &format!("sbom:{}", s(path)), "--db", s(&db)],
            2,
            &[s(path), kind],
        );
    }

    let w = World::new();
    let spec = w.raw_spec(
        "fifo.yaml",
        &bulwark_testkit::spec_yaml(&w.repo, "name: app\npackages: [foo]\n")
            .replace(s(&w.repo.keyring()), s(&fifo)),
    );
    let run = w.run(&["build", s(&spec), "-o", s(&w.path("out"))]);
    run.error(2, &[s(&fifo), "a FIFO"]);
    assert!(!w.path("out").exists());
}
