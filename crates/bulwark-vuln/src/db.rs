//! The database file: a versioned header that `db info` reads alone, then
//! one zstd-compressed section per release and one for vulnerability
//! details, each decoded only when a scan needs it.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! magic     8 bytes  "BWVULNDB"
//! version   u32      FORMAT_VERSION
//! hlen      u32      length of the header
//! header    JSON     {"info": DbInfo, "sections": [{name, offset, length, raw_length}]}
//! sections  bytes    offsets are relative to the end of the header
//! ```
//!
//! A release section (`release:12`) holds, sorted by source package then
//! vulnerability id, every entry of that release. The `vulnerabilities`
//! section starts with a table of offsets so that a scan decodes only the
//! vulnerabilities it reports, found by binary search on the id.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::import::{self, ImportStats, Merged, SourceInfo};
use crate::model::{release_codename, Entry, Status, Vulnerability};
use crate::{Error, Result};

/// The version of the file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"BWVULNDB";

/// What `bulwark db info` shows: where the data came from and how much
/// there is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInfo {
    /// The file format version.
    pub format_version: u32,
    /// The inputs of the import, in the order given.
    pub sources: Vec<SourceInfo>,
    /// The newest `modified` date of any record, RFC 3339.
    pub newest_modified: Option<String>,
    /// Number of distinct vulnerabilities.
    pub vulnerabilities: usize,
    /// Counts per release key (`12`, `sid`).
    pub releases: BTreeMap<String, ReleaseCounts>,
}

/// How many entries a release has, by status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseCounts {
    /// The release's codename, when known.
    pub codename: Option<String>,
    /// Source packages with at least one entry.
    pub packages: usize,
    /// All (package, vulnerability) entries.
    pub entries: usize,
    /// Entries without a fix.
    pub open: usize,
    /// Entries with a fixed version.
    pub resolved: usize,
    /// Entries whose status is undetermined.
    pub undetermined: usize,
    /// Entries saying the package is not affected.
    pub not_affected: usize,
}

impl DbInfo {
    /// Whole days between the newest `modified` date and `now`, when the
    /// date parses; `bulwark scan` warns above 7.
    pub fn age_days(&self, now: std::time::SystemTime) -> Option<u64> {
        let newest = rfc3339_to_unix(self.newest_modified.as_deref()?)?;
        let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
        Some(((now - newest).max(0) / 86_400) as u64)
    }
}

/// Seconds since the epoch of an RFC 3339 UTC date (`2025-02-12T16:46:00Z`).
fn rfc3339_to_unix(date: &str) -> Option<i64> {
    let num = |s: &str| s.parse::<i64>().ok();
    let (y, m, d) = (
        num(date.get(0..4)?)?,
        num(date.get(5..7)?)?,
        num(date.get(8..10)?)?,
    );
    let (hh, mm, ss) = match date.get(11..19) {
        Some(t) => (num(&t[0..2])?, num(&t[3..5])?, num(&t[6..8])?),
        None => (0, 0, 0),
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Entries of one release: source package → entries sorted by id.
type ReleaseData = BTreeMap<String, Vec<Entry>>;

/// A section decoded on first use.
struct Section<T> {
    /// zstd-compressed bytes and the decompressed length, when loaded from a file.
    raw: Option<(Vec<u8>, usize)>,
    value: OnceLock<std::result::Result<T, String>>,
}

impl<T> Section<T> {
    fn decoded(value: T) -> Section<T> {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(value));
        Section {
            raw: None,
            value: cell,
        }
    }

    fn get(&self, path: &Path, decode: impl FnOnce(Vec<u8>) -> Option<T>) -> Result<&T> {
        self.value
            .get_or_init(|| {
                let (compressed, raw_len) = self
                    .raw
                    .as_ref()
                    .ok_or_else(|| "section has no data".to_string())?;
                let bytes = zstd::bulk::decompress(compressed, *raw_len)
                    .map_err(|err| format!("cannot decompress a section: {err}"))?;
                decode(bytes).ok_or_else(|| "a section is truncated or malformed".to_string())
            })
            .as_ref()
            .map_err(|reason| Error::Corrupt {
                path: path.to_path_buf(),
                reason: reason.clone(),
            })
    }
}

/// Vulnerability details, either decoded (after an import) or as the
/// section's bytes, searched by id.
enum VulnStore {
    Map(BTreeMap<String, Vulnerability>),
    Encoded(Vec<u8>),
}

/// A vulnerability database: entries per release and source package, and
/// details per vulnerability.
pub struct Database {
    info: DbInfo,
    path: PathBuf,
    releases: BTreeMap<String, Section<ReleaseData>>,
    vulns: Section<VulnStore>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The default database path: `$BULWARK_DB`, else
/// `$XDG_CACHE_HOME/bulwark/vuln.db`, else `~/.cache/bulwark/vuln.db`.
pub fn default_path() -> Result<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(path) = var("BULWARK_DB") {
        return Ok(PathBuf::from(path));
    }
    if let Some(cache) = var("XDG_CACHE_HOME").map(PathBuf::from) {
        if cache.is_absolute() {
            return Ok(cache.join("bulwark").join("vuln.db"));
        }
    }
    var("HOME")
        .map(|home| PathBuf::from(home).join(".cache/bulwark/vuln.db"))
        .ok_or(Error::NoDefaultPath)
}

impl Database {
    /// Imports OSV JSON (a directory tree, a zip, a tar or tar.gz, a single
    /// record or an array of records) and Debian Security Tracker JSON files
    /// into a new database. The kind of each input is detected from its
    /// content. Malformed records are skipped and counted in the stats;
    /// unreadable inputs (a truncated zip) are errors.
    pub fn import(paths: &[&Path]) -> Result<(Database, ImportStats)> {
        let inputs: Vec<(PathBuf, String)> = paths
            .iter()
            .map(|p| (p.to_path_buf(), p.display().to_string()))
            .collect();
        Ok(Database::from_merged(import::import(&inputs)?))
    }

    /// Downloads the feed at `url` (any format [`Database::import`] reads)
    /// and imports it; the URL is recorded as the source.
    pub fn update(url: &str) -> Result<(Database, ImportStats)> {
        let download_err = |source| Error::Download {
            url: url.to_string(),
            source: Box::new(source),
        };
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let file = dir.path().join("feed");
        let mut response = ureq::get(url).call().map_err(download_err)?;
        let mut out = std::fs::File::create(&file).map_err(|source| Error::Write {
            path: file.clone(),
            source,
        })?;
        std::io::copy(&mut response.body_mut().as_reader(), &mut out).map_err(|source| {
            Error::Download {
                url: url.to_string(),
                source: Box::new(ureq::Error::Io(source)),
            }
        })?;
        drop(out);
        Ok(Database::from_merged(import::import(&[(
            file,
            url.to_string(),
        )])?))
    }

    fn from_merged(merged: Merged) -> (Database, ImportStats) {
        let Merged {
            vulns,
            entries,
            sources,
            stats,
        } = merged;
        let mut releases: BTreeMap<String, ReleaseData> = BTreeMap::new();
        for ((release, package), by_id) in entries {
            let list: Vec<Entry> = by_id.into_values().map(|(entry, _, _)| entry).collect();
            if !list.is_empty() {
                releases.entry(release).or_default().insert(package, list);
            }
        }
        let newest_modified = vulns.values().filter_map(|v| v.modified.clone()).max();
        let info = DbInfo {
            format_version: FORMAT_VERSION,
            sources,
            newest_modified,
            vulnerabilities: vulns.len(),
            releases: releases
                .iter()
                .map(|(release, data)| (release.clone(), count(release, data)))
                .collect(),
        };
        let db = Database {
            info,
            path: PathBuf::from("(imported)"),
            releases: releases
                .into_iter()
                .map(|(k, v)| (k, Section::decoded(v)))
                .collect(),
            vulns: Section::decoded(VulnStore::Map(vulns)),
        };
        (db, stats)
    }

    /// Opens the database at `path`, reading only its header; sections are
    /// decoded when first needed.
    pub fn open(path: &Path) -> Result<Database> {
        let mut data = match std::fs::read(path) {
            Ok(data) => data,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoDatabase {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let corrupt = |reason: &str| Error::Corrupt {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        if data.len() < 16 || &data[..8] != MAGIC {
            return Err(corrupt("no `BWVULNDB` magic at the start"));
        }
        let version = u32::from_le_bytes([data[8], data[9], data[10], data[11]]);
        if version != FORMAT_VERSION {
            return Err(Error::Version {
                path: path.to_path_buf(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        let hlen = u32::from_le_bytes([data[12], data[13], data[14], data[15]]) as usize;
        let header_end = 16usize
            .checked_add(hlen)
            .filter(|&end| end <= data.len())
            .ok_or_else(|| corrupt("the header is truncated"))?;
        let header: FileHeader = serde_json::from_slice(&data[16..header_end])
            .map_err(|err| corrupt(&format!("the header is not valid: {err}")))?;
        let body = data.split_off(header_end);
        let mut releases = BTreeMap::new();
        let mut vulns = None;
        for section in header.sections {
            let bytes = section
                .offset
                .checked_add(section.length)
                .and_then(|end| body.get(section.offset..end))
                .ok_or_else(|| corrupt(&format!("section `{}` is truncated", section.name)))?
                .to_vec();
            let raw = Some((bytes, section.raw_length));
            if let Some(release) = section.name.strip_prefix("release:") {
                releases.insert(
                    release.to_string(),
                    Section {
                        raw,
                        value: OnceLock::new(),
                    },
                );
            } else if section.name == "vulnerabilities" {
                vulns = Some(Section {
                    raw,
                    value: OnceLock::new(),
                });
            }
        }
        Ok(Database {
            info: header.info,
            path: path.to_path_buf(),
            releases,
            vulns: vulns.ok_or_else(|| corrupt("the `vulnerabilities` section is missing"))?,
        })
    }

    /// Writes the database to `path` atomically (a temporary file in the
    /// same directory, renamed over `path`), creating the directory.
    pub fn save(&self, path: &Path) -> Result<()> {
        let write_err = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(write_err)?;
        // Encode and compress every section in parallel.
        let mut jobs: Vec<(String, SectionJob<'_>)> = self
            .releases
            .iter()
            .map(|(k, s)| (format!("release:{k}"), SectionJob::Release(s)))
            .collect();
        jobs.push((
            "vulnerabilities".to_string(),
            SectionJob::Vulns(&self.vulns),
        ));
        let encoded: Vec<Result<(String, Vec<u8>, usize)>> = jobs
            .into_par_iter()
            .map(|(name, job)| {
                let (compressed, raw_len) = job.encode(&self.path)?;
                Ok((name, compressed, raw_len))
            })
            .collect();
        let mut sections = Vec::new();
        let mut body = Vec::new();
        for item in encoded {
            let (name, compressed, raw_length) = item?;
            sections.push(SectionRef {
                name,
                offset: body.len(),
                length: compressed.len(),
                raw_length,
            });
            body.extend_from_slice(&compressed);
        }
        let header = serde_json::to_vec(&FileHeader {
            info: self.info.clone(),
            sections,
        })
        .map_err(|err| write_err(std::io::Error::other(err)))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".vuln.db.")
            .tempfile_in(&dir)
            .map_err(write_err)?;
        let file = tmp.as_file_mut();
        file.write_all(MAGIC).map_err(write_err)?;
        file.write_all(&FORMAT_VERSION.to_le_bytes())
            .map_err(write_err)?;
        file.write_all(&(header.len() as u32).to_le_bytes())
            .map_err(write_err)?;
        file.write_all(&header).map_err(write_err)?;
        file.write_all(&body).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        tmp.persist(path).map_err(|err| write_err(err.error))?;
        Ok(())
    }

    /// Format version, sources, newest `modified` and counts per release.
    pub fn info(&self) -> &DbInfo {
        &self.info
    }

    /// The release keys the database has entries for, sorted.
    pub fn releases(&self) -> impl Iterator<Item = &str> {
        self.releases.keys().map(String::as_str)
    }

    /// The entries of `source` (a source package name) in `release` (a
    /// release key such as `12`), sorted by vulnerability id; empty when the
    /// release or the package has none.
    pub fn entries(&self, release: &str, source: &str) -> Result<&[Entry]> {
        let Some(section) = self.releases.get(release) else {
            return Ok(&[]);
        };
        let data = section.get(&self.path, |b| decode_release(&b))?;
        Ok(data.get(source).map_or(&[][..], Vec::as_slice))
    }

    /// Every (source package, entries) of `release`, sorted by package.
    pub fn release_entries(&self, release: &str) -> Result<impl Iterator<Item = (&str, &[Entry])>> {
        let data = match self.releases.get(release) {
            Some(section) => Some(section.get(&self.path, |b| decode_release(&b))?),
            None => None,
        };
        Ok(data
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_slice())))
    }

    /// The details of vulnerability `id` (canonical id), when known.
    pub fn vulnerability(&self, id: &str) -> Result<Option<Vulnerability>> {
        let store = self.vulns.get(&self.path, |bytes| {
            // Validate the offset table once, so lookups can trust it.
            let n = Decoder::new(&bytes).u32()? as usize;
            let table = n.checked_mul(4)?.checked_add(4)?;
            (table <= bytes.len()).then_some(VulnStore::Encoded(bytes))
        })?;
        match store {
            VulnStore::Map(map) => Ok(map.get(id).cloned()),
            VulnStore::Encoded(bytes) => find_vuln(bytes, id).map_err(|()| Error::Corrupt {
                path: self.path.clone(),
                reason: format!("the record of `{id}` is malformed"),
            }),
        }
    }
}

fn count(release: &str, data: &ReleaseData) -> ReleaseCounts {
    let mut counts = ReleaseCounts {
        codename: release_codename(release).map(str::to_string),
        packages: data.len(),
        ..ReleaseCounts::default()
    };
    for entry in data.values().flatten() {
        counts.entries += 1;
        match entry.status {
            Status::Open => counts.open += 1,
            Status::Resolved => counts.resolved += 1,
            Status::Undetermined => counts.undetermined += 1,
            Status::NotAffected => counts.not_affected += 1,
        }
    }
    counts
}

#[derive(Serialize, Deserialize)]
struct FileHeader {
    info: DbInfo,
    sections: Vec<SectionRef>,
}

#[derive(Serialize, Deserialize)]
struct SectionRef {
    name: String,
    offset: usize,
    length: usize,
    raw_length: usize,
}

enum SectionJob<'a> {
    Release(&'a Section<ReleaseData>),
    Vulns(&'a Section<VulnStore>),
}

const ZSTD_LEVEL: i32 = 9;

impl SectionJob<'_> {
    fn encode(&self, path: &Path) -> Result<(Vec<u8>, usize)> {
        let (raw, value_state) = match self {
            SectionJob::Release(s) => (&s.raw, s.value.get().is_some()),
            SectionJob::Vulns(s) => (&s.raw, s.value.get().is_some()),
        };
        // Sections loaded from a file and never decoded are copied as they are.
        if let (Some((compressed, raw_len)), false) = (raw, value_state) {
            return Ok((compressed.clone(), *raw_len));
        }
        let bytes = match self {
            SectionJob::Release(s) => encode_release(s.get(path, |b| decode_release(&b))?),
            SectionJob::Vulns(s) => match s.get(path, |_| None)? {
                VulnStore::Map(map) => encode_vulns(map.values()),
                VulnStore::Encoded(bytes) => bytes.clone(),
            },
        };
        let compressed =
            zstd::bulk::compress(&bytes, ZSTD_LEVEL).map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
        Ok((compressed, bytes.len()))
    }
}

struct Encoder(Vec<u8>);

impl Encoder {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.varint(0),
            Some(s) => {
                self.varint(s.len() as u64 + 1);
                self.0.extend_from_slice(s.as_bytes());
            }
        }
    }
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn new(buf: &'a [u8]) -> Decoder<'a> {
        Decoder { buf, pos: 0 }
    }
    fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
    fn bytes(&mut self, len: usize) -> Option<&'a str> {
        let end = self.pos.checked_add(len)?;
        let s = std::str::from_utf8(self.buf.get(self.pos..end)?).ok()?;
        self.pos = end;
        Some(s)
    }
    fn str(&mut self) -> Option<&'a str> {
        let len = self.varint()? as usize;
        self.bytes(len)
    }
    fn opt(&mut self) -> Option<Option<String>> {
        match self.varint()? as usize {
            0 => Some(None),
            n => Some(Some(self.bytes(n - 1)?.to_string())),
        }
    }
}

fn encode_release(data: &ReleaseData) -> Vec<u8> {
    let mut enc = Encoder(Vec::new());
    enc.varint(data.len() as u64);
    for (package, entries) in data {
        enc.str(package);
        enc.varint(entries.len() as u64);
        for e in entries {
            enc.str(&e.vulnerability);
            enc.0.push(e.status.code());
            enc.opt(e.fixed_version.as_deref());
            enc.opt(e.urgency.as_deref());
            enc.opt(e.nodsa.as_deref());
            enc.opt(e.nodsa_reason.as_deref());
            enc.0.push(u8::from(e.next_point_update));
            enc.varint(e.advisories.len() as u64);
            for adv in &e.advisories {
                enc.str(adv);
            }
        }
    }
    enc.0
}

fn decode_release(bytes: &[u8]) -> Option<ReleaseData> {
    let mut dec = Decoder::new(bytes);
    let mut data = BTreeMap::new();
    for _ in 0..dec.varint()? {
        let package = dec.str()?.to_string();
        let n = dec.varint()? as usize;
        let mut entries = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            let vulnerability = dec.str()?.to_string();
            let status = Status::from_code(dec.u8()?)?;
            let fixed_version = dec.opt()?;
            let urgency = dec.opt()?;
            let nodsa = dec.opt()?;
            let nodsa_reason = dec.opt()?;
            let next_point_update = dec.u8()? != 0;
            let n_adv = dec.varint()? as usize;
            let mut advisories = Vec::with_capacity(n_adv.min(64));
            for _ in 0..n_adv {
                advisories.push(dec.str()?.to_string());
            }
            entries.push(Entry {
                vulnerability,
                status,
                fixed_version,
                urgency,
                nodsa,
                nodsa_reason,
                next_point_update,
                advisories,
            });
        }
        data.insert(package, entries);
    }
    (dec.pos == bytes.len()).then_some(data)
}

/// `u32 n`, `u32 offsets[n]` (from the end of the table), then the records
/// sorted by id.
fn encode_vulns<'a>(vulns: impl ExactSizeIterator<Item = &'a Vulnerability>) -> Vec<u8> {
    let n = vulns.len();
    let mut offsets = Vec::with_capacity(n);
    let mut enc = Encoder(Vec::new());
    for v in vulns {
        offsets.push(enc.0.len() as u32);
        enc.str(&v.id);
        enc.varint(v.aliases.len() as u64);
        for alias in &v.aliases {
            enc.str(alias);
        }
        enc.opt(v.summary.as_deref());
        enc.opt(v.cvss_v3.as_deref());
        enc.opt(v.modified.as_deref());
    }
    let mut out = Vec::with_capacity(4 + 4 * n + enc.0.len());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    for off in offsets {
        out.extend_from_slice(&off.to_le_bytes());
    }
    out.extend_from_slice(&enc.0);
    out
}

fn find_vuln(bytes: &[u8], id: &str) -> std::result::Result<Option<Vulnerability>, ()> {
    let mut head = Decoder::new(bytes);
    let n = head.u32().ok_or(())? as usize;
    let records = 4 + 4 * n;
    let record_at = |i: usize| -> std::result::Result<Decoder<'_>, ()> {
        let at = 4 + 4 * i;
        let b = bytes.get(at..at + 4).ok_or(())?;
        let off = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        Ok(Decoder {
            buf: bytes,
            pos: records + off,
        })
    };
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let mut dec = record_at(mid)?;
        let mid_id = dec.str().ok_or(())?;
        match mid_id.cmp(id) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                let mut read = || -> Option<Vulnerability> {
                    let n_alias = dec.varint()? as usize;
                    let mut aliases = Vec::with_capacity(n_alias.min(256));
                    for _ in 0..n_alias {
                        aliases.push(dec.str()?.to_string());
                    }
                    Some(Vulnerability {
                        id: id.to_string(),
                        aliases,
                        summary: dec.opt()?,
                        cvss_v3: dec.opt()?,
                        modified: dec.opt()?,
                    })
                };
                return read().map(Some).ok_or(());
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339_to_unix("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_to_unix("2025-02-12T16:46:00.123Z"),
            Some(1_739_378_760)
        );
        assert_eq!(rfc3339_to_unix("2000-03-01"), Some(951_868_800));
        assert_eq!(rfc3339_to_unix("garbage"), None);
    }

    #[test]
    fn vuln_section_roundtrip_and_search() {
        let vulns: Vec<Vulnerability> = ["CVE-2020-1", "CVE-2021-2", "DSA-1-1"]
            .iter()
            .map(|id| Vulnerability {
                id: id.to_string(),
                aliases: vec![format!("DEBIAN-{id}")],
                summary: Some("s".into()),
                cvss_v3: None,
                modified: Some("2024".into()),
            })
            .collect();
        let bytes = encode_vulns(vulns.iter());
        for v in &vulns {
            assert_eq!(find_vuln(&bytes, &v.id), Ok(Some(v.clone())));
        }
        assert_eq!(find_vuln(&bytes, "CVE-2020-0"), Ok(None));
        assert_eq!(find_vuln(&bytes, "ZZZ"), Ok(None));
        assert_eq!(find_vuln(&bytes[..10], "CVE-2021-2"), Err(()));
    }
}
