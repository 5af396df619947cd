//! Reading the members of a feed archive (zip, tar, or gzip-compressed
//! tar with any number of gzip members) with bounded memory and work,
//! whatever the archive claims.
//!
//! - A member's declared size is never allocated: members are read through
//!   a bound of [`MEMBER_LIMIT`] bytes (and one declared larger is refused
//!   before it is read).
//! - The members of one archive unpack to at most [`ARCHIVE_LIMIT`] bytes
//!   together, read or skipped, so that an inflation bomb ends early.
//! - A tar's long names and pax headers are read through a bound of their
//!   own ([`NAME_LIMIT`]).
//! - A zip's central directory may list at most [`MAX_MEMBERS`] members.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::import::{adopt, parse_osv, FileAt, Parsed, BATCH};
use crate::{Error, Result};

/// The most bytes one member of a feed archive, or one file of a feed
/// directory, may unpack to (the largest OSV record of Debian's is about
/// 1 MB).
pub const MEMBER_LIMIT: u64 = 16 << 20;

/// The most bytes the members of one feed archive may unpack to together
/// (OSV's Debian snapshot unpacks to 278 MB).
pub const ARCHIVE_LIMIT: u64 = 4 << 30;

/// The most bytes of a tar's long name or pax header.
pub const NAME_LIMIT: u64 = 64 << 10;

/// The most members a zip may list.
pub const MAX_MEMBERS: usize = 4_000_000;

/// Members read before they are parsed together, in bytes.
const TAR_BATCH_BYTES: usize = 64 << 20;

fn too_large(path: &Path, what: String, limit: u64) -> Error {
    Error::TooLarge {
        path: path.to_path_buf(),
        what,
        limit,
    }
}

/// Adds `n` to the bytes unpacked from an archive, failing past
/// [`ARCHIVE_LIMIT`].
fn count(path: &Path, total: &AtomicU64, n: u64) -> Result<()> {
    if total.fetch_add(n, Ordering::Relaxed).saturating_add(n) > ARCHIVE_LIMIT {
        return Err(too_large(
            path,
            "what its members unpack to together".into(),
            ARCHIVE_LIMIT,
        ));
    }
    Ok(())
}

/// Reads every `.json` member of a zip in parallel (each thread with its own
/// view of the archive), in batches. Call it from outside the pool.
pub(crate) fn read_zip(path: &Path, file: &std::fs::File) -> Result<Vec<Parsed>> {
    let zip_err = |source| Error::Zip {
        path: path.to_path_buf(),
        source,
    };
    let archive = zip::ZipArchive::new(FileAt::new(file.try_clone().map_err(|source| {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    })?))
    .map_err(zip_err)?;
    if archive.len() > MAX_MEMBERS {
        return Err(Error::Zip {
            path: path.to_path_buf(),
            source: zip::result::ZipError::UnsupportedArchive(
                "it lists more members than bulwark reads",
            ),
        });
    }
    let total = AtomicU64::new(0);
    let indexes: Vec<usize> = (0..archive.len()).collect();
    let mut parsed = Vec::with_capacity(indexes.len());
    for batch in indexes.chunks(BATCH) {
        let results: Vec<Result<Option<Parsed>>> = batch
            .par_iter()
            .map_init(
                // Each thread reuses one buffer for the members it reads.
                || (archive.clone(), Vec::new()),
                |(archive, data), &index| {
                    let file = archive.by_index(index).map_err(zip_err)?;
                    let member = file.name().map_err(zip_err)?.into_owned();
                    if !file.is_file() || !member.ends_with(".json") {
                        return Ok(None);
                    }
                    let member_err = |what: &str| {
                        too_large(path, format!("member `{member}`{what}"), MEMBER_LIMIT)
                    };
                    if file.size() > MEMBER_LIMIT {
                        return Err(member_err(" (as declared)"));
                    }
                    data.clear();
                    file.take(MEMBER_LIMIT + 1)
                        .read_to_end(data)
                        .map_err(|source| Error::ZipMember {
                            path: path.to_path_buf(),
                            member: member.clone(),
                            source,
                        })?;
                    count(path, &total, data.len() as u64)?;
                    if data.len() as u64 > MEMBER_LIMIT {
                        return Err(member_err(""));
                    }
                    Ok(Some(parse_osv(
                        &format!("{}:{member}", path.display()),
                        data,
                    )))
                },
            )
            .collect();
        let mut batch_parsed = Vec::with_capacity(results.len());
        for result in results {
            if let Some(p) = result? {
                batch_parsed.push(p);
            }
        }
        parsed.append(&mut adopt(batch_parsed));
    }
    Ok(parsed)
}

/// A reader that fails once more than [`ARCHIVE_LIMIT`] bytes came through.
struct Bounded<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read > ARCHIVE_LIMIT {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("it unpacks to more than the {ARCHIVE_LIMIT}-byte limit"),
            ));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads at most `limit` bytes of a tar member; `None` if it has more.
fn read_bounded(member: &mut impl Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    member.take(limit + 1).read_to_end(&mut data)?;
    Ok((data.len() as u64 <= limit).then_some(data))
}

/// The `path` record of a pax extended header.
fn pax_path(data: &[u8]) -> Option<String> {
    tar::PaxExtensions::new(data)
        .filter_map(std::result::Result::ok)
        .find(|e| e.key_bytes() == b"path")
        .map(|e| String::from_utf8_lossy(e.value_bytes()).into_owned())
}

/// Reads every `.json` member of a tar (gzip-compressed when `gzip`, with
/// any number of gzip members, and any number of tar archives one after
/// the other), passing them to `absorb` parsed, in batches.
pub(crate) fn read_tar(
    path: &Path,
    file: &std::fs::File,
    gzip: bool,
    absorb: &mut dyn FnMut(Vec<Parsed>),
) -> Result<()> {
    let tar_err = |source| Error::Archive {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::io::BufReader::new(FileAt::new(file.try_clone().map_err(tar_err)?));
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut archive = tar::Archive::new(Bounded {
        inner: reader,
        read: 0,
    });
    // Archives one after the other (`cat a.tar b.tar`) are read through.
    archive.set_ignore_zeros(true);
    let mut batch: Vec<(String, Vec<u8>)> = Vec::new();
    let mut batch_size = 0;
    // The name of the next member, from a GNU long name or a pax header:
    // entries are read raw, so that those are read through a bound.
    let mut long_name: Option<String> = None;
    for entry in archive.entries().map_err(tar_err)?.raw(true) {
        let mut entry = entry.map_err(tar_err)?;
        let kind = entry.header().entry_type();
        let declared = entry.header().size().map_err(tar_err)?;
        if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
            let data = read_bounded(&mut entry, NAME_LIMIT)
                .map_err(tar_err)?
                .ok_or_else(|| too_large(path, "a long member name".into(), NAME_LIMIT))?;
            let name = if kind.is_gnu_longname() {
                let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                Some(String::from_utf8_lossy(&data[..end]).into_owned())
            } else {
                pax_path(&data)
            };
            long_name = name.or(long_name);
            continue;
        }
        let name = long_name
            .take()
            .unwrap_or_else(|| String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        if !kind.is_file() || !name.ends_with(".json") {
            // Skipped members are read through too, within the archive's bound.
            continue;
        }
        let member_err =
            |what: &str| too_large(path, format!("member `{name}`{what}"), MEMBER_LIMIT);
        if declared > MEMBER_LIMIT {
            return Err(member_err(" (as declared)"));
        }
        let data = read_bounded(&mut entry, MEMBER_LIMIT)
            .map_err(tar_err)?
            .ok_or_else(|| member_err(""))?;
        batch_size += data.len();
        batch.push((format!("{}:{name}", path.display()), data));
        // Parse in batches to bound memory on large archives.
        if batch_size > TAR_BATCH_BYTES {
            absorb(parse_members(std::mem::take(&mut batch)));
            batch_size = 0;
        }
    }
    absorb(parse_members(batch));
    Ok(())
}

/// Parses many (name, bytes) members in parallel, keeping input order.
fn parse_members(members: Vec<(String, Vec<u8>)>) -> Vec<Parsed> {
    adopt(
        members
            .into_par_iter()
            .map(|(name, bytes)| parse_osv(&name, &bytes))
            .collect(),
    )
}
