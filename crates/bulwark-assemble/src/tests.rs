//! Tests: hostile archives (hermetic) and real Debian packages (downloaded
//! with `apt-get download` from the host's sources).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str),
    Char(&'a str),
}

/// A header with the path written raw (the `tar` crate's own setters refuse
/// the hostile paths these tests need).
fn raw_header(path: &str, kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let name = &mut h.as_old_mut().name;
    name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(2_000_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    h
}

fn data_tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let (h, data): (tar::Header, &[u8]) = match e {
            E::Dir(p) => (raw_header(p, tar::EntryType::Directory, 0, 0o755), b""),
            E::File(p, d, m) => (
                raw_header(p, tar::EntryType::Regular, d.len() as u64, *m),
                d,
            ),
            E::Symlink(p, t) | E::Hardlink(p, t) => {
                let kind = if matches!(e, E::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = raw_header(p, kind, 0, 0o777);
                h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
                h.set_cksum();
                (h, b"")
            }
            E::Fifo(p) => (raw_header(p, tar::EntryType::Fifo, 0, 0o644), b""),
            E::Char(p) => (raw_header(p, tar::EntryType::Char, 0, 0o644), b""),
        };
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn write_deb(dir: &Path, name: &str, entries: &[E<'_>], scripts: &[(&str, &str)]) -> PathBuf {
    let control = format!("Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n");
    let mut ctl = tar::Builder::new(Vec::new());
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("./control".into(), control.into_bytes()),
        (
            "./md5sums".into(),
            b"d41d8cd98f00b204e9800998ecf8427e  usr/x\n".to_vec(),
        ),
    ];
    for (n, body) in scripts {
        files.push((format!("./{n}"), body.as_bytes().to_vec()));
    }
    for (n, d) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        ctl.append_data(&mut h, n, d.as_slice()).unwrap();
    }
    let ctl = ctl.into_inner().unwrap();
    let data = data_tar(entries);
    let path = dir.join(format!("{name}.deb"));
    let mut b = ar::Builder::new(std::fs::File::create(&path).unwrap());
    for (n, d) in [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar", ctl),
        ("data.tar", data),
    ] {
        b.append(
            &ar::Header::new(n.as_bytes().to_vec(), d.len() as u64),
            d.as_slice(),
        )
        .unwrap();
    }
    path
}

fn input(name: &str, deb: PathBuf) -> PackageInput {
    PackageInput {
        name: name.into(),
        version: "1.0".into(),
        architecture: "all".into(),
        source: name.into(),
        deb,
        stanza: format!("Package: {name}\nVersion: 1.0\n"),
    }
}

fn options(dir: &Path) -> Options {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    Options {
        epoch: 1_700_000_000,
        work_dir: work,
        dpkg_database: DpkgDatabase::StatusD,
        release: DebianRelease::from_release(Some("12.15"), Some("bookworm")),
    }
}

fn spec(extra: &str) -> bulwark_spec::Spec {
    let text = format!("name: t\nrepositories: host\npackages: [base-files]\n{extra}");
    bulwark_spec::Spec::parse(&text, Path::new("/nonexistent/spec.yaml"), &|_| None).unwrap()
}

fn build_one(
    dir: &Path,
    name: &str,
    entries: &[E<'_>],
) -> Result<(LayerTar, Vec<PackageFacts>), Error> {
    let deb = write_deb(dir, name, entries, &[]);
    let pkgs = vec![input(name, deb)];
    let plans = plan_layers(&pkgs, 10);
    package_layer(&plans[0], &pkgs, &options(dir))
}

/// Lists a layer: path → (type char, mode, uid, gid, mtime, link target).
fn list(tar_path: &Path) -> BTreeMap<String, (char, u32, u64, u64, u64, String)> {
    let mut a = tar::Archive::new(std::fs::File::open(tar_path).unwrap());
    let mut out = BTreeMap::new();
    let mut order = Vec::new();
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        let h = e.header();
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let t = match h.entry_type() {
            tar::EntryType::Directory => 'd',
            tar::EntryType::Symlink => 'l',
            tar::EntryType::Link => 'h',
            _ => 'f',
        };
        let link = e
            .link_name_bytes()
            .map(|b| String::from_utf8(b.into_owned()).unwrap())
            .unwrap_or_default();
        order.push(path.trim_end_matches('/').to_string());
        out.insert(
            path,
            (
                t,
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
                link,
            ),
        );
    }
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "entries are sorted");
    out
}

fn read_entry(tar_path: &Path, want: &str) -> Option<Vec<u8>> {
    let mut a = tar::Archive::new(std::fs::File::open(tar_path).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == want.as_bytes() {
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            return Some(v);
        }
    }
    None
}

#[test]
fn hostile_archives_are_refused() {
    let cases: Vec<(&str, Vec<E<'_>>, &str)> = vec![
        (
            "absolute",
            vec![E::File("/etc/passwd", b"x", 0o644)],
            "absolute path",
        ),
        (
            "dotdot",
            vec![E::File("./usr/../../etc/x", b"x", 0o644)],
            "`..`",
        ),
        (
            "through-symlink",
            vec![
                E::Symlink("./usr/lib/evil", "/etc"),
                E::File("./usr/lib/evil/passwd", b"x", 0o644),
            ],
            "goes through the symlink `usr/lib/evil`",
        ),
        (
            "through-symlink-reversed",
            vec![
                E::File("./usr/lib/evil/passwd", b"x", 0o644),
                E::Symlink("./usr/lib/evil", "/etc"),
            ],
            "goes through the symlink",
        ),
        (
            "hardlink-escape",
            vec![E::Hardlink("./usr/x", "../../etc/shadow")],
            "`..`",
        ),
        (
            "hardlink-foreign",
            vec![E::Hardlink("./usr/x", "./etc/shadow")],
            "not an earlier regular file",
        ),
        (
            "fifo",
            vec![E::Fifo("./usr/fifo")],
            "unsupported entry type",
        ),
        (
            "device",
            vec![E::Char("./dev/null")],
            "unsupported entry type",
        ),
        (
            "root-symlink",
            vec![E::Symlink("./bin", "/tmp")],
            "merged-/usr root",
        ),
    ];
    for (name, entries, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let err = build_one(dir.path(), name, &entries)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{name}: {err}");
        assert!(err.contains(&format!("package `{name}`")), "{name}: {err}");
        assert!(err.contains(&format!("{name}.deb")), "{name}: {err}");
    }
}

#[test]
fn symlink_of_another_layer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_deb(
        dir.path(),
        "aaa",
        &[E::Symlink("./usr/lib/evil", "/etc")],
        &[],
    );
    let b = write_deb(
        dir.path(),
        "bbb",
        &[E::File("./usr/lib/evil/passwd", b"x", 0o644)],
        &[],
    );
    let pkgs = vec![input("aaa", a), input("bbb", b)];
    let plans = plan_layers(&pkgs, 10);
    assert_eq!(plans.len(), 2);
    let opts = options(dir.path());
    let mut facts = Vec::new();
    for p in &plans {
        facts.extend(package_layer(p, &pkgs, &opts).unwrap().1);
    }
    let err = system_layer(&facts, &spec(""), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`usr/lib/evil/passwd` of package `bbb`"),
        "{err}"
    );
    assert!(
        err.contains("symlink `usr/lib/evil` of package `aaa`"),
        "{err}"
    );
}

#[test]
fn layer_is_normalized_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![7u8; 200_000];
    let entries = vec![
        E::Dir("./"),
        E::Dir("./bin/"),
        E::File("./bin/sh", b"#!", 0o4755),
        E::File("./usr/share/z", &big, 0o644),
        E::Hardlink("./usr/share/a", "./usr/share/z"),
        E::Symlink("./lib64", "usr/lib64"),
        E::File("./lib64/ld.so", b"elf", 0o755),
    ];
    let (tar1, facts) = build_one(dir.path(), "pkg", &entries).unwrap();
    let l = list(&tar1.path);
    assert_eq!(l["usr/bin/sh"].0, 'f');
    assert_eq!(l["usr/bin/sh"].1, 0o4755);
    assert_eq!(l["usr/bin/sh"].4, 1_700_000_000, "mtime clamped");
    assert!(l.contains_key("usr/bin/"), "parent directory");
    assert!(!l.contains_key("bin/") && !l.contains_key("bin") && !l.contains_key("lib64"));
    assert_eq!(l["usr/lib64/ld.so"].0, 'f');
    // The hard link set is anchored on its first path.
    assert_eq!(l["usr/share/a"].0, 'f');
    assert_eq!(
        l["usr/share/z"],
        ('h', 0o644, 0, 0, 1_700_000_000, "usr/share/a".into())
    );
    assert_eq!(read_entry(&tar1.path, "usr/share/a").unwrap(), big);
    assert_eq!(
        read_entry(&tar1.path, "var/lib/dpkg/status.d/pkg").unwrap(),
        b"Package: pkg\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n"
    );
    assert!(read_entry(&tar1.path, "var/lib/dpkg/status.d/pkg.md5sums").is_some());
    assert_eq!(facts[0].setid, ["usr/bin/sh"]);
    // GNU tar agrees with the layout.
    if let Ok(out) = Command::new("tar").arg("-tvf").arg(&tar1.path).output() {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(text.contains("usr/share/z link to usr/share/a"), "{text}");
        assert!(text.contains("-rwsr-xr-x 0/0"), "{text}");
    }
    // Same inputs, same bytes.
    let dir2 = tempfile::tempdir().unwrap();
    let (tar2, _) = build_one(dir2.path(), "pkg", &entries).unwrap();
    assert_eq!(tar1.diff_id, tar2.diff_id);
    let bytes = std::fs::read(&tar1.path).unwrap();
    assert_eq!(
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
        ),
        tar1.diff_id
    );
}

#[test]
fn root_symlink_for_a_directory_only_files_imply() {
    // libc6 ships `./lib64/ld-linux-x86-64.so.2` with no `./lib64/` entry:
    // the system layer still needs `lib64 -> usr/lib64`.
    let dir = tempfile::tempdir().unwrap();
    let entries = vec![E::Dir("./"), E::File("./lib64/ld.so", b"elf", 0o755)];
    let (_, facts) = build_one(dir.path(), "pkg", &entries).unwrap();
    let (tar, _) = system_layer(&facts, &spec(""), &options(dir.path())).unwrap();
    let l = list(&tar.path);
    assert_eq!(l["lib64"].0, 'l', "{l:?}");
    assert_eq!(l["lib64"].5, "usr/lib64");
    assert!(!l.contains_key("libx32"));
}

#[test]
fn plans_group_by_source_and_merge_the_smallest() {
    let mk = |name: &str, source: &str, size: u64| PackageInput {
        name: name.into(),
        version: "1".into(),
        architecture: "amd64".into(),
        source: source.into(),
        deb: PathBuf::from(format!("/x/{name}.deb")),
        stanza: format!("Package: {name}\nInstalled-Size: {size}\n"),
    };
    let pkgs = vec![
        mk("libc6", "glibc", 1000),
        mk("libc-bin", "glibc", 500),
        mk("zlib1g", "zlib", 10),
        mk("bash", "bash", 800),
        mk("tzdata", "tzdata", 300),
    ];
    let plans = plan_layers(&pkgs, 10);
    let labels: Vec<_> = plans.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["bash", "glibc", "tzdata", "zlib"]);
    assert_eq!(plans[1].packages, [1, 0], "libc-bin before libc6");
    let plans = plan_layers(&pkgs, 4);
    let labels: Vec<_> = plans.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["bash", "glibc", "merged"]);
    assert_eq!(plans[2].packages, [4, 2]);
    assert_eq!(plans.len(), 3, "max_layers - 1 package layers");
    let plans = plan_layers(&pkgs, 2);
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].packages.len(), 5);
}

#[test]
fn accounts_without_base_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let s = spec("accounts:\n  groups: [{groupname: app, gid: 2000}]\n  users: [{username: nonroot, uid: 65532}]\n");
    let (tar, _) = system_layer(&[], &s, &opts).unwrap();
    let passwd = String::from_utf8(read_entry(&tar.path, "etc/passwd").unwrap()).unwrap();
    assert_eq!(
        passwd,
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n"
    );
    let group = String::from_utf8(read_entry(&tar.path, "etc/group").unwrap()).unwrap();
    assert_eq!(
        group,
        "root:x:0:\nnogroup:x:65534:\napp:x:2000:\nnonroot:x:65532:\n"
    );
    let shadow = String::from_utf8(read_entry(&tar.path, "etc/shadow").unwrap()).unwrap();
    assert!(
        shadow.contains("nonroot:!:19675:0:99999:7:::\n"),
        "{shadow}"
    );
    let l = list(&tar.path);
    assert_eq!(l["etc/shadow"].1, 0o600);
    assert_eq!(
        l["home/nonroot/"],
        ('d', 0o755, 65532, 65532, 1_700_000_000, String::new())
    );
    assert_eq!(
        l["bin"],
        ('l', 0o777, 0, 0, 1_700_000_000, "usr/bin".into())
    );
}

/// The skeleton entries of a system layer that has them all.
const SKELETON: &[&str] = &[
    "etc/group",
    "etc/os-release",
    "etc/passwd",
    "home/",
    "root/",
    "tmp/",
    "usr/lib/os-release",
    "var/tmp/",
];

#[test]
fn skeleton_without_base_files() {
    let dir = tempfile::tempdir().unwrap();
    let e = 1_700_000_000;
    let (tar, report) = system_layer(&[], &spec(""), &options(dir.path())).unwrap();
    assert!(report.warnings.is_empty(), "{report:?}");
    let l = list(&tar.path);
    assert_eq!(
        String::from_utf8(read_entry(&tar.path, "usr/lib/os-release").unwrap()).unwrap(),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
         VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n\
         HOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\n\
         BUG_REPORT_URL=\"https://bugs.debian.org/\"\n"
    );
    assert_eq!(
        l["usr/lib/os-release"],
        ('f', 0o644, 0, 0, e, String::new())
    );
    assert_eq!(
        l["etc/os-release"],
        ('l', 0o777, 0, 0, e, "../usr/lib/os-release".into())
    );
    for (dir, mode) in [
        ("tmp/", 0o1777),
        ("var/tmp/", 0o1777),
        ("root/", 0o700),
        ("home/", 0o755),
    ] {
        assert_eq!(l[dir], ('d', mode, 0, 0, e, String::new()), "{dir}");
    }
    assert_eq!(
        String::from_utf8(read_entry(&tar.path, "etc/passwd").unwrap()).unwrap(),
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    );
    assert_eq!(
        String::from_utf8(read_entry(&tar.path, "etc/group").unwrap()).unwrap(),
        "root:x:0:\nnogroup:x:65534:\n"
    );

    // An unknown release: no os-release, and the reason as a warning; the
    // rest of the skeleton stays.
    let mut opts = options(dir.path());
    opts.release = Err("no repository says `Origin: Debian`".into());
    let (tar, report) = system_layer(&[], &spec(""), &opts).unwrap();
    let l = list(&tar.path);
    assert!(!l.contains_key("usr/lib/os-release") && !l.contains_key("etc/os-release"));
    assert!(
        l.contains_key("tmp/") && l.contains_key("etc/passwd"),
        "{l:?}"
    );
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(
        report.warnings[0].contains("no `/etc/os-release` was written")
            && report.warnings[0].ends_with("no repository says `Origin: Debian`"),
        "{report:?}"
    );

    // `skeleton: false`: none of it, and no warning.
    let (tar, report) = system_layer(&[], &spec("skeleton: false\n"), &opts).unwrap();
    let l = list(&tar.path);
    for path in SKELETON {
        assert!(!l.contains_key(*path), "{path} with skeleton: false: {l:?}");
    }
    assert!(!l.contains_key("etc/shadow"), "{l:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
    // Accounts named by the spec are still written.
    let s = spec("skeleton: false\naccounts:\n  users: [{username: app, uid: 1000}]\n");
    let (tar, _) = system_layer(&[], &s, &opts).unwrap();
    let passwd = String::from_utf8(read_entry(&tar.path, "etc/passwd").unwrap()).unwrap();
    assert!(passwd.starts_with("root:x:0:0:") && passwd.contains("\napp:x:1000:1000:"));
    assert!(!list(&tar.path).contains_key("tmp/"));
}

#[test]
fn skeleton_never_replaces_what_a_package_ships() {
    let dir = tempfile::tempdir().unwrap();
    // A base package with its own os-release (a file, no link), `/tmp` of
    // another mode and `/root` as a link.
    let facts = facts_of(
        dir.path(),
        &[(
            "mybase",
            &[
                E::Dir("./"),
                E::Dir("./tmp/"),
                E::File("./usr/lib/os-release", b"ID=mine\n", 0o644),
                E::Symlink("./root", "home/admin"),
            ],
        )],
    );
    let (tar, report) = system_layer(&facts, &spec(""), &options(dir.path())).unwrap();
    let l = list(&tar.path);
    for path in ["tmp/", "root/", "root", "usr/lib/os-release"] {
        assert!(!l.contains_key(path), "{path} replaced: {l:?}");
    }
    // The link base-files has is added to the package's file.
    assert_eq!(l["etc/os-release"].5, "../usr/lib/os-release");
    assert_eq!(l["var/tmp/"].1, 0o1777);
    assert!(report.warnings.is_empty(), "{report:?}");
    // The spec's own `paths` win over the skeleton.
    let s = spec("paths:\n  - {path: /tmp, type: directory, mode: \"0700\"}\n");
    let (tar, _) = system_layer(&[], &s, &options(dir.path())).unwrap();
    assert_eq!(list(&tar.path)["tmp/"].1, 0o700);
}

/// The facts of packages, one layer each, in order.
fn facts_of(dir: &Path, debs: &[(&str, &[E<'_>])]) -> Vec<PackageFacts> {
    let pkgs: Vec<PackageInput> = debs
        .iter()
        .map(|(name, entries)| input(name, write_deb(dir, name, entries, &[])))
        .collect();
    let opts = options(dir);
    let mut facts = Vec::new();
    for p in &plan_layers(&pkgs, 10) {
        facts.extend(package_layer(p, &pkgs, &opts).unwrap().1);
    }
    facts
}

fn file_entry(source: &str, path: &str) -> bulwark_spec::FileEntry {
    bulwark_spec::FileEntry {
        source: source.into(),
        path: path.parse().unwrap(),
        mode: None,
        owner: None,
    }
}

fn path_entry(
    path: &str,
    kind: bulwark_spec::PathKind,
    target: Option<&str>,
) -> bulwark_spec::PathEntry {
    bulwark_spec::PathEntry {
        path: path.parse().unwrap(),
        kind,
        target: target.map(str::to_string),
        mode: None,
        owner: None,
    }
}

/// A spec with `files` and `paths` set directly (past the spec's own
/// validation, as the assembler must not rely on it), reading sources from
/// `base_dir`.
fn spec_with(
    extra: &str,
    base_dir: &Path,
    files: Vec<bulwark_spec::FileEntry>,
    paths: Vec<bulwark_spec::PathEntry>,
) -> bulwark_spec::Spec {
    let mut s = spec(extra);
    s.base_dir = base_dir.to_path_buf();
    s.files = files;
    s.paths = paths;
    s
}

/// The packages of the spec-entry tests: a directory `/etc` implied by
/// its files, an explicit `/usr/share/doc/`, a regular file and a symlink.
fn base_packages(dir: &Path) -> Vec<PackageFacts> {
    facts_of(
        dir,
        &[
            (
                "base-files",
                &[
                    E::Dir("./"),
                    E::File("./etc/debian_version", b"13.0\n", 0o644),
                    E::Dir("./usr/"),
                    E::Dir("./usr/share/"),
                    E::Dir("./usr/share/doc/"),
                    E::File("./usr/share/doc/copyright", b"c", 0o644),
                ],
            ),
            ("linker", &[E::Symlink("./usr/lib/evil", "/etc")]),
        ],
    )
}

fn spec_err_of(facts: &[PackageFacts], s: &bulwark_spec::Spec, dir: &Path) -> String {
    system_layer(facts, s, &options(dir))
        .map(|_| ())
        .unwrap_err()
        .to_string()
}

#[test]
fn spec_file_sources_stay_in_the_spec_directory() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let specdir = dir.path().join("spec");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(specdir.join("conf")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(specdir.join("app.conf"), b"ok\n").unwrap();
    std::fs::write(outside.join("secret"), b"secret\n").unwrap();
    symlink(outside.join("secret"), specdir.join("escape")).unwrap();
    symlink("/etc/passwd", specdir.join("passwd")).unwrap();
    symlink("../app.conf", specdir.join("conf/inside")).unwrap();
    symlink("../outside", specdir.join("out")).unwrap();
    let canonical = specdir.canonicalize().unwrap();
    let opts = options(dir.path());
    for (source, resolves) in [
        ("/etc/shadow", None),
        ("/etc/passwd", None),
        ("../../../etc/passwd", None),
        ("../outside/secret", None),
        ("conf/../../outside/secret", None),
        ("escape", Some(outside.join("secret"))),
        (
            "passwd",
            Some(PathBuf::from("/etc/passwd").canonicalize().unwrap()),
        ),
        ("out/secret", Some(outside.join("secret"))),
    ] {
        let s = spec_with(
            "",
            &specdir,
            vec![file_entry(source, "/etc/app.conf")],
            vec![],
        );
        let err = spec_err_of(&[], &s, dir.path());
        let want = format!(
            "`files[0].source` `{source}` is outside the spec's directory `{}`",
            canonical.display()
        );
        assert!(err.starts_with(&want), "{source}: {err}");
        if let Some(r) = resolves {
            let r = r.canonicalize().unwrap();
            assert!(
                err.contains(&format!("resolves to `{}`", r.display())),
                "{err}"
            );
        }
        assert!(!err.contains('\n'), "{err}");
    }
    // A directory, and a missing file.
    let s = spec_with(
        "",
        &specdir,
        vec![file_entry("conf", "/etc/app.conf")],
        vec![],
    );
    let err = spec_err_of(&[], &s, dir.path());
    assert!(
        err.contains("`files[0].source`") && err.contains("not a regular file"),
        "{err}"
    );
    // A FIFO is refused, not waited on for a writer.
    let fifo = specdir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let s = spec_with(
        "",
        &specdir,
        vec![file_entry("fifo", "/etc/app.conf")],
        vec![],
    );
    let err = spec_err_of(&[], &s, dir.path());
    assert_eq!(
        err,
        "cannot apply the spec's `files[0].source`: `fifo` is not a regular file"
    );
    let s = spec_with(
        "",
        &specdir,
        vec![file_entry("missing", "/etc/app.conf")],
        vec![],
    );
    let err = spec_err_of(&[], &s, dir.path());
    assert!(err.starts_with("cannot read `files[0].source`"), "{err}");
    // Symlinks that stay inside are followed; the second entry is numbered.
    let s = spec_with(
        "",
        &specdir,
        vec![
            file_entry("app.conf", "/etc/a.conf"),
            file_entry("conf/inside", "/etc/b.conf"),
            file_entry("escape", "/etc/c.conf"),
        ],
        vec![],
    );
    let err = spec_err_of(&[], &s, dir.path());
    assert!(
        err.starts_with("`files[2].source` `escape` is outside"),
        "{err}"
    );
    let s = spec_with(
        "",
        &specdir,
        vec![
            file_entry("app.conf", "/etc/a.conf"),
            file_entry("conf/inside", "/etc/b.conf"),
        ],
        vec![],
    );
    let (tar, _) = system_layer(&[], &s, &opts).unwrap();
    assert_eq!(read_entry(&tar.path, "etc/a.conf").unwrap(), b"ok\n");
    assert_eq!(read_entry(&tar.path, "etc/b.conf").unwrap(), b"ok\n");
}

#[test]
fn spec_files_and_symlinks_cannot_replace_a_package_directory() {
    use bulwark_spec::PathKind as K;
    let dir = tempfile::tempdir().unwrap();
    let facts = base_packages(dir.path());
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    // `/etc` only implied by `/etc/debian_version`.
    let s = spec_with("", dir.path(), vec![file_entry("f", "/etc")], vec![]);
    let err = spec_err_of(&facts, &s, dir.path());
    assert_eq!(
        err,
        "cannot apply the spec's `files[0].path`: `/etc` is a directory in the content of package `base-files`; a regular file cannot replace it"
    );
    // `/usr/share/doc` shipped as a directory.
    let s = spec_with(
        "",
        dir.path(),
        vec![],
        vec![path_entry("/usr/share/doc", K::Symlink, Some("/tmp"))],
    );
    let err = spec_err_of(&facts, &s, dir.path());
    assert!(err.starts_with("cannot apply the spec's `paths[0].path`: `/usr/share/doc` is a directory in the content of package `base-files`; a symlink"), "{err}");
    let s = spec_with(
        "",
        dir.path(),
        vec![],
        vec![path_entry("/etc", K::Symlink, Some("/tmp"))],
    );
    let err = spec_err_of(&facts, &s, dir.path());
    assert!(
        err.contains("`paths[0].path`: `/etc` is a directory"),
        "{err}"
    );
    // Another spec entry makes it a directory.
    let s = spec_with(
        "",
        dir.path(),
        vec![file_entry("f", "/srv/app"), file_entry("f", "/srv/app/x")],
        vec![],
    );
    let err = spec_err_of(&facts, &s, dir.path());
    assert!(err.contains("`files[0].path`: `/srv/app` would be a regular file, but `/srv/app/x` (`files[1].path`) would be written beneath it"), "{err}");
    // Two entries for one path, spelled through the merged `/usr`.
    let s = spec_with(
        "",
        dir.path(),
        vec![file_entry("f", "/usr/bin/x")],
        vec![path_entry("/bin/x", K::Symlink, Some("y"))],
    );
    let err = spec_err_of(&facts, &s, dir.path());
    assert!(
        err.contains("`paths[0].path`: `/usr/bin/x` is also named by `files[0].path`"),
        "{err}"
    );
}

#[test]
fn spec_entries_are_never_written_through_a_symlink() {
    use bulwark_spec::PathKind as K;
    let dir = tempfile::tempdir().unwrap();
    let facts = base_packages(dir.path());
    std::fs::write(dir.path().join("f"), b"x").unwrap();
    // Without packages shipping `/etc`, a spec symlink there would take
    // bulwark's own `/etc/passwd` and friends elsewhere.
    let s = spec_with(
        "accounts:\n  users: [{username: app, uid: 1000}]\n",
        dir.path(),
        vec![],
        vec![path_entry("/etc", K::Symlink, Some("/tmp"))],
    );
    let err = spec_err_of(&[], &s, dir.path());
    assert!(err.starts_with("cannot apply the spec's `paths[0].path`: `/etc` would be a symlink, but `/etc/group`, which bulwark writes, would be written through it"), "{err}");
    // Nor through a package's symlink.
    let evil = facts_of(dir.path(), &[("evil", &[E::Symlink("./etc", "/tmp")])]);
    let s = spec_with(
        "accounts:\n  users: [{username: app, uid: 1000}]\n",
        dir.path(),
        vec![],
        vec![],
    );
    let err = spec_err_of(&evil, &s, dir.path());
    assert_eq!(err, "system layer path `/etc/group`: `/etc/group` goes through `/etc`, a symlink to `/tmp` of package `evil`");
    // A spec symlink, and a spec file beneath it.
    let s = spec_with(
        "",
        dir.path(),
        vec![file_entry("f", "/evil/x")],
        vec![path_entry("/evil", K::Symlink, Some("../../../../tmp"))],
    );
    let err = spec_err_of(&facts, &s, dir.path());
    assert_eq!(err, "cannot apply the spec's `paths[0].path`: `/evil` would be a symlink, but `/evil/x` (`files[0].path`) would be written through it");
    // A package's symlink, for files, directories and symlinks.
    for s in [
        spec_with(
            "",
            dir.path(),
            vec![file_entry("f", "/usr/lib/evil/x")],
            vec![],
        ),
        spec_with(
            "",
            dir.path(),
            vec![],
            vec![path_entry("/lib/evil/x", K::Directory, None)],
        ),
        spec_with(
            "",
            dir.path(),
            vec![],
            vec![path_entry("/usr/lib/evil/x", K::Symlink, Some("y"))],
        ),
    ] {
        let err = spec_err_of(&facts, &s, dir.path());
        assert!(err.ends_with("`/usr/lib/evil/x` goes through `/usr/lib/evil`, a symlink to `/etc` of package `linker` (name the path it resolves to, `/etc/x`)"), "{err}");
    }
    // Beneath a package's regular file.
    let s = spec_with(
        "",
        dir.path(),
        vec![file_entry("f", "/etc/debian_version/x")],
        vec![],
    );
    let err = spec_err_of(&facts, &s, dir.path());
    assert!(err.ends_with("`files[0].path`: `/etc/debian_version/x` would be written beneath `/etc/debian_version`, a regular file of package `base-files`"), "{err}");
    // Beneath a symlink bulwark writes.
    let tz = facts_of(dir.path(), &[("tzdata", &[E::Dir("./")])]);
    let s = spec_with(
        "",
        dir.path(),
        vec![file_entry("f", "/etc/localtime/x")],
        vec![],
    );
    let err = spec_err_of(&tz, &s, dir.path());
    assert_eq!(err, "cannot apply the spec's `files[0].path`: `/etc/localtime/x` would be written beneath `/etc/localtime`, a symlink bulwark writes");
}

#[test]
fn spec_directories_cannot_replace_a_package_file() {
    use bulwark_spec::PathKind as K;
    let dir = tempfile::tempdir().unwrap();
    let facts = base_packages(dir.path());
    let s = spec_with(
        "",
        dir.path(),
        vec![],
        vec![path_entry("/etc/debian_version", K::Directory, None)],
    );
    let err = spec_err_of(&facts, &s, dir.path());
    assert_eq!(err, "cannot apply the spec's `paths[0].path`: `/etc/debian_version` is a regular file of package `base-files`; a directory cannot replace it");
    let s = spec_with(
        "",
        dir.path(),
        vec![],
        vec![path_entry("/usr/lib/evil", K::Directory, None)],
    );
    let err = spec_err_of(&facts, &s, dir.path());
    assert!(
        err.contains("`/usr/lib/evil` is a symlink of package `linker`"),
        "{err}"
    );
}

#[test]
fn spec_entries_and_permission_changes_still_apply() {
    use bulwark_spec::PathKind as K;
    let dir = tempfile::tempdir().unwrap();
    let facts = base_packages(dir.path());
    std::fs::write(dir.path().join("app.conf"), b"conf\n").unwrap();
    let mut conf = file_entry("app.conf", "/etc/app/app.conf");
    conf.mode = Some("0640".parse().unwrap());
    let mut srv = path_entry("/srv/app", K::Directory, None);
    srv.owner = Some("1000:1000".parse().unwrap());
    let mut doc = path_entry("/usr/share/doc", K::Permissions, None);
    doc.mode = Some("0700".parse().unwrap());
    let mut etc = path_entry("/etc", K::Permissions, None);
    etc.owner = Some("0:42".parse().unwrap());
    let mut conf_perm = path_entry("/etc/app/app.conf", K::Permissions, None);
    conf_perm.owner = Some("0:1000".parse().unwrap());
    let s = spec_with(
        "",
        dir.path(),
        vec![conf, file_entry("app.conf", "/etc/debian_version")],
        vec![
            srv,
            path_entry("/srv/app/current", K::Symlink, Some("../releases/1")),
            path_entry("/usr/local/bin/foo", K::Symlink, Some("/usr/bin/foo")),
            path_entry("/usr/lib/evil", K::Symlink, Some("/run")),
            doc,
            etc,
            conf_perm,
        ],
    );
    let (tar, _) = system_layer(&facts, &s, &options(dir.path())).unwrap();
    let l = list(&tar.path);
    let e = 1_700_000_000;
    assert_eq!(
        l["etc/app/app.conf"],
        ('f', 0o640, 0, 1000, e, String::new())
    );
    assert_eq!(
        read_entry(&tar.path, "etc/debian_version").unwrap(),
        b"conf\n"
    );
    assert_eq!(l["srv/app/"], ('d', 0o755, 1000, 1000, e, String::new()));
    assert_eq!(l["srv/app/current"].5, "../releases/1");
    assert_eq!(l["usr/local/bin/foo"].5, "/usr/bin/foo");
    assert_eq!(
        l["usr/lib/evil"].5, "/run",
        "a package symlink may be replaced"
    );
    assert_eq!(l["usr/share/doc/"], ('d', 0o700, 0, 0, e, String::new()));
    assert_eq!(l["etc/"], ('d', 0o755, 0, 42, e, String::new()));
}

// ---------------------------------------------------------------------
// Real packages.

/// Downloads packages with `apt-get download` into `dir` (the test suite's
/// set-up runs `apt-get update`, so a failure here is a real failure).
/// Always `Some`; the `Option` lets callers share `build_real`'s shape.
fn download(dir: &Path, names: &[&str]) -> Option<Vec<PathBuf>> {
    let out = Command::new("apt-get")
        .arg("download")
        .args(names)
        .current_dir(dir)
        .output()
        .expect("apt-get");
    assert!(
        out.status.success(),
        "apt-get download {names:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut debs = Vec::new();
    for n in names {
        let found = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|f| f.to_str())
                    .is_some_and(|f| f.starts_with(&format!("{n}_")) && f.ends_with(".deb"))
            })
            .unwrap_or_else(|| panic!("apt-get download left no {n}_*.deb"));
        debs.push(found);
    }
    Some(debs)
}

fn real_input(deb: &Path) -> PackageInput {
    let field = |f: &str| {
        let out = Command::new("dpkg-deb")
            .args(["-f"])
            .arg(deb)
            .arg(f)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let control = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .output()
        .unwrap();
    let name = field("Package");
    let source = field("Source");
    PackageInput {
        source: if source.is_empty() {
            name.clone()
        } else {
            source.split(' ').next().unwrap().to_string()
        },
        name,
        version: field("Version"),
        architecture: field("Architecture"),
        deb: deb.to_owned(),
        stanza: String::from_utf8(control.stdout).unwrap(),
    }
}

fn sh(cmd: &str, dir: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Built {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    debs: Vec<PathBuf>,
    layers: Vec<LayerTar>,
    system: LayerTar,
    report: SystemReport,
}

fn build_real(names: &[&str], db: DpkgDatabase) -> Option<Built> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let debs = download(&dir, names)?;
    let pkgs: Vec<_> = debs.iter().map(|d| real_input(d)).collect();
    let mut opts = options(&dir);
    opts.dpkg_database = db;
    let mut facts = Vec::new();
    let mut layers = Vec::new();
    for plan in plan_layers(&pkgs, 50) {
        let (tar, f) = package_layer(&plan, &pkgs, &opts).unwrap();
        // Facts survive a JSON round trip (the lead caches them).
        let json = serde_json::to_string(&f).unwrap();
        let back: Vec<PackageFacts> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
        facts.extend(f);
        layers.push(tar);
    }
    let (system, report) = system_layer(&facts, &spec(""), &opts).unwrap();
    Some(Built {
        _dir: tmp,
        dir,
        debs,
        layers,
        system,
        report,
    })
}

#[test]
fn live_real_packages_system_layer() {
    let names = [
        "base-passwd",
        "ca-certificates",
        "mawk",
        "tzdata",
        "debianutils",
        "base-files",
    ];
    let Some(b) = build_real(&names, DpkgDatabase::StatusD) else {
        return;
    };
    let sys = &b.system.path;
    let l = list(sys);
    // passwd/group: exactly base-passwd's master files.
    let bp = sh(
        &format!(
            "dpkg-deb --fsys-tarfile {} | tar -xO ./usr/share/base-passwd/passwd.master",
            b.debs[0].display()
        ),
        &b.dir,
    );
    assert_eq!(
        String::from_utf8(read_entry(sys, "etc/passwd").unwrap()).unwrap(),
        bp
    );
    assert_eq!(l["etc/shadow"].1, 0o640);
    assert_eq!(l["etc/shadow"].3, 42);
    // Alternatives: awk -> mawk, and the admin file as update-alternatives
    // writes it (compared with the host's when it has the same mawk).
    assert_eq!(l["etc/alternatives/awk"].5, "/usr/bin/mawk");
    assert_eq!(l["usr/bin/awk"].5, "/etc/alternatives/awk");
    let admin = read_entry(sys, "var/lib/dpkg/alternatives/awk").unwrap();
    let mawk = real_input(&b.debs[2]);
    let host = sh(
        "dpkg-query -W -f '${Version}' mawk 2>/dev/null || true",
        &b.dir,
    );
    if host == mawk.version {
        assert_eq!(
            admin,
            std::fs::read("/var/lib/dpkg/alternatives/awk").unwrap()
        );
    }
    // tzdata.
    assert_eq!(l["etc/localtime"].5, "/usr/share/zoneinfo/Etc/UTC");
    assert_eq!(read_entry(sys, "etc/timezone").unwrap(), b"Etc/UTC\n");
    // Merged /usr root links.
    assert_eq!(l["bin"].5, "usr/bin");
    assert_eq!(l["lib"].5, "usr/lib");
    assert!(
        !b.report.warnings.iter().any(|w| w.contains("os-release")),
        "{:?}",
        b.report
    );
    // base-files ships os-release and the skeleton directories: the system
    // layer adds none of them (`/root` is only the parent of the copied
    // `.profile`, with base-files' mode).
    for path in [
        "etc/os-release",
        "usr/lib/os-release",
        "tmp/",
        "var/tmp/",
        "home/",
    ] {
        assert!(!l.contains_key(path), "{path} besides base-files'");
    }
    assert_eq!(l["root/"].1, 0o700);
    for ok in [
        "base-files",
        "mawk",
        "base-passwd",
        "ca-certificates",
        "tzdata",
        "debianutils",
    ] {
        assert!(
            !b.report
                .scripts_not_replaced
                .iter()
                .any(|n| n.package == ok),
            "{ok}: {:?}",
            b.report.scripts_not_replaced
        );
    }

    // /etc/shells: run the package's own update-shells on a scratch root
    // after its postinst's copy of the template.
    let root = b.dir.join("shells-root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/lib")).unwrap();
    for r in ["bin", "sbin", "lib"] {
        std::fs::create_dir_all(root.join("usr").join(r)).unwrap();
        std::os::unix::fs::symlink(format!("usr/{r}"), root.join(r)).unwrap();
    }
    sh(
        &format!(
            "dpkg-deb --fsys-tarfile {} | tar -x --keep-directory-symlink -C {}",
            b.debs[4].display(),
            root.display()
        ),
        &b.dir,
    );
    assert!(
        !sh("command -v dpkg-realpath || true", &b.dir)
            .trim()
            .is_empty(),
        "dpkg-realpath (package dpkg) is needed for the update-shells comparison"
    );
    sh(
        "cp usr/share/debianutils/shells etc/shells && sh usr/sbin/update-shells --root \"$PWD\"",
        &root,
    );
    assert_eq!(
        read_entry(sys, "etc/shells").unwrap(),
        std::fs::read(root.join("etc/shells")).unwrap()
    );
    assert_eq!(
        read_entry(sys, "var/lib/shells.state").unwrap(),
        std::fs::read(root.join("var/lib/shells.state")).unwrap()
    );

    // CA bundle: ca-certificates' own update-ca-certificates on a scratch
    // root, fed with the conf its postinst writes.
    let root = b.dir.join("ca-root");
    std::fs::create_dir_all(root.join("etc/ssl/certs")).unwrap();
    sh(
        &format!("dpkg-deb -x {} {}", b.debs[1].display(), root.display()),
        &b.dir,
    );
    // The postinst's new-file branch, with every available certificate
    // enabled (the default answer).
    let conf_script = r#"
set -e
CERTS=$(cd usr/share/ca-certificates && find . -type f -name '*.crt' -print | sed -e 's/^\.\///' | LC_ALL=C sort | uniq | paste -sd, - | sed -e 's/,/, /g')
CERTS_ENABLED="$CERTS"; CERTS_AVAILABLE="$CERTS"
sed -n '/^# This file lists certificates/,/^EOF$/p' "$DEB_POSTINST" | sed '$d'
(echo $CERTS_ENABLED | tr ',' '\n'; echo $CERTS_AVAILABLE | tr ',' '\n') | sed -e 's/^[[:space:]]*//' | LC_ALL=C sort | LC_ALL=C uniq -c | sed -e 's/^[[:space:]]*2[[:space:]]*//' -e 's/^[[:space:]]*1[[:space:]]*/!/'
"#;
    let postinst = b.dir.join("ca-postinst");
    sh(
        &format!(
            "dpkg-deb --ctrl-tarfile {} | tar -xO ./postinst > {}",
            b.debs[1].display(),
            postinst.display()
        ),
        &b.dir,
    );
    let expected_conf = sh(
        &format!(
            "DEB_POSTINST={} ; export DEB_POSTINST; {conf_script}",
            postinst.display()
        ),
        &root,
    );
    let ours_conf =
        String::from_utf8(read_entry(sys, "etc/ca-certificates.conf").unwrap()).unwrap();
    assert_eq!(ours_conf, expected_conf);
    std::fs::write(root.join("etc/ca-certificates.conf"), &ours_conf).unwrap();
    sh(
        "LC_ALL=C sh usr/sbin/update-ca-certificates --sysroot \"$PWD\" --hooksdir '' >/dev/null",
        &root,
    );
    assert_eq!(
        read_entry(sys, "etc/ssl/certs/ca-certificates.crt").unwrap(),
        std::fs::read(root.join("etc/ssl/certs/ca-certificates.crt")).unwrap()
    );
    let mut theirs = BTreeMap::new();
    for e in std::fs::read_dir(root.join("etc/ssl/certs")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if let Ok(t) = std::fs::read_link(e.path()) {
            let t = t.to_string_lossy().into_owned();
            // --sysroot prefixes targets with `ROOT/`.
            let t = t
                .replace(&root.display().to_string(), "")
                .replace("//", "/");
            theirs.insert(name, t);
        }
    }
    let ours: BTreeMap<String, String> = l
        .iter()
        .filter_map(|(p, v)| Some((p.strip_prefix("etc/ssl/certs/")?.to_string(), v)))
        .filter(|(_, v)| v.0 == 'l')
        .map(|(p, v)| (p, v.5.clone()))
        .collect();
    assert!(ours.len() > 200, "{}", ours.len());
    let only_ours: Vec<_> = ours
        .iter()
        .filter(|(k, v)| theirs.get(*k) != Some(v))
        .collect();
    let only_theirs: Vec<_> = theirs
        .iter()
        .filter(|(k, v)| ours.get(*k) != Some(v))
        .collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "ours: {only_ours:?}\ntheirs: {only_theirs:?}"
    );

    // Package layers: status.d and merged /usr.
    let all: BTreeMap<String, _> = b.layers.iter().flat_map(|t| list(&t.path)).collect();
    assert!(all.contains_key("var/lib/dpkg/status.d/mawk"));
    assert!(all.contains_key("usr/bin/mawk"));
    assert!(!all
        .keys()
        .any(|k| k.starts_with("bin/") || k.starts_with("lib/")));
}

#[test]
fn live_subject_hash_matches_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(debs) = download(tmp.path(), &["ca-certificates"]) else {
        return;
    };
    let root = tmp.path().join("root");
    sh(
        &format!("dpkg-deb -x {} {}", debs[0].display(), root.display()),
        tmp.path(),
    );
    let dir = root.join("usr/share/ca-certificates/mozilla");
    let listing = sh(
        "for f in *.crt; do printf '%s %s\\n' \"$(openssl x509 -hash -noout -in \"$f\")\" \"$f\"; done",
        &dir,
    );
    let mut n = 0;
    for line in listing.lines() {
        let (hash, file) = line.split_once(' ').unwrap();
        let pem = std::fs::read_to_string(dir.join(file)).unwrap();
        let ders = cacert::pem_certificates(&pem);
        assert_eq!(ders.len(), 1, "{file}");
        assert_eq!(
            format!("{:08x}", subject_hash(&ders[0]).unwrap()),
            hash,
            "{file}"
        );
        n += 1;
    }
    assert!(n > 100);
}

#[test]
fn live_real_classic_database() {
    let Some(b) = build_real(&["mawk", "base-files"], DpkgDatabase::Classic) else {
        return;
    };
    let status =
        String::from_utf8(read_entry(&b.system.path, "var/lib/dpkg/status").unwrap()).unwrap();
    assert!(
        status.starts_with("Package: base-files\nStatus: install ok installed\n"),
        "{status}"
    );
    assert!(status.contains("\n\nPackage: mawk\nStatus: install ok installed\n"));
    // dpkg itself can read the database we wrote.
    let admin = b.dir.join("admin");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::write(admin.join("status"), &status).unwrap();
    std::fs::write(admin.join("available"), "").unwrap();
    let all: BTreeMap<String, _> = b.layers.iter().flat_map(|t| list(&t.path)).collect();
    assert!(all.contains_key("var/lib/dpkg/info/mawk.list"));
    for layer in &b.layers {
        if let Some(list) = read_entry(&layer.path, "var/lib/dpkg/info/mawk.list") {
            std::fs::write(admin.join("info/mawk.list"), list).unwrap();
        }
    }
    let out = sh(
        &format!("dpkg-query --admindir={} -W -f '${{Package}} ${{Status}}\\n' mawk; dpkg-query --admindir={} -L mawk | head -3", admin.display(), admin.display()),
        &b.dir,
    );
    assert!(
        out.starts_with("mawk install ok installed\n/.\n/usr\n"),
        "{out}"
    );
}

/// One path of an unpacked tree or merged layers: type, mode, uid, gid,
/// link target, contents.
type Seen = (char, u32, u64, u64, String, Vec<u8>);

/// The image the layers make, later layers winning (no whiteouts needed).
fn image_view(layers: &[&Path]) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    for layer in layers {
        let mut a = tar::Archive::new(std::fs::File::open(layer).unwrap());
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let h = e.header();
            let t = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                _ => 'f',
            };
            let (mode, uid, gid) = (h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap());
            let link = e
                .link_name_bytes()
                .map(|b| String::from_utf8(b.into_owned()).unwrap())
                .unwrap_or_default();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let path = path.trim_end_matches('/').to_string();
            let mode = if t == 'l' { 0o777 } else { mode };
            out.insert(path, (t, mode, uid, gid, link, data));
        }
    }
    out
}

/// A directory tree as `image_view` shows layers.
fn tree_view(root: &Path) -> BTreeMap<String, Seen> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let (t, link, data) = if meta.file_type().is_symlink() {
                let link = std::fs::read_link(&path).unwrap();
                ('l', link.to_string_lossy().into_owned(), Vec::new())
            } else if meta.is_dir() {
                todo.push(path.clone());
                ('d', String::new(), Vec::new())
            } else {
                ('f', String::new(), std::fs::read(&path).unwrap())
            };
            let mode = if t == 'l' {
                0o777
            } else {
                meta.mode() & 0o7777
            };
            out.insert(
                rel,
                (
                    t,
                    mode,
                    u64::from(meta.uid()),
                    u64::from(meta.gid()),
                    link,
                    data,
                ),
            );
        }
    }
    out
}

fn is_root() -> bool {
    sh("id -u", Path::new("/")).trim() == "0"
}

/// Runs a package's maintainer script on a scratch root made of base-files'
/// and the package's files, with `DPKG_ROOT` set, and returns what it
/// created or changed (and what it removed, as `None`).
fn run_script(
    b: &Built,
    deb: &Path,
    script: &str,
    args: &str,
    filter: &str,
) -> BTreeMap<String, Option<Seen>> {
    let base_files = b
        .debs
        .iter()
        .find(|d| {
            d.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("base-files_")
        })
        .unwrap();
    let root = b.dir.join(format!(
        "root-{script}-{}",
        deb.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir_all(&root).unwrap();
    for d in [base_files.as_path(), deb] {
        sh(
            &format!("dpkg-deb -x {} {}", d.display(), root.display()),
            &b.dir,
        );
    }
    let body = b.dir.join(format!("{script}.sh"));
    sh(
        &format!(
            "dpkg-deb --ctrl-tarfile {} | tar -xO ./{script} {filter} > {}",
            deb.display(),
            body.display()
        ),
        &b.dir,
    );
    let before = tree_view(&root);
    sh(
        &format!(
            "umask 022; DPKG_ROOT={} sh {} {args}",
            root.display(),
            body.display()
        ),
        &b.dir,
    );
    let after = tree_view(&root);
    let mut changed = BTreeMap::new();
    for (p, v) in &after {
        if before.get(p) != Some(v) {
            changed.insert(p.clone(), Some(v.clone()));
        }
    }
    for p in before.keys() {
        if !after.contains_key(p) {
            changed.insert(p.clone(), None);
        }
    }
    changed
}

#[test]
fn live_real_fresh_install_scripts() {
    let names = [
        "base-passwd",
        "base-files",
        "netbase",
        "login",
        "libpam-modules",
        "dash",
        "bash",
    ];
    let Some(b) = build_real(&names, DpkgDatabase::Classic) else {
        return;
    };
    let layers: Vec<&Path> = b
        .layers
        .iter()
        .map(|l| l.path.as_path())
        .chain([b.system.path.as_path()])
        .collect();
    let ours = image_view(&layers);
    for (package, script) in [
        ("base-files", "postinst"),
        ("netbase", "postinst"),
        ("login", "postinst"),
        ("libpam-modules", "postinst"),
        ("dash", "postinst"),
    ] {
        assert!(
            !b.report
                .scripts_not_replaced
                .iter()
                .any(|n| n.package == package && n.script == script),
            "{package} {script}: {:?}",
            b.report.scripts_not_replaced
        );
    }

    // base-files' layer ships /var/run and /var/lock as links.
    assert_eq!(ours["var/run"].4, "/run");
    assert_eq!(ours["var/lock"].4, "/run/lock");
    assert!(
        is_root(),
        "the script comparisons chown, which needs root (the test command runs as root)"
    );
    // The real scripts on scratch roots: everything they create or change,
    // we have, with the same type, mode, owner, target and contents.
    let deb = |name: &str| b.debs[names.iter().position(|n| *n == name).unwrap()].clone();
    let mut checked = 0;
    let runs = [
        run_script(&b, &deb("base-files"), "postinst", "configure", ""),
        // netbase writes to /etc directly: point it at the scratch root.
        run_script(
            &b,
            &deb("netbase"),
            "postinst",
            "configure",
            "| sed 's#/etc/#$DPKG_ROOT/etc/#g'",
        ),
        // dpkg-maintscript-helper needs a dpkg run; it is a no-op here.
        run_script(
            &b,
            &deb("login"),
            "postinst",
            "configure",
            "| grep -v dpkg-maintscript-helper",
        ),
        run_script(&b, &deb("libpam-modules"), "postinst", "configure", ""),
    ];
    for changed in runs {
        for (path, theirs) in changed {
            let Some(theirs) = theirs else {
                panic!("the script removed `{path}`");
            };
            let mine = ours
                .get(&path)
                .unwrap_or_else(|| panic!("missing `{path}`"));
            // The scratch root is not merged-/usr; no script path is below a
            // merged root.
            assert_eq!(mine, &theirs, "`{path}`");
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked}");
    assert_eq!(ours["etc/hosts"].5, effects::NETBASE_HOSTS.as_bytes());

    // dash's diversions, as dpkg-divert writes them.
    let root = b.dir.join("divert-root");
    std::fs::create_dir_all(root.join("var/lib/dpkg/info")).unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    sh(
        &format!(
            "dpkg-divert --root {r} --package dash --no-rename --divert /bin/sh.distrib --add /bin/sh >/dev/null && \
             dpkg-divert --root {r} --package dash --no-rename --divert /usr/share/man/man1/sh.distrib.1.gz --add /usr/share/man/man1/sh.1.gz >/dev/null",
            r = root.display()
        ),
        &b.dir,
    );
    assert_eq!(
        ours["var/lib/dpkg/diversions"].5,
        std::fs::read(root.join("var/lib/dpkg/diversions")).unwrap()
    );
    assert_eq!(ours["usr/bin/sh"].4, "dash");
    assert_eq!(ours["var/lib/dpkg/statoverride"].5, b"");
}

/// Every reviewed script of the Debian release the host's APT points at is
/// recognized, with the effect its review gives; the generic reader handles
/// `case` patterns with `|` (tar's `rmt` alternative).
#[test]
fn live_real_reviewed_scripts() {
    let mut names: Vec<&str> = scripts::reviewed_packages().collect();
    names.push("tar");
    names.sort_unstable();
    names.dedup();
    let tmp = tempfile::tempdir().unwrap();
    let Some(debs) = download(tmp.path(), &names) else {
        return;
    };
    let mut seen = 0;
    for deb in &debs {
        let input = real_input(deb);
        let archive = bulwark_deb::deb::DebArchive::open(deb).unwrap();
        let control = archive.control().unwrap();
        for (script, body) in control.scripts() {
            let body = String::from_utf8_lossy(body);
            let a = scripts::analyze(
                &input.name,
                &input.version,
                &input.architecture,
                script,
                &body,
            );
            if script == "prerm" || script == "postrm" {
                assert_eq!(a.fact.effect, ScriptEffect::NotRunOnInstall);
                continue;
            }
            let expected = scripts::reviewed_effect(&input.name, script);
            if input.name == "tar" {
                assert_eq!(a.fact.effect, ScriptEffect::Replaced, "{:?}", a.fact);
                assert_eq!(a.alternatives[0].link, "/usr/sbin/rmt");
                continue;
            }
            let Some(expected) = expected else {
                // login's preinst only calls dpkg-maintscript-helper.
                assert_ne!(
                    a.fact.effect,
                    ScriptEffect::NotReplaced,
                    "{}: {:?}",
                    input.name,
                    a.fact
                );
                continue;
            };
            assert_eq!(
                a.fact.effect, expected,
                "{} {script} (version {}): {:?}",
                input.name, input.version, a.fact.detail
            );
            seen += 1;
        }
    }
    assert_eq!(seen, scripts::reviewed_count());
}
