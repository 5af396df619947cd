//! Parsing `os-release(5)`.

use crate::OsRelease;

/// Parses os-release text: `KEY=value` lines whose values follow shell
/// quoting (double quotes with `\` escapes, single quotes, or bare words
/// with `\` escapes). `ID` defaults to `linux`, as os-release(5) says.
pub(crate) fn parse(text: &str) -> OsRelease {
    let mut os = OsRelease {
        id: "linux".to_owned(),
        ..OsRelease::default()
    };
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(raw);
        let opt = || (!value.is_empty()).then(|| value.clone());
        match key.trim() {
            "ID" if !value.is_empty() => os.id = value.clone(),
            "VERSION_ID" => os.version_id = opt(),
            "VERSION_CODENAME" => os.version_codename = opt(),
            "PRETTY_NAME" => os.pretty_name = opt(),
            "ID_LIKE" => os.id_like = value.split_whitespace().map(str::to_owned).collect(),
            _ => {}
        }
    }
    os
}

/// Undoes shell quoting of one value.
fn unquote(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                            Some('\n') | None => {}
                            Some(other) => {
                                out.push('\\');
                                out.push(other);
                            }
                        },
                        c => out.push(c),
                    }
                }
            }
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            // An unquoted space or comment ends the value.
            c if c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_os_release() {
        let os = parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\n\
             VERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
        );
        assert_eq!(os.id, "debian");
        assert_eq!(os.version_id.as_deref(), Some("12"));
        assert_eq!(os.version_codename.as_deref(), Some("bookworm"));
        assert_eq!(
            os.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn shell_quoting() {
        let os = parse(
            "# comment\nID='ubuntu'\nID_LIKE=\"debian  foo\"\n\
             PRETTY_NAME=\"say \\\"hi\\\" \\$x\"\nVERSION_CODENAME=tri\\ xie\nVERSION_ID=\n",
        );
        assert_eq!(os.id, "ubuntu");
        assert_eq!(os.id_like, ["debian", "foo"]);
        assert_eq!(os.pretty_name.as_deref(), Some("say \"hi\" $x"));
        assert_eq!(os.version_codename.as_deref(), Some("tri xie"));
        assert_eq!(os.version_id, None);
        assert_eq!(parse("").id, "linux");
    }
}
