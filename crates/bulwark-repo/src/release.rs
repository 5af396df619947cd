//! The `Release` file of a repository suite.

use std::collections::BTreeMap;
use std::sync::Arc;

use bulwark_deb::Paragraph;

use crate::Source;

/// One file listed in a Release file's `SHA256` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseFile {
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

/// A verified Release file of one source.
#[derive(Clone, Debug)]
pub struct Release {
    /// `Origin`, e.g. `Debian`.
    pub origin: Option<String>,
    /// `Label`, e.g. `Debian-Security`.
    pub label: Option<String>,
    /// The Release file's `Suite` (e.g. `oldstable`), else the source's suite.
    pub suite: String,
    /// `Codename`, e.g. `bookworm`.
    pub codename: Option<String>,
    /// `Version`, e.g. `12.11`.
    pub version: Option<String>,
    /// `Date` as written.
    pub date: Option<String>,
    /// `Valid-Until` as written.
    pub valid_until: Option<String>,
    /// Whether indices may be fetched by hash (`Acquire-By-Hash: yes`).
    pub acquire_by_hash: bool,
    /// `Architectures`.
    pub architectures: Vec<String>,
    /// `Components`.
    pub components: Vec<String>,
    /// Whether `Architecture: all` packages are only listed in the
    /// architecture-specific indices (`No-Support-for-Architecture-all: Packages`).
    pub no_support_for_architecture_all: bool,
    /// The `SHA256` list: path relative to `dists/SUITE/` → size and digest.
    pub files: BTreeMap<String, ReleaseFile>,
    /// The source this Release belongs to.
    pub source: Arc<Source>,
    /// The SHA-256 of the `InRelease` file it was read from.
    pub inrelease_sha256: String,
}

impl Release {
    /// A Release with only the source and suite filled in, for tests and for
    /// indices that were not read from a repository.
    pub fn for_source(source: Arc<Source>) -> Release {
        Release {
            origin: None,
            label: None,
            suite: source.suite.clone(),
            codename: None,
            version: None,
            date: None,
            valid_until: None,
            acquire_by_hash: false,
            architectures: Vec::new(),
            components: source.components.clone(),
            no_support_for_architecture_all: true,
            files: BTreeMap::new(),
            source,
            inrelease_sha256: String::new(),
        }
    }

    /// Parses the (already verified) text of a Release file.
    pub fn parse(
        text: &str,
        source: Arc<Source>,
        inrelease_sha256: String,
    ) -> Result<Release, String> {
        let p = Paragraph::parse_single(text).map_err(|e| e.to_string())?;
        let string = |f: &str| p.get(f).map(str::to_string);
        let words = |f: &str| {
            p.get(f)
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let mut files = BTreeMap::new();
        for line in p.get("SHA256").unwrap_or("").lines() {
            let mut parts = line.split_whitespace();
            let (Some(sha), Some(size), Some(name), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(format!("malformed SHA256 line `{}`", line.trim()));
            };
            let size: u64 = size
                .parse()
                .map_err(|_| format!("malformed size in SHA256 line `{}`", line.trim()))?;
            let sha256 = sha.to_ascii_lowercase();
            if !bulwark_cache::is_sha256_hex(&sha256) {
                return Err(format!("malformed digest in SHA256 line `{}`", line.trim()));
            }
            files.insert(name.to_string(), ReleaseFile { size, sha256 });
        }
        Ok(Release {
            origin: string("Origin"),
            label: string("Label"),
            suite: string("Suite").unwrap_or_else(|| source.suite.clone()),
            codename: string("Codename"),
            version: string("Version"),
            date: string("Date"),
            valid_until: string("Valid-Until"),
            acquire_by_hash: p
                .get("Acquire-By-Hash")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            architectures: words("Architectures"),
            components: words("Components"),
            no_support_for_architecture_all: p
                .get("No-Support-for-Architecture-all")
                .is_some_and(|v| v == "Packages"),
            files,
            source,
            inrelease_sha256,
        })
    }

    /// `Date` in seconds since the Unix epoch, if present and well-formed.
    pub fn date_unix(&self) -> Option<i64> {
        self.date.as_deref().and_then(parse_rfc2822)
    }

    /// `Valid-Until` in seconds since the Unix epoch, if present and
    /// well-formed.
    pub fn valid_until_unix(&self) -> Option<i64> {
        self.valid_until.as_deref().and_then(parse_rfc2822)
    }
}

/// Parses a Release-file date such as `Sat, 11 Jul 2026 10:16:37 UTC`
/// (RFC 2822, zone `UTC`, `GMT`, `Z` or `±HHMM`) into seconds since the
/// Unix epoch.
pub fn parse_rfc2822(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = match s.split_once(',') {
        Some((_, rest)) => rest.trim(),
        None => s,
    };
    let mut parts = s.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let month = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|m| month.len() >= 3 && month[..3].eq_ignore_ascii_case(m))? as u32
        + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = hms.next().map_or(Some(0), |v| v.parse().ok())?;
    let offset = match parts.next() {
        None | Some("UTC" | "GMT" | "Z" | "UT") => 0,
        Some(z) if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let hh: i64 = z[1..3].parse().ok()?;
            let mm: i64 = z[3..5].parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if z.starts_with('-') {
                -v
            } else {
                v
            }
        }
        Some(_) => return None,
    };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86400 + h * 3600 + m * 60 + sec - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_gnu_date() {
        for s in [
            "Sat, 11 Jul 2026 10:16:37 UTC",
            "Fri, 27 Nov 2026 00:12:41 UTC",
            "Thu, 01 Jan 1970 00:00:00 UTC",
            "Tue, 29 Feb 2000 23:59:59 +0200",
            "Mon, 1 Mar 2100 12:00:00 -0130",
        ] {
            let out = std::process::Command::new("date")
                .args(["-u", "+%s", "-d", s])
                .output()
                .unwrap();
            let expected: i64 = String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            assert_eq!(parse_rfc2822(s), Some(expected), "{s}");
        }
        assert_eq!(parse_rfc2822("yesterday"), None);
        assert_eq!(parse_rfc2822("Sat, 11 Foo 2026 10:16:37 UTC"), None);
        assert_eq!(parse_rfc2822("Sat, 11 Jul 2026 10:16:37 PST"), None);
    }

    #[test]
    fn parses_release_fields() {
        let text = "Origin: Debian\nLabel: Debian-Security\nSuite: oldstable-security\nVersion: 12\nCodename: bookworm-security\n\
Date: Fri, 20 Nov 2026 00:12:41 UTC\nValid-Until: Fri, 27 Nov 2026 00:12:41 UTC\nAcquire-By-Hash: yes\n\
No-Support-for-Architecture-all: Packages\nArchitectures: amd64 arm64\nComponents: updates/main\n\
MD5Sum:\n 00 1 main/x\nSHA256:\n fadf41b0ef642d1c750f880f5844753ef5ab8d529ac4c190060d5f8bea63a801  2515915 main/binary-amd64/Packages\n";
        let source = Arc::new(Source::new(
            "http://x",
            "bookworm-security",
            &["main"],
            crate::SignedBy::Inline(String::new()),
        ));
        let r = Release::parse(text, source, "ab".into()).unwrap();
        assert_eq!(r.label.as_deref(), Some("Debian-Security"));
        // What an image without base-files takes its os-release from.
        assert_eq!(r.version.as_deref(), Some("12"));
        assert_eq!(r.codename.as_deref(), Some("bookworm-security"));
        assert_eq!(r.suite, "oldstable-security");
        assert!(r.acquire_by_hash && r.no_support_for_architecture_all);
        assert_eq!(r.architectures, ["amd64", "arm64"]);
        assert_eq!(r.files.len(), 1);
        assert_eq!(r.files["main/binary-amd64/Packages"].size, 2_515_915);
        assert_eq!(r.valid_until_unix(), Some(1_795_738_361));
        assert!(
            Release::parse("SHA256:\n zz 1 main/x\n", r.source.clone(), String::new()).is_err()
        );
    }
}
