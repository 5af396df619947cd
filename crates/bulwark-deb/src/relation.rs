//! Dependency relation fields: `Depends`, `Pre-Depends`, `Recommends`,
//! `Conflicts`, `Breaks`, `Provides`, `Replaces` and `Build-Depends`.
//!
//! A field is a comma-separated list of [`Dependency`]s; each is one or more
//! alternatives (`a | b`), each a [`Relation`]:
//!
//! ```text
//! name[:arch] [(op version)] [[arch list]] [<build profiles>]...
//! ```
//!
//! Whitespace, including the newlines of folded fields, may appear between
//! any two tokens.

use std::fmt;

use crate::version::{Version, VersionError};

/// Why a relation field could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid relation `{relation}`: {reason}")]
pub struct RelationError {
    /// The offending relation (one alternative), trimmed.
    pub relation: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A version comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<<`: strictly earlier.
    Lt,
    /// `<=` (and the obsolete `<`): earlier or equal.
    Le,
    /// `=`: equal.
    Eq,
    /// `>=` (and the obsolete `>`): later or equal.
    Ge,
    /// `>>`: strictly later.
    Gt,
}

impl Op {
    /// The operator as Debian writes it (`<<`, `<=`, `=`, `>=`, `>>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }

    /// Whether a version comparing as `ord` against the constraint's version
    /// (`candidate.cmp(constraint)`) satisfies the operator.
    pub fn accepts(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
            Op::Eq => ord == Equal,
            Op::Ge => ord != Less,
            Op::Gt => ord == Greater,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One package relation, e.g. `libc6 (>= 2.34)` or `python3:any`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Relation {
    /// The package (or virtual package) name.
    pub name: String,
    /// The architecture qualifier after `:`: `any`, `native` or an
    /// architecture name.
    pub arch_qualifier: Option<String>,
    /// The version constraint.
    pub constraint: Option<(Op, Version)>,
    /// The architecture restriction list (`[amd64 !i386]`), entries as
    /// written; only found in source package fields.
    pub arch_restrictions: Vec<String>,
    /// The build profile formulas (`<!nocheck> <stage1 cross>`), the
    /// contents of each `<…>` group with whitespace normalized; only found in
    /// source package fields.
    pub build_profiles: Vec<String>,
}

impl Relation {
    /// Whether `version` (of a package with this relation's name) satisfies
    /// the version constraint; always true without one.
    pub fn satisfied_by_version(&self, version: &Version) -> bool {
        match &self.constraint {
            None => true,
            Some((op, wanted)) => op.accepts(version.cmp(wanted)),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch_qualifier {
            write!(f, ":{arch}")?;
        }
        if let Some((op, version)) = &self.constraint {
            write!(f, " ({op} {version})")?;
        }
        if !self.arch_restrictions.is_empty() {
            write!(f, " [{}]", self.arch_restrictions.join(" "))?;
        }
        for profile in &self.build_profiles {
            write!(f, " <{profile}>")?;
        }
        Ok(())
    }
}

/// One entry of a relation field: alternatives, any of which satisfies it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// The alternatives, in the order written (never empty).
    pub alternatives: Vec<Relation>,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, relation) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{relation}")?;
        }
        Ok(())
    }
}

/// Parses a relation field such as `Depends`. Empty entries (a trailing
/// comma, an empty field) are skipped.
pub fn parse(field: &str) -> Result<Vec<Dependency>, RelationError> {
    let mut out = Vec::new();
    for entry in field.split(',') {
        if entry.trim().is_empty() {
            continue;
        }
        let alternatives = entry
            .split('|')
            .map(parse_relation)
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Dependency { alternatives });
    }
    Ok(out)
}

/// Parses a `Provides` field: like [`parse`], but without alternatives, and
/// `=` is the only operator allowed.
pub fn parse_provides(field: &str) -> Result<Vec<Relation>, RelationError> {
    let mut out = Vec::new();
    for entry in field.split(',') {
        if entry.trim().is_empty() {
            continue;
        }
        if entry.contains('|') {
            return Err(error(entry, "alternatives are not allowed in `Provides`"));
        }
        let relation = parse_relation(entry)?;
        if let Some((op, _)) = &relation.constraint {
            if *op != Op::Eq {
                return Err(error(
                    entry,
                    format!("`Provides` only allows `=`, found `{op}`"),
                ));
            }
        }
        out.push(relation);
    }
    Ok(out)
}

fn error(relation: &str, reason: impl Into<String>) -> RelationError {
    RelationError {
        relation: relation.split_whitespace().collect::<Vec<_>>().join(" "),
        reason: reason.into(),
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_')
}

/// Parses one alternative.
fn parse_relation(text: &str) -> Result<Relation, RelationError> {
    let mut rest = text.trim_start();
    let name_len = rest.find(|c| !is_name_char(c)).unwrap_or(rest.len());
    let name = &rest[..name_len];
    if name.is_empty() {
        return Err(error(
            text,
            if text.trim().is_empty() {
                "empty alternative"
            } else {
                "expected a package name"
            },
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(error(
            text,
            format!("package name `{name}` must start with a letter or digit"),
        ));
    }
    let mut relation = Relation {
        name: name.to_string(),
        arch_qualifier: None,
        constraint: None,
        arch_restrictions: Vec::new(),
        build_profiles: Vec::new(),
    };
    rest = rest[name_len..].trim_start();
    if let Some(after) = rest.strip_prefix(':') {
        let after = after.trim_start();
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(after.len());
        if len == 0 {
            return Err(error(text, "expected an architecture after `:`"));
        }
        relation.arch_qualifier = Some(after[..len].to_string());
        rest = after[len..].trim_start();
    }
    if let Some(after) = rest.strip_prefix('(') {
        let close = after
            .find(')')
            .ok_or_else(|| error(text, "missing `)` after the version"))?;
        let inner = after[..close].trim_start();
        let (op, len) = [
            ("<<", Op::Lt),
            ("<=", Op::Le),
            (">=", Op::Ge),
            (">>", Op::Gt),
            ("=", Op::Eq),
            ("<", Op::Le),
            (">", Op::Ge),
        ]
        .into_iter()
        .find_map(|(s, op)| inner.starts_with(s).then_some((op, s.len())))
        .ok_or_else(|| error(text, "expected `<<`, `<=`, `=`, `>=` or `>>` after `(`"))?;
        let version = Version::parse(&inner[len..])
            .map_err(|VersionError { reason, .. }| error(text, reason))?;
        relation.constraint = Some((op, version));
        rest = after[close + 1..].trim_start();
    }
    if let Some(after) = rest.strip_prefix('[') {
        let close = after
            .find(']')
            .ok_or_else(|| error(text, "missing `]` after the architecture list"))?;
        relation.arch_restrictions = after[..close]
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if relation.arch_restrictions.is_empty() {
            return Err(error(text, "empty architecture list"));
        }
        rest = after[close + 1..].trim_start();
    }
    while let Some(after) = rest.strip_prefix('<') {
        let close = after
            .find('>')
            .ok_or_else(|| error(text, "missing `>` after the build profiles"))?;
        let formula = after[..close].split_whitespace().collect::<Vec<_>>();
        if formula.is_empty() {
            return Err(error(text, "empty build profile list"));
        }
        relation.build_profiles.push(formula.join(" "));
        rest = after[close + 1..].trim_start();
    }
    if !rest.is_empty() {
        return Err(error(text, format!("unexpected `{}`", rest.trim_end())));
    }
    Ok(relation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(field: &str) -> Vec<String> {
        parse(field)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn real_world_fields() {
        assert_eq!(
            render("debconf (>= 0.5) | debconf-2.0"),
            ["debconf (>= 0.5) | debconf-2.0"]
        );
        assert_eq!(
            render("libc6 (>= 2.34), libssl3 (>= 3.0.0)"),
            ["libc6 (>= 2.34)", "libssl3 (>= 3.0.0)"]
        );
        assert_eq!(render("python3:any (>= 3.11~)"), ["python3:any (>= 3.11~)"]);
        // Folded over lines, odd spacing, obsolete operators, trailing comma.
        assert_eq!(
            render("libc6(>=2.36),\n libgcc-s1 ( >> 3.0 ) ,\n\tfoo (<1), bar(> 1:2-3),"),
            [
                "libc6 (>= 2.36)",
                "libgcc-s1 (>> 3.0)",
                "foo (<= 1)",
                "bar (>= 1:2-3)"
            ]
        );
        assert_eq!(
            render("perl:native, libfoo1 : amd64 (= 1.0-1)"),
            ["perl:native", "libfoo1:amd64 (= 1.0-1)"]
        );
        assert_eq!(render(""), Vec::<String>::new());
        assert_eq!(render("  \n "), Vec::<String>::new());
    }

    #[test]
    fn structure() {
        let deps = parse("python3:any (>= 3.11~) | python3-minimal").unwrap();
        assert_eq!(deps.len(), 1);
        let alts = &deps[0].alternatives;
        assert_eq!(alts.len(), 2);
        assert_eq!(alts[0].name, "python3");
        assert_eq!(alts[0].arch_qualifier.as_deref(), Some("any"));
        let (op, v) = alts[0].constraint.as_ref().unwrap();
        assert_eq!((*op, v.as_str()), (Op::Ge, "3.11~"));
        assert_eq!(alts[1].constraint, None);
    }

    #[test]
    fn build_depends_restrictions() {
        let deps = parse(
            "debhelper-compat (= 13), libseccomp-dev [amd64 !hurd-i386] <!stage1>,\n \
             python3-pytest <!nocheck> <cross  stage2>",
        )
        .unwrap();
        let seccomp = &deps[1].alternatives[0];
        assert_eq!(seccomp.arch_restrictions, ["amd64", "!hurd-i386"]);
        assert_eq!(seccomp.build_profiles, ["!stage1"]);
        assert_eq!(
            deps[2].alternatives[0].build_profiles,
            ["!nocheck", "cross stage2"]
        );
        assert_eq!(
            deps[1].to_string(),
            "libseccomp-dev [amd64 !hurd-i386] <!stage1>"
        );
    }

    #[test]
    fn satisfied_by_version() {
        let check = |rel: &str, v: &str| {
            parse(rel).unwrap()[0].alternatives[0].satisfied_by_version(&Version::parse(v).unwrap())
        };
        assert!(check("a (>= 2.34)", "2.36-9+deb12u10"));
        assert!(!check("a (>= 2.34)", "2.33"));
        assert!(check("a (<< 3.0.9)", "3.0.9~rc1"));
        assert!(!check("a (<< 3.0.9)", "3.0.9"));
        assert!(check("a (= 1.0)", "0:1.0"));
        assert!(!check("a (= 3.11.2-6)", "3.11.2-6+deb12u1"));
        assert!(check("a (>> 1.0)", "1.0+b1"));
        assert!(check("a (<= 1.0)", "1.0"));
        assert!(check("a", "0"));
    }

    #[test]
    fn provides() {
        let p = parse_provides("awk, libfoo-abi-1 (= 1.2), python3.11-foo:any").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].to_string(), "libfoo-abi-1 (= 1.2)");
        assert!(parse_provides("foo (>= 1)").is_err());
        assert!(parse_provides("a | b").is_err());
    }

    #[test]
    fn errors_name_the_relation() {
        for (field, needle) in [
            ("libc6 (>= 2.34", "missing `)`"),
            ("libc6 (~ 2.34)", "expected `<<`"),
            ("libc6 (>= )", "version string is empty"),
            ("a | | b", "empty alternative"),
            ("libc6 2.34", "unexpected `2.34`"),
            ("-foo", "must start with"),
            ("foo:", "architecture"),
            ("foo [amd64", "missing `]`"),
        ] {
            let e = parse(field).unwrap_err().to_string();
            assert!(e.contains(needle), "{field}: {e}");
            assert!(e.starts_with("invalid relation `"), "{e}");
        }
    }
}
