//! The image's identity: the Debian release `/etc/os-release` names when no
//! package ships one.

/// The Debian release of an image, taken from the `Release` file of the
/// repository its packages came from, for the `/etc/os-release` bulwark
/// writes when no package (base-files) ships one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianRelease {
    /// `VERSION_ID`: the major version (`12`). `None` for testing and
    /// unstable, whose `Release` has no `Version`.
    pub version_id: Option<String>,
    /// `VERSION_CODENAME` (`bookworm`).
    pub codename: String,
}

/// Whether `s` is a non-empty string of the characters os-release(5)
/// allows in `VERSION_ID` and `VERSION_CODENAME`: `0`–`9`, `a`–`z`, `.`,
/// `_` and `-`.
fn os_release_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b"._-".contains(&b))
}

impl DebianRelease {
    /// The release a Debian `Release` file describes: `VERSION_ID` is its
    /// `Version` up to the first `.` or `-` (`12.15` and `12-updates` are
    /// both `12`), `VERSION_CODENAME` its `Codename` without a `-security`
    /// or `-updates` suffix. The error says why the fields cannot name a
    /// release (a missing `Codename`, characters os-release does not
    /// allow); the values in it are escaped.
    pub fn from_release(
        version: Option<&str>,
        codename: Option<&str>,
    ) -> Result<DebianRelease, String> {
        let codename = codename.map(str::trim).filter(|c| !c.is_empty());
        let Some(codename) = codename else {
            return Err("its `Release` has no `Codename`".into());
        };
        let base = codename
            .strip_suffix("-security")
            .or_else(|| codename.strip_suffix("-updates"))
            .unwrap_or(codename);
        if !os_release_word(base) {
            return Err(format!(
                "its `Release` has the `Codename` `{}`, which os-release cannot hold",
                codename.escape_debug()
            ));
        }
        let version_id = match version.map(str::trim).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => {
                let major = v.split(['.', '-']).next().unwrap_or_default();
                if !os_release_word(major) {
                    return Err(format!(
                        "its `Release` has the `Version` `{}`, which names no release number",
                        v.escape_debug()
                    ));
                }
                Some(major.to_string())
            }
        };
        Ok(DebianRelease {
            version_id,
            codename: base.to_string(),
        })
    }

    /// `/usr/lib/os-release` as Debian's base-files writes it for this
    /// release: the same fields, order and quoting. Without a version
    /// (testing, unstable) `VERSION_ID` and `VERSION` are left out and
    /// `PRETTY_NAME` names the codename.
    pub fn os_release(&self) -> String {
        let codename = &self.codename;
        let mut out = String::new();
        match &self.version_id {
            Some(v) => {
                out.push_str(&format!(
                    "PRETTY_NAME=\"Debian GNU/Linux {v} ({codename})\"\n\
                     NAME=\"Debian GNU/Linux\"\n\
                     VERSION_ID=\"{v}\"\n\
                     VERSION=\"{v} ({codename})\"\n"
                ));
            }
            None => {
                out.push_str(&format!(
                    "PRETTY_NAME=\"Debian GNU/Linux {codename}\"\n\
                     NAME=\"Debian GNU/Linux\"\n"
                ));
            }
        }
        out.push_str(&format!(
            "VERSION_CODENAME={codename}\n\
             ID=debian\n\
             HOME_URL=\"https://www.debian.org/\"\n\
             SUPPORT_URL=\"https://www.debian.org/support\"\n\
             BUG_REPORT_URL=\"https://bugs.debian.org/\"\n"
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_fields_of_each_bookworm_suite_name_the_same_release() {
        for (version, codename) in [
            ("12.15", "bookworm"),
            ("12-updates", "bookworm-updates"),
            ("12", "bookworm-security"),
        ] {
            assert_eq!(
                DebianRelease::from_release(Some(version), Some(codename)),
                Ok(DebianRelease {
                    version_id: Some("12".into()),
                    codename: "bookworm".into()
                }),
                "{version} {codename}"
            );
        }
        // Unstable has no Version: the codename alone.
        assert_eq!(
            DebianRelease::from_release(None, Some("sid")),
            Ok(DebianRelease {
                version_id: None,
                codename: "sid".into()
            })
        );
    }

    #[test]
    fn unusable_fields_are_refused_with_the_value_escaped() {
        let e = DebianRelease::from_release(Some("12"), None).unwrap_err();
        assert!(e.contains("no `Codename`"), "{e}");
        let e = DebianRelease::from_release(Some("12"), Some("book\nworm\x1b")).unwrap_err();
        assert!(e.contains("book\\nworm\\u{1b}"), "{e}");
        let e = DebianRelease::from_release(Some("\"12"), Some("bookworm")).unwrap_err();
        assert!(e.contains("`Version` `\\\"12`"), "{e}");
        assert!(DebianRelease::from_release(Some(".5"), Some("bookworm")).is_err());
        assert!(DebianRelease::from_release(Some("12"), Some("Bookworm")).is_err());
    }

    /// The text is byte for byte what bookworm's base-files ships as
    /// `/usr/lib/os-release` (the live tests compare it with the real
    /// package's file).
    #[test]
    fn os_release_is_what_bookworm_base_files_writes() {
        let release = DebianRelease::from_release(Some("12.15"), Some("bookworm")).unwrap();
        let expected = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
            NAME=\"Debian GNU/Linux\"\n\
            VERSION_ID=\"12\"\n\
            VERSION=\"12 (bookworm)\"\n\
            VERSION_CODENAME=bookworm\n\
            ID=debian\n\
            HOME_URL=\"https://www.debian.org/\"\n\
            SUPPORT_URL=\"https://www.debian.org/support\"\n\
            BUG_REPORT_URL=\"https://bugs.debian.org/\"\n";
        assert_eq!(release.os_release(), expected);
        let sid = DebianRelease::from_release(None, Some("sid")).unwrap();
        assert_eq!(
            sid.os_release().lines().take(3).collect::<Vec<_>>(),
            [
                "PRETTY_NAME=\"Debian GNU/Linux sid\"",
                "NAME=\"Debian GNU/Linux\"",
                "VERSION_CODENAME=sid"
            ]
        );
    }
}
