//! Hermetic tests of the `bulwark` CLI contract: every build runs against a
//! fixture repository that the test generates, signs with its own key and
//! serves on 127.0.0.1 (see `bulwark-testkit`). No network, no host APT
//! state. The output is checked with the real tools (skopeo, umoci,
//! md5sum), and every failure must be one `error: ` line naming the cause
//! and the thing, with the exit code of the contract and nothing written.

mod common;

use std::fs;
use std::path::Path;

use bulwark_testkit::Hostile;
use common::{
    hostile_name, listing, manifest_digest, sha256_file, skopeo_inspect, tags, tool, unpack, World,
    FOO_BIN, MAIN, OS_RELEASE,
};

/// The source packages of the main image ([`MAIN`]), one layer each:
/// fixture-base, foo (foo + libfoo), bar, baz, web, tinyhttpd.
const MAIN_SOURCES: usize = 6;

#[test]
fn build_produces_a_valid_image_with_the_package_files() {
    let w = World::new();
    let spec = w.spec("app", MAIN, "");
    let out = w.path("out-app");
    w.build_ok(&spec, &format!("oci:{}", out.display()), &[]);

    assert!(out.join("oci-layout").is_file() && out.join("blobs/sha256").is_dir());
    let inspect = skopeo_inspect(&format!("oci:{}:latest", out.display()), false);
    let layers = inspect["Layers"].as_array().expect("skopeo Layers");
    assert!(
        layers.len() >= MAIN_SOURCES && layers.len() <= 50,
        "expected one layer per source package ({MAIN_SOURCES}), got {}: {inspect:#}",
        layers.len()
    );
    assert_eq!(inspect["Created"], "2023-11-14T22:13:20Z", "{inspect:#}");
    assert_eq!(inspect["Architecture"], "amd64", "{inspect:#}");

    let rootfs = unpack(&out, "latest", &w.path("bundle"));
    let foo = rootfs.join("usr/bin/foo");
    assert_eq!(fs::read_to_string(&foo).unwrap(), FOO_BIN);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&foo).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755, "mode of /usr/bin/foo");
    }
    assert!(rootfs
        .join("usr/lib/x86_64-linux-gnu/libfoo.so.1")
        .is_file());
    assert_os_release(&rootfs, OS_RELEASE);
    // `bar` depends on `baz | qux`: apt's choice is the first, `baz`.
    assert!(rootfs.join("usr/share/baz/marker").is_file());
    assert!(!rootfs.join("usr/share/qux").exists(), "qux installed too");
    // `web` depends on the virtual `httpd`, provided by `tinyhttpd`.
    assert!(rootfs.join("usr/sbin/tinyhttpd").is_file());
    // Nothing that was not asked for.
    for absent in ["usr/share/conflicting", "usr/share/scripty"] {
        assert!(!rootfs.join(absent).exists(), "`{absent}` in the image");
    }

    // The distroless dpkg database, readable by md5sum itself.
    let status_d = rootfs.join("var/lib/dpkg/status.d");
    let stanza = fs::read_to_string(status_d.join("foo")).unwrap();
    assert!(stanza.starts_with("Package: foo\n"), "{stanza}");
    assert!(stanza.contains("\nVersion: 1.0-1\n"), "{stanza}");
    assert!(stanza.contains("\nDepends: libfoo (>= 1.0)\n"), "{stanza}");
    let md5sums = fs::read_to_string(status_d.join("foo.md5sums")).unwrap();
    assert!(md5sums.contains("  usr/bin/foo\n"), "{md5sums}");
    tool(
        std::process::Command::new("md5sum")
            .args(["--check", "--strict", "--quiet"])
            .arg(status_d.join("foo.md5sums"))
            .current_dir(&rootfs),
    );
    for pkg in ["fixture-base", "libfoo", "bar", "baz", "web", "tinyhttpd"] {
        assert!(status_d.join(pkg).is_file(), "no status.d/{pkg}");
    }
    assert!(!status_d.join("qux").exists());
}

#[test]
fn building_twice_gives_the_same_digest_whatever_the_output() {
    let w = World::new();
    let spec = w.spec("app", MAIN, "");
    // The default output is oci:./out/NAME, relative to the working directory.
    w.run(&["build", spec.to_str().unwrap()]).ok();
    let default_out = w.path("out/app");
    let first = manifest_digest(&default_out, "latest");

    // A bare directory is an OCI layout too. A fresh cache, so that every
    // layer is unpacked and compressed again rather than reused.
    let other = w.path("elsewhere/second");
    let run = w
        .cmd()
        .env("BULWARK_CACHE_DIR", w.path("cache-2"))
        .args([
            "build",
            spec.to_str().unwrap(),
            "-o",
            other.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let second = manifest_digest(&other, "latest");
    assert_eq!(first, second, "two builds of the same spec differ");
    assert_eq!(listing(&default_out), listing(&other));
}

#[test]
fn unsigned_repository_exits_3() {
    let w = World::new();
    w.repo.strip_signature();
    let spec = w.spec("app", &["foo"], "");
    let out = w.path("out-app");
    let run = w.run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let line = run.error(3, &[]);
    assert!(
        line.contains("BULWARK_TEST_MIRROR") || line.contains("127.0.0.1"),
        "the error does not name the repository: {line}"
    );
    assert!(!out.exists(), "output written on failure");
}

#[test]
fn tampered_inrelease_exits_4() {
    let w = World::new();
    w.repo.tamper_inrelease();
    let spec = w.spec("app", &["foo"], "");
    let out = w.path("out-app");
    let run = w.run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    run.error(4, &["InRelease"]);
    assert!(!out.exists(), "output written on failure");
}

#[test]
fn repository_signed_by_another_key_exits_4() {
    let w = World::new();
    w.repo.resign_with_other_key();
    let spec = w.spec("app", &["foo"], "");
    let out = w.path("out-app");
    let run = w.run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let line = run.error(4, &[]);
    let keyring = w.repo.keyring().display().to_string();
    assert!(
        line.contains("InRelease") || line.contains(&keyring),
        "the error names neither the InRelease nor the keyring: {line}"
    );
    assert!(!out.exists(), "output written on failure");
}

#[test]
fn armored_keyring_is_accepted() {
    let w = World::new();
    let text = common_spec_with_keyring(&w, &w.repo.keyring_armored());
    let spec = w.raw_spec("armored.yaml", &text);
    let out = w.path("out-armored");
    w.build_ok(&spec, &format!("oci:{}", out.display()), &[]);
    assert_eq!(tags(&out), ["latest"]);
}

fn common_spec_with_keyring(w: &World, keyring: &Path) -> String {
    bulwark_testkit::spec_yaml(&w.repo, "name: armored\npackages: [foo]\n").replace(
        &format!("\"{}\"", w.repo.keyring().display()),
        &format!("\"{}\"", keyring.display()),
    )
}

#[test]
fn corrupted_deb_exits_5_naming_the_package() {
    let w = World::new();
    w.repo.corrupt_pool_file("libfoo");
    let spec = w.spec("app", &["foo"], "");
    let out = w.path("out-app");
    let run = w.run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    run.error(5, &["libfoo"]);
    assert!(!out.exists(), "output written on failure");

    // The corrupt download must not have entered the cache: once the pool
    // file is repaired (corrupting again flips the byte back), the same
    // build succeeds.
    w.repo.corrupt_pool_file("libfoo");
    w.build_ok(&spec, out.to_str().unwrap(), &[]);
}

#[test]
fn unknown_package_exits_2_naming_it() {
    let w = World::new();
    let spec = w.spec("app", &["foo", "no-such-package"], "");
    let out = w.path("out-app");
    let run = w.run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    run.error(2, &["no-such-package"]);
    assert!(!out.exists(), "output written on failure");
}

#[test]
fn unsatisfiable_dependency_exits_2_naming_the_chain() {
    let w = World::new();
    let spec = w.spec("app", &["top"], "");
    let out = w.path("out-app");
    let run = w.run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    run.error(2, &["top", "mid", "libmissing"]);
    assert!(!out.exists(), "output written on failure");
}

#[test]
fn conflicting_packages_exit_2_naming_both() {
    let w = World::new();
    let spec = w.spec("app", &["foo", "conflicting"], "");
    let out = w.path("out-app");
    let run = w.run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    run.error(2, &["conflicting", "foo"]);
    assert!(!out.exists(), "output written on failure");
}

#[test]
fn malformed_spec_exits_2_naming_the_key_and_line() {
    let w = World::new();
    let text = bulwark_testkit::spec_yaml(
        &w.repo,
        "name: app\npackages: [foo]\nentrypiont: [/usr/bin/foo]\n",
    );
    // `entrypiont` is on line 3.
    let spec = w.raw_spec("app.yaml", &text);
    let out = w.path("out-app");
    let run = w.run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let line = run.error(2, &["entrypiont"]);
    assert!(
        line.contains("line 3"),
        "the error does not name line 3: {line}"
    );
    assert!(!out.exists(), "output written on failure");
}

#[test]
fn unset_variable_in_spec_exits_2_naming_it() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    let out = w.path("out-app");
    let output = w
        .cmd()
        .env_remove(bulwark_testkit::MIRROR_ENV)
        .args(["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BULWARK_TEST_MIRROR"), "{stderr}");
    assert!(!out.exists(), "output written on failure");
}

#[test]
fn hostile_packages_are_refused_naming_package_and_entry() {
    let w = World::new();
    for kind in Hostile::ALL {
        let name = hostile_name(kind);
        let spec = w.spec(&name, &[&name], "");
        let out = w.path(&format!("out-{name}"));
        let run = w.run(&["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert!(
            run.code.is_some_and(|c| c != 0 && c != 101),
            "{kind:?}: expected a clean refusal:\n{run:#?}"
        );
        let line = run.error_line();
        assert!(line.contains(&name), "{kind:?}: package not named: {line}");
        // The offending entry, with or without its `./` prefix (for a hard
        // link, the entry or its target).
        let entry = kind
            .entry()
            .trim_start_matches("./")
            .trim_start_matches('/');
        assert!(
            line.contains(entry)
                || (kind == Hostile::HardlinkEscape && line.contains("etc/shadow")),
            "{kind:?}: entry `{entry}` not named: {line}"
        );
        assert!(!out.exists(), "{kind:?}: output written on failure");
    }
    // Nothing escaped into the scratch directory or its parents.
    assert!(!w.path("etc/evil").exists());
    assert!(!w.path("../etc/evil").exists());
}

#[test]
fn postinst_with_unknown_effects_is_reported() {
    let w = World::new();
    let spec = w.spec("app", &["scripty"], "");
    let out = w.path("out-app");
    let run = w.build_ok(&spec, &format!("oci:{}", out.display()), &[]);
    assert!(
        run.stderr.contains("scripty"),
        "no warning names `scripty`:\n{}",
        run.stderr
    );
    let config = skopeo_inspect(&format!("oci:{}:latest", out.display()), true);
    assert!(
        config.to_string().contains("scripty"),
        "the image config does not list `scripty`: {config:#}"
    );
}

#[test]
fn lock_then_locked_build_works_offline_and_detects_drift() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    w.run(&["lock", spec.to_str().unwrap()]).ok();
    let lock_path = w.path("specs/app.lock");
    let lock = fs::read_to_string(&lock_path)
        .unwrap_or_else(|e| panic!("`bulwark lock` wrote no `{}`: {e}", lock_path.display()));
    for needle in [
        "foo",
        "libfoo",
        "1.0-1",
        "pool/main/f/foo/foo_1.0-1_amd64.deb",
    ] {
        assert!(lock.contains(needle), "`{needle}` not in the lock:\n{lock}");
    }
    let foo_sha = sha256_file(&w.repo.pool_files("foo")[0]);
    assert!(
        lock.contains(&foo_sha),
        "foo's SHA-256 not in the lock:\n{lock}"
    );
    assert!(
        !lock.contains("127.0.0.1"),
        "the lock records the host:\n{lock}"
    );

    // Online: the locked build downloads no index.
    let before = w.repo.requests().len();
    let online = w.path("out-online");
    w.build_ok(&spec, &format!("oci:{}", online.display()), &["--locked"]);
    let fetched: Vec<_> = w.repo.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(
        fetched.iter().all(|p| !p.contains("/binary-")),
        "--locked fetched an index: {fetched:?}"
    );

    // Offline: the repository is gone, the cache is enough.
    w.repo.stop_server();
    let offline = w.path("out-offline");
    w.build_ok(&spec, &format!("oci:{}", offline.display()), &["--locked"]);
    assert_eq!(
        manifest_digest(&online, "latest"),
        manifest_digest(&offline, "latest")
    );

    // Drift: a package added to the spec after locking.
    let drifted = w.spec("app", &["foo", "qux"], "");
    let out = w.path("out-drift");
    let run = w.run(&[
        "build",
        drifted.to_str().unwrap(),
        "--locked",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.contains("qux"),
        "the drift does not name `qux`:\n{}",
        run.stderr
    );
    assert!(!out.exists(), "output written on failure");
}

/// A lockfile edited so that one package's entry points at another
/// package's `.deb` (with that file's true digest): the download verifies,
/// but its contents are not what the entry names. That is a content
/// mismatch (exit 5), and nothing is written.
#[test]
fn a_locked_deb_with_other_contents_exits_5() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    w.run(&["lock", spec.to_str().unwrap()]).ok();
    let lock_path = w.path("specs/app.lock");
    let lock = fs::read_to_string(&lock_path).unwrap();
    // Each package entry is a block of `key = value` lines; give foo's
    // entry libfoo's file.
    let blocks: Vec<&str> = lock.split("\n\n").collect();
    let block_of = |name: &str| {
        blocks
            .iter()
            .position(|b| b.lines().any(|l| l == format!("name = \"{name}\"")))
            .unwrap_or_else(|| panic!("no entry for {name} in\n{lock}"))
    };
    let file_lines = |block: &str| -> Vec<String> {
        block
            .lines()
            .filter(|l| {
                ["path =", "size =", "sha256 ="]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(str::to_owned)
            .collect()
    };
    let (foo, libfoo) = (block_of("foo"), block_of("libfoo"));
    let mut foo_block = blocks[foo].to_string();
    for (old, new) in file_lines(blocks[foo])
        .iter()
        .zip(file_lines(blocks[libfoo]))
    {
        foo_block = foo_block.replace(old.as_str(), &new);
    }
    assert_ne!(foo_block, blocks[foo]);
    let mut edited: Vec<String> = blocks.iter().map(|b| b.to_string()).collect();
    edited[foo] = foo_block;
    fs::write(&lock_path, edited.join("\n\n")).unwrap();

    let out = w.path("out");
    let run = w.run(&[
        "build",
        spec.to_str().unwrap(),
        "--locked",
        "-o",
        out.to_str().unwrap(),
    ]);
    run.error(5, &["package `foo` 1.0-1", "holds `libfoo`"]);
    assert!(!out.exists(), "output written on failure");
}

#[test]
fn explain_says_why_a_package_is_in() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    let run = w.run(&["explain", spec.to_str().unwrap(), "libfoo"]).ok();
    assert!(run.stdout.contains("foo"), "{run:#?}");
    assert!(run.stdout.contains("libfoo"), "{run:#?}");

    let run = w.run(&["explain", spec.to_str().unwrap(), "baz"]);
    run.error(2, &["`baz`", "not in the image"]);
}

#[test]
fn tags_are_added_and_other_tags_are_kept() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    let layout = w.path("layout");
    let l = layout.display();
    w.build_ok(&spec, &format!("oci:{l}:one"), &[]);
    w.build_ok(&spec, &format!("oci:{l}"), &["--tag", "two"]);
    let other = w.spec("other", &["bar"], "");
    w.build_ok(&other, &format!("oci:{l}:three"), &[]);
    assert_eq!(tags(&layout), ["one", "three", "two"]);
    assert_eq!(
        manifest_digest(&layout, "one"),
        manifest_digest(&layout, "two")
    );
    assert_ne!(
        manifest_digest(&layout, "one"),
        manifest_digest(&layout, "three")
    );
    for tag in ["one", "two", "three"] {
        skopeo_inspect(&format!("oci:{l}:{tag}"), false);
    }

    // Rebuilding an existing tag replaces it rather than duplicating it.
    w.build_ok(&other, &format!("oci:{l}:one"), &[]);
    assert_eq!(tags(&layout), ["one", "three", "two"]);
    assert_eq!(
        manifest_digest(&layout, "one"),
        manifest_digest(&layout, "three")
    );
}

#[test]
fn docker_archive_output_passes_skopeo() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    let archive = w.path("app.tar");
    w.build_ok(&spec, &format!("docker-archive:{}", archive.display()), &[]);
    let inspect = skopeo_inspect(&format!("docker-archive:{}", archive.display()), false);
    assert!(
        !inspect["Layers"].as_array().unwrap().is_empty(),
        "{inspect:#}"
    );
}

#[test]
fn failed_build_leaves_an_existing_layout_unchanged() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    let layout = w.path("layout");
    w.build_ok(&spec, &format!("oci:{}", layout.display()), &[]);
    let before = listing(&layout);
    let index_before = fs::read(layout.join("index.json")).unwrap();

    let bad = w.spec("bad", &["foo", "no-such-package"], "");
    let run = w.run(&[
        "build",
        bad.to_str().unwrap(),
        "-o",
        &format!("oci:{}:bad", layout.display()),
    ]);
    run.error(2, &["no-such-package"]);
    assert_eq!(listing(&layout), before);
    assert_eq!(fs::read(layout.join("index.json")).unwrap(), index_before);
}

#[test]
fn lock_update_moves_only_the_named_packages_and_prints_the_change() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    w.run(&["lock", spec.to_str().unwrap()]).ok();
    let lock_path = w.path("specs/app.lock");
    let first = fs::read_to_string(&lock_path).unwrap();

    // New upstream versions of both packages appear in the repository.
    let dir = w.path("new-debs");
    fs::create_dir_all(&dir).unwrap();
    let libfoo = bulwark_testkit::DebBuilder::new("libfoo", "1.1-1")
        .multi_arch("same")
        .field("Source", "foo")
        .file(
            "usr/lib/x86_64-linux-gnu/libfoo.so.1",
            "\x7fELF fake libfoo 1.1\n",
        );
    let foo = bulwark_testkit::DebBuilder::new("foo", "1.1-1")
        .depends("libfoo (>= 1.0)")
        .file_mode("usr/bin/foo", "#!/bin/sh\necho foo 1.1\n", 0o755);
    w.repo.add_deb("main", libfoo.build(&dir));
    w.repo.add_deb("main", foo.build(&dir));

    // Without --update, a lockfile that matches the spec is kept as it is.
    w.run(&["lock", spec.to_str().unwrap()]).ok();
    assert_eq!(fs::read_to_string(&lock_path).unwrap(), first);

    // --update libfoo moves libfoo only, and says so.
    let run = w
        .run(&["lock", spec.to_str().unwrap(), "--update", "libfoo"])
        .ok();
    assert!(
        run.stdout.contains("~ libfoo 1.0-1 -> 1.1-1 (amd64)"),
        "{run:#?}"
    );
    assert!(!run.stdout.contains("~ foo"), "{run:#?}");
    let lock = fs::read_to_string(&lock_path).unwrap();
    assert!(lock.contains("libfoo_1.1-1_amd64.deb"), "{lock}");
    assert!(lock.contains("foo_1.0-1_amd64.deb"), "{lock}");

    // A name neither the spec nor the lockfile has is an error, and the
    // lockfile stays as it was.
    let before = fs::read_to_string(&lock_path).unwrap();
    let run = w.run(&["lock", spec.to_str().unwrap(), "--update", "nosuch"]);
    run.error(2, &["`nosuch` is not a package of this spec's lockfile"]);
    assert_eq!(fs::read_to_string(&lock_path).unwrap(), before);

    // --update alone moves everything.
    let run = w.run(&["lock", spec.to_str().unwrap(), "--update"]).ok();
    assert!(
        run.stdout.contains("~ foo 1.0-1 -> 1.1-1 (amd64)"),
        "{run:#?}"
    );
    // And the locked build installs exactly that.
    let out = w.path("out-updated");
    w.build_ok(&spec, &format!("oci:{}", out.display()), &["--locked"]);
    let rootfs = unpack(&out, "latest", &w.path("bundle-updated"));
    let foo_bin = fs::read_to_string(rootfs.join("usr/bin/foo")).unwrap();
    assert!(foo_bin.contains("foo 1.1"), "{foo_bin}");
}

/// A package that names its own library directory in /etc/ld.so.conf.d
/// gets an ld.so.cache, as libc-bin's ldconfig trigger would write it: glibc's
/// `ldconfig -p` reads it, and glibc's real loader finds the library through
/// it (and fails without it).
#[test]
fn ld_so_conf_d_directories_get_an_ld_so_cache_the_loader_uses() {
    use bulwark_testkit::{DebBuilder, FixtureRepo};
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(
        src.join("plug.c"),
        "const char *plug(void) { return \"plug ok\"; }\n",
    )
    .unwrap();
    fs::write(
        src.join("run.c"),
        "#include <stdio.h>\nconst char *plug(void);\nint main(void) { puts(plug()); return 0; }\n",
    )
    .unwrap();
    tool(std::process::Command::new("gcc").current_dir(&src).args([
        "-shared",
        "-fPIC",
        "-Wl,-soname,libplug.so.1",
        "-o",
        "libplug.so.1.2.3",
        "plug.c",
    ]));
    tool(std::process::Command::new("gcc").current_dir(&src).args([
        "-o",
        "plugrun",
        "run.c",
        "./libplug.so.1.2.3",
    ]));
    let dir = "/usr/lib/x86_64-linux-gnu/plug";
    let repo = FixtureRepo::builder()
        .deb(
            DebBuilder::new("libplug1", "1.0-1")
                .arch("amd64")
                .file(
                    &format!("{dir}/libplug.so.1.2.3"),
                    fs::read(src.join("libplug.so.1.2.3")).unwrap(),
                )
                .file("/etc/ld.so.conf.d/plug.conf", format!("# plug\n{dir}\n")),
        )
        .deb(
            DebBuilder::new("plugrun", "1.0-1")
                .arch("amd64")
                .depends("libplug1")
                .file_mode(
                    "/usr/bin/plugrun",
                    fs::read(src.join("plugrun")).unwrap(),
                    0o755,
                ),
        )
        .build();
    let w = World { tmp, repo };
    let spec = w.spec("plug", &["plugrun"], "");
    let out = w.path("out");
    let run = w.build_ok(&spec, &format!("oci:{}", out.display()), &[]);
    assert!(!run.stderr.contains("ld.so.cache"), "{}", run.stderr);

    let rootfs = unpack(&out, "latest", &w.path("bundle"));
    let cache = rootfs.join("etc/ld.so.cache");
    let printed = tool(
        std::process::Command::new("ldconfig")
            .arg("-C")
            .arg(&cache)
            .arg("-p"),
    );
    assert!(
        printed.contains(&format!(
            "libplug.so.1 (libc6,x86-64) => {dir}/libplug.so.1"
        )),
        "{printed}"
    );
    assert_eq!(
        fs::read_link(rootfs.join(&dir[1..]).join("libplug.so.1")).unwrap(),
        Path::new("libplug.so.1.2.3"),
        "the soname link ldconfig makes"
    );

    // The host's glibc in the image, then its real loader resolves
    // libplug.so.1 through the cache alone.
    let multiarch = rootfs.join("usr/lib/x86_64-linux-gnu");
    fs::copy(
        "/lib/x86_64-linux-gnu/libc.so.6",
        multiarch.join("libc.so.6"),
    )
    .unwrap();
    fs::create_dir_all(rootfs.join("usr/lib64")).unwrap();
    fs::copy(
        "/lib64/ld-linux-x86-64.so.2",
        rootfs.join("usr/lib64/ld-linux-x86-64.so.2"),
    )
    .unwrap();
    if fs::symlink_metadata(rootfs.join("lib64")).is_err() {
        std::os::unix::fs::symlink("usr/lib64", rootfs.join("lib64")).unwrap();
    }
    let chroot = |rootfs: &Path| {
        std::process::Command::new("chroot")
            .arg(rootfs)
            .arg("/usr/bin/plugrun")
            .output()
            .unwrap()
    };
    let ran = chroot(&rootfs);
    assert!(ran.status.success(), "{ran:?}");
    assert_eq!(String::from_utf8_lossy(&ran.stdout), "plug ok\n");
    fs::remove_file(&cache).unwrap();
    let without = chroot(&rootfs);
    assert!(
        !without.status.success()
            && String::from_utf8_lossy(&without.stderr).contains("libplug.so.1"),
        "without the cache the loader must not find libplug: {without:?}"
    );
}

/// The spec's `files`, `paths`, accounts and config keys reach the image:
/// skopeo reads the config, GNU tar the system layer's modes and owners.
#[test]
fn hostile_files_and_paths_are_refused_before_anything_is_written() {
    let w = World::new();
    fs::create_dir_all(w.path("specs")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", w.path("specs/leak")).unwrap();
    let out = w.path("out");
    for (name, extra, needles) in [
        (
            "leak",
            "files: [{source: leak, path: /leak}]",
            &["files[0].source", "outside the spec's directory"][..],
        ),
        (
            "climb",
            "files: [{source: ../../etc/passwd, path: /x}]",
            &["files[0].source"][..],
        ),
        (
            "redirect",
            // bulwark writes /etc/passwd and /etc/group for the account.
            "paths: [{path: /etc, type: symlink, target: /tmp}]\naccounts:\n  groups: [{groupname: app, gid: 1000}]\n  users: [{username: app, uid: 1000, gid: 1000}]",
            &["paths[0]", "/etc"][..],
        ),
        (
            "inject",
            "accounts:\n  users: [{username: \"a:b\", uid: 1000, gid: 1000}]",
            &["accounts.users[0].username"][..],
        ),
        ("escape", "", &["name"][..]),
    ] {
        let spec = if name == "escape" {
            w.spec("../../escaped", &["foo"], extra)
        } else {
            w.spec(name, &["foo"], extra)
        };
        let run = w.run(&[
            "build",
            spec.to_str().unwrap(),
            "-o",
            &format!("oci:{}:{name}", out.display()),
        ]);
        run.error(2, needles);
        assert!(!out.join("index.json").exists(), "{name}: nothing written");
    }
}

#[test]
fn exclude_and_prefer_names_no_repository_offers_are_warned_about() {
    let w = World::new();
    let spec = w.spec(
        "typos",
        &["foo"],
        "exclude: [{name: fooo-typo, reason: a typo}]\nprefer: [no-such-alternative]\n",
    );
    let out = w.path("out");
    let run = w.build_ok(&spec, &format!("oci:{}:typos", out.display()), &[]);
    for (key, name) in [("exclude", "fooo-typo"), ("prefer", "no-such-alternative")] {
        assert!(
            run.stderr.contains(&format!(
                "warning: `{key}` names `{name}`, which no package for `amd64` has or provides"
            )),
            "{run:#?}"
        );
    }
    // A name the repository has is not warned about.
    let spec = w.spec("fine", &["foo"], "prefer: [foo]\n");
    let run = w.build_ok(&spec, &format!("oci:{}:fine", out.display()), &[]);
    assert!(!run.stderr.contains("warning:"), "{run:#?}");
}

#[test]
fn spec_files_paths_and_config_reach_the_image() {
    let w = World::new();
    fs::create_dir_all(w.path("specs")).unwrap();
    fs::write(w.path("specs/app.conf"), "mode = prod\n").unwrap();
    let spec = w.spec(
        "app",
        &["foo"],
        r#"accounts:
  groups: [{groupname: app, gid: 1000}]
  users: [{username: app, uid: 1000, gid: 1000, home: /home/app}]
  run-as: app
entrypoint: [/usr/bin/foo]
cmd: [--serve]
workdir: /srv/app
environment: {LANG: C.UTF-8, APP_MODE: prod}
files:
  - {source: app.conf, path: /etc/app/app.conf, mode: "0640", owner: "0:1000"}
paths:
  - {path: /srv/app, type: directory, mode: "0750", owner: "1000:1000"}
  - {path: /usr/local/bin/foo, type: symlink, target: /usr/bin/foo}
annotations: {org.opencontainers.image.source: "https://example.invalid/app"}
"#,
    );
    let out = w.path("out");
    w.build_ok(&spec, &format!("oci:{}", out.display()), &[]);
    let reference = format!("oci:{}:latest", out.display());

    let config = skopeo_inspect(&reference, true);
    let c = &config["config"];
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/usr/bin/foo"]),
        "{config:#}"
    );
    assert_eq!(c["Cmd"], serde_json::json!(["--serve"]), "{config:#}");
    assert_eq!(c["WorkingDir"], "/srv/app", "{config:#}");
    assert_eq!(c["User"], "1000:1000", "{config:#}");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        env.contains(&"APP_MODE=prod") && env.contains(&"LANG=C.UTF-8"),
        "{env:?}"
    );

    let digest = manifest_digest(&out, "latest");
    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(
            out.join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.source"], "https://example.invalid/app",
        "{manifest:#}"
    );

    // Modes and numeric owners as written in the last (system) layer.
    let listing = system_layer_listing(&out);
    let line = |path: &str| {
        listing_line(&listing, path)
            .unwrap_or_else(|| panic!("`{path}` is not in the system layer:\n{listing}"))
    };
    let conf = line("etc/app/app.conf");
    assert!(conf.starts_with("-rw-r----- 0/1000 "), "{conf}");
    let dir = line("srv/app/");
    assert!(dir.starts_with("drwxr-x--- 1000/1000 "), "{dir}");
    let link = line("usr/local/bin/foo");
    assert!(
        link.starts_with('l') && link.ends_with("-> /usr/bin/foo"),
        "{link}"
    );

    let rootfs = unpack(&out, "latest", &w.path("bundle"));
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/app/app.conf")).unwrap(),
        "mode = prod\n"
    );
    let passwd = fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("app:x:1000:1000:"), "{passwd}");
}

/// Without SOURCE_DATE_EPOCH the times come from the packages themselves,
/// so two builds at different moments, by different clocks, still agree.
#[test]
fn without_source_date_epoch_builds_are_still_reproducible() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    let build = |out: &str, cache: &str| {
        let run = w
            .cmd()
            .env_remove("SOURCE_DATE_EPOCH")
            .env("BULWARK_CACHE_DIR", w.path(cache))
            .args(["build", spec.to_str().unwrap(), "-o"])
            .arg(w.path(out))
            .output()
            .unwrap();
        assert!(run.status.success(), "{run:?}");
        manifest_digest(&w.path(out), "latest")
    };
    let first = build("one", "cache-1");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(first, build("two", "cache-2"));
    // The fixture's packages are dated by its SOURCE_DATE_EPOCH, so that is
    // also the newest package date the image takes.
    let created = skopeo_inspect(&format!("oci:{}:latest", w.path("one").display()), false);
    assert_eq!(created["Created"], "2023-11-14T22:13:20Z", "{created:#}");
}

/// `/etc/os-release` of an unpacked image is the link base-files ships,
/// to `/usr/lib/os-release` holding `text`.
fn assert_os_release(rootfs: &Path, text: &str) {
    assert_eq!(
        fs::read_link(rootfs.join("etc/os-release")).unwrap(),
        Path::new("../usr/lib/os-release")
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("usr/lib/os-release")).unwrap(),
        text
    );
}

/// `tar --numeric-owner -tvzf` of the last (system) layer of the image
/// tagged `latest`.
fn system_layer_listing(layout: &Path) -> String {
    let digest = manifest_digest(layout, "latest");
    let manifest = blob_json(layout, &digest);
    let last = manifest["layers"].as_array().unwrap().last().unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    tool(
        std::process::Command::new("tar")
            .args(["--numeric-owner", "-tvzf"])
            .arg(blob_path(layout, &last)),
    )
}

/// The line of `path` in a `tar -tv` listing.
fn listing_line(listing: &str, path: &str) -> Option<String> {
    listing
        .lines()
        .find(|l| l.split_whitespace().nth(5) == Some(path))
        .map(str::to_string)
}

fn blob_path(layout: &Path, digest: &str) -> std::path::PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn blob_json(layout: &Path, digest: &str) -> serde_json::Value {
    serde_json::from_slice(&fs::read(blob_path(layout, digest)).unwrap()).unwrap()
}

/// The SBOM of `artifact_type` attached to the image in the layout.
fn attached_sbom(layout: &Path, artifact_type: &str) -> serde_json::Value {
    let index = common::index_json(layout);
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["artifactType"] == artifact_type)
        .unwrap_or_else(|| panic!("no {artifact_type} artifact in {index:#}"));
    let manifest = blob_json(layout, entry["digest"].as_str().unwrap());
    blob_json(layout, manifest["layers"][0]["digest"].as_str().unwrap())
}

/// `/usr/lib/os-release` as bookworm's base-files writes it, for the
/// fixture repository's `Version: 12.4` and `Codename: bookworm`.
const BOOKWORM_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n\
VERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n\
SUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n";

/// A vulnerability database of one record: `foo` (source of `foo` and
/// `libfoo`), high, fixed in Debian 12 after the fixture's 1.0-1.
fn foo_vuln_db(w: &World) -> String {
    let feed = w.path("osv/CVE/2099");
    fs::create_dir_all(&feed).unwrap();
    let record = serde_json::json!({
        "schema_version": "1.6.0",
        "id": "CVE-2099-0001",
        "modified": "2024-06-01T00:00:00Z",
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "foo",
                        "purl": "pkg:deb/debian/foo?arch=source"},
            "ranges": [{"type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "1.0-2"}]}],
            "ecosystem_specific": {"urgency": "high"},
        }],
    });
    fs::write(
        feed.join("CVE-2099-0001.json"),
        serde_json::to_vec(&record).unwrap(),
    )
    .unwrap();
    let db = w.path("vuln.db");
    let osv = w.path("osv");
    w.run(&[
        "db",
        "import",
        osv.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ])
    .ok();
    db.to_str().unwrap().to_string()
}

/// `bulwark scan oci:LAYOUT:latest --db DB --fail-on low`.
fn scan_fail_on_low(w: &World, layout: &Path, db: &str) -> common::Run {
    let target = format!("oci:{}:latest", layout.display());
    w.run(&["scan", &target, "--db", db, "--fail-on", "low"])
}

#[test]
fn an_image_without_base_files_is_identifiable_and_has_a_skeleton() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    let out = w.path("out");
    let run = w.build_ok(&spec, &format!("oci:{}", out.display()), &[]);
    assert!(!run.stderr.contains("warning"), "{run:#?}");

    let rootfs = unpack(&out, "latest", &w.path("bundle"));
    assert_os_release(&rootfs, BOOKWORM_OS_RELEASE);
    let passwd = fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd.starts_with("root:x:0:0:root:/root:")
            && passwd.contains("\nnobody:x:65534:65534:nobody:/nonexistent:"),
        "{passwd}"
    );
    let group = fs::read_to_string(rootfs.join("etc/group")).unwrap();
    assert_eq!(group, "root:x:0:\nnogroup:x:65534:\n");

    // Modes and owners as written, not as umoci's rootless unpack shows them.
    let listing = system_layer_listing(&out);
    for (path, mode) in [
        ("tmp/", "drwxrwxrwt"),
        ("var/tmp/", "drwxrwxrwt"),
        ("root/", "drwx------"),
        ("home/", "drwxr-xr-x"),
        ("usr/lib/os-release", "-rw-r--r--"),
    ] {
        let line = listing_line(&listing, path)
            .unwrap_or_else(|| panic!("`{path}` is not in the system layer:\n{listing}"));
        assert!(line.starts_with(&format!("{mode} 0/0 ")), "{line}");
    }

    // The SBOMs attached at build time name the operating system: (media
    // type, list, what marks the OS entry, its version key).
    for (media_type, list, (key, value), version) in [
        (
            "application/spdx+json",
            "packages",
            ("primaryPackagePurpose", "OPERATING-SYSTEM"),
            "versionInfo",
        ),
        (
            "application/vnd.cyclonedx+json",
            "components",
            ("type", "operating-system"),
            "version",
        ),
    ] {
        let sbom = attached_sbom(&out, media_type);
        let os = sbom[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[key] == value)
            .unwrap_or_else(|| panic!("no operating system in the {media_type} SBOM: {sbom:#}"));
        assert_eq!(
            (&os["name"], &os[version]),
            (&"debian".into(), &"12".into())
        );
    }

    // So a scan matches: foo 1.0-1 is below the fix, and the release is 12.
    let db = foo_vuln_db(&w);
    let run = scan_fail_on_low(&w, &out, &db);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stdout.contains("Debian release: 12 (bookworm)\n")
            && run.stdout.contains("CVE-2099-0001"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("nothing"), "{run:#?}");
}

#[test]
fn base_files_os_release_wins_and_skeleton_false_gives_none_of_it() {
    let w = World::new();
    // The fixture's base package ships its own os-release: it stays.
    let spec = w.spec("app", MAIN, "");
    let out = w.path("out-base");
    w.build_ok(&spec, &format!("oci:{}", out.display()), &[]);
    let listing = system_layer_listing(&out);
    for path in ["usr/lib/os-release", "etc/os-release"] {
        assert_eq!(listing_line(&listing, path), None, "{listing}");
    }
    let rootfs = unpack(&out, "latest", &w.path("bundle-base"));
    assert_os_release(&rootfs, OS_RELEASE);

    // `skeleton: false`: no os-release, accounts or directories, no warning.
    let spec = w.spec("bare", &["foo"], "skeleton: false\n");
    let out = w.path("out-bare");
    let run = w.build_ok(&spec, &format!("oci:{}", out.display()), &[]);
    assert!(!run.stderr.contains("warning"), "{run:#?}");
    let listing = system_layer_listing(&out);
    for path in [
        "usr/lib/os-release",
        "etc/os-release",
        "etc/passwd",
        "etc/group",
        "tmp/",
        "var/tmp/",
        "root/",
        "home/",
    ] {
        assert_eq!(listing_line(&listing, path), None, "{listing}");
    }
    // Nothing identifies it, so `--fail-on` cannot pass it: exit 2, with
    // the warning.
    let db = foo_vuln_db(&w);
    let run = scan_fail_on_low(&w, &out, &db);
    run.error(2, &["--fail-on", "no os-release"]);
    assert!(
        run.stderr
            .contains("warning: no os-release found, so the Debian release is unknown"),
        "{run:#?}"
    );
    // Without `--fail-on` the warning alone, as before.
    let target = format!("oci:{}:latest", out.display());
    let run = w.run(&["scan", &target, "--db", &db]).ok();
    assert!(run.stderr.contains("warning: no os-release"), "{run:#?}");
}

#[test]
fn without_a_debian_repository_the_build_warns_and_writes_no_os_release() {
    let w = World::with_repo(|b| b.origin("Example"));
    let spec = w.spec("app", &["foo"], "");
    let out = w.path("out");
    let run = w.build_ok(&spec, &format!("oci:{}", out.display()), &[]);
    assert!(
        run.stderr.contains(
            "warning: no `/etc/os-release` was written, so scanners cannot tell the image's release: \
             no repository the packages came from has a Release with `Origin: Debian`"
        ),
        "{run:#?}"
    );
    let listing = system_layer_listing(&out);
    assert_eq!(listing_line(&listing, "usr/lib/os-release"), None);
    // The rest of the skeleton is there.
    assert!(
        listing_line(&listing, "etc/passwd").is_some() && listing_line(&listing, "tmp/").is_some()
    );
    let db = foo_vuln_db(&w);
    scan_fail_on_low(&w, &out, &db).error(2, &["checked nothing"]);
}

#[test]
fn a_locked_build_names_the_release_the_lockfile_recorded() {
    let w = World::new();
    let spec = w.spec("app", &["foo"], "");
    w.run(&["lock", spec.to_str().unwrap()]).ok();
    let lock_path = w.path("specs/app.lock");
    let lock = fs::read_to_string(&lock_path).unwrap();
    assert!(
        lock.contains("version = \"12.4\"\ncodename = \"bookworm\"\n"),
        "{lock}"
    );
    let fresh = w.path("out-fresh");
    w.build_ok(&spec, &format!("oci:{}", fresh.display()), &[]);
    let locked = w.path("out-locked");
    let run = w.build_ok(&spec, &format!("oci:{}", locked.display()), &["--locked"]);
    assert!(!run.stderr.contains("warning"), "{run:#?}");
    assert_eq!(
        manifest_digest(&fresh, "latest"),
        manifest_digest(&locked, "latest")
    );

    // A lockfile written before the fields existed is still read; the
    // image then has no os-release, and the warning says how to fix it.
    let old: String = lock
        .lines()
        .filter(|l| !l.starts_with("version = \"12") && !l.starts_with("codename = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, lock);
    fs::write(&lock_path, old).unwrap();
    let out = w.path("out-old-lock");
    let run = w.build_ok(&spec, &format!("oci:{}", out.display()), &["--locked"]);
    assert!(
        run.stderr
            .contains("does not record the `Version` and `Codename`")
            && run.stderr.contains("bulwark lock --update"),
        "{run:#?}"
    );
    assert_eq!(
        listing_line(&system_layer_listing(&out), "usr/lib/os-release"),
        None
    );
}

/// A build's scratch files (spooled layers) live in a locked
/// `$TMPDIR/.bulwark.build-*` directory: the next build removes what a
/// killed build left there, never what a running build uses, and its own is
/// gone when it ends.
#[test]
fn scratch_space_of_a_killed_build_is_removed_and_a_running_ones_kept() {
    let w = World::new();
    let tmp = w.path("tmp");
    let stale = tmp.join(".bulwark.build-killed");
    let live = tmp.join(".bulwark.build-running");
    for dir in [&stale, &live] {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join(".lock"), b"").unwrap();
        fs::write(dir.join("layer.tar"), vec![0u8; 1 << 20]).unwrap();
    }
    // Another build holds its lock: this process takes it, as bulwark
    // does (flock(2), through fs4).
    let held = fs::File::open(live.join(".lock")).unwrap();
    fs4::FileExt::try_lock(&held).unwrap();

    let spec = w.spec("app", &["foo"], "");
    let out = w.path("out");
    let run = w
        .cmd()
        .env("TMPDIR", &tmp)
        .args(["build", spec.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    drop(held);
    assert!(run.status.success(), "{run:?}");
    assert!(!stale.exists(), "a killed build's scratch space was left");
    assert!(
        live.join("layer.tar").exists(),
        "a running build's scratch space was removed"
    );
    let left: Vec<_> = fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, [".bulwark.build-running"], "{left:?}");
}
