//! This crate provides the bulwark image spec: a declarative YAML file that
//! names the repositories, packages and image settings of one image.
//!
//! # Brief overview
//!
//! [`Spec::load`] reads a spec file, rejects unknown keys (naming the key and
//! its line), expands `${VAR}` from the environment (`$${` escapes a literal
//! `${`) and validates the values. The repositories exactly as written,
//! before expansion, are kept in [`Spec::repositories_as_written`] so that
//! they can be recorded in the image without leaking a mirror's host name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read spec `{path}`: {source}")]
    Read {
        /// The spec file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown key or a value of the wrong type.
    #[error("invalid spec `{path}`: {message}")]
    Yaml {
        /// The spec file.
        path: PathBuf,
        /// The parser's message, with the line.
        message: String,
    },
    /// A `${VAR}` names a variable that is not set.
    #[error("spec `{path}`: environment variable `{var}` is not set (used in `{key}`)")]
    UnsetVariable {
        /// The spec file.
        path: PathBuf,
        /// The variable's name.
        var: String,
        /// The key path where it was used.
        key: String,
    },
    /// A `${` without a closing `}` or with an invalid name.
    #[error("spec `{path}`: malformed variable reference in `{key}`: {value:?}")]
    BadVariable {
        /// The spec file.
        path: PathBuf,
        /// The key path.
        key: String,
        /// The offending value.
        value: String,
    },
    /// A value is syntactically fine but not acceptable.
    #[error("spec `{path}`: invalid `{key}`: {reason}")]
    Invalid {
        /// The spec file.
        path: PathBuf,
        /// The key path.
        key: String,
        /// Why.
        reason: String,
    },
}

/// A loaded, expanded and validated image spec.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Spec {
    /// Image name; also the default output directory name.
    pub name: String,
    /// Tag written as `org.opencontainers.image.ref.name`.
    #[serde(default = "default_tag")]
    pub tag: String,
    /// Where packages come from.
    pub repositories: Repositories,
    /// Debian architectures to build; empty means the host's.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Packages to install: `name` or `name=VERSION`.
    pub packages: Vec<PackageRequest>,
    /// Install Recommends too.
    #[serde(default)]
    pub recommends: bool,
    /// Packages never unpacked, that still satisfy dependencies on them.
    #[serde(default)]
    pub exclude: Vec<Exclusion>,
    /// Packages to take when a dependency offers alternatives (`a | b`).
    #[serde(default)]
    pub prefer: Vec<String>,
    /// How the dpkg database is written.
    #[serde(default)]
    pub dpkg_database: DpkgDatabase,
    /// Layer compression.
    #[serde(default)]
    pub compression: Compression,
    /// The most layers the image may have.
    #[serde(default = "default_max_layers")]
    pub max_layers: usize,
    /// Groups and users to create, and the user the image runs as.
    #[serde(default)]
    pub accounts: Accounts,
    /// The image's entrypoint.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// The image's default command.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// The working directory.
    #[serde(default)]
    pub workdir: Option<String>,
    /// Environment variables.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Local files copied into the image.
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// Directories, symlinks and permission changes.
    #[serde(default)]
    pub paths: Vec<PathEntry>,
    /// Annotations on the image manifest.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// List every regular file, with its SHA-1 and SHA-256, in the SBOMs
    /// attached at build time.
    #[serde(default)]
    pub sbom_files: bool,
    /// The `repositories` value exactly as written, `${VAR}` unexpanded,
    /// as canonical JSON.
    #[serde(skip)]
    pub repositories_as_written: String,
    /// Directory of the spec file; relative `files` sources resolve from it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_tag() -> String {
    "latest".into()
}

fn default_max_layers() -> usize {
    50
}

/// The repositories: `host` for every source the host's APT uses, or a list.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub enum Repositories {
    /// Every `deb` source in the host's APT configuration.
    Host,
    /// An explicit list.
    List(Vec<RepositoryEntry>),
}

impl<'de> Deserialize<'de> for Repositories {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Repositories;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "`host` or a list of repositories \
                     ({host: SUITE} or {uri, suites, components, signed-by})",
                )
            }
            fn visit_str<E: serde::de::Error>(self, w: &str) -> Result<Repositories, E> {
                if w == "host" {
                    Ok(Repositories::Host)
                } else {
                    Err(E::custom(format!(
                        "repositories: expected `host` or a list, found `{w}`"
                    )))
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Repositories, A::Error> {
                // Through the entries' own deserializer, so that an error
                // inside one keeps its key and line.
                Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(Repositories::List)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One repository entry.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RepositoryEntry {
    /// The host's APT source that carries this suite: its URI, components and
    /// keyring are taken from the host.
    Host {
        /// The suite, e.g. `bookworm-security`.
        host: String,
    },
    /// A repository named in full.
    Explicit(ExplicitRepository),
}

/// A repository named in full.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExplicitRepository {
    /// Base URI, e.g. `${DEBIAN_MIRROR}`.
    pub uri: String,
    /// Suites (codenames), e.g. `[bookworm, bookworm-updates]`.
    pub suites: Vec<String>,
    /// Components; default `[main]`.
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    /// Keyring file (binary `.gpg` or armored `.asc`) or an inline armored key.
    pub signed_by: String,
}

fn default_components() -> Vec<String> {
    vec!["main".into()]
}

impl<'de> Deserialize<'de> for RepositoryEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        /// Every key either form may have, so that an unknown one is named
        /// (with its line) rather than lost in "matches no form".
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "kebab-case")]
        struct Raw {
            host: Option<String>,
            uri: Option<String>,
            suites: Option<Vec<String>>,
            components: Option<Vec<String>>,
            signed_by: Option<String>,
        }
        let raw = Raw::deserialize(d)?;
        if let Some(host) = raw.host {
            let extra: Vec<&str> = [
                ("uri", raw.uri.is_some()),
                ("suites", raw.suites.is_some()),
                ("components", raw.components.is_some()),
                ("signed-by", raw.signed_by.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            if !extra.is_empty() {
                return Err(D::Error::custom(format!(
                    "repositories: `host: {host}` takes its URI, components and keyring from the host; \
                     remove `{}` or name the repository in full without `host`",
                    extra.join("`, `")
                )));
            }
            return Ok(RepositoryEntry::Host { host });
        }
        let missing = |key: &str| {
            D::Error::custom(format!(
                "repositories: an entry needs `host`, or `uri`, `suites` and `signed-by`; `{key}` is missing"
            ))
        };
        Ok(RepositoryEntry::Explicit(ExplicitRepository {
            uri: raw.uri.ok_or_else(|| missing("uri"))?,
            suites: raw.suites.ok_or_else(|| missing("suites"))?,
            components: raw.components.unwrap_or_else(default_components),
            signed_by: raw.signed_by.ok_or_else(|| missing("signed-by"))?,
        }))
    }
}

/// The package patterns a spec may list in `packages`, after apt's syntax.
pub const PATTERNS: &[&str] = &["?essential", "?priority(required)", "?priority(important)"];

/// A requested package: `name`, `name=VERSION`, or a pattern from [`PATTERNS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PackageRequest {
    /// Package name.
    pub name: String,
    /// Pinned version, if any.
    pub version: Option<String>,
}

impl<'de> Deserialize<'de> for PackageRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.split_once('=') {
            Some((n, v)) => PackageRequest {
                name: n.trim().to_string(),
                version: Some(v.trim().to_string()),
            },
            None => PackageRequest {
                name: s.trim().to_string(),
                version: None,
            },
        })
    }
}

/// A package that is never unpacked, but satisfies dependencies on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exclusion {
    /// Package name.
    pub name: String,
    /// Why it is excluded; recorded in the image.
    pub reason: Option<String>,
}

impl<'de> Deserialize<'de> for Exclusion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            name: String,
            reason: Option<String>,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Exclusion;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a package name or {name, reason}")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Exclusion, E> {
                Ok(Exclusion {
                    name: name.to_owned(),
                    reason: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Exclusion, A::Error> {
                let f = Full::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Exclusion {
                    name: f.name,
                    reason: f.reason,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// How the dpkg database is written into the image.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DpkgDatabase {
    /// `/var/lib/dpkg/status.d/NAME` and `NAME.md5sums` (distroless).
    #[default]
    #[serde(rename = "status.d")]
    StatusD,
    /// `/var/lib/dpkg/status` with `info/*.list` and `info/*.md5sums`.
    Classic,
}

/// Layer compression.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// gzip (every runtime reads it).
    #[default]
    Gzip,
    /// zstd (smaller and faster; needs a recent runtime).
    Zstd,
}

/// Accounts to create.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Accounts {
    /// Groups to add to `/etc/group`.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Users to add to `/etc/passwd` and `/etc/shadow`.
    #[serde(default)]
    pub users: Vec<User>,
    /// The user the image runs as: a user name from `users`, or `UID[:GID]`.
    #[serde(default)]
    pub run_as: Option<String>,
}

/// A group.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Group {
    /// Group name.
    pub groupname: String,
    /// Numeric id.
    pub gid: u32,
    /// Member user names.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A user.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct User {
    /// User name.
    pub username: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id; default the uid.
    #[serde(default)]
    pub gid: Option<u32>,
    /// Home directory; default `/home/USERNAME`, created owned by the user.
    #[serde(default)]
    pub home: Option<String>,
    /// Login shell; default `/sbin/nologin`.
    #[serde(default)]
    pub shell: Option<String>,
}

/// A local file copied into the image.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileEntry {
    /// Source path, relative to the spec's directory.
    pub source: PathBuf,
    /// Absolute destination path in the image.
    pub path: String,
    /// Octal mode, e.g. `"0644"`; default 0644.
    #[serde(default)]
    pub mode: Option<String>,
    /// `UID:GID`; default `0:0`.
    #[serde(default)]
    pub owner: Option<String>,
}

/// A directory, symlink or permission change.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PathEntry {
    /// Absolute path in the image.
    pub path: String,
    /// What to do there.
    #[serde(rename = "type")]
    pub kind: PathKind,
    /// Symlink target (for `symlink`).
    #[serde(default)]
    pub target: Option<String>,
    /// Octal mode, e.g. `"0755"`.
    #[serde(default)]
    pub mode: Option<String>,
    /// `UID:GID`.
    #[serde(default)]
    pub owner: Option<String>,
}

/// The kind of a [`PathEntry`].
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PathKind {
    /// Create a directory.
    Directory,
    /// Create a symlink to `target`.
    Symlink,
    /// Change the mode or owner of an existing path.
    Permissions,
}

/// Parses an octal mode string such as `"0755"`.
pub fn parse_mode(s: &str) -> Option<u32> {
    let m = u32::from_str_radix(s.trim_start_matches("0o"), 8).ok()?;
    (m <= 0o7777).then_some(m)
}

/// Parses `UID:GID` (numeric).
pub fn parse_owner(s: &str) -> Option<(u32, u32)> {
    let (u, g) = s.split_once(':')?;
    Some((u.parse().ok()?, g.parse().ok()?))
}

impl Spec {
    /// Loads a spec file, expanding `${VAR}` from the process environment.
    pub fn load(path: &Path) -> Result<Spec, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, &|k| std::env::var(k).ok())
    }

    /// Parses spec text; `env` looks up variables. `path` names the spec in
    /// errors and anchors relative file sources.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Spec, Error> {
        let yaml_err = |e: serde_norway::Error| Error::Yaml {
            path: path.to_owned(),
            message: e.to_string(),
        };
        // First pass: structure, unknown keys and types, with line numbers.
        let _: Spec = serde_norway::from_str(text).map_err(yaml_err)?;
        // Second pass: expand variables in every string, then deserialize.
        let mut value: serde_norway::Value = serde_norway::from_str(text).map_err(yaml_err)?;
        let raw_repos = value
            .get("repositories")
            .map(|v| serde_json::to_string(&yaml_to_json(v)).unwrap_or_default())
            .unwrap_or_default();
        expand_value(&mut value, "", path, env)?;
        let mut spec: Spec = serde_norway::from_value(value).map_err(yaml_err)?;
        spec.repositories_as_written = raw_repos;
        spec.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        spec.validate(path)?;
        Ok(spec)
    }

    fn validate(&self, path: &Path) -> Result<(), Error> {
        let invalid = |key: &str, reason: String| Error::Invalid {
            path: path.to_owned(),
            key: key.to_string(),
            reason,
        };
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._/".contains(c))
        };
        if !name_ok(&self.name) {
            return Err(invalid(
                "name",
                format!(
                    "`{}` must be lowercase letters, digits, `-`, `.`, `_` or `/`",
                    self.name
                ),
            ));
        }
        if self.tag.is_empty()
            || self.tag.len() > 128
            || !self
                .tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(invalid("tag", format!("`{}` is not a valid tag", self.tag)));
        }
        if self.packages.is_empty() {
            return Err(invalid(
                "packages",
                "at least one package is required".into(),
            ));
        }
        let pkg_ok = |s: &str| {
            s.len() >= 2
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        };
        for p in &self.packages {
            if p.name.starts_with('?') {
                if !PATTERNS.contains(&p.name.as_str()) {
                    return Err(invalid(
                        "packages",
                        format!(
                            "unknown pattern `{}` (known: {})",
                            p.name,
                            PATTERNS.join(", ")
                        ),
                    ));
                }
                continue;
            }
            if !pkg_ok(&p.name) {
                return Err(invalid(
                    "packages",
                    format!("`{}` is not a valid package name", p.name),
                ));
            }
            if p.version.as_deref() == Some("") {
                return Err(invalid("packages", format!("`{}=` has no version", p.name)));
            }
        }
        for e in &self.exclude {
            if !pkg_ok(&e.name) {
                return Err(invalid(
                    "exclude",
                    format!("`{}` is not a valid package name", e.name),
                ));
            }
        }
        if self.max_layers < 2 {
            return Err(invalid("max-layers", "must be at least 2".into()));
        }
        if let Repositories::List(list) = &self.repositories {
            if list.is_empty() {
                return Err(invalid("repositories", "the list is empty".into()));
            }
            for r in list {
                if let RepositoryEntry::Explicit(r) = r {
                    if !(r.uri.starts_with("http://")
                        || r.uri.starts_with("https://")
                        || r.uri.starts_with("file:/"))
                    {
                        return Err(invalid(
                            "repositories.uri",
                            format!("`{}` is not an http, https or file URI", r.uri),
                        ));
                    }
                    if r.suites.is_empty() || r.components.is_empty() {
                        return Err(invalid(
                            "repositories",
                            format!("`{}` needs at least one suite and component", r.uri),
                        ));
                    }
                }
            }
        }
        for f in &self.files {
            check_abs("files.path", &f.path).map_err(|r| invalid("files.path", r))?;
            if let Some(m) = &f.mode {
                parse_mode(m)
                    .ok_or_else(|| invalid("files.mode", format!("`{m}` is not octal")))?;
            }
            if let Some(o) = &f.owner {
                parse_owner(o)
                    .ok_or_else(|| invalid("files.owner", format!("`{o}` is not UID:GID")))?;
            }
        }
        for p in &self.paths {
            check_abs("paths.path", &p.path).map_err(|r| invalid("paths.path", r))?;
            if p.kind == PathKind::Symlink && p.target.is_none() {
                return Err(invalid(
                    "paths.target",
                    format!("symlink `{}` needs a target", p.path),
                ));
            }
            if let Some(m) = &p.mode {
                parse_mode(m)
                    .ok_or_else(|| invalid("paths.mode", format!("`{m}` is not octal")))?;
            }
            if let Some(o) = &p.owner {
                parse_owner(o)
                    .ok_or_else(|| invalid("paths.owner", format!("`{o}` is not UID:GID")))?;
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for u in &self.accounts.users {
            if !names.insert(&u.username) {
                return Err(invalid(
                    "accounts.users",
                    format!("`{}` is listed twice", u.username),
                ));
            }
        }
        if let Some(run_as) = &self.accounts.run_as {
            let known = self.accounts.users.iter().any(|u| &u.username == run_as)
                || run_as.split(':').all(|p| p.parse::<u32>().is_ok());
            if !known {
                return Err(invalid(
                    "accounts.run-as",
                    format!("`{run_as}` is neither a user in accounts.users nor UID[:GID]"),
                ));
            }
        }
        Ok(())
    }

    /// The numeric `UID:GID` the image runs as, if `accounts.run-as` is set.
    pub fn run_as_numeric(&self) -> Option<String> {
        let run_as = self.accounts.run_as.as_ref()?;
        if let Some(u) = self.accounts.users.iter().find(|u| &u.username == run_as) {
            return Some(format!("{}:{}", u.uid, u.gid.unwrap_or(u.uid)));
        }
        Some(match run_as.split_once(':') {
            Some(_) => run_as.clone(),
            None => format!("{run_as}:{run_as}"),
        })
    }
}

fn check_abs(_key: &str, p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!("`{p}` must be absolute"));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(format!("`{p}` must not contain `..`"));
    }
    Ok(())
}

fn expand_value(
    v: &mut serde_norway::Value,
    key: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Error> {
    use serde_norway::Value;
    match v {
        Value::String(s) => *s = expand(s, key, path, env)?,
        Value::Sequence(seq) => {
            for item in seq {
                expand_value(item, key, path, env)?;
            }
        }
        Value::Mapping(map) => {
            for (k, item) in map.iter_mut() {
                let name = k.as_str().unwrap_or("?");
                let sub = if key.is_empty() {
                    name.to_string()
                } else {
                    format!("{key}.{name}")
                };
                expand_value(item, &sub, path, env)?;
            }
        }
        Value::Tagged(t) => expand_value(&mut t.value, key, path, env)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// Expands `${VAR}` in `s`; `$${` yields a literal `${`.
pub fn expand(
    s: &str,
    key: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Error> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or_else(|| Error::BadVariable {
                path: path.to_owned(),
                key: key.to_string(),
                value: s.to_string(),
            })?;
            let name = &tail[..end];
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::BadVariable {
                    path: path.to_owned(),
                    key: key.to_string(),
                    value: s.to_string(),
                });
            }
            let value = env(name).ok_or_else(|| Error::UnsetVariable {
                path: path.to_owned(),
                var: name.to_string(),
                key: key.to_string(),
            })?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn yaml_to_json(v: &serde_norway::Value) -> serde_json::Value {
    use serde_norway::Value;
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => serde_json::to_value(n).unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Sequence(seq) => serde_json::Value::Array(seq.iter().map(yaml_to_json).collect()),
        Value::Mapping(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        other => serde_norway::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Value::Tagged(t) => yaml_to_json(&t.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "MIRROR" => Some("http://mirror.test/debian".into()),
            _ => None,
        }
    }

    const SPEC: &str = r#"
name: base
repositories:
  - uri: ${MIRROR}
    suites: [bookworm]
    signed-by: /usr/share/keyrings/debian-archive-keyring.gpg
  - host: bookworm-security
packages: [base-files, "libssl3=3.0.15-1~deb12u1"]
exclude:
  - libc6
  - name: mawk
    reason: base-files pre-depends on awk; a static image needs none
accounts:
  groups: [{groupname: nonroot, gid: 65532}]
  users: [{username: nonroot, uid: 65532}]
  run-as: nonroot
environment:
  LITERAL: "$${HOME}"
"#;

    #[test]
    fn parses_and_expands() {
        let s = Spec::parse(SPEC, Path::new("dir/base.yaml"), &env).unwrap();
        assert_eq!(s.tag, "latest");
        assert_eq!(s.max_layers, 50);
        assert_eq!(s.dpkg_database, DpkgDatabase::StatusD);
        let Repositories::List(l) = &s.repositories else {
            panic!()
        };
        let RepositoryEntry::Explicit(r) = &l[0] else {
            panic!()
        };
        assert_eq!(r.uri, "http://mirror.test/debian");
        assert_eq!(r.components, ["main"]);
        assert_eq!(
            l[1],
            RepositoryEntry::Host {
                host: "bookworm-security".into()
            }
        );
        assert!(s.repositories_as_written.contains("${MIRROR}"));
        assert!(!s.repositories_as_written.contains("mirror.test"));
        assert_eq!(s.packages[1].version.as_deref(), Some("3.0.15-1~deb12u1"));
        assert_eq!(s.exclude[1].name, "mawk");
        assert_eq!(s.environment["LITERAL"], "${HOME}");
        assert_eq!(s.run_as_numeric().as_deref(), Some("65532:65532"));
        assert_eq!(s.base_dir, Path::new("dir"));
    }

    #[test]
    fn unknown_keys_inside_list_entries_are_named_with_their_line() {
        for (text, key, line) in [
            (
                "name: x\nrepositories:\n  - host: bookworm\n    signd-by: k.gpg\npackages: [a1]\n",
                "signd-by",
                "line 4",
            ),
            (
                "name: x\nrepositories:\n  - uri: http://r.invalid\n    suites: [s]\n    signed-by: k\n    compnents: [main]\npackages: [a1]\n",
                "compnents",
                "line 6",
            ),
            (
                "name: x\nrepositories: host\npackages: [a1]\nexclude:\n  - {name: awk, raeson: x}\n",
                "raeson",
                "line 5",
            ),
        ] {
            let msg = Spec::parse(text, Path::new("s.yaml"), &env)
                .unwrap_err()
                .to_string();
            assert!(msg.contains(key) && msg.contains(line), "{key}: {msg}");
        }
        let msg = Spec::parse(
            "name: x\nrepositories:\n  - {host: bookworm, signed-by: k.gpg}\npackages: [a1]\n",
            Path::new("s.yaml"),
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("`signed-by`") && msg.contains("host"), "{msg}");
        let msg = Spec::parse(
            "name: x\nrepositories:\n  - {uri: http://r.invalid, suites: [s]}\npackages: [a1]\n",
            Path::new("s.yaml"),
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("`signed-by` is missing"), "{msg}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = "name: x\nrepositories: host\npackages: [a1]\nbogus: 1\n";
        let e = Spec::parse(text, Path::new("s.yaml"), &env).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bogus") && msg.contains("line 4"), "{msg}");
    }

    #[test]
    fn sbom_files_defaults_to_false_and_is_checked() {
        let base = "name: x\nrepositories: host\npackages: [a1]\n";
        let s = Spec::parse(base, Path::new("s.yaml"), &env).unwrap();
        assert!(!s.sbom_files);
        let s = Spec::parse(
            &format!("{base}sbom-files: true\n"),
            Path::new("s.yaml"),
            &env,
        )
        .unwrap();
        assert!(s.sbom_files);
        let e = Spec::parse(
            &format!("{base}sbom-files: maybe\n"),
            Path::new("s.yaml"),
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sbom-files") && e.contains("line 4"), "{e}");
        let e = Spec::parse(
            &format!("{base}sbom-file: true\n"),
            Path::new("s.yaml"),
            &env,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("sbom-file") && e.contains("line 4"), "{e}");
    }

    #[test]
    fn unset_variable_is_an_error() {
        let text = "name: x\nrepositories:\n  - uri: ${NOPE}\n    suites: [s]\n    signed-by: k\npackages: [a1]\n";
        let e = Spec::parse(text, Path::new("s.yaml"), &env).unwrap_err();
        assert!(e.to_string().contains("`NOPE` is not set"), "{e}");
    }

    #[test]
    fn rejects_bad_values() {
        for (text, needle) in [
            ("name: x\nrepositories: hots\npackages: [a1]\n", "hots"),
            (
                "name: x\nrepositories: host\npackages: []\n",
                "at least one",
            ),
            ("name: X!\nrepositories: host\npackages: [a1]\n", "name"),
            (
                "name: x\nrepositories: host\npackages: [a1]\nfiles: [{source: a, path: rel}]\n",
                "absolute",
            ),
            (
                "name: x\nrepositories: host\npackages: [a1]\naccounts: {run-as: ghost}\n",
                "ghost",
            ),
        ] {
            let e = Spec::parse(text, Path::new("s.yaml"), &env).unwrap_err();
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn expansion_edge_cases() {
        let p = Path::new("s");
        assert_eq!(expand("a$b", "k", p, &env).unwrap(), "a$b");
        assert!(expand("${MIRROR", "k", p, &env).is_err());
        assert!(expand("${1X}", "k", p, &env).is_err());
        assert_eq!(
            expand("${MIRROR}/x", "k", p, &env).unwrap(),
            "http://mirror.test/debian/x"
        );
    }
}
