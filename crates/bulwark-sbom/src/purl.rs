//! Package URLs: [`Purl`] parses and writes them as the purl specification
//! says, and [`purl`] writes a Debian package's in the form vulnerability
//! scanners read.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use bulwark_image::{InstalledPackage, OsRelease};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a PURL component percent-encodes: everything but the unreserved
/// `A-Z a-z 0-9 . - _ ~` (so an epoch's `:` is `%3A`, `+` is `%2B`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// The most characters of a package URL an error message repeats.
const SHOWN: usize = 200;

/// A package URL (`pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH`),
/// each component percent-decoded.
///
/// [`Purl::parse`] follows the purl specification's parsing steps:
/// the type is lowercased, empty namespace and subpath segments (and `.`,
/// `..` in the subpath) are dropped, qualifier keys are lowercased and
/// qualifiers with an empty value dropped; for `deb` the namespace (the
/// vendor, `debian` or `ubuntu`) and the name are lowercased. `Display`
/// writes the canonical form: components percent-encoded except for
/// `A-Z a-z 0-9 . - _ ~`, qualifiers sorted by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purl {
    /// The package type (`deb`, `npm`…), lowercase.
    pub kind: String,
    /// The namespace, its segments joined by `/`; `None` when it has none.
    pub namespace: Option<String>,
    /// The name, never empty once parsed.
    pub name: String,
    /// The version; `None` when it has none (or an empty one).
    pub version: Option<String>,
    /// The qualifiers by key (`arch`, `distro`…). `Display` writes each as
    /// given, an empty value too.
    pub qualifiers: BTreeMap<String, String>,
    /// The subpath, its segments joined by `/`.
    pub subpath: Option<String>,
}

/// Why a string is not a package URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid package URL `{shown}`: {reason}")]
pub struct PurlError {
    /// The URL, escaped and shortened for display.
    shown: String,
    /// What is wrong.
    reason: String,
}

impl PurlError {
    fn new(purl: &str, reason: impl Into<String>) -> Self {
        let mut shown: String = purl.chars().take(SHOWN).collect();
        if shown.len() < purl.len() {
            shown.push('…');
        }
        Self {
            shown: shown.escape_debug().to_string(),
            reason: reason.into(),
        }
    }
}

impl Purl {
    /// Parses a package URL (surrounding whitespace ignored).
    pub fn parse(purl: &str) -> Result<Self, PurlError> {
        let input = purl;
        let fail = |reason: &str| PurlError::new(input, reason);
        let decode = |part: &str| {
            percent_decode_str(part)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| fail("a component is not UTF-8 once percent-decoded"))
        };
        // The segments of a path, decoded, without empty ones (nor, in a
        // subpath, `.` and `..`). A decoded `/` separates segments too, so
        // that writing the result and parsing it again gives it back.
        let segments = |path: &str, skip_dots: bool| -> Result<Vec<String>, PurlError> {
            let mut out = Vec::new();
            for raw in path.split('/') {
                let decoded = decode(raw)?;
                out.extend(
                    decoded
                        .split('/')
                        .filter(|s| !(s.is_empty() || (skip_dots && matches!(*s, "." | ".."))))
                        .map(str::to_owned),
                );
            }
            Ok(out)
        };
        let joined = |parts: Vec<String>| (!parts.is_empty()).then(|| parts.join("/"));

        let purl = purl.trim();
        let (rest, subpath) = match purl.rsplit_once('#') {
            Some((rest, subpath)) => (rest, joined(segments(subpath, true)?)),
            None => (purl, None),
        };
        let (rest, query) = match rest.rsplit_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let mut qualifiers = BTreeMap::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(fail("a qualifier is not KEY=VALUE"));
            };
            let key = key.to_ascii_lowercase();
            let valid_key = key
                .starts_with(|c: char| c.is_ascii_alphabetic() || c == '.' || c == '-' || c == '_')
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            if !valid_key {
                return Err(fail(
                    "a qualifier key is not letters, digits, `.`, `-`, `_`",
                ));
            }
            let value = decode(value)?;
            if value.is_empty() {
                continue;
            }
            if qualifiers.insert(key, value).is_some() {
                return Err(fail("a qualifier is given twice"));
            }
        }
        let Some((scheme, rest)) = rest.split_once(':') else {
            return Err(fail("no `pkg:` scheme"));
        };
        if !scheme.eq_ignore_ascii_case("pkg") {
            return Err(fail("the scheme is not `pkg:`"));
        }
        let rest = rest.trim_matches('/');
        let Some((kind, rest)) = rest.split_once('/') else {
            return Err(fail("no `TYPE/NAME`"));
        };
        let kind = kind.to_ascii_lowercase();
        let valid_kind = kind.starts_with(|c: char| c.is_ascii_alphabetic())
            && kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'));
        if !valid_kind {
            return Err(fail(
                "the type is not a letter then letters, digits, `.`, `+`, `-`",
            ));
        }
        let (rest, version) = match rest.rsplit_once('@') {
            Some((rest, version)) => (rest, Some(decode(version)?).filter(|v| !v.is_empty())),
            None => (rest, None),
        };
        let (namespace, name) = match rest.rsplit_once('/') {
            Some((namespace, name)) => (joined(segments(namespace, false)?), decode(name)?),
            None => (None, decode(rest)?),
        };
        if name.is_empty() {
            return Err(fail("no name"));
        }
        let (namespace, name) = if kind == "deb" {
            (
                namespace.map(|n| n.to_ascii_lowercase()),
                name.to_ascii_lowercase(),
            )
        } else {
            (namespace, name)
        };
        Ok(Self {
            kind,
            namespace,
            name,
            version,
            qualifiers,
            subpath,
        })
    }

    /// The value of qualifier `key` (lowercase).
    pub fn qualifier(&self, key: &str) -> Option<&str> {
        self.qualifiers.get(key).map(String::as_str)
    }

    /// Whether this is a Debian package's URL (`pkg:deb/…`).
    pub fn is_deb(&self) -> bool {
        self.kind == "deb"
    }

    /// The `arch` qualifier: a Debian architecture, or `source` for a source
    /// package.
    pub fn arch(&self) -> Option<&str> {
        self.qualifier("arch")
    }

    /// The `distro` qualifier: `ID-VERSION` (`debian-12.4`), `ID-CODENAME`,
    /// or a bare codename or version, as scanners write it.
    pub fn distro(&self) -> Option<&str> {
        self.qualifier("distro")
    }

    /// The Debian version: the version, with the `epoch` qualifier's epoch
    /// (as trivy writes it) when the version has none and it is not `0`.
    pub fn deb_version(&self) -> Option<String> {
        let version = self.version.as_deref()?;
        Some(match self.qualifier("epoch") {
            Some(epoch) if !version.contains(':') && epoch != "0" => format!("{epoch}:{version}"),
            _ => version.to_owned(),
        })
    }

    /// The `upstream` qualifier (as syft writes it): the source package's
    /// name and, when it says, its version (`NAME` or `NAME@VERSION`).
    pub fn upstream(&self) -> Option<(&str, Option<&str>)> {
        let upstream = self.qualifier("upstream")?;
        Some(match upstream.split_once('@') {
            Some((name, version)) => (name, Some(version).filter(|v| !v.is_empty())),
            None => (upstream, None),
        })
    }
}

impl FromStr for Purl {
    type Err = PurlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encode = |s: &str| utf8_percent_encode(s, COMPONENT).to_string();
        let segments = |path: &str| path.split('/').map(encode).collect::<Vec<_>>().join("/");
        write!(f, "pkg:{}/", self.kind)?;
        if let Some(namespace) = &self.namespace {
            write!(f, "{}/", segments(namespace))?;
        }
        f.write_str(&encode(&self.name))?;
        if let Some(version) = &self.version {
            write!(f, "@{}", encode(version))?;
        }
        for (i, (key, value)) in self.qualifiers.iter().enumerate() {
            let separator = if i == 0 { '?' } else { '&' };
            write!(f, "{separator}{}={}", encode(key), encode(value))?;
        }
        if let Some(subpath) = &self.subpath {
            write!(f, "#{}", segments(subpath))?;
        }
        Ok(())
    }
}

/// The package URL of a Debian package, in the canonical form syft writes and
/// grype and trivy match on:
///
/// ```text
/// pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bb1?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5
/// ```
///
/// - The namespace is the `os-release` `ID` (`debian` when `os` is unknown).
/// - Name, version and qualifier values are percent-encoded except for the
///   unreserved characters `A-Z a-z 0-9 . - _ ~`, so the epoch's `:` becomes
///   `%3A` and `+` becomes `%2B`.
/// - Qualifiers are sorted by key: `arch`; `distro` as `ID-VERSION_ID` (only
///   `ID` when there is no `VERSION_ID`, e.g. on testing, like syft);
///   `upstream` only when the source differs from the binary package: the
///   source name, plus `@VERSION` when the source version differs.
pub fn purl(p: &InstalledPackage, os: Option<&OsRelease>) -> String {
    let namespace = os.map_or("debian", |os| os.id.as_str());
    let mut qualifiers = BTreeMap::new();
    qualifiers.insert("arch".to_owned(), p.architecture.clone());
    if let Some(os) = os {
        let distro = match os.version_id.as_deref().filter(|v| !v.is_empty()) {
            Some(version_id) => format!("{}-{version_id}", os.id),
            None => os.id.clone(),
        };
        qualifiers.insert("distro".to_owned(), distro);
    }
    let other_name = !p.source_name.is_empty() && p.source_name != p.name;
    let other_version = !p.source_version.is_empty() && p.source_version != p.version;
    if other_name || other_version {
        let source = if p.source_name.is_empty() {
            &p.name
        } else {
            &p.source_name
        };
        let upstream = if other_version {
            format!("{source}@{}", p.source_version)
        } else {
            source.clone()
        };
        qualifiers.insert("upstream".to_owned(), upstream);
    }
    Purl {
        kind: "deb".to_owned(),
        namespace: Some(namespace.to_ascii_lowercase()),
        name: p.name.clone(),
        version: Some(p.version.clone()),
        qualifiers,
        subpath: None,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(
        name: &str,
        version: &str,
        arch: &str,
        src: &str,
        src_version: &str,
    ) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            architecture: arch.into(),
            source_name: src.into(),
            source_version: src_version.into(),
            maintainer: None,
            status: "install ok installed".into(),
            installed: true,
            files: Vec::new(),
            md5sums: Default::default(),
            stanza: String::new(),
        }
    }

    fn os(id: &str, version_id: Option<&str>, codename: Option<&str>) -> OsRelease {
        OsRelease {
            id: id.into(),
            version_id: version_id.map(Into::into),
            version_codename: codename.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn epoch_plus_and_binnmu_upstream() {
        // The example of the issue: epoch, binNMU suffix, other source name
        // and version.
        let p = pkg(
            "bsdutils",
            "1:2.38.1-5+b1",
            "amd64",
            "util-linux",
            "2.38.1-5",
        );
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), Some("bookworm")))),
            "pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bb1?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5"
        );
    }

    #[test]
    fn same_source_has_no_upstream() {
        let p = pkg("bash", "5.2.15-2+b7", "amd64", "bash", "5.2.15-2+b7");
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), None))),
            "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12"
        );
    }

    #[test]
    fn binnmu_of_same_source_name_names_version_only() {
        let p = pkg("libfoo1", "1.0-1+b2", "arm64", "libfoo1", "1.0-1");
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), None))),
            "pkg:deb/debian/libfoo1@1.0-1%2Bb2?arch=arm64&distro=debian-12&upstream=libfoo1%401.0-1"
        );
    }

    #[test]
    fn other_source_same_version_names_source_only() {
        let p = pkg(
            "libc6",
            "2.36-9+deb12u4",
            "amd64",
            "glibc",
            "2.36-9+deb12u4",
        );
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), None))),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
        );
    }

    #[test]
    fn tilde_stays_and_plus_in_name_is_encoded() {
        let p = pkg(
            "libstdc++6",
            "12.2.0-14~bpo1",
            "amd64",
            "gcc-12",
            "12.2.0-14~bpo1",
        );
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), None))),
            "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14~bpo1?arch=amd64&distro=debian-12&upstream=gcc-12"
        );
    }

    #[test]
    fn ubuntu_namespace() {
        let p = pkg(
            "coreutils",
            "9.4-3ubuntu6",
            "amd64",
            "coreutils",
            "9.4-3ubuntu6",
        );
        assert_eq!(
            purl(&p, Some(&os("ubuntu", Some("24.04"), Some("noble")))),
            "pkg:deb/ubuntu/coreutils@9.4-3ubuntu6?arch=amd64&distro=ubuntu-24.04"
        );
    }

    #[test]
    fn testing_without_version_id_uses_id_like_syft() {
        let p = pkg("tzdata", "2025a-1", "all", "tzdata", "2025a-1");
        assert_eq!(
            purl(&p, Some(&os("debian", None, Some("trixie")))),
            "pkg:deb/debian/tzdata@2025a-1?arch=all&distro=debian"
        );
    }

    #[test]
    fn unknown_os_has_no_distro() {
        let p = pkg("tzdata", "2025a-1", "all", "tzdata", "2025a-1");
        assert_eq!(purl(&p, None), "pkg:deb/debian/tzdata@2025a-1?arch=all");
    }
}
