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
//!
//! A scalar where a string is expected (`PORT: 8080`, `cmd: [--port, 8080]`,
//! `tag: 1.0`) is read as its exact text (`"8080"`, `"1.0"`); an empty value
//! (`KEY:` or `~`) in `environment`, `annotations`, `cmd` or `entrypoint` is
//! an error (write `""`).
//!
//! Modes, owners and paths in the image are read as text, expanded, then
//! converted once into [`Mode`], [`Owner`] and [`ImagePath`] while the spec
//! is validated: a loaded [`Spec`] holds only typed values for them.
//!
//! # Limits
//!
//! A spec comes from outside, so what it may cost to read is bounded, each
//! limit checked in time linear in the file and before anything is
//! expanded or fetched:
//!
//! - the spec file: a regular file (not a FIFO, a device or a directory) of
//!   at most [`MAX_SPEC_BYTES`] (1 MiB), UTF-8;
//! - its YAML: at most [`MAX_DEPTH`] (32) levels of nested mappings and
//!   sequences and at most [`MAX_NODES`] (100,000) nodes, and at most
//!   [`MAX_EXPANDED_BYTES`] (1 MiB) of scalar text, each counted with the
//!   aliases expanded, so that a few bytes of anchors and aliases cannot
//!   stand for gigabytes;
//! - an `annotations` value: at most [`MAX_ANNOTATION_BYTES`] (64 KiB); an
//!   `environment` value: at most [`MAX_ENVIRONMENT_VALUE_BYTES`] (32 KiB),
//!   both after expansion;
//! - a `files[].source` (read when the image is assembled): a regular file
//!   of at most [`MAX_FILE_SOURCE_BYTES`] (1 GiB).
//!
//! # Validation rules
//!
//! Errors name the spec file and the key, e.g. `accounts.users[1].username`.
//!
//! - `name`: one path component (it is the default output `./out/NAME`):
//!   1–128 lowercase ASCII letters, digits, `.`, `_` or `-`, starting with a
//!   letter or digit (the alphabet of an OCI/Docker reference's name).
//! - `tag`: 1–128 ASCII letters, digits, `.`, `_` or `-`, not starting with
//!   `.` or `-`.
//! - `architectures`: each one of [`ARCHITECTURES`], each once.
//! - `packages`: `NAME`, `NAME=VERSION` or a pattern from [`PATTERNS`]; apt's
//!   dependency syntax (`(>= 1)`, `a | b`) is refused, showing the whole entry.
//! - `accounts`: user names, group names and group members follow Debian's
//!   default `adduser`/`useradd` rule, `^[a-z_][a-z0-9_-]*[$]?$`, at most 32
//!   characters. No two users share a name or a uid, no two groups a name or
//!   a gid (users may share a primary gid). A user with uid 0 would be a
//!   second root and needs `allow-uid-0: true`. `home` and `shell` are
//!   absolute, normalized paths (as for `files[].path`) without `:`.
//!   `run-as` is `NAME`, `UID`, `NAME:GROUP` or `UID:GID` (either half may be
//!   a name or a number); a name must be declared in `users` (or `groups`).
//! - `files[].path`, `paths[].path`: absolute and normalized (no `.` or `..`
//!   component, no `//`, no trailing `/`), not `/`, no NUL or newline; each
//!   path once across `files` and `paths`.
//! - `files[].source`: relative, not climbing out of the spec's directory
//!   (lexically; symlinks are checked when the file is read).
//! - `paths[].target`: required for `type: symlink`, refused for the others.
//! - `files[].mode`, `paths[].mode`: octal, at most `0o7777`; `owner`:
//!   numeric `UID:GID`.
//! - `workdir`: absolute. `environment` names: `^[A-Za-z_][A-Za-z0-9_]*$`.
//! - `annotations`: none under `dev.bulwark.`, where bulwark records the
//!   build.

mod limits;
mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use limits::{
    MAX_ANNOTATION_BYTES, MAX_DEPTH, MAX_ENVIRONMENT_VALUE_BYTES, MAX_EXPANDED_BYTES,
    MAX_FILE_SOURCE_BYTES, MAX_NODES, MAX_SPEC_BYTES,
};
pub use values::{ImagePath, Mode, Owner};

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
    /// Image name; also the default output directory name, so one safe path
    /// component (see the crate's validation rules).
    pub name: String,
    /// Tag written as `org.opencontainers.image.ref.name`.
    #[serde(default = "default_tag")]
    pub tag: String,
    /// Where packages come from.
    pub repositories: Repositories,
    /// Debian architectures to build ([`ARCHITECTURES`], each once); empty
    /// means the host's.
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
    /// `files` as written, until it is expanded and converted.
    #[serde(rename = "files", default, skip_serializing)]
    files_text: Vec<FileText>,
    /// `paths` as written, until it is expanded and converted.
    #[serde(rename = "paths", default, skip_serializing)]
    paths_text: Vec<PathText>,
    /// Annotations on the image manifest.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// List every regular file, with its SHA-1 and SHA-256, in the SBOMs
    /// attached at build time.
    #[serde(default)]
    pub sbom_files: bool,
    /// Give the image what a container needs whatever the packages are
    /// (default `true`): `/etc/os-release` naming the Debian release when
    /// no package ships one, `/etc/passwd` and `/etc/group` with at least
    /// `root`, `nobody` and `nogroup`, and `/tmp`, `/var/tmp`, `/root` and
    /// `/home` when no package ships them. `false` leaves out all of it.
    #[serde(default = "default_skeleton")]
    pub skeleton: bool,
    /// The `repositories` value exactly as written, `${VAR}` unexpanded,
    /// as canonical JSON.
    #[serde(skip)]
    pub repositories_as_written: String,
    /// Directory of the spec file; relative `files` sources resolve from it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Local files copied into the image.
    #[serde(skip_deserializing)]
    pub files: Vec<FileEntry>,
    /// Directories, symlinks and permission changes.
    #[serde(skip_deserializing)]
    pub paths: Vec<PathEntry>,
}

fn default_tag() -> String {
    "latest".into()
}

fn default_max_layers() -> usize {
    50
}

fn default_skeleton() -> bool {
    true
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

/// The most bytes of a `dev.bulwark.repositories` record read.
pub const MAX_REPOSITORIES_RECORD: usize = 64 << 10;

impl Repositories {
    /// The repositories an image records in its `dev.bulwark.repositories`
    /// annotation (a spec's `repositories` as written, as JSON), with
    /// `${VAR}` expanded by `env` now and checked as in a spec. `origin`
    /// names the image in errors.
    pub fn from_record(
        json: &str,
        origin: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Repositories, Error> {
        let record = |message: String| Error::Yaml {
            path: origin.to_owned(),
            message: format!("its `dev.bulwark.repositories` record: {message}"),
        };
        if json.len() > MAX_REPOSITORIES_RECORD {
            return Err(record(format!(
                "larger than {MAX_REPOSITORIES_RECORD} bytes"
            )));
        }
        let mut repositories: Repositories =
            serde_json::from_str(json).map_err(|e| record(e.to_string()))?;
        repositories.expand(origin, env)?;
        repositories.validate(origin)?;
        Ok(repositories)
    }

    /// The `repositories` of the spec file at `path` (a file with only
    /// `repositories` is enough; other keys are not read), `${VAR}`
    /// expanded from the process environment, and the directory that
    /// relative `signed-by` paths resolve against.
    pub fn load(path: &Path) -> Result<(Repositories, PathBuf), Error> {
        #[derive(Deserialize)]
        struct Only {
            repositories: Repositories,
        }
        let text = limits::read_spec(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let yaml = |message: String| Error::Yaml {
            path: path.to_owned(),
            message,
        };
        limits::check_yaml(&text).map_err(yaml)?;
        let only: Only = serde_norway::from_str(&text).map_err(|e| yaml(e.to_string()))?;
        let mut repositories = only.repositories;
        repositories.expand(path, &|k| std::env::var(k).ok())?;
        repositories.validate(path)?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok((repositories, base_dir))
    }

    /// Expands `${VAR}` in every entry, naming the key in errors.
    fn expand(&mut self, path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<(), Error> {
        let Repositories::List(list) = self else {
            return Ok(());
        };
        let x = |s: &mut String, key: &str| -> Result<(), Error> {
            if s.contains('$') {
                *s = expand(s, key, path, env)?;
            }
            Ok(())
        };
        for (i, r) in list.iter_mut().enumerate() {
            let k = format!("repositories[{i}]");
            match r {
                RepositoryEntry::Host { host } => x(host, &format!("{k}.host"))?,
                RepositoryEntry::Explicit(r) => {
                    x(&mut r.uri, &format!("{k}.uri"))?;
                    for (j, v) in r.suites.iter_mut().enumerate() {
                        x(v, &format!("{k}.suites[{j}]"))?;
                    }
                    for (j, v) in r.components.iter_mut().enumerate() {
                        x(v, &format!("{k}.components[{j}]"))?;
                    }
                    x(&mut r.signed_by, &format!("{k}.signed-by"))?;
                }
            }
        }
        Ok(())
    }

    /// A non-empty list of entries with http(s) or file URIs, suites and
    /// components.
    fn validate(&self, path: &Path) -> Result<(), Error> {
        let invalid = |key: &str, reason: String| Error::Invalid {
            path: path.to_owned(),
            key: key.to_string(),
            reason,
        };
        let Repositories::List(list) = self else {
            return Ok(());
        };
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
        Ok(())
    }
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
        Ok(PackageRequest::from_entry(&String::deserialize(d)?))
    }
}

impl PackageRequest {
    /// Splits `name=VERSION`. An entry in apt's dependency syntax is kept
    /// whole, as the name, so that validation shows all of it.
    fn from_entry(s: &str) -> PackageRequest {
        match s.split_once('=') {
            Some((n, v)) if package_entry_syntax_error(s).is_none() => PackageRequest {
                name: n.trim().to_string(),
                version: Some(v.trim().to_string()),
            },
            _ => PackageRequest {
                name: s.trim().to_string(),
                version: None,
            },
        }
    }
}

/// Why `entry` is not `NAME`, `NAME=VERSION` or a pattern, when that shows
/// before variables are expanded: apt's dependency syntax (relations such as
/// `(>= 1)`, alternatives, architecture qualifiers) is not accepted.
fn package_entry_syntax_error(entry: &str) -> Option<&'static str> {
    let t = entry.trim();
    if t.is_empty() {
        return Some("is empty; write `NAME` or `NAME=VERSION`");
    }
    if t.starts_with('?') {
        return None;
    }
    if t.contains(|c: char| c.is_whitespace() || "()<>|,!".contains(c)) {
        return Some(
            "is not `NAME` or `NAME=VERSION`: dependency syntax (version relations \
             such as `(>= 1)`, alternatives, spaces) is not accepted; pin an exact \
             version as `NAME=VERSION` or name the package alone",
        );
    }
    None
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
    /// `users` as written, until it is expanded and converted.
    #[serde(rename = "users", default, skip_serializing)]
    users_text: Vec<UserText>,
    /// The user the image runs as: `NAME`, `UID`, `NAME:GROUP` or `UID:GID`,
    /// a name being one declared in `users` (or `groups`).
    #[serde(default)]
    pub run_as: Option<String>,
    /// Users to add to `/etc/passwd` and `/etc/shadow`.
    #[serde(skip_deserializing)]
    pub users: Vec<User>,
}

/// A group.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Group {
    /// Group name: `^[a-z_][a-z0-9_-]*[$]?$`, at most 32 characters.
    pub groupname: String,
    /// Numeric id.
    pub gid: u32,
    /// Member user names.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A user.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct User {
    /// User name: `^[a-z_][a-z0-9_-]*[$]?$`, at most 32 characters.
    pub username: String,
    /// Numeric user id; 0 only with [`User::allow_uid_0`].
    pub uid: u32,
    /// Primary group id; default the uid.
    pub gid: Option<u32>,
    /// Home directory; default `/home/USERNAME`, created owned by the user.
    pub home: Option<ImagePath>,
    /// Login shell; default `/sbin/nologin`.
    pub shell: Option<ImagePath>,
    /// Whether uid 0 is intended: the user is then a second root.
    pub allow_uid_0: bool,
}

/// A user as written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct UserText {
    username: String,
    uid: u32,
    #[serde(default)]
    gid: Option<u32>,
    #[serde(default)]
    home: Option<String>,
    #[serde(default)]
    shell: Option<String>,
    #[serde(default)]
    allow_uid_0: bool,
}

/// A local file copied into the image.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct FileEntry {
    /// Source path, relative to the spec's directory and inside it.
    pub source: PathBuf,
    /// Destination in the image.
    pub path: ImagePath,
    /// Mode; default 0644.
    pub mode: Option<Mode>,
    /// Owner; default `0:0`.
    pub owner: Option<Owner>,
}

/// A `files` entry as written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileText {
    source: PathBuf,
    path: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    owner: Option<String>,
}

/// A directory, symlink or permission change.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct PathEntry {
    /// The path in the image.
    pub path: ImagePath,
    /// What to do there.
    #[serde(rename = "type")]
    pub kind: PathKind,
    /// Symlink target: set for `symlink` (non-empty, without NUL), `None`
    /// otherwise.
    pub target: Option<String>,
    /// Mode: for a directory, default 0755; for `permissions`, unchanged if
    /// not given.
    pub mode: Option<Mode>,
    /// Owner: for a directory or symlink, default `0:0`; for
    /// `permissions`, unchanged if not given.
    pub owner: Option<Owner>,
}

/// A `paths` entry as written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PathText {
    path: String,
    #[serde(rename = "type")]
    kind: PathKind,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    owner: Option<String>,
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

/// The Debian architectures `architectures` may name (`all` is not one: it
/// is a package property, not a machine).
pub const ARCHITECTURES: &[&str] = &[
    "amd64", "arm64", "armel", "armhf", "i386", "loong64", "mips64el", "ppc64el", "riscv64",
    "s390x",
];

/// The longest `name` and account name accepted.
const MAX_NAME: usize = 128;
const MAX_ACCOUNT_NAME: usize = 32;

impl Spec {
    /// Loads a spec file, expanding `${VAR}` from the process environment.
    /// The file must be a regular file of at most [`MAX_SPEC_BYTES`].
    pub fn load(path: &Path) -> Result<Spec, Error> {
        Self::load_with_text(path).map(|(spec, _)| spec)
    }

    /// [`Spec::load`], also returning the text that was parsed (read once,
    /// so that what is recorded of the file is what was built from).
    pub fn load_with_text(path: &Path) -> Result<(Spec, String), Error> {
        let text = limits::read_spec(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let spec = Self::parse(&text, path, &|k| std::env::var(k).ok())?;
        Ok((spec, text))
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
        // Size, depth and alias expansion, before a parser that would pay
        // for them reads the text.
        limits::check_yaml(text).map_err(|message| Error::Yaml {
            path: path.to_owned(),
            message,
        })?;
        // One typed pass over the text: structure, unknown keys and types,
        // with key and line. It reads a scalar where a string is expected by
        // its exact text (`8080`, `true`, `1.0` stay as written), which a pass
        // through a `Value` would turn into a number first and then reject
        // without a position.
        let mut spec: Spec = serde_norway::from_str(text).map_err(yaml_err)?;
        // The untyped tree: the repositories as written, and empty values.
        let value: serde_norway::Value = serde_norway::from_str(text).map_err(yaml_err)?;
        reject_nulls(&value, path)?;
        spec.repositories_as_written = value
            .get("repositories")
            .map(|v| serde_json::to_string(&yaml_to_json(v)).unwrap_or_default())
            .unwrap_or_default();
        spec.expand_variables(path, env)?;
        spec.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        spec.validate(path)?;
        Ok(spec)
    }

    /// Expands `${VAR}` in every string value, naming the key in errors.
    fn expand_variables(
        &mut self,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), Error> {
        let x = |s: &mut String, key: &str| -> Result<(), Error> {
            if s.contains('$') {
                *s = expand(s, key, path, env)?;
            }
            Ok(())
        };
        let xo = |s: &mut Option<String>, key: &str| match s {
            Some(s) => x(s, key),
            None => Ok(()),
        };
        let xv = |v: &mut [String], key: &str| -> Result<(), Error> {
            for (i, s) in v.iter_mut().enumerate() {
                x(s, &format!("{key}[{i}]"))?;
            }
            Ok(())
        };
        let xm = |m: &mut BTreeMap<String, String>, key: &str| -> Result<(), Error> {
            for (k, v) in m.iter_mut() {
                x(v, &format!("{key}.{k}"))?;
            }
            Ok(())
        };
        x(&mut self.name, "name")?;
        x(&mut self.tag, "tag")?;
        self.repositories.expand(path, env)?;
        xv(&mut self.architectures, "architectures")?;
        for (i, p) in self.packages.iter_mut().enumerate() {
            // Expanded as one entry, then split, as written.
            let mut entry = match &p.version {
                Some(v) => format!("{}={v}", p.name),
                None => p.name.clone(),
            };
            if entry.contains('$') {
                x(&mut entry, &format!("packages[{i}]"))?;
                *p = PackageRequest::from_entry(&entry);
            }
        }
        for (i, e) in self.exclude.iter_mut().enumerate() {
            x(&mut e.name, &format!("exclude[{i}]"))?;
            xo(&mut e.reason, &format!("exclude[{i}].reason"))?;
        }
        xv(&mut self.prefer, "prefer")?;
        for (i, g) in self.accounts.groups.iter_mut().enumerate() {
            let k = format!("accounts.groups[{i}]");
            x(&mut g.groupname, &format!("{k}.groupname"))?;
            xv(&mut g.members, &format!("{k}.members"))?;
        }
        for (i, u) in self.accounts.users_text.iter_mut().enumerate() {
            let k = format!("accounts.users[{i}]");
            x(&mut u.username, &format!("{k}.username"))?;
            xo(&mut u.home, &format!("{k}.home"))?;
            xo(&mut u.shell, &format!("{k}.shell"))?;
        }
        xo(&mut self.accounts.run_as, "accounts.run-as")?;
        xv(&mut self.entrypoint, "entrypoint")?;
        xv(&mut self.cmd, "cmd")?;
        xo(&mut self.workdir, "workdir")?;
        xm(&mut self.environment, "environment")?;
        for (i, f) in self.files_text.iter_mut().enumerate() {
            let k = format!("files[{i}]");
            if let Some(s) = f.source.to_str() {
                let mut s = s.to_string();
                x(&mut s, &format!("{k}.source"))?;
                f.source = PathBuf::from(s);
            }
            x(&mut f.path, &format!("{k}.path"))?;
            xo(&mut f.mode, &format!("{k}.mode"))?;
            xo(&mut f.owner, &format!("{k}.owner"))?;
        }
        for (i, p) in self.paths_text.iter_mut().enumerate() {
            let k = format!("paths[{i}]");
            x(&mut p.path, &format!("{k}.path"))?;
            xo(&mut p.target, &format!("{k}.target"))?;
            xo(&mut p.mode, &format!("{k}.mode"))?;
            xo(&mut p.owner, &format!("{k}.owner"))?;
        }
        xm(&mut self.annotations, "annotations")?;
        Ok(())
    }

    /// Checks every value, and converts the text of `files`, `paths` and
    /// `accounts.users` into their typed values.
    fn validate(&mut self, path: &Path) -> Result<(), Error> {
        let invalid = |key: &str, reason: String| Error::Invalid {
            path: path.to_owned(),
            key: key.to_string(),
            reason,
        };
        // `name` is the default output directory (`./out/NAME`) and the
        // repository of a docker-archive reference: one path component, in
        // the lowercase alphabet of a reference's name components.
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= MAX_NAME
                && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c))
        };
        if !name_ok(&self.name) {
            return Err(invalid(
                "name",
                format!(
                    "`{}` must be one path component of at most {MAX_NAME} lowercase letters, \
                     digits, `-`, `.` or `_`, starting with a letter or digit",
                    self.name.escape_debug()
                ),
            ));
        }
        // A tag, as OCI and Docker references spell one.
        if let Err(message) = bulwark_oci::check_tag(&self.tag) {
            return Err(invalid("tag", message));
        }
        let mut archs = std::collections::BTreeSet::new();
        for (i, a) in self.architectures.iter().enumerate() {
            let key = format!("architectures[{i}]");
            if !ARCHITECTURES.contains(&a.as_str()) {
                return Err(invalid(
                    &key,
                    format!(
                        "`{}` is not a Debian architecture (known: {})",
                        a.escape_debug(),
                        ARCHITECTURES.join(", ")
                    ),
                ));
            }
            if !archs.insert(a) {
                return Err(invalid(&key, format!("`{a}` is listed twice")));
            }
        }
        if self.packages.is_empty() {
            return Err(invalid(
                "packages",
                "at least one package is required".into(),
            ));
        }
        let pkg_ok = |s: &str| {
            s.len() >= 2
                && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        };
        let version_ok = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
        };
        for (i, p) in self.packages.iter().enumerate() {
            let key = format!("packages[{i}]");
            let raw = match &p.version {
                Some(v) => format!("{}={v}", p.name),
                None => p.name.clone(),
            };
            let entry = raw.escape_debug();
            if p.name.starts_with('?') {
                if !PATTERNS.contains(&p.name.as_str()) || p.version.is_some() {
                    return Err(invalid(
                        &key,
                        format!(
                            "`{entry}`: unknown pattern (known: {})",
                            PATTERNS.join(", ")
                        ),
                    ));
                }
                continue;
            }
            if let Some(reason) = package_entry_syntax_error(&raw) {
                return Err(invalid(&key, format!("`{entry}` {reason}")));
            }
            if !pkg_ok(&p.name) {
                return Err(invalid(
                    &key,
                    format!(
                        "`{entry}`: `{}` is not a valid package name (at least 2 lowercase \
                         letters, digits, `+`, `-` or `.`, starting with a letter or digit)",
                        p.name.escape_debug()
                    ),
                ));
            }
            match p.version.as_deref() {
                Some("") => return Err(invalid(&key, format!("`{entry}` has no version"))),
                Some(v) if !version_ok(v) => {
                    return Err(invalid(
                        &key,
                        format!(
                            "`{entry}`: `{}` is not a Debian version (letters, digits, \
                             `.`, `+`, `~`, `:` and `-`)",
                            v.escape_debug()
                        ),
                    ))
                }
                _ => {}
            }
        }
        for (i, e) in self.exclude.iter().enumerate() {
            if !pkg_ok(&e.name) {
                return Err(invalid(
                    &format!("exclude[{i}]"),
                    format!("`{}` is not a valid package name", e.name.escape_debug()),
                ));
            }
        }
        if self.max_layers < 2 {
            return Err(invalid("max-layers", "must be at least 2".into()));
        }
        self.repositories.validate(path)?;
        self.validate_accounts(&invalid)?;
        // `files` and `paths`: each path once, across both lists.
        let mut seen: BTreeMap<ImagePath, String> = BTreeMap::new();
        let mut claim = |p: &ImagePath, key: String| match seen.get(p) {
            Some(first) => Err(invalid(
                &key,
                format!(
                    "`{}` is already given by `{first}`",
                    p.as_str().escape_debug()
                ),
            )),
            None => {
                seen.insert(p.clone(), key);
                Ok(())
            }
        };
        let mut files = Vec::with_capacity(self.files_text.len());
        for (i, f) in std::mem::take(&mut self.files_text).into_iter().enumerate() {
            let key = format!("files[{i}]");
            let dest = typed::<ImagePath>(&f.path, &format!("{key}.path"), &invalid)?;
            claim(&dest, format!("{key}.path"))?;
            check_source(&f.source).map_err(|r| invalid(&format!("{key}.source"), r))?;
            files.push(FileEntry {
                source: f.source,
                path: dest,
                mode: typed_opt(f.mode.as_deref(), &format!("{key}.mode"), &invalid)?,
                owner: typed_opt(f.owner.as_deref(), &format!("{key}.owner"), &invalid)?,
            });
        }
        self.files = files;
        let mut paths = Vec::with_capacity(self.paths_text.len());
        for (i, p) in std::mem::take(&mut self.paths_text).into_iter().enumerate() {
            let key = format!("paths[{i}]");
            let dest = typed::<ImagePath>(&p.path, &format!("{key}.path"), &invalid)?;
            claim(&dest, format!("{key}.path"))?;
            let shown = dest.as_str().escape_debug();
            match (p.kind, &p.target) {
                (PathKind::Symlink, None) => {
                    return Err(invalid(
                        &format!("{key}.target"),
                        format!("symlink `{shown}` needs a target"),
                    ))
                }
                (PathKind::Symlink, Some(t)) if t.is_empty() || t.contains('\0') => {
                    return Err(invalid(
                        &format!("{key}.target"),
                        format!("`{}` is not a symlink target", t.escape_debug()),
                    ))
                }
                (PathKind::Directory | PathKind::Permissions, Some(_)) => {
                    return Err(invalid(
                        &format!("{key}.target"),
                        format!("only a `type: symlink` entry has a target; `{shown}` is not one"),
                    ))
                }
                _ => {}
            }
            paths.push(PathEntry {
                path: dest,
                kind: p.kind,
                target: p.target,
                mode: typed_opt(p.mode.as_deref(), &format!("{key}.mode"), &invalid)?,
                owner: typed_opt(p.owner.as_deref(), &format!("{key}.owner"), &invalid)?,
            });
        }
        self.paths = paths;
        if let Some(w) = &self.workdir {
            if !w.starts_with('/') || w.contains(['\0', '\n']) {
                return Err(invalid(
                    "workdir",
                    format!("`{}` must be an absolute path", w.escape_debug()),
                ));
            }
        }
        for (k, v) in &self.environment {
            let key = format!("environment.{}", k.escape_debug());
            if !is_variable_name(k) {
                return Err(invalid(
                    &key,
                    "a variable name is a letter or `_`, then letters, digits or `_` \
                     (`^[A-Za-z_][A-Za-z0-9_]*$`)"
                        .into(),
                ));
            }
            if v.contains('\0') {
                return Err(invalid(&key, "the value contains NUL".into()));
            }
            if v.len() > MAX_ENVIRONMENT_VALUE_BYTES {
                return Err(invalid(
                    &key,
                    format!(
                        "the value is {} bytes, more than the limit of {MAX_ENVIRONMENT_VALUE_BYTES}",
                        v.len()
                    ),
                ));
            }
        }
        for (list, key) in [(&self.entrypoint, "entrypoint"), (&self.cmd, "cmd")] {
            if let Some(i) = list.iter().position(|a| a.contains('\0')) {
                return Err(invalid(&format!("{key}[{i}]"), "contains NUL".into()));
            }
        }
        for (k, v) in &self.annotations {
            let key = format!("annotations.{}", k.escape_debug());
            let prefix = bulwark_oci::annotation::BULWARK_PREFIX;
            if k.starts_with(prefix) || Some(k.as_str()) == prefix.strip_suffix('.') {
                return Err(invalid(
                    &key,
                    "`dev.bulwark.*` annotations are bulwark's own records of the build; \
                     use a prefix of your own"
                        .into(),
                ));
            }
            if v.len() > MAX_ANNOTATION_BYTES {
                return Err(invalid(
                    &key,
                    format!(
                        "the value is {} bytes, more than the limit of {MAX_ANNOTATION_BYTES}",
                        v.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_accounts(&mut self, invalid: &dyn Fn(&str, String) -> Error) -> Result<(), Error> {
        let accounts = &mut self.accounts;
        let mut group_names = BTreeMap::new();
        let mut gids = BTreeMap::new();
        for (i, g) in accounts.groups.iter().enumerate() {
            let key = format!("accounts.groups[{i}]");
            check_account_name(&g.groupname)
                .map_err(|r| invalid(&format!("{key}.groupname"), r))?;
            if let Some(first) = group_names.insert(g.groupname.as_str(), i) {
                return Err(invalid(
                    &format!("{key}.groupname"),
                    format!(
                        "group `{}` is already declared by accounts.groups[{first}]",
                        g.groupname
                    ),
                ));
            }
            if let Some(first) = gids.insert(g.gid, i) {
                return Err(invalid(
                    &format!("{key}.gid"),
                    format!("gid {} is already used by accounts.groups[{first}]", g.gid),
                ));
            }
            for (j, m) in g.members.iter().enumerate() {
                check_account_name(m).map_err(|r| invalid(&format!("{key}.members[{j}]"), r))?;
            }
        }
        let mut user_names = BTreeMap::new();
        let mut uids = BTreeMap::new();
        let mut users = Vec::with_capacity(accounts.users_text.len());
        for (i, u) in std::mem::take(&mut accounts.users_text)
            .into_iter()
            .enumerate()
        {
            let key = format!("accounts.users[{i}]");
            check_account_name(&u.username).map_err(|r| invalid(&format!("{key}.username"), r))?;
            if let Some(first) = user_names.insert(u.username.clone(), i) {
                return Err(invalid(
                    &format!("{key}.username"),
                    format!(
                        "user `{}` is already declared by accounts.users[{first}]",
                        u.username
                    ),
                ));
            }
            if let Some(first) = uids.insert(u.uid, i) {
                return Err(invalid(
                    &format!("{key}.uid"),
                    format!("uid {} is already used by accounts.users[{first}]", u.uid),
                ));
            }
            // root always exists: a spec user with uid 0 is a second root.
            if u.uid == 0 && !u.allow_uid_0 {
                return Err(invalid(
                    &format!("{key}.uid"),
                    format!(
                        "uid 0 would make `{}` a second root; set `allow-uid-0: true` on this user if that is intended",
                        u.username
                    ),
                ));
            }
            let path_field = |field: &str, value: Option<String>| {
                let key = format!("{key}.{field}");
                let Some(v) = typed_opt::<ImagePath>(value.as_deref(), &key, invalid)? else {
                    return Ok(None);
                };
                if v.as_str().contains(':') {
                    return Err(invalid(
                        &key,
                        format!(
                            "`{}` contains `:`, the /etc/passwd field separator",
                            v.as_str().escape_debug()
                        ),
                    ));
                }
                Ok(Some(v))
            };
            let home = path_field("home", u.home)?;
            let shell = path_field("shell", u.shell)?;
            users.push(User {
                username: u.username,
                uid: u.uid,
                gid: u.gid,
                home,
                shell,
                allow_uid_0: u.allow_uid_0,
            });
        }
        accounts.users = users;
        self.run_as_ids()
            .map_err(|r| invalid("accounts.run-as", r))?;
        Ok(())
    }

    /// `accounts.run-as` as numeric ids: `NAME` or `UID` (the group is the
    /// user's primary group, or the same number), `NAME:GROUP` or `UID:GID`.
    /// A name must be declared in `accounts.users` (or `accounts.groups`).
    fn run_as_ids(&self) -> Result<Option<(u32, u32)>, String> {
        let Some(run_as) = &self.accounts.run_as else {
            return Ok(None);
        };
        let shown = run_as.escape_debug();
        let form = || format!("`{shown}` is not `NAME`, `UID`, `NAME:GROUP` or `UID:GID`");
        let mut parts = run_as.split(':');
        let user = parts.next().unwrap_or_default();
        let group = parts.next();
        if parts.next().is_some() || user.is_empty() || group == Some("") {
            return Err(form());
        }
        let (uid, primary) = match user.parse::<u32>() {
            Ok(uid) => (uid, uid),
            Err(_) => {
                let u = self
                    .accounts
                    .users
                    .iter()
                    .find(|u| u.username == user)
                    .ok_or_else(|| {
                        format!(
                            "`{shown}`: `{}` is neither a user in accounts.users nor a numeric UID",
                            user.escape_debug()
                        )
                    })?;
                (u.uid, u.gid.unwrap_or(u.uid))
            }
        };
        let gid = match group {
            None => primary,
            Some(g) => match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => {
                    self.accounts
                        .groups
                        .iter()
                        .find(|x| x.groupname == g)
                        .ok_or_else(|| {
                            format!(
                                "`{shown}`: `{}` is neither a group in accounts.groups nor a numeric GID",
                                g.escape_debug()
                            )
                        })?
                        .gid
                }
            },
        };
        Ok(Some((uid, gid)))
    }

    /// The numeric `UID:GID` the image runs as, if `accounts.run-as` is set.
    pub fn run_as_numeric(&self) -> Option<String> {
        match self.run_as_ids() {
            Ok(ids) => ids.map(|(u, g)| format!("{u}:{g}")),
            // Only for a spec that was not validated.
            Err(_) => self.accounts.run_as.clone(),
        }
    }
}

/// Checks a user or group name: Debian's default rule for `adduser` and
/// `useradd` (`^[a-z_][a-z0-9_-]*[$]?$`), at most 32 characters.
fn check_account_name(name: &str) -> Result<(), String> {
    let body = name.strip_suffix('$').unwrap_or(name);
    let ok = !body.is_empty()
        && name.len() <= MAX_ACCOUNT_NAME
        && body.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && body
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a valid account name (at most {MAX_ACCOUNT_NAME} characters: a lowercase \
             letter or `_`, then lowercase letters, digits, `_` or `-`, optionally ending in `$`)",
            name.escape_debug()
        ))
    }
}

/// Whether `name` is an environment variable name:
/// `^[A-Za-z_][A-Za-z0-9_]*$`.
fn is_variable_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Converts the (expanded) text of `key` into its typed value.
fn typed<T: std::str::FromStr<Err = String>>(
    text: &str,
    key: &str,
    invalid: &dyn Fn(&str, String) -> Error,
) -> Result<T, Error> {
    text.parse().map_err(|reason| invalid(key, reason))
}

/// [`typed`] for an optional value.
fn typed_opt<T: std::str::FromStr<Err = String>>(
    text: Option<&str>,
    key: &str,
    invalid: &dyn Fn(&str, String) -> Error,
) -> Result<Option<T>, Error> {
    text.map(|t| typed(t, key, invalid)).transpose()
}

/// Checks a `files` source: a relative path that stays, lexically, inside
/// the spec's directory.
fn check_source(source: &Path) -> Result<(), String> {
    use std::path::Component;
    let shown = source.display();
    if source.as_os_str().is_empty() {
        return Err("the source is empty".into());
    }
    let mut depth = 0usize;
    for c in source.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("`{shown}` climbs out of the spec's directory"))?;
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "`{shown}` must be relative to the spec's directory"
                ))
            }
        }
    }
    if depth == 0 {
        return Err(format!("`{shown}` names the spec's directory, not a file"));
    }
    Ok(())
}

/// Rejects an empty value (`KEY:` or `~`) where a string is expected, which
/// the typed pass would read as the text `~`, `null` or the empty string.
fn reject_nulls(value: &serde_norway::Value, path: &Path) -> Result<(), Error> {
    use serde_norway::Value;
    let invalid = |key: String| Error::Invalid {
        path: path.to_owned(),
        key,
        reason: "has no value; write `\"\"` for an empty string".into(),
    };
    for key in ["environment", "annotations"] {
        if let Some(Value::Mapping(m)) = value.get(key) {
            for (k, v) in m {
                if v.is_null() {
                    let name = match k {
                        Value::String(s) => s.clone(),
                        other => serde_norway::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    return Err(invalid(format!("{key}.{name}")));
                }
            }
        }
    }
    for key in ["entrypoint", "cmd"] {
        if let Some(Value::Sequence(seq)) = value.get(key) {
            if let Some(i) = seq.iter().position(Value::is_null) {
                return Err(invalid(format!("{key}[{i}]")));
            }
        }
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
    fn an_image_record_gives_back_the_repositories_expanded_now() {
        let s = Spec::parse(SPEC, Path::new("dir/base.yaml"), &env).unwrap();
        let image = Path::new("oci:out/base");
        let from_record =
            Repositories::from_record(&s.repositories_as_written, image, &env).unwrap();
        assert_eq!(from_record, s.repositories);
        let Repositories::List(list) = &from_record else {
            panic!("{from_record:?}")
        };
        assert!(
            matches!(&list[0], RepositoryEntry::Explicit(r) if r.uri == "http://mirror.test/debian")
        );
        assert_eq!(
            Repositories::from_record(r#""host""#, image, &env).unwrap(),
            Repositories::Host
        );

        // An unset variable names the record's key; junk and huge records
        // are refused naming the record.
        let err = Repositories::from_record(&s.repositories_as_written, image, &|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`MIRROR`") && err.contains("repositories[0].uri"),
            "{err}"
        );
        for bad in [
            "{",
            "[]",
            r#"[{"uri": "ftp://x", "suites": ["a"], "signed-by": "k"}]"#,
        ] {
            let err = Repositories::from_record(bad, image, &env)
                .unwrap_err()
                .to_string();
            assert!(err.contains("oci:out/base"), "{bad}: {err}");
        }
        let huge = format!("\"{}\"", "x".repeat(MAX_REPOSITORIES_RECORD));
        let err = Repositories::from_record(&huge, image, &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn a_spec_with_only_repositories_is_enough_to_load_them() {
        let tmp = tempfile::tempdir().unwrap();
        let only = tmp.path().join("sources.yaml");
        std::fs::write(
            &only,
            "repositories:\n  - uri: file:/srv/mirror\n    suites: [bookworm-security]\n    signed-by: keys/archive.gpg\n",
        )
        .unwrap();
        let (repositories, base) = Repositories::load(&only).unwrap();
        assert_eq!(base, tmp.path());
        assert!(matches!(&repositories, Repositories::List(l) if l.len() == 1));
        // A whole spec works too; a file without `repositories` does not.
        let whole = tmp.path().join("whole.yaml");
        std::fs::write(&whole, "name: x\npackages: [a]\nrepositories: host\n").unwrap();
        assert_eq!(Repositories::load(&whole).unwrap().0, Repositories::Host);
        let none = tmp.path().join("none.yaml");
        std::fs::write(&none, "name: x\n").unwrap();
        let err = Repositories::load(&none).unwrap_err().to_string();
        assert!(
            err.contains("repositories") && err.contains("none.yaml"),
            "{err}"
        );
    }

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
    fn skeleton_defaults_to_true_and_is_checked() {
        let base = "name: x\nrepositories: host\npackages: [a1]\n";
        assert!(
            Spec::parse(base, Path::new("s.yaml"), &env)
                .unwrap()
                .skeleton
        );
        let s = Spec::parse(
            &format!("{base}skeleton: false\n"),
            Path::new("s.yaml"),
            &env,
        )
        .unwrap();
        assert!(!s.skeleton);
        for bad in ["skeleton: no-thanks\n", "skeleton: [false]\n"] {
            let e = Spec::parse(&format!("{base}{bad}"), Path::new("s.yaml"), &env)
                .unwrap_err()
                .to_string();
            assert!(e.contains("skeleton") && e.contains("line 4"), "{e}");
        }
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
