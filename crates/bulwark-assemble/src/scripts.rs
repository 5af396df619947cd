//! Reading maintainer scripts without running them: the
//! `update-alternatives --install` and `add-shell` calls they make, and
//! whether everything else they do on a fresh install is replaced.

use crate::{Alternative, ScriptEffect, ScriptFact, SlaveLink};

/// What one script does, as far as bulwark understands it.
pub(crate) struct Analysis {
    pub(crate) fact: ScriptFact,
    pub(crate) alternatives: Vec<Alternative>,
    pub(crate) add_shells: Vec<String>,
}

/// Scripts whose whole fresh-install effect the system layer reproduces,
/// checked by reading each package's scripts (see the tests).
const KNOWN: &[(&str, &str)] = &[
    // Copies passwd.master and group.master to /etc on a fresh system.
    ("base-passwd", "preinst"),
    ("base-passwd", "postinst"),
    // debconf defaults, /etc/ca-certificates.conf, update-ca-certificates.
    ("ca-certificates", "config"),
    ("ca-certificates", "postinst"),
    // debconf defaults (Etc/UTC), /etc/localtime and /etc/timezone.
    ("tzdata", "config"),
    ("tzdata", "postinst"),
    // /etc/shells (update-shells) and the `which` alternative.
    ("debianutils", "postinst"),
];

/// Shell words that have no effect on a fresh install or only steer control
/// flow.
const HARMLESS: &[&str] = &[
    "set",
    "exit",
    "return",
    "fi",
    "esac",
    ";;",
    "in",
    "[",
    "[[",
    "test",
    "true",
    "false",
    ":",
    "echo",
    "printf",
    "{",
    "}",
    "(",
    ")",
    "done",
    "shift",
    "local",
    "unset",
    "export",
    "#DEBHELPER#",
    "ldconfig",
    "dpkg-maintscript-helper",
    "remove-shell",
    "update-shells",
];

/// Words that introduce the command that follows them.
const PREFIXES: &[&str] = &["if", "elif", "then", "else", "while", "until", "do", "!"];

pub(crate) fn analyze(package: &str, script: &str, body: &str) -> Analysis {
    let mut alternatives = Vec::new();
    let mut add_shells = Vec::new();
    let mut unknown: Option<String> = None;
    for command in commands(body) {
        let mut words: &[String] = &command;
        while let Some(first) = words.first() {
            let case_pattern =
                first.ends_with(')') && !first.ends_with("()") && !first.contains('$');
            if PREFIXES.contains(&first.as_str()) || case_pattern {
                words = &words[1..];
            } else {
                break;
            }
        }
        if words.last().is_some_and(|w| w == ";;") {
            words = &words[..words.len() - 1];
        }
        let Some(first) = words.first() else {
            continue;
        };
        let first = first.as_str();
        let understood = if HARMLESS.contains(&first) {
            true
        } else if first.ends_with("()") || words.get(1).is_some_and(|w| w == "()") {
            // A function definition; its body is read as commands too.
            true
        } else if first.contains('=') && !first.starts_with('=') && !first.contains("$(") {
            // A variable assignment.
            words.len() == 1
        } else if first == "case" {
            true
        } else if first == "update-alternatives" {
            match parse_update_alternatives(&words[1..]) {
                Some(Some(alt)) => {
                    alternatives.push(alt);
                    true
                }
                Some(None) => true,
                None => false,
            }
        } else if first == "add-shell" {
            let args = &words[1..];
            if args.iter().all(|a| !a.contains('$')) {
                add_shells.extend(args.iter().cloned());
                true
            } else {
                false
            }
        } else {
            false
        };
        if !understood && unknown.is_none() {
            unknown = Some(command.join(" "));
        }
    }
    let effect = if script == "prerm" || script == "postrm" {
        ScriptEffect::NotRunOnInstall
    } else if KNOWN.contains(&(package, script)) || unknown.is_none() {
        ScriptEffect::Replaced
    } else {
        ScriptEffect::NotReplaced
    };
    let detail = match effect {
        ScriptEffect::NotReplaced => unknown,
        _ => None,
    };
    Analysis {
        fact: ScriptFact {
            script: script.to_string(),
            effect,
            detail,
        },
        alternatives,
        add_shells,
    }
}

/// Parses the arguments of `update-alternatives`: `Some(Some(_))` for an
/// `--install`, `Some(None)` for a call without effect on a fresh install
/// (`--remove`, `--query` …), `None` when not understood.
fn parse_update_alternatives(args: &[String]) -> Option<Option<Alternative>> {
    let mut i = 0;
    let mut install = None;
    let mut slaves = Vec::new();
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "--install" => {
                let [link, name, path, priority] = args.get(i + 1..i + 5)? else {
                    return None;
                };
                install = Some((
                    link.clone(),
                    name.clone(),
                    path.clone(),
                    priority.parse::<i64>().ok()?,
                ));
                i += 5;
            }
            "--slave" => {
                let [link, name, path] = args.get(i + 1..i + 4)? else {
                    return None;
                };
                slaves.push(SlaveLink {
                    link: link.clone(),
                    name: name.clone(),
                    path: path.clone(),
                });
                i += 4;
            }
            "--quiet" | "--verbose" | "--force" => i += 1,
            "--remove" | "--remove-all" | "--query" | "--display" | "--list" | "--auto" => {
                return Some(None)
            }
            _ if a.starts_with('>') || a.starts_with("2>") || a == "||" => i += 1,
            _ => return None,
        }
    }
    let (link, name, path, priority) = install?;
    let all = [&link, &name, &path]
        .into_iter()
        .chain(slaves.iter().flat_map(|s| [&s.link, &s.name, &s.path]));
    if all.into_iter().any(|w| w.contains('$') || w.contains('`')) {
        return None;
    }
    Some(Some(Alternative {
        link,
        name,
        path,
        priority,
        slaves,
    }))
}

/// Splits a shell script into simple commands (lists of words, quotes
/// removed). This is a reader for the plain scripts debhelper writes, not a
/// shell: anything unusual ends up as a command bulwark does not understand.
pub(crate) fn commands(body: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = body.chars().peekable();
    let finish_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let finish_command = |words: &mut Vec<String>, out: &mut Vec<Vec<String>>| {
        if !words.is_empty() {
            out.push(std::mem::take(words));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
            },
            '\'' => {
                in_word = true;
                for n in chars.by_ref() {
                    if n == '\'' {
                        break;
                    }
                    word.push(n);
                }
            }
            '"' => {
                in_word = true;
                while let Some(n) = chars.next() {
                    match n {
                        '"' => break,
                        '\\' => {
                            if let Some(m) = chars.next() {
                                if m != '\n' {
                                    if !matches!(m, '"' | '\\' | '$' | '`') {
                                        word.push('\\');
                                    }
                                    word.push(m);
                                }
                            }
                        }
                        n => word.push(n),
                    }
                }
            }
            '#' if !in_word => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                finish_command(&mut words, &mut out);
            }
            '\n' | ';' => {
                finish_word(&mut word, &mut in_word, &mut words);
                if c == ';' && chars.peek() == Some(&';') {
                    chars.next();
                    words.push(";;".into());
                }
                finish_command(&mut words, &mut out);
            }
            '&' | '|' => {
                finish_word(&mut word, &mut in_word, &mut words);
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                finish_command(&mut words, &mut out);
            }
            ' ' | '\t' => finish_word(&mut word, &mut in_word, &mut words),
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    finish_word(&mut word, &mut in_word, &mut words);
    finish_command(&mut words, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAWK: &str = r#"#!/bin/sh
set -e
# Automatically added by dh_installalternatives/13.7.1
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ]; then
        update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \
            --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz \
            --slave /usr/bin/nawk nawk /usr/bin/mawk
fi
# End automatically added section
"#;

    #[test]
    fn reads_debhelper_alternatives() {
        let a = analyze("mawk", "postinst", MAWK);
        assert_eq!(a.fact.effect, ScriptEffect::Replaced, "{:?}", a.fact.detail);
        assert_eq!(a.alternatives.len(), 1);
        let alt = &a.alternatives[0];
        assert_eq!(
            (
                alt.link.as_str(),
                alt.name.as_str(),
                alt.path.as_str(),
                alt.priority
            ),
            ("/usr/bin/awk", "awk", "/usr/bin/mawk", 5)
        );
        assert_eq!(alt.slaves[1].link, "/usr/bin/nawk");
    }

    #[test]
    fn unknown_commands_are_not_replaced() {
        let a = analyze(
            "x",
            "postinst",
            "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  adduser --system foo\nfi\n",
        );
        assert_eq!(a.fact.effect, ScriptEffect::NotReplaced);
        assert_eq!(a.fact.detail.as_deref(), Some("adduser --system foo"));
        let a = analyze("x", "postrm", "rm -rf /var/lib/x\n");
        assert_eq!(a.fact.effect, ScriptEffect::NotRunOnInstall);
        let a = analyze(
            "x",
            "postinst",
            "update-alternatives --install /usr/bin/x x \"$TARGET\" 10\n",
        );
        assert_eq!(a.fact.effect, ScriptEffect::NotReplaced);
        let a = analyze("bash", "postinst", "add-shell /bin/bash /bin/rbash\n");
        assert_eq!(a.add_shells, ["/bin/bash", "/bin/rbash"]);
        assert_eq!(a.fact.effect, ScriptEffect::Replaced);
    }

    #[test]
    fn splits_commands() {
        let c = commands(
            "a 'b c' \"d\\\"e\" # x\nf; g && h\\\n i\ncase \"$1\" in\n  configure) x ;;\nesac\n",
        );
        assert_eq!(
            c,
            vec![
                vec!["a", "b c", "d\"e"],
                vec!["f"],
                vec!["g"],
                vec!["h", "i"],
                vec!["case", "$1", "in"],
                vec!["configure)", "x", ";;"],
                vec!["esac"],
            ]
        );
    }
}
