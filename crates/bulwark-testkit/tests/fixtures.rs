//! The fixtures checked against the real Debian tools: `dpkg-deb` reads the
//! packages, and `apt-get` (with a throw-away APT state) trusts, indexes and
//! downloads from the repository exactly as it would from a Debian mirror,
//! and refuses it once tampered with.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bulwark_testkit::{
    hostile_deb, spec_yaml, DebBuilder, DebCompression, FixtureRepo, Hostile, MIRROR_ENV,
};

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn stdout(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn ar_members(deb: &Path) -> Vec<String> {
    let mut ar = ar::Archive::new(fs::File::open(deb).unwrap());
    let mut names = Vec::new();
    while let Some(entry) = ar.next_entry() {
        names.push(String::from_utf8(entry.unwrap().header().identifier().to_vec()).unwrap());
    }
    names
}

fn sample() -> DebBuilder {
    DebBuilder::new("foo", "1:1.2-3")
        .depends("libfoo (>= 1.0)")
        .field("Multi-Arch", "foreign")
        .field("Priority", "optional")
        .file_mode("usr/bin/foo", "#!/bin/sh\necho foo\n", 0o755)
        .file_mode("usr/bin/foo-suid", "x", 0o4755)
        .file("/etc/foo.conf", "a=1\n")
        .symlink("usr/bin/foo-alias", "foo")
        .dir_mode("var/tmp/foo", 0o1777)
        .script("postinst", "#!/bin/sh\nset -e\nfrobnicate --now\n")
}

#[test]
fn deb_builder_output_as_dpkg_deb_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let deb = sample().build(dir.path());
    assert_eq!(deb, dir.path().join("foo_1.2-3_amd64.deb"));

    let fields = stdout(Command::new("dpkg-deb").arg("--field").arg(&deb).args([
        "Package",
        "Version",
        "Architecture",
        "Depends",
        "Multi-Arch",
    ]));
    assert_eq!(
        fields,
        "Package: foo\nVersion: 1:1.2-3\nArchitecture: amd64\n\
         Depends: libfoo (>= 1.0)\nMulti-Arch: foreign\n"
    );
    let postinst = stdout(
        Command::new("dpkg-deb")
            .arg("--info")
            .arg(&deb)
            .arg("postinst"),
    );
    assert!(postinst.contains("frobnicate --now"), "{postinst}");

    // Owner root/root, modes as requested, mtime = SOURCE_DATE_EPOCH.
    let listing = stdout(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    let line = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(path) || l.contains(&format!("{path} -> ")))
            .unwrap_or_else(|| panic!("`{path}` not in:\n{listing}"))
            .to_string()
    };
    assert!(line("./usr/bin/foo").starts_with("-rwxr-xr-x root/root"));
    assert!(line("./usr/bin/foo-suid").starts_with("-rwsr-xr-x root/root"));
    assert!(line("./etc/foo.conf").starts_with("-rw-r--r-- root/root"));
    assert!(line("./var/tmp/foo/").starts_with("drwxrwxrwt root/root"));
    assert!(line("./usr/bin/foo-alias").ends_with("./usr/bin/foo-alias -> foo"));
    assert!(line("./usr/bin/").contains("2023-11-14"), "{listing}");
    assert_eq!(
        ar_members(&deb),
        ["debian-binary", "control.tar.xz", "data.tar.xz"]
    );
}

#[test]
fn deb_builder_is_reproducible_and_compresses_as_asked() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = fs::read(sample().build(a.path())).unwrap();
    let second = fs::read(sample().build(b.path())).unwrap();
    assert!(first == second, "two builds of the same package differ");

    for (compression, member) in [
        (DebCompression::Gzip, "data.tar.gz"),
        (DebCompression::Zstd, "data.tar.zst"),
        (DebCompression::None, "data.tar"),
    ] {
        let deb = DebBuilder::new("z", "1")
            .arch("all")
            .file("usr/share/z", "z")
            .compression(compression)
            .build(a.path());
        assert_eq!(ar_members(&deb)[2], member);
        stdout(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    }
}

/// A throw-away APT state whose only source is the fixture repository.
struct Apt {
    root: tempfile::TempDir,
}

impl Apt {
    fn new(repo: &FixtureRepo, keyring: &Path) -> Apt {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
            "download",
        ] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        fs::write(r.join("var/lib/dpkg/status"), "").unwrap();
        fs::write(
            r.join("etc/apt/sources.list"),
            format!(
                "deb [signed-by={}] {} stable main\n",
                keyring.display(),
                repo.uri()
            ),
        )
        .unwrap();
        fs::write(
            r.join("apt.conf"),
            format!(
                "Dir \"{r}/\";\nDir::State::status \"{r}/var/lib/dpkg/status\";\n\
                 APT::Architecture \"amd64\";\nAPT::Architectures {{ \"amd64\"; }};\n\
                 APT::Sandbox::User \"root\";\nDebug::NoLocking \"true\";\n\
                 Acquire::Languages \"none\";\nAcquire::Retries \"0\";\n\
                 Acquire::http::Proxy \"DIRECT\";\n",
                r = r.display()
            ),
        )
        .unwrap();
        Apt { root }
    }

    fn cmd(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool);
        cmd.env("APT_CONFIG", self.root.path().join("apt.conf"))
            .env("LC_ALL", "C")
            .current_dir(self.root.path().join("download"));
        cmd
    }

    fn update(&self) -> Output {
        run(self.cmd("apt-get").args(["-q", "update"]))
    }
}

fn universe() -> FixtureRepo {
    FixtureRepo::builder()
        .deb(
            DebBuilder::new("libfoo", "1.0-1")
                .multi_arch("same")
                .file("usr/lib/x86_64-linux-gnu/libfoo.so.1", "ELF"),
        )
        .deb(DebBuilder::new("foo", "1.0-1").depends("libfoo (>= 1.0)"))
        .deb(DebBuilder::new("foo", "1.1-1").depends("libfoo (>= 1.0)"))
        .deb(
            DebBuilder::new("doc", "2")
                .arch("all")
                .field("Source", "docs (3)"),
        )
        .build()
}

#[test]
fn apt_trusts_indexes_and_downloads_from_the_fixture() {
    let repo = universe();
    for keyring in [repo.keyring(), repo.keyring_armored()] {
        let apt = Apt::new(&repo, &keyring);
        let update = apt.update();
        let err = String::from_utf8_lossy(&update.stderr);
        assert!(
            update.status.success() && !err.contains("W:") && !err.contains("E:"),
            "apt-get update with `{}`: {update:?}",
            keyring.display()
        );

        let madison = stdout(apt.cmd("apt-cache").args(["madison", "foo"]));
        assert!(
            madison.contains("1.1-1") && madison.contains("1.0-1"),
            "{madison}"
        );
        let sim = stdout(
            apt.cmd("apt-get")
                .args(["--simulate", "install", "foo", "doc"]),
        );
        assert!(sim.contains("Inst libfoo (1.0-1"), "{sim}");
        assert!(sim.contains("Inst foo (1.1-1"), "{sim}");
        assert!(sim.contains("Inst doc (2"), "{sim}");

        stdout(apt.cmd("apt-get").args(["download", "foo", "doc"]));
        let got = fs::read(apt.root.path().join("download/foo_1.1-1_amd64.deb")).unwrap();
        assert_eq!(got, fs::read(&repo.pool_files("foo")[1]).unwrap());
    }

    // apt used the by-hash indices, and the pool layout is Debian's.
    let requests = repo.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path.contains("/binary-amd64/by-hash/SHA256/") && r.status == 200),
        "{requests:?}"
    );
    assert_eq!(
        repo.pool_files("doc"),
        [repo.dir().join("pool/main/d/docs/doc_2_all.deb")]
    );
    assert_eq!(
        repo.pool_files("libfoo"),
        [repo
            .dir()
            .join("pool/main/libf/libfoo/libfoo_1.0-1_amd64.deb")]
    );

    let release = fs::read_to_string(repo.dir().join("dists/stable/Release")).unwrap();
    for line in [
        "Origin: Debian\n",
        "Suite: stable\n",
        "Version: 12.4\n",
        "Codename: bookworm\n",
        "Date: Tue, 14 Nov 2023 22:13:20 UTC\n",
        "Architectures: amd64\n",
        "Components: main\n",
        "Acquire-By-Hash: yes\n",
        "\nMD5Sum:\n",
        "\nSHA256:\n",
    ] {
        assert!(release.contains(line), "`{line}` missing from:\n{release}");
    }
    assert!(!release.contains("by-hash"), "{release}");
    assert!(
        !release.contains("SHA512:") && !release.contains("SHA1:"),
        "{release}"
    );
}

fn update_error(repo: &FixtureRepo) -> String {
    let apt = Apt::new(repo, &repo.keyring());
    let out = apt.update();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "apt-get update accepted it: {text}");
    text
}

#[test]
fn apt_refuses_tampered_unsigned_and_foreign_signed_repositories() {
    let repo = universe();
    repo.tamper_inrelease();
    let err = update_error(&repo);
    assert!(err.contains("BADSIG"), "{err}");

    let repo = universe();
    repo.strip_signature();
    let err = update_error(&repo);
    assert!(err.contains("is not signed"), "{err}");

    let repo = universe();
    repo.resign_with_other_key();
    let err = update_error(&repo);
    assert!(err.contains("NO_PUBKEY"), "{err}");

    let repo = FixtureRepo::builder()
        .deb(DebBuilder::new("a", "1"))
        .valid_until("Wed, 15 Nov 2023 22:13:20 UTC")
        .build();
    let err = update_error(&repo);
    assert!(err.contains("expired"), "{err}");
}

#[test]
fn apt_detects_a_corrupted_pool_file() {
    let repo = universe();
    let before = fs::metadata(&repo.pool_files("libfoo")[0]).unwrap().len();
    repo.corrupt_pool_file("libfoo");
    assert_eq!(
        fs::metadata(&repo.pool_files("libfoo")[0]).unwrap().len(),
        before
    );
    let apt = Apt::new(&repo, &repo.keyring());
    assert!(apt.update().status.success());
    let out = run(apt.cmd("apt-get").args(["download", "libfoo"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Hash Sum mismatch"),
        "{out:?}"
    );

    repo.corrupt_pool_file("libfoo");
    stdout(apt.cmd("apt-get").args(["download", "libfoo"]));
}

#[test]
fn repository_updates_hostile_debs_and_stopping_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let evil = hostile_deb(Hostile::DotDot, "evil", "1.0", tmp.path());
    let repo = FixtureRepo::builder()
        .deb(DebBuilder::new("a", "1"))
        .deb(evil.as_path())
        .build();
    let apt = Apt::new(&repo, &repo.keyring());
    assert!(apt.update().status.success());
    let show = stdout(apt.cmd("apt-cache").args(["show", "evil"]));
    assert!(
        show.contains("Filename: pool/main/e/evil/evil_1.0_all.deb"),
        "{show}"
    );

    repo.add_deb("main", DebBuilder::new("a", "2"));
    repo.remove_package("evil");
    assert!(apt.update().status.success());
    let policy = stdout(apt.cmd("apt-cache").args(["policy", "a"]));
    assert!(policy.contains("Candidate: 2"), "{policy}");
    let out = run(apt.cmd("apt-cache").args(["show", "evil"]));
    assert!(!out.status.success(), "{out:?}");

    let spec = spec_yaml(&repo, "name: x\npackages: [a]");
    assert_eq!(
        spec,
        format!(
            "name: x\npackages: [a]\nrepositories:\n  - uri: \"${{{MIRROR_ENV}}}\"\n    \
             suites: [stable]\n    components: [main]\n    signed-by: \"{}\"\n\
             architectures: [amd64]\n",
            repo.keyring().display()
        )
    );
    assert!(!spec_yaml(&repo, "architectures: [arm64]\n").contains("[amd64]"));

    let uri = repo.uri();
    let addr = uri
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let in_release = fs::read(repo.dir().join("dists/stable/InRelease")).unwrap();
    assert_eq!(
        http_get(&addr, "/dists/stable/InRelease"),
        Some(in_release.clone())
    );
    repo.stop_server();
    // Another test's fixture server may be handed the freed port, so the
    // check is that nothing serves this repository's bytes any more.
    assert_ne!(http_get(&addr, "/dists/stable/InRelease"), Some(in_release));
    assert!(repo.keyring().is_file() && repo.dir().join("dists/stable/InRelease").is_file());

    let dir: PathBuf = repo.dir().to_path_buf();
    drop(repo);
    assert!(
        !dir.exists(),
        "the fixture directory outlived the repository"
    );
}

#[test]
fn two_architectures_and_components() {
    let repo = FixtureRepo::builder()
        .suite("trixie-security")
        .codename("trixie")
        .version(None)
        .arch("amd64")
        .arch("arm64")
        .deb(DebBuilder::new("tool", "1").file("usr/bin/tool", "amd64"))
        .deb(
            DebBuilder::new("tool", "1")
                .arch("arm64")
                .file("usr/bin/tool", "arm64"),
        )
        .deb(DebBuilder::new("data", "1").arch("all"))
        .deb_in("contrib", DebBuilder::new("extra", "1").arch("arm64"))
        .build();
    assert_eq!(repo.components(), ["main", "contrib"]);
    assert_eq!(repo.architectures(), ["amd64", "arm64"]);
    let packages = |component: &str, arch: &str| {
        fs::read_to_string(repo.dir().join(format!(
            "dists/trixie-security/{component}/binary-{arch}/Packages"
        )))
        .unwrap()
    };
    let main_amd64 = packages("main", "amd64");
    assert!(main_amd64.contains("Filename: pool/main/t/tool/tool_1_amd64.deb\n"));
    assert!(!main_amd64.contains("tool_1_arm64.deb"));
    assert!(main_amd64.contains("Package: data\n"));
    let main_arm64 = packages("main", "arm64");
    assert!(main_arm64.contains("Filename: pool/main/t/tool/tool_1_arm64.deb\n"));
    assert!(main_arm64.contains("Package: data\n"));
    assert!(!packages("contrib", "amd64").contains("extra"));
    assert!(
        packages("contrib", "arm64").contains("Filename: pool/contrib/e/extra/extra_1_arm64.deb\n")
    );

    let release = fs::read_to_string(repo.dir().join("dists/trixie-security/Release")).unwrap();
    for line in [
        "Suite: trixie-security",
        "Codename: trixie",
        "Architectures: amd64 arm64",
        "Components: main contrib",
    ] {
        assert!(release.lines().any(|l| l == line), "`{line}`:\n{release}");
    }
    assert!(!release.contains("\nVersion:"), "{release}");
    assert!(
        release.contains(" contrib/binary-arm64/Packages.xz\n"),
        "{release}"
    );

    let item = repo.spec_repository("${SECURITY}");
    assert_eq!(
        item,
        format!(
            "  - uri: \"${{SECURITY}}\"\n    suites: [trixie-security]\n    \
             components: [main, contrib]\n    signed-by: \"{}\"\n",
            repo.keyring().display()
        )
    );
    assert!(spec_yaml(&repo, "name: x\n").ends_with("architectures: [amd64, arm64]\n"));
}

#[test]
#[should_panic(expected = "does not index")]
fn package_for_an_unindexed_architecture_panics() {
    FixtureRepo::builder()
        .deb(DebBuilder::new("tool", "1").arch("riscv64"))
        .build();
}

/// The body of `GET path` from `addr`, or None when nothing answers.
fn http_get(addr: &str, path: &str) -> Option<Vec<u8>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    out.starts_with(b"HTTP/1.1 200")
        .then(|| out[head_end + 4..].to_vec())
}
