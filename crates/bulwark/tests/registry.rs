//! Hermetic acceptance tests of the registry commands: `bulwark push`,
//! `bulwark pull`, the `docker://` targets of `sbom`, `scan` and `verify`,
//! and `build -o docker://…`, against the real `docker-registry`
//! (distribution 2.8) on 127.0.0.1 and, where requests are counted,
//! authenticated by token, listed through the referrers API or broken on
//! purpose, the testkit's `Front` before it. Interoperability is checked
//! with skopeo.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bulwark_testkit::registry::{
    DockerRegistry, Fault, Front, FrontOptions, LoggedRequest, RegistryOptions,
};
use bulwark_testkit::{DebBuilder, FixtureRepo};
use common::{index_json, manifest_digest, Run, World, MAIN, MAIN_CLOSURE};
use serde_json::{json, Value};

/// The variables that would leak the caller's registry set-up into a run.
const AMBIENT: &[&str] = &[
    "DOCKER_CONFIG",
    "BULWARK_REGISTRY_USER",
    "BULWARK_REGISTRY_PASSWORD",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    "BULWARK_DB",
];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A world with a key pair `keys/release{,.pub}` and a signed image in the
/// layout `out`, tagged `latest`.
struct Image {
    w: World,
    key: PathBuf,
    layout: PathBuf,
}

impl Image {
    /// A key pair, and (when `spec` is given) the signed build of it.
    fn with(w: World, spec: Option<PathBuf>) -> Image {
        let key = w.path("keys/release");
        w.run(&["key", "generate", "--out", s(&key)]).ok();
        let layout = w.path("out");
        if let Some(spec) = spec {
            let out = format!("oci:{}:latest", layout.display());
            w.build_ok(&spec, &out, &["--sign", s(&key)]);
        }
        Image { w, key, layout }
    }

    /// The signed main image, for amd64.
    fn main() -> Image {
        let w = World::new();
        let spec = w.spec("app", MAIN, "");
        Image::with(w, Some(spec))
    }

    /// A signed image for amd64 and arm64 (an index).
    fn multi() -> Image {
        let w = multi_arch_world();
        let spec = w.spec("multi", &["fixture-base", "hello"], "");
        Image::with(w, Some(spec))
    }

    fn public(&self) -> String {
        format!("{}.pub", self.key.display())
    }

    /// `oci:out:latest`.
    fn source(&self) -> String {
        format!("oci:{}:latest", self.layout.display())
    }

    /// The digest `latest` points at.
    fn digest(&self) -> String {
        manifest_digest(&self.layout, "latest")
    }

    /// `bulwark` with the world's hermetic environment and none of the
    /// caller's registry credentials, Docker config or proxies.
    fn cmd(&self) -> Command {
        let mut c = self.w.cmd();
        for name in AMBIENT {
            c.env_remove(name);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        run_cmd(self.cmd(), args, None)
    }

    /// `bulwark push oci:out:latest DEST --format json EXTRA…`.
    fn push(&self, dest: &str, extra: &[&str]) -> Run {
        self.push_with(self.cmd(), dest, extra, None)
    }

    fn push_with(&self, cmd: Command, dest: &str, extra: &[&str], stdin: Option<&str>) -> Run {
        let source = self.source();
        let mut args = vec!["push", source.as_str(), dest, "--format", "json"];
        args.extend_from_slice(extra);
        run_cmd(cmd, &args, stdin)
    }

    /// A push that must succeed; returns its report.
    fn push_ok(&self, dest: &str, extra: &[&str]) -> Value {
        report(&self.push(dest, extra).ok())
    }

    /// `bulwark verify TARGET --key KEY.pub EXTRA…`.
    fn verify(&self, target: &str, extra: &[&str]) -> Run {
        let public = self.public();
        let mut args = vec!["verify", target, "--key", public.as_str()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// A verification that must pass, every check ok; returns the report.
    fn verify_ok(&self, target: &str, extra: &[&str]) -> Value {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        let run = self.verify(target, &args).ok();
        let report = report(&run);
        assert_eq!(report["exit_code"], 0, "{report:#}");
        let checks = report["checks"].as_array().unwrap();
        assert!(!checks.is_empty(), "{report:#}");
        assert!(checks.iter().all(|c| c["ok"] == true), "{report:#}");
        for name in ["signature", "provenance", "sbom-spdx"] {
            assert!(
                checks
                    .iter()
                    .any(|c| c["name"].as_str().unwrap().starts_with(name)),
                "`bulwark {}`: no `{name}` check: {report:#}",
                run.args
            );
        }
        report
    }

    /// `bulwark pull SOURCE oci:DEST --format json EXTRA…`.
    fn pull(&self, source: &str, dest: &str, extra: &[&str]) -> Run {
        let mut args = vec!["pull", source, dest, "--format", "json"];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

/// Runs `cmd ARGS…` with `stdin` (else nothing) on standard input.
fn run_cmd(mut cmd: Command, args: &[&str], stdin: Option<&str>) -> Run {
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        args: args.join(" "),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The JSON document a run printed.
fn report(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("`bulwark {}`: no JSON on stdout ({e}):\n{run:#?}", run.args))
}

/// A repository with `fixture-base` (all) and `hello` for amd64 and arm64.
fn multi_arch_world() -> World {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("registry-multi-universe");
    fs::create_dir_all(&dir).unwrap();
    let mut builders = vec![DebBuilder::new("fixture-base", "12.4")
        .arch("all")
        .field("Essential", "yes")
        .field("Priority", "required")
        .file("usr/lib/os-release", common::OS_RELEASE)
        .symlink("etc/os-release", "../usr/lib/os-release")
        .file("usr/share/doc/fixture-base/copyright", "public domain\n")];
    for arch in ["amd64", "arm64"] {
        builders.push(DebBuilder::new("hello", "2.10-1").arch(arch).file_mode(
            "usr/bin/hello",
            format!("#!/bin/sh\necho hello from {arch}\n"),
            0o755,
        ));
    }
    let mut b = FixtureRepo::builder().arch("amd64").arch("arm64");
    for deb in builders.iter().map(|b| b.build(&dir)) {
        b = b.deb(deb);
    }
    World {
        tmp: tempfile::tempdir().unwrap(),
        repo: b.build(),
    }
}

// ---------------------------------------------------------------------------
// Reading layouts.

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

fn read_json(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("`{}`: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

fn is_index(doc: &Value) -> bool {
    doc["manifests"].is_array()
}

/// The digests of the image `digest` names in the layout: itself and, for
/// a manifest, its config and layers; for an index, those of every
/// manifest it lists.
fn image_blobs(layout: &Path, digest: &str, out: &mut BTreeSet<String>) {
    out.insert(digest.to_string());
    let doc = read_json(&blob_path(layout, digest));
    if is_index(&doc) {
        for m in doc["manifests"].as_array().unwrap() {
            image_blobs(layout, m["digest"].as_str().unwrap(), out);
        }
    } else {
        out.insert(doc["config"]["digest"].as_str().unwrap().to_string());
        for l in doc["layers"].as_array().unwrap() {
            out.insert(l["digest"].as_str().unwrap().to_string());
        }
    }
}

/// The image manifests and indexes of the image `digest` names, itself
/// included.
fn image_manifests(layout: &Path, digest: &str, out: &mut Vec<String>) {
    let doc = read_json(&blob_path(layout, digest));
    if is_index(&doc) {
        for m in doc["manifests"].as_array().unwrap() {
            image_manifests(layout, m["digest"].as_str().unwrap(), out);
        }
    }
    out.push(digest.to_string());
}

/// The artifact manifests the layout lists (by its `sha256-<hex>` tags) as
/// referrers of `subject`, and theirs.
fn referrers(layout: &Path, subject: &str, out: &mut Vec<String>) {
    let tag = format!("sha256-{}", subject.strip_prefix("sha256:").unwrap());
    let index = index_json(layout);
    let Some(entry) = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
    else {
        return;
    };
    let listing = read_json(&blob_path(layout, entry["digest"].as_str().unwrap()));
    for d in listing["manifests"].as_array().unwrap() {
        let digest = d["digest"].as_str().unwrap().to_string();
        if !out.contains(&digest) {
            out.push(digest.clone());
            referrers(layout, &digest, out);
        }
    }
}

/// What a push of the image tagged `latest` sends, read from the layout.
struct Contents {
    /// Image manifests and indexes, the top one last.
    manifests: Vec<String>,
    /// Artifact manifests attached to them (and to each other).
    artifacts: Vec<String>,
    /// Every blob: configs, layers, artifact documents.
    blobs: BTreeSet<String>,
}

fn contents(layout: &Path) -> Contents {
    let top = manifest_digest(layout, "latest");
    let mut manifests = Vec::new();
    image_manifests(layout, &top, &mut manifests);
    let mut artifacts = Vec::new();
    for m in &manifests {
        referrers(layout, m, &mut artifacts);
    }
    let mut blobs = BTreeSet::new();
    for m in manifests.iter().chain(&artifacts) {
        let doc = read_json(&blob_path(layout, m));
        if is_index(&doc) {
            continue;
        }
        blobs.insert(doc["config"]["digest"].as_str().unwrap().to_string());
        for l in doc["layers"].as_array().unwrap() {
            blobs.insert(l["digest"].as_str().unwrap().to_string());
        }
    }
    Contents {
        manifests,
        artifacts,
        blobs,
    }
}

// ---------------------------------------------------------------------------
// Other tools.

/// `skopeo ARGS…` that must succeed; its stdout, as bytes.
fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run skopeo: {e}"));
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn skopeo_json(args: &[&str]) -> Value {
    let out = skopeo(args);
    serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "skopeo {args:?}: not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out)
        )
    })
}

/// The tags of `docker://HOST/REPO`, by skopeo over plain HTTP.
fn list_tags(host: &str, repo: &str) -> Vec<String> {
    let v = skopeo_json(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{host}/{repo}"),
    ]);
    v["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

/// The hex SHA-256 of `bytes`, by `sha256sum`.
fn sha256_bytes(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------------------
// Front logs.

fn is_blob_upload(r: &LoggedRequest) -> bool {
    matches!(r.method.as_str(), "POST" | "PATCH" | "PUT") && r.path.contains("/blobs/uploads")
}

/// The value of `name` in a query string.
fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn percent_decode_colon(s: &str) -> String {
    s.replace("%3A", ":").replace("%3a", ":")
}

/// The position in `log` of the first `METHOD PATH` request.
fn position(log: &[LoggedRequest], method: &str, path: &str) -> Option<usize> {
    log.iter()
        .position(|r| r.method == method && percent_decode_colon(&r.path) == path)
}

fn summary(log: &[LoggedRequest]) -> String {
    log.iter()
        .map(|r| {
            if r.query.is_empty() {
                format!("{} {}", r.method, r.path)
            } else {
                format!("{} {}?{}", r.method, r.path, r.query)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// The tests.

/// A signed image goes to a plain registry and back, digests and blobs
/// unchanged, its attestations listed in the `sha256-<hex>` tag; skopeo
/// reads what bulwark pushed; `verify`, `sbom` and `scan` read it in place;
/// a pulled copy verifies with the registry gone.
#[test]
fn round_trip_through_docker_registry_keeps_digests_and_attestations() {
    let img = Image::main();
    let mut registry = DockerRegistry::start();
    let host = registry.host();
    let digest = img.digest();
    let expected = contents(&img.layout);
    let remote = format!("docker://{host}/app:1.0");

    let pushed = img.push_ok(&remote, &[]);
    assert_eq!(pushed["digest"], digest.as_str(), "{pushed:#}");
    assert_eq!(pushed["tag"], "1.0", "{pushed:#}");
    assert_eq!(pushed["referrers"], "tag", "{pushed:#}");
    assert_eq!(
        pushed["uploaded"].as_u64().unwrap() as usize,
        expected.blobs.len(),
        "{pushed:#}"
    );
    assert_eq!(pushed["mounted"], 0, "{pushed:#}");
    assert_eq!(pushed["present"], 0, "{pushed:#}");
    assert_eq!(
        pushed["attestations"].as_u64().unwrap() as usize,
        expected.artifacts.len(),
        "{pushed:#}"
    );
    assert!(expected.artifacts.len() >= 3, "{pushed:#}");
    let layer_bytes: u64 = expected
        .blobs
        .iter()
        .map(|d| fs::metadata(blob_path(&img.layout, d)).unwrap().len())
        .sum();
    assert_eq!(pushed["bytes_uploaded"], layer_bytes, "{pushed:#}");
    // Image manifest, artifact manifests, one referrers tag per subject,
    // and the tag.
    let subjects: BTreeSet<String> = expected
        .artifacts
        .iter()
        .map(|a| {
            read_json(&blob_path(&img.layout, a))["subject"]["digest"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        pushed["manifests_written"].as_u64().unwrap() as usize,
        expected.manifests.len() + expected.artifacts.len() + subjects.len() + 1,
        "{pushed:#}"
    );

    // skopeo sees the same image, and the referrers tag beside the tag.
    let inspect = skopeo_json(&["inspect", "--tls-verify=false", &remote]);
    assert_eq!(inspect["Digest"], digest.as_str(), "{inspect:#}");
    let referrers_tag = format!("sha256-{}", &digest[7..]);
    let remote_tags = list_tags(&host, "app");
    assert!(
        remote_tags.contains(&"1.0".to_string()) && remote_tags.contains(&referrers_tag),
        "tags of {host}/app: {remote_tags:?}"
    );
    let listing = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/app:{referrers_tag}"),
    ]);
    let listing: Value = serde_json::from_slice(&listing).unwrap();
    let listed: BTreeSet<&str> = listing["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    for a in &expected.artifacts {
        // Artifacts of artifacts are listed under their own subject.
        let doc = read_json(&blob_path(&img.layout, a));
        if doc["subject"]["digest"] == digest.as_str() {
            assert!(listed.contains(a.as_str()), "{a} not in {listing:#}");
        }
    }

    // skopeo copies it back with the same digest and the same blobs.
    let copy = img.w.path("skopeo-copy");
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        &remote,
        &format!("oci:{}:1.0", copy.display()),
    ]);
    assert_eq!(manifest_digest(&copy, "1.0"), digest);
    let (mut ours, mut theirs) = (BTreeSet::new(), BTreeSet::new());
    image_blobs(&img.layout, &digest, &mut ours);
    image_blobs(&copy, &digest, &mut theirs);
    assert_eq!(ours, theirs);
    for d in &ours {
        assert_eq!(
            fs::read(blob_path(&img.layout, d)).unwrap(),
            fs::read(blob_path(&copy, d)).unwrap(),
            "blob {d} differs after skopeo's copy"
        );
    }

    // Verified in place, the attestations read from the registry.
    img.verify_ok(&remote, &[]);

    // An SBOM of the registry image.
    let run = img.run(&["sbom", &remote]).ok();
    let spdx = report(&run);
    assert_eq!(spdx["spdxVersion"], "SPDX-2.3", "{spdx:#}");
    let names: BTreeSet<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in MAIN_CLOSURE {
        assert!(names.contains(p), "no package `{p}` in the SBOM: {names:?}");
    }

    // A scan of the registry image.
    let feed = img.w.path("feed/CVE/2099");
    fs::create_dir_all(&feed).unwrap();
    let record = json!({
        "schema_version": "1.6.0", "id": "CVE-2099-0001", "modified": "2025-01-01T00:00:00Z",
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "foo",
                        "purl": "pkg:deb/debian/foo?arch=source"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}],
            "ecosystem_specific": {"urgency": "high"},
        }],
    });
    fs::write(
        feed.join("CVE-2099-0001.json"),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
    let db = img.w.path("vuln.db");
    img.run(&["db", "import", s(&img.w.path("feed")), "--db", s(&db)])
        .ok();
    let run = img
        .run(&["scan", &remote, "--db", s(&db), "--format", "json"])
        .ok();
    assert!(run.stdout.contains("CVE-2099-0001"), "{}", run.stdout);
    // The report names the image by its manifest and config digests.
    let scanned = report(&run);
    let config = read_json(&blob_path(&img.layout, &digest))["config"]["digest"].clone();
    assert_eq!(scanned["target"]["digest"], digest.as_str(), "{scanned:#}");
    assert_eq!(scanned["target"]["config_digest"], config, "{scanned:#}");

    // Pulled with its attestations...
    let pulled = img.w.path("pulled");
    let run = img
        .pull(&remote, &format!("oci:{}:1.0", pulled.display()), &[])
        .ok();
    let pull = report(&run);
    assert_eq!(pull["digest"], digest.as_str(), "{pull:#}");
    assert_eq!(pull["tag"], "1.0", "{pull:#}");
    assert_eq!(
        pull["blobs"].as_u64().unwrap() as usize,
        expected.blobs.len(),
        "{pull:#}"
    );
    assert_eq!(pull["attestations"], pushed["attestations"], "{pull:#}");
    assert_eq!(manifest_digest(&pulled, "1.0"), digest);
    for d in &ours {
        assert_eq!(
            fs::read(blob_path(&img.layout, d)).unwrap(),
            fs::read(blob_path(&pulled, d)).unwrap(),
            "blob {d} differs after the pull"
        );
    }

    // ...verifies offline.
    registry.stop();
    img.verify_ok(&format!("oci:{}:1.0", pulled.display()), &[]);
    // (and the registry is really gone)
    img.verify(&remote, &["--retry-max-wait", "0"])
        .error(2, &[&host]);
}

/// A two-platform image: the index goes up byte for byte, and the pulled
/// layout verifies every platform and the index's own signature.
#[test]
fn multi_arch_index_round_trip() {
    let img = Image::multi();
    let registry = DockerRegistry::start();
    let host = registry.host();
    let digest = img.digest();
    let top = read_json(&blob_path(&img.layout, &digest));
    assert!(is_index(&top), "not an index: {top:#}");
    assert_eq!(top["manifests"].as_array().unwrap().len(), 2, "{top:#}");
    let expected = contents(&img.layout);
    let remote = format!("docker://{host}/multi:2");

    let pushed = img.push_ok(&remote, &[]);
    assert_eq!(pushed["digest"], digest.as_str(), "{pushed:#}");
    assert_eq!(pushed["referrers"], "tag", "{pushed:#}");
    assert_eq!(
        pushed["attestations"].as_u64().unwrap() as usize,
        expected.artifacts.len(),
        "{pushed:#}"
    );
    assert_eq!(
        pushed["uploaded"].as_u64().unwrap() as usize,
        expected.blobs.len(),
        "{pushed:#}"
    );

    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &remote]);
    assert_eq!(format!("sha256:{}", sha256_bytes(&raw)), digest);
    assert_eq!(raw, fs::read(blob_path(&img.layout, &digest)).unwrap());
    // Each platform's manifest is in the registry by digest.
    for m in top["manifests"].as_array().unwrap() {
        let d = m["digest"].as_str().unwrap();
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{host}/multi@{d}"),
        ]);
        assert_eq!(format!("sha256:{}", sha256_bytes(&raw)), d);
    }

    let pulled = img.w.path("pulled");
    let pull = report(
        &img.pull(&remote, &format!("oci:{}", pulled.display()), &[])
            .ok(),
    );
    assert_eq!(pull["digest"], digest.as_str(), "{pull:#}");
    assert_eq!(pull["tag"], "2", "{pull:#}");
    assert_eq!(pull["manifests"], 3, "{pull:#}");
    assert_eq!(pull["attestations"], pushed["attestations"], "{pull:#}");
    assert_eq!(manifest_digest(&pulled, "2"), digest);

    let report = img.verify_ok(&format!("oci:{}:2", pulled.display()), &[]);
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks.iter().any(|c| c["name"] == "signature index"),
        "the index's signature was not checked: {report:#}"
    );
    for platform in ["linux/amd64", "linux/arm64"] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"].as_str().unwrap().contains(platform)),
            "{platform} was not checked: {report:#}"
        );
    }
    // And straight from the registry too.
    let report = img.verify_ok(&remote, &[]);
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "signature index"),
        "{report:#}"
    );
}

/// Counted requests: a first push uploads every blob, a second one
/// uploads nothing, a push to another repository mounts every blob once;
/// and the tag is set last, after the artifacts and their listing.
#[test]
fn pushes_skip_present_blobs_mount_across_repositories_and_tag_last() {
    let img = Image::main();
    let registry = DockerRegistry::start();
    let front = Front::start(&registry.host(), FrontOptions::default());
    let host = front.host();
    let digest = img.digest();
    let expected = contents(&img.layout);
    let n = expected.blobs.len();

    // First push: every blob uploaded.
    let first = img.push_ok(&format!("docker://{host}/app:1"), &[]);
    let log = front.requests();
    assert_eq!(first["uploaded"].as_u64().unwrap() as usize, n, "{first:#}");
    assert_eq!(first["referrers"], "tag", "{first:#}");
    let committed: BTreeSet<String> = log
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads"))
        .filter_map(|r| query_param(&r.query, "digest").map(percent_decode_colon))
        .collect();
    assert_eq!(committed, expected.blobs, "{}", summary(&log));

    // The order of a push: blobs, image manifests, artifact manifests,
    // the referrers tag, the tag.
    let tag_put = position(&log, "PUT", "/v2/app/manifests/1")
        .unwrap_or_else(|| panic!("no tag PUT:\n{}", summary(&log)));
    let referrers_put = position(
        &log,
        "PUT",
        &format!("/v2/app/manifests/sha256-{}", &digest[7..]),
    )
    .unwrap_or_else(|| panic!("no referrers tag PUT:\n{}", summary(&log)));
    assert!(referrers_put < tag_put, "{}", summary(&log));
    let last_blob = log.iter().rposition(is_blob_upload).unwrap();
    let first_manifest = log
        .iter()
        .position(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .unwrap();
    assert!(last_blob < first_manifest, "{}", summary(&log));
    for m in &expected.manifests {
        let at = position(&log, "PUT", &format!("/v2/app/manifests/{m}"))
            .unwrap_or_else(|| panic!("no PUT of manifest {m}:\n{}", summary(&log)));
        assert!(at < tag_put, "{}", summary(&log));
    }
    for a in &expected.artifacts {
        let at = position(&log, "PUT", &format!("/v2/app/manifests/{a}"))
            .unwrap_or_else(|| panic!("no PUT of artifact {a}:\n{}", summary(&log)));
        assert!(at < referrers_put, "{}", summary(&log));
    }
    let last_put = log.iter().rposition(|r| r.method == "PUT").unwrap();
    assert_eq!(last_put, tag_put, "{}", summary(&log));

    // Second push of the same image: nothing uploaded, nothing written.
    front.clear();
    let second = img.push_ok(&format!("docker://{host}/app:1"), &[]);
    let log = front.requests();
    assert!(
        !log.iter().any(is_blob_upload),
        "blob uploads on a second push:\n{}",
        summary(&log)
    );
    assert!(
        !log.iter().any(|r| r.method == "PUT"),
        "PUTs on a second push:\n{}",
        summary(&log)
    );
    assert_eq!(second["uploaded"], 0, "{second:#}");
    assert_eq!(second["bytes_uploaded"], 0, "{second:#}");
    assert_eq!(
        second["present"].as_u64().unwrap() as usize,
        n,
        "{second:#}"
    );
    assert_eq!(second["manifests_written"], 0, "{second:#}");
    assert_eq!(second["digest"], digest.as_str(), "{second:#}");

    // To another repository of the registry: one mount per blob.
    front.clear();
    let third = img.push_ok(&format!("docker://{host}/team/other:1"), &[]);
    let log = front.requests();
    let mut mounts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &log {
        if r.method == "POST" {
            if let Some(d) = query_param(&r.query, "mount") {
                assert_eq!(r.path, "/v2/team/other/blobs/uploads/", "{}", summary(&log));
                assert_eq!(query_param(&r.query, "from"), Some("app"));
                *mounts.entry(percent_decode_colon(d)).or_default() += 1;
            }
        }
    }
    let mounted: BTreeSet<String> = mounts.keys().cloned().collect();
    assert_eq!(mounted, expected.blobs, "{}", summary(&log));
    assert!(mounts.values().all(|&c| c == 1), "{mounts:?}");
    assert!(
        !log.iter().any(|r| r.method == "PATCH"),
        "PATCH while mounting:\n{}",
        summary(&log)
    );
    assert!(
        !log.iter()
            .any(|r| r.method == "PUT" && r.path.contains("/blobs/uploads")),
        "blob PUT while mounting:\n{}",
        summary(&log)
    );
    assert_eq!(third["mounted"].as_u64().unwrap() as usize, n, "{third:#}");
    assert_eq!(third["uploaded"], 0, "{third:#}");
    assert_eq!(third["bytes_uploaded"], 0, "{third:#}");
    assert_eq!(
        position(&log, "PUT", "/v2/team/other/manifests/1"),
        log.iter().rposition(|r| r.method == "PUT"),
        "{}",
        summary(&log)
    );
    img.verify_ok(&format!("docker://{host}/team/other:1"), &[]);
}

/// A registry with the referrers API: no `sha256-` tag is written, and
/// `verify` reads the attestations through the API.
#[test]
fn referrers_api_is_used_when_the_registry_has_it() {
    let img = Image::main();
    let registry = DockerRegistry::start();
    let front = Front::start(
        &registry.host(),
        FrontOptions {
            referrers_api: true,
            ..FrontOptions::default()
        },
    );
    let host = front.host();
    let digest = img.digest();
    let remote = format!("docker://{host}/app:1");

    let pushed = img.push_ok(&remote, &[]);
    assert_eq!(pushed["referrers"], "api", "{pushed:#}");
    let log = front.requests();
    assert!(
        !log.iter()
            .any(|r| r.method == "PUT" && r.path.contains("/manifests/sha256-")),
        "a referrers tag was written:\n{}",
        summary(&log)
    );
    let remote_tags = list_tags(&host, "app");
    assert!(
        !remote_tags.iter().any(|t| t.starts_with("sha256-")),
        "{remote_tags:?}"
    );

    front.clear();
    img.verify_ok(&remote, &[]);
    let log = front.requests();
    assert!(
        log.iter().any(|r| r.method == "GET"
            && percent_decode_colon(&r.path) == format!("/v2/app/referrers/{digest}")),
        "verify did not ask the referrers API:\n{}",
        summary(&log)
    );

    // A pull through the API gives an offline-verifiable layout too.
    let pulled = img.w.path("pulled");
    img.pull(&remote, &format!("oci:{}", pulled.display()), &[])
        .ok();
    img.verify_ok(&format!("oci:{}:1", pulled.display()), &[]);
}

/// Token authentication: credentials from the flag, the Docker config's
/// `auths`, a credential helper, standard input and the environment; a
/// wrong password is exit 2 and never printed.
#[test]
fn bearer_token_credentials_from_every_source() {
    let img = Image::main();
    let registry = DockerRegistry::start();
    let front = Front::start(
        &registry.host(),
        FrontOptions {
            bearer: Some(("ci".into(), "s3cret".into())),
            ..FrontOptions::default()
        },
    );
    let host = front.host();
    let dest = |repo: &str| format!("docker://{host}/{repo}:1");

    // Anonymous: refused.
    img.push(&dest("anon"), &[]).error(2, &[&host]);

    // --creds.
    let pushed = img.push_ok(&dest("flag"), &["--creds", "ci:s3cret"]);
    assert_eq!(pushed["digest"], img.digest().as_str());
    let scopes = front.token_scopes();
    assert!(
        scopes.iter().any(|s| s == "repository:flag:pull,push"),
        "{scopes:?}"
    );
    img.verify_ok(&dest("flag"), &["--creds", "ci:s3cret"]);

    // A wrong password: exit 2, naming the registry, never printed.
    let wrong = "wr0ng-pa55word";
    let run = img.push(&dest("wrong"), &["--creds", &format!("ci:{wrong}")]);
    run.error(2, &[&host]);
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("ci:{wrong}"));
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(wrong) && !text.contains(&encoded),
            "the password was printed:\n{run:#?}"
        );
    }

    // --password-stdin.
    img.push_with(
        img.cmd(),
        &dest("stdin"),
        &["--creds", "ci", "--password-stdin"],
        Some("s3cret\n"),
    )
    .ok();

    // The environment.
    let mut cmd = img.cmd();
    cmd.env("BULWARK_REGISTRY_USER", "ci")
        .env("BULWARK_REGISTRY_PASSWORD", "s3cret");
    img.push_with(cmd, &dest("env"), &[], None).ok();
    // Bound to a registry, it goes to that one only.
    let mut cmd = img.cmd();
    cmd.env("BULWARK_REGISTRY_USER", "ci")
        .env("BULWARK_REGISTRY_PASSWORD", "s3cret")
        .env("BULWARK_REGISTRY_HOST", &host);
    img.push_with(cmd, &dest("env-bound"), &[], None).ok();
    front.clear();
    let mut cmd = img.cmd();
    cmd.env("BULWARK_REGISTRY_USER", "ci")
        .env("BULWARK_REGISTRY_PASSWORD", "s3cret")
        .env("BULWARK_REGISTRY_HOST", "registry.example:5000");
    img.push_with(cmd, &dest("env-elsewhere"), &[], None)
        .error(2, &[&host]);
    assert!(
        front.requests().iter().all(|r| r.authorization.is_none()),
        "credentials bound to another registry were sent:\n{}",
        summary(&front.requests())
    );

    // ~/.docker/config.json `auths` (HOME is the scratch directory).
    let auth =
        |password: &str| base64::engine::general_purpose::STANDARD.encode(format!("ci:{password}"));
    let home_config = img.w.path(".docker/config.json");
    fs::create_dir_all(home_config.parent().unwrap()).unwrap();
    fs::write(
        &home_config,
        serde_json::to_vec(&json!({"auths": {host.as_str(): {"auth": auth("s3cret")}}})).unwrap(),
    )
    .unwrap();
    img.push_ok(&dest("auths"), &[]);
    assert!(
        front
            .token_scopes()
            .iter()
            .any(|s| s == "repository:auths:pull,push"),
        "{:?}",
        front.token_scopes()
    );

    // The environment comes before `auths`: a wrong `auths` entry is not
    // used when the environment has credentials.
    fs::write(
        &home_config,
        serde_json::to_vec(&json!({"auths": {host.as_str(): {"auth": auth(wrong)}}})).unwrap(),
    )
    .unwrap();
    img.push(&dest("auths-wrong"), &[]).error(2, &[&host]);
    let mut cmd = img.cmd();
    cmd.env("BULWARK_REGISTRY_USER", "ci")
        .env("BULWARK_REGISTRY_PASSWORD", "s3cret");
    img.push_with(cmd, &dest("env-first"), &[], None).ok();

    // A credential helper in $DOCKER_CONFIG, before `auths`.
    let bin = img.w.path("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper_log = img.w.path("helper.log");
    let helper = bin.join("docker-credential-bwtest");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\nserver=$(cat)\necho \"$1 $server\" >> '{log}'\n\
             if [ \"$1\" = get ] && [ \"$server\" = '{host}' ]; then\n  \
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"ci\",\"Secret\":\"s3cret\"}}\\n' \"$server\"\n  \
             exit 0\nfi\necho 'credentials not found in native keychain'\nexit 1\n",
            log = helper_log.display(),
        ),
    )
    .unwrap();
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let docker_config = img.w.path("docker-config");
    fs::create_dir_all(&docker_config).unwrap();
    fs::write(
        docker_config.join("config.json"),
        serde_json::to_vec(&json!({
            "auths": {host.as_str(): {"auth": auth(wrong)}},
            "credHelpers": {host.as_str(): "bwtest"},
        }))
        .unwrap(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = img.cmd();
    cmd.env("DOCKER_CONFIG", &docker_config).env("PATH", &path);
    img.push_with(cmd, &dest("helper"), &[], None).ok();
    let called = fs::read_to_string(&helper_log).unwrap_or_default();
    assert!(
        called.lines().any(|l| l == format!("get {host}")),
        "the helper was not asked for {host}: {called:?}"
    );
    assert!(
        front
            .token_scopes()
            .iter()
            .any(|s| s == "repository:helper:pull,push"),
        "{:?}",
        front.token_scopes()
    );
}

/// A TLS registry with a self-signed certificate and Basic authentication:
/// `--ca-cert` makes it work; without it the certificate error is final,
/// `--insecure` or not.
#[test]
fn tls_registry_needs_its_ca_and_a_bad_certificate_is_never_ignored() {
    let img = Image::main();
    let registry = DockerRegistry::start_with(RegistryOptions {
        htpasswd: Some(("u".into(), "p".into())),
        tls: true,
    });
    let host = registry.host();
    let ca = registry.ca_cert().unwrap();
    let remote = format!("docker://{host}/secure:1");

    let pushed = img.push_ok(&remote, &["--ca-cert", s(&ca), "--creds", "u:p"]);
    assert_eq!(pushed["digest"], img.digest().as_str(), "{pushed:#}");
    img.verify_ok(&remote, &["--ca-cert", s(&ca), "--creds", "u:p"]);

    // Wrong or no credentials: refused, exit 2.
    img.push(&remote, &["--ca-cert", s(&ca), "--creds", "u:nope"])
        .error(2, &[&host]);
    img.push(&remote, &["--ca-cert", s(&ca)]).error(2, &[&host]);

    // No CA: a certificate error naming the registry.
    for extra in [&[][..], &["--insecure"][..]] {
        let mut args = vec!["--creds", "u:p"];
        args.extend_from_slice(extra);
        let run = img.push(&remote, &args);
        let line = run.error(2, &[&host]);
        let lower = line.to_lowercase();
        assert!(
            lower.contains("certificate") || lower.contains("tls"),
            "`bulwark {}`: the error does not say what is wrong with TLS: {line}",
            run.args
        );
    }
    let run = img.verify(&remote, &["--creds", "u:p", "--insecure"]);
    run.error(2, &[&host]);
}

/// Faults: a 500 and a 429 are retried, a connection cut inside an upload
/// resumes, an unreachable registry is exit 2 (and a restarted one takes
/// the next push), and a blob whose bytes changed in the registry is exit 5
/// for `pull` (leaving nothing behind) and `verify`.
#[test]
fn faults_are_retried_resumed_or_reported() {
    let img = Image::main();
    let mut registry = DockerRegistry::start();
    let front = Front::start(&registry.host(), FrontOptions::default());
    let host = front.host();
    let digest = img.digest();
    let expected = contents(&img.layout);

    // (a) 500 once on the first manifest PUT.
    front.inject("PUT", "/manifests/", Fault::Status(500));
    img.push_ok(&format!("docker://{host}/five:1"), &[]);
    let log = front.requests();
    let first = log
        .iter()
        .find(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .unwrap();
    let tries = log
        .iter()
        .filter(|r| r.method == "PUT" && r.path == first.path)
        .count();
    assert!(
        tries >= 2,
        "the failed PUT was not retried:\n{}",
        summary(&log)
    );
    img.verify_ok(&format!("docker://{host}/five:1"), &[]);

    // (a') a connection cut inside the first blob upload (with a cache of
    // its own, that knows of no repository to mount from): a blob that
    // fits one request goes up in its committing PUT, and a cut one is sent
    // again in a new upload session.
    front.clear();
    front.inject(
        "PUT",
        "/blobs/uploads/",
        Fault::CutAfter { body_bytes: 100 },
    );
    let other_cache = img.w.path("other-cache");
    let pushed = img.push_ok(
        &format!("docker://{host}/cut:1"),
        &["--cache-dir", s(&other_cache)],
    );
    assert_eq!(pushed["digest"], digest.as_str(), "{pushed:#}");
    assert_eq!(
        pushed["uploaded"].as_u64().unwrap() as usize,
        expected.blobs.len(),
        "{pushed:#}"
    );
    let log = front.requests();
    let cut = log
        .iter()
        .position(|r| r.method == "PUT" && r.body_len == 100)
        .unwrap();
    let blob = query_param(&log[cut].query, "digest").unwrap();
    assert!(
        log[cut + 1..].iter().any(|r| r.method == "PUT"
            && r.path.contains("/blobs/uploads/")
            && query_param(&r.query, "digest") == Some(blob)
            && r.body_len > 100),
        "the cut upload was not sent again:\n{}",
        summary(&log)
    );
    img.verify_ok(&format!("docker://{host}/cut:1"), &[]);

    // (b) 429 with Retry-After: 1 once.
    front.clear();
    front.inject(
        "PUT",
        "/manifests/",
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let started = Instant::now();
    img.push_ok(&format!("docker://{host}/slow:1"), &[]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured ({took:?})"
    );

    // (c) the registry gone between the blobs and the manifests (every
    // manifest PUT fails, retries included): exit 2, nothing tagged; the
    // next push sends no blob again and completes.
    front.clear();
    for _ in 0..5 {
        front.inject("PUT", "/manifests/", Fault::Status(503));
    }
    let half = format!("docker://{host}/half:1");
    img.push(&half, &["--retry-max-wait", "0"])
        .error(2, &[&host, "503"]);
    assert!(
        front
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.path.contains("/half/blobs/uploads/")),
        "the blobs went up (mounted or uploaded) before the manifests"
    );
    let tagged = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{}/half:1", registry.host()))
        .output()
        .unwrap();
    assert!(!tagged.status.success(), "a failed push left the tag");
    let pushed = img.push_ok(&half, &[]);
    assert_eq!(pushed["uploaded"], 0, "{pushed:#}");
    assert_eq!(pushed["mounted"], 0, "{pushed:#}");
    img.verify_ok(&half, &[]);

    // (c') the registry down: exit 2 naming it; up again: the push works.
    registry.stop();
    let direct = registry.host();
    let remote = format!("docker://{direct}/down:1");
    let started = Instant::now();
    let run = img.push(&remote, &["--retry-max-wait", "1"]);
    run.error(2, &[&direct]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "giving up took {:?}",
        started.elapsed()
    );
    registry.restart();
    let pushed = img.push_ok(&remote, &[]);
    assert_eq!(pushed["digest"], digest.as_str(), "{pushed:#}");
    img.verify_ok(&remote, &[]);

    // (d) a layer whose bytes changed in the registry's storage.
    let manifest = read_json(&blob_path(&img.layout, &digest));
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    assert!(expected.blobs.contains(layer));
    let hex = layer.strip_prefix("sha256:").unwrap();
    let data = registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    let mut bytes = fs::read(&data).unwrap_or_else(|e| panic!("`{}`: {e}", data.display()));
    let i = bytes.len() / 2;
    bytes[i] ^= 0x55;
    fs::write(&data, &bytes).unwrap();

    let parent = img.w.path("pulls");
    let dest = parent.join("bad");
    let run = img.pull(&remote, &format!("oci:{}", dest.display()), &[]);
    run.error(5, &[]);
    assert!(!dest.exists(), "a failed pull left `{}`", dest.display());
    let left: Vec<String> = fs::read_dir(&parent)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !left.iter().any(|n| n.starts_with(".bad.build-")),
        "a failed pull left a staging directory: {left:?}"
    );
    img.verify(&remote, &[]).error(5, &[]);
}

/// `build -o docker://…` pushes the image with its attestations.
#[test]
fn build_pushes_to_a_registry_output() {
    let w = World::new();
    let spec = w.spec("app", MAIN, "");
    let img = Image::with(w, None);
    let registry = DockerRegistry::start();
    let host = registry.host();
    let remote = format!("docker://{host}/built:2");

    let run = img
        .run(&[
            "build",
            s(&spec),
            "-o",
            &remote,
            "--sign",
            s(&img.key),
            "--format",
            "json",
        ])
        .ok();
    let built = report(&run);
    let pushed = &built["pushed"];
    let digest = built["digest"].as_str().unwrap();
    assert_eq!(pushed["digest"], digest, "{built:#}");
    assert_eq!(pushed["tag"], "2", "{built:#}");
    assert_eq!(pushed["referrers"], "tag", "{built:#}");
    assert!(pushed["attestations"].as_u64().unwrap() >= 3, "{built:#}");

    let inspect = skopeo_json(&["inspect", "--tls-verify=false", &remote]);
    assert_eq!(inspect["Digest"], digest, "{inspect:#}");
    img.verify_ok(&remote, &[]);

    // With credentials read from standard input (once, before the build),
    // and --tag over the output's tag.
    let secured = DockerRegistry::start_with(RegistryOptions {
        htpasswd: Some(("ci".to_owned(), "s3cret".to_owned())),
        tls: false,
    });
    let locked = format!("docker://{}/built:old", secured.host());
    let run = run_cmd(
        img.cmd(),
        &[
            "build",
            s(&spec),
            "-o",
            &locked,
            "--tag",
            "3",
            "--creds",
            "ci",
            "--password-stdin",
            "--format",
            "json",
        ],
        Some("s3cret\n"),
    )
    .ok();
    let built = report(&run);
    assert_eq!(built["pushed"]["tag"], "3", "{built:#}");
    assert_eq!(
        built["image"],
        format!("docker://{}/built:3", secured.host())
    );

    // The same spec built into a layout gives the same image.
    let layout = img.w.path("local");
    img.w.build_ok(
        &spec,
        &format!("oci:{}:2", layout.display()),
        &["--sign", s(&img.key)],
    );
    assert_eq!(manifest_digest(&layout, "2"), digest);
}

/// A loopback registry that speaks only plain HTTP and closes the
/// connection on a TLS hello (as the test front does, and as many small
/// servers do) is reached over plain HTTP at once: a TLS attempt that the
/// server hangs up on is no transient failure to back off from.
#[test]
fn plain_http_loopback_registry_is_used_without_back_off() {
    let img = Image::main();
    let registry = DockerRegistry::start();
    let front = Front::start(&registry.host(), FrontOptions::default());
    let limit = Duration::from_secs(5);

    // docker-registry answers a TLS hello with an HTTP 400: fast.
    let started = Instant::now();
    img.push_ok(&format!("docker://{}/app:1", registry.host()), &[]);
    let direct = started.elapsed();

    let remote = format!("docker://{}/app:1", front.host());
    let started = Instant::now();
    img.run(&["sbom", &remote]).ok();
    let sbom = started.elapsed();
    let started = Instant::now();
    img.push_ok(&remote, &[]);
    let push = started.elapsed();
    assert!(
        sbom < limit && push < limit,
        "through a plain-HTTP front that closes TLS connections: `sbom` took {sbom:?}, \
         `push` {push:?} (a push straight to docker-registry took {direct:?})"
    );
}
