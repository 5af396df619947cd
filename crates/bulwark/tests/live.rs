//! Live tests: the bundled examples built from the real Debian archive named
//! by the host's APT sources, checked with skopeo, umoci, chroot and crun,
//! and compared with what apt itself would install.
//!
//! They share one download cache per test run (`BULWARK_TEST_CACHE`, set by
//! scripts/test.sh). When the host has no Debian source for bookworm they
//! fail: the test command is meant for a Debian bookworm machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cache_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("BULWARK_TEST_CACHE") {
        Some(d) => PathBuf::from(d),
        None => {
            let d = std::env::temp_dir().join(format!("bulwark-live-cache-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            d
        }
    })
    .clone()
}

fn bulwark(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bulwark"));
    c.args(args)
        .env("BULWARK_CACHE_DIR", cache_dir())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("BULWARK_APT_ROOT");
    c
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(cmd: &mut Command, what: &str) -> String {
    ok(cmd.output().unwrap_or_else(|e| panic!("{what}: {e}")), what)
}

/// Builds an example into `dir/NAME` and returns (layout dir, digest).
fn build_example(name: &str, dir: &Path, extra: &[&str]) -> (PathBuf, String) {
    let spec = root().join(format!("examples/{name}.yaml"));
    let out = dir.join(name);
    let target = format!("oci:{}:test", out.display());
    let mut args = vec!["build", spec.to_str().unwrap(), "-o", &target, "--quiet"];
    args.extend_from_slice(extra);
    let digest = run(&mut bulwark(&args), &format!("bulwark build {name}"));
    (out, digest.trim().to_string())
}

fn skopeo_inspect(layout: &Path) -> serde_json::Value {
    let out = run(
        Command::new("skopeo").args(["inspect", &format!("oci:{}:test", layout.display())]),
        "skopeo inspect",
    );
    serde_json::from_str(&out).unwrap()
}

/// Unpacks with umoci (as root this keeps ownership) and returns the bundle.
fn umoci_unpack(layout: &Path, into: &Path) -> PathBuf {
    let bundle = into.join("bundle");
    run(
        Command::new("umoci").args([
            "unpack",
            "--image",
            &format!("{}:test", layout.display()),
            bundle.to_str().unwrap(),
        ]),
        "umoci unpack",
    );
    bundle
}

/// A program of the validators' venv (scripts/setup.sh makes it).
fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var_os("BULWARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/venv"));
    let bin = venv.join("bin").join(name);
    assert!(
        bin.exists(),
        "`{}` is missing: run scripts/setup.sh",
        bin.display()
    );
    bin
}

fn chroot(rootfs: &Path, user: &str, argv: &[&str]) -> String {
    let mut c = Command::new("/usr/sbin/chroot");
    c.arg(format!("--userspec={user}"))
        .arg(rootfs)
        .args(argv)
        .env_clear()
        .env("PATH", "/usr/bin:/bin");
    run(&mut c, &format!("chroot {argv:?}"))
}

#[test]
fn live_python_image_runs_as_nonroot_with_ssl_json_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, digest) = build_example("python", tmp.path(), &[]);
    assert!(digest.starts_with("sha256:"), "{digest}");
    let info = skopeo_inspect(&layout);
    assert_eq!(info["Digest"], digest);
    assert_eq!(info["Architecture"], "amd64");
    let bundle = umoci_unpack(&layout, tmp.path());
    let rootfs = bundle.join("rootfs");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["process"]["user"]["uid"], 65532);
    let out = chroot(
        &rootfs,
        "65532:65532",
        &[
            "/usr/bin/python3",
            "-c",
            "import ssl, json, sqlite3, os; print(ssl.OPENSSL_VERSION, os.getuid())",
        ],
    );
    assert!(
        out.contains("OpenSSL 3") && out.trim().ends_with("65532"),
        "{out}"
    );
    // The CA bundle is usable by OpenSSL through Python.
    let out = chroot(
        &rootfs,
        "65532:65532",
        &["/usr/bin/python3", "-c", "import ssl; c = ssl.create_default_context(); print(len(c.get_ca_certs()) + c.cert_store_stats()['x509_ca'])"],
    );
    assert!(out.trim().parse::<u32>().unwrap() > 100, "{out}");
    // Scanners' view: status.d stanzas with md5sums, no status file.
    assert!(rootfs.join("var/lib/dpkg/status.d/python3").is_file());
    assert!(rootfs
        .join("var/lib/dpkg/status.d/python3.md5sums")
        .is_file());
    assert!(!rootfs.join("var/lib/dpkg/status").exists());
    // SBOMs of the image pass third-party validators.
    let image = format!("oci:{}:test", layout.display());
    let spdx = tmp.path().join("python.spdx.json");
    let cdx = tmp.path().join("python.cdx.json");
    run(
        &mut bulwark(&[
            "sbom",
            &image,
            "-o",
            spdx.to_str().unwrap(),
            "--supplier",
            "Organization: bulwark tests",
        ]),
        "sbom spdx",
    );
    run(
        &mut bulwark(&[
            "sbom",
            &image,
            "--format",
            "cyclonedx-json",
            "-o",
            cdx.to_str().unwrap(),
        ]),
        "sbom cyclonedx",
    );
    run(
        Command::new(venv_bin("pyspdxtools")).arg("-i").arg(&spdx),
        "pyspdxtools",
    );
    let ntia_report = tmp.path().join("ntia.json");
    run(
        Command::new(venv_bin("ntia-checker"))
            .args(["--comply", "ntia", "--output", "json", "--output-file"])
            .arg(&ntia_report)
            .arg(&spdx),
        "ntia-checker",
    );
    let ntia: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ntia_report).unwrap()).unwrap();
    assert_eq!(ntia["isNtiaConformant"], true, "{ntia}");
    run(
        Command::new(venv_bin("python"))
            .arg("-c")
            .arg(
                "import sys; from cyclonedx.validation.json import JsonStrictValidator; \
             from cyclonedx.schema import SchemaVersion; \
             e = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read()); \
             sys.exit(str(e) if e else 0)",
            )
            .arg(&cdx),
        "CycloneDX 1.6 validation",
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&spdx).unwrap()).unwrap();
    let purls = doc.to_string();
    assert!(
        purls.contains("pkg:deb/debian/python3.11-minimal@"),
        "no python PURL"
    );
    assert!(purls.contains("distro=debian-12"), "no distro qualifier");

    // passwd has the nonroot account.
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("nonroot:x:65532:65532:")),
        "{passwd}"
    );
}

#[test]
fn live_static_image_has_no_libc_and_a_real_ca_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, digest) = build_example("static", tmp.path(), &[]);
    assert_eq!(skopeo_inspect(&layout)["Digest"], digest.as_str());
    let bundle = umoci_unpack(&layout, tmp.path());
    let rootfs = bundle.join("rootfs");
    assert!(!rootfs.join("usr/lib/x86_64-linux-gnu/libc.so.6").exists());
    assert!(!rootfs.join("usr/bin/mawk").exists());
    let crt = std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(crt.matches("BEGIN CERTIFICATE").count() > 100);
    assert!(rootfs.join("usr/share/zoneinfo/Etc/UTC").exists());
    assert!(rootfs.join("etc/os-release").exists());

    // What distroless static is for: a statically linked program, run by a
    // real OCI runtime as the image's nonroot user, reading the image's CA
    // bundle, time zone data and accounts.
    let src = tmp.path().join("probe.c");
    std::fs::write(
        &src,
        r#"#include <stdio.h>
#include <unistd.h>
static long count(const char *path, const char *needle) {
    FILE *f = fopen(path, "r"); char line[4096]; long n = 0;
    if (!f) { perror(path); _exit(3); }
    while (fgets(line, sizeof line, f)) if (!needle[0] || strstr(line, needle)) n++;
    fclose(f); return n;
}
int main(void) {
    printf("uid=%d gid=%d\n", (int)getuid(), (int)getgid());
    printf("certs=%ld\n", count("/etc/ssl/certs/ca-certificates.crt", "BEGIN CERTIFICATE"));
    printf("nonroot=%ld\n", count("/etc/passwd", "nonroot:x:65532:65532:"));
    printf("utc=%ld\n", count("/usr/share/zoneinfo/Etc/UTC", ""));
    return 0;
}
"#
        .replace(
            "#include <unistd.h>",
            "#include <unistd.h>\n#include <string.h>",
        ),
    )
    .unwrap();
    let probe = rootfs.join("usr/local/bin/probe");
    std::fs::create_dir_all(probe.parent().unwrap()).unwrap();
    run(
        Command::new("gcc")
            .args(["-static", "-O1", "-o"])
            .arg(&probe)
            .arg(&src),
        "gcc -static",
    );
    let out = crun_run(&bundle, &["/usr/local/bin/probe"]);
    assert!(out.starts_with("uid=65532 gid=65532\n"), "{out}");
    let certs: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("certs="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(certs > 100, "{out}");
    assert!(
        out.contains("nonroot=1\n") && !out.contains("utc=0\n"),
        "{out}"
    );
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(layout.join("index.json")).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(layout.join("blobs/sha256").join(digest)).unwrap(),
    )
    .unwrap();
    let excluded = manifest["annotations"]["dev.bulwark.excluded"]
        .as_str()
        .unwrap();
    assert!(
        excluded.contains("libc6") && excluded.contains("awk"),
        "{excluded}"
    );
    let repos = manifest["annotations"]["dev.bulwark.repositories"]
        .as_str()
        .unwrap();
    assert!(repos.contains("bookworm-security"), "{repos}");

    // Locked, the same image: same packages, same exclusion records.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("static.yaml");
    std::fs::copy(root().join("examples/static.yaml"), &spec).unwrap();
    run(
        &mut bulwark(&["lock", "-q", spec.to_str().unwrap()]),
        "lock static",
    );
    let target = |name: &str| format!("oci:{}:test", dir.path().join(name).display());
    let unlocked = run(
        &mut bulwark(&["build", "-q", spec.to_str().unwrap(), "-o", &target("a")]),
        "build",
    );
    let locked = run(
        &mut bulwark(&[
            "build",
            "-q",
            "--locked",
            spec.to_str().unwrap(),
            "-o",
            &target("b"),
        ]),
        "build --locked",
    );
    assert_eq!(unlocked, locked);
}

#[test]
fn live_base_builds_reproducibly_and_runs_in_crun() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout_a, a) = build_example("base", &tmp.path().join("a"), &[]);
    let (_, b) = build_example("base", &tmp.path().join("b"), &[]);
    assert_eq!(a, b, "two builds of base differ");
    assert_eq!(skopeo_inspect(&layout_a)["Digest"], a.as_str());
    let bundle = umoci_unpack(&layout_a, tmp.path());
    // Run the dynamic loader of the image in a real OCI runtime.
    let out = crun_run(
        &bundle,
        &[
            "/usr/lib64/ld-linux-x86-64.so.2",
            "--list",
            "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        ],
    );
    assert!(out.contains("libcrypto.so.3"), "{out}");
}

/// Runs `args` in an unpacked bundle with crun, as the image's user, and
/// returns stdout. This host has hybrid cgroups, so crun runs in a private
/// mount namespace with the unified hierarchy unmounted.
fn crun_run(bundle: &Path, args: &[&str]) -> String {
    let config_path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["process"]["args"] = serde_json::json!(args);
    config["process"]["terminal"] = serde_json::json!(false);
    std::fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let id = format!("bulwark-live-{}-{n}", std::process::id());
    let script = format!(
        "umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run --bundle {} {id}",
        bundle.display()
    );
    run(
        Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]),
        "crun run",
    )
}

#[test]
fn live_essential_image_has_a_working_userland() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, digest) = build_example("essential", tmp.path(), &[]);
    assert_eq!(skopeo_inspect(&layout)["Digest"], digest.as_str());
    // Scanning it is stable and matched against bookworm's data.
    let target = format!("oci:{}:test", layout.display());
    let (code, report) = scan_json(&target, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["target"]["release"], "12");
    assert_eq!(report["target"]["digest"], digest.as_str());
    assert_eq!(scan_json(&target, &[]).1, report);
    let bundle = umoci_unpack(&layout, tmp.path());
    let rootfs = bundle.join("rootfs");
    // Explained by the image's dpkg database; libc6 and libc-bin are matched
    // as their source, glibc, so they share its findings.
    assert_scan_explained(&report, &status_d(&rootfs));
    let libc = finding_ids(&report, "libc6");
    assert!(
        !libc.is_empty(),
        "the snapshot has open glibc CVEs: {report}"
    );
    assert_eq!(libc, finding_ids(&report, "libc-bin"));
    let glibc = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "libc6")
        .unwrap();
    assert_eq!(glibc["source_name"], "glibc", "{glibc}");
    // --fail-on trips exactly when a finding has that severity or worse.
    let order = ["negligible", "low", "medium", "high", "critical"];
    let worst = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["findings"].as_array().unwrap())
        .filter_map(|f| order.iter().position(|s| f["severity"] == *s))
        .max()
        .expect("a finding of known severity");
    for (i, threshold) in order.iter().enumerate() {
        let (code, _) = scan_json(&target, &["--fail-on", threshold]);
        let trips = i <= worst;
        assert_eq!(code, Some(i32::from(trips)), "--fail-on {threshold}");
    }
    let out = chroot(
        &rootfs,
        "0:0",
        &[
            "/bin/sh",
            "-c",
            "echo hi | awk '{print $1 \"-awk\"}'; id -un; ls /usr/bin | wc -l",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "hi-awk", "{out}");
    assert_eq!(lines[1], "root", "{out}");
    assert!(lines[2].trim().parse::<u32>().unwrap() > 100, "{out}");
    // usr-is-merged, not usrmerge (which pulls perl).
    assert!(rootfs.join("var/lib/dpkg/status.d/usr-is-merged").exists());
    assert!(!rootfs.join("var/lib/dpkg/status.d/usrmerge").exists());
    assert!(!rootfs.join("var/lib/dpkg/status.d/perl").exists());
    let out = chroot(
        &rootfs,
        "65532:65532",
        &[
            "/bin/sh",
            "-c",
            "id -u; touch /home/nonroot/x && echo writable",
        ],
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["65532", "writable"]);
}

#[test]
fn live_multi_arch_index_gzip_and_zstd() {
    let tmp = tempfile::tempdir().unwrap();
    for compression in ["gzip", "zstd"] {
        multi_arch_index(tmp.path(), compression);
    }
}

/// A copy of static for amd64 and arm64 with `compression`: an image index
/// whose per-platform images skopeo reads (verifying every layer while it
/// copies) and, for gzip, umoci unpacks (bookworm's umoci reads neither an
/// index tag nor zstd layers).
fn multi_arch_index(tmp: &Path, compression: &str) {
    let spec = std::fs::read_to_string(root().join("examples/static.yaml")).unwrap();
    let spec = spec.replace(
        "name: static",
        &format!("name: static-multi\narchitectures: [amd64, arm64]\ncompression: {compression}"),
    );
    let spec_path = tmp.join(format!("static-{compression}.yaml"));
    std::fs::write(&spec_path, spec).unwrap();
    let out = tmp.join(format!("img-{compression}"));
    let target = format!("oci:{}:test", out.display());
    run(
        &mut bulwark(&[
            "build",
            spec_path.to_str().unwrap(),
            "-o",
            &target,
            "--quiet",
        ]),
        "build multi",
    );
    let raw = run(
        Command::new("skopeo").args(["inspect", "--raw", &target]),
        "skopeo inspect --raw",
    );
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let archs: BTreeSet<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, BTreeSet::from(["amd64", "arm64"]));
    let media_type = format!(
        "application/vnd.oci.image.layer.v1.tar+{}",
        if compression == "gzip" {
            "gzip"
        } else {
            "zstd"
        }
    );
    for arch in ["amd64", "arm64"] {
        let info = run(
            Command::new("skopeo").args(["inspect", "--override-arch", arch, &target]),
            "skopeo inspect arch",
        );
        let info: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(info["Architecture"], arch);
        // The platform's manifest, read from the layout, has layers of the
        // compression asked for.
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap();
        let digest = entry["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("blobs/sha256").join(digest)).unwrap(),
        )
        .unwrap();
        for layer in manifest["layers"].as_array().unwrap() {
            assert_eq!(layer["mediaType"], media_type.as_str());
        }
        // skopeo reads every layer (it verifies digests while copying).
        let copy = tmp.join(format!("copy-{compression}-{arch}"));
        run(
            Command::new("skopeo").args([
                "copy",
                "--override-arch",
                arch,
                &target,
                &format!("oci:{}:test", copy.display()),
            ]),
            "skopeo copy",
        );
        if compression == "gzip" {
            let into = tmp.join(format!("unpacked-{arch}"));
            std::fs::create_dir_all(&into).unwrap();
            let bundle = umoci_unpack(&copy, &into);
            let stanza =
                std::fs::read_to_string(bundle.join("rootfs/var/lib/dpkg/status.d/base-files"))
                    .unwrap();
            assert!(
                stanza.contains(&format!("\nArchitecture: {arch}\n")),
                "{stanza}"
            );
        }
    }
}

/// Which packages `apt-get --simulate` would install from a throw-away APT
/// state that uses the host's Debian sources for the given suites.
fn apt_simulate(packages: &[&str]) -> BTreeSet<String> {
    let state = tempfile::tempdir().unwrap();
    let s = state.path();
    for d in [
        "etc/apt/sources.list.d",
        "etc/apt/preferences.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/lib/dpkg",
    ] {
        std::fs::create_dir_all(s.join(d)).unwrap();
    }
    std::fs::write(s.join("var/lib/dpkg/status"), "").unwrap();
    // Only the host's Debian sources (the suites the examples use).
    let mut sources = String::new();
    for entry in std::fs::read_dir("/etc/apt/sources.list.d").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sources") {
            let text = std::fs::read_to_string(&path).unwrap();
            for para in text.split("\n\n") {
                if para.contains("Suites:")
                    && para
                        .lines()
                        .any(|l| l.starts_with("Suites:") && l.contains("bookworm"))
                    && para.contains("debian-archive-keyring")
                {
                    sources.push_str(para.trim());
                    sources.push_str("\n\n");
                }
            }
        }
    }
    assert!(
        !sources.is_empty(),
        "the host has no Debian bookworm source"
    );
    // bulwark's examples use bookworm and bookworm-security only.
    let sources = sources.replace(" bookworm-updates", "");
    std::fs::write(s.join("etc/apt/sources.list.d/debian.sources"), sources).unwrap();
    let opts = [
        format!("-oDir={}", s.display()),
        format!(
            "-oDir::State::status={}",
            s.join("var/lib/dpkg/status").display()
        ),
        "-oDir::Etc::trusted=/etc/apt/trusted.gpg".into(),
        "-oDir::Etc::trustedparts=/etc/apt/trusted.gpg.d".into(),
        "-oAPT::Architecture=amd64".into(),
        "-oDebug::NoLocking=1".into(),
    ];
    run(
        Command::new("apt-get").args(&opts).args(["update", "-qq"]),
        "apt-get update",
    );
    let out = run(
        Command::new("apt-get")
            .args(&opts)
            .args(["install", "--simulate", "--no-install-recommends", "-qq"])
            .args(packages),
        "apt-get --simulate",
    );
    out.lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

fn resolved_set(spec: &Path) -> BTreeSet<String> {
    let lock_dir = tempfile::tempdir().unwrap();
    let copy = lock_dir.path().join("spec.yaml");
    std::fs::copy(spec, &copy).unwrap();
    run(
        &mut bulwark(&["lock", copy.to_str().unwrap(), "--quiet"]),
        "bulwark lock",
    );
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(lock_dir.path().join("spec.lock")).unwrap())
            .unwrap();
    lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn live_python_closure_matches_apt() {
    let ours = resolved_set(&root().join("examples/python.yaml"));
    let apt = apt_simulate(&["base-files", "python3", "ca-certificates"]);
    // bulwark deliberately differs from apt only where a documented choice
    // says so; for python3 + ca-certificates there is none.
    assert_eq!(ours, apt, "bulwark and apt disagree on the python closure");
}

#[test]
fn live_base_closure_differs_from_apt_only_by_exclusions() {
    let ours = resolved_set(&root().join("examples/base.yaml"));
    let apt = apt_simulate(&[
        "base-files",
        "netbase",
        "tzdata",
        "media-types",
        "ca-certificates",
        "libc6",
        "libssl3",
    ]);
    let only_apt: BTreeSet<_> = apt.difference(&ours).cloned().collect();
    let only_ours: BTreeSet<_> = ours.difference(&apt).cloned().collect();
    assert!(
        only_ours.is_empty(),
        "bulwark has packages apt would not install: {only_ours:?}"
    );
    // Each difference is an `exclude` of the spec (awk is provided by mawk).
    assert_eq!(
        only_apt,
        BTreeSet::from([
            "mawk".to_string(),
            "openssl".to_string(),
            "debconf".to_string()
        ]),
    );
    let explain = run(
        &mut bulwark(&[
            "explain",
            root().join("examples/base.yaml").to_str().unwrap(),
            "libssl3",
        ]),
        "explain",
    );
    assert!(explain.contains("requested"), "{explain}");
    explain_exclusions("base", &["awk", "openssl", "debconf"]);
}

/// `bulwark explain SPEC NAME` for each excluded name: it says the package
/// is excluded and which requested package's dependency it stands in for
/// (or that nothing needs it any more).
fn explain_exclusions(example: &str, names: &[&str]) {
    let spec = root().join(format!("examples/{example}.yaml"));
    for name in names {
        let out = run(
            &mut bulwark(&["explain", spec.to_str().unwrap(), name]),
            "explain",
        );
        assert!(
            out.starts_with(&format!("{name} is excluded"))
                && (out.contains("requested: ")
                    || out.contains("nothing in the image depends on it")),
            "{out}"
        );
    }
}

#[test]
fn live_static_closure_differs_from_apt_only_through_exclusions() {
    let ours = resolved_set(&root().join("examples/static.yaml"));
    let apt = apt_simulate(&[
        "base-files",
        "netbase",
        "tzdata",
        "media-types",
        "ca-certificates",
    ]);
    let only_ours: BTreeSet<_> = ours.difference(&apt).cloned().collect();
    assert!(
        only_ours.is_empty(),
        "bulwark has packages apt would not install: {only_ours:?}"
    );
    // What apt installs beyond bulwark is the excluded packages and what
    // only they pull in: libc6 (and its gcc-12 runtime), mawk for awk,
    // openssl (and libssl3) and debconf.
    let only_apt: BTreeSet<&str> = apt.difference(&ours).map(String::as_str).collect();
    assert_eq!(
        only_apt,
        BTreeSet::from([
            "debconf",
            "gcc-12-base",
            "libc6",
            "libgcc-s1",
            "libssl3",
            "mawk",
            "openssl"
        ]),
    );
    explain_exclusions("static", &["libc6", "awk", "openssl", "debconf"]);
}

/// apt takes `usrmerge` for init-system-helpers' `usrmerge | usr-is-merged`
/// (which pulls perl); bulwark's built-in table takes `usr-is-merged`, and
/// `explain` says so. (crates/bulwark-resolve's tests check that with
/// `prefer: [usrmerge]` the essential closure is exactly apt's.)
#[test]
fn live_essential_takes_usr_is_merged_and_explains_why() {
    let spec = root().join("examples/essential.yaml");
    let ours = resolved_set(&spec);
    assert!(
        ours.contains("usr-is-merged") && !ours.contains("usrmerge") && !ours.contains("perl"),
        "{ours:?}"
    );
    let out = run(
        &mut bulwark(&["explain", spec.to_str().unwrap(), "usr-is-merged"]),
        "explain",
    );
    assert!(
        out.contains("usrmerge | usr-is-merged → chose usr-is-merged (built-in preference"),
        "{out}"
    );
}

#[test]
fn live_rootless_build_gives_the_same_digest() {
    // An unprivileged user with its own cache builds static; root builds it too.
    let tmp = tempfile::tempdir().unwrap();
    let user = "bulwark-test";
    let _ = Command::new("useradd")
        .args(["--system", "--no-create-home", user])
        .output();
    let dir = tmp.path().join("rootless");
    std::fs::create_dir_all(&dir).unwrap();
    run(
        Command::new("chown").args([&format!("{user}:"), dir.to_str().unwrap()]),
        "chown",
    );
    // The user needs to read the spec and run the binary.
    run(
        Command::new("chmod").args(["a+rx", tmp.path().to_str().unwrap()]),
        "chmod",
    );
    let spec = dir.join("static.yaml");
    std::fs::copy(root().join("examples/static.yaml"), &spec).unwrap();
    let bin = dir.join("bulwark");
    std::fs::copy(env!("CARGO_BIN_EXE_bulwark"), &bin).unwrap();
    let target = format!("oci:{}:test", dir.join("img").display());
    let out = run(
        Command::new("runuser")
            .args(["-u", user, "--"])
            .arg("env")
            .arg(format!("HOME={}", dir.display()))
            .arg(format!("BULWARK_CACHE_DIR={}", dir.join("cache").display()))
            .arg("SOURCE_DATE_EPOCH=1700000000")
            .arg(&bin)
            .args(["build", spec.to_str().unwrap(), "-o", &target, "--quiet"]),
        "rootless build",
    );
    let (_, as_root) = build_example("static", &tmp.path().join("root"), &[]);
    assert_eq!(out.trim(), as_root, "rootless and root builds differ");
}

/// The host's Debian mirror URIs (main archive, security), from its APT
/// sources; never written into the repository.
fn host_debian_uris() -> (String, String) {
    let mut main = None;
    let mut security = None;
    for entry in std::fs::read_dir("/etc/apt/sources.list.d").unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        for para in text.split("\n\n") {
            let field = |name: &str| {
                para.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_string())
            };
            let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) else {
                continue;
            };
            if suites.split_whitespace().any(|s| s == "bookworm") {
                main.get_or_insert(uris.clone());
            }
            if suites.split_whitespace().any(|s| s == "bookworm-security") {
                security.get_or_insert(uris);
            }
        }
    }
    (
        main.expect("no host source for bookworm"),
        security.expect("no host source for bookworm-security"),
    )
}

#[test]
fn live_native_script_effects_match_an_mmdebstrap_tree() {
    // The same packages, installed by mmdebstrap with dpkg and every
    // maintainer script, and by bulwark without any.
    let tmp = tempfile::tempdir().unwrap();
    let spec = "name: effects\nrepositories:\n  - host: bookworm\n  - host: bookworm-security\npackages: [\"?essential\", ca-certificates, netbase]\nprefer: [usrmerge]\n";
    let spec_path = tmp.path().join("effects.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let layout = tmp.path().join("img");
    run(
        &mut bulwark(&[
            "build",
            "-q",
            spec_path.to_str().unwrap(),
            "-o",
            &format!("oci:{}:test", layout.display()),
        ]),
        "bulwark build",
    );
    let ours = umoci_unpack(&layout, tmp.path()).join("rootfs");

    let (main, security) = host_debian_uris();
    let theirs = tmp.path().join("mmdebstrap");
    run(
        Command::new("mmdebstrap")
            .args([
                "--quiet",
                "--mode=root",
                "--variant=essential",
                "--include=ca-certificates,netbase",
                "bookworm",
            ])
            .arg(&theirs)
            .arg(format!("deb {main} bookworm main"))
            .arg(format!("deb {security} bookworm-security main"))
            .env("SOURCE_DATE_EPOCH", "1700000000"),
        "mmdebstrap",
    );
    for file in [
        "etc/ssl/certs/ca-certificates.crt",
        "etc/ca-certificates.conf",
        "etc/passwd",
        "etc/group",
        "etc/hosts",
        "etc/profile",
    ] {
        let a = std::fs::read(ours.join(file)).unwrap_or_else(|e| panic!("bulwark's {file}: {e}"));
        let b =
            std::fs::read(theirs.join(file)).unwrap_or_else(|e| panic!("mmdebstrap's {file}: {e}"));
        assert!(a == b, "{file} differs from mmdebstrap's");
    }
    // /etc/shells: the same shells. The order differs by design: mmdebstrap
    // runs debianutils' update-shells before usrmerge converts the tree, so
    // it lists every /bin shell before the /usr/bin ones; on a tree that is
    // merged from the start (bulwark's), update-shells interleaves them.
    let shells = |root: &Path| -> BTreeSet<String> {
        std::fs::read_to_string(root.join("etc/shells"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(shells(&ours), shells(&theirs));
    // The certificate directory: the same names, and the same link targets.
    let links = |root: &Path| -> BTreeSet<(String, String)> {
        std::fs::read_dir(root.join("etc/ssl/certs"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let target = std::fs::read_link(e.path())
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                (e.file_name().to_string_lossy().into_owned(), target)
            })
            .collect()
    };
    assert_eq!(links(&ours), links(&theirs));

    // `bulwark sbom rootfs:` of mmdebstrap's tree lists exactly what dpkg does.
    let listed = run(
        Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                theirs.join("var/lib/dpkg").display()
            ))
            .args(["-W", "-f", "${Package} ${Version}\n"]),
        "dpkg-query",
    );
    let dpkg: BTreeSet<String> = listed.lines().map(str::to_string).collect();
    let sbom_path = tmp.path().join("rootfs.spdx.json");
    run(
        &mut bulwark(&[
            "sbom",
            &format!("rootfs:{}", theirs.display()),
            "-o",
            sbom_path.to_str().unwrap(),
        ]),
        "bulwark sbom rootfs:",
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&sbom_path).unwrap()).unwrap();
    let ours_listed: BTreeSet<String> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["externalRefs"].to_string().contains("pkg:deb/"))
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["versionInfo"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(ours_listed, dpkg, "the SBOM and dpkg-query disagree");
    run(
        Command::new(venv_bin("pyspdxtools"))
            .arg("-i")
            .arg(&sbom_path),
        "pyspdxtools",
    );
    for link in [
        "usr/bin/awk",
        "etc/alternatives/awk",
        "etc/localtime",
        "var/run",
    ] {
        assert_eq!(
            std::fs::read_link(ours.join(link)).ok(),
            std::fs::read_link(theirs.join(link)).ok(),
            "{link}"
        );
    }

    // `bulwark scan rootfs:` of mmdebstrap's tree: stable, explained by
    // dpkg's own view of the tree, and the same package versions have the
    // same findings in bulwark's image of the same packages.
    let query = run(
        Command::new("dpkg-query")
            .arg(format!(
                "--admindir={}",
                theirs.join("var/lib/dpkg").display()
            ))
            .args([
                "-W",
                "-f",
                "${db:Status-Abbrev}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\n",
            ]),
        "dpkg-query",
    );
    let installed: Installed = query
        .lines()
        .filter(|l| l.starts_with("ii"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].to_string(), (f[2].into(), f[3].into(), f[4].into()))
        })
        .collect();
    let target = format!("rootfs:{}", theirs.display());
    let (code, report) = scan_json(&target, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["target"]["digest"], serde_json::Value::Null);
    assert_eq!(scan_json(&target, &[]).1, report, "two scans differ");
    assert_scan_explained(&report, &installed);
    let (_, of_ours) = scan_json(&format!("oci:{}:test", layout.display()), &[]);
    let ours_installed = status_d(&ours);
    assert_scan_explained(&of_ours, &ours_installed);
    let mut same = 0;
    for (name, (version, _, _)) in &installed {
        if ours_installed
            .get(name)
            .is_some_and(|(v, _, _)| v == version)
        {
            same += 1;
            assert_eq!(
                finding_ids(&report, name),
                finding_ids(&of_ours, name),
                "{name} {version}: mmdebstrap's tree and bulwark's image differ"
            );
        }
    }
    assert!(same > 40, "only {same} packages in common");
}

/// Installed packages: name → (version, source name, source version).
type Installed = std::collections::BTreeMap<String, (String, String, String)>;

/// The packages of a `status.d` dpkg database (bulwark's images).
fn status_d(rootfs: &Path) -> Installed {
    let mut out = Installed::new();
    for entry in std::fs::read_dir(rootfs.join("var/lib/dpkg/status.d")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".md5sums") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_string())
        };
        let (name, version) = (field("Package:").unwrap(), field("Version:").unwrap());
        let (source, source_version) = match field("Source:") {
            Some(s) => match s.split_once(" (") {
                Some((n, v)) => (n.to_string(), v.trim_end_matches(')').to_string()),
                None => (s, version.clone()),
            },
            None => (name.clone(), version.clone()),
        };
        out.insert(name, (version, source, source_version));
    }
    out
}

/// The finding ids of one package in a scan report, sorted.
fn finding_ids(report: &serde_json::Value, package: &str) -> Vec<String> {
    let mut ids: Vec<String> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == package)
        .flat_map(|p| p["findings"].as_array().unwrap())
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Checks that a scan report of a bookworm tree is explained by its
/// installed packages: every finding's package is installed with the
/// version and source reported, a fixed version is above the installed
/// source version (by dpkg), nothing is matched for trixie only, and the
/// counts add up.
fn assert_scan_explained(report: &serde_json::Value, installed: &Installed) {
    assert_eq!(report["target"]["release"], "12", "{report}");
    assert_eq!(report["target"]["codename"], "bookworm", "{report}");
    for w in report["warnings"].as_array().unwrap() {
        assert!(w.to_string().contains("days old"), "unexpected warning {w}");
    }
    assert_eq!(report["summary"]["packages_scanned"], installed.len());
    assert_eq!(report["not_debian"], serde_json::json!([]), "{report}");
    let packages = report["packages"].as_array().unwrap();
    assert!(!packages.is_empty(), "no findings at all: {report}");
    let mut total = 0;
    for p in packages {
        let name = p["name"].as_str().unwrap();
        let (version, source, source_version) = installed
            .get(name)
            .unwrap_or_else(|| panic!("`{name}` has findings but is not installed"));
        assert_eq!(p["version"], version.as_str(), "{p}");
        assert_eq!(p["source_name"], source.as_str(), "{p}");
        assert_eq!(p["source_version"], source_version.as_str(), "{p}");
        for f in p["findings"].as_array().unwrap() {
            total += 1;
            match (f["status"].as_str().unwrap(), f["fixed_version"].as_str()) {
                ("open" | "undetermined", None) => {}
                ("resolved", Some(fixed)) => {
                    let lower = Command::new("dpkg")
                        .args(["--compare-versions", source_version, "lt", fixed])
                        .status()
                        .unwrap();
                    assert!(
                        lower.success(),
                        "{name}: {source_version} is not below {fixed}"
                    );
                }
                other => panic!("{name}: status and fix {other:?}: {f}"),
            }
        }
    }
    assert_eq!(report["summary"]["findings"], total);
    assert!(!report.to_string().contains("CVE-2024-3094"));
}

/// The shipped OSV snapshot, imported once per test run.
fn vuln_db() -> PathBuf {
    static DB: OnceLock<PathBuf> = OnceLock::new();
    DB.get_or_init(|| {
        let zip = std::env::var_os("BULWARK_OSV_SNAPSHOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("../shared/data/osv-debian-2025-02-12.zip"));
        assert!(
            zip.exists(),
            "the OSV snapshot `{}` is missing",
            zip.display()
        );
        let db = std::env::temp_dir().join(format!("bulwark-live-vuln-{}.db", std::process::id()));
        run(
            &mut bulwark(&[
                "db",
                "import",
                zip.to_str().unwrap(),
                "--db",
                db.to_str().unwrap(),
            ]),
            "bulwark db import",
        );
        db
    })
    .clone()
}

fn scan_json(target: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let db = vuln_db();
    let mut args = vec![
        "scan",
        target,
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = bulwark(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "scan {target}: no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

#[test]
fn live_scan_matches_source_packages_with_debian_semantics() {
    let tmp = tempfile::tempdir().unwrap();
    let (layout, digest) = build_example("python", tmp.path(), &[]);
    let target = format!("oci:{}:test", layout.display());
    let (code, report) = scan_json(&target, &[]);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["target"]["digest"], digest.as_str());
    assert_eq!(report["target"]["release"], "12");
    // Stable: the same image and database give the same report.
    let (_, again) = scan_json(&target, &[]);
    assert_eq!(report, again);
    // Source matching: every finding of a binary package names its source,
    // and binaries of one source share the source's findings.
    let packages = report["packages"].as_array().unwrap();
    assert!(!packages.is_empty(), "{report}");
    let ids = |name: &str| -> BTreeSet<String> {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| {
                p["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    // libssl3 and openssl are binaries of the source `openssl`.
    assert_eq!(ids("libssl3"), ids("openssl"));
    for p in packages {
        assert!(
            p["source_name"].is_string() && p["source_version"].is_string(),
            "{p}"
        );
    }
    // The snapshot lists CVE-2024-3094 (xz) only for trixie: bookworm's
    // liblzma5 must not match it.
    assert!(!report.to_string().contains("CVE-2024-3094"));

    // --fail-on: the python closure has findings of some severity; `critical`
    // trips only if one is critical, and `negligible` certainly trips.
    let (code, _) = scan_json(&target, &["--fail-on", "negligible"]);
    assert_eq!(code, Some(1));
    let (code, unfixed) = scan_json(&target, &["--ignore-unfixed"]);
    assert_eq!(code, Some(0));
    let fixable = report["summary"]["fixable"].as_u64().unwrap();
    assert_eq!(unfixed["summary"]["findings"].as_u64().unwrap(), fixable);

    // SARIF 2.1.0 validates against the official schema.
    let sarif = tmp.path().join("scan.sarif");
    let db = vuln_db();
    run(
        &mut bulwark(&[
            "scan",
            &target,
            "--db",
            db.to_str().unwrap(),
            "--format",
            "sarif",
            "-o",
            sarif.to_str().unwrap(),
        ]),
        "scan --format sarif",
    );
    let schema = root().join("crates/bulwark-vuln/tests/data/sarif-2.1.0-rtm.5.json");
    run(
        Command::new(venv_bin("python"))
            .arg("-c")
            .arg(
                "import json, sys, jsonschema\n\
             schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))\n\
             errors = list(jsonschema.Draft4Validator(schema).iter_errors(doc))\n\
             sys.exit(str(errors[:3]) if errors else 0)",
            )
            .arg(&schema)
            .arg(&sarif),
        "SARIF schema validation",
    );

    // The SBOM of the image scans the same as the image.
    let spdx = tmp.path().join("python.spdx.json");
    run(
        &mut bulwark(&["sbom", &target, "-o", spdx.to_str().unwrap()]),
        "sbom",
    );
    let (_, from_sbom) = scan_json(&format!("sbom:{}", spdx.display()), &[]);
    assert_eq!(
        from_sbom["summary"]["findings"],
        report["summary"]["findings"]
    );

    // A missing database is an input error that says how to get one.
    let out = bulwark(&[
        "scan",
        &target,
        "--db",
        tmp.path().join("none.db").to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bulwark db import"));
}

/// An image without base-files gets its identity from the Release of the
/// repository its packages came from, byte for byte as base-files would
/// give it, so it scans like the same image with base-files: the same
/// findings for every package both contain.
#[test]
fn live_an_image_without_base_files_scans_like_one_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let build = |name: &str, packages: &str| -> (PathBuf, PathBuf) {
        let spec = tmp.path().join(format!("{name}.yaml"));
        std::fs::write(
            &spec,
            format!("name: {name}\nrepositories:\n  - host: bookworm\npackages: [{packages}]\n"),
        )
        .unwrap();
        let layout = tmp.path().join(name);
        let target = format!("oci:{}:test", layout.display());
        let out = bulwark(&["build", spec.to_str().unwrap(), "-o", &target])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        ok(out, &format!("bulwark build {name}"));
        assert!(!stderr.contains("os-release"), "{name}: {stderr}");
        let bundle = umoci_unpack(&layout, &tmp.path().join(format!("{name}-unpacked")));
        (layout, bundle.join("rootfs"))
    };
    let (bare, bare_root) = build("bare", "python3");
    let (based, based_root) = build("based", "base-files, python3");
    assert!(!bare_root.join("var/lib/dpkg/status.d/base-files").exists());
    assert!(based_root.join("var/lib/dpkg/status.d/base-files").exists());
    let os_release = |root: &Path| std::fs::read(root.join("etc/os-release")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&os_release(&bare_root)),
        String::from_utf8_lossy(&os_release(&based_root)),
        "bulwark's os-release differs from base-files'"
    );
    for dir in ["tmp", "var/tmp", "root", "home"] {
        assert!(bare_root.join(dir).is_dir(), "no /{dir}");
    }
    let passwd = std::fs::read_to_string(bare_root.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");

    let scan = |layout: &Path| {
        let (code, report) = scan_json(&format!("oci:{}:test", layout.display()), &[]);
        assert_eq!(code, Some(0), "{report}");
        assert_eq!(report["target"]["release"], "12", "{report}");
        assert_eq!(report["target"]["codename"], "bookworm", "{report}");
        report
    };
    let (bare_report, based_report) = (scan(&bare), scan(&based));
    let (bare_installed, based_installed) = (status_d(&bare_root), status_d(&based_root));
    let mut cves = BTreeSet::new();
    for (name, version) in bare_installed.iter().map(|(n, v)| (n, &v.0)) {
        if based_installed.get(name).map(|v| &v.0) != Some(version) {
            continue;
        }
        let ids = finding_ids(&bare_report, name);
        assert_eq!(
            ids,
            finding_ids(&based_report, name),
            "{name} {version}: the findings differ with and without base-files"
        );
        cves.extend(ids.into_iter().filter(|id| id.starts_with("CVE-")));
    }
    assert!(
        !cves.is_empty(),
        "the snapshot has bookworm CVEs for python3's closure, none were found"
    );
    // And with `--fail-on` the bare image is judged, not waved through.
    let (code, _) = scan_json(
        &format!("oci:{}:test", bare.display()),
        &["--fail-on", "negligible"],
    );
    assert_eq!(code, Some(1));
}
