//! This crate provides bulwark's package downloader: parallel, hash-checked
//! downloads of `.deb` files straight into the shared content-addressed
//! cache.
//!
//! # Brief overview
//!
//! [`fetch_all`] takes a list of [`Download`]s (name, URL, SHA-256, size)
//! and returns the cached path of each, in input order. Files already in
//! the [`Cache`] are verified there and never touch the network. The others
//! are downloaded by a pool of worker threads, streamed into the cache
//! (which checks size and SHA-256 before publishing them atomically, so no
//! partial file is ever left), and retried by the shared
//! [`bulwark_http::Client`]'s policy after a transient network failure.
//! `http://`, `https://` and `file://` URLs are supported.
//! Progress goes to a [`Reporter`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use bulwark_cache::Cache;
use bulwark_http::Client;

/// The default number of parallel downloads.
pub const DEFAULT_JOBS: usize = 8;

/// One file to download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// What it is, for messages (e.g. `libc6 2.36-9+deb12u10 amd64`).
    pub name: String,
    /// Where it is.
    pub url: String,
    /// Its expected SHA-256 (hex).
    pub sha256: String,
    /// Its expected size in bytes.
    pub size: u64,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The downloaded content does not have the expected SHA-256.
    #[error("`{name}` from `{url}`: SHA-256 mismatch: expected `{expected}`, got `{actual}`")]
    DigestMismatch {
        /// The package.
        name: String,
        /// The URL.
        url: String,
        /// The expected digest.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },
    /// The downloaded content does not have the expected size.
    #[error("`{name}` from `{url}`: expected {expected} bytes, got {actual}{}", if *truncated { " or more" } else { "" })]
    SizeMismatch {
        /// The package.
        name: String,
        /// The URL.
        url: String,
        /// The expected size.
        expected: u64,
        /// The size received (a lower bound when `truncated`).
        actual: u64,
        /// The transfer was stopped because it was already too large.
        truncated: bool,
    },
    /// The file could not be fetched.
    #[error("cannot download `{name}`: {source}")]
    Transport {
        /// The package.
        name: String,
        /// The transport error, naming the URL.
        source: bulwark_http::Error,
    },
    /// The transfer broke off.
    #[error("cannot download `{name}` from `{url}`: {source}")]
    Interrupted {
        /// The package.
        name: String,
        /// The URL.
        url: String,
        /// The read error.
        source: std::io::Error,
    },
    /// The cache failed.
    #[error("cannot cache `{name}`: {source}")]
    Cache {
        /// The package.
        name: String,
        /// The cache error.
        source: bulwark_cache::Error,
    },
}

/// Progress of [`fetch_all`]. Every method has a no-op default. Nothing is
/// reported for cache hits.
pub trait Reporter: Send + Sync {
    /// `count` files totalling `bytes` bytes will be downloaded.
    fn on_start(&self, _count: usize, _bytes: u64) {}
    /// `bytes` more bytes arrived.
    fn on_progress(&self, _bytes: u64) {}
    /// The file `name` is downloaded and verified.
    fn on_done(&self, _name: &str) {}
    /// Every download finished (also called when there was nothing to do).
    fn on_finish(&self) {}
}

/// A [`Reporter`] that reports nothing.
pub struct NoReporter;

impl Reporter for NoReporter {}

/// Returns the cached path of every item, in input order, downloading the
/// ones that are not cached with `jobs` parallel workers (at least one).
///
/// On the first failure the remaining downloads are abandoned and the error
/// of the earliest failing item is returned.
pub fn fetch_all(
    items: &[Download],
    cache: &Cache,
    jobs: usize,
    reporter: &dyn Reporter,
) -> Result<Vec<PathBuf>, Error> {
    let jobs = jobs.max(1);
    // Cache check, in parallel: hashing every hit is most of a warm run.
    let hits = parallel(items.len(), jobs, |i| {
        let item = &items[i];
        cache.get(&item.sha256).map_err(|source| Error::Cache {
            name: item.name.clone(),
            source,
        })
    })?;
    // Each distinct digest is downloaded once.
    let mut misses: Vec<usize> = Vec::new();
    for (i, hit) in hits.iter().enumerate() {
        if hit.is_none() && !misses.iter().any(|&m| items[m].sha256 == items[i].sha256) {
            misses.push(i);
        }
    }
    reporter.on_start(misses.len(), misses.iter().map(|&i| items[i].size).sum());
    let client = Client::shared();
    let downloaded = parallel(misses.len(), jobs, |k| {
        let item = &items[misses[k]];
        let path = client.retry(|| try_download(item, cache, client, reporter), is_transient)?;
        reporter.on_done(&item.name);
        Ok(Some(path))
    });
    reporter.on_finish();
    let downloaded = downloaded?;
    let mut paths = Vec::with_capacity(items.len());
    for (i, hit) in hits.into_iter().enumerate() {
        let path = match hit {
            Some(path) => path,
            None => misses
                .iter()
                .position(|&m| items[m].sha256 == items[i].sha256)
                .and_then(|k| downloaded[k].clone())
                .unwrap_or_default(),
        };
        paths.push(path);
    }
    Ok(paths)
}

/// Runs `f(0..n)` on `jobs` threads; results in index order. After a
/// failure, unstarted work is skipped and the earliest error is returned.
fn parallel<T: Send>(
    n: usize,
    jobs: usize,
    f: impl Fn(usize) -> Result<Option<T>, Error> + Sync,
) -> Result<Vec<Option<T>>, Error> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results = Mutex::new(Vec::<(usize, Result<Option<T>, Error>)>::with_capacity(n));
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(n) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let result = f(i);
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                if let Ok(mut r) = results.lock() {
                    r.push((i, result));
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    results.sort_by_key(|(i, _)| *i);
    let mut out = Vec::with_capacity(n);
    for (_, result) in results {
        out.push(result?);
    }
    Ok(out)
}

fn is_transient(e: &Error) -> bool {
    match e {
        Error::Transport { source, .. } => source.is_transient(),
        Error::Interrupted { .. } => true,
        _ => false,
    }
}

/// One attempt to download `item` into the cache.
fn try_download(
    item: &Download,
    cache: &Cache,
    client: &Client,
    reporter: &dyn Reporter,
) -> Result<PathBuf, Error> {
    let transport = |source| Error::Transport {
        name: item.name.clone(),
        source,
    };
    let response = client
        .request(bulwark_http::Method::Get, &item.url)
        .send()
        .and_then(bulwark_http::Response::success)
        .map_err(transport)?;
    // The signed size is the bound; a different announced size is the
    // same mismatch as a different body.
    if let Some(announced) = response.content_length().filter(|&l| l != item.size) {
        return Err(Error::SizeMismatch {
            name: item.name.clone(),
            url: bulwark_http::redact_url(&item.url),
            expected: item.size,
            actual: announced,
            // Stopped before the transfer, for being too large.
            truncated: announced > item.size,
        });
    }
    let reader = Progress {
        inner: response.body(item.size).map_err(transport)?,
        reporter,
    };
    match cache.put(Some(&item.sha256), Some(item.size), reader) {
        Ok((_, path)) => Ok(path),
        Err(bulwark_cache::Error::DigestMismatch { expected, actual }) => {
            Err(Error::DigestMismatch {
                name: item.name.clone(),
                url: bulwark_http::redact_url(&item.url),
                expected,
                actual,
            })
        }
        Err(bulwark_cache::Error::SizeMismatch {
            expected,
            actual,
            truncated,
        }) => Err(Error::SizeMismatch {
            name: item.name.clone(),
            url: bulwark_http::redact_url(&item.url),
            expected,
            actual,
            truncated,
        }),
        Err(bulwark_cache::Error::Read(source)) => Err(Error::Interrupted {
            name: item.name.clone(),
            url: bulwark_http::redact_url(&item.url),
            source,
        }),
        Err(source) => Err(Error::Cache {
            name: item.name.clone(),
            source,
        }),
    }
}

struct Progress<'a> {
    inner: bulwark_http::Body,
    reporter: &'a dyn Reporter,
}

impl std::io::Read for Progress<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.reporter.on_progress(n as u64);
        }
        Ok(n)
    }
}
