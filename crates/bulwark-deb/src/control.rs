//! Zero-copy parsing of deb822 control paragraphs (`Packages`, `status`,
//! `DEBIAN/control`).
//!
//! Parsing is lazy: [`paragraphs`] only finds paragraph boundaries, and
//! [`Paragraph::get`] scans one paragraph's lines. That keeps reading a
//! 50 MB `Packages` index close to memory speed.

use std::ops::Range;

/// A malformed control paragraph.
#[derive(Debug, thiserror::Error)]
#[error("malformed control data at line {line}: {reason}")]
pub struct ControlError {
    /// 1-based line number within the parsed text.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// One control paragraph, borrowed from the text it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paragraph<'a> {
    text: &'a str,
}

impl<'a> Paragraph<'a> {
    /// Wraps one paragraph's text (no blank lines inside) without checking it.
    /// Use [`paragraphs`] or [`Paragraph::parse_single`] for untrusted input.
    pub fn new_unchecked(text: &'a str) -> Self {
        Self { text }
    }

    /// Parses text that holds exactly one paragraph, validating every line.
    pub fn parse_single(text: &'a str) -> Result<Self, ControlError> {
        let mut it = paragraphs(text);
        let first = match it.next() {
            Some(p) => p?.1,
            None => {
                return Err(ControlError {
                    line: 1,
                    reason: "no paragraph",
                })
            }
        };
        if let Some(extra) = it.next() {
            let (range, _) = extra?;
            return Err(ControlError {
                line: text[..range.start].lines().count() + 1,
                reason: "more than one paragraph",
            });
        }
        Ok(first)
    }

    /// The paragraph's text, without the trailing blank line.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The value of `field` (case-insensitive), trimmed. Continuation lines of
    /// a multi-line field are kept as written, joined by `\n`.
    pub fn get(&self, field: &str) -> Option<&'a str> {
        let mut lines = LineSpans::new(self.text);
        while let Some((start, end)) = lines.next() {
            let line = &self.text[start..end];
            if line.starts_with([' ', '\t']) || line.starts_with('#') {
                continue;
            }
            let Some(colon) = line.find(':') else {
                continue;
            };
            if !line[..colon].eq_ignore_ascii_case(field) {
                continue;
            }
            let value_start = start + colon + 1;
            let mut value_end = end;
            while let Some((s, e)) = lines.peek() {
                if self.text[s..e].starts_with([' ', '\t']) {
                    value_end = e;
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(self.text[value_start..value_end].trim());
        }
        None
    }

    /// Iterates `(field, value)` pairs in order; values are as in [`get`](Self::get).
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let text = self.text;
        let mut lines = LineSpans::new(text);
        std::iter::from_fn(move || loop {
            let (start, end) = lines.next()?;
            let line = &text[start..end];
            if line.starts_with([' ', '\t', '#']) {
                continue;
            }
            let colon = line.find(':')?;
            let mut value_end = end;
            while let Some((s, e)) = lines.peek() {
                if text[s..e].starts_with([' ', '\t']) {
                    value_end = e;
                    lines.next();
                } else {
                    break;
                }
            }
            return Some((&line[..colon], text[start + colon + 1..value_end].trim()));
        })
    }
}

/// Splits control text into paragraphs, yielding each paragraph's byte range
/// in `text` and its view. Blank lines (including lines of only whitespace)
/// separate paragraphs; `#` comment lines are skipped. A line that is neither
/// a field, a continuation nor a comment is an error.
pub fn paragraphs(
    text: &str,
) -> impl Iterator<Item = Result<(Range<usize>, Paragraph<'_>), ControlError>> + '_ {
    let mut pos = 0usize;
    let mut line_no = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        // Skip blank lines between paragraphs.
        let mut start = None;
        let mut end = pos;
        let mut first_line = true;
        while pos < text.len() {
            let nl = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
            let line = &text[pos..nl];
            line_no += 1;
            let next = (nl + 1).min(text.len());
            if line.trim().is_empty() {
                pos = next;
                if start.is_some() {
                    break;
                }
                continue;
            }
            let valid = line.starts_with('#')
                || (line.starts_with([' ', '\t']) && !first_line)
                || line
                    .find(':')
                    .is_some_and(|c| c > 0 && !line[..c].contains(char::is_whitespace));
            if !valid {
                failed = true;
                return Some(Err(ControlError {
                    line: line_no,
                    reason: if line.starts_with([' ', '\t']) {
                        "continuation line without a field"
                    } else {
                        "expected `Field: value`"
                    },
                }));
            }
            if !line.starts_with('#') {
                first_line = false;
            }
            start.get_or_insert(pos);
            end = nl;
            pos = next;
        }
        let start = start?;
        let body = text[start..end].trim_end_matches('\r');
        Some(Ok((start..start + body.len(), Paragraph { text: body })))
    })
}

/// Line spans (start, end) without the newline, with one line of look-ahead.
struct LineSpans<'a> {
    text: &'a str,
    pos: usize,
    peeked: Option<(usize, usize)>,
}

impl<'a> LineSpans<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            peeked: None,
        }
    }

    fn scan(&mut self) -> Option<(usize, usize)> {
        if self.pos >= self.text.len() {
            return None;
        }
        let start = self.pos;
        let end = self.text[start..]
            .find('\n')
            .map_or(self.text.len(), |i| start + i);
        self.pos = end + 1;
        Some((start, end))
    }

    fn peek(&mut self) -> Option<(usize, usize)> {
        if self.peeked.is_none() {
            self.peeked = self.scan();
        }
        self.peeked
    }
}

impl Iterator for LineSpans<'_> {
    type Item = (usize, usize);
    fn next(&mut self) -> Option<(usize, usize)> {
        self.peeked.take().or_else(|| self.scan())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: libc6\nVersion: 2.36-9+deb12u10\nDescription: GNU C Library\n shared libraries\n .\n more\nDepends: libgcc-s1\n\n\nPackage: tzdata\n# a comment\nVersion: 2025a-0+deb12u1\n";

    #[test]
    fn splits_and_reads_fields() {
        let ps: Vec<_> = paragraphs(TEXT).map(|p| p.unwrap().1).collect();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("libc6"));
        assert_eq!(
            ps[0].get("Description"),
            Some("GNU C Library\n shared libraries\n .\n more")
        );
        assert_eq!(ps[0].get("Depends"), Some("libgcc-s1"));
        assert_eq!(ps[0].get("Missing"), None);
        assert_eq!(ps[1].get("Version"), Some("2025a-0+deb12u1"));
        let names: Vec<_> = ps[0].fields().map(|(k, _)| k).collect();
        assert_eq!(names, ["Package", "Version", "Description", "Depends"]);
    }

    #[test]
    fn rejects_garbage_with_line_number() {
        let err = paragraphs("Package: a\nnot a field\n")
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert_eq!(err.line, 2);
        let err = paragraphs(" leading continuation\n")
            .collect::<Result<Vec<_>, _>>()
            .unwrap_err();
        assert_eq!(err.line, 1);
    }

    #[test]
    fn single_paragraph() {
        assert!(Paragraph::parse_single("A: b\n\nC: d\n").is_err());
        assert_eq!(
            Paragraph::parse_single("A: b\n").unwrap().get("a"),
            Some("b")
        );
    }

    #[test]
    fn crlf_and_whitespace_only_separators() {
        let ps: Vec<_> = paragraphs("A: 1\r\n \t\nB: 2\n")
            .map(|p| p.unwrap().1)
            .collect();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("A"), Some("1"));
    }
}
