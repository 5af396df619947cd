//! Reading the dpkg database: `/var/lib/dpkg/status` with `info/`, and the
//! distroless `/var/lib/dpkg/status.d/`.

use std::collections::{BTreeMap, BTreeSet};

use std::io::{BufRead as _, Read as _};

use bulwark_deb::control::{paragraphs, Paragraph};

use crate::fs::{read_limited, Tree};
use crate::{Error, InstalledPackage};

const STATUS: &str = "/var/lib/dpkg/status";
const STATUS_D: &str = "/var/lib/dpkg/status.d";
const INFO: &str = "/var/lib/dpkg/info";

/// The dpkg states in which a package's files are on disk: installed, or
/// stopped between unpacking and configuring. `config-files` leaves only
/// conffiles; `not-installed` nothing.
const FILES_ON_DISK: &[&str] = &[
    "installed",
    "unpacked",
    "half-configured",
    "half-installed",
    "triggers-awaited",
    "triggers-pending",
];

/// The most packages a database may list: Debian's whole archive has about
/// 70,000 binary packages per architecture.
pub const MAX_PACKAGES: usize = 100_000;
/// The largest `/var/lib/dpkg/status` read (a real one of a big image is
/// tens of megabytes); it is parsed a stanza at a time.
pub const MAX_STATUS: u64 = 256 << 20;
/// The largest stanza: one package's entry of `status`, or a `status.d`
/// file.
pub const MAX_STANZA: u64 = 1 << 20;
/// The largest file list (`info/*.list`, `*.md5sums`).
pub const MAX_FILE_LIST: u64 = 64 << 20;
/// The most bytes read from the whole dpkg database.
pub const MAX_DATABASE: u64 = 1 << 30;

/// What reading the database may still use.
struct Budget {
    bytes: u64,
}

impl Budget {
    /// Takes `size` bytes from the budget, or fails naming `path`.
    fn take(&mut self, path: &str, size: u64) -> Result<(), Error> {
        self.bytes = self.bytes.checked_sub(size).ok_or_else(|| Error::Dpkg {
            path: path.to_owned(),
            line: 1,
            reason: format!(
                "the dpkg database is larger than the {MAX_DATABASE} bytes bulwark reads"
            ),
        })?;
        Ok(())
    }
}

/// Reads every package of the database, sorted by name then architecture.
/// Entries whose status is `not-installed` are left out, like
/// `dpkg-query -W` does; `config-files` entries are kept with
/// `installed == false`. A package listed twice, more than
/// [`MAX_PACKAGES`] packages, or files larger than their limits
/// ([`MAX_STATUS`], [`MAX_STANZA`], [`MAX_FILE_LIST`], [`MAX_DATABASE`]
/// in all) are errors.
pub(crate) fn read_packages(tree: &dyn Tree) -> Result<Vec<InstalledPackage>, Error> {
    let io_err = |path: &str| {
        let path = path.to_owned();
        move |source| Error::Io {
            path: path.into(),
            source,
        }
    };
    let info: BTreeSet<String> = tree
        .read_dir(INFO)
        .map_err(io_err(INFO))?
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut budget = Budget {
        bytes: MAX_DATABASE,
    };
    let mut packages = Vec::new();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut add = |path: &str, line: usize, pkg: &InstalledPackage| -> Result<(), Error> {
        if !seen.insert((pkg.name.clone(), pkg.architecture.clone())) {
            return Err(Error::Dpkg {
                path: path.to_owned(),
                line,
                reason: format!(
                    "package `{}` ({}) is listed twice",
                    pkg.name.escape_debug(),
                    pkg.architecture.escape_debug()
                ),
            });
        }
        if seen.len() > MAX_PACKAGES {
            return Err(Error::Dpkg {
                path: path.to_owned(),
                line,
                reason: format!("more than {MAX_PACKAGES} packages"),
            });
        }
        Ok(())
    };
    if let Some((reader, size)) = tree.open_file(STATUS).map_err(io_err(STATUS))? {
        if size > MAX_STATUS {
            return Err(Error::Io {
                path: STATUS.into(),
                source: crate::fs::too_large(STATUS, MAX_STATUS),
            });
        }
        budget.take(STATUS, size)?;
        let mut reader = std::io::BufReader::new(reader.take(size));
        stanzas(STATUS, &mut reader, &mut |para, line| {
            let Some(mut pkg) = package(STATUS, para, line, false)? else {
                return Ok(());
            };
            add(STATUS, line, &pkg)?;
            attach_info(tree, &info, &mut pkg, None, &mut budget)?;
            packages.push(pkg);
            Ok(())
        })?;
    }
    let names = tree.read_dir(STATUS_D).map_err(io_err(STATUS_D))?;
    for name in names.unwrap_or_default() {
        if name.ends_with(".md5sums") {
            continue;
        }
        let path = format!("{STATUS_D}/{name}");
        // Directories and dangling links are not stanzas.
        let Some(bytes) = read_limited(tree, &path, MAX_STANZA).map_err(io_err(&path))? else {
            continue;
        };
        budget.take(&path, bytes.len() as u64)?;
        let text = String::from_utf8_lossy(&bytes);
        let beside = format!("{path}.md5sums");
        parse_file(&path, &text, 1, &mut |para, line| {
            let Some(mut pkg) = package(&path, para, line, true)? else {
                return Ok(());
            };
            add(&path, line, &pkg)?;
            attach_info(tree, &info, &mut pkg, Some(&beside), &mut budget)?;
            packages.push(pkg);
            Ok(())
        })?;
    }
    packages.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    Ok(packages)
}

/// Reads `reader` (the file `path`) a stanza at a time, each at most
/// [`MAX_STANZA`] bytes, calling `f` with each paragraph and its first
/// line's number; the file is never held whole.
fn stanzas(
    path: &str,
    reader: &mut dyn std::io::BufRead,
    f: &mut dyn FnMut(Paragraph<'_>, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    let io_err = |source| Error::Io {
        path: path.into(),
        source,
    };
    let mut chunk: Vec<u8> = Vec::new();
    let mut chunk_line = 1;
    let mut line_no = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = std::io::Read::take(&mut *reader, MAX_STANZA + 1)
            .read_until(b'\n', &mut line)
            .map_err(io_err)?;
        let end = n == 0;
        line_no += 1;
        let blank = line.iter().all(u8::is_ascii_whitespace);
        if !blank {
            if chunk.is_empty() {
                chunk_line = line_no;
            }
            chunk.extend_from_slice(&line);
            if chunk.len() as u64 > MAX_STANZA {
                return Err(Error::Dpkg {
                    path: path.to_owned(),
                    line: chunk_line,
                    reason: format!("stanza larger than {MAX_STANZA} bytes"),
                });
            }
        }
        if (blank || end) && !chunk.is_empty() {
            let text = String::from_utf8_lossy(&chunk);
            parse_file(path, &text, chunk_line, f)?;
            chunk.clear();
        }
        if end {
            return Ok(());
        }
    }
}

/// Calls `f` with each paragraph of `text` and its first line's number,
/// `text` starting at line `first_line` of `path`.
fn parse_file(
    path: &str,
    text: &str,
    first_line: usize,
    f: &mut dyn FnMut(Paragraph<'_>, usize) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut line = first_line;
    let mut counted = 0;
    for item in paragraphs(text) {
        let (range, para) = item.map_err(|e| Error::Dpkg {
            path: path.to_owned(),
            line: first_line - 1 + e.line,
            reason: e.reason.to_owned(),
        })?;
        line += text[counted..range.start].matches('\n').count();
        counted = range.start;
        f(para, line)?;
    }
    Ok(())
}

/// Makes a package from a stanza; `None` for a `not-installed` entry.
fn package(
    path: &str,
    para: Paragraph<'_>,
    line: usize,
    status_d: bool,
) -> Result<Option<InstalledPackage>, Error> {
    let missing = |field: &str| Error::Dpkg {
        path: path.to_owned(),
        line,
        reason: format!("stanza has no `{field}` field"),
    };
    let name = para.get("Package").ok_or_else(|| missing("Package"))?;
    let status = match para.get("Status") {
        Some(s) => s.split_whitespace().collect::<Vec<_>>().join(" "),
        None if status_d => "install ok installed".to_owned(),
        None => return Err(missing("Status")),
    };
    let state = status.rsplit(' ').next().unwrap_or_default();
    if state == "not-installed" {
        return Ok(None);
    }
    let version = para.get("Version").ok_or_else(|| missing("Version"))?;
    let architecture = para.get("Architecture").unwrap_or_default();
    let (source_name, source_version) = match para.get("Source") {
        Some(source) => parse_source(source, version).ok_or_else(|| Error::Dpkg {
            path: path.to_owned(),
            line,
            reason: format!("malformed `Source: {source}`"),
        })?,
        None => (name, version),
    };
    Ok(Some(InstalledPackage {
        name: name.to_owned(),
        version: version.to_owned(),
        architecture: architecture.to_owned(),
        source_name: source_name.to_owned(),
        source_version: source_version.to_owned(),
        maintainer: para.get("Maintainer").map(str::to_owned),
        installed: FILES_ON_DISK.contains(&state),
        status,
        files: Vec::new(),
        md5sums: BTreeMap::new(),
        stanza: para.as_str().to_owned(),
    }))
}

/// Parses `Source: name` or `Source: name (version)`; the version defaults
/// to the binary's.
pub(crate) fn parse_source<'a>(source: &'a str, version: &'a str) -> Option<(&'a str, &'a str)> {
    let source = source.trim();
    match source.split_once('(') {
        None => {
            let name = source;
            (!name.is_empty() && !name.contains(char::is_whitespace)).then_some((name, version))
        }
        Some((name, rest)) => {
            let name = name.trim();
            let inner = rest.strip_suffix(')')?.trim();
            let valid = !name.is_empty()
                && !name.contains(char::is_whitespace)
                && !inner.is_empty()
                && !inner.contains(char::is_whitespace);
            valid.then_some((name, inner))
        }
    }
}

/// Fills in the files and md5sums: from `info/NAME[:ARCH].list` and
/// `.md5sums`, or from the status.d `.md5sums` beside the stanza.
fn attach_info(
    tree: &dyn Tree,
    info: &BTreeSet<String>,
    pkg: &mut InstalledPackage,
    beside: Option<&str>,
    budget: &mut Budget,
) -> Result<(), Error> {
    let find = |ext: &str| {
        [
            format!("{}:{}.{ext}", pkg.name, pkg.architecture),
            format!("{}.{ext}", pkg.name),
        ]
        .into_iter()
        .find(|n| info.contains(n))
        .map(|n| format!("{INFO}/{n}"))
    };
    let mut read = |path: &str| -> Result<Option<Vec<u8>>, Error> {
        let bytes = read_limited(tree, path, MAX_FILE_LIST).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        if let Some(bytes) = &bytes {
            budget.take(path, bytes.len() as u64)?;
        }
        Ok(bytes)
    };
    let mut md5sums_text = None;
    if let Some(path) = beside {
        md5sums_text = read(path)?;
    }
    if md5sums_text.is_none() {
        if let Some(path) = find("md5sums") {
            md5sums_text = read(&path)?;
        }
    }
    if let Some(bytes) = md5sums_text {
        for line in String::from_utf8_lossy(&bytes).lines() {
            let Some((sum, file)) = line.trim_end().split_once(char::is_whitespace) else {
                continue;
            };
            let file = file.trim_start();
            if file.is_empty() {
                continue;
            }
            let file = if file.starts_with('/') {
                file.to_owned()
            } else {
                format!("/{file}")
            };
            pkg.md5sums.insert(file, sum.to_owned());
        }
    }
    if let Some(path) = find("list") {
        if let Some(bytes) = read(&path)? {
            pkg.files = String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.is_empty() && *l != "/.")
                .map(str::to_owned)
                .collect();
        }
    }
    if pkg.files.is_empty() {
        pkg.files = pkg.md5sums.keys().cloned().collect();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_fields() {
        assert_eq!(parse_source("util-linux", "1"), Some(("util-linux", "1")));
        assert_eq!(
            parse_source("util-linux (2.38.1-5)", "2.38.1-5+b1"),
            Some(("util-linux", "2.38.1-5"))
        );
        assert_eq!(
            parse_source("glibc (2.36-9+deb12u4)", "x"),
            Some(("glibc", "2.36-9+deb12u4"))
        );
        assert_eq!(parse_source("a b", "1"), None);
        assert_eq!(parse_source("a (1", "1"), None);
        assert_eq!(parse_source("a ()", "1"), None);
    }
}
