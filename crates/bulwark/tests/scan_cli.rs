//! Hermetic tests of `bulwark db` and `bulwark scan`: a small OSV feed that
//! the test writes (a nested directory, and a flat zip served on 127.0.0.1
//! by the fixture server), root filesystems with a hand-written dpkg status
//! file, and the contract of each flag: formats, `--fail-on`,
//! `--ignore-unfixed`, `--vex`, where the database is, and the errors.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark_testkit::FixtureRepo;
use common::Run;
use serde_json::{json, Value};

/// The newest `modified` of the fixture feed. An instant half a second after
/// another record's `…10:00:00Z`, which sorts after it as text.
const NEWEST: &str = "2025-01-15T10:00:00.25Z";

/// One OSV record in the snapshot's shape: one `affected` entry per
/// (release, source package, fixed version, urgency).
fn osv(id: &str, modified: &str, affected: &[(&str, &str, Option<&str>, &str)]) -> Value {
    let affected: Vec<Value> = affected
        .iter()
        .map(|(release, package, fixed, urgency)| {
            let mut events = vec![json!({"introduced": "0"})];
            if let Some(fixed) = fixed {
                events.push(json!({"fixed": fixed}));
            }
            json!({
                "package": {"ecosystem": format!("Debian:{release}"), "name": package,
                            "purl": format!("pkg:deb/debian/{package}?arch=source")},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "ecosystem_specific": {"urgency": urgency},
            })
        })
        .collect();
    json!({"schema_version": "1.6.0", "id": id, "modified": modified, "affected": affected})
}

/// The feed: (path in the nested layout, record).
fn feed(newest: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut add = |path: &str, v: Value| out.push((path.to_string(), v));
    // openssl: fixed, urgency high.
    add(
        "CVE/2024/CVE-2024-5535.json",
        osv(
            "CVE-2024-5535",
            "2024-08-01T00:00:00Z",
            &[("12", "openssl", Some("3.0.14-1~deb12u1"), "high")],
        ),
    );
    let mut dsa = osv(
        "DSA-5750-1",
        "2024-08-02T00:00:00Z",
        &[(
            "12",
            "openssl",
            Some("3.0.14-1~deb12u1"),
            "not yet assigned",
        )],
    );
    dsa["related"] = json!(["CVE-2024-5535"]);
    add("DSA/2024/DSA-5750-1.json", dsa);
    // util-linux: fixed; no urgency, so the CVSS score decides (5.5: medium).
    let mut r = osv(
        "CVE-2024-28085",
        "2024-04-01T00:00:00Z",
        &[(
            "12",
            "util-linux",
            Some("2.38.1-5+deb12u1"),
            "not yet assigned",
        )],
    );
    r["severity"] =
        json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N"}]);
    add("CVE/2024/CVE-2024-28085.json", r);
    // zlib: open, unimportant (negligible).
    add(
        "CVE/2023/CVE-2023-45853.json",
        osv(
            "CVE-2023-45853",
            "2025-01-15T10:00:00Z",
            &[("12", "zlib", None, "unimportant")],
        ),
    );
    // unk: open, neither urgency nor CVSS (unknown).
    add(
        "CVE/2025/CVE-2025-1000.json",
        osv(
            "CVE-2025-1000",
            newest,
            &[("12", "unk", None, "not yet assigned")],
        ),
    );
    // nginx: must not match nginx.org's package.
    add(
        "CVE/2024/CVE-2024-7347.json",
        osv(
            "CVE-2024-7347",
            "2024-08-01T00:00:00Z",
            &[("12", "nginx", Some("1.99-1"), "low")],
        ),
    );
    // xz: only for trixie.
    add(
        "CVE/2024/CVE-2024-3094.json",
        osv(
            "CVE-2024-3094",
            "2024-04-01T00:00:00Z",
            &[("13", "xz-utils", Some("5.6.1+really5.4.5-1"), "high")],
        ),
    );
    out
}

const OS_RELEASE: &str =
    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";

/// A dpkg status paragraph.
fn para(name: &str, version: &str, extra: &str) -> String {
    format!(
        "Package: {name}\nStatus: install ok installed\nPriority: optional\n\
         Architecture: amd64\nMaintainer: Debian Maintainers <maint@lists.debian.org>\n\
         Version: {version}\n{extra}Description: {name}\n"
    )
}

/// The full fixture's packages: five with findings (libssl3 and openssl of
/// source openssl; bsdutils, whose binary version has an epoch and a binNMU;
/// zlib1g; libunk1), nginx.org's nginx, bookworm's liblzma5 (not affected
/// by CVE-2024-3094) and a removed package.
fn full_status() -> String {
    [
        para(
            "libssl3",
            "3.0.11-1~deb12u2",
            "Source: openssl\nMulti-Arch: same\n",
        ),
        para("openssl", "3.0.11-1~deb12u2", ""),
        para(
            "bsdutils",
            "1:2.38.1-5+b1",
            "Source: util-linux (2.38.1-5)\n",
        ),
        para("zlib1g", "1:1.2.13.dfsg-1", "Source: zlib\n"),
        para("libunk1", "1.0-1", "Source: unk\n"),
        para("liblzma5", "5.4.1-0.2", "Source: xz-utils\n"),
        para("nginx", "1.27.0-1~bookworm", "").replace(
            "Debian Maintainers <maint@lists.debian.org>",
            "NGINX Packaging <nginx-packaging@f5.com>",
        ),
        para("oldpkg", "1.0-1", "").replace("install ok installed", "deinstall ok config-files"),
    ]
    .join("\n")
}

/// One test's scratch directory and `bulwark` runner.
struct Cli {
    tmp: tempfile::TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// Writes the feed as a nested directory `rel` and returns its path.
    fn feed_dir(&self, rel: &str, records: &[(String, Value)]) -> PathBuf {
        let dir = self.path(rel);
        for (path, record) in records {
            let file = dir.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, serde_json::to_vec_pretty(record).unwrap()).unwrap();
        }
        dir
    }

    /// A root filesystem with os-release and a classic dpkg status file.
    fn rootfs(&self, rel: &str, status: &str) -> String {
        let root = self.path(rel);
        fs::create_dir_all(root.join("usr/lib")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
        fs::write(root.join("usr/lib/os-release"), OS_RELEASE).unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
        fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
        format!("rootfs:{}", root.display())
    }

    /// `bulwark` with a hermetic environment: no database variables, HOME
    /// and the working directory in the scratch directory, no colours.
    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bulwark"));
        c.current_dir(self.tmp.path())
            .env("HOME", self.tmp.path())
            .env("NO_COLOR", "1")
            .env_remove("BULWARK_DB")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY");
        c
    }

    fn run_with(&self, args: &[&str], envs: &[(&str, &Path)]) -> Run {
        let mut c = self.cmd();
        for (k, v) in envs {
            c.env(k, v);
        }
        let out = c.args(args).output().unwrap();
        Run {
            args: args.join(" "),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// Imports the fixture feed into `vuln.db`; returns the database path.
    fn db(&self) -> String {
        let feed = self.feed_dir("feed", &feed(NEWEST));
        let db = self.path("vuln.db");
        self.run(&["db", "import", s(&feed), "--db", s(&db)]).ok();
        s(&db).to_string()
    }

    /// `bulwark scan TARGET --db DB --format json EXTRA…`: (exit code, report).
    fn scan_json(&self, target: &str, db: &str, extra: &[&str]) -> (Option<i32>, Value) {
        let mut args = vec!["scan", target, "--db", db, "--format", "json"];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        let report = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("`bulwark {}`: no JSON ({e}):\n{run:#?}", run.args));
        (run.code, report)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// (package, id) of every finding of a report.
fn findings(report: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in report["packages"].as_array().unwrap() {
        for f in p["findings"].as_array().unwrap() {
            out.push((
                p["name"].as_str().unwrap().to_string(),
                f["id"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn finding<'a>(report: &'a Value, package: &str, id: &str) -> &'a Value {
    report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == package)
        .flat_map(|p| p["findings"].as_array().unwrap())
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id} of {package}: {report:#}"))
}

#[test]
fn db_import_and_info_in_both_formats_and_malformed_records_are_counted() {
    let cli = Cli::new();
    let mut records = feed(NEWEST);
    records.push((
        "CVE/2024/CVE-2024-9999.json".to_string(),
        json!({"id": "CVE-2024-9999", "affected": "not a list"}),
    ));
    let feed = cli.feed_dir("feed", &records);
    let db = cli.path("vuln.db");
    let run = cli.run(&["db", "import", s(&feed), "--db", s(&db)]).ok();
    assert!(
        run.stderr
            .contains(&format!("Imported 7 of 8 records into `{}`", db.display())),
        "{run:#?}"
    );
    assert!(run.stderr.contains("Skipped 1 malformed"), "{run:#?}");
    // The database is created like any file (0666 less the umask), not 0600.
    {
        use std::os::unix::fs::PermissionsExt;
        let plain = cli.path("plain");
        fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&db), mode(&plain));
    }
    let warning = run
        .stderr
        .lines()
        .find(|l| l.starts_with("warning: skipped "))
        .unwrap_or_else(|| panic!("no warning for the malformed record: {run:#?}"));
    assert!(warning.contains("CVE-2024-9999.json"), "{warning}");

    let info = cli.run(&["db", "info", "--db", s(&db)]).ok().stdout;
    let line = |key: &str| -> String {
        info.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no `{key}` line:\n{info}"))
            .to_string()
    };
    assert_eq!(
        line("newest modified:"),
        format!("newest modified: {NEWEST}")
    );
    assert_eq!(
        line("database:"),
        format!("database:        {}", db.display())
    );
    let source = line("source:");
    assert!(
        source.contains(&format!("\"location\":\"{}\"", feed.display()))
            && source.contains("\"kind\":\"osv-directory\"")
            && source.contains("\"records\":8"),
        "{source}"
    );
    assert!(
        line("release 12:").starts_with("release 12: 5 entries (3 fixed, 2 open"),
        "{info}"
    );

    let json: Value = serde_json::from_str(
        &cli.run(&["db", "info", "--db", s(&db), "--format", "json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["path"], s(&db));
    assert_eq!(json["info"]["newest_modified"], NEWEST);
    assert_eq!(json["info"]["sources"][0]["location"], s(&feed));
    assert_eq!(json["info"]["sources"][0]["kind"], "osv-directory");
    assert!(json["info"]["sources"][0]["sha256"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(json["info"]["releases"]["12"]["entries"], 5);
    assert_eq!(json["info"]["releases"]["13"]["entries"], 1);
}

#[test]
fn the_database_path_comes_from_the_flag_then_bulwark_db_then_xdg_cache_home() {
    let cli = Cli::new();
    let feed = cli.feed_dir("feed", &feed(NEWEST));
    let target = cli.rootfs("root", &full_status());
    let from_env = cli.path("env/vuln.db");
    let env = [("BULWARK_DB", from_env.as_path())];
    // BULWARK_DB alone: import, info and scan all use it.
    cli.run_with(&["db", "import", s(&feed)], &env).ok();
    assert!(from_env.is_file());
    let info = cli.run_with(&["db", "info", "--format", "json"], &env).ok();
    assert_eq!(
        serde_json::from_str::<Value>(&info.stdout).unwrap()["path"],
        s(&from_env)
    );
    let scan = cli
        .run_with(&["scan", &target, "--format", "json"], &env)
        .ok();
    assert_eq!(
        serde_json::from_str::<Value>(&scan.stdout).unwrap()["summary"]["findings"],
        5
    );
    // --db wins over BULWARK_DB.
    let flag = cli.path("flag.db");
    cli.run_with(&["db", "import", s(&feed), "--db", s(&flag)], &env)
        .ok();
    assert!(flag.is_file());
    let missing = cli.path("missing.db");
    let run = cli.run_with(&["scan", &target, "--db", s(&missing)], &env);
    run.error(2, &["missing.db"]);
    let run = cli.run_with(&["db", "info"], &[("BULWARK_DB", missing.as_path())]);
    run.error(2, &["missing.db"]);
    // Neither: $XDG_CACHE_HOME/bulwark/vuln.db.
    let cache = cli.path("xdg");
    let xdg = [("XDG_CACHE_HOME", cache.as_path())];
    cli.run_with(&["db", "import", s(&feed)], &xdg).ok();
    assert!(cache.join("bulwark/vuln.db").is_file());
    cli.run_with(&["scan", &target], &xdg).ok();
}

#[test]
fn db_update_downloads_a_flat_zip_from_a_local_server() {
    let cli = Cli::new();
    // OSV's all.zip is flat: one record per member, no folders.
    let flat = cli.feed_dir("flat", &[]);
    fs::create_dir_all(&flat).unwrap();
    for (path, record) in feed(NEWEST) {
        let name = Path::new(&path).file_name().unwrap().to_owned();
        fs::write(flat.join(name), serde_json::to_vec(&record).unwrap()).unwrap();
    }
    let server = FixtureRepo::builder().build();
    let served = server.dir().join("osv");
    fs::create_dir_all(&served).unwrap();
    common::tool(
        Command::new("zip")
            .args(["-q", "-j", "-X"])
            .arg(served.join("all.zip"))
            .args(
                fs::read_dir(&flat)
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .collect::<Vec<_>>(),
            ),
    );
    let url = format!("{}osv/all.zip", server.uri());
    let db = cli.path("vuln.db");
    let run = cli
        .run(&["db", "update", "--url", &url, "--db", s(&db)])
        .ok();
    assert!(run.stderr.contains("Imported 7 of 7 records"), "{run:#?}");
    let info: Value = serde_json::from_str(
        &cli.run(&["db", "info", "--db", s(&db), "--format", "json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(info["info"]["sources"][0]["location"], url.as_str());
    assert_eq!(info["info"]["sources"][0]["kind"], "osv-zip");
    assert_eq!(info["info"]["newest_modified"], NEWEST);
    let (_, report) = cli.scan_json(&cli.rootfs("root", &full_status()), s(&db), &[]);
    assert_eq!(report["summary"]["findings"], 5, "{report:#}");
    assert_eq!(report["database"]["sources"][0], url.as_str());
    // A download that fails is an input error naming the URL; the database
    // stays as it was.
    let before = fs::read(&db).unwrap();
    let missing = format!("{}osv/none.zip", server.uri());
    let run = cli.run(&["db", "update", "--url", &missing, "--db", s(&db)]);
    run.error(2, &[&missing, "404"]);
    assert_eq!(fs::read(&db).unwrap(), before);
    // A download that is no feed is named by its URL, not a temporary file.
    let half = served.join("half.zip");
    let whole = fs::read(served.join("all.zip")).unwrap();
    fs::write(&half, &whole[..whole.len() / 2]).unwrap();
    let half_url = format!("{}osv/half.zip", server.uri());
    let run = cli.run(&["db", "update", "--url", &half_url, "--db", s(&db)]);
    run.error(
        2,
        &[&format!("`{half_url}`: the download is not a readable zip")],
    );
    assert!(!run.stderr.contains("/tmp"), "{run:#?}");
    // Only HTTP(S) is downloaded.
    let file_url = format!("file://{}", served.join("all.zip").display());
    let run = cli.run(&["db", "update", "--url", &file_url, "--db", s(&db)]);
    run.error(2, &["only http:// and https://", "bulwark db import PATH"]);
    assert_eq!(fs::read(&db).unwrap(), before);
}

#[test]
fn scan_matches_by_source_and_reports_table_and_json() {
    let cli = Cli::new();
    let db = cli.db();
    let target = cli.rootfs("root", &full_status());
    let (code, report) = cli.scan_json(&target, &db, &[]);
    assert_eq!(code, Some(0), "no --fail-on: exit 0 with findings");
    assert_eq!(report["schema"], "bulwark-scan-report/v1");
    assert_eq!(report["target"]["reference"], target.as_str());
    assert_eq!(report["target"]["digest"], Value::Null);
    assert_eq!(report["target"]["release"], "12");
    assert_eq!(report["target"]["codename"], "bookworm");
    let mut got = findings(&report);
    got.sort();
    assert_eq!(
        got,
        [
            ("bsdutils", "CVE-2024-28085"),
            ("libssl3", "CVE-2024-5535"),
            ("libunk1", "CVE-2025-1000"),
            ("openssl", "CVE-2024-5535"),
            ("zlib1g", "CVE-2023-45853"),
        ]
        .map(|(p, i)| (p.to_string(), i.to_string()))
    );
    let ssl = finding(&report, "libssl3", "CVE-2024-5535");
    assert_eq!(ssl["severity"], "high");
    assert_eq!(ssl["fixed_version"], "3.0.14-1~deb12u1");
    assert_eq!(ssl["advisories"], json!(["DSA-5750-1"]));
    let bsd = finding(&report, "bsdutils", "CVE-2024-28085");
    assert_eq!(bsd["severity"], "medium", "CVSS 5.5 without urgency");
    assert_eq!(bsd["cvss_v3_score"], 5.5);
    assert_eq!(
        finding(&report, "zlib1g", "CVE-2023-45853")["severity"],
        "negligible"
    );
    assert_eq!(
        finding(&report, "libunk1", "CVE-2025-1000")["severity"],
        "unknown"
    );
    let bsd_pkg = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bsdutils")
        .unwrap();
    assert_eq!(bsd_pkg["source_name"], "util-linux");
    assert_eq!(bsd_pkg["source_version"], "2.38.1-5");
    assert_eq!(report["not_debian"][0]["name"], "nginx");
    assert_eq!(report["not_installed"][0]["name"], "oldpkg");
    let summary = &report["summary"];
    assert_eq!(
        (
            &summary["packages_scanned"],
            &summary["packages_affected"],
            &summary["findings"],
            &summary["fixable"]
        ),
        (&json!(7), &json!(5), &json!(5), &json!(3))
    );
    assert!(!report.to_string().contains("CVE-2024-3094"));
    assert!(!report.to_string().contains("CVE-2024-7347"));

    let table = cli
        .run(&["scan", &target, "--db", &db, "--format", "table"])
        .ok()
        .stdout;
    let row = table
        .lines()
        .find(|l| l.starts_with("libssl3 "))
        .unwrap_or_else(|| panic!("no libssl3 row:\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "libssl3",
            "3.0.11-1~deb12u2",
            "CVE-2024-5535",
            "high",
            "fixed",
            "3.0.14-1~deb12u1"
        ],
        "{table}"
    );
    for needle in [
        "Debian release: 12 (bookworm)",
        "5 findings in 5 of 7 packages (2 high, 1 medium, 1 negligible, 1 unknown); 3 fixable.",
        "upgrade libssl3 (openssl 3.0.11-1~deb12u2) to the build of source version 3.0.14-1~deb12u1 or later",
        "upgrade bsdutils (util-linux 2.38.1-5) to the build of source version 2.38.1-5+deb12u1 or later",
        "Not matched, not built by Debian: 1",
        "  nginx 1.27.0-1~bookworm: its maintainer `NGINX Packaging <nginx-packaging@f5.com>` is a third-party packager",
        "Not matched, not installed: 1",
    ] {
        assert!(table.contains(needle), "no `{needle}` in:\n{table}");
    }
    // No colours when stdout is not a terminal.
    assert!(!table.contains('\x1b'));
}

#[test]
fn fail_on_trips_at_the_threshold_and_unknown_only_when_asked() {
    let cli = Cli::new();
    let db = cli.db();
    let full = cli.rootfs("full", &full_status());
    for (threshold, code) in [
        (None, 0),
        (Some("critical"), 0),
        (Some("high"), 1),
        (Some("medium"), 1),
        (Some("negligible"), 1),
        (Some("unknown"), 1),
    ] {
        let extra: Vec<&str> = threshold.iter().flat_map(|t| ["--fail-on", *t]).collect();
        let (got, _) = cli.scan_json(&full, &db, &extra);
        assert_eq!(got, Some(code), "--fail-on {threshold:?}");
    }
    // Only a finding of unknown severity: no threshold but `unknown` trips.
    let unknown = cli.rootfs("unknown", &para("libunk1", "1.0-1", "Source: unk\n"));
    for (threshold, code) in [
        (None, 0),
        (Some("negligible"), 0),
        (Some("critical"), 0),
        (Some("unknown"), 1),
    ] {
        let mut args = vec!["scan", unknown.as_str(), "--db", db.as_str()];
        if let Some(t) = threshold {
            args.extend(["--fail-on", t]);
        }
        let run = cli.run(&args);
        assert_eq!(run.code, Some(code), "--fail-on {threshold:?}: {run:#?}");
        assert!(run.stdout.contains("CVE-2025-1000"), "{run:#?}");
    }
    // A finding of a fixed package does not trip.
    let fixed = cli.rootfs(
        "fixed",
        &para("libssl3", "3.0.14-1~deb12u1", "Source: openssl\n"),
    );
    let (code, report) = cli.scan_json(&fixed, &db, &["--fail-on", "unknown"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(findings(&report).is_empty());
}

#[test]
fn fail_on_exits_2_when_nothing_could_be_matched() {
    let cli = Cli::new();
    let db = cli.db();
    let status = full_status();
    // Each way the release can stay unknown, or unknown to the database:
    // the os-release text (None: no os-release at all) and the warning.
    for (name, os_release, warning) in [
        (
            "none",
            None,
            "no os-release found, so the Debian release is unknown",
        ),
        (
            "ubuntu",
            Some("ID=ubuntu\nVERSION_ID=\"24.04\"\n"),
            "the operating system is `ubuntu`, not Debian",
        ),
        (
            "unversioned",
            Some("ID=debian\nPRETTY_NAME=\"Debian\"\n"),
            "os-release has neither VERSION_ID nor VERSION_CODENAME",
        ),
        (
            "bullseye",
            Some("ID=debian\nVERSION_ID=\"11\"\nVERSION_CODENAME=bullseye\n"),
            "the database has no entries for Debian release `11`",
        ),
    ] {
        let target = cli.rootfs(name, &status);
        let root = cli.path(name);
        match os_release {
            Some(text) => fs::write(root.join("usr/lib/os-release"), text).unwrap(),
            None => {
                fs::remove_file(root.join("etc/os-release")).unwrap();
                fs::remove_file(root.join("usr/lib/os-release")).unwrap();
            }
        }
        // Without --fail-on: the warning, exit 0, a report.
        let (code, report) = cli.scan_json(&target, &db, &[]);
        assert_eq!(code, Some(0), "{name}: {report:#}");
        assert!(findings(&report).is_empty(), "{name}: {report:#}");
        assert!(
            report["warnings"].to_string().contains(warning),
            "{name}: {report:#}"
        );
        // With it: exit 2 after the report, the warning, then the error.
        let out = cli.path(&format!("{name}.json"));
        let run = cli.run(&[
            "scan",
            &target,
            "--db",
            &db,
            "--fail-on",
            "low",
            "-o",
            s(&out),
        ]);
        run.error(
            2,
            &[
                "`--fail-on` cannot pass a scan that checked nothing",
                warning,
            ],
        );
        assert!(
            run.stderr.contains(&format!("warning: {warning}")),
            "{name}: {run:#?}"
        );
        assert!(out.is_file(), "{name}: no report written");
    }
    // An identified image without findings passes.
    let clean = cli.rootfs(
        "clean",
        &para("libssl3", "3.0.14-1~deb12u1", "Source: openssl\n"),
    );
    let (code, report) = cli.scan_json(&clean, &db, &["--fail-on", "low"]);
    assert_eq!(code, Some(0), "{report:#}");
}

#[test]
fn ignore_unfixed_keeps_only_findings_with_a_fix() {
    let cli = Cli::new();
    let db = cli.db();
    let target = cli.rootfs("root", &full_status());
    let (_, all) = cli.scan_json(&target, &db, &[]);
    let (code, fixable) =
        cli.scan_json(&target, &db, &["--ignore-unfixed", "--fail-on", "unknown"]);
    assert_eq!(code, Some(1), "the fixable high finding still trips");
    let mut got = findings(&fixable);
    got.sort();
    assert_eq!(
        got,
        [
            ("bsdutils", "CVE-2024-28085"),
            ("libssl3", "CVE-2024-5535"),
            ("openssl", "CVE-2024-5535"),
        ]
        .map(|(p, i)| (p.to_string(), i.to_string()))
    );
    assert_eq!(fixable["summary"]["findings"], all["summary"]["fixable"]);
    // Without a fixable finding, nothing is left to trip.
    let unfixed = cli.rootfs(
        "unfixed",
        &para("zlib1g", "1:1.2.13.dfsg-1", "Source: zlib\n"),
    );
    let (code, report) =
        cli.scan_json(&unfixed, &db, &["--ignore-unfixed", "--fail-on", "unknown"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["summary"]["findings"], 0);
}

/// Checks the OpenVEX v0.2.0 shape of `doc`; returns its statements.
fn openvex_statements(doc: &Value) -> &Vec<Value> {
    assert_eq!(doc["@context"], "https://openvex.dev/ns/v0.2.0", "{doc:#}");
    assert!(
        doc["@id"].as_str().is_some_and(|id| !id.is_empty()),
        "{doc:#}"
    );
    assert!(
        doc["author"].as_str().is_some_and(|a| !a.is_empty()),
        "{doc:#}"
    );
    assert!(doc["version"].as_u64().is_some_and(|v| v >= 1), "{doc:#}");
    assert!(doc["timestamp"].is_string(), "{doc:#}");
    let statements = doc["statements"].as_array().expect("statements");
    for st in statements {
        assert!(
            st["vulnerability"]["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty()),
            "{st:#}"
        );
        let products = st["products"].as_array().expect("products");
        assert!(!products.is_empty(), "{st:#}");
        for p in products {
            assert!(
                p["@id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("pkg:deb/debian/")),
                "{st:#}"
            );
        }
        match st["status"].as_str().unwrap() {
            "not_affected" => {
                let justification = st["justification"].as_str();
                assert!(
                    justification.is_some_and(|j| [
                        "component_not_present",
                        "vulnerable_code_not_present",
                        "vulnerable_code_not_in_execute_path",
                        "vulnerable_code_cannot_be_controlled_by_adversary",
                        "inline_mitigations_already_exist",
                    ]
                    .contains(&j))
                        || st["impact_statement"]
                            .as_str()
                            .is_some_and(|i| !i.is_empty()),
                    "not_affected needs a justification or an impact statement: {st:#}"
                );
            }
            "affected" => assert!(
                st["action_statement"]
                    .as_str()
                    .is_some_and(|a| !a.is_empty()),
                "affected needs an action statement: {st:#}"
            ),
            "fixed" | "under_investigation" => {}
            other => panic!("status `{other}`: {st:#}"),
        }
    }
    statements
}

#[test]
fn vex_suppresses_findings_and_openvex_output_is_valid() {
    let cli = Cli::new();
    let db = cli.db();
    let target = cli.rootfs("root", &full_status());
    let vex = cli.path("triage.openvex.json");
    let write_vex = |statements: Value| {
        let doc = json!({
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://example.invalid/vex/1",
            "author": "triage",
            "timestamp": "2025-01-01T00:00:00Z",
            "version": 1,
            "statements": statements,
        });
        fs::write(&vex, serde_json::to_vec(&doc).unwrap()).unwrap();
    };
    write_vex(json!([
        {"vulnerability": {"name": "CVE-2023-45853"},
         "products": [{"@id": "pkg:deb/debian/zlib1g"}],
         "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"},
        {"vulnerability": {"name": "CVE-2025-1000"}, "status": "affected",
         "action_statement": "wait"},
        {"vulnerability": {"name": "CVE-2024-5535"},
         "products": [{"@id": "pkg:deb/debian/libssl3@3.0.11-1~deb12u1"}],
         "status": "fixed"},
    ]));
    let (_, report) = cli.scan_json(&target, &db, &["--vex", s(&vex)]);
    let mut got = findings(&report);
    got.sort();
    // zlib1g's finding is suppressed; libunk1's `affected` statement and the
    // `fixed` statement for another libssl3 version change nothing.
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(!got.contains(&("zlib1g".to_string(), "CVE-2023-45853".to_string())));
    assert_eq!(report["summary"]["suppressed"], 1);
    assert_eq!(
        report["suppressed"],
        json!([{"package": "zlib1g", "version": "1:1.2.13.dfsg-1", "id": "CVE-2023-45853",
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path", "impact_statement": null}])
    );
    let table = cli
        .run(&["scan", &target, "--db", &db, "--vex", s(&vex)])
        .ok()
        .stdout;
    assert!(
        table.contains("Suppressed by VEX: 1\n  CVE-2023-45853 in zlib1g: not_affected (vulnerable_code_not_in_execute_path)\n"),
        "{table}"
    );
    assert!(!table.lines().any(|l| l.starts_with("zlib1g ")), "{table}");

    // OpenVEX out: an `affected` statement per finding, the input's status
    // for the suppressed one; reproducible.
    let args = [
        "scan",
        &target,
        "--db",
        &db,
        "--vex",
        s(&vex),
        "--format",
        "openvex",
    ];
    let out = cli.run(&args).ok().stdout;
    assert_eq!(
        cli.run(&args).ok().stdout,
        out,
        "OpenVEX output is not reproducible"
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    let statements = openvex_statements(&doc);
    assert_eq!(statements.len(), 5, "{doc:#}");
    assert_eq!(doc["timestamp"], NEWEST);
    let zlib = statements
        .iter()
        .find(|st| st["vulnerability"]["name"] == "CVE-2023-45853")
        .unwrap();
    assert_eq!(zlib["status"], "not_affected");
    assert_eq!(
        zlib["products"][0]["@id"],
        "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1"
    );
    let ssl = statements
        .iter()
        .find(|st| {
            st["vulnerability"]["name"] == "CVE-2024-5535"
                && st["products"][0]["@id"]
                    .as_str()
                    .unwrap()
                    .starts_with("pkg:deb/debian/libssl3@")
        })
        .unwrap();
    assert_eq!(ssl["status"], "affected");
    assert!(
        ssl["action_statement"]
            .as_str()
            .unwrap()
            .contains("3.0.14-1~deb12u1"),
        "{ssl:#}"
    );
    // Without --vex every statement is `affected`.
    let plain: Value = serde_json::from_str(
        &cli.run(&["scan", &target, "--db", &db, "--format", "openvex"])
            .ok()
            .stdout,
    )
    .unwrap();
    let statuses: Vec<&Value> = openvex_statements(&plain)
        .iter()
        .map(|st| &st["status"])
        .collect();
    assert_eq!(statuses, [&json!("affected"); 5]);

    // A `not_affected` statement without a reason is not OpenVEX.
    write_vex(json!([{"vulnerability": {"name": "CVE-2023-45853"}, "status": "not_affected"}]));
    let run = cli.run(&["scan", &target, "--db", &db, "--vex", s(&vex)]);
    run.error(
        2,
        &["triage.openvex.json", "CVE-2023-45853", "justification"],
    );
}

#[test]
fn a_missing_or_damaged_database_is_exit_2_with_a_hint() {
    let cli = Cli::new();
    let target = cli.rootfs("root", &full_status());
    let missing = cli.path("none/vuln.db");
    let run = cli.run(&["scan", &target, "--db", s(&missing)]);
    run.error(
        2,
        &[
            &format!("no vulnerability database at `{}`", missing.display()),
            "bulwark db import",
            "bulwark db update",
        ],
    );
    assert!(run.stdout.is_empty(), "{run:#?}");
    // The default location, named in the error.
    let run = cli.run(&["scan", &target]);
    run.error(2, &[".cache/bulwark/vuln.db", "bulwark db import"]);
    let run = cli.run(&["db", "info", "--db", s(&missing)]);
    run.error(2, &["no vulnerability database", "bulwark db import"]);
    // Not a database.
    let junk = cli.path("junk.db");
    fs::write(&junk, b"not a database").unwrap();
    let run = cli.run(&["scan", &target, "--db", s(&junk)]);
    run.error(
        2,
        &["junk.db", "not a valid bulwark vulnerability database"],
    );
    // An SBOM named without its `sbom:` prefix gets the hint, before the
    // database is even looked for.
    let sbom = cli.path("image.spdx.json");
    fs::write(&sbom, b"\n  {\"spdxVersion\": \"SPDX-2.3\"}").unwrap();
    let run = cli.run(&["scan", s(&sbom), "--db", s(&missing)]);
    run.error(2, &["is a JSON file", &format!("sbom:{}", sbom.display())]);
    // A truncated import input leaves no database behind.
    let zip = cli.path("cut.zip");
    fs::write(&zip, b"PK\x03\x04truncated").unwrap();
    let run = cli.run(&["db", "import", s(&zip), "--db", s(&missing)]);
    run.error(2, &["cut.zip"]);
    assert!(!missing.exists());
}

/// Now as RFC 3339 UTC, for a feed that is fresh.
fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn a_database_older_than_7_days_is_a_warning_in_every_format() {
    let cli = Cli::new();
    let target = cli.rootfs("root", &full_status());
    // The fixture's newest record is from January 2025.
    let old = cli.db();
    let run = cli
        .run(&["scan", &target, "--db", &old, "--format", "json"])
        .ok();
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("days old"))
        .collect();
    assert_eq!(warnings.len(), 1, "one stale warning on stderr: {run:#?}");
    assert!(
        warnings[0].starts_with("warning: the vulnerability database is ")
            && warnings[0].contains(&format!("(newest record {NEWEST})")),
        "{}",
        warnings[0]
    );
    // The command line says how to update it.
    assert!(
        run.stderr
            .contains("warning: update the database with `bulwark db update --url URL`"),
        "{}",
        run.stderr
    );
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["warnings"],
        json!([warnings[0].strip_prefix("warning: ").unwrap()]),
        "{report:#}"
    );
    let sarif: Value = serde_json::from_str(
        &cli.run(&["scan", &target, "--db", &old, "--format", "sarif"])
            .ok()
            .stdout,
    )
    .unwrap();
    let notes = &sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"];
    assert_eq!(
        notes[0]["message"]["text"], report["warnings"][0],
        "{sarif:#}"
    );
    let table = cli.run(&["scan", &target, "--db", &old]).ok().stdout;
    assert!(
        table.contains("warning: the vulnerability database is "),
        "{table}"
    );

    // A feed modified today: no warning.
    let feed = cli.feed_dir("fresh-feed", &feed(&now_rfc3339()));
    let fresh = cli.path("fresh.db");
    cli.run(&["db", "import", s(&feed), "--db", s(&fresh)]).ok();
    let run = cli
        .run(&["scan", &target, "--db", s(&fresh), "--format", "json"])
        .ok();
    assert!(!run.stderr.contains("warning"), "{run:#?}");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["warnings"], json!([]));

    // The Security Tracker's JSON has no dates: the file's age counts.
    let tracker = cli.path("tracker.json");
    fs::write(
        &tracker,
        serde_json::to_vec(
            &json!({"zlib": {"CVE-2023-45853": {"releases": {"bookworm": {
                "status": "open", "urgency": "low", "repositories": {"bookworm": "1:1.2.13.dfsg-1"}
            }}}}}),
        )
        .unwrap(),
    )
    .unwrap();
    let dateless = cli.path("tracker.db");
    cli.run(&["db", "import", s(&tracker), "--db", s(&dateless)])
        .ok();
    let scan = || cli.run(&["scan", &target, "--db", s(&dateless)]).ok();
    assert!(!scan().stderr.contains("warning: the vulnerability"));
    let ten_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86_400);
    fs::File::options()
        .write(true)
        .open(&dateless)
        .unwrap()
        .set_modified(ten_days_ago)
        .unwrap();
    let run = scan();
    assert!(
        run.stderr.contains("warning: the vulnerability database was written 10 days ago and its records carry no dates"),
        "{run:#?}"
    );
}

#[test]
fn a_tree_without_a_dpkg_database_is_a_warning_not_silence() {
    let cli = Cli::new();
    let db = cli.db();
    let empty = cli.path("empty-root");
    fs::create_dir_all(empty.join("etc")).unwrap();
    let target = format!("rootfs:{}", empty.display());
    let warning = format!("warning: `{target}` holds no installed Debian package");
    let run = cli.run(&["scan", &target, "--db", &db]).ok();
    assert!(run.stderr.contains(&warning), "{run:#?}");
    let out = cli.path("empty.spdx.json");
    let run = cli.run(&["sbom", &target, "-o", s(&out)]).ok();
    assert!(run.stderr.contains(&warning), "{run:#?}");
    // A tree with packages says nothing of the kind.
    let full = cli.rootfs("root", &full_status());
    let run = cli.run(&["scan", &full, "--db", &db]).ok();
    assert!(!run.stderr.contains("holds no installed"), "{run:#?}");
}

#[test]
fn sbom_supplier_must_be_an_spdx_actor() {
    let cli = Cli::new();
    let target = cli.rootfs("root", &full_status());
    let out = cli.path("s.spdx.json");
    for (bad, says) in [
        ("Person: ", "names no one"),
        ("Organization:   (x@example.org)", "names no one"),
        ("ACME Corp", "must start with"),
        ("Person: A\nB", "one line"),
    ] {
        let run = cli.run(&["sbom", &target, "--supplier", bad, "-o", s(&out)]);
        run.error(2, &["--supplier", says]);
        assert!(!out.exists());
    }
    cli.run(&[
        "sbom",
        &target,
        "--supplier",
        "Organization: ACME (sec@example.org)",
        "-o",
        s(&out),
    ])
    .ok();
    let doc: Value = serde_json::from_slice(&fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        doc["packages"][0]["supplier"],
        "Organization: ACME (sec@example.org)"
    );
}
