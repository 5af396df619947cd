//! Machine-readable `debian/copyright` files (DEP-5) to SPDX license
//! expressions.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::OnceLock;

/// A package's declared license.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum License {
    /// Unknown: no copyright file, or one that is not machine-readable or
    /// that could not be read with certainty.
    NoAssertion,
    /// A valid SPDX license expression. Identifiers outside the SPDX License
    /// List are written as `LicenseRef-…`.
    Expression(String),
}

impl License {
    /// The expression, or `NOASSERTION`.
    pub fn as_str(&self) -> &str {
        match self {
            License::NoAssertion => "NOASSERTION",
            License::Expression(e) => e,
        }
    }
}

impl fmt::Display for License {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Turns a machine-readable `debian/copyright` file (copyright-format 1.0,
/// "DEP-5") into the SPDX expression of its whole package: the `License`
/// lines of all `Files` paragraphs, each translated to SPDX, combined with
/// `AND`, deduplicated and sorted.
///
/// Debian short names map to SPDX identifiers (`GPL-2+` → `GPL-2.0-or-later`,
/// `LGPL-2.1` → `LGPL-2.1-only`, `BSD-3-clause` → `BSD-3-Clause`, `Expat` →
/// `MIT`, `OpenLDAP-2.8` → `OLDAP-2.8`…); names without an SPDX identifier
/// become `LicenseRef-NAME` (`public-domain` → `LicenseRef-public-domain`).
/// Debian's `and`/`or` (with `,` lowering precedence) become `AND`/`OR`, and
/// `with X exception` becomes `WITH` when `X` is an SPDX exception, else the
/// whole term is one `LicenseRef`.
///
/// A file that is not machine-readable, or whose `Files` paragraphs have a
/// `License` line that is not a license expression (free text), yields
/// [`License::NoAssertion`]: never a guess.
pub fn license_from_copyright(text: &str) -> License {
    let paragraphs = scan_paragraphs(text);
    let Some(header) = paragraphs.first() else {
        return License::NoAssertion;
    };
    let machine_readable = header.iter().any(|(field, value)| {
        field.eq_ignore_ascii_case("format") && {
            let v = value.to_ascii_lowercase();
            v.contains("copyright-format") || v.contains("dep5") || v.contains("dep-5")
        }
    });
    if !machine_readable {
        return License::NoAssertion;
    }
    // Rendered operand → expression, so terms sort and deduplicate.
    let mut terms = BTreeMap::new();
    for paragraph in &paragraphs {
        if !paragraph
            .iter()
            .any(|(f, _)| f.eq_ignore_ascii_case("files"))
        {
            continue;
        }
        let Some((_, line)) = paragraph
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case("license"))
        else {
            return License::NoAssertion;
        };
        let Some(expr) = parse_debian(line) else {
            return License::NoAssertion;
        };
        // Flatten a top-level conjunction so that its parts deduplicate
        // against other paragraphs'.
        match expr {
            Expr::And(parts) => {
                for part in parts {
                    terms.insert(part.render_operand(), part);
                }
            }
            other => {
                terms.insert(other.render_operand(), other);
            }
        }
    }
    match terms.len() {
        0 => License::NoAssertion,
        1 => License::Expression(terms.into_values().map(|e| e.render()).collect()),
        _ => License::Expression(terms.into_keys().collect::<Vec<_>>().join(" AND ")),
    }
}

/// The `LicenseRef-` identifiers an expression uses.
pub(crate) fn license_refs(expression: &str) -> impl Iterator<Item = &str> {
    expression
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|t| t.starts_with("LicenseRef-"))
}

/// A parsed license expression.
#[derive(Debug, PartialEq, Eq)]
enum Expr {
    /// A license identifier, possibly `ID WITH EXCEPTION`.
    Term(String),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl Expr {
    /// Rendered canonically: the operands of `AND` and `OR` sorted and
    /// deduplicated (both are commutative).
    fn render(&self) -> String {
        match self {
            Expr::Term(t) => t.clone(),
            Expr::And(parts) => join(parts, " AND "),
            Expr::Or(parts) => join(parts, " OR "),
        }
    }

    /// Rendered to stand as an operand of `AND`: compound expressions are
    /// parenthesized.
    fn render_operand(&self) -> String {
        let rendered = self.render();
        match self {
            Expr::Term(_) => rendered,
            _ if !rendered.contains(' ') => rendered,
            _ => format!("({rendered})"),
        }
    }
}

fn join(parts: &[Expr], op: &str) -> String {
    let operands: BTreeSet<String> = parts.iter().map(Expr::render_operand).collect();
    operands.into_iter().collect::<Vec<_>>().join(op)
}

/// Parses the first line of a Debian `License` field. `None` when it is not
/// an expression of short names (e.g. license text on the first line).
fn parse_debian(line: &str) -> Option<Expr> {
    let mut result: Option<Expr> = None;
    for (i, segment) in line.split(',').enumerate() {
        let mut words = segment.split_whitespace().peekable();
        let op = if i == 0 {
            None
        } else {
            let op = words.next()?.to_ascii_lowercase();
            if op != "and" && op != "or" {
                return None;
            }
            Some(op)
        };
        let expr = parse_segment(&mut words)?;
        result = Some(match (result, op.as_deref()) {
            (None, _) => expr,
            (Some(left), Some("or")) => combine(left, expr, Expr::Or),
            (Some(left), _) => combine(left, expr, Expr::And),
        });
    }
    result
}

/// `left OP right`, flattening operands that already use `OP`.
fn combine(left: Expr, right: Expr, make: fn(Vec<Expr>) -> Expr) -> Expr {
    let mut parts = Vec::new();
    for side in [left, right] {
        match (side, make(Vec::new())) {
            (Expr::And(inner), Expr::And(_)) | (Expr::Or(inner), Expr::Or(_)) => {
                parts.extend(inner);
            }
            (other, _) => parts.push(other),
        }
    }
    make(parts)
}

/// `term (and|or term)*`, `and` binding tighter than `or` (as in SPDX).
fn parse_segment<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<Expr> {
    let words: Vec<&str> = words.collect();
    let mut alternatives: Vec<Expr> = Vec::new();
    let mut conjunction: Vec<Expr> = Vec::new();
    let mut i = 0;
    loop {
        // One term: NAME [with EXCEPTION WORDS…].
        let name = *words.get(i)?;
        if is_operator(name) || name.eq_ignore_ascii_case("with") {
            return None;
        }
        i += 1;
        let term = if words.get(i).is_some_and(|w| w.eq_ignore_ascii_case("with")) {
            i += 1;
            let start = i;
            while words.get(i).is_some_and(|w| !is_operator(w)) {
                i += 1;
            }
            if start == i {
                return None;
            }
            map_with(name, &words[start..i])
        } else {
            map_license(name)
        };
        conjunction.push(Expr::Term(term));
        match words.get(i) {
            None => break,
            Some(op) if op.eq_ignore_ascii_case("and") => {}
            Some(op) if op.eq_ignore_ascii_case("or") => {
                alternatives.push(collapse(std::mem::take(&mut conjunction), Expr::And));
            }
            // Two names in a row: free text, not an expression.
            Some(_) => return None,
        }
        i += 1;
    }
    alternatives.push(collapse(conjunction, Expr::And));
    Some(collapse(alternatives, Expr::Or))
}

fn is_operator(word: &str) -> bool {
    word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or")
}

fn collapse(mut parts: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        make(parts)
    }
}

/// `NAME with WORDS…`: `ID WITH EXCEPTION` when both have SPDX identifiers,
/// else one `LicenseRef` for the whole.
fn map_with(name: &str, words: &[&str]) -> String {
    let license = map_license(name);
    let mut exception_words = words;
    if let Some((last, rest)) = words.split_last() {
        if last.eq_ignore_ascii_case("exception") && !rest.is_empty() {
            exception_words = rest;
        }
    }
    let exception = exception_words.join("-");
    if !license.starts_with("LicenseRef-") {
        let ids = ids();
        let found = ids
            .exceptions
            .get(&exception.to_ascii_lowercase())
            .or_else(|| {
                ids.exceptions
                    .get(&format!("{exception}-exception").to_ascii_lowercase())
            });
        if let Some(found) = found {
            return format!("{license} WITH {found}");
        }
    }
    license_ref(&format!("{name}-with-{}", words.join("-")))
}

/// Maps one Debian short name to an SPDX identifier or a `LicenseRef`.
fn map_license(name: &str) -> String {
    let ids = ids();
    if let Some(id) = ids.licenses.get(&name.to_ascii_lowercase()) {
        return (*id).to_owned();
    }
    let (base, plus) = match name.strip_suffix('+') {
        Some(base) => (base, true),
        None => (name, false),
    };
    if let Some(id) = gnu(base, plus) {
        return id;
    }
    let lower = base.to_ascii_lowercase();
    let alias = match lower.as_str() {
        "expat" => Some("MIT".to_owned()),
        "cc0" => Some("CC0-1.0".to_owned()),
        _ => ["openldap-", "zope-"].iter().find_map(|prefix| {
            let version = lower.strip_prefix(prefix)?;
            let spdx = if *prefix == "zope-" { "ZPL-" } else { "OLDAP-" };
            Some(format!("{spdx}{version}"))
        }),
    };
    let candidates = [
        alias,
        Some(lower.clone()),
        // `Apache-2` → `Apache-2.0`, `MPL-2` → `MPL-2.0`.
        lower
            .rsplit_once('-')
            .filter(|(_, v)| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .map(|_| format!("{lower}.0")),
    ];
    for candidate in candidates.into_iter().flatten() {
        if let Some(id) = ids.licenses.get(&candidate.to_ascii_lowercase()) {
            // SPDX's `ID+` operator exists, but validators (spdx-tools,
            // license-expression) reject it for most identifiers: keep the
            // name opaque rather than narrow it to `ID`.
            if !plus {
                return (*id).to_owned();
            }
        }
    }
    license_ref(name)
}

/// GNU licenses: `GPL-2` → `GPL-2.0-only`, `LGPL-2.1+` →
/// `LGPL-2.1-or-later`, `GFDL-NIV-1.3+` → `GFDL-1.3-no-invariants-or-later`.
fn gnu(base: &str, plus: bool) -> Option<String> {
    let lower = base.to_ascii_lowercase();
    let (family, version, niv) = [
        ("gfdl-niv-", "GFDL", true),
        ("agpl-", "AGPL", false),
        ("lgpl-", "LGPL", false),
        ("gpl-", "GPL", false),
        ("gfdl-", "GFDL", false),
    ]
    .iter()
    .find_map(|(prefix, family, niv)| Some((*family, lower.strip_prefix(prefix)?, *niv)))?;
    let version = version.strip_suffix(".0").unwrap_or(version);
    let version = version
        .strip_suffix("-only")
        .or_else(|| version.strip_suffix("-or-later"))
        .map_or(version, |_| "");
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let version = if version.contains('.') {
        version.to_owned()
    } else {
        format!("{version}.0")
    };
    let suffix = if plus { "or-later" } else { "only" };
    let id = if niv {
        format!("{family}-{version}-no-invariants-{suffix}")
    } else {
        format!("{family}-{version}-{suffix}")
    };
    ids()
        .licenses
        .get(&id.to_ascii_lowercase())
        .map(|id| (*id).to_owned())
}

/// `LicenseRef-` plus `name` restricted to SPDX's `[A-Za-z0-9.-]`: `+`
/// becomes `-plus`, any other character `-`.
fn license_ref(name: &str) -> String {
    let mut out = String::from("LicenseRef-");
    for c in name.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '-' => out.push(c),
            '+' => out.push_str("-plus"),
            _ => out.push('-'),
        }
    }
    out
}

struct Ids {
    /// Lower-cased identifier → canonical identifier.
    licenses: HashMap<String, &'static str>,
    exceptions: HashMap<String, &'static str>,
}

/// The SPDX License List identifiers (licenses and exceptions, deprecated
/// ones excluded).
fn ids() -> &'static Ids {
    static IDS: OnceLock<Ids> = OnceLock::new();
    IDS.get_or_init(|| {
        let index = |text: &'static str| {
            text.lines()
                .filter(|l| !l.is_empty())
                .map(|l| (l.to_ascii_lowercase(), l))
                .collect()
        };
        Ids {
            licenses: index(include_str!("data/spdx-licenses.txt")),
            exceptions: index(include_str!("data/spdx-exceptions.txt")),
        }
    })
}

/// Splits deb822-like text into paragraphs of `(field, first line of the
/// value)`. Lenient: lines that are neither fields nor continuations are
/// ignored, as real copyright files contain stray text.
fn scan_paragraphs(text: &str) -> Vec<Vec<(&str, &str)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t', '#']) {
            continue;
        }
        if let Some((field, value)) = line.split_once(':') {
            if !field.is_empty() && !field.contains(char::is_whitespace) {
                current.push((field, value.trim()));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep5(licenses: &[&str]) -> String {
        let mut s = String::from(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: x\n",
        );
        for (i, l) in licenses.iter().enumerate() {
            s.push_str(&format!(
                "\nFiles: f{i}/*\nCopyright: 2020 Someone\nLicense: {l}\n"
            ));
        }
        s.push_str("\nLicense: GPL-2+\n This text belongs to a stand-alone license paragraph.\n");
        s
    }

    fn expr(licenses: &[&str]) -> String {
        license_from_copyright(&dep5(licenses)).as_str().to_owned()
    }

    #[test]
    fn maps_debian_short_names() {
        for (debian, spdx) in [
            ("GPL-2+", "GPL-2.0-or-later"),
            ("GPL-2", "GPL-2.0-only"),
            ("GPL-2.0+", "GPL-2.0-or-later"),
            ("GPL-3.0-or-later", "GPL-3.0-or-later"),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            ("LGPL-2+", "LGPL-2.0-or-later"),
            ("AGPL-3+", "AGPL-3.0-or-later"),
            ("GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"),
            ("GFDL-1.2", "GFDL-1.2-only"),
            ("BSD-3-clause", "BSD-3-Clause"),
            ("bsd-2-clause", "BSD-2-Clause"),
            ("BSD-4-clause-UC", "BSD-4-Clause-UC"),
            ("Expat", "MIT"),
            ("Apache-2.0", "Apache-2.0"),
            ("Apache-2", "Apache-2.0"),
            ("MPL-1.1+", "LicenseRef-MPL-1.1-plus"),
            // A licence of the SPDX License List, not an exception.
            (
                "MPL-2.0-no-copyleft-exception",
                "MPL-2.0-no-copyleft-exception",
            ),
            ("CC0", "CC0-1.0"),
            ("OpenLDAP-2.8", "OLDAP-2.8"),
            ("Zope-2.1", "ZPL-2.1"),
            ("Zlib", "Zlib"),
            ("public-domain", "LicenseRef-public-domain"),
            ("GPL", "LicenseRef-GPL"),
            ("Artistic", "LicenseRef-Artistic"),
            ("BSD-3-clause-generic", "LicenseRef-BSD-3-clause-generic"),
            ("GPL-9+", "LicenseRef-GPL-9-plus"),
        ] {
            assert_eq!(map_license(debian), spdx, "{debian}");
        }
    }

    #[test]
    fn operators_precedence_and_commas() {
        assert_eq!(
            expr(&["GPL-1+ or Artistic"]),
            "GPL-1.0-or-later OR LicenseRef-Artistic"
        );
        assert_eq!(
            expr(&["Artistic or GPL-1+", "GPL-1+ or Artistic"]),
            "GPL-1.0-or-later OR LicenseRef-Artistic"
        );
        assert_eq!(
            expr(&["GPL-2+ or AFL-2.1, and Expat and Tcl"]),
            "(AFL-2.1 OR GPL-2.0-or-later) AND MIT AND TCL"
        );
        assert_eq!(
            expr(&["REGCOMP, and GPL-1+ or Artistic"]),
            "(GPL-1.0-or-later OR LicenseRef-Artistic) AND LicenseRef-REGCOMP"
        );
        assert_eq!(
            expr(&["Expat or GPL-1+, or Artistic"]),
            "GPL-1.0-or-later OR LicenseRef-Artistic OR MIT"
        );
        // `and` binds tighter than `or`.
        assert_eq!(expr(&["MIT or ISC and Zlib"]), "(ISC AND Zlib) OR MIT");
        assert_eq!(
            expr(&["GPL-1+ or Artistic", "Zlib and MIT or ISC"]),
            "((MIT AND Zlib) OR ISC) AND (GPL-1.0-or-later OR LicenseRef-Artistic)"
        );
    }

    #[test]
    fn with_exceptions() {
        assert_eq!(
            expr(&["GPL-2 with Linux-syscall-note exception"]),
            "GPL-2.0-only WITH Linux-syscall-note"
        );
        assert_eq!(
            expr(&["GPL-2+ with Libtool exception"]),
            "GPL-2.0-or-later WITH Libtool-exception"
        );
        assert_eq!(
            expr(&["Apache-2.0 with LLVM exception"]),
            "Apache-2.0 WITH LLVM-exception"
        );
        // No SPDX exception by that exact name: one opaque reference.
        assert_eq!(
            expr(&["GPL-2+ with Autoconf exception"]),
            "LicenseRef-GPL-2-plus-with-Autoconf-exception"
        );
    }

    #[test]
    fn combines_sorted_and_deduplicated() {
        assert_eq!(
            expr(&["GPL-2+", "Expat", "GPL-2+", "MIT and BSD-3-clause"]),
            "BSD-3-Clause AND GPL-2.0-or-later AND MIT"
        );
    }

    #[test]
    fn free_text_or_missing_is_noassertion() {
        assert_eq!(
            license_from_copyright(&dep5(&["Permission to use, copy, modify"])),
            License::NoAssertion
        );
        assert_eq!(
            license_from_copyright(&dep5(&["GPL-2+ (see below)"])),
            License::NoAssertion
        );
        assert_eq!(
            license_from_copyright(&dep5(&["GPL-2+ or"])),
            License::NoAssertion
        );
        assert_eq!(license_from_copyright(&dep5(&[""])), License::NoAssertion);
        assert_eq!(license_from_copyright(&dep5(&[])), License::NoAssertion);
        assert_eq!(
            license_from_copyright(
                "This is the Debian prepackaged version of foo.\n\nLicense: GPL-2+\n"
            ),
            License::NoAssertion
        );
        assert_eq!(license_from_copyright(""), License::NoAssertion);
    }

    #[test]
    fn refs_are_listed() {
        let e = "(GPL-1.0-or-later OR LicenseRef-Artistic) AND LicenseRef-public-domain";
        assert_eq!(
            license_refs(e).collect::<Vec<_>>(),
            ["LicenseRef-Artistic", "LicenseRef-public-domain"]
        );
    }
}
