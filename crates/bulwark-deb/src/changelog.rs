//! Debian changelogs (deb-changelog(5)): the entries of a package's
//! changelog and the CVE ids its newer entries name.
//!
//! `bulwark patch` uses this to say which CVEs an upgrade fixes: the CVE ids
//! named in the entries newer than the installed version, up to and including
//! the new one ([`cves_between`]). The changelog comes from the new package's
//! filesystem ([`candidate_paths`]), gzip-compressed ([`read_gzip`]).
//!
//! An entry is a header line at column 0, indented body lines and a trailer:
//!
//! ```text
//! openssl (3.0.15-1~deb12u1) bookworm-security; urgency=medium
//!
//!   * CVE-2024-5535: fix SSL_select_next_proto buffer overread.
//!
//!  -- Maintainer Name <maint@example.org>  Mon, 02 Sep 2024 10:00:00 +0200
//! ```
//!
//! Parsing is lenient, as changelogs in the wild are: blank lines, tabs, a
//! missing trailer and junk lines between entries are accepted, and nothing
//! panics on any input. Text before the first header and after a trailer is
//! skipped until the next header; an old-style trailing section (`Local
//! variables:`, `vim:`, `Old Changelog:`, `Changes from version …`) ends the
//! changelog, as it does for dpkg.

use std::collections::HashSet;
use std::io::Read;

use crate::version::Version;

/// Why a compressed changelog could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    /// The data is not valid gzip, or reading it failed.
    #[error("cannot decompress changelog: {0}")]
    Io(#[from] std::io::Error),
    /// The changelog decompresses to more than the allowed size.
    #[error("changelog is larger than {limit} bytes decompressed")]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        limit: u64,
    },
}

/// One entry of a Debian changelog (deb-changelog(5)), borrowed from the
/// changelog text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The source package name, as written in the header.
    pub source: &'a str,
    /// The version between the parentheses of the header, unparsed (it may
    /// not be a valid Debian version).
    pub version: &'a str,
    /// The distribution(s) the upload was for (`bookworm-security`,
    /// `unstable experimental`), as written, trimmed.
    pub distributions: &'a str,
    /// The change details: the lines between the header and the trailer (or
    /// the next header when the trailer is missing) as written, without
    /// leading and trailing blank lines. Empty when there are none.
    pub body: &'a str,
}

/// The entries of a changelog, newest first; see [`entries`].
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    text: &'a str,
    /// Byte offset of the next line to look at.
    pos: usize,
    done: bool,
}

/// The entries of the changelog `text`, newest (first in the text) first.
///
/// Lines before the first header and between one entry's trailer and the
/// next header are skipped. Within an entry, every line up to the trailer
/// belongs to its body, even an unindented one that is not a header. An
/// old-style trailing section (`Local variables:`, `Old Changelog:`, …)
/// ends the iteration. Never panics, on any input.
pub fn entries(text: &str) -> Entries<'_> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Entries {
        text,
        pos: 0,
        done: false,
    }
}

impl<'a> Entries<'a> {
    /// The next line `(start, end, next)`: `text[start..end]` without its
    /// line terminator, `next` the offset of the following line.
    fn line_at(&self, start: usize) -> Option<(usize, usize, usize)> {
        if start >= self.text.len() {
            return None;
        }
        let rest = &self.text[start..];
        let (mut end, next) = match rest.find('\n') {
            Some(nl) => (start + nl, start + nl + 1),
            None => (self.text.len(), self.text.len()),
        };
        if self.text[start..end].ends_with('\r') {
            end -= 1;
        }
        Some((start, end, next))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        if self.done {
            return None;
        }
        // Skip to the next header.
        let (source, version, distributions) = loop {
            let Some((start, end, next)) = self.line_at(self.pos) else {
                self.done = true;
                return None;
            };
            let line = &self.text[start..end];
            self.pos = next;
            if is_end_marker(line) {
                self.done = true;
                return None;
            }
            if let Some(header) = parse_header(line) {
                break header;
            }
        };
        // The body runs to the trailer, the next header or an end marker.
        let body_start = self.pos;
        let mut body: Option<(usize, usize)> = None;
        while let Some((start, end, next)) = self.line_at(self.pos) {
            let line = &self.text[start..end];
            if is_end_marker(line) {
                self.done = true;
                break;
            }
            if parse_header(line).is_some() {
                break;
            }
            self.pos = next;
            if is_trailer(line) {
                break;
            }
            if !line.trim().is_empty() {
                body = Some((body.map_or(start, |(s, _)| s), end));
            }
        }
        Some(Entry {
            source,
            version,
            distributions,
            body: body.map_or(&self.text[body_start..body_start], |(s, e)| {
                &self.text[s..e]
            }),
        })
    }
}

impl std::iter::FusedIterator for Entries<'_> {}

/// Parses a header line `source (version) distribution(s); key=value, …`
/// into `(source, version, distributions)`. Spaces and tabs are accepted
/// between the parts; the `key=value` list is not checked.
fn parse_header(line: &str) -> Option<(&str, &str, &str)> {
    let source_len = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_')))
        .unwrap_or(line.len());
    let source = &line[..source_len];
    if !source.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let rest = line[source_len..].trim_start_matches([' ', '\t']);
    if rest.len() == line.len() - source_len {
        return None; // no separator between the name and the version
    }
    let rest = rest.strip_prefix('(')?;
    let close = rest.find(')')?;
    let version = rest[..close].trim_matches([' ', '\t']);
    if version.is_empty() || version.contains(|c: char| c.is_whitespace() || c == '(') {
        return None;
    }
    let rest = &rest[close + 1..];
    let semicolon = rest.find(';')?;
    let distributions = rest[..semicolon].trim_matches([' ', '\t']);
    if distributions.is_empty() || distributions.contains(['(', ')']) {
        return None;
    }
    Some((source, version, distributions))
}

/// Whether `line` is an entry's trailer, ` -- Name <email>  date`: `--`
/// after optional indentation, then whitespace, then an email in `<…>`.
fn is_trailer(line: &str) -> bool {
    let Some(rest) = line.trim_start_matches([' ', '\t']).strip_prefix("--") else {
        return false;
    };
    rest.starts_with([' ', '\t']) && rest.find('<').is_some_and(|lt| rest[lt..].contains('>'))
}

/// Whether `line` starts an old-style trailing section that ends the
/// changelog, as dpkg stops there: Emacs or vim variables, or the ancient
/// changelog formats some packages keep below their Debian entries.
fn is_end_marker(line: &str) -> bool {
    fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
        s.as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    }
    let emacs = line
        .strip_prefix(";;")
        .map_or(line, |rest| rest.trim_start_matches([' ', '\t']));
    starts_with_ignore_case(emacs, "local variables:")
        || starts_with_ignore_case(line, "vim:")
        || starts_with_ignore_case(line, "old changelog:")
        || starts_with_ignore_case(line, "changes from version ")
}

/// The CVE ids named in the entries of `text` whose version is newer than
/// `installed` and not newer than `new`, in Debian version ordering.
///
/// An id is `CVE-YYYY-NNNN`, with four or more digits after the year and
/// not part of a longer alphanumeric token (`XCVE-2024-1234` and
/// `CVE-2024-1234a` are not ids; `CVE-2024-1234.patch` and
/// `fix_CVE-2024-1234` hold one). Lower-case ids are accepted. Each id is
/// returned once, upper-cased, in order of first appearance (newest entry
/// first). Entries whose version does not parse are skipped; all entries
/// are looked at, as a changelog is not always in version order.
pub fn cves_between(text: &str, installed: &Version, new: &Version) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for entry in entries(text) {
        let Ok(version) = Version::parse(entry.version) else {
            continue;
        };
        if version <= *installed || version > *new {
            continue;
        }
        for id in cve_ids(entry.body) {
            let id = id.to_ascii_uppercase();
            if seen.insert(id.clone()) {
                out.push(id);
            }
        }
    }
    out
}

/// The CVE ids in `text`, as written (in any case), in order.
fn cve_ids(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while let Some(found) = find_ignore_case(&bytes[i..], b"cve-") {
            let start = i + found;
            i = start + 1;
            if start > 0 && bytes[start - 1].is_ascii_alphanumeric() {
                continue;
            }
            if let Some(end) = cve_id_end(bytes, start) {
                i = end;
                // The id is ASCII, so `start..end` are char boundaries.
                return Some(&text[start..end]);
            }
        }
        i = bytes.len();
        None
    })
}

/// The end of the CVE id starting with `CVE-` at `start`, if one does:
/// four digits, `-`, four or more digits, then no alphanumeric character.
fn cve_id_end(bytes: &[u8], start: usize) -> Option<usize> {
    let digits_from = |k: usize| {
        bytes
            .get(k..)
            .map_or(0, |s| s.iter().take_while(|b| b.is_ascii_digit()).count())
    };
    let year = start + 4;
    if digits_from(year) != 4 || bytes.get(year + 4) != Some(&b'-') {
        return None;
    }
    let number = year + 5;
    let len = digits_from(number);
    let end = number + len;
    if len < 4 || bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    Some(end)
}

/// The offset of the first ASCII case-insensitive occurrence of `needle`
/// (lower-case) in `haystack`.
fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// Reads a gzip-compressed changelog (`changelog.Debian.gz`), at most
/// `limit` bytes decompressed.
///
/// A changelog that decompresses to more than `limit` bytes is a
/// [`ChangelogError::TooLarge`], so a hostile package cannot make the reader
/// use unbounded memory; data that is not gzip is a [`ChangelogError::Io`].
/// Several concatenated gzip members are read as one stream. Invalid UTF-8
/// is replaced lossily (U+FFFD).
pub fn read_gzip(reader: impl Read, limit: u64) -> Result<String, ChangelogError> {
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(reader)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ChangelogError::TooLarge { limit });
    }
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// The paths, inside a package's filesystem, where the changelog of
/// `package` may be, in the order to try them:
///
/// 1. `/usr/share/doc/PKG/changelog.Debian.ARCH.gz`, which holds the entries
///    of binary-only (binNMU) uploads;
/// 2. `/usr/share/doc/PKG/changelog.Debian.gz`, the changelog of a
///    non-native package;
/// 3. `/usr/share/doc/PKG/changelog.gz`, the changelog of a native package.
///
/// A binNMU's `changelog.Debian.ARCH.gz` holds only the binNMU entries; the
/// source entries, and their CVEs, stay in `changelog.Debian.gz`, so a
/// caller wanting every entry reads each path that exists.
///
/// A `:arch` qualifier on `package` (`libc6:amd64`) is ignored. A package
/// name that is not one (empty, or with characters other than
/// `[A-Za-z0-9.+-]`, such as `/`) gives no paths; an `arch` that is empty or
/// has characters other than `[A-Za-z0-9-]` gives no binNMU path.
pub fn candidate_paths(package: &str, arch: &str) -> Vec<String> {
    let package = package.split_once(':').map_or(package, |(name, _)| name);
    let valid_package = package.starts_with(|c: char| c.is_ascii_alphanumeric())
        && package
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
    if !valid_package {
        return Vec::new();
    }
    let valid_arch =
        !arch.is_empty() && arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let dir = format!("/usr/share/doc/{package}");
    let mut paths = Vec::with_capacity(3);
    if valid_arch {
        paths.push(format!("{dir}/changelog.Debian.{arch}.gz"));
    }
    paths.push(format!("{dir}/changelog.Debian.gz"));
    paths.push(format!("{dir}/changelog.gz"));
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn between(text: &str, installed: &str, new: &str) -> Vec<String> {
        cves_between(text, &v(installed), &v(new))
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    const OPENSSL: &str = "\
openssl (3.0.16-1~deb12u1) bookworm-security; urgency=medium

  * New upstream release.
    - CVE-2024-13176: timing side-channel in ECDSA signature computation.
    - Fixes CVE-2024-9143 (out-of-bounds memory accesses in GF(2^m) APIs).

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sat, 15 Feb 2025 11:11:47 +0100

openssl (3.0.15-1~deb12u1) bookworm-security; urgency=medium

  * Import 3.0.15
    - CVE-2024-5535 (SSL_select_next_proto buffer overread).
    - CVE-2024-6119 (Possible denial of service in X.509 name checks).
    - CVE-2024-4741 (Use After Free with SSL_free_buffers), CVE-2024-2511.

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sun, 08 Sep 2024 16:49:12 +0200

openssl (3.0.14-1~deb12u2) bookworm-security; urgency=medium

  * CVE-2024-5535: fix buffer overread (again, see CVE-2024-5535).

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Mon, 01 Jul 2024 19:01:17 +0200

openssl (3.0.11-1~deb12u2) bookworm-security; urgency=medium

  * Fix CVE-2023-5678 (Closes: #1055473) [CVE-2023-6129, cve-2023-6237].

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Fri, 24 Nov 2023 21:44:05 +0100
";

    #[test]
    fn parses_entries() {
        let all: Vec<_> = entries(OPENSSL).collect();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].source, "openssl");
        assert_eq!(all[0].version, "3.0.16-1~deb12u1");
        assert_eq!(all[0].distributions, "bookworm-security");
        assert!(all[0].body.starts_with("  * New upstream release."));
        assert!(all[0].body.ends_with("GF(2^m) APIs)."));
        assert_eq!(
            all.iter().map(|e| e.version).collect::<Vec<_>>(),
            [
                "3.0.16-1~deb12u1",
                "3.0.15-1~deb12u1",
                "3.0.14-1~deb12u2",
                "3.0.11-1~deb12u2"
            ]
        );
        for e in &all {
            assert!(!e.body.contains(" -- "), "{e:?}");
        }
    }

    #[test]
    fn security_entry_with_several_cves() {
        assert_eq!(
            between(OPENSSL, "3.0.15-1~deb12u1", "3.0.16-1~deb12u1"),
            ["CVE-2024-13176", "CVE-2024-9143"]
        );
        assert_eq!(
            between(OPENSSL, "3.0.11-1~deb12u2", "3.0.16-1~deb12u1"),
            [
                "CVE-2024-13176",
                "CVE-2024-9143",
                "CVE-2024-5535",
                "CVE-2024-6119",
                "CVE-2024-4741",
                "CVE-2024-2511",
            ]
        );
        // Everything: lower-case ids are upper-cased, bracketed lists read.
        let all = between(OPENSSL, "3.0.0-1", "3.0.16-1~deb12u1");
        assert_eq!(
            &all[6..],
            ["CVE-2023-5678", "CVE-2023-6129", "CVE-2023-6237"]
        );
    }

    #[test]
    fn boundaries() {
        // Installed excluded, new included.
        assert_eq!(
            between(OPENSSL, "3.0.14-1~deb12u2", "3.0.15-1~deb12u1"),
            [
                "CVE-2024-5535",
                "CVE-2024-6119",
                "CVE-2024-4741",
                "CVE-2024-2511"
            ]
        );
        // Entries newer than `new` and older than `installed` ignored.
        assert_eq!(
            between(OPENSSL, "3.0.11-1~deb12u2", "3.0.14-1~deb12u2"),
            ["CVE-2024-5535"]
        );
        // `~` sorts before the end: 3.0.15-1~deb12u1 < 3.0.15-1.
        assert_eq!(
            between(OPENSSL, "3.0.15-1~deb12u1", "3.0.15-1"),
            Vec::<String>::new()
        );
        assert!(between(OPENSSL, "3.0.16-1~deb12u1", "3.0.16-1~deb12u1").is_empty());
        assert!(between(OPENSSL, "3.0.16-1~deb12u1", "3.0.11-1").is_empty());
        assert!(between(OPENSSL, "4.0-1", "5.0-1").is_empty());
        assert!(between(OPENSSL, "1.0-1", "2.0-1").is_empty());
    }

    #[test]
    fn epochs_and_binnmu() {
        let text = "\
libxml2 (2.9.14+dfsg-1.3~deb12u1+b1) bookworm; urgency=low, binary-only=yes

  * Binary-only non-maintainer upload for amd64; no source changes.
  * Rebuild against golang-1.19 1.19.8-2+deb12u2 for CVE-2023-45288.

 -- amd64 Build Daemon (x86-conova-01) <buildd_amd64-x86-conova-01@buildd.debian.org>  Thu, 01 Aug 2024 10:00:00 +0000
";
        let e: Vec<_> = entries(text).collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].version, "2.9.14+dfsg-1.3~deb12u1+b1");
        assert_eq!(
            between(
                text,
                "2.9.14+dfsg-1.3~deb12u1",
                "2.9.14+dfsg-1.3~deb12u1+b1"
            ),
            ["CVE-2023-45288"]
        );

        let epochs = "\
vim (2:9.0.1378-2+deb12u1) bookworm-security; urgency=high
  * CVE-2023-48231
 -- Maintainer <m@example.org>  Mon, 01 Jan 2024 00:00:00 +0000
vim (2:9.0.1378-2) unstable; urgency=medium
  * CVE-2023-2426
 -- Maintainer <m@example.org>  Mon, 01 Jan 2023 00:00:00 +0000
vim (9.9-1) unstable; urgency=medium
  * CVE-2001-1111: without an epoch, older than all of the above.
 -- Maintainer <m@example.org>  Mon, 01 Jan 2001 00:00:00 +0000
";
        assert_eq!(
            between(epochs, "1:99.0-1", "2:9.0.1378-2+deb12u1"),
            ["CVE-2023-48231", "CVE-2023-2426"]
        );
        assert_eq!(between(epochs, "2:9.0.1378-2", "3:0"), ["CVE-2023-48231"]);
        assert_eq!(between(epochs, "9.0-1", "9.9-1"), ["CVE-2001-1111"]);
    }

    #[test]
    fn dedup_keeps_first_appearance() {
        let text = "\
pkg (1.3-1) unstable; urgency=medium
  * CVE-2024-0003, cve-2024-0001
 -- M <m@example.org>  date
pkg (1.2-1) unstable; urgency=medium
  * Cve-2024-0001 again, then CVE-2024-0002, CVE-2024-0003.
 -- M <m@example.org>  date
";
        assert_eq!(
            between(text, "1.0", "2.0"),
            ["CVE-2024-0003", "CVE-2024-0001", "CVE-2024-0002"]
        );
    }

    #[test]
    fn cve_word_boundaries() {
        fn ids(s: &str) -> Vec<&str> {
            cve_ids(s).collect()
        }
        assert_eq!(ids("CVE-2024-12345"), ["CVE-2024-12345"]);
        assert_eq!(ids("CVE-2024-1234567"), ["CVE-2024-1234567"]);
        assert!(ids("XCVE-2024-1234").is_empty());
        assert!(ids("1CVE-2024-1234").is_empty());
        assert!(ids("CVE-2024-1234a").is_empty());
        assert!(ids("CVE-2024-123").is_empty());
        assert!(ids("CVE-202-1234").is_empty());
        assert!(ids("CVE-20245-1234").is_empty());
        assert!(ids("CVE-2024_1234").is_empty());
        assert!(ids("CVE-2024-").is_empty());
        assert!(ids("CVE-").is_empty());
        assert!(ids("CVE-2024-1234CVE-2024-5678").is_empty());
        assert_eq!(
            ids("debian/patches/CVE-2024-1234.patch, fix_CVE-2024-2345-2.patch"),
            ["CVE-2024-1234", "CVE-2024-2345"]
        );
        assert_eq!(
            ids("(Closes: #123) [CVE-2023-5678, CVE-2023-5679]"),
            ["CVE-2023-5678", "CVE-2023-5679"]
        );
        assert_eq!(ids("é CVE-2024-1111é"), ["CVE-2024-1111"]);
        assert_eq!(ids("cvE-cve-2024-1111"), ["cve-2024-1111"]);
    }

    #[test]
    fn lenient_layout() {
        // Junk before and between entries, tabs, CRLF, a BOM, a missing
        // trailer, an unindented body line.
        let text = [
            "\u{feff}junk before",
            "pkg\t(1.2-1)\tunstable  experimental ;urgency=low",
            "\tCVE-2024-0002 tab-indented",
            "unindented CVE-2024-0003 text",
            "pkg (1.1-1) unstable; urgency=low",
            "",
            "  * no trailer above; CVE-2024-0001",
            "\t",
            " -- M <m@example.org>  date",
            "  stray CVE-2024-9999 after the trailer",
            "junk between",
            "pkg (1.0-1) unstable; urgency=low",
        ]
        .join("\r\n");
        let text = text.as_str();
        let e: Vec<_> = entries(text).collect();
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(e[0].distributions, "unstable  experimental");
        assert_eq!(
            e[0].body,
            "\tCVE-2024-0002 tab-indented\r\nunindented CVE-2024-0003 text"
        );
        assert_eq!(e[1].body, "  * no trailer above; CVE-2024-0001");
        assert_eq!((e[2].version, e[2].body), ("1.0-1", ""));
        assert_eq!(
            between(text, "1.0-1", "1.2-1"),
            ["CVE-2024-0002", "CVE-2024-0003", "CVE-2024-0001"]
        );
    }

    #[test]
    fn stops_at_old_style_sections() {
        let text = "\
pkg (1.1-1) unstable; urgency=low
  * CVE-2024-0001
 -- M <m@example.org>  date

Local variables:
mode: debian-changelog
End:
pkg (1.0-1) unstable; urgency=low
  * CVE-2024-0002
";
        assert_eq!(entries(text).count(), 1);
        assert_eq!(between(text, "0.1", "9"), ["CVE-2024-0001"]);
        for marker in [
            ";; Local Variables:",
            "Old Changelog:",
            "vim: ft=debchangelog",
            "Changes from version 0.9 to 1.0:",
        ] {
            // Also when it cuts an entry without a trailer short.
            let text = format!(
                "pkg (2-1) unstable; urgency=low\n  * CVE-2024-0003\n{marker}\n  * CVE-2024-0004\npkg (1-1) unstable; urgency=low\n  * CVE-2024-0005\n"
            );
            let e: Vec<_> = entries(&text).collect();
            assert_eq!(e.len(), 1, "{marker}");
            assert_eq!(e[0].body, "  * CVE-2024-0003");
            assert_eq!(between(&text, "0", "9"), ["CVE-2024-0003"]);
        }
    }

    #[test]
    fn malformed_headers_and_versions() {
        let text = "\
not a header (1.0) unstable; urgency=low
 pkg (9.0-1) unstable; urgency=low
pkg (1.0 1) unstable; urgency=low
pkg (1.0-1) unstable urgency=low
pkg () unstable; urgency=low
pkg(1.0-1) unstable; urgency=low
pkg (1.0-1) ; urgency=low
-pkg (1.0-1) unstable; urgency=low
pkg (1.0-1
";
        assert_eq!(entries(text).count(), 0);
        // A header whose version does not parse is an entry, skipped by
        // `cves_between`.
        let text = "\
pkg (1.0_bad) unstable; urgency=low
  * CVE-2024-0001
pkg (1.0-1) unstable; urgency=low
  * CVE-2024-0002
";
        let e: Vec<_> = entries(text).collect();
        assert_eq!(e[0].version, "1.0_bad");
        assert_eq!(between(text, "0.1", "9"), ["CVE-2024-0002"]);
    }

    #[test]
    fn junk_input() {
        for junk in [
            "",
            "\n\n\n",
            "\r",
            "(",
            "a (",
            "a ()",
            "a (1);",
            " -- <>",
            "CVE-2024-1234",
            "pkg (1.0) x;\n -- <",
            "\u{0}\u{fffd}\u{10ffff}",
            "pkg (1.0) é;\n  CVE-2024-1234é\n",
        ] {
            let _ = entries(junk).count();
            let _ = between(junk, "0", "99");
        }
        assert_eq!(
            between("pkg (1.0) é;\n  CVE-2024-1234é\n", "0", "9"),
            ["CVE-2024-1234"]
        );
        assert!(between("CVE-2024-1234\n", "0", "9").is_empty());
        // Long inputs stay linear: many `CVE-` prefixes that fail late.
        let long = format!("pkg (1.0) x;\n {}", "CVE-2024-123 ".repeat(20_000));
        assert!(between(&long, "0", "9").is_empty());
    }

    #[test]
    fn read_gzip_limits_size() {
        let data = OPENSSL.as_bytes();
        let gz = gzip(data);
        assert_eq!(read_gzip(&gz[..], data.len() as u64).unwrap(), OPENSSL);
        assert_eq!(read_gzip(&gz[..], u64::MAX).unwrap(), OPENSSL);
        let err = read_gzip(&gz[..], data.len() as u64 - 1).unwrap_err();
        assert!(
            matches!(err, ChangelogError::TooLarge { limit } if limit == data.len() as u64 - 1)
        );
        assert!(err.to_string().contains("larger than"));
        // A gzip bomb is cut off at the limit.
        let bomb = gzip(&vec![b'a'; 8 << 20]);
        assert!(matches!(
            read_gzip(&bomb[..], 1 << 20),
            Err(ChangelogError::TooLarge { .. })
        ));
        assert!(matches!(
            read_gzip(&gzip(b"x")[..], 0),
            Err(ChangelogError::TooLarge { limit: 0 })
        ));
        assert_eq!(read_gzip(&gzip(b"")[..], 0).unwrap(), "");
    }

    #[test]
    fn read_gzip_lossy_and_errors() {
        let gz = gzip(b"pkg (1.0) x; urgency=low\n  caf\xe9 CVE-2024-1234\n");
        let text = read_gzip(&gz[..], 1000).unwrap();
        assert!(text.contains("caf\u{fffd} CVE-2024-1234"));
        // Several members are one stream.
        let mut two = gzip(b"ab");
        two.extend(gzip(b"cd"));
        assert_eq!(read_gzip(&two[..], 4).unwrap(), "abcd");
        assert!(matches!(
            read_gzip(&two[..], 3),
            Err(ChangelogError::TooLarge { .. })
        ));
        // Empty input, not gzip, and truncated gzip.
        assert!(matches!(
            read_gzip(&b""[..], 10),
            Err(ChangelogError::Io(_))
        ));
        assert!(matches!(
            read_gzip(&b"plain text changelog"[..], 1000),
            Err(ChangelogError::Io(_))
        ));
        let gz = gzip(OPENSSL.as_bytes());
        assert!(matches!(
            read_gzip(&gz[..gz.len() / 2], 1 << 20),
            Err(ChangelogError::Io(_))
        ));
    }

    #[test]
    fn candidate_paths_order() {
        assert_eq!(
            candidate_paths("libssl3", "amd64"),
            [
                "/usr/share/doc/libssl3/changelog.Debian.amd64.gz",
                "/usr/share/doc/libssl3/changelog.Debian.gz",
                "/usr/share/doc/libssl3/changelog.gz",
            ]
        );
        assert_eq!(
            candidate_paths("libc6:arm64", "arm64")[1],
            "/usr/share/doc/libc6/changelog.Debian.gz"
        );
        assert_eq!(
            candidate_paths("g++-12", ""),
            [
                "/usr/share/doc/g++-12/changelog.Debian.gz",
                "/usr/share/doc/g++-12/changelog.gz",
            ]
        );
        assert_eq!(candidate_paths("base-files", "../x").len(), 2);
        assert!(candidate_paths("", "amd64").is_empty());
        assert!(candidate_paths("../../etc", "amd64").is_empty());
        assert!(candidate_paths("a/b", "amd64").is_empty());
    }

    /// Changelog-shaped text: headers, body lines, trailers, CVE-like
    /// tokens, markers and junk, in any order.
    fn changelog_strategy() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            "[a-z0-9.+-]{1,8} \\([0-9:.~+a-z-]{0,10}\\) [a-z -]{0,12};[a-z=, ]{0,12}",
            "[ \t]{1,3}[*-]? ?[a-zA-Z ]{0,8}",
            "[ \t]{0,3}[cC][vV][eE]-[0-9]{0,5}-?[0-9]{0,6}[a-z.,)]?",
            " -- [a-zA-Z ]{0,6}<[a-z@.]{0,6}>? [a-zA-Z0-9 ,:+]{0,10}",
            Just(String::new()),
            Just("Local variables:".to_string()),
            "\\PC{0,12}",
        ];
        prop::collection::vec(line, 0..24).prop_map(|lines| lines.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 500,
            failure_persistence: None,
            rng_algorithm: prop::test_runner::RngAlgorithm::ChaCha,
            rng_seed: prop::test_runner::RngSeed::Fixed(0x0062_756c_7761_726b),
            ..ProptestConfig::default()
        })]
        #[test]
        fn never_panics(
            text in prop_oneof![any::<String>(), changelog_strategy()],
            installed in prop_oneof![Just("0".to_string()), "[0-9]{1,2}:?[0-9.~+a-z]{1,6}"],
        ) {
            let Ok(installed) = Version::parse(&installed) else { return Ok(()); };
            let new = v("99:0");
            let range = text.as_ptr() as usize..=text.as_ptr() as usize + text.len();
            for e in entries(&text) {
                for part in [e.source, e.version, e.distributions, e.body] {
                    prop_assert!(range.contains(&(part.as_ptr() as usize)));
                    prop_assert!(range.contains(&(part.as_ptr() as usize + part.len())));
                }
                prop_assert!(!e.source.is_empty() && !e.version.is_empty());
                prop_assert!(!e.body.contains('\n') || !e.body.ends_with('\n'));
            }
            let ids = cves_between(&text, &installed, &new);
            let unique: HashSet<_> = ids.iter().collect();
            prop_assert_eq!(unique.len(), ids.len());
            for id in &ids {
                prop_assert!(id.starts_with("CVE-"), "{}", id);
                prop_assert!(text.to_ascii_uppercase().contains(id.as_str()));
            }
        }
    }
}
