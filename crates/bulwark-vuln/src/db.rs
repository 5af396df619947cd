//! The database file: a versioned header that `db info` reads alone, then
//! zstd-compressed blocks of entries per release and of vulnerability
//! details, each decoded only when a scan needs it: a scan of a small image
//! decompresses the few blocks that hold its packages and findings.
//!
//! Layout (integers little-endian):
//!
//! ```text
//! magic     8 bytes  "BWVULNDB"
//! version   u32      FORMAT_VERSION
//! hlen      u32      length of the header
//! sha256    32 bytes SHA-256 of everything after it (header and sections)
//! header    JSON     {"info": DbInfo, "sections": [{name, first, offset, length, raw_length}]}
//! sections  bytes    offsets are relative to the end of the header
//! ```
//!
//! [`Database::open`] reads the whole file (a few MB) and checks the digest,
//! so that a damaged file is refused instead of scanned with; the blocks are
//! still decompressed and decoded only when needed.
//!
//! The sections named `release:12` are the blocks of that release's entries,
//! sorted by source package then vulnerability id, [`RELEASE_BLOCK`] source
//! packages each; `first` is a block's first package, so a lookup finds its
//! block by binary search. The `vulnerabilities` blocks hold
//! [`VULN_BLOCK`] vulnerability records each, sorted by id (`first` is the
//! first id), and start with a table of offsets, so that a lookup decodes
//! only the record it needs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::import::{self, ImportStats, Input, Merged, SourceInfo};
use crate::model::{release_codename, AffectedRange, Entry, RangeEnd, Status, Vulnerability};
use crate::{Error, Result};

/// The version of the file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 3;

const MAGIC: &[u8; 8] = b"BWVULNDB";
/// Length of the SHA-256 digest after the magic, version and header length.
const DIGEST_LEN: usize = 32;
/// Where the header starts.
const HEAD_LEN: u64 = 16 + DIGEST_LEN as u64;

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
    /// date parses; `bulwark scan` warns above [`STALE_AFTER_DAYS`].
    pub fn age_days(&self, now: std::time::SystemTime) -> Option<u64> {
        let (newest, _) = timestamp(self.newest_modified.as_deref()?)?;
        let now = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
        Some(((now - newest).max(0) / 86_400) as u64)
    }
}

/// Days after which a scan warns that the database is stale.
pub const STALE_AFTER_DAYS: u64 = 7;

/// Seconds since the epoch and nanoseconds of an RFC 3339 date
/// (`2025-02-12T16:46:00Z`, `2025-02-12T16:46:00.463980Z`,
/// `2025-02-12T17:46:00+01:00`), read by `jiff`, so that dates with and
/// without fractional seconds or in other offsets compare as instants. A
/// date or date-time without an offset (`2025-02-12`) is read as UTC.
pub(crate) fn timestamp(date: &str) -> Option<(i64, u32)> {
    let date = date.trim();
    let instant = match date.parse::<jiff::Timestamp>() {
        Ok(t) => t,
        Err(_) => date
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| jiff::tz::Offset::UTC.to_timestamp(dt).ok())?,
    };
    let nanos = u32::try_from(instant.subsec_nanosecond()).ok()?;
    Some((instant.as_second(), nanos))
}

/// Orders `modified` dates as instants; a date that does not parse is older
/// than any that does, and equal instants fall back to the text.
pub(crate) fn cmp_modified(a: &str, b: &str) -> std::cmp::Ordering {
    timestamp(a).cmp(&timestamp(b)).then_with(|| a.cmp(b))
}

/// Entries of one release: source package → entries sorted by id.
type ReleaseData = BTreeMap<String, Vec<Entry>>;

/// Source packages per block of a release.
const RELEASE_BLOCK: usize = 32;
/// Vulnerability records per block.
const VULN_BLOCK: usize = 128;

/// A sorted run of blocks, each holding the keys from its `first` up to the
/// next block's `first`.
struct Blocks<T>(Vec<(String, Section<T>)>);

impl<T> Blocks<T> {
    /// One decoded block holding everything (after an import).
    fn single(value: T) -> Blocks<T> {
        Blocks(vec![(String::new(), Section::decoded(value))])
    }

    /// The block that would hold `key`.
    fn find(&self, key: &str) -> Option<&Section<T>> {
        let after = self.0.partition_point(|(first, _)| first.as_str() <= key);
        after.checked_sub(1).map(|i| &self.0[i].1)
    }
}

/// Where a block's zstd-compressed bytes are in the file, and its length
/// decompressed.
#[derive(Clone, Copy, Debug)]
struct Extent {
    offset: u64,
    length: usize,
    raw_length: usize,
}

/// The database file's bytes (checked against its digest) that blocks are
/// decoded from on first use.
struct Source<'a> {
    path: &'a Path,
    data: Option<&'a [u8]>,
}

impl<'a> Source<'a> {
    fn read(&self, extent: Extent) -> std::result::Result<&'a [u8], String> {
        let data = self.data.ok_or_else(|| "a block has no data".to_string())?;
        usize::try_from(extent.offset)
            .ok()
            .and_then(|start| data.get(start..start.checked_add(extent.length)?))
            .ok_or_else(|| "a block lies beyond the end of the file".to_string())
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::Corrupt {
            path: self.path.to_path_buf(),
            reason,
        }
    }
}

/// A block decoded on first use.
struct Section<T> {
    /// Where its bytes are, when loaded from a file.
    raw: Option<Extent>,
    value: OnceLock<std::result::Result<T, String>>,
}

impl<T> Section<T> {
    fn raw(raw: Extent) -> Section<T> {
        Section {
            raw: Some(raw),
            value: OnceLock::new(),
        }
    }

    fn decoded(value: T) -> Section<T> {
        let cell = OnceLock::new();
        let _ = cell.set(Ok(value));
        Section {
            raw: None,
            value: cell,
        }
    }

    fn get(&self, source: &Source<'_>, decode: impl FnOnce(Vec<u8>) -> Option<T>) -> Result<&T> {
        self.value
            .get_or_init(|| {
                let extent = self.raw.ok_or_else(|| "a block has no data".to_string())?;
                let compressed = source.read(extent)?;
                let bytes = zstd::bulk::decompress(compressed, extent.raw_length)
                    .map_err(|err| format!("cannot decompress a block: {err}"))?;
                decode(bytes).ok_or_else(|| "a block is truncated or malformed".to_string())
            })
            .as_ref()
            .map_err(|reason| source.corrupt(reason.clone()))
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
    /// The file's bytes the blocks are read from; `None` after an import.
    data: Option<Vec<u8>>,
    releases: BTreeMap<String, Blocks<ReleaseData>>,
    vulns: Blocks<VulnStore>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// The default database path: `$XDG_CACHE_HOME/bulwark/vuln.db`, else
/// `~/.cache/bulwark/vuln.db`. (The command line's `--db` and its
/// environment variable come before it; they are the caller's business.)
pub fn default_path() -> Result<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(cache) = var("XDG_CACHE_HOME").map(PathBuf::from) {
        if cache.is_absolute() {
            return Ok(cache.join("bulwark").join("vuln.db"));
        }
    }
    var("HOME")
        .map(|home| PathBuf::from(home).join(".cache/bulwark/vuln.db"))
        .ok_or(Error::NoDefaultPath)
}

/// The most bytes a database file may have (the full Debian data makes a
/// few MB).
const DB_LIMIT: u64 = 1 << 30;

/// The error for a path that is not a regular file.
pub(crate) fn not_regular() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "not a regular file (a FIFO, device or directory is never read)",
    )
}

/// What a download is called in messages about its content.
const DOWNLOAD: &str = "the download";

/// The most bytes [`Database::update`] downloads by default: 1 GiB (OSV's
/// Debian `all.zip` is well under 100 MB).
pub const DEFAULT_MAX_DOWNLOAD: u64 = 1 << 30;

/// Options of [`Database::update`].
#[derive(Clone, Debug)]
pub struct UpdateOptions {
    /// Download over plain `http://` from other hosts than the loopback
    /// ones (`127.0.0.0/8`, `[::1]`, `localhost`), which are always allowed.
    pub allow_http: bool,
    /// The SHA-256 (hex) the download must have. Neither OSV nor the Debian
    /// Security Tracker publishes a checksum or signature of its feed; a
    /// Google Cloud Storage MD5 (`X-Goog-Hash`) is checked when the server
    /// sends one.
    pub sha256: Option<String>,
    /// The most bytes to download.
    pub max_size: u64,
    /// How long the whole download may take.
    pub deadline: std::time::Duration,
}

impl Default for UpdateOptions {
    fn default() -> Self {
        UpdateOptions {
            allow_http: false,
            sha256: None,
            max_size: DEFAULT_MAX_DOWNLOAD,
            deadline: std::time::Duration::from_secs(3600),
        }
    }
}

/// Whether `url`'s host is the local machine: `localhost`, `127.0.0.0/8`
/// or `[::1]`.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// One attempt to download `url` into `file` (emptied first): bounded by
/// `options`, checked against a `X-Goog-Hash` MD5 when the server sends
/// one. Returns the SHA-256 (hex) of what was written.
fn download(
    url: &str,
    client: &bulwark_http::Client,
    options: &UpdateOptions,
    file: &mut std::fs::File,
) -> Result<String> {
    use std::io::{Read, Seek};
    let temp_err = |source| Error::Write {
        path: std::env::temp_dir(),
        source,
    };
    file.set_len(0).map_err(temp_err)?;
    file.rewind().map_err(temp_err)?;
    let response = client
        .request(bulwark_http::Method::Get, url)
        .deadline(options.deadline)
        .send()?
        .success()?;
    let goog_md5 = goog_md5(&response);
    let mut body = response.body(options.max_size)?;
    let mut sha256 = Sha256::new();
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(body.error(&e).into()),
        };
        sha256.update(&buf[..n]);
        md5.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(temp_err)?;
    }
    if let Some(expected) = goog_md5 {
        let actual = base64::engine::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            md5.finalize(),
        );
        if actual != expected {
            return Err(Error::Checksum {
                url: bulwark_http::redact_url(url),
                what: "MD5 (X-Goog-Hash)",
                expected,
                actual,
            });
        }
    }
    file.flush().map_err(temp_err)?;
    Ok(hex::encode(sha256.finalize()))
}

/// The base64 MD5 that Google Cloud Storage sends in `X-Goog-Hash` for an
/// object stored as it is served (not one it decompresses on the way).
fn goog_md5(response: &bulwark_http::Response) -> Option<String> {
    let stored = response.header("x-goog-stored-content-encoding");
    if stored.is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity")) {
        return None;
    }
    response
        .headers()
        .filter(|(name, _)| *name == "x-goog-hash")
        .flat_map(|(_, value)| value.split(','))
        .find_map(|part| part.trim().strip_prefix("md5=").map(str::to_string))
}

impl Database {
    /// Imports OSV JSON (a directory tree, a zip, a tar or tar.gz, a single
    /// record or an array of records) and Debian Security Tracker JSON files
    /// into a new database. The kind of each input is detected from its
    /// content. Malformed records are skipped and counted in the stats;
    /// unreadable inputs (a truncated zip) are errors.
    pub fn import(paths: &[&Path]) -> Result<(Database, ImportStats)> {
        let inputs: Vec<(Input<'_>, String)> = paths
            .iter()
            .map(|p| (Input::Path(p), p.display().to_string()))
            .collect();
        Ok(Database::from_merged(import::import(&inputs)?))
    }

    /// Downloads the feed at `url` (any format [`Database::import`] reads)
    /// with `client` and imports it; the URL is recorded as the source,
    /// credentials redacted. See [`UpdateOptions`] for what is refused.
    ///
    /// The download goes to an unnamed temporary file, which the system
    /// removes however the process ends; a download that breaks off is
    /// retried by the client's policy, from the start.
    pub fn update(
        url: &str,
        client: &bulwark_http::Client,
        options: &UpdateOptions,
    ) -> Result<(Database, ImportStats)> {
        let shown = bulwark_http::redact_url(url);
        let feed_err = |reason: String| Error::Feed {
            url: shown.clone(),
            reason,
        };
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(feed_err(
                "only http:// and https:// URLs are downloaded; a local file is imported"
                    .to_string(),
            ));
        }
        if lower.starts_with("http://") && !options.allow_http && !is_loopback(url) {
            return Err(Error::Insecure { url: shown });
        }
        let expected = options
            .sha256
            .as_deref()
            .map(|hex| {
                let hex = hex.trim().to_ascii_lowercase();
                (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then_some(hex)
                    .ok_or_else(|| {
                        feed_err("the expected SHA-256 is not 64 hexadecimal digits".into())
                    })
            })
            .transpose()?;
        let temp_err = |source| Error::Write {
            path: std::env::temp_dir(),
            source,
        };
        let mut file = tempfile::tempfile().map_err(temp_err)?;
        let sha256 = client.retry(
            || download(url, client, options, &mut file),
            |e| matches!(e, Error::Http(e) if e.is_transient()),
        )?;
        if let Some(expected) = expected.filter(|e| *e != sha256) {
            return Err(Error::Checksum {
                url: shown,
                what: "SHA-256",
                expected,
                actual: sha256,
            });
        }
        let merged =
            import::import(&[(Input::File(&file, DOWNLOAD), shown.clone())]).map_err(|err| {
                // The feed is named by its URL, the download as what it is.
                let text = err.to_string();
                let named = format!("`{DOWNLOAD}`");
                if text.contains(&named) {
                    feed_err(text.replace(&named, DOWNLOAD))
                } else {
                    err
                }
            })?;
        Ok(Database::from_merged(merged))
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
        let newest_modified = vulns
            .values()
            .filter_map(|v| v.modified.as_deref())
            .max_by(|a, b| cmp_modified(a, b))
            .map(str::to_string);
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
            data: None,
            releases: releases
                .into_iter()
                .map(|(k, v)| (k, Blocks::single(v)))
                .collect(),
            vulns: Blocks::single(VulnStore::Map(vulns)),
        };
        (db, stats)
    }

    /// Opens the database at `path`: reads it, checks its digest and
    /// header; sections are decoded when first needed.
    pub fn open(path: &Path) -> Result<Database> {
        use std::io::Read;
        let io_err = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        // A FIFO or device is refused before it is opened (opening a FIFO
        // blocks; reading a device may never end).
        match std::fs::metadata(path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoDatabase {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => return Err(io_err(source)),
            Ok(meta) if !meta.is_file() => return Err(io_err(not_regular())),
            Ok(_) => {}
        }
        let mut file = std::fs::File::open(path).map_err(io_err)?;
        let corrupt = |reason: &str| Error::Corrupt {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let mut start = [0u8; 16];
        if file.read_exact(&mut start).is_err() || &start[..8] != MAGIC {
            return Err(corrupt("no `BWVULNDB` magic at the start"));
        }
        let version = u32::from_le_bytes([start[8], start[9], start[10], start[11]]);
        if version != FORMAT_VERSION {
            return Err(Error::Version {
                path: path.to_path_buf(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        let size = file.metadata().map_err(io_err)?.len();
        if size > DB_LIMIT {
            return Err(corrupt(&format!(
                "it is larger than the {DB_LIMIT}-byte limit of a database"
            )));
        }
        let damaged = || corrupt("it is damaged (checksum mismatch): re-import it");
        let mut digest = [0u8; DIGEST_LEN];
        if file.read_exact(&mut digest).is_err() {
            return Err(damaged());
        }
        // Read and hash in chunks, each hashed while still in the cache.
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        data.extend_from_slice(&start);
        data.extend_from_slice(&digest);
        let mut hasher = Sha256::new();
        loop {
            let at = data.len();
            if data.len() as u64 > DB_LIMIT {
                return Err(corrupt(&format!(
                    "it is larger than the {DB_LIMIT}-byte limit of a database"
                )));
            }
            let n = (&mut file)
                .take(1 << 18)
                .read_to_end(&mut data)
                .map_err(io_err)?;
            if n == 0 {
                break;
            }
            hasher.update(&data[at..]);
        }
        if hasher.finalize().as_slice() != digest {
            return Err(damaged());
        }
        let hlen = u32::from_le_bytes([start[12], start[13], start[14], start[15]]);
        let body = HEAD_LEN + u64::from(hlen);
        let size = data.len() as u64;
        if body > size {
            return Err(corrupt("the header is truncated"));
        }
        let header: FileHeader = serde_json::from_slice(&data[HEAD_LEN as usize..body as usize])
            .map_err(|err| corrupt(&format!("the header is not valid: {err}")))?;
        let mut releases: BTreeMap<String, Blocks<ReleaseData>> = BTreeMap::new();
        let mut vulns: Blocks<VulnStore> = Blocks(Vec::new());
        for section in header.sections {
            let offset = body + section.offset as u64;
            if offset
                .checked_add(section.length as u64)
                .is_none_or(|end| end > size)
            {
                return Err(corrupt(&format!("section `{}` is truncated", section.name)));
            }
            let raw = Extent {
                offset,
                length: section.length,
                raw_length: section.raw_length,
            };
            if let Some(release) = section.name.strip_prefix("release:") {
                releases
                    .entry(release.to_string())
                    .or_insert_with(|| Blocks(Vec::new()))
                    .0
                    .push((section.first, Section::raw(raw)));
            } else if section.name == "vulnerabilities" {
                vulns.0.push((section.first, Section::raw(raw)));
            }
        }
        if vulns.0.is_empty() {
            return Err(corrupt("the `vulnerabilities` section is missing"));
        }
        let sorted = |firsts: &mut dyn Iterator<Item = &String>| {
            let firsts: Vec<&String> = firsts.collect();
            firsts.windows(2).all(|w| w[0] < w[1])
        };
        if !releases
            .values()
            .all(|b| sorted(&mut b.0.iter().map(|(f, _)| f)))
            || !sorted(&mut vulns.0.iter().map(|(f, _)| f))
        {
            return Err(corrupt("the blocks are not in order"));
        }
        Ok(Database {
            info: header.info,
            path: path.to_path_buf(),
            data: Some(data),
            releases,
            vulns,
        })
    }

    /// Writes the database to `path` like [`Database::save`], unless that
    /// would replace a database with fewer than half as many
    /// vulnerabilities as it holds (a truncated or wrong feed), which is
    /// refused with [`Error::Shrink`] and leaves it untouched;
    /// `allow_shrink` accepts a smaller feed on purpose. A file at `path`
    /// that is no database this build reads is replaced.
    pub fn replace(&self, path: &Path, allow_shrink: bool) -> Result<()> {
        if !allow_shrink {
            if let Ok(current) = Database::open(path) {
                let (had, has) = (current.info.vulnerabilities, self.info.vulnerabilities);
                if has.saturating_mul(2) < had {
                    return Err(Error::Shrink {
                        path: path.to_path_buf(),
                        had,
                        has,
                    });
                }
            }
        }
        self.save(path)
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
        // Split into blocks, then encode and compress them in parallel.
        let mut jobs: Vec<(String, Job<'_>)> = Vec::new();
        for (release, blocks) in &self.releases {
            let name = format!("release:{release}");
            for (first, section) in &blocks.0 {
                match (section.raw, section.value.get()) {
                    // Loaded from a file and never decoded: copied as it is.
                    (Some(raw), None) => jobs.push((name.clone(), self.copy(first, raw)?)),
                    _ => {
                        let data = section.get(&self.source(), |b| decode_release(&b))?;
                        let packages: Vec<(&String, &Vec<Entry>)> = data.iter().collect();
                        for chunk in packages.chunks(RELEASE_BLOCK) {
                            jobs.push((name.clone(), Job::Release(chunk.to_vec())));
                        }
                    }
                }
            }
        }
        for (first, section) in &self.vulns.0 {
            let name = "vulnerabilities".to_string();
            match (section.raw, section.value.get()) {
                (Some(raw), None) => jobs.push((name, self.copy(first, raw)?)),
                _ => match self.vulnerability_block(section)? {
                    VulnStore::Map(map) => {
                        let records: Vec<&Vulnerability> = map.values().collect();
                        for chunk in records.chunks(VULN_BLOCK) {
                            jobs.push((name.clone(), Job::Vulns(chunk.to_vec())));
                        }
                        if records.is_empty() {
                            // An empty database still has its (empty) section.
                            jobs.push((name, Job::Vulns(Vec::new())));
                        }
                    }
                    VulnStore::Encoded(bytes) => jobs.push((name, Job::Encoded(first, bytes))),
                },
            }
        }
        // Each block as its section entry (offset still to set) and bytes.
        let encoded: Vec<Result<(SectionRef, Vec<u8>)>> = jobs
            .into_par_iter()
            .map(|(name, job)| {
                let (first, compressed, raw_length) = job.encode(path)?;
                let section = SectionRef {
                    name,
                    first,
                    offset: 0,
                    length: compressed.len(),
                    raw_length,
                };
                Ok((section, compressed))
            })
            .collect();
        let mut sections = Vec::new();
        let mut body = Vec::new();
        for item in encoded {
            let (mut section, compressed) = item?;
            section.offset = body.len();
            sections.push(section);
            body.extend_from_slice(&compressed);
        }
        let header = serde_json::to_vec(&FileHeader {
            info: self.info.clone(),
            sections,
        })
        .map_err(|err| write_err(std::io::Error::other(err)))?;
        // Like any file a program creates: 0666 less the umask (tempfile's
        // own default is 0600, which would hide a shared database).
        let mut tmp = tempfile::Builder::new()
            .prefix(".vuln.db.")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(write_err)?;
        let file = tmp.as_file_mut();
        file.write_all(MAGIC).map_err(write_err)?;
        file.write_all(&FORMAT_VERSION.to_le_bytes())
            .map_err(write_err)?;
        file.write_all(&(header.len() as u32).to_le_bytes())
            .map_err(write_err)?;
        let digest = Sha256::new()
            .chain_update(&header)
            .chain_update(&body)
            .finalize();
        file.write_all(&digest).map_err(write_err)?;
        file.write_all(&header).map_err(write_err)?;
        file.write_all(&body).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        tmp.persist(path).map_err(|err| write_err(err.error))?;
        Ok(())
    }

    /// When the database file was written, for a database opened from one.
    pub fn written(&self) -> Option<std::time::SystemTime> {
        std::fs::metadata(&self.path).ok()?.modified().ok()
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
        let Some(section) = self.releases.get(release).and_then(|b| b.find(source)) else {
            return Ok(&[]);
        };
        let data = section.get(&self.source(), |b| decode_release(&b))?;
        Ok(data.get(source).map_or(&[][..], Vec::as_slice))
    }

    /// Every (source package, entries) of `release`, sorted by package.
    pub fn release_entries(&self, release: &str) -> Result<impl Iterator<Item = (&str, &[Entry])>> {
        let mut blocks = Vec::new();
        for (_, section) in self.releases.get(release).map_or(&[][..], |b| &b.0[..]) {
            blocks.push(section.get(&self.source(), |b| decode_release(&b))?);
        }
        Ok(blocks
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_slice())))
    }

    fn source(&self) -> Source<'_> {
        Source {
            path: &self.path,
            data: self.data.as_deref(),
        }
    }

    /// A block to write as it is in the file.
    fn copy<'a>(&self, first: &'a str, raw: Extent) -> Result<Job<'a>> {
        let source = self.source();
        let bytes = source.read(raw).map_err(|reason| source.corrupt(reason))?;
        Ok(Job::Copy(first, bytes.to_vec(), raw.raw_length))
    }

    fn vulnerability_block<'a>(&self, section: &'a Section<VulnStore>) -> Result<&'a VulnStore> {
        section.get(&self.source(), |bytes| {
            // Validate the offset table once, so lookups can trust it.
            let n = Decoder::new(&bytes).u32()? as usize;
            let table = n.checked_mul(4)?.checked_add(4)?;
            (table <= bytes.len()).then_some(VulnStore::Encoded(bytes))
        })
    }

    /// The details of vulnerability `id` (canonical id), when known.
    pub fn vulnerability(&self, id: &str) -> Result<Option<Vulnerability>> {
        let Some(section) = self.vulns.find(id) else {
            return Ok(None);
        };
        let store = self.vulnerability_block(section)?;
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
    /// The first key of the block (package name or vulnerability id).
    first: String,
    offset: usize,
    length: usize,
    raw_length: usize,
}

/// One block to write.
enum Job<'a> {
    /// A block loaded from a file and never decoded: its bytes as they are,
    /// and its length decompressed.
    Copy(&'a str, Vec<u8>, usize),
    /// A decoded vulnerability block, still in its encoded form.
    Encoded(&'a str, &'a [u8]),
    /// Source packages of a release.
    Release(Vec<(&'a String, &'a Vec<Entry>)>),
    /// Vulnerability records.
    Vulns(Vec<&'a Vulnerability>),
}

const ZSTD_LEVEL: i32 = 9;

impl Job<'_> {
    /// The block's first key, its compressed bytes and its raw length.
    fn encode(&self, path: &Path) -> Result<(String, Vec<u8>, usize)> {
        let (first, bytes) = match self {
            Job::Copy(first, compressed, raw_len) => {
                return Ok((first.to_string(), compressed.clone(), *raw_len))
            }
            Job::Encoded(first, bytes) => (first.to_string(), bytes.to_vec()),
            Job::Release(packages) => (
                packages
                    .first()
                    .map(|(p, _)| p.to_string())
                    .unwrap_or_default(),
                encode_release(packages),
            ),
            Job::Vulns(records) => (
                records.first().map(|v| v.id.clone()).unwrap_or_default(),
                encode_vulns(records.iter().copied()),
            ),
        };
        let compressed =
            zstd::bulk::compress(&bytes, ZSTD_LEVEL).map_err(|source| Error::Write {
                path: path.to_path_buf(),
                source,
            })?;
        Ok((first, compressed, bytes.len()))
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

fn encode_release(data: &[(&String, &Vec<Entry>)]) -> Vec<u8> {
    let mut enc = Encoder(Vec::new());
    enc.varint(data.len() as u64);
    for (package, entries) in data {
        enc.str(package);
        enc.varint(entries.len() as u64);
        for e in entries.iter() {
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
            enc.varint(e.ranges.len() as u64);
            for range in &e.ranges {
                enc.opt(range.introduced.as_deref());
                match &range.end {
                    RangeEnd::Open => enc.0.push(0),
                    RangeEnd::Fixed(v) => {
                        enc.0.push(1);
                        enc.str(v);
                    }
                    RangeEnd::LastAffected(v) => {
                        enc.0.push(2);
                        enc.str(v);
                    }
                }
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
            let n_ranges = dec.varint()? as usize;
            let mut ranges = Vec::with_capacity(n_ranges.min(64));
            for _ in 0..n_ranges {
                let introduced = dec.opt()?;
                let end = match dec.u8()? {
                    0 => RangeEnd::Open,
                    1 => RangeEnd::Fixed(dec.str()?.to_string()),
                    2 => RangeEnd::LastAffected(dec.str()?.to_string()),
                    _ => return None,
                };
                ranges.push(AffectedRange { introduced, end });
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
                ranges,
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
        assert_eq!(timestamp("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            timestamp("2025-02-12T16:46:00.123Z"),
            Some((1_739_378_760, 123_000_000))
        );
        assert_eq!(
            timestamp("2025-02-12T17:46:00.123+01:00"),
            timestamp("2025-02-12T16:46:00.123Z")
        );
        assert_eq!(timestamp("2000-03-01"), Some((951_868_800, 0)));
        assert_eq!(timestamp("garbage"), None);
        assert_eq!(timestamp("2025-02-12T16:46:00.Z"), None);
    }

    #[test]
    fn loopback_hosts() {
        for url in [
            "http://localhost/x",
            "http://LOCALHOST:8080/x",
            "http://127.0.0.1/x",
            "http://127.3.4.5:1/x",
            "http://u:p@127.0.0.1/x",
            "http://[::1]:8080/x",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "http://example.org/x",
            "http://128.0.0.1/x",
            "http://localhost.example.org/x",
            "http://127.0.0.1.example.org/x",
            "http://localhost@example.org/x",
            "http://[::2]/x",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn modified_dates_compare_as_instants() {
        use std::cmp::Ordering::*;
        // As text, `00Z` sorts after `00.5Z`; as instants it is earlier.
        assert_eq!(
            cmp_modified("2024-06-01T00:00:00Z", "2024-06-01T00:00:00.5Z"),
            Less
        );
        assert_eq!(
            cmp_modified("2024-06-01T02:00:00+03:00", "2024-05-31T23:30:00Z"),
            Less
        );
        assert_eq!(cmp_modified("not a date", "2000-01-01T00:00:00Z"), Less);
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
