//! [`DebBuilder`]: real `.deb` files built by `dpkg-deb` from a staged tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, clean_relative};

/// Compression of a package's `control.tar` and `data.tar` members
/// (`dpkg-deb -Z`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DebCompression {
    /// `data.tar.xz`, what Debian ships.
    #[default]
    Xz,
    /// `data.tar.gz`.
    Gzip,
    /// `data.tar.zst`, what Ubuntu ships.
    Zstd,
    /// An uncompressed `data.tar`.
    None,
}

impl DebCompression {
    fn dpkg_name(self) -> &'static str {
        match self {
            DebCompression::Xz => "xz",
            DebCompression::Gzip => "gzip",
            DebCompression::Zstd => "zstd",
            DebCompression::None => "none",
        }
    }
}

/// One entry of a package's data tree.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    File { bytes: Vec<u8>, mode: u32 },
    Symlink { target: String },
    Dir { mode: u32 },
}

/// Control fields that [`DebBuilder`] writes itself and that
/// [`DebBuilder::field`] may override in place.
const BUILT_IN: [&str; 5] = [
    "Package",
    "Version",
    "Architecture",
    "Maintainer",
    "Installed-Size",
];

/// Builds a real binary package with `dpkg-deb`.
///
/// Files, symlinks and directories are staged in a temporary directory with
/// the requested modes; `dpkg-deb --root-owner-group --build` then writes
/// them owned by root with `SOURCE_DATE_EPOCH` as every timestamp, so the
/// same builder always produces the same bytes. Parent directories are
/// created with mode 0755. `Maintainer`, `Installed-Size` and
/// `Description` get defaults unless set with [`DebBuilder::field`].
///
/// ```no_run
/// use bulwark_testkit::DebBuilder;
///
/// let deb = DebBuilder::new("foo", "1.0-1")
///     .depends("libfoo (>= 1.0)")
///     .file_mode("usr/bin/foo", b"#!/bin/sh\necho foo\n".to_vec(), 0o755)
///     .symlink("usr/bin/foo-alias", "foo")
///     .build(std::path::Path::new("/tmp"));
/// assert!(deb.ends_with("foo_1.0-1_amd64.deb"));
/// ```
#[derive(Clone, Debug)]
pub struct DebBuilder {
    name: String,
    version: String,
    arch: String,
    fields: Vec<(String, String)>,
    entries: BTreeMap<String, Entry>,
    control_files: BTreeMap<String, (String, u32)>,
    compression: DebCompression,
}

impl DebBuilder {
    /// Starts a package `name` at `version` for architecture `amd64`.
    ///
    /// # Panics
    ///
    /// If `name` or `version` is empty or holds whitespace.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        let (name, version) = (name.into(), version.into());
        assert!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "invalid package name `{name}`"
        );
        assert!(
            !version.is_empty() && !version.contains(char::is_whitespace),
            "invalid version `{version}` for package `{name}`"
        );
        DebBuilder {
            name,
            version,
            arch: "amd64".into(),
            fields: Vec::new(),
            entries: BTreeMap::new(),
            control_files: BTreeMap::new(),
            compression: DebCompression::default(),
        }
    }

    /// The package's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The package's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The package's architecture (`amd64`, `arm64`, `all`…).
    pub fn architecture(&self) -> &str {
        &self.arch
    }

    /// The source package name: the `Source` field's first word, else the
    /// package's name. Repositories use it for the pool directory.
    pub fn source_name(&self) -> &str {
        self.get_field("Source")
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or(&self.name)
    }

    /// The file name `dpkg-deb` conventions give this package:
    /// `NAME_VERSION_ARCH.deb`, the version without its epoch.
    pub fn file_name(&self) -> String {
        let version = self
            .version
            .split_once(':')
            .map_or(self.version.as_str(), |(_, v)| v);
        format!("{}_{}_{}.deb", self.name, version, self.arch)
    }

    /// Sets the architecture: `amd64`, `arm64`, `all`…
    pub fn arch(mut self, arch: impl Into<String>) -> Self {
        self.arch = arch.into();
        self
    }

    /// Sets a control field (`Depends`, `Multi-Arch`, `Essential`,
    /// `Priority`, `Source`, `Description`…), replacing an earlier value.
    /// Fields are written in the order they are first set. A multi-line
    /// value continues on lines that start with a space, as in
    /// deb-control(5).
    ///
    /// # Panics
    ///
    /// If `key` is empty or holds `:` or whitespace, or `value` is empty.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        assert!(
            !key.is_empty() && !key.contains(|c: char| c == ':' || c.is_whitespace()),
            "invalid control field name `{key}`"
        );
        assert!(
            !value.trim().is_empty(),
            "empty value for control field `{key}` of `{}`",
            self.name
        );
        if key.eq_ignore_ascii_case("Package") {
            self.name = value;
        } else if key.eq_ignore_ascii_case("Version") {
            self.version = value;
        } else if key.eq_ignore_ascii_case("Architecture") {
            self.arch = value;
        } else if let Some(slot) = self
            .fields
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
        {
            slot.1 = value;
        } else {
            self.fields.push((key, value));
        }
        self
    }

    /// Sets `Depends`.
    pub fn depends(self, relations: impl Into<String>) -> Self {
        self.field("Depends", relations)
    }

    /// Sets `Pre-Depends`.
    pub fn pre_depends(self, relations: impl Into<String>) -> Self {
        self.field("Pre-Depends", relations)
    }

    /// Sets `Provides`.
    pub fn provides(self, relations: impl Into<String>) -> Self {
        self.field("Provides", relations)
    }

    /// Sets `Conflicts`.
    pub fn conflicts(self, relations: impl Into<String>) -> Self {
        self.field("Conflicts", relations)
    }

    /// Sets `Breaks`.
    pub fn breaks(self, relations: impl Into<String>) -> Self {
        self.field("Breaks", relations)
    }

    /// Sets `Multi-Arch` (`same`, `foreign` or `allowed`).
    pub fn multi_arch(self, value: impl Into<String>) -> Self {
        self.field("Multi-Arch", value)
    }

    /// Adds a regular file with mode 0644. A leading `/` or `./` is ignored.
    pub fn file(self, path: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.file_mode(path, bytes, 0o644)
    }

    /// Adds a regular file with permission bits `mode` (e.g. `0o755`,
    /// `0o4755`).
    ///
    /// # Panics
    ///
    /// If `path` holds `..`, `.` or empty components.
    pub fn file_mode(mut self, path: &str, bytes: impl Into<Vec<u8>>, mode: u32) -> Self {
        let path = clean_relative(path);
        self.entries.insert(
            path,
            Entry::File {
                bytes: bytes.into(),
                mode,
            },
        );
        self
    }

    /// Adds a symbolic link at `path` pointing to `target` (kept verbatim:
    /// relative or absolute).
    ///
    /// # Panics
    ///
    /// If `path` holds `..`, `.` or empty components.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let path = clean_relative(path);
        self.entries.insert(
            path,
            Entry::Symlink {
                target: target.to_string(),
            },
        );
        self
    }

    /// Adds an (empty) directory with mode 0755.
    pub fn dir(self, path: &str) -> Self {
        self.dir_mode(path, 0o755)
    }

    /// Adds an (empty) directory with permission bits `mode` (e.g.
    /// `0o1777`).
    ///
    /// # Panics
    ///
    /// If `path` holds `..`, `.` or empty components.
    pub fn dir_mode(mut self, path: &str, mode: u32) -> Self {
        let path = clean_relative(path);
        self.entries.insert(path, Entry::Dir { mode });
        self
    }

    /// Adds a maintainer script or control file: `preinst`, `postinst`,
    /// `prerm`, `postrm` and `config` get mode 0755; anything else
    /// (`triggers`, `conffiles`, `shlibs`…) 0644.
    ///
    /// # Panics
    ///
    /// If `name` is `control` or holds a `/`.
    pub fn script(mut self, name: &str, text: impl Into<String>) -> Self {
        assert!(
            name != "control" && !name.is_empty() && !name.contains('/'),
            "invalid control member `{name}` for package `{}`",
            self.name
        );
        let mode = match name {
            "preinst" | "postinst" | "prerm" | "postrm" | "config" => 0o755,
            _ => 0o644,
        };
        self.control_files
            .insert(name.to_string(), (text.into(), mode));
        self
    }

    /// Sets the compression of the archive members (default xz).
    pub fn compression(mut self, compression: DebCompression) -> Self {
        self.compression = compression;
        self
    }

    /// Returns the `DEBIAN/control` text this builder writes.
    pub fn control(&self) -> String {
        let mut out = String::new();
        let mut line = |k: &str, v: &str| {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        };
        line("Package", &self.name);
        line("Version", &self.version);
        line("Architecture", &self.arch);
        let maintainer = self
            .get_field("Maintainer")
            .unwrap_or("bulwark tests <test@invalid>");
        line("Maintainer", maintainer);
        let installed_size = match self.get_field("Installed-Size") {
            Some(v) => v.to_string(),
            None => self.installed_size().to_string(),
        };
        line("Installed-Size", &installed_size);
        for (k, v) in &self.fields {
            if BUILT_IN.iter().any(|b| b.eq_ignore_ascii_case(k))
                || k.eq_ignore_ascii_case("Description")
            {
                continue;
            }
            line(k, v);
        }
        let default_description = format!("fixture package {}\n test package", self.name);
        let description = self
            .get_field("Description")
            .unwrap_or(&default_description);
        line("Description", description);
        out
    }

    /// Builds the package into `out_dir` (created if missing) and returns
    /// the path of the `.deb`, named as [`DebBuilder::file_name`].
    ///
    /// # Panics
    ///
    /// If staging fails, a path is both a directory and a file, or
    /// `dpkg-deb` fails (its stderr is in the message).
    pub fn build(&self, out_dir: &Path) -> PathBuf {
        util::create_dir_all(out_dir);
        let stage = util::tempdir("bulwark-deb-");
        let root = stage.path().join("root");
        util::create_dir_all(&root);
        util::set_mode(&root, 0o755);
        for (path, entry) in &self.entries {
            let target = root.join(path);
            self.ensure_parents(&root, path);
            match entry {
                Entry::File { bytes, mode } => {
                    util::write(&target, bytes);
                    util::set_mode(&target, *mode);
                }
                Entry::Symlink { target: to } => {
                    if let Err(e) = std::os::unix::fs::symlink(to, &target) {
                        panic!("cannot stage symlink `{path}` of `{}`: {e}", self.name);
                    }
                }
                Entry::Dir { mode } => {
                    util::create_dir_all(&target);
                    util::set_mode(&target, *mode);
                }
            }
        }
        let debian = root.join("DEBIAN");
        util::create_dir_all(&debian);
        util::set_mode(&debian, 0o755);
        util::write(&debian.join("control"), self.control().as_bytes());
        util::set_mode(&debian.join("control"), 0o644);
        for (name, (text, mode)) in &self.control_files {
            let p = debian.join(name);
            util::write(&p, text.as_bytes());
            util::set_mode(&p, *mode);
        }
        let out = out_dir.join(self.file_name());
        util::run(
            Command::new("dpkg-deb")
                .arg("--root-owner-group")
                .arg(format!("-Z{}", self.compression.dpkg_name()))
                .arg("--build")
                .arg(&root)
                .arg(&out)
                .env("SOURCE_DATE_EPOCH", crate::SOURCE_DATE_EPOCH.to_string()),
            &format!("building package `{}`", self.name),
        );
        out
    }

    fn get_field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Kibibytes as dpkg-gencontrol counts them: each file rounded up to a
    /// KiB, one per other entry.
    fn installed_size(&self) -> u64 {
        self.entries
            .values()
            .map(|e| match e {
                Entry::File { bytes, .. } => (bytes.len() as u64).div_ceil(1024).max(1),
                _ => 1,
            })
            .sum()
    }

    /// Creates the parent directories of `path` under `root` with mode
    /// 0755, panicking if one of them is a file or symlink entry.
    fn ensure_parents(&self, root: &Path, path: &str) {
        let mut prefix = String::new();
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                break;
            }
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match self.entries.get(&prefix) {
                Some(Entry::Dir { .. }) | None => {}
                Some(_) => panic!(
                    "package `{}`: `{prefix}` is a file or symlink but `{path}` is inside it",
                    self.name
                ),
            }
            let dir = root.join(&prefix);
            if !dir.exists() {
                util::create_dir_all(&dir);
                if !self.entries.contains_key(&prefix) {
                    util::set_mode(&dir, 0o755);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_has_defaults_and_field_order() {
        let b = DebBuilder::new("foo", "1:1.0-1")
            .depends("libfoo (>= 1.0)")
            .field("Multi-Arch", "foreign")
            .field("depends", "libfoo (>= 1.1)")
            .file("usr/share/doc/foo/copyright", vec![0u8; 1500]);
        assert_eq!(
            b.control(),
            "Package: foo\nVersion: 1:1.0-1\nArchitecture: amd64\n\
             Maintainer: bulwark tests <test@invalid>\nInstalled-Size: 2\n\
             Depends: libfoo (>= 1.1)\nMulti-Arch: foreign\n\
             Description: fixture package foo\n test package\n"
        );
        assert_eq!(b.file_name(), "foo_1.0-1_amd64.deb");
    }

    #[test]
    fn source_name_takes_first_word() {
        let b = DebBuilder::new("libfoo1", "1.0-1").field("Source", "foo (1.0-0.1)");
        assert_eq!(b.source_name(), "foo");
        assert_eq!(DebBuilder::new("bar", "1").source_name(), "bar");
    }

    #[test]
    #[should_panic(expected = "inside it")]
    fn file_inside_a_file_panics() {
        let out = util::tempdir("t-");
        DebBuilder::new("x", "1")
            .file("usr/a", "x")
            .file("usr/a/b", "y")
            .build(out.path());
    }
}
