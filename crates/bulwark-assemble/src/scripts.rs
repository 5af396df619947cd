//! Reading maintainer scripts without running them: the
//! `update-alternatives --install` and `add-shell` calls they make, and
//! whether everything else they do on a fresh install is replaced.
//!
//! A script is judged in this order:
//!
//! 1. `prerm` and `postrm` never run on an install.
//! 2. Scripts in [`KNOWN`] are replaced whatever their text (their effects
//!    are the system layer's core: accounts, CA bundle, time zone, shells).
//! 3. Scripts in [`REVIEWED`] were read by hand for a fresh install
//!    (`preinst install`, `postinst configure` with no old version) into an
//!    empty image; each entry says what the script does there and whether
//!    bulwark replaces it. An entry only applies to the exact script text
//!    that was reviewed (its [`digest`]), so a changed script in a later
//!    release is judged afresh rather than trusted.
//! 4. Anything else is read command by command: a script made only of
//!    commands bulwark understands is replaced (or not needed).

use sha2::{Digest, Sha256};

use crate::ScriptEffect::{NotNeeded, NotReplaced, Replaced};
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

/// A maintainer script read by hand.
struct Reviewed {
    package: &'static str,
    script: &'static str,
    /// [`digest`]s of the reviewed texts.
    digests: &'static [&'static str],
    effect: ScriptEffect,
    /// What the script does on a fresh install, and how bulwark covers it.
    reason: &'static str,
}

/// Scripts reviewed for a fresh install (Debian 12). The system layer's
/// native replacements are in `effects.rs`.
const REVIEWED: &[Reviewed] = &[
    Reviewed {
        package: "base-files",
        script: "postinst",
        digests: &["76f7d4cb5463a6a2b687430412b53328c36ae70451144aa18d6e10d1cff510d6"],
        effect: Replaced,
        reason: "/etc/dpkg/origins/default, /etc/profile, /etc/motd, root's dot files, the FHS \
             directories, the /var/run and /var/lock links, /usr/local, the login records and \
             the info directory",
    },
    Reviewed {
        package: "netbase",
        script: "postinst",
        digests: &["b53ffa2a8c82473cb73663156cad273cd896ee2ae67ee942e42381192a12583d"],
        effect: Replaced,
        reason: "/etc/hosts and /etc/networks",
    },
    Reviewed {
        package: "libc6",
        script: "preinst",
        digests: &["b100d569159faf25494e33cb19e7ee4d0704948c85efcb3d85282eef26dfe2f6"],
        effect: NotNeeded,
        reason: "checks the kernel version, creates /etc/ld.so.nohwcap (removed again by the \
             postinst) and the lib64 link, which bulwark's merged /usr has",
    },
    Reviewed {
        package: "libc6",
        script: "postinst",
        digests: &["79a31a71046fadafa4c149a0da22ac63ec237c49fdc3da58bf5ca4c9dd4e845e"],
        effect: NotNeeded,
        reason: "removes /etc/ld.so.nohwcap, restarts services on upgrades and re-executes init \
             on a running system",
    },
    Reviewed {
        package: "libc-bin",
        script: "postinst",
        digests: &["f8c83d98ce3739b8f3e7bd54ef89fefdc199a53a9642aece989f5e9a45c27533"],
        effect: Replaced,
        reason: "/etc/nsswitch.conf from /usr/share/libc-bin; ldconfig's cache (see the \
             ld.so.cache report)",
    },
    Reviewed {
        package: "bash",
        script: "postinst",
        digests: &["bb419636bbac9def4ffe21a215e81db9a0ceb342d5e960a8c7cf7f1274bcd0fc"],
        effect: Replaced,
        reason: "/bin/sh -> bash when no /bin/sh exists, the builtins.7.gz alternative",
    },
    Reviewed {
        package: "dash",
        script: "postinst",
        digests: &["302eed58d0a27bb0180fa42d4c762bd30f46f520ac48d4a0508c10695cf5a79a"],
        effect: Replaced,
        reason: "diverts /bin/sh and sh.1.gz and links them to dash again (the diversions go to \
             the classic database)",
    },
    Reviewed {
        package: "coreutils",
        script: "postinst",
        digests: &["3bfa089394eff2dfd5a7ba39fd27d02a1f57f233686a41002755cb721a54e265"],
        effect: NotNeeded,
        reason: "links /usr/bin/touch when missing, which merged /usr always provides",
    },
    Reviewed {
        package: "debconf",
        script: "postinst",
        digests: &["74cfe85c50bc8e64ec02fd34167ed9ed906d41d7435b83a0c10f819cbdda96f0"],
        effect: NotNeeded,
        reason: "starts debconf, which creates its database on first use",
    },
    Reviewed {
        package: "debconf",
        script: "config",
        digests: &["b8ceb1c8309148bf57794e994f535ae5b0f5a6020a32740ab295c5b4c201b6d3"],
        effect: NotNeeded,
        reason: "asks for debconf's frontend and priority: unanswered questions take their \
             defaults",
    },
    Reviewed {
        package: "dpkg",
        script: "postinst",
        digests: &["a3aa2c73d7db4dec1aa12f5d40d6a8e2b8f66ce0c4ae7ca65041c0d34f6201f2"],
        effect: NotNeeded,
        reason: "moves alternatives misplaced by dpkg 1.21.0, warns non-Debian vendors about \
             merged /usr, enables the dpkg-db-backup systemd timer (containers run no \
             systemd)",
    },
    Reviewed {
        package: "init-system-helpers",
        script: "postinst",
        digests: &["00b3aa8b2c6182538fd5e83f5a82fc74992112f3922770ac261f30b28dbe79f0"],
        effect: NotNeeded,
        reason: "repairs a diverted /etc/os-release on upgrades only",
    },
    Reviewed {
        package: "libgcrypt20",
        script: "postinst",
        digests: &["e061c7210b8a50775db3440712b2b9629c30e0d9b4c7695674159fe359d3c7f9"],
        effect: NotNeeded,
        reason: "cleans up stale libraries on upgrades only",
    },
    Reviewed {
        package: "libpam-modules",
        script: "preinst",
        digests: &["4e66292b9467a4b6f0f995f2922ba264e7636ada817905275a79a2ed059df868"],
        effect: NotNeeded,
        reason: "asks about screensavers and removed modules on upgrades only",
    },
    Reviewed {
        package: "libpam-modules",
        script: "postinst",
        digests: &["37e58315424ab676340548fb1555e2ff0cb96a562f8a2bc3612ef4b61ca32d1b"],
        effect: Replaced,
        reason: "/etc/security/opasswd and /etc/environment",
    },
    Reviewed {
        package: "libpam-runtime",
        script: "postinst",
        digests: &["99fb967b26c7fc94a3bb913f25061c88588db4468282e81c9b06e9fe58c417aa"],
        effect: NotReplaced,
        reason: "pam-auth-update writes /etc/pam.d/common-* from /usr/share/pam-configs",
    },
    Reviewed {
        package: "libpam0g",
        script: "postinst",
        digests: &["1d359c3c954dcf4929f573ac1e6ed5396236af430fce3cdad193db6640128fe9"],
        effect: NotNeeded,
        reason: "restarts services on upgrades only",
    },
    Reviewed {
        package: "login",
        script: "postinst",
        digests: &["7eb10bf32a959611333705f16b182edb495be039fe7fbc66e0f8dbe2800af067"],
        effect: Replaced,
        reason: "/var/log/faillog, /etc/subuid and /etc/subgid",
    },
    Reviewed {
        package: "usr-is-merged",
        script: "preinst",
        digests: &["69b7980c45cea38e9de017a06e14e6612f102818ece2a09cccb45976725a10d4"],
        effect: NotNeeded,
        reason: "refuses a system without merged /usr; bulwark always merges /usr",
    },
    Reviewed {
        package: "usr-is-merged",
        script: "postinst",
        digests: &["716a83cdeec0c8e3094903ab41076d6e4600ab0a1fe354ae6d8236e406703b6d"],
        effect: NotNeeded,
        reason: "removes biarch root links no package owns; bulwark makes them only for \
             directories packages ship",
    },
    Reviewed {
        package: "util-linux",
        script: "postinst",
        digests: &["40341d122188337c2f9454c18ad1dc9eab4f0c345923cee3a2e1807942bae5cd"],
        effect: Replaced,
        reason: "the pager alternative; enables the fstrim systemd timer (containers run no \
             systemd)",
    },
    Reviewed {
        package: "util-linux-extra",
        script: "preinst",
        digests: &["7566fc46ec79dacd6efe2b9487a253f88624ea61af2a54c5a94ae7bcf793d4cf"],
        effect: NotNeeded,
        reason: "makes hwclock.sh executable on upgrades only",
    },
    Reviewed {
        package: "util-linux-extra",
        script: "postinst",
        digests: &["7f863c96d9aa2e35f1f68a93995aa94422ed640735bfa2f5f904bf792b228019"],
        effect: NotNeeded,
        reason: "update-rc.d links for hwclock.sh (containers run no init system)",
    },
    Reviewed {
        package: "libpython3.11-minimal",
        script: "postinst",
        digests: &["9ee42a07ee30f0b8ed518ab2a3b3cc2177afcf87b19d600633d8e844fd303a67"],
        effect: NotNeeded,
        reason: "prints a comment, writes nothing",
    },
    Reviewed {
        package: "python3.11-minimal",
        script: "preinst",
        digests: &["f2a5f354a256f1b53720de57e0fd671aa0e134aae4061445b67e191b09a07ce4"],
        effect: Replaced,
        reason: "/var/lib/python/python3.11_installed",
    },
    Reviewed {
        package: "python3.11-minimal",
        script: "postinst",
        digests: &["a5da2853fe01edcfa1db538be1e3bb0fc1a0190fb270abb864dba3facc132c92"],
        effect: NotReplaced,
        reason: "byte-compiles the standard library with py_compile (Python compiles modules on \
             import instead); bulwark does create /usr/local/lib/python3.11/dist-packages",
    },
    Reviewed {
        package: "python3.11",
        script: "postinst",
        digests: &["721e6fe2571fbbbce5fa4e38dfce57a78a4494137f00e1c26a78e7b726f8102f"],
        effect: NotReplaced,
        reason: "byte-compiles the standard library with py_compile (Python compiles modules on \
             import instead)",
    },
    Reviewed {
        package: "python3-minimal",
        script: "postinst",
        digests: &["58149f0f8eb601c01f850668ba8166fa59865c4b423117939af0ed107db3a3fc"],
        effect: NotReplaced,
        reason: "byte-compiles /usr/share/python3 with py3compile (Python compiles modules on \
             import instead)",
    },
    Reviewed {
        package: "python3",
        script: "preinst",
        digests: &["f27853507bd76eef29871a5f704c9050f66a08739937f3c55f5ee8ef52e37bba"],
        effect: NotNeeded,
        reason: "resets the python3 alternative and removes old documentation, on upgrades only",
    },
    Reviewed {
        package: "python3",
        script: "postinst",
        digests: &["6f781bf5b87ee075a212b9fec54c81250ca984953717ddd2ed2d7cf42c9b53c0"],
        effect: NotReplaced,
        reason: "byte-compiles /usr/share/python3 with py3compile (Python compiles modules on \
             import instead); bulwark does write /etc/python3/debian_config",
    },
    Reviewed {
        package: "openssl",
        script: "postinst",
        digests: &["11d81b7e416d69161b32a3f25df51b5433fbe4913135c294b68c453de72006c6"],
        effect: Replaced,
        reason: "/usr/lib/ssl -> /etc/ssl when libssl does not ship /usr/lib/ssl",
    },
    Reviewed {
        package: "readline-common",
        script: "postinst",
        digests: &["a47488f9aaae773e7cf8edc2cf450c888c1d958801c7a62e12bc897d5037b598"],
        effect: Replaced,
        reason: "/etc/inputrc from /usr/share/readline",
    },
    Reviewed {
        package: "libgssapi-krb5-2",
        script: "postinst",
        digests: &["67719c67983410608ed10ec9cf2bd09945b8b49e71c6f09fa8a2bca87e1188ee"],
        effect: NotNeeded,
        reason: "copies /usr/etc/gss/mech on upgrades only",
    },
];

/// The packages with a reviewed script.
#[cfg(test)]
pub(crate) fn reviewed_packages() -> impl Iterator<Item = &'static str> {
    REVIEWED.iter().map(|r| r.package)
}

/// How many scripts were reviewed.
#[cfg(test)]
pub(crate) fn reviewed_count() -> usize {
    REVIEWED.len()
}

/// The effect the review gives a script.
#[cfg(test)]
pub(crate) fn reviewed_effect(package: &str, script: &str) -> Option<ScriptEffect> {
    REVIEWED
        .iter()
        .find(|r| r.package == package && r.script == script)
        .map(|r| r.effect)
}

/// Identifies a script's text for [`REVIEWED`]: the SHA-256 of the text
/// with debhelper's version-stamped comments, trailing blanks and empty
/// lines removed, and the package's own version, architecture and
/// multiarch triplet replaced by placeholders (so rebuilds and security
/// updates that leave the script alone keep their review).
pub(crate) fn digest(body: &str, version: &str, architecture: &str) -> String {
    let mut text = String::with_capacity(body.len());
    for line in body.lines() {
        let line = line.trim_end();
        if line.is_empty()
            || line
                .trim_start()
                .starts_with("# Automatically added by dh_")
            || line.trim_start() == "# End automatically added section"
        {
            continue;
        }
        text.push_str(line);
        text.push('\n');
    }
    if !version.is_empty() {
        text = text.replace(version, "@VERSION@");
    }
    if let Some(triplet) = multiarch_triplet(architecture) {
        text = text.replace(triplet, "@TRIPLET@");
    }
    if !architecture.is_empty() && architecture != "all" {
        text = text.replace(&format!(":{architecture}"), ":@ARCH@");
    }
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The multiarch triplet of a Debian architecture.
fn multiarch_triplet(architecture: &str) -> Option<&'static str> {
    Some(match architecture {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "armhf" => "arm-linux-gnueabihf",
        "armel" => "arm-linux-gnueabi",
        "i386" => "i386-linux-gnu",
        "ppc64el" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "mips64el" => "mips64el-linux-gnuabi64",
        _ => return None,
    })
}

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

/// Commands that manage services, init links, menus and triggers of a
/// running system. An image is not a running system: containers run no
/// init system, and bulwark builds the state triggers would update.
const RUNNING_SYSTEM: &[&str] = &[
    "deb-systemd-helper",
    "deb-systemd-invoke",
    "systemctl",
    "update-rc.d",
    "invoke-rc.d",
    "dpkg-trigger",
    "update-menus",
];

/// Words that introduce the command that follows them.
const PREFIXES: &[&str] = &["if", "elif", "then", "else", "while", "until", "do", "!"];

/// Judges one maintainer script of `package` (at `version`, for
/// `architecture`) for a fresh install.
pub(crate) fn analyze(
    package: &str,
    version: &str,
    architecture: &str,
    script: &str,
    body: &str,
) -> Analysis {
    let mut alternatives = Vec::new();
    let mut add_shells = Vec::new();
    let mut unknown: Option<String> = None;
    let mut acts = false;
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
        let understood = if HARMLESS.contains(&first) || RUNNING_SYSTEM.contains(&first) {
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
                    acts = true;
                    true
                }
                Some(None) => true,
                None => false,
            }
        } else if first == "add-shell" {
            let args = &words[1..];
            if args.iter().all(|a| !a.contains('$')) {
                add_shells.extend(args.iter().cloned());
                acts = true;
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
    let review = REVIEWED
        .iter()
        .find(|r| r.package == package && r.script == script);
    let matching = review.filter(|r| {
        let d = digest(body, version, architecture);
        r.digests.contains(&d.as_str())
    });
    let (effect, detail) = if script == "prerm" || script == "postrm" {
        (ScriptEffect::NotRunOnInstall, None)
    } else if KNOWN.contains(&(package, script)) {
        (ScriptEffect::Replaced, None)
    } else if let Some(r) = matching {
        (r.effect, Some(r.reason.to_string()))
    } else if let Some(line) = unknown {
        let detail = match review {
            Some(_) => format!(
                "{line} (the script is not the reviewed one: digest {})",
                digest(body, version, architecture)
            ),
            None => line,
        };
        (ScriptEffect::NotReplaced, Some(detail))
    } else if acts {
        (ScriptEffect::Replaced, None)
    } else {
        (ScriptEffect::NotNeeded, None)
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
    // After `case … in` and `;;` comes a pattern, whose `|` separates
    // alternatives rather than commands; it ends with `)`.
    let mut in_pattern = false;
    let mut chars = body.chars().peekable();
    let finish_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let finish_command =
        |words: &mut Vec<String>, out: &mut Vec<Vec<String>>, in_pattern: &mut bool| {
            if !words.is_empty() {
                let case_in = words.first().is_some_and(|w| w == "case")
                    && words.last().is_some_and(|w| w == "in");
                *in_pattern = case_in || words.last().is_some_and(|w| w == ";;");
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
                finish_command(&mut words, &mut out, &mut in_pattern);
            }
            '\n' | ';' => {
                finish_word(&mut word, &mut in_word, &mut words);
                if c == ';' && chars.peek() == Some(&';') {
                    chars.next();
                    words.push(";;".into());
                }
                finish_command(&mut words, &mut out, &mut in_pattern);
            }
            '|' if in_pattern && words.is_empty() => {
                word.push('|');
                in_word = true;
            }
            ')' if in_pattern && words.is_empty() => {
                word.push(')');
                in_word = true;
                in_pattern = false;
            }
            '&' | '|' => {
                finish_word(&mut word, &mut in_word, &mut words);
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                finish_command(&mut words, &mut out, &mut in_pattern);
            }
            ' ' | '\t' => finish_word(&mut word, &mut in_word, &mut words),
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    finish_word(&mut word, &mut in_word, &mut words);
    finish_command(&mut words, &mut out, &mut in_pattern);
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
        let a = analyze("mawk", "1", "all", "postinst", MAWK);
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
            "1",
            "all",
            "postinst",
            "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  adduser --system foo\nfi\n",
        );
        assert_eq!(a.fact.effect, ScriptEffect::NotReplaced);
        assert_eq!(a.fact.detail.as_deref(), Some("adduser --system foo"));
        let a = analyze("x", "1", "all", "postrm", "rm -rf /var/lib/x\n");
        assert_eq!(a.fact.effect, ScriptEffect::NotRunOnInstall);
        let a = analyze(
            "x",
            "1",
            "all",
            "postinst",
            "update-alternatives --install /usr/bin/x x \"$TARGET\" 10\n",
        );
        assert_eq!(a.fact.effect, ScriptEffect::NotReplaced);
        let a = analyze(
            "bash",
            "1",
            "all",
            "postinst",
            "add-shell /bin/bash /bin/rbash\n",
        );
        assert_eq!(a.add_shells, ["/bin/bash", "/bin/rbash"]);
        assert_eq!(a.fact.effect, ScriptEffect::Replaced);
    }

    #[test]
    fn case_patterns_keep_their_alternatives() {
        let c = commands(
            "case \"$1\" in\n  configure|abort-remove)\n    a | b\n  ;;\n  upgrade) ;;\nesac\n",
        );
        assert_eq!(
            c,
            vec![
                vec!["case", "$1", "in"],
                vec!["configure|abort-remove)"],
                vec!["a"],
                vec!["b"],
                vec![";;"],
                vec!["upgrade)", ";;"],
                vec!["esac"],
            ]
        );
    }

    #[test]
    fn digests_ignore_rebuilds_but_not_changes() {
        let v1 = "#!/bin/sh\n# Automatically added by dh_installdeb/13.11.4\nx 1.0-1 /usr/lib/x86_64-linux-gnu foo:amd64  \n\n";
        let v2 = "#!/bin/sh\n# Automatically added by dh_installdeb/13.20\nx 1.0-2 /usr/lib/x86_64-linux-gnu foo:amd64\n";
        assert_eq!(digest(v1, "1.0-1", "amd64"), digest(v2, "1.0-2", "amd64"));
        let v3 = "#!/bin/sh\nx 1.0-2 /usr/lib/x86_64-linux-gnu foo:amd64\ny\n";
        assert_ne!(digest(v1, "1.0-1", "amd64"), digest(v3, "1.0-2", "amd64"));
        // A reviewed package whose script changed is judged afresh.
        let a = analyze("netbase", "1", "all", "postinst", "touch /etc/hosts\n");
        assert_eq!(a.fact.effect, ScriptEffect::NotReplaced);
        assert!(a.fact.detail.unwrap().contains("not the reviewed one"));
        let a = analyze(
            "x",
            "1",
            "all",
            "postinst",
            "deb-systemd-helper enable x.timer\n",
        );
        assert_eq!(a.fact.effect, ScriptEffect::NotNeeded);
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
