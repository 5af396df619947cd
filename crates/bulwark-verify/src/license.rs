//! SPDX licence expressions evaluated against allowed identifiers (through
//! the `spdx` crate), and shell-style globs (through `wildmatch`).

use spdx::{Expression, ParseMode};
use wildmatch::WildMatch;

/// Whether an SPDX license expression can be satisfied when each
/// identifier is acceptable as `ok` says: `A OR B` needs either, `A AND B`
/// both; `A WITH E` is acceptable when `A WITH E` or `A` is. `NOASSERTION`
/// is one identifier, and so is an expression that does not parse.
///
/// The `spdx` crate parses in lax mode (lowercase operators, deprecated
/// and imprecise names, `/` for `OR`); it accepts every expression
/// bulwark's SBOMs derive from Debian copyright files: SPDX License List
/// identifiers, `LicenseRef-…`, `ID WITH EXCEPTION`, `NOASSERTION`.
/// Identifiers reach `ok` in their canonical form (`GPL-2.0+` as
/// `GPL-2.0-or-later`).
pub(crate) fn license_satisfies(expression: &str, ok: &dyn Fn(&str) -> bool) -> bool {
    match Expression::parse_mode(expression, ParseMode::LAX) {
        Ok(parsed) => parsed.evaluate(|req| {
            let license = req.license.to_string();
            match &req.addition {
                Some(addition) => ok(&format!("{license} WITH {addition}")) || ok(&license),
                None => ok(&license),
            }
        }),
        Err(_) => ok(expression.trim()),
    }
}

/// Shell-style glob match with `*` and `?`; `ignore_case` compares
/// lowercase.
pub(crate) fn glob_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if ignore_case {
        WildMatch::new_case_insensitive(pattern).matches(text)
    } else {
        WildMatch::new(pattern).matches(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("foo*", "foo", false));
        assert!(glob_match("foo*", "foobar", false));
        assert!(!glob_match("foo*", "libfoo", false));
        assert!(glob_match("*foo*", "libfoo1", false));
        assert!(glob_match("lib?oo", "libfoo", false));
        assert!(!glob_match("lib?oo", "liboo", false));
        assert!(!glob_match("FOO", "foo", false));
        assert!(glob_match("gpl-*", "GPL-2.0-only", true));
        assert!(glob_match("*", "", false));
        assert!(glob_match("a*b*c", "aXbYbZc", false));
        assert!(!glob_match("a*b*c", "aXbYbZ", false));
    }

    #[test]
    fn license_expressions() {
        let allow = |id: &str| ["MIT", "Apache-2.0"].contains(&id);
        assert!(license_satisfies("MIT", &allow));
        assert!(license_satisfies("MIT OR GPL-2.0-only", &allow));
        assert!(!license_satisfies("MIT AND GPL-2.0-only", &allow));
        assert!(license_satisfies(
            "(GPL-2.0-only OR MIT) AND Apache-2.0",
            &allow
        ));
        assert!(!license_satisfies("NOASSERTION", &allow));
        assert!(license_satisfies("Apache-2.0 WITH LLVM-exception", &allow));
        // AND binds tighter than OR.
        assert!(license_satisfies(
            "GPL-2.0-only AND BSD-3-Clause OR MIT",
            &allow
        ));
        // Unparsable: one identifier.
        assert!(!license_satisfies("MIT AND", &allow));
        assert!(license_satisfies("MIT AND", &|id: &str| id == "MIT AND"));
    }

    #[test]
    fn what_bulwark_derives_from_copyright_files_is_evaluated() {
        // Each identifier reaches `ok` as written.
        let seen = |expression: &str| {
            let ids = std::cell::RefCell::new(Vec::new());
            let record = |id: &str| {
                ids.borrow_mut().push(id.to_owned());
                true
            };
            assert!(license_satisfies(expression, &record), "{expression}");
            ids.into_inner()
        };
        assert_eq!(
            seen("(GPL-1.0-or-later OR LicenseRef-Artistic) AND LicenseRef-public-domain"),
            [
                "GPL-1.0-or-later",
                "LicenseRef-Artistic",
                "LicenseRef-public-domain"
            ]
        );
        assert_eq!(
            seen("GPL-2.0-or-later WITH Libtool-exception"),
            ["GPL-2.0-or-later WITH Libtool-exception"]
        );
        assert_eq!(seen("NOASSERTION"), ["NOASSERTION"]);
        assert_eq!(
            seen("LicenseRef-GPL-2-plus-with-Autoconf-exception"),
            ["LicenseRef-GPL-2-plus-with-Autoconf-exception"]
        );
        // A denied exception does not deny its licence: the licence alone
        // is acceptable.
        let no_libtool = |id: &str| !id.contains("Libtool");
        assert!(license_satisfies(
            "GPL-2.0-or-later WITH Libtool-exception",
            &no_libtool
        ));
        let no_gpl = |id: &str| !glob_match("GPL-*", id, true);
        assert!(!license_satisfies(
            "GPL-2.0-or-later WITH Libtool-exception",
            &no_gpl
        ));
        assert!(license_satisfies(
            "((MIT AND Zlib) OR ISC) AND (GPL-1.0-or-later OR LicenseRef-Artistic)",
            &|id: &str| id != "MIT" && id != "GPL-1.0-or-later"
        ));
        assert!(!license_satisfies(
            "((MIT AND Zlib) OR ISC) AND (GPL-1.0-or-later OR LicenseRef-Artistic)",
            &|id: &str| id != "ISC" && id != "Zlib"
        ));
    }

    #[test]
    fn every_identifier_bulwark_writes_parses_strictly_as_written() {
        // The SPDX identifiers `bulwark-sbom` maps Debian licence names to;
        // with `LicenseRef-…` they are all its expressions are made of.
        let licenses = include_str!("../../bulwark-sbom/src/data/spdx-licenses.txt");
        let exceptions = include_str!("../../bulwark-sbom/src/data/spdx-exceptions.txt");
        let expressions = licenses.lines().map(str::to_owned).chain(
            exceptions
                .lines()
                .map(|e| format!("GPL-2.0-or-later WITH {e}")),
        );
        let mut count = 0;
        for expression in expressions.filter(|e| !e.is_empty()) {
            let parsed = Expression::parse_mode(&expression, ParseMode::STRICT)
                .unwrap_or_else(|e| panic!("{expression}: {e}"));
            let written: Vec<String> = parsed.requirements().map(|r| r.req.to_string()).collect();
            assert_eq!(written, std::slice::from_ref(&expression));
            count += 1;
        }
        assert!(count > 700, "{count}");
    }
}
