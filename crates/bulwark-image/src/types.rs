//! The data other crates read from an image.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One package from the image's dpkg database (`/var/lib/dpkg/status` or
/// the distroless `/var/lib/dpkg/status.d/`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledPackage {
    /// Binary package name.
    pub name: String,
    /// Binary version, as written (epoch included).
    pub version: String,
    /// Architecture (`amd64`, `all`, …).
    pub architecture: String,
    /// Source package name: the `Source:` field's name, else the binary name.
    pub source_name: String,
    /// Source version: the version in parentheses of `Source: name (version)`,
    /// else the binary version.
    pub source_version: String,
    /// `Maintainer`, if present.
    pub maintainer: Option<String>,
    /// The `Status` field (`install ok installed`, `deinstall ok config-files`…);
    /// status.d stanzas without one count as installed.
    pub status: String,
    /// Whether the package's files are on disk: its state is `installed`,
    /// or between unpacking and configuring (`unpacked`, `half-configured`,
    /// `half-installed`, `triggers-awaited`, `triggers-pending`); not for
    /// `config-files`.
    pub installed: bool,
    /// Files the package owns, from `info/NAME.list` or the md5sums, as
    /// absolute paths; empty when unknown.
    pub files: Vec<String>,
    /// MD5 sums of the package's files, path → hex, when known.
    pub md5sums: BTreeMap<String, String>,
    /// The raw control stanza.
    pub stanza: String,
}

/// The fields of `os-release` that identify a distribution release.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsRelease {
    /// `ID`, e.g. `debian`, `ubuntu`.
    pub id: String,
    /// `VERSION_ID`, e.g. `12`; absent on testing and unstable.
    pub version_id: Option<String>,
    /// `VERSION_CODENAME`, e.g. `bookworm`.
    pub version_codename: Option<String>,
    /// `PRETTY_NAME`.
    pub pretty_name: Option<String>,
    /// `ID_LIKE`, split on whitespace.
    pub id_like: Vec<String>,
}

/// What an image (one platform) or root filesystem holds.
pub struct Contents {
    /// The reference as the user gave it.
    pub target: String,
    /// The kind: `oci`, `docker` (a registry), `docker-archive` or `rootfs`.
    pub kind: &'static str,
    /// `sha256:…` of the image manifest; `None` for a root filesystem and
    /// a classic docker-archive.
    pub manifest_digest: Option<String>,
    /// `sha256:…` of the image config (what identifies an image in a
    /// classic docker-archive); `None` for a root filesystem.
    pub config_digest: Option<String>,
    /// OCI platform, e.g. `linux/amd64`; `None` for a root filesystem.
    pub platform: Option<String>,
    /// The image config's JSON, if an image.
    pub config: Option<serde_json::Value>,
    /// The manifest's annotations, if an image.
    pub annotations: BTreeMap<String, String>,
    /// Installed (and config-files) packages, sorted by name then architecture.
    pub packages: Vec<InstalledPackage>,
    /// The operating system, if `os-release` was found.
    pub os: Option<OsRelease>,
    /// Reads a file of the merged filesystem by absolute path (following
    /// symlinks inside the image, never outside); `None` when absent.
    pub files: Box<dyn FileSource>,
}

/// The type of a filesystem entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    /// A regular file (hard links included).
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
}

/// What one path of a filesystem is, as its tar header (or `lstat`) says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// The entry's type.
    pub kind: FileKind,
    /// Permission bits, with setuid/setgid/sticky (`0o4755`…).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Size in bytes, for regular files; 0 otherwise.
    pub size: u64,
    /// The target, for symlinks.
    pub link: Option<String>,
}

/// Read access to the merged filesystem of an image or a root filesystem.
pub trait FileSource: Send + Sync {
    /// Opens the regular file at absolute `path` for reading, following
    /// symlinks within the image; `None` if there is none.
    fn open(&self, path: &str) -> std::io::Result<Option<Box<dyn std::io::Read + '_>>>;
    /// Every regular file's absolute path, sorted.
    fn list(&self) -> std::io::Result<Vec<String>>;
    /// What the entry at absolute `path` is, following symlinks in its
    /// parent directories but not a final symlink; `None` if there is none.
    /// Sources that do not record metadata return an `Unsupported` error.
    fn metadata(&self, path: &str) -> std::io::Result<Option<FileMeta>> {
        let _ = path;
        Err(std::io::ErrorKind::Unsupported.into())
    }
    /// The content of the regular file at `path` (see [`open`](Self::open)),
    /// which must be at most `limit` bytes: a larger one is an
    /// `InvalidData` error, and no more than `limit + 1` bytes are held.
    fn read(&self, path: &str, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
        use std::io::Read as _;
        let Some(reader) = self.open(path)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        reader
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(crate::fs::too_large(path, limit));
        }
        Ok(Some(bytes))
    }
    /// Calls `f` with every regular file's absolute path and a reader of its
    /// content, in an unspecified but deterministic order. Use this rather
    /// than [`list`](Self::list) plus [`open`](Self::open) to visit many
    /// files: an image's implementation streams each layer once instead of
    /// once per file. Hard links are visited once per path.
    fn for_each_file(
        &self,
        f: &mut dyn FnMut(&str, &mut dyn std::io::Read) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        for path in self.list()? {
            if let Some(mut reader) = self.open(&path)? {
                f(&path, &mut reader)?;
            }
        }
        Ok(())
    }
}
