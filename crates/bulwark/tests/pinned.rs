//! Pinned digests: fixture specs that together use every spec key, built
//! hermetically from a signed fixture repository with `SOURCE_DATE_EPOCH`
//! fixed, must give exactly the manifest digests recorded here.
//!
//! The digests were recorded on the code before a refactoring and guard
//! against any change of the bytes bulwark writes. When a change of the
//! image bytes is intended (bump `LAYER_FORMAT` in `build.rs`), update the
//! pins in the same commit and say why in its message.
//!
//! Everything that reaches the images is fixed: the packages (built by
//! `dpkg-deb` with `SOURCE_DATE_EPOCH`), the specs' text (the repository is
//! `${BULWARK_TEST_MIRROR}`, its keyring `${BULWARK_TEST_KEYRING}`), the
//! signing key (a test key in `tests/fixtures`) and the time. Only the
//! fixture repository's OpenPGP key changes from run to run, and it
//! reaches nothing but the provenance, which is therefore not pinned.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use bulwark_testkit::{DebBuilder, FixtureRepo};
use common::{index_json, World};

/// The variable the pinned specs name their keyring by.
const KEYRING_ENV: &str = "BULWARK_TEST_KEYRING";

/// What the pins were recorded with: the spec name, then the digest the tag
/// points at and each platform's manifest, in the build's order.
struct Pin {
    spec: &'static str,
    output: &'static str,
    digest: &'static str,
    manifests: &'static [&'static str],
}

const PINS: &[Pin] = &[
    Pin {
        spec: "pin-app",
        output: "oci",
        digest: "sha256:2f91da29f0df42e3c69af0e92add529f27b79df625d95891ea39935510ab9911",
        manifests: &["sha256:2f91da29f0df42e3c69af0e92add529f27b79df625d95891ea39935510ab9911"],
    },
    Pin {
        spec: "pin-multi",
        output: "oci",
        digest: "sha256:077bda786eba55fc15dda25d52e8114b302d969a41e5c4e885a027f464ace388",
        manifests: &[
            "sha256:3435f0b285dadc72a6d10562483eb0b0f98e456f72c538359e06c0a56f072da9",
            "sha256:f82e78dfa287d2fae0a4b0a9a41035aa226fc400109a93a27f9380a0a20995dd",
        ],
    },
    Pin {
        spec: "pin-archive",
        output: "docker-archive",
        digest: "sha256:5d7da9ee1c57aff420b04cdd619e02b2343af269e0fa2959504d5aae10017a2f",
        manifests: &["sha256:5d7da9ee1c57aff420b04cdd619e02b2343af269e0fa2959504d5aae10017a2f"],
    },
];

/// The SPDX and CycloneDX documents attached to `pin-app` (deterministic:
/// they describe the image, not the repository's key).
const PIN_APP_SBOMS: &[(&str, &str)] = &[
    (
        "sbom-cyclonedx",
        "sha256:34c4e986844adf125f68df2a582298f80d49f7f42d9913353184fd89c3d62da7",
    ),
    (
        "sbom-spdx",
        "sha256:fdba592f32f8f1c6cdda09b98b036b7da9946cc2552beab22e60e505599aa8ab",
    ),
];

/// The SHA-256 of the `pin-archive` docker-archive file.
const PIN_ARCHIVE_FILE: &str = "88801eb304ff730d2a9531de8e8e05990dc723fc0166b9f47347243fe7305de2";

/// `os-release` of the fixture's essential base package.
const OS_RELEASE: &str = "PRETTY_NAME=\"Fixture GNU/Linux 12 (bookworm)\"\n\
NAME=\"Fixture GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n\
VERSION_CODENAME=bookworm\nID=debian\n";

const PASSWD_MASTER: &str = "root::0:0:root:/root:/bin/bash\n\
daemon:*:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
nobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

const GROUP_MASTER: &str = "root:*:0:\ndaemon:*:1:\nshadow:*:42:\nnogroup:*:65534:\n";

/// The packages, for amd64 and arm64 where they are architecture-specific.
fn universe(dir: &Path) -> Vec<PathBuf> {
    let mut builders = vec![
        DebBuilder::new("fixture-base", "12.4")
            .arch("all")
            .field("Essential", "yes")
            .field("Priority", "required")
            .file("usr/lib/os-release", OS_RELEASE)
            .symlink("etc/os-release", "../usr/lib/os-release")
            .dir("etc/skel")
            .file("usr/share/doc/fixture-base/copyright", "public domain\n"),
        DebBuilder::new("base-passwd", "3.6.1")
            .field("Essential", "yes")
            .field("Priority", "required")
            .arch("all")
            .file("usr/share/base-passwd/passwd.master", PASSWD_MASTER)
            .file("usr/share/base-passwd/group.master", GROUP_MASTER),
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
        DebBuilder::new("foo-doc", "1.0-1")
            .arch("all")
            .field("Source", "foo")
            .file("usr/share/doc/foo-doc/README", "read me\n"),
        DebBuilder::new("fixture-awk", "1.0-1")
            .arch("all")
            .file("usr/share/fixture-awk/marker", "awk\n"),
    ];
    for arch in ["amd64", "arm64"] {
        let triplet = if arch == "amd64" {
            "x86_64-linux-gnu"
        } else {
            "aarch64-linux-gnu"
        };
        builders.extend([
            DebBuilder::new("libfoo", "1.0-1")
                .arch(arch)
                .multi_arch("same")
                .field("Source", "foo")
                .file(
                    &format!("usr/lib/{triplet}/libfoo.so.1"),
                    format!("\x7fELF fake libfoo for {arch}\n"),
                ),
            DebBuilder::new("foo", "1.0-1")
                .arch(arch)
                .depends("libfoo (>= 1.0), fixture-awk")
                .field("Recommends", "foo-doc")
                .file_mode(
                    "usr/bin/foo",
                    format!("#!/bin/sh\necho foo {arch}\n"),
                    0o755,
                )
                .file(
                    "usr/share/doc/foo/copyright",
                    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
                     \nFiles: *\nCopyright: 2023 Fixture\nLicense: MIT\n",
                ),
            DebBuilder::new("tinyhttpd", "0.9-1")
                .arch(arch)
                .provides("httpd")
                .file_mode("usr/sbin/tinyhttpd", "#!/bin/sh\n", 0o755),
            DebBuilder::new("fixsh", "5.0-1")
                .arch(arch)
                .file_mode("bin/fixsh", format!("#!/bin/sh\n# {arch}\n"), 0o755)
                .script(
                    "postinst",
                    "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n    \
                     add-shell /bin/fixsh\n    \
                     update-alternatives --install /usr/bin/fsh fsh /bin/fixsh 50\nfi\n",
                ),
        ]);
    }
    builders.iter().map(|b| b.build(dir)).collect()
}

/// A repository with both architectures, built once per test process.
fn world() -> World {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pinned-universe");
    fs::create_dir_all(&dir).unwrap();
    let mut b = FixtureRepo::builder()
        .suite("bookworm")
        .arch("amd64")
        .arch("arm64");
    for deb in universe(&dir) {
        b = b.deb(deb);
    }
    World {
        tmp: tempfile::tempdir().unwrap(),
        repo: b.build(),
    }
}

/// The spec's repository, named through variables only, so that the
/// spec's text (and the `dev.bulwark.repositories` record) is the same in
/// every run.
fn repositories(w: &World) -> String {
    format!(
        "repositories:\n  - uri: ${{BULWARK_TEST_MIRROR}}\n    suites: [{}]\n    components: [main]\n    signed-by: ${{{KEYRING_ENV}}}\n",
        w.repo.suite()
    )
}

/// Writes the three pinned specs and their local files.
fn write_specs(w: &World) {
    fs::create_dir_all(w.path("specs")).unwrap();
    fs::write(w.path("specs/app.conf"), "mode = prod\n").unwrap();
    fs::write(
        w.path("specs/run.sh"),
        "#!/bin/sh\nexec /usr/bin/foo \"$@\"\n",
    )
    .unwrap();
    // Every image key, one platform, gzip, status.d, signed.
    w.raw_spec(
        "pin-app.yaml",
        &format!(
            r#"name: pin-app
tag: "1.0"
{repos}architectures: [amd64]
packages: [foo=1.0-1, bar, web, fixsh, base-passwd, fixture-base]
recommends: true
exclude:
  - {{name: fixture-awk, reason: only maintainer scripts use it}}
prefer: [qux]
dpkg-database: status.d
compression: gzip
max-layers: 4
accounts:
  groups: [{{groupname: app, gid: 1000, members: [app]}}]
  users:
    - {{username: app, uid: 1000, gid: 1000, home: /home/app, shell: /bin/fixsh}}
    - {{username: helper, uid: 1001}}
  run-as: app
entrypoint: [/usr/local/bin/run]
cmd: [--serve, 8080]
workdir: /srv/app
environment: {{LANG: C.UTF-8, APP_MODE: prod, PORT: 8080}}
files:
  - {{source: app.conf, path: /etc/app/app.conf, mode: "0640", owner: "0:1000"}}
  - {{source: run.sh, path: /usr/local/bin/run, mode: "0755"}}
paths:
  - {{path: /srv/app, type: directory, mode: "0750", owner: "1000:1000"}}
  - {{path: /usr/local/bin/foo, type: symlink, target: /usr/bin/foo}}
  - {{path: /usr/share/web, type: permissions, mode: "0750", owner: "0:1000"}}
annotations:
  org.opencontainers.image.source: https://example.invalid/app
  org.opencontainers.image.vendor: Example Inc.
sbom-files: true
"#,
            repos = repositories(w)
        ),
    );
    // Two platforms from the host's APT sources, zstd, classic database,
    // a package pattern, no exclusion: the awk stand-in is unpacked.
    w.raw_spec(
        "pin-multi.yaml",
        &format!(
            "name: pin-multi\nrepositories:\n  - host: {suite}\narchitectures: [amd64, arm64]\n\
             packages: [\"?essential\", foo, web]\ndpkg-database: classic\ncompression: zstd\n",
            suite = w.repo.suite()
        ),
    );
    // A docker-archive: one platform, gzip, classic, defaults elsewhere.
    w.raw_spec(
        "pin-archive.yaml",
        &format!(
            "name: pin-archive\ntag: v2\n{repos}architectures: [arm64]\n\
             packages: [bar, foo]\ndpkg-database: classic\n",
            repos = repositories(w)
        ),
    );
}

/// An APT configuration root whose one source is the fixture, for the
/// `host:` repositories.
fn apt_root(w: &World) -> PathBuf {
    let root = w.path("apt-root");
    let dir = root.join("etc/apt/sources.list.d");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("fixture.sources"),
        format!(
            "Types: deb\nURIs: {}\nSuites: {}\nComponents: main\nSigned-By: {}\n",
            w.repo.uri(),
            w.repo.suite(),
            w.repo.keyring().display()
        ),
    )
    .unwrap();
    root
}

fn pin_key() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pin-signing-key.pem")
}

/// Builds one pinned spec; returns the `--format json` report.
fn build(w: &World, pin: &Pin) -> serde_json::Value {
    let spec = w.path("specs").join(format!("{}.yaml", pin.spec));
    let out = match pin.output {
        "oci" => format!("oci:{}", w.path("out").join(pin.spec).display()),
        _ => format!(
            "docker-archive:{}",
            w.path("out").join(format!("{}.tar", pin.spec)).display()
        ),
    };
    let mut cmd = w.cmd();
    cmd.env(KEYRING_ENV, w.repo.keyring())
        .env("BULWARK_APT_ROOT", apt_root(w))
        .args(["build", "--format", "json"])
        .arg(&spec)
        .args(["-o", &out]);
    if pin.spec == "pin-app" {
        cmd.arg("--sign").arg(pin_key());
    }
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "building {}: {}",
        pin.spec,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Every maintainer script is understood and every package is found:
    // the pins cover the native effects, not a warning.
    assert_eq!(report["warnings"], serde_json::json!([]), "{}", pin.spec);
    report
}

/// The digests of the plain SBOM artifacts attached to the image in the
/// layout, by kind.
fn sbom_digests(layout: &Path) -> Vec<(String, String)> {
    let index = index_json(layout);
    let mut found = Vec::new();
    for entry in index["manifests"].as_array().unwrap() {
        let kind = entry["annotations"]["dev.bulwark.artifact"]
            .as_str()
            .unwrap_or("");
        let plain = matches!(
            entry["artifactType"].as_str(),
            Some("application/spdx+json" | "application/vnd.cyclonedx+json")
        );
        if !plain {
            continue;
        }
        let hex = entry["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:");
        let manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(hex)).unwrap())
                .unwrap();
        found.push((
            kind.to_owned(),
            manifest["layers"][0]["digest"].as_str().unwrap().to_owned(),
        ));
    }
    found.sort();
    found
}

/// Every pinned spec gives its recorded digests.
#[test]
fn fixture_specs_give_the_pinned_digests() {
    let w = world();
    write_specs(&w);
    let mut actual = Vec::new();
    for pin in PINS {
        let report = build(&w, pin);
        let manifests: Vec<String> = report["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["manifest"].as_str().unwrap().to_owned())
            .collect();
        actual.push((
            pin.spec,
            report["digest"].as_str().unwrap().to_owned(),
            manifests,
        ));
    }
    let sboms = sbom_digests(&w.path("out/pin-app"));
    let archive = common::sha256_file(&w.path("out/pin-archive.tar"));

    let recorded: Vec<(&str, String, Vec<String>)> = PINS
        .iter()
        .map(|p| {
            (
                p.spec,
                p.digest.to_owned(),
                p.manifests.iter().map(|m| (*m).to_owned()).collect(),
            )
        })
        .collect();
    let recorded_sboms: Vec<(String, String)> = PIN_APP_SBOMS
        .iter()
        .map(|(k, d)| ((*k).to_owned(), (*d).to_owned()))
        .collect();
    assert_eq!(
        (&actual, &sboms, &archive),
        (&recorded, &recorded_sboms, &PIN_ARCHIVE_FILE.to_owned()),
        "the pinned images changed (left: now, right: recorded)"
    );
}
