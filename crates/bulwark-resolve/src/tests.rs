#![allow(clippy::print_stderr)]

use std::collections::BTreeSet;
use std::sync::Arc;

use bulwark_repo::{PackageIndex, Release, SignedBy, Source};
use bulwark_spec::{Exclusion, PackageRequest};

use super::*;

pub(crate) fn release(suite: &str) -> Arc<Release> {
    let source = Source::new(
        "file:///nonexistent/debian",
        suite,
        &["main"],
        SignedBy::Keyrings(Vec::new()),
    );
    Arc::new(Release::for_source(Arc::new(source)))
}

/// A Packages text from `(name, version, extra fields)`; the architecture
/// is `amd64` unless the extra fields say otherwise.
pub(crate) fn packages(stanzas: &[(&str, &str, &str)]) -> String {
    let mut out = String::new();
    for (name, version, extra) in stanzas {
        out.push_str(&format!("Package: {name}\nVersion: {version}\n"));
        if !extra.contains("Architecture:") {
            out.push_str("Architecture: amd64\n");
        }
        for line in extra.lines().map(str::trim).filter(|l| !l.is_empty()) {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&format!(
            "Filename: pool/main/{}/{name}/{name}_{version}_amd64.deb\n\n",
            &name[..1]
        ));
    }
    out
}

/// An in-memory index of `stanzas` (see [`packages`]).
pub(crate) fn index(stanzas: &[(&str, &str, &str)]) -> PackageIndex {
    PackageIndex::from_packages_text(&packages(stanzas), release("test")).unwrap()
}

struct Req {
    packages: Vec<PackageRequest>,
    exclude: Vec<Exclusion>,
    prefer: Vec<String>,
    recommends: bool,
}

fn req(names: &[&str]) -> Req {
    Req {
        packages: names
            .iter()
            .map(|n| match n.split_once('=') {
                Some((n, v)) => PackageRequest {
                    name: n.into(),
                    version: Some(v.into()),
                },
                None => PackageRequest {
                    name: (*n).into(),
                    version: None,
                },
            })
            .collect(),
        exclude: Vec::new(),
        prefer: Vec::new(),
        recommends: false,
    }
}

impl Req {
    fn exclude(mut self, names: &[&str]) -> Self {
        self.exclude = names
            .iter()
            .map(|n| Exclusion {
                name: (*n).into(),
                reason: None,
            })
            .collect();
        self
    }
    fn prefer(mut self, names: &[&str]) -> Self {
        self.prefer = names.iter().map(|n| (*n).to_string()).collect();
        self
    }
    fn recommends(mut self) -> Self {
        self.recommends = true;
        self
    }
    fn run(&self, index: &PackageIndex) -> Result<Resolution, Error> {
        resolve(
            index,
            &Request {
                architecture: "amd64",
                packages: &self.packages,
                exclude: &self.exclude,
                prefer: &self.prefer,
                recommends: self.recommends,
            },
        )
    }
}

fn names(r: &Resolution) -> Vec<&str> {
    r.packages().iter().map(Selected::name).collect()
}

fn choice_of<'r>(r: &'r Resolution, name: &str) -> &'r Choice {
    r.get(name).unwrap().pulled_by[0].choice.as_ref().unwrap()
}

#[test]
fn closure_edges_and_explain() {
    let idx = index(&[
        (
            "ca-certificates",
            "20230311",
            "Architecture: all\nDepends: openssl (>= 1.1.1), debconf (>= 0.5) | debconf-2.0",
        ),
        (
            "openssl",
            "3.0.15-1~deb12u1",
            "Depends: libc6 (>= 2.34), libssl3 (>= 3.0.9)",
        ),
        ("libssl3", "3.0.15-1~deb12u1", "Depends: libc6 (>= 2.34)"),
        ("libc6", "2.36-9+deb12u9", "Depends: libgcc-s1"),
        (
            "libgcc-s1",
            "12.2.0-14",
            "Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)",
        ),
        ("gcc-12-base", "12.2.0-14", "Multi-Arch: same"),
        (
            "debconf",
            "1.5.82",
            "Architecture: all\nProvides: debconf-2.0",
        ),
        ("cdebconf", "0.270", "Provides: debconf-2.0"),
        ("unrelated", "1.0", "Depends: nonexistent"),
    ]);
    let r = req(&["ca-certificates"]).run(&idx).unwrap();
    assert_eq!(
        names(&r),
        [
            "ca-certificates",
            "debconf",
            "gcc-12-base",
            "libc6",
            "libgcc-s1",
            "libssl3",
            "openssl"
        ]
    );
    assert!(r.get("ca-certificates").unwrap().requested);
    let libc = r.get("libc6").unwrap();
    assert!(!libc.requested);
    let parents: Vec<_> = libc.pulled_by.iter().map(|e| e.parent.as_str()).collect();
    assert_eq!(parents, ["openssl", "libgcc-s1", "libssl3"]);
    assert_eq!(
        r.explain("libssl3").unwrap().to_string(),
        "libssl3 3.0.15-1~deb12u1 is in the image because:\n  \
         requested: ca-certificates\n  \
         ca-certificates Depends: openssl (>= 1.1.1)\n  \
         openssl Depends: libssl3 (>= 3.0.9)"
    );
    assert_eq!(
        choice_of(&r, "debconf"),
        &Choice {
            chosen: "debconf".into(),
            reason: ChoiceReason::FirstInstallable,
            skipped: vec![]
        }
    );
    assert!(r.explain("cdebconf").is_none());
}

#[test]
fn first_installable_alternative() {
    let idx = index(&[
        ("a", "1", "Depends: b | c"),
        ("b", "1", "Depends: missing"),
        ("c", "1", "Depends: d"),
        ("d", "1", ""),
    ]);
    let r = req(&["a"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["a", "c", "d"]);
    let choice = choice_of(&r, "c");
    assert_eq!(choice.reason, ChoiceReason::FirstInstallable);
    assert_eq!(choice.skipped, ["b"]);
    // Without the broken dependency, apt takes the first alternative.
    let idx = index(&[("a", "1", "Depends: b | c"), ("b", "1", ""), ("c", "1", "")]);
    assert_eq!(names(&req(&["a"]).run(&idx).unwrap()), ["a", "b"]);
}

#[test]
fn already_selected_alternative_wins() {
    let idx = index(&[
        ("a", "1", "Depends: b | c"),
        ("b", "1", ""),
        ("c", "1", ""),
        ("x", "1", "Depends: c"),
    ]);
    // c is requested, so it is selected before a's dependencies are followed.
    let r = req(&["a", "c"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["a", "c"]);
    assert_eq!(choice_of(&r, "c").reason, ChoiceReason::AlreadySelected);
    // a comes first in the request, so its group is looked at before x
    // pulls c: b is chosen, and x still needs c.
    let r = req(&["a", "x"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["a", "b", "c", "x"]);
    // Selected earlier in the same depth-first walk.
    let idx = index(&[
        ("top", "1", "Depends: x, a"),
        ("a", "1", "Depends: b | c"),
        ("b", "1", ""),
        ("c", "1", ""),
        ("x", "1", "Depends: c"),
    ]);
    assert_eq!(
        names(&req(&["top"]).run(&idx).unwrap()),
        ["a", "c", "top", "x"]
    );
    // prefer does not override an already selected alternative.
    let r = req(&["top"]).prefer(&["b"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["a", "c", "top", "x"]);
}

#[test]
fn prefer_and_builtin_table() {
    let idx = index(&[
        (
            "init-system-helpers",
            "1.65.2",
            "Architecture: all\nDepends: usrmerge | usr-is-merged",
        ),
        ("usrmerge", "35", "Architecture: all\nDepends: perl"),
        ("perl", "5.36.0-7", ""),
        ("usr-is-merged", "35", "Architecture: all"),
    ]);
    let r = req(&["init-system-helpers"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["init-system-helpers", "usr-is-merged"]);
    assert_eq!(
        choice_of(&r, "usr-is-merged").reason,
        ChoiceReason::BuiltIn("usrmerge pulls perl")
    );
    assert_eq!(
        r.explain("usr-is-merged").unwrap().to_string(),
        "usr-is-merged 35 is in the image because:\n  \
         requested: init-system-helpers\n  \
         init-system-helpers Depends: usrmerge | usr-is-merged → chose usr-is-merged \
         (built-in preference: usrmerge pulls perl)"
    );
    // `prefer` beats the built-in table.
    let r = req(&["init-system-helpers"])
        .prefer(&["usrmerge"])
        .run(&idx)
        .unwrap();
    assert_eq!(names(&r), ["init-system-helpers", "perl", "usrmerge"]);
    assert_eq!(choice_of(&r, "usrmerge").reason, ChoiceReason::Preferred);
    // And a preferred second alternative beats apt's first-alternative rule.
    let idx = index(&[("a", "1", "Depends: b | c"), ("b", "1", ""), ("c", "1", "")]);
    let r = req(&["a"]).prefer(&["c"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["a", "c"]);
}

#[test]
fn virtual_with_several_providers() {
    let idx = index(&[
        ("base-files", "12.4", "Pre-Depends: awk"),
        ("gawk", "1:5.2.1-2", "Priority: optional\nProvides: awk"),
        ("mawk", "1.3.4", "Priority: required\nProvides: awk"),
        ("original-awk", "2012", "Priority: optional\nProvides: awk"),
    ]);
    let r = req(&["base-files"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["base-files", "mawk"]);
    assert_eq!(choice_of(&r, "mawk").reason, ChoiceReason::ProviderPriority);
    let r = req(&["base-files"])
        .prefer(&["original-awk"])
        .run(&idx)
        .unwrap();
    assert_eq!(names(&r), ["base-files", "original-awk"]);
    // An already selected provider satisfies it.
    let r = req(&["base-files", "gawk"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["base-files", "gawk"]);
    // Same priority: name decides.
    let r = req(&["base-files"]).run(&index(&[
        ("base-files", "12.4", "Pre-Depends: awk"),
        ("zawk", "1", "Priority: optional\nProvides: awk"),
        ("gawk", "1", "Priority: optional\nProvides: awk"),
    ]));
    assert_eq!(names(&r.unwrap()), ["base-files", "gawk"]);
    // Requesting the virtual name with several providers is ambiguous.
    let e = req(&["awk"]).run(&idx).unwrap_err();
    assert!(matches!(e, Error::AmbiguousVirtual { .. }), "{e}");
    let r = req(&["awk"]).prefer(&["gawk"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["gawk"]);
}

#[test]
fn versioned_provides() {
    let idx = index(&[
        ("a", "1", "Depends: foo (>= 1.0)"),
        ("p1", "1", "Provides: foo"),
        ("p2", "1", "Provides: foo (= 1.2)"),
        ("b", "1", "Depends: foo (>= 2)"),
    ]);
    assert_eq!(names(&req(&["a"]).run(&idx).unwrap()), ["a", "p2"]);
    let e = req(&["b"]).run(&idx).unwrap_err().to_string();
    assert_eq!(
        e,
        "unsatisfiable dependency: b → foo (>= 2): `foo` is only provided by p1, p2 (= 1.2), which does not match"
    );
}

#[test]
fn exclude_satisfies_versioned_and_virtual_dependencies() {
    let idx = index(&[
        ("base-files", "12.4", "Pre-Depends: awk"),
        (
            "mawk",
            "1.3.4",
            "Priority: required\nProvides: awk\nDepends: libc6 (>= 2.29)",
        ),
        (
            "tzdata",
            "2025a",
            "Architecture: all\nDepends: debconf (>= 0.5) | debconf-2.0",
        ),
        (
            "debconf",
            "1.5.82",
            "Architecture: all\nDepends: perl-base (>= 5.20.1-3~)",
        ),
        ("perl-base", "5.36", ""),
        ("app", "1", "Depends: libc6 (>= 99), tzdata"),
        ("libc6", "2.36", "Depends: libgcc-s1"),
        ("libgcc-s1", "12", ""),
    ]);
    let r = req(&["base-files", "app"])
        .exclude(&["mawk", "libc6", "debconf"])
        .run(&idx)
        .unwrap();
    assert_eq!(names(&r), ["app", "base-files", "tzdata"]);
    let ex: Vec<_> = r
        .excluded()
        .iter()
        .map(|e| {
            let parents: Vec<_> = e.depended_on_by.iter().map(|d| d.parent.as_str()).collect();
            (e.name.as_str(), parents)
        })
        .collect();
    assert_eq!(
        ex,
        [
            ("debconf", vec!["tzdata"]),
            ("libc6", vec!["app"]),
            ("mawk", vec!["base-files"])
        ]
    );
    assert_eq!(
        r.explain("libc6").unwrap().to_string(),
        "libc6 is excluded, but depended on because:\n  requested: app\n  app Depends: libc6 (>= 99)"
    );
    let e = req(&["libc6"]).exclude(&["libc6"]).run(&idx).unwrap_err();
    assert!(matches!(e, Error::RequestedAndExcluded(_)));
}

#[test]
fn multi_arch_qualifiers() {
    let idx = index(&[
        (
            "a",
            "1",
            "Depends: python3:any (>= 3.11~), libfoo:amd64, data:native",
        ),
        ("python3", "3.11.2-1", "Multi-Arch: allowed"),
        ("libfoo", "1", "Multi-Arch: same"),
        ("data", "1", "Architecture: all\nMulti-Arch: foreign"),
        ("b", "1", "Depends: perl:any"),
        ("perl", "5.36", ""),
        ("c", "1", "Depends: libfoo:i386"),
        ("other-arch", "1", "Architecture: i386"),
    ]);
    assert_eq!(
        names(&req(&["a"]).run(&idx).unwrap()),
        ["a", "data", "libfoo", "python3"]
    );
    let e = req(&["b"]).run(&idx).unwrap_err().to_string();
    assert!(e.contains("`perl` is not `Multi-Arch: allowed`"), "{e}");
    let e = req(&["c"]).run(&idx).unwrap_err().to_string();
    assert!(e.contains("`libfoo` is `Architecture: amd64`"), "{e}");
    // Packages of other architectures are not candidates.
    assert!(matches!(
        req(&["other-arch"]).run(&idx).unwrap_err(),
        Error::UnknownPackage { .. }
    ));
}

#[test]
fn conflicts_show_both_chains() {
    let idx = index(&[
        ("a", "1", "Depends: liba"),
        ("liba", "1", "Conflicts: libb (<< 2)"),
        ("c", "1", "Depends: libb"),
        ("libb", "1.5", ""),
    ]);
    let e = req(&["a", "c"]).run(&idx).unwrap_err().to_string();
    assert_eq!(
        e,
        "`liba` Conflicts `libb (<< 2)`, which `libb` 1.5 matches; \
         `liba`: requested a → a Depends: liba; `libb`: requested c → c Depends: libb"
    );
    // Breaks with a version that does not match is fine.
    let idx = index(&[("a", "1", "Breaks: b (<< 1)"), ("b", "1", "")]);
    assert!(req(&["a", "b"]).run(&idx).is_ok());
    let idx = index(&[("a", "1", "Breaks: b (<< 2)"), ("b", "1", "")]);
    let e = req(&["a", "b"]).run(&idx).unwrap_err();
    assert!(
        matches!(&e, Error::Conflict(c) if c.field == "Breaks"),
        "{e}"
    );
    // Virtual conflicts: a provider conflicting with its own virtual name is
    // fine, two providers are not.
    let idx = index(&[
        (
            "exim",
            "1",
            "Provides: mail-transport-agent\nConflicts: mail-transport-agent",
        ),
        (
            "postfix",
            "1",
            "Provides: mail-transport-agent\nConflicts: mail-transport-agent",
        ),
    ]);
    assert!(req(&["exim"]).run(&idx).is_ok());
    let e = req(&["exim", "postfix"]).run(&idx).unwrap_err().to_string();
    assert!(
        e.starts_with("`exim` Conflicts `mail-transport-agent`, which `postfix` 1 matches"),
        "{e}"
    );
}

#[test]
fn pins_and_candidates_across_repositories() {
    let old = packages(&[
        ("libssl3", "3.0.15-1~deb12u1", ""),
        (
            "openssl",
            "3.0.15-1~deb12u1",
            "Depends: libssl3 (>= 3.0.15)",
        ),
    ]);
    let new = packages(&[("libssl3", "3.0.16-1~deb12u1", "")]);
    let mut idx = PackageIndex::from_packages_text(&new, release("bookworm-security")).unwrap();
    let base = PackageIndex::from_packages_text(&old, release("bookworm")).unwrap();
    idx.releases.extend(base.releases);
    idx.packages.extend(base.packages);
    let r = req(&["openssl"]).run(&idx).unwrap();
    let libssl = r.get("libssl3").unwrap();
    assert_eq!(libssl.package.version(), "3.0.16-1~deb12u1");
    assert_eq!(libssl.package.release().suite, "bookworm-security");
    let r = req(&["openssl", "libssl3=3.0.15-1~deb12u1"])
        .run(&idx)
        .unwrap();
    assert_eq!(
        r.get("libssl3").unwrap().package.version(),
        "3.0.15-1~deb12u1"
    );
    let e = req(&["libssl3=3.0.14-1"])
        .run(&idx)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "package `libssl3` has no version `3.0.14-1`; available: 3.0.16-1~deb12u1, 3.0.15-1~deb12u1"
    );
}

#[test]
fn unknown_package_suggests_close_names() {
    let idx = index(&[("ca-certificates", "1", ""), ("libssl3", "1", "")]);
    let e = req(&["ca-certificate"]).run(&idx).unwrap_err().to_string();
    assert_eq!(
        e,
        "unknown package `ca-certificate`; did you mean `ca-certificates`?"
    );
    let e = req(&["zzzzzz"]).run(&idx).unwrap_err().to_string();
    assert_eq!(e, "unknown package `zzzzzz`");
}

#[test]
fn unsatisfiable_shows_the_chain() {
    let idx = index(&[
        (
            "python3",
            "3.11.2-1+b1",
            "Depends: python3.11 (>= 3.11.2-1~)",
        ),
        (
            "python3.11",
            "3.11.2-6",
            "Depends: libpython3.11-stdlib (= 3.11.2-6)",
        ),
        ("libpython3.11-stdlib", "3.11.2-6+deb12u1", ""),
    ]);
    let e = req(&["python3"]).run(&idx).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unsatisfiable dependency: python3 → python3.11 (>= 3.11.2-1~) → \
         libpython3.11-stdlib (= 3.11.2-6): only 3.11.2-6+deb12u1 is available"
    );
    let idx = index(&[("a", "1", "Depends: b | c (>= 2)"), ("c", "1", "")]);
    assert_eq!(
        req(&["a"]).run(&idx).unwrap_err().to_string(),
        "unsatisfiable dependency: a → b | c (>= 2): `b`: no package `b` is available; `c`: only 1 is available"
    );
}

#[test]
fn patterns_and_recommends() {
    let idx = index(&[
        ("dash", "1", "Essential: yes\nPriority: required"),
        ("bash", "1", "Essential: yes\nPriority: required\nDepends: base-files\nRecommends: bash-completion, missing-thing"),
        ("base-files", "1", "Essential: yes\nPriority: required"),
        ("bash-completion", "1", "Priority: standard"),
        ("apt", "1", "Priority: important"),
        ("sed", "1", "Essential: yes\nPriority: required"),
    ]);
    let r = req(&["?essential"]).exclude(&["sed"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["base-files", "bash", "dash"]);
    assert!(r.packages().iter().all(|s| s.requested));
    let r = req(&["?priority(important)"]).run(&idx).unwrap();
    assert_eq!(names(&r), ["apt"]);
    let r = req(&["bash"]).recommends().run(&idx).unwrap();
    assert_eq!(names(&r), ["base-files", "bash", "bash-completion"]);
    assert_eq!(
        r.get("bash-completion").unwrap().pulled_by[0].field,
        Field::Recommends
    );
    assert!(matches!(
        req(&["?foo"]).run(&idx).unwrap_err(),
        Error::UnknownPattern(_)
    ));
}

#[test]
fn result_does_not_depend_on_index_order() {
    let mut stanzas = vec![
        ("a", "1", "Depends: v, w | x"),
        ("p", "1", "Priority: optional\nProvides: v"),
        ("q", "1", "Priority: optional\nProvides: v"),
        ("w", "1", "Depends: missing"),
        ("x", "1", "Depends: y"),
        ("y", "1", ""),
    ];
    let expected = names(&req(&["a"]).run(&index(&stanzas)).unwrap())
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    assert_eq!(expected, ["a", "p", "x", "y"]);
    stanzas.reverse();
    let r = req(&["a"]).run(&index(&stanzas)).unwrap();
    assert_eq!(names(&r), expected);
}

/// Reads a Packages list, decompressing `.lz4` with `lz4` if needed.
fn read_list(path: &std::path::Path) -> Option<String> {
    if path.extension().is_some_and(|e| e == "lz4") {
        let out = std::process::Command::new("lz4")
            .args(["-dc"])
            .arg(path)
            .output()
            .ok()?;
        return out
            .status
            .success()
            .then(|| String::from_utf8(out.stdout).ok())?;
    }
    std::fs::read_to_string(path).ok()
}

/// The host's amd64 Packages lists as one index, or why they cannot be used.
fn host_index() -> Result<PackageIndex, String> {
    let lists = std::path::Path::new("/var/lib/apt/lists");
    let entries = std::fs::read_dir(lists).map_err(|_| format!("no {}", lists.display()))?;
    let arch = std::process::Command::new("dpkg")
        .arg("--print-architecture")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string());
    if arch.as_deref() != Some("amd64") {
        return Err("host architecture is not amd64".into());
    }
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains("_binary-amd64_Packages"))
        })
        .collect();
    files.sort();
    if !files.iter().any(|p| {
        p.to_string_lossy()
            .contains("_dists_bookworm_main_binary-amd64_Packages")
    }) {
        return Err(format!(
            "no bookworm main amd64 Packages list in {}",
            lists.display()
        ));
    }
    let mut idx = PackageIndex::default();
    for f in &files {
        let text = read_list(f).ok_or_else(|| format!("cannot read {}", f.display()))?;
        let part = PackageIndex::from_packages_text(&text, release("host")).unwrap();
        idx.releases.extend(part.releases);
        idx.packages.extend(part.packages);
    }
    Ok(idx)
}

/// What `apt-get install --simulate --no-install-recommends ARGS` installs
/// on an empty system with the host's lists, as `(name, version)`.
fn apt_simulate(args: &[&str]) -> Result<BTreeSet<(String, String)>, String> {
    let empty = std::env::temp_dir().join(format!(
        "bulwark-resolve-empty-status-{}-{}",
        std::process::id(),
        args.len()
    ));
    std::fs::write(&empty, "").map_err(|e| e.to_string())?;
    let out = std::process::Command::new("apt-get")
        .args(["install", "--simulate", "--no-install-recommends", "-qq"])
        .arg(format!("-oDir::State::status={}", empty.display()))
        .args(["-oAPT::Architectures=amd64", "-oDebug::NoLocking=1"])
        .args(args)
        .output();
    let _ = std::fs::remove_file(&empty);
    let out = out.map_err(|e| format!("apt-get: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "apt-get failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|l| {
            let (name, rest) = l.split_once(" (")?;
            let version = rest.split_whitespace().next()?;
            Some((name.to_string(), version.to_string()))
        })
        .collect())
}

fn set_of(r: &Resolution) -> BTreeSet<(String, String)> {
    r.packages()
        .iter()
        .map(|s| (s.name().to_string(), s.package.version().to_string()))
        .collect()
}

/// Resolves a small set against the host's lists and compares it with what
/// `apt-get install --simulate` would install on an empty system.
#[test]
fn live_agrees_with_apt_on_host_lists() {
    let idx =
        host_index().unwrap_or_else(|why| panic!("{why} (scripts/setup.sh runs apt-get update)"));
    let wanted = [
        "base-files",
        "netbase",
        "tzdata",
        "media-types",
        "ca-certificates",
        "libc6",
        "libssl3",
    ];
    let start = std::time::Instant::now();
    let r = req(&wanted).run(&idx).unwrap();
    eprintln!(
        "resolved {} packages from an index of {} in {:?}",
        r.packages().len(),
        idx.packages.len(),
        start.elapsed()
    );
    let apt = apt_simulate(&wanted).unwrap_or_else(|why| panic!("{why}"));
    assert!(!apt.is_empty());
    assert_eq!(set_of(&r), apt);
}

/// The closure of `?essential` against apt (slower: apt takes seconds). apt
/// is given our expansion of the pattern, because its own `?essential` also
/// matches `apt`, which apt flags essential itself. apt takes `usrmerge`
/// where the built-in table takes `usr-is-merged`, so `prefer` restores
/// apt's choice.
#[test]
fn live_essential_agrees_with_apt_on_host_lists() {
    let idx =
        host_index().unwrap_or_else(|why| panic!("{why} (scripts/setup.sh runs apt-get update)"));
    let start = std::time::Instant::now();
    let r = req(&["?essential"])
        .prefer(&["usrmerge"])
        .run(&idx)
        .unwrap();
    eprintln!(
        "resolved {} packages in {:?}",
        r.packages().len(),
        start.elapsed()
    );
    let roots: Vec<&str> = r
        .packages()
        .iter()
        .filter(|s| s.requested)
        .map(Selected::name)
        .collect();
    assert!(
        roots.contains(&"dpkg") && !roots.contains(&"apt"),
        "{roots:?}"
    );
    let apt = apt_simulate(&roots).unwrap_or_else(|why| panic!("{why}"));
    assert_eq!(set_of(&r), apt);
    let r = req(&["?essential"]).run(&idx).unwrap();
    assert!(r.get("usr-is-merged").is_some() && r.get("perl").is_none());
}
