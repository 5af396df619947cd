//! Packages indices split into cheap, shareable package records.

use std::ops::Range;
use std::sync::Arc;

use bulwark_deb::Paragraph;

use crate::{Error, Release};

/// Byte offsets of one stanza and of its most used values in the index text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Spans {
    stanza: (u32, u32),
    name: (u32, u32),
    version: (u32, u32),
    arch: (u32, u32),
}

/// The text at `start..end`. The index was validated as UTF-8 when loaded
/// and spans lie on ASCII boundaries, so the check here never fails in
/// practice; it only costs a scan of the (small) slice.
fn slice(text: &[u8], (start, end): (u32, u32)) -> &str {
    text.get(start as usize..end as usize)
        .and_then(|b| std::str::from_utf8(b).ok())
        .unwrap_or("")
}

/// One package stanza of a Packages index.
///
/// Cloning is cheap: the index text and the [`Release`] are shared.
/// [`name`](Self::name), [`version`](Self::version) and
/// [`architecture`](Self::architecture) are precomputed.
#[derive(Clone)]
pub struct AvailablePackage {
    text: Arc<[u8]>,
    spans: Spans,
    release: Arc<Release>,
    component: Arc<str>,
}

impl std::fmt::Debug for AvailablePackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvailablePackage")
            .field("name", &self.name())
            .field("version", &self.version())
            .field("architecture", &self.architecture())
            .field("source", &self.release.source.display_name())
            .finish()
    }
}

impl AvailablePackage {
    /// The package whose stanza is `text[span]`. The component is taken
    /// from the `Filename` (`pool/COMPONENT/…`), else left empty.
    pub fn from_text(text: Arc<str>, span: Range<usize>, release: Arc<Release>) -> Self {
        let start = u32::try_from(span.start).unwrap_or(u32::MAX);
        let end = u32::try_from(span.end).unwrap_or(u32::MAX);
        let stanza = text.get(span).unwrap_or("");
        let spans = stanza_spans(stanza, start, end);
        let mut package = AvailablePackage {
            text: Arc::from(text),
            spans,
            release,
            component: Arc::from(""),
        };
        if let Some(c) = package
            .filename()
            .and_then(|f| f.strip_prefix("pool/"))
            .and_then(|f| f.split('/').next())
        {
            package.component = Arc::from(c);
        }
        package
    }

    /// The whole stanza as a control paragraph.
    pub fn paragraph(&self) -> Paragraph<'_> {
        Paragraph::new_unchecked(slice(&self.text, self.spans.stanza))
    }

    /// `Package`.
    pub fn name(&self) -> &str {
        slice(&self.text, self.spans.name)
    }

    /// `Version`.
    pub fn version(&self) -> &str {
        slice(&self.text, self.spans.version)
    }

    /// `Architecture`, e.g. `amd64` or `all`.
    pub fn architecture(&self) -> &str {
        slice(&self.text, self.spans.arch)
    }

    /// `Filename`, the path of the `.deb` relative to the repository URI.
    pub fn filename(&self) -> Option<&str> {
        self.paragraph().get("Filename")
    }

    /// `Size` in bytes.
    pub fn size(&self) -> Option<u64> {
        self.paragraph().get("Size").and_then(|s| s.parse().ok())
    }

    /// `SHA256` of the `.deb`.
    pub fn sha256(&self) -> Option<&str> {
        self.paragraph().get("SHA256")
    }

    /// The `.deb`'s download URL: the source URI, `/`, and `Filename`.
    pub fn url(&self) -> Option<String> {
        let filename = self.filename()?;
        Some(format!(
            "{}/{}",
            self.release.source.uri,
            filename.trim_start_matches('/')
        ))
    }

    /// The component of the index it was listed in, e.g. `main`.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The Release it came from.
    pub fn release(&self) -> &Arc<Release> {
        &self.release
    }
}

/// Every package of the loaded sources.
#[derive(Clone, Debug, Default)]
pub struct PackageIndex {
    /// The verified Release of each source, in source order.
    pub releases: Vec<Arc<Release>>,
    /// Packages in source, component and index order.
    pub packages: Vec<AvailablePackage>,
}

impl PackageIndex {
    /// An index of the stanzas in `text`, all from `release`.
    pub fn from_packages_text(text: &str, release: Arc<Release>) -> Result<Self, Error> {
        let spans = split(text).map_err(|reason| Error::Index {
            url: format!("{} (text)", release.source.display_name()),
            reason,
        })?;
        let component: Arc<str> = Arc::from("");
        let mut index = PackageIndex {
            releases: vec![release.clone()],
            packages: Vec::with_capacity(spans.len()),
        };
        let text: Arc<[u8]> = Arc::from(text.as_bytes());
        index.extend(&text, &spans, &release, &component);
        for p in &mut index.packages {
            if let Some(c) = p
                .filename()
                .and_then(|f| f.strip_prefix("pool/"))
                .and_then(|f| f.split('/').next())
            {
                p.component = Arc::from(c);
            }
        }
        Ok(index)
    }

    pub(crate) fn extend(
        &mut self,
        text: &Arc<[u8]>,
        spans: &[Spans],
        release: &Arc<Release>,
        component: &Arc<str>,
    ) {
        self.packages
            .extend(spans.iter().map(|&spans| AvailablePackage {
                text: text.clone(),
                spans,
                release: release.clone(),
                component: component.clone(),
            }));
    }
}

/// Finds the `Package`, `Version` and `Architecture` values of a stanza that
/// starts at byte `base` of the index.
fn stanza_spans(stanza: &str, base: u32, end: u32) -> Spans {
    let mut spans = Spans {
        stanza: (base, end),
        ..Spans::default()
    };
    let mut pos = 0usize;
    let bytes = stanza.as_bytes();
    while pos < bytes.len() {
        let line_end = memchr_nl(bytes, pos).unwrap_or(bytes.len());
        record_field(stanza, pos, line_end, base, &mut spans);
        pos = line_end + 1;
    }
    spans
}

fn memchr_nl(bytes: &[u8], from: usize) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

/// If the line `text[start..end]` is one of the precomputed fields, records
/// its trimmed value (offsets relative to the index, shifted by `base`).
#[inline]
fn record_field(text: &str, start: usize, end: usize, base: u32, spans: &mut Spans) {
    let line = &text.as_bytes()[start..end];
    let (field, slot) = match line.first() {
        Some(b'P' | b'p') => ("package:", &mut spans.name),
        Some(b'V' | b'v') => ("version:", &mut spans.version),
        Some(b'A' | b'a') => ("architecture:", &mut spans.arch),
        _ => return,
    };
    if line.len() < field.len() || !line[..field.len()].eq_ignore_ascii_case(field.as_bytes()) {
        return;
    }
    let mut s = start + field.len();
    let mut e = end;
    let b = text.as_bytes();
    while s < e && b[s].is_ascii_whitespace() {
        s += 1;
    }
    while e > s && b[e - 1].is_ascii_whitespace() {
        e -= 1;
    }
    // Offsets fit: callers check the text is shorter than 4 GiB.
    *slot = (base + s as u32, base + e as u32);
}

/// Splits a Packages index into stanzas in one pass.
pub(crate) fn split(text: &str) -> Result<Vec<Spans>, String> {
    if u32::try_from(text.len()).is_err() {
        return Err("index larger than 4 GiB".into());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() / 700);
    let mut pos = 0usize;
    let mut current: Option<Spans> = None;
    let mut stanza_end = 0usize;
    let mut line_no = 0usize;
    let finish = |spans: Spans, end: usize, out: &mut Vec<Spans>| -> Result<(), String> {
        let mut spans = spans;
        spans.stanza.1 = end as u32;
        let stanza = slice(text.as_bytes(), spans.stanza);
        for (value, field) in [
            (spans.name, "Package"),
            (spans.version, "Version"),
            (spans.arch, "Architecture"),
        ] {
            if value.0 == value.1 {
                let first = stanza.lines().next().unwrap_or("");
                return Err(format!("stanza `{first}` has no `{field}`"));
            }
        }
        out.push(spans);
        Ok(())
    };
    // One vectorized pass over the newlines; the final line may lack one.
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    for line_end in ends {
        if pos > bytes.len() {
            break;
        }
        line_no += 1;
        let line = &bytes[pos..line_end];
        match line.first() {
            // A blank line (or one of only whitespace) ends a stanza.
            None => {
                if let Some(spans) = current.take() {
                    finish(spans, stanza_end, &mut out)?;
                }
            }
            Some(first) => {
                if first.is_ascii_whitespace() && line.iter().all(u8::is_ascii_whitespace) {
                    if let Some(spans) = current.take() {
                        finish(spans, stanza_end, &mut out)?;
                    }
                    pos = line_end + 1;
                    continue;
                }
                let spans = current.get_or_insert_with(|| Spans {
                    stanza: (pos as u32, pos as u32),
                    ..Spans::default()
                });
                if !matches!(first, b' ' | b'\t' | b'#') {
                    if !line.contains(&b':') {
                        return Err(format!("line {line_no}: expected `Field: value`"));
                    }
                    record_field(text, pos, line_end, 0, spans);
                }
                stanza_end = if line.last() == Some(&b'\r') {
                    line_end - 1
                } else {
                    line_end
                };
            }
        }
        pos = line_end + 1;
    }
    if let Some(spans) = current.take() {
        finish(spans, stanza_end, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SignedBy, Source};

    fn release() -> Arc<Release> {
        let source = Source::new(
            "http://example.invalid/debian/",
            "bookworm",
            &["main"],
            SignedBy::Keyrings(vec![]),
        );
        Arc::new(Release::for_source(Arc::new(source)))
    }

    const TEXT: &str = "Package: base-files\nVersion: 12.4+deb12u11\nArchitecture: amd64\nDescription: x\n more\nFilename: pool/main/b/base-files/base-files_12.4+deb12u11_amd64.deb\nSize: 70612\nSHA256: 00ff\n\n\nPackage: tzdata\r\nArchitecture: all\r\nVersion: 2025b-0+deb12u1\r\n";

    #[test]
    fn splits_with_precomputed_fields() {
        let index = PackageIndex::from_packages_text(TEXT, release()).unwrap();
        assert_eq!(index.packages.len(), 2);
        let p = &index.packages[0];
        assert_eq!(
            (p.name(), p.version(), p.architecture()),
            ("base-files", "12.4+deb12u11", "amd64")
        );
        assert_eq!(p.size(), Some(70612));
        assert_eq!(p.sha256(), Some("00ff"));
        assert_eq!(p.component(), "main");
        assert_eq!(
            p.url().unwrap(),
            "http://example.invalid/debian/pool/main/b/base-files/base-files_12.4+deb12u11_amd64.deb"
        );
        assert_eq!(p.paragraph().get("Description"), Some("x\n more"));
        let t = &index.packages[1];
        assert_eq!(
            (t.name(), t.version(), t.architecture()),
            ("tzdata", "2025b-0+deb12u1", "all")
        );
        assert!(t.paragraph().as_str().ends_with("deb12u1"));
        assert_eq!(t.url(), None);

        // from_text on a span gives the same view.
        let text: Arc<str> = Arc::from(TEXT);
        let span = 0..TEXT.find("\n\n").unwrap();
        let q = AvailablePackage::from_text(text, span, release());
        assert_eq!(
            (q.name(), q.version(), q.component()),
            ("base-files", "12.4+deb12u11", "main")
        );
    }

    #[test]
    fn agrees_with_the_control_parser() {
        let spans = split(TEXT).unwrap();
        let reference: Vec<_> = bulwark_deb::control::paragraphs(TEXT)
            .map(|p| p.unwrap())
            .collect();
        assert_eq!(spans.len(), reference.len());
        for (s, (range, p)) in spans.iter().zip(reference) {
            assert_eq!(s.stanza, (range.start as u32, range.end as u32));
            assert_eq!(slice(TEXT.as_bytes(), s.name), p.get("Package").unwrap());
        }
    }

    #[test]
    fn rejects_malformed_stanzas() {
        let e =
            split("Package: a\nVersion: 1\nArchitecture: all\n\nPackage: b\nArchitecture: all\n")
                .unwrap_err();
        assert!(e.contains("`Package: b`") && e.contains("`Version`"), "{e}");
        assert!(split("Package: a\ngarbage\n")
            .unwrap_err()
            .contains("line 2"));
    }
}
