//! SPDX licence expressions evaluated against allowed identifiers, and
//! shell-style globs.

/// Whether an SPDX license expression can be satisfied when each
/// identifier is acceptable as `ok` says: `A OR B` needs either, `A AND B`
/// both; `A WITH E` is acceptable when `A WITH E` or `A` is. An expression
/// that does not parse is taken as one identifier.
pub(crate) fn license_satisfies(expression: &str, ok: &dyn Fn(&str) -> bool) -> bool {
    let spaced = expression.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    match parse_or(&tokens, &mut pos, ok) {
        Some(value) if pos == tokens.len() => value,
        _ => ok(expression.trim()),
    }
}

fn parse_or(tokens: &[&str], pos: &mut usize, ok: &dyn Fn(&str) -> bool) -> Option<bool> {
    let mut value = parse_and(tokens, pos, ok)?;
    while tokens
        .get(*pos)
        .is_some_and(|t| t.eq_ignore_ascii_case("OR"))
    {
        *pos += 1;
        let rhs = parse_and(tokens, pos, ok)?;
        value = value || rhs;
    }
    Some(value)
}

fn parse_and(tokens: &[&str], pos: &mut usize, ok: &dyn Fn(&str) -> bool) -> Option<bool> {
    let mut value = parse_atom(tokens, pos, ok)?;
    while tokens
        .get(*pos)
        .is_some_and(|t| t.eq_ignore_ascii_case("AND"))
    {
        *pos += 1;
        let rhs = parse_atom(tokens, pos, ok)?;
        value = value && rhs;
    }
    Some(value)
}

fn parse_atom(tokens: &[&str], pos: &mut usize, ok: &dyn Fn(&str) -> bool) -> Option<bool> {
    let token = *tokens.get(*pos)?;
    *pos += 1;
    if token == "(" {
        let value = parse_or(tokens, pos, ok)?;
        if tokens.get(*pos) != Some(&")") {
            return None;
        }
        *pos += 1;
        return Some(value);
    }
    if matches!(token, ")")
        || ["AND", "OR", "WITH"]
            .iter()
            .any(|k| token.eq_ignore_ascii_case(k))
    {
        return None;
    }
    if tokens
        .get(*pos)
        .is_some_and(|t| t.eq_ignore_ascii_case("WITH"))
    {
        let exception = *tokens.get(*pos + 1)?;
        *pos += 2;
        return Some(ok(&format!("{token} WITH {exception}")) || ok(token));
    }
    Some(ok(token))
}

/// Shell-style glob match with `*` and `?`.
pub(crate) fn glob_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let norm = |s: &str| -> Vec<char> {
        if ignore_case {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    let (p, t) = (norm(pattern), norm(text));
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
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
        assert!(!glob_match("FOO", "foo", false));
        assert!(glob_match("gpl-*", "GPL-2.0-only", true));
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
    }
}
