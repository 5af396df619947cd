//! Hostile specs: each limit refuses its class in linear time with a
//! one-line message that names the file and, where the parser knows it, the
//! line; what stays under the limits still loads.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bulwark_spec::{
    Spec, MAX_ANNOTATION_BYTES, MAX_DEPTH, MAX_ENVIRONMENT_VALUE_BYTES, MAX_NODES, MAX_SPEC_BYTES,
};

const BASE: &str = "name: x\nrepositories: host\npackages: [base-files]\n";

/// Generous: every refusal here takes milliseconds; the quadratic or
/// exponential paths they replace took minutes or never ended.
const QUICK: Duration = Duration::from_secs(5);

fn env(_: &str) -> Option<String> {
    None
}

/// Parses `text` as `dir/s.yaml`, which must be refused quickly with a
/// one-line message holding every needle. Returns the message.
#[track_caller]
fn refused(text: &str, needles: &[&str]) -> String {
    let start = Instant::now();
    let result = Spec::parse(text, Path::new("dir/s.yaml"), &env);
    let took = start.elapsed();
    let msg = match result {
        Ok(_) => panic!("accepted a {}-byte spec", text.len()),
        Err(e) => e.to_string(),
    };
    assert!(took < QUICK, "took {took:?}: {msg}");
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert!(msg.contains("dir/s.yaml"), "no file: {msg}");
    for n in needles {
        assert!(msg.contains(n), "`{n}` missing: {msg}");
    }
    msg
}

#[track_caller]
fn accepted(text: &str) -> Spec {
    Spec::parse(text, Path::new("dir/s.yaml"), &env).unwrap_or_else(|e| panic!("{e}"))
}

/// The classic: ten anchors, each a list of nine aliases of the one before
/// (9^9 nodes from half a kilobyte), under a key the spec does not know and
/// under one it does.
#[test]
fn billion_laughs_are_refused() {
    for key in ["unknown-key", "prefer"] {
        let mut text =
            format!("{BASE}{key}:\n  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("  - &a{i} [{refs}]\n"));
        }
        assert!(text.len() < 1024);
        refused(&text, &["aliases expanded", "nodes", "line "]);
    }
}

/// One long scalar, aliased from a list: few nodes, much text (the shape
/// that took a 1 MB spec to 8 GB through strings the spec does accept).
#[test]
fn aliases_of_long_text_are_refused() {
    let long = "x".repeat(400_000);
    let aliases = vec!["*s"; 200_000].join(",");
    let text = format!("{BASE}environment: {{A: &s {long}}}\ncmd: [{aliases}]\n");
    assert!(text.len() <= MAX_SPEC_BYTES);
    refused(&text, &["aliases expanded", "bytes of text", "line 5"]);
    // A number is text too: re-reading a long one per alias costs as much.
    let digits = "1".repeat(400_000);
    let text = format!("{BASE}environment: {{A: &n {digits}}}\ncmd: [*n, *n, *n]\n");
    refused(&text, &["bytes of text", "line 5"]);
}

#[test]
fn a_few_aliases_still_load() {
    let s = accepted(&format!(
        "{BASE}prefer: &p [usr-is-merged, mawk]\nenvironment: {{A: &v hello, B: *v}}\ncmd: [*v, *v]\n"
    ));
    assert_eq!(s.environment["B"], "hello");
    assert_eq!(s.cmd, ["hello", "hello"]);
    assert_eq!(s.prefer, ["usr-is-merged", "mawk"]);
}

#[test]
fn an_alias_inside_its_own_anchor_is_refused() {
    refused(
        &format!("{BASE}unknown: &a [x, *a]\n"),
        &["contains it", "line 4"],
    );
}

/// Flow and block nesting, as deep as a spec file may hold: libyaml's
/// scanner takes quadratic time on deep flow nesting (a minute and more
/// for this file), so it must be refused before libyaml reads it.
#[test]
fn deep_nesting_is_refused_in_linear_time() {
    let room = MAX_SPEC_BYTES - BASE.len() - 16;
    for (what, text, line) in [
        ("flow", format!("{BASE}cmd: {}\n", "[".repeat(room)), 4),
        (
            "flow mappings",
            format!("{BASE}cmd: {}\n", "{a: ".repeat(room / 4)),
            4,
        ),
        (
            "block",
            format!("{BASE}cmd:\n  {}x\n", "- ".repeat(room / 2)),
            5,
        ),
        (
            "closed",
            format!(
                "{BASE}cmd: {}{}\n",
                "[".repeat(room / 2),
                "]".repeat(room / 2)
            ),
            4,
        ),
    ] {
        assert!(text.len() <= MAX_SPEC_BYTES, "{what}");
        refused(
            &text,
            &[
                &format!("nests deeper than {MAX_DEPTH} levels"),
                &format!("line {line} "),
            ],
        );
    }
    // At the limit, nesting is only refused by the spec's own types.
    let at_limit = format!(
        "{BASE}cmd: {}x{}\n",
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    let msg = refused(&at_limit, &["cmd[0]"]);
    assert!(!msg.contains("nests deeper"), "{msg}");
}

/// An alias of a deep node, placed deep, nests deeper than either.
#[test]
fn aliases_count_for_depth() {
    let half = MAX_DEPTH / 2 + 1;
    let text = format!(
        "{BASE}unknown:\n  - &deep {}x{}\n  - {}*deep{}\n",
        "[".repeat(half),
        "]".repeat(half),
        "[".repeat(half),
        "]".repeat(half)
    );
    refused(&text, &["aliases expanded", "nests deeper", "line 6"]);
}

#[test]
fn too_many_nodes_are_refused() {
    let n = usize::try_from(MAX_NODES).unwrap() + 1;
    let text = format!("{BASE}cmd: [{}]\n", vec!["a"; n].join(","));
    refused(&text, &[&format!("more than {MAX_NODES} nodes"), "line 4"]);
}

#[test]
fn oversized_text_is_refused() {
    let text = format!("{BASE}cmd: [\"{}\"]\n", "a".repeat(MAX_SPEC_BYTES));
    refused(&text, &[&format!("the limit of {MAX_SPEC_BYTES}")]);
}

/// YAML that libyaml reads and saphyr does not is still read by libyaml
/// when it is small, has no alias and few brackets; a syntax error keeps
/// libyaml's wording.
#[test]
fn libyaml_still_reports_syntax_errors() {
    refused(
        &format!("{BASE}cmd: [a, b\n"),
        &["did not find expected ',' or ']' at line 5 column 1"],
    );
}

fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

#[track_caller]
fn load_refused(path: &Path, needles: &[&str]) {
    let start = Instant::now();
    let msg = match Spec::load(path) {
        Ok(_) => panic!("loaded {}", path.display()),
        Err(e) => e.to_string(),
    };
    assert!(start.elapsed() < QUICK, "{msg}");
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert!(
        msg.starts_with(&format!("cannot read spec `{}`", path.display())),
        "{msg}"
    );
    for n in needles {
        assert!(msg.contains(n), "`{n}` missing: {msg}");
    }
}

/// A spec path that is not a regular file is refused without reading (a
/// FIFO without a writer would block forever, `/dev/zero` never ends).
#[test]
fn a_spec_file_must_be_a_regular_file_of_bounded_size() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("fifo.yaml");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap_or_else(|e| panic!("mkfifo is needed for this test: {e}"));
    assert!(made.success());
    load_refused(&fifo, &["not a regular file (a FIFO)"]);
    let zero = d.join("zero.yaml");
    symlink("/dev/zero", &zero).unwrap();
    load_refused(&zero, &["not a regular file (a character device)"]);
    load_refused(d, &["not a regular file (a directory)"]);
    let big = write(d, "big.yaml", &vec![b'#'; MAX_SPEC_BYTES + 1]);
    load_refused(&big, &[&format!("larger than {MAX_SPEC_BYTES} bytes")]);
    let latin1 = write(d, "latin1.yaml", b"name: caf\xe9\n");
    load_refused(&latin1, &["UTF-8"]);
    // At the limit, and through a symlink to a regular file, it loads.
    let mut text = BASE.as_bytes().to_vec();
    text.resize(MAX_SPEC_BYTES, b'#');
    let full = write(d, "full.yaml", &text);
    let link = d.join("link.yaml");
    symlink(&full, &link).unwrap();
    let (spec, read) = Spec::load_with_text(&link).unwrap();
    assert_eq!(spec.name, "x");
    assert_eq!(read.len(), MAX_SPEC_BYTES);
}

#[test]
fn annotation_and_environment_values_are_bounded() {
    let ok_a = "a".repeat(MAX_ANNOTATION_BYTES);
    let ok_e = "e".repeat(MAX_ENVIRONMENT_VALUE_BYTES);
    accepted(&format!(
        "{BASE}annotations: {{org.example.a: {ok_a}}}\nenvironment: {{E: {ok_e}}}\n"
    ));
    refused(
        &format!("{BASE}annotations: {{org.example.a: {ok_a}b}}\n"),
        &[
            "annotations.org.example.a",
            &format!("the limit of {MAX_ANNOTATION_BYTES}"),
        ],
    );
    refused(
        &format!("{BASE}environment: {{E: {ok_e}f}}\n"),
        &[
            "environment.E",
            &format!("the limit of {MAX_ENVIRONMENT_VALUE_BYTES}"),
        ],
    );
    // Measured after expansion: a variable cannot smuggle a large value in.
    let big = |k: &str| (k == "BIG").then(|| "v".repeat(MAX_ENVIRONMENT_VALUE_BYTES + 1));
    let msg = Spec::parse(
        &format!("{BASE}environment: {{E: \"${{BIG}}\"}}\n"),
        Path::new("s.yaml"),
        &big,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("environment.E") && msg.contains("limit"),
        "{msg}"
    );
}
