//! APT sources: the host's configuration (deb822 `.sources` and one-line
//! `.list` files) and the repositories of a bulwark spec.

use std::path::{Path, PathBuf};

use bulwark_deb::control;
use bulwark_spec::{Repositories, RepositoryEntry, Spec};

use crate::Error;

/// The environment variable that overrides the root of the APT configuration.
pub const APT_ROOT_ENV: &str = "BULWARK_APT_ROOT";

/// Which keys may sign a repository's `InRelease`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SignedBy {
    /// Keyring files, binary (`.gpg`) or armored (`.asc`); their union.
    Keyrings(Vec<PathBuf>),
    /// An armored public key block written inline.
    Inline(String),
    /// Keys of these keyring files restricted to the given fingerprints
    /// (deb822 `Signed-By: FINGERPRINT…`).
    Fingerprints {
        /// The keyrings searched (the default APT keyrings).
        keyrings: Vec<PathBuf>,
        /// The accepted fingerprints.
        fingerprints: Vec<String>,
    },
}

/// One APT repository suite: where it is, what to read and who signs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// Base URI with `${VAR}` expanded and without a trailing `/`.
    pub uri: String,
    /// The suite (codename), e.g. `bookworm-security`.
    pub suite: String,
    /// Components, e.g. `main`.
    pub components: Vec<String>,
    /// Architectures this source is restricted to; empty means any.
    pub architectures: Vec<String>,
    /// The keys that may sign it.
    pub signed_by: SignedBy,
    /// The spec's repository entry as written (JSON, `${VAR}` unexpanded),
    /// suitable for lockfiles; `"host"` for host sources.
    pub as_written: String,
}

impl Source {
    /// A source with the given fields, no architecture restriction and
    /// `as_written` set to the JSON of the URI.
    pub fn new(uri: &str, suite: &str, components: &[&str], signed_by: SignedBy) -> Source {
        Source {
            uri: uri.trim_end_matches('/').to_string(),
            suite: suite.to_string(),
            components: components.iter().map(|c| c.to_string()).collect(),
            architectures: Vec::new(),
            signed_by,
            as_written: serde_json::Value::String(uri.to_string()).to_string(),
        }
    }

    /// `URI SUITE`, naming the repository in messages (credentials in the
    /// URI redacted).
    pub fn display_name(&self) -> String {
        format!("{} {}", bulwark_http::redact_url(&self.uri), self.suite)
    }
}

/// The APT configuration root: `$BULWARK_APT_ROOT`, else `/`.
pub fn apt_root() -> PathBuf {
    std::env::var_os(APT_ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// Every `deb` source of the APT configuration under `root`:
/// `etc/apt/sources.list`, then `etc/apt/sources.list.d/*.list` and
/// `*.sources` in name order. Sources with `Enabled: no`, `deb-src` only or
/// flat-repository suites (ending in `/`) are skipped. Entries for the same
/// URI and suite are merged.
pub fn host_sources(root: &Path) -> Result<Vec<Source>, Error> {
    let etc = root.join("etc/apt");
    let mut files = Vec::new();
    let main_list = etc.join("sources.list");
    if main_list.is_file() {
        files.push(main_list);
    }
    let parts = etc.join("sources.list.d");
    match std::fs::read_dir(&parts) {
        Ok(entries) => {
            let mut names: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("list" | "sources")
                    )
                })
                .collect();
            names.sort();
            files.extend(names);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::ReadConfig {
                path: parts,
                source,
            })
        }
    }
    let mut sources: Vec<Source> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| Error::ReadConfig {
            path: file.clone(),
            source,
        })?;
        let parsed = if file.extension().is_some_and(|e| e == "sources") {
            parse_deb822(&text, &file, root)?
        } else {
            parse_one_line(&text, &file, root)?
        };
        for source in parsed {
            merge(&mut sources, source);
        }
    }
    Ok(sources)
}

fn merge(sources: &mut Vec<Source>, source: Source) {
    match sources
        .iter_mut()
        .find(|s| s.uri == source.uri && s.suite == source.suite)
    {
        Some(existing) => {
            for c in source.components {
                if !existing.components.contains(&c) {
                    existing.components.push(c);
                }
            }
        }
        None => sources.push(source),
    }
}

/// Resolves a spec's repositories into sources, reading the host's APT
/// configuration under `apt_root` when the spec refers to it. Relative
/// keyring paths resolve from the spec's directory.
pub fn resolve_spec(spec: &Spec, apt_root: &Path) -> Result<Vec<Source>, Error> {
    resolve(
        &spec.repositories,
        &spec.repositories_as_written,
        &spec.base_dir,
        apt_root,
    )
}

/// Resolves repositories into sources. `as_written` is the JSON of the
/// unexpanded `repositories` value (see [`Spec::repositories_as_written`]);
/// each source records the item at its entry's index. When it is missing or
/// does not match, the expanded entry is recorded instead.
pub fn resolve(
    repositories: &Repositories,
    as_written: &str,
    base_dir: &Path,
    apt_root: &Path,
) -> Result<Vec<Source>, Error> {
    let written: Option<serde_json::Value> = serde_json::from_str(as_written).ok();
    let host = || -> Result<Vec<Source>, Error> {
        let sources = host_sources(apt_root)?;
        if sources.is_empty() {
            return Err(Error::NoHostSources {
                root: apt_root.to_path_buf(),
            });
        }
        Ok(sources)
    };
    match repositories {
        Repositories::Host => {
            let tag = match &written {
                Some(v @ serde_json::Value::String(_)) => v.to_string(),
                _ => "\"host\"".to_string(),
            };
            Ok(host()?
                .into_iter()
                .map(|s| Source {
                    as_written: tag.clone(),
                    ..s
                })
                .collect())
        }
        Repositories::List(entries) => {
            let mut host_cache: Option<Vec<Source>> = None;
            let mut out: Vec<Source> = Vec::new();
            for (i, entry) in entries.iter().enumerate() {
                let tag = written
                    .as_ref()
                    .and_then(|w| w.as_array())
                    .filter(|a| a.len() == entries.len())
                    .and_then(|a| a.get(i))
                    .map(|v| v.to_string())
                    .or_else(|| serde_json::to_string(entry).ok())
                    .unwrap_or_default();
                match entry {
                    RepositoryEntry::Host { host: suite } => {
                        if host_cache.is_none() {
                            host_cache = Some(host()?);
                        }
                        let matching: Vec<&Source> = host_cache
                            .iter()
                            .flatten()
                            .filter(|s| &s.suite == suite)
                            .collect();
                        if matching.is_empty() {
                            return Err(Error::HostSuiteNotFound {
                                suite: suite.clone(),
                                root: apt_root.to_path_buf(),
                            });
                        }
                        for s in matching {
                            merge(
                                &mut out,
                                Source {
                                    as_written: tag.clone(),
                                    ..s.clone()
                                },
                            );
                        }
                    }
                    RepositoryEntry::Explicit(r) => {
                        let signed_by = if r.signed_by.contains("-----BEGIN PGP") {
                            SignedBy::Inline(r.signed_by.clone())
                        } else {
                            SignedBy::Keyrings(vec![base_dir.join(r.signed_by.trim())])
                        };
                        for suite in &r.suites {
                            merge(
                                &mut out,
                                Source {
                                    uri: r.uri.trim_end_matches('/').to_string(),
                                    suite: suite.clone(),
                                    components: r.components.clone(),
                                    architectures: Vec::new(),
                                    signed_by: signed_by.clone(),
                                    as_written: tag.clone(),
                                },
                            );
                        }
                    }
                }
            }
            Ok(out)
        }
    }
}

/// The keyrings APT uses when a source has no `Signed-By`:
/// `etc/apt/trusted.gpg.d/*.{gpg,asc}` in name order, then `etc/apt/trusted.gpg`.
pub fn default_keyrings(root: &Path) -> Vec<PathBuf> {
    let dir = root.join("etc/apt/trusted.gpg.d");
    let mut keyrings: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("gpg" | "asc")))
                .collect()
        })
        .unwrap_or_default();
    keyrings.sort();
    let legacy = root.join("etc/apt/trusted.gpg");
    if legacy.is_file() {
        keyrings.push(legacy);
    }
    keyrings
}

/// Maps an absolute path of the APT configuration onto `root`: under a root
/// other than `/`, the path inside the root wins when it exists.
fn under_root(root: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if root != Path::new("/") {
        let inside = root.join(p.strip_prefix("/").unwrap_or(p));
        if inside.exists() {
            return inside;
        }
    }
    p.to_path_buf()
}

/// Interprets a `Signed-By` value: an armored key block, keyring paths, or
/// fingerprints of keys in the default keyrings.
fn parse_signed_by(value: Option<&str>, root: &Path) -> SignedBy {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return SignedBy::Keyrings(default_keyrings(root));
    };
    if value.contains("-----BEGIN PGP") {
        return SignedBy::Inline(format!("{value}\n"));
    }
    let items: Vec<&str> = value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    if items.iter().all(|i| i.contains('/')) {
        SignedBy::Keyrings(items.iter().map(|i| under_root(root, i)).collect())
    } else {
        SignedBy::Fingerprints {
            keyrings: default_keyrings(root),
            fingerprints: items.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// Undoes deb822 multi-line folding of an inline key: strips the one leading
/// space of each continuation line and turns ` .` lines into empty lines.
fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, line) in value.lines().enumerate() {
        let line = if i == 0 {
            line.trim()
        } else {
            line.trim_start()
        };
        if line == "." {
            out.push('\n');
        } else {
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out.trim_start_matches('\n').to_string()
}

fn words(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Parses a deb822 `.sources` file.
pub fn parse_deb822(text: &str, path: &Path, root: &Path) -> Result<Vec<Source>, Error> {
    let mut out = Vec::new();
    for item in control::paragraphs(text) {
        let (_, p) = item.map_err(|e| Error::ParseConfig {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if p.get("Enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("no"))
        {
            continue;
        }
        if !words(p.get("Types")).iter().any(|t| t == "deb") {
            continue;
        }
        let uris = words(p.get("URIs"));
        let suites = words(p.get("Suites"));
        if uris.is_empty() || suites.is_empty() {
            return Err(Error::ParseConfig {
                path: path.to_path_buf(),
                reason: "a `deb` entry needs `URIs` and `Suites`".into(),
            });
        }
        let components = words(p.get("Components"));
        let architectures = words(p.get("Architectures"));
        let signed_by = parse_signed_by(p.get("Signed-By").map(unfold).as_deref(), root);
        for uri in &uris {
            for suite in &suites {
                if suite.ends_with('/') {
                    continue;
                }
                out.push(Source {
                    uri: uri.trim_end_matches('/').to_string(),
                    suite: suite.clone(),
                    components: components.clone(),
                    architectures: architectures.clone(),
                    signed_by: signed_by.clone(),
                    as_written: "\"host\"".into(),
                });
            }
        }
    }
    Ok(out)
}

/// Parses a one-line-style `sources.list` file.
pub fn parse_one_line(text: &str, path: &Path, root: &Path) -> Result<Vec<Source>, Error> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: &str| Error::ParseConfig {
            path: path.to_path_buf(),
            reason: format!("line {}: {reason}", n + 1),
        };
        let (kind, mut rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        rest = rest.trim_start();
        if kind != "deb" {
            if kind == "deb-src" {
                continue;
            }
            return Err(bad(&format!("unknown type `{kind}`")));
        }
        let mut options = Vec::new();
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or_else(|| bad("unterminated `[`"))?;
            options = after[..close]
                .split_whitespace()
                .filter_map(|o| o.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            rest = after[close + 1..].trim_start();
        }
        let mut fields = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (fields.next(), fields.next()) else {
            return Err(bad("expected `deb [options] URI SUITE [COMPONENT…]`"));
        };
        if suite.ends_with('/') {
            continue;
        }
        let option = |name: &str| {
            options
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.replace(',', " "))
        };
        out.push(Source {
            uri: uri.trim_end_matches('/').to_string(),
            suite: suite.to_string(),
            components: fields.map(str::to_string).collect(),
            architectures: words(option("arch").as_deref()),
            signed_by: parse_signed_by(option("signed-by").as_deref(), root),
            as_written: "\"host\"".into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGPL\nabc=\n-----END PGP PUBLIC KEY BLOCK-----\n";

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/apt/sources.list.d")).unwrap();
        std::fs::create_dir_all(dir.path().join("etc/apt/trusted.gpg.d")).unwrap();
        dir
    }

    #[test]
    fn deb822_with_inline_key_and_disabled_entries() {
        let dir = root();
        let r = dir.path();
        std::fs::write(r.join("etc/apt/trusted.gpg.d/b.asc"), "").unwrap();
        std::fs::write(r.join("etc/apt/trusted.gpg.d/a.gpg"), "").unwrap();
        std::fs::write(r.join("etc/apt/trusted.gpg.d/ignored.txt"), "").unwrap();
        let text = "\
# comment
Types: deb deb-src
URIs: http://example.invalid/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Architectures: amd64
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL
 abc=
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
URIs: http://example.invalid/security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://example.invalid/off
Suites: off
Components: main

Types: deb-src
URIs: http://example.invalid/src
Suites: src
Components: main
";
        std::fs::write(r.join("etc/apt/sources.list.d/debian.sources"), text).unwrap();
        std::fs::write(
            r.join("etc/apt/sources.list.d/x.sources.disabled"),
            "garbage",
        )
        .unwrap();
        let s = host_sources(r).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].uri, "http://example.invalid/debian");
        assert_eq!(s[0].suite, "bookworm");
        assert_eq!(s[1].suite, "bookworm-updates");
        assert_eq!(s[0].components, ["main", "contrib"]);
        assert_eq!(s[0].architectures, ["amd64"]);
        assert_eq!(s[0].signed_by, SignedBy::Inline(KEY.to_string()));
        assert_eq!(
            s[2].signed_by,
            SignedBy::Keyrings(vec![
                r.join("etc/apt/trusted.gpg.d/a.gpg"),
                r.join("etc/apt/trusted.gpg.d/b.asc")
            ])
        );
    }

    #[test]
    fn one_line_format() {
        let dir = root();
        let r = dir.path();
        std::fs::create_dir_all(r.join("usr/share/keyrings")).unwrap();
        std::fs::write(r.join("usr/share/keyrings/k.gpg"), "").unwrap();
        std::fs::write(
            r.join("etc/apt/sources.list"),
            "# hi\n\ndeb [arch=amd64,arm64 signed-by=/usr/share/keyrings/k.gpg] http://example.invalid/debian bookworm main non-free # tail\n\
             deb-src http://example.invalid/debian bookworm main\n\
             deb http://example.invalid/debian bookworm contrib\n\
             deb file:/srv/flat ./\n",
        )
        .unwrap();
        std::fs::write(
            r.join("etc/apt/sources.list.d/extra.list"),
            "deb [signed-by=ABCDEF0123456789ABCDEF0123456789ABCDEF01] https://example.invalid/x stable main\n",
        )
        .unwrap();
        let s = host_sources(r).unwrap();
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(s[0].components, ["main", "non-free", "contrib"]);
        assert_eq!(s[0].architectures, ["amd64", "arm64"]);
        assert_eq!(
            s[0].signed_by,
            SignedBy::Keyrings(vec![r.join("usr/share/keyrings/k.gpg")])
        );
        assert!(
            matches!(&s[1].signed_by, SignedBy::Fingerprints { fingerprints, .. } if fingerprints.len() == 1)
        );
        assert!(host_sources(r).is_ok());
        std::fs::write(
            r.join("etc/apt/sources.list"),
            "deb [oops http://x s main\n",
        )
        .unwrap();
        let e = host_sources(r).unwrap_err().to_string();
        assert!(e.contains("sources.list") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn resolves_spec_entries_and_keeps_them_as_written() {
        let dir = root();
        let r = dir.path();
        std::fs::write(
            r.join("etc/apt/sources.list.d/d.sources"),
            "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /k.gpg\n",
        )
        .unwrap();
        let spec_text = "name: x\nrepositories:\n  - uri: ${M}\n    suites: [bookworm, bookworm-updates]\n    signed-by: keys/k.asc\n  - host: bookworm-security\npackages: [base-files]\n";
        let env = |k: &str| (k == "M").then(|| "http://mirror.invalid/debian/".to_string());
        let spec = Spec::parse(spec_text, Path::new("/specs/x.yaml"), &env).unwrap();
        let s = resolve_spec(&spec, r).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].uri, "http://mirror.invalid/debian");
        assert_eq!(s[1].suite, "bookworm-updates");
        assert_eq!(
            s[0].signed_by,
            SignedBy::Keyrings(vec![PathBuf::from("/specs/keys/k.asc")])
        );
        assert!(s[0].as_written.contains("${M}"), "{}", s[0].as_written);
        assert!(!s[0].as_written.contains("mirror.invalid"));
        assert_eq!(s[0].as_written, s[1].as_written);
        assert_eq!(s[2].as_written, r#"{"host":"bookworm-security"}"#);
        assert_eq!(s[2].uri, "http://mirror.invalid/debian-security");

        let spec_text = "name: x\nrepositories:\n  - host: trixie\npackages: [base-files]\n";
        let spec = Spec::parse(spec_text, Path::new("x.yaml"), &env).unwrap();
        let e = resolve_spec(&spec, r).unwrap_err().to_string();
        assert!(e.contains("`trixie`"), "{e}");

        let spec_text = "name: x\nrepositories: host\npackages: [base-files]\n";
        let spec = Spec::parse(spec_text, Path::new("x.yaml"), &env).unwrap();
        let s = resolve_spec(&spec, r).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].as_written, "\"host\"");
    }
}
