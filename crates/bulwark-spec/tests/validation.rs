//! Spec validation: each rule rejects what it should, naming the file and the
//! key, and what it should still accept loads.

use std::path::Path;

use bulwark_spec::Spec;

const BASE: &str = "name: x\nrepositories: host\npackages: [base-files]\n";

fn env(k: &str) -> Option<String> {
    match k {
        "PORT" => Some("8080".into()),
        "PKG" => Some("libssl3=3.0.15-1~deb12u1".into()),
        "MODE" => Some("0750".into()),
        "OWNER" => Some("1000:1000".into()),
        "DIR" => Some("/srv".into()),
        _ => None,
    }
}

fn parse(extra: &str) -> Result<Spec, bulwark_spec::Error> {
    Spec::parse(&format!("{BASE}{extra}"), Path::new("dir/s.yaml"), &env)
}

/// `extra` (appended to a valid spec) is rejected; the one-line message
/// names the file and contains every needle.
#[track_caller]
fn rejects(extra: &str, needles: &[&str]) {
    let msg = match parse(extra) {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(e) => e.to_string(),
    };
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert!(msg.contains("dir/s.yaml"), "no file: {msg}");
    for n in needles {
        assert!(msg.contains(n), "`{n}` missing for\n{extra}\n→ {msg}");
    }
}

#[track_caller]
fn accepts(extra: &str) -> Spec {
    parse(extra).unwrap_or_else(|e| panic!("rejected:\n{extra}\n→ {e}"))
}

/// Replaces the `name: x` line.
fn with_name(name: &str) -> Result<Spec, bulwark_spec::Error> {
    let text = BASE.replacen("name: x", &format!("name: {name}"), 1);
    Spec::parse(&text, Path::new("dir/s.yaml"), &env)
}

#[test]
fn name_is_one_safe_path_component() {
    for bad in [
        "/tmp/x",
        "../../../escaped",
        "a/b",
        ".hidden",
        "-x",
        "_x",
        "..",
        "\"\"",
        "\"a\\nb\"",
        "Upper",
    ] {
        let e = with_name(bad).err().map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains("`name`")),
            "{bad}: {e:?}"
        );
    }
    let long = "a".repeat(129);
    assert!(with_name(&long).is_err());
    for good in [
        "base",
        "static-multi",
        "py3.12_slim",
        "0app",
        &"a".repeat(128),
    ] {
        let s = with_name(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!(s.name, good);
    }
}

#[test]
fn tag_follows_reference_rules() {
    rejects("tag: -x\n", &["`tag`"]);
    rejects("tag: .x\n", &["`tag`"]);
    rejects("tag: a/b\n", &["`tag`"]);
    assert_eq!(accepts("tag: v1.2-rc_3\n").tag, "v1.2-rc_3");
}

#[test]
fn account_names_follow_debian_rules() {
    rejects(
        "accounts:\n  users: [{username: \"a\\nroot::0:0::/:/bin/sh\", uid: 1000}]\n",
        &["accounts.users[0].username", "not a valid account name"],
    );
    rejects(
        "accounts:\n  users: [{username: ok, uid: 1}, {username: \"a:b\", uid: 1000}]\n",
        &["accounts.users[1].username"],
    );
    for bad in ["Root", "1abc", "-x", "a b", "a$b", "$", "a.b"] {
        rejects(
            &format!("accounts:\n  users: [{{username: \"{bad}\", uid: 1000}}]\n"),
            &["accounts.users[0].username"],
        );
    }
    rejects(
        &format!(
            "accounts:\n  users: [{{username: {}, uid: 1000}}]\n",
            "a".repeat(33)
        ),
        &["accounts.users[0].username"],
    );
    rejects(
        "accounts:\n  groups: [{groupname: \"g:x\", gid: 1000}]\n",
        &["accounts.groups[0].groupname"],
    );
    rejects(
        "accounts:\n  groups: [{groupname: g, gid: 1000, members: [ok, \"a,b\"]}]\n",
        &["accounts.groups[0].members[1]"],
    );
    accepts(&format!(
        "accounts:\n  groups: [{{groupname: _svc-1, gid: 1000, members: [nonroot]}}]\n  users: [{{username: host$, uid: 1001}}, {{username: {}, uid: 1002}}]\n",
        "a".repeat(32)
    ));
}

#[test]
fn home_and_shell_are_safe_absolute_paths() {
    for (field, bad) in [
        ("home", "home/x"),
        ("home", "/home/../etc"),
        ("home", "/home/x/"),
        ("home", "/home//x"),
        ("home", "/home/./x"),
        ("home", "/"),
        ("home", "/home/x:/bin/sh"),
        ("home", "\"/home/x\\nroot::0:0::/:/bin/sh\""),
        ("home", "\"/home/x\\0\""),
        ("shell", "sh"),
        ("shell", "/bin/sh:x"),
        ("shell", "\"/bin/sh\\nroot::0:0::/:/bin/sh\""),
    ] {
        rejects(
            &format!("accounts:\n  users: [{{username: u, uid: 1000, {field}: {bad}}}]\n"),
            &[&format!("accounts.users[0].{field}")],
        );
    }
    accepts("accounts:\n  users: [{username: u, uid: 1000, home: /nonexistent, shell: /bin/sh}]\n");
}

#[test]
fn duplicate_accounts_are_rejected() {
    rejects(
        "accounts:\n  users: [{username: a, uid: 1000}, {username: a, uid: 1001}]\n",
        &["accounts.users[1].username", "accounts.users[0]"],
    );
    rejects(
        "accounts:\n  users: [{username: a, uid: 1000}, {username: b, uid: 1000}]\n",
        &["accounts.users[1].uid", "1000"],
    );
    rejects(
        "accounts:\n  groups: [{groupname: a, gid: 1000}, {groupname: a, gid: 1001}]\n",
        &["accounts.groups[1].groupname"],
    );
    rejects(
        "accounts:\n  groups: [{groupname: a, gid: 1000}, {groupname: b, gid: 1000}]\n",
        &["accounts.groups[1].gid", "1000"],
    );
    // Users may share a primary group.
    accepts(
        "accounts:\n  groups: [{groupname: app, gid: 2000}]\n  users: [{username: a, uid: 1000, gid: 2000}, {username: b, uid: 1001, gid: 2000}]\n",
    );
}

#[test]
fn run_as_has_one_of_four_forms() {
    let users = "accounts:\n  groups: [{groupname: app, gid: 2000}]\n  users: [{username: svc, uid: 1000}]\n";
    for (run_as, numeric) in [
        ("svc", "1000:1000"),
        ("\"1234\"", "1234:1234"),
        ("\"svc:app\"", "1000:2000"),
        ("\"svc:7\"", "1000:7"),
        ("\"5:6\"", "5:6"),
        ("\"5:app\"", "5:2000"),
    ] {
        let s = accepts(&format!("{users}  run-as: {run_as}\n"));
        assert_eq!(s.run_as_numeric().as_deref(), Some(numeric), "{run_as}");
    }
    for (run_as, needle) in [
        ("\"1:2:3\"", "is not `NAME`"),
        ("\"svc:app:x\"", "is not `NAME`"),
        ("\":1\"", "is not `NAME`"),
        ("\"1:\"", "is not `NAME`"),
        ("ghost", "`ghost` is neither a user"),
        ("\"svc:nogroup\"", "`nogroup` is neither a group"),
    ] {
        rejects(
            &format!("{users}  run-as: {run_as}\n"),
            &["accounts.run-as", needle],
        );
    }
}

#[test]
fn image_paths_are_absolute_and_normalized() {
    for bad in [
        "rel",
        "/",
        "/a/../b",
        "/a/./b",
        "/a//b",
        "/a/",
        "\"/a\\nb\"",
        "\"/a\\0b\"",
    ] {
        rejects(
            &format!("files: [{{source: a, path: {bad}}}]\n"),
            &["files[0].path"],
        );
        rejects(
            &format!("paths: [{{path: {bad}, type: directory}}]\n"),
            &["paths[0].path"],
        );
    }
}

#[test]
fn a_path_is_given_once_across_files_and_paths() {
    rejects(
        "files: [{source: a, path: /etc/a}]\npaths: [{path: /etc/a, type: permissions, mode: \"0600\"}]\n",
        &["paths[0].path", "files[0].path"],
    );
    rejects(
        "files: [{source: a, path: /etc/a}, {source: b, path: /etc/a}]\n",
        &["files[1].path"],
    );
    rejects(
        "paths: [{path: /d, type: directory}, {path: /d, type: symlink, target: /x}]\n",
        &["paths[1].path", "paths[0].path"],
    );
}

#[test]
fn target_only_and_always_for_symlinks() {
    rejects(
        "paths: [{path: /d, type: directory, target: /x}]\n",
        &["paths[0].target", "symlink"],
    );
    rejects(
        "paths: [{path: /d, type: permissions, target: /x}]\n",
        &["paths[0].target"],
    );
    rejects("paths: [{path: /d, type: symlink}]\n", &["paths[0].target"]);
    rejects(
        "paths: [{path: /d, type: symlink, target: \"\"}]\n",
        &["paths[0].target"],
    );
    accepts("paths: [{path: /d, type: symlink, target: ../x}]\n");
}

#[test]
fn file_sources_stay_in_the_spec_directory() {
    for bad in ["/etc/shadow", "../secret", "a/../../b", "..", ".", "\"\""] {
        rejects(
            &format!("files: [{{source: {bad}, path: /x}}]\n"),
            &["files[0].source"],
        );
    }
    accepts("files: [{source: conf/a/../b.conf, path: /x}, {source: ./c, path: /y}]\n");
}

#[test]
fn workdir_and_environment_keys() {
    rejects("workdir: srv\n", &["`workdir`", "absolute"]);
    rejects("environment: {\"A=B\": x}\n", &["environment.A=B"]);
    rejects("environment: {\"\": x}\n", &["environment."]);
    rejects("environment: {\"A\\0\": x}\n", &["environment.A"]);
    rejects("environment: {A: \"x\\0\"}\n", &["environment.A"]);
    rejects("environment: {A: }\n", &["environment.A", "no value"]);
    rejects("environment: {A: ~}\n", &["environment.A", "no value"]);
    rejects("cmd: [a, null]\n", &["cmd[1]", "no value"]);
    accepts("workdir: /srv/app\nenvironment: {A: \"\"}\n");
}

#[test]
fn scalars_are_read_as_written_where_strings_are_expected() {
    let s = accepts(
        "tag: 1.0\nenvironment: {PORT: 8080, DEBUG: true, RATIO: 1.10, MASK: 0o22, HEX: 0x1F}\ncmd: [--port, 8080, -1.50]\nentrypoint: [1e3]\nannotations: {dev.example.build: 42}\n",
    );
    assert_eq!(s.tag, "1.0");
    assert_eq!(s.environment["PORT"], "8080");
    assert_eq!(s.environment["DEBUG"], "true");
    assert_eq!(s.environment["RATIO"], "1.10");
    assert_eq!(s.environment["MASK"], "0o22");
    assert_eq!(s.environment["HEX"], "0x1F");
    assert_eq!(s.cmd, ["--port", "8080", "-1.50"]);
    assert_eq!(s.entrypoint, ["1e3"]);
    assert_eq!(s.annotations["dev.example.build"], "42");
    // Variables still expand, now under an indexed key.
    let s = accepts("cmd: [--port, \"${PORT}\"]\n");
    assert_eq!(s.cmd, ["--port", "8080"]);
    rejects("cmd: [a, \"${NOPE}\"]\n", &["`NOPE` is not set", "cmd[1]"]);
    // A wrong type still names the key and the line.
    rejects("cmd: [[1]]\n", &["cmd[0]", "line 4"]);
}

#[test]
fn architectures_are_debian_ones_listed_once() {
    rejects(
        "architectures: [amd64, amd64]\n",
        &["architectures[1]", "`amd64` is listed twice"],
    );
    rejects(
        "architectures: [nosucharch]\n",
        &[
            "architectures[0]",
            "`nosucharch` is not a Debian architecture",
        ],
    );
    rejects("architectures: [all]\n", &["architectures[0]"]);
    let s = accepts(
        "architectures: [amd64, arm64, armel, armhf, i386, mips64el, ppc64el, riscv64, s390x, loong64]\n",
    );
    assert_eq!(s.architectures.len(), 10);
}

#[test]
fn package_errors_show_the_whole_entry() {
    let text =
        "name: x\nrepositories: host\npackages:\n  - base-files\n  - \"base-files (>= 1)\"\n";
    let msg = Spec::parse(text, Path::new("s.yaml"), &env)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`base-files (>= 1)`")
            && msg.contains("packages[1]")
            && msg.contains("NAME=VERSION"),
        "{msg}"
    );
    for (entry, needle) in [
        ("\"foo | bar\"", "`foo | bar`"),
        ("\"libc6:amd64\"", "`libc6:amd64`"),
        ("\"Foo=1\"", "`Foo=1`"),
        ("\"foo=1 2\"", "`foo=1 2`"),
        ("\"foo=1$\"", "`foo=1$`"),
        ("\"foo=\"", "`foo=` has no version"),
        ("\"?essential=1\"", "`?essential=1`"),
    ] {
        let text = format!("name: x\nrepositories: host\npackages: [{entry}]\n");
        let msg = Spec::parse(&text, Path::new("s.yaml"), &env)
            .err()
            .map(|e| e.to_string());
        assert!(
            msg.as_deref()
                .is_some_and(|m| m.contains(needle) && m.contains("packages")),
            "{entry}: {msg:?}"
        );
    }
    // A variable expands to a whole entry, as before.
    let text = "name: x\nrepositories: host\npackages: [\"${PKG}\"]\n";
    let s = Spec::parse(text, Path::new("s.yaml"), &env).unwrap();
    assert_eq!(s.packages[0].name, "libssl3");
    assert_eq!(s.packages[0].version.as_deref(), Some("3.0.15-1~deb12u1"));
}

#[test]
fn the_examples_validate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let text = std::fs::read_to_string(&p).unwrap();
            Spec::parse(&text, &p, &|_| Some("http://mirror.invalid/debian".into()))
                .unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n > 0);
}

#[test]
fn modes_owners_and_paths_are_typed_after_expansion() {
    let s = accepts(
        "files: [{source: a, path: \"${DIR}/a\", mode: \"${MODE}\", owner: \"${OWNER}\"}, {source: b, path: /b}]\n\
         paths: [{path: /d, type: directory, mode: 0o2775, owner: \"0:42\"}, {path: /l, type: symlink, target: d}]\n\
         accounts:\n  users: [{username: u, uid: 1000, home: \"${DIR}/u\", shell: /bin/sh}]\n",
    );
    let f = &s.files[0];
    assert_eq!(f.path.as_str(), "/srv/a");
    assert_eq!(f.path.relative(), "srv/a");
    assert_eq!(f.mode.map(bulwark_spec::Mode::bits), Some(0o750));
    assert_eq!(f.owner.map(|o| (o.uid, o.gid)), Some((1000, 1000)));
    assert_eq!((s.files[1].mode, s.files[1].owner), (None, None));
    assert_eq!(s.paths[0].mode.map(bulwark_spec::Mode::bits), Some(0o2775));
    assert_eq!(s.paths[0].owner.map(|o| o.gid), Some(42));
    assert_eq!(s.paths[1].target.as_deref(), Some("d"));
    let u = &s.accounts.users[0];
    assert_eq!(u.home.as_ref().map(|h| h.as_str()), Some("/srv/u"));
    assert_eq!(u.shell.as_ref().map(|h| h.as_str()), Some("/bin/sh"));
    // The messages name the key, as before the values were typed.
    rejects(
        "files: [{source: a, path: /a, mode: \"0999\"}]\n",
        &["invalid `files[0].mode`: `0999` is not octal"],
    );
    rejects(
        "paths: [{path: /d, type: directory, mode: \"10000\"}]\n",
        &["invalid `paths[0].mode`: `10000` is not octal"],
    );
    rejects(
        "files: [{source: a, path: /a, owner: root}]\n",
        &["invalid `files[0].owner`: `root` is not UID:GID"],
    );
    rejects(
        "paths: [{path: /d, type: directory, owner: \"${PORT}\"}]\n",
        &["invalid `paths[0].owner`: `8080` is not UID:GID"],
    );
    rejects(
        "files: [{source: a, path: \"${DIR}/../etc/x\"}]\n",
        &["invalid `files[0].path`", "must be normalized"],
    );
    // A wrong type still names the key and the line.
    rejects(
        "files: [{source: a, path: [x]}]\n",
        &["files[0].path", "line 4"],
    );
}

#[test]
fn environment_names_are_shell_names() {
    for bad in ["1X", "A-B", "A B", "A.B", "É", "A=B", "\"\""] {
        rejects(
            &format!("environment: {{{bad}: x}}\n"),
            &["environment.", "`^[A-Za-z_][A-Za-z0-9_]*$`"],
        );
    }
    let s = accepts("environment: {_: a, _A1: b, lower_case: c, PATH: d}\n");
    assert_eq!(s.environment.len(), 4);
}

#[test]
fn annotations_under_dev_bulwark_are_refused() {
    for key in [
        "dev.bulwark.origins",
        "dev.bulwark.spec.sha256",
        "dev.bulwark",
    ] {
        rejects(
            &format!("annotations: {{{key}: x}}\n"),
            &[&format!("annotations.{key}"), "bulwark's own records"],
        );
    }
    accepts("annotations: {dev.bulwarkish: x, org.example.dev.bulwark.x: y}\n");
}

#[test]
fn a_second_root_must_be_asked_for() {
    rejects(
        "accounts:\n  users: [{username: app, uid: 1000}, {username: toor, uid: 0}]\n",
        &["accounts.users[1].uid", "second root", "allow-uid-0: true"],
    );
    let s = accepts("accounts:\n  users: [{username: toor, uid: 0, allow-uid-0: true}]\n");
    assert!(s.accounts.users[0].allow_uid_0);
    let s = accepts("accounts:\n  users: [{username: app, uid: 1000}]\n");
    assert!(!s.accounts.users[0].allow_uid_0);
    rejects(
        "accounts:\n  users: [{username: toor, uid: 0, allow-uid-0: yes please}]\n",
        &["allow-uid-0", "line 5"],
    );
}
