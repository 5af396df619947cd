//! This crate provides bulwark's APT repository client: it reads the host's
//! APT sources, resolves a spec's repositories, fetches and verifies signed
//! `InRelease` files and loads the `Packages` indices they vouch for.
//!
//! # Brief overview
//!
//! - [`sources`]: [`host_sources`] parses deb822 `.sources` and one-line
//!   `.list` files; [`resolve_spec`] turns a spec's `repositories` into
//!   [`Source`]s, each remembering its entry as written (for lockfiles).
//! - [`load`] fetches every source's `InRelease` (always, unless offline),
//!   verifies its OpenPGP signature against the source's keyring (see
//!   [`verify::Keyring`]) and its `Valid-Until`, then loads each component's
//!   `Packages` index: the best compressed variant, fetched by hash when the
//!   repository allows it, checked against the Release's SHA-256 and size,
//!   and kept in the [`Cache`] both compressed and decompressed. With an
//!   unchanged `InRelease`, a warm load reads only the cache.
//! - [`PackageIndex`] holds the [`Release`]s and every [`AvailablePackage`],
//!   a cheap handle on one stanza of a shared index text.
//!
//! Downloads go through the shared [`bulwark_http::Client`].

pub mod index;
pub mod release;
pub mod sources;
pub mod verify;

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bulwark_cache::Cache;
use bulwark_http::Client;

pub use index::{AvailablePackage, PackageIndex};
pub use release::{Release, ReleaseFile};
pub use sources::{apt_root, host_sources, resolve, resolve_spec, SignedBy, Source};
pub use verify::{Keyring, TrustError};

/// The most bytes an `InRelease` file may have.
const INRELEASE_LIMIT: u64 = 64 * 1024 * 1024;

/// Cache record namespace mapping a source to its last verified `InRelease`.
const INRELEASE_RECORDS: &str = "inrelease";

/// Cache record namespace naming the indices a source's last load used.
const INDEX_HINTS: &str = "index-hints";

/// Cache record namespace mapping a compressed index to its decompressed
/// digest.
const UNPACKED_RECORDS: &str = "unpacked";

/// An error of the repository client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An APT configuration file or directory could not be read.
    #[error("cannot read APT configuration `{}`: {source}", path.display())]
    ReadConfig {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An APT configuration file is malformed.
    #[error("invalid APT configuration `{}`: {reason}", path.display())]
    ParseConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The spec wants the host's sources but there are none.
    #[error("no `deb` sources in the APT configuration under `{}`", root.display())]
    NoHostSources {
        /// The APT root.
        root: PathBuf,
    },
    /// A `host: SUITE` entry names a suite no host source carries.
    #[error("no host APT source carries suite `{suite}` (APT configuration under `{}`)", root.display())]
    HostSuiteNotFound {
        /// The suite.
        suite: String,
        /// The APT root.
        root: PathBuf,
    },
    /// A keyring could not be read or holds no usable key.
    #[error("cannot use keyring `{keyring}` of repository `{repository}`: {reason}")]
    Keyring {
        /// The repository (`URI SUITE`).
        repository: String,
        /// The keyring file, or `inline key`.
        keyring: String,
        /// Why.
        reason: String,
    },
    /// A download failed.
    #[error(transparent)]
    Transport(#[from] bulwark_http::Error),
    /// The repository's `InRelease` failed verification.
    #[error("the InRelease of repository `{repository}` is not trusted: {source}")]
    Untrusted {
        /// The repository (`URI SUITE`).
        repository: String,
        /// Why.
        source: TrustError,
    },
    /// The verified Release file is malformed or lacks something needed.
    #[error("invalid Release file of repository `{repository}`: {reason}")]
    Release {
        /// The repository (`URI SUITE`).
        repository: String,
        /// What is wrong.
        reason: String,
    },
    /// An index is malformed or does not match the Release file.
    #[error("invalid index `{url}`: {reason}")]
    Index {
        /// The index's URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// An index's content does not match the digest or size the signed
    /// Release file gives for it.
    #[error("index `{url}` does not match the signed Release file: {source}")]
    IndexMismatch {
        /// The index's URL.
        url: String,
        /// The digest or size mismatch.
        source: bulwark_cache::Error,
    },
    /// Offline, and something needed is not cached.
    #[error("offline, and `{what}` is not in the cache")]
    NotCached {
        /// What is missing.
        what: String,
    },
    /// The cache failed.
    #[error(transparent)]
    Cache(#[from] bulwark_cache::Error),
}

/// Progress of [`load`]. Every method has a no-op default.
pub trait Reporter: Send + Sync {
    /// An index download of `size` bytes starts.
    fn on_index_start(&self, _url: &str, _size: u64) {}
    /// `bytes` more bytes of some index arrived.
    fn on_index_progress(&self, _bytes: u64) {}
    /// An index download finished.
    fn on_index_done(&self, _url: &str) {}
}

/// A [`Reporter`] that reports nothing.
pub struct NoReporter;

impl Reporter for NoReporter {}

/// Options of [`load_with`].
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Use only cached data: the last verified `InRelease` of each source and
    /// the indices it names. The signature and `Valid-Until` are still
    /// checked.
    pub offline: bool,
    /// Check key expiry and `Valid-Until` at this time (seconds since the
    /// Unix epoch) instead of now.
    pub now: Option<i64>,
}

/// Loads the packages of `sources` for `architecture`, online.
/// See [`load_with`].
pub fn load(
    sources: &[Source],
    architecture: &str,
    cache: &Cache,
    reporter: &dyn Reporter,
) -> Result<PackageIndex, Error> {
    load_with(
        sources,
        architecture,
        cache,
        reporter,
        &LoadOptions::default(),
    )
}

/// Loads the packages of `sources` for `architecture`.
///
/// Sources restricted to other architectures are skipped. Each source's
/// `InRelease` is fetched and verified; then the `binary-ARCH` `Packages`
/// index of each component (which also lists the `Architecture: all`
/// packages; `binary-all` is used only for repositories that have nothing
/// else) is loaded, in parallel, from the cache or the repository. The result is
/// in source order and deterministic.
pub fn load_with(
    sources: &[Source],
    architecture: &str,
    cache: &Cache,
    reporter: &dyn Reporter,
    options: &LoadOptions,
) -> Result<PackageIndex, Error> {
    let now = options.now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    });
    let sources: Vec<&Source> = sources
        .iter()
        .filter(|s| s.architectures.is_empty() || s.architectures.iter().any(|a| a == architecture))
        .collect();
    // Keyrings are parsed once per distinct `Signed-By`.
    let mut keyrings: HashMap<&SignedBy, Arc<Keyring>> = HashMap::new();
    for source in &sources {
        if !keyrings.contains_key(&source.signed_by) {
            keyrings.insert(&source.signed_by, Arc::new(load_keyring(source)?));
        }
    }
    let ctx = Context {
        cache,
        client: Client::shared(),
        reporter,
        options,
        now,
        architecture,
    };
    let results: Vec<Result<SourceIndices, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sources
            .iter()
            .map(|source| {
                let keyring = keyrings.get(&source.signed_by).cloned().unwrap_or_default();
                let ctx = &ctx;
                scope.spawn(move || ctx.load_source(source, &keyring))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut index = PackageIndex::default();
    for result in results {
        let loaded = result?;
        for (component, text, spans) in &loaded.indices {
            index.extend(text, spans, &loaded.release, component);
        }
        index.releases.push(loaded.release);
    }
    Ok(index)
}

/// Reads the keyring a source names.
pub fn load_keyring(source: &Source) -> Result<Keyring, Error> {
    let fail = |keyring: String, reason: String| Error::Keyring {
        repository: source.display_name(),
        keyring,
        reason,
    };
    match &source.signed_by {
        SignedBy::Inline(text) => {
            Keyring::parse(text.as_bytes()).map_err(|r| fail("inline key".into(), r))
        }
        SignedBy::Keyrings(paths)
        | SignedBy::Fingerprints {
            keyrings: paths, ..
        } => {
            if paths.is_empty() {
                return Err(fail("(none)".into(), "no keyring file configured".into()));
            }
            let mut keyring = Keyring::default();
            for path in paths {
                keyring
                    .extend(Keyring::read(path).map_err(|r| fail(path.display().to_string(), r))?);
            }
            if let SignedBy::Fingerprints { fingerprints, .. } = &source.signed_by {
                keyring.retain_fingerprints(fingerprints);
                if keyring.is_empty() {
                    return Err(fail(
                        fingerprints.join(" "),
                        "no key with these fingerprints in the default keyrings".into(),
                    ));
                }
            }
            Ok(keyring)
        }
    }
}

/// An index read ahead: its path, digest, text and stanzas.
type Prefetched = (String, String, Arc<[u8]>, Vec<index::Spans>);

/// One loaded index: its component, its text and its stanzas.
type LoadedIndex = (Arc<str>, Arc<[u8]>, Vec<index::Spans>);

struct SourceIndices {
    release: Arc<Release>,
    indices: Vec<LoadedIndex>,
}

struct Context<'a> {
    cache: &'a Cache,
    client: &'a Client,
    reporter: &'a dyn Reporter,
    options: &'a LoadOptions,
    now: i64,
    architecture: &'a str,
}

impl Context<'_> {
    fn load_source(&self, source: &Source, keyring: &Keyring) -> Result<SourceIndices, Error> {
        // While the InRelease is fetched and verified, read the indices the
        // previous run used: if the new Release names the same digests (the
        // usual case) they are ready when it is verified.
        let (release, mut prefetched) = std::thread::scope(|scope| {
            let prefetch = scope.spawn(|| self.prefetch(source));
            let release = self.fetch_release(source, keyring);
            let prefetched = prefetch.join().unwrap_or_default();
            (release, prefetched)
        });
        let release = Arc::new(release?);
        let repository = source.display_name();
        let mut wanted: Vec<(String, String)> = Vec::new();
        for component in &source.components {
            if !release.components.is_empty()
                && !release
                    .components
                    .iter()
                    .any(|c| c == component || c.rsplit('/').next() == Some(component.as_str()))
            {
                return Err(Error::Release {
                    repository,
                    reason: format!(
                        "component `{component}` is not in the Release's Components ({})",
                        release.components.join(" ")
                    ),
                });
            }
            // `Architecture: all` packages are listed in every binary-ARCH
            // index (the archive's separate binary-all index duplicates
            // them), so binary-all is read only when it is all there is.
            let path = [self.architecture, "all"]
                .iter()
                .map(|arch| format!("{component}/binary-{arch}/Packages"))
                .find(|path| has_index(&release, path));
            let Some(path) = path else {
                return Err(Error::Release {
                    repository,
                    reason: format!(
                        "no index `{component}/binary-{}/Packages` is listed",
                        self.architecture
                    ),
                });
            };
            wanted.push((component.clone(), path));
        }
        let results: Vec<Result<LoadedIndex, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = wanted
                .iter()
                .map(|(component, path)| {
                    let release = &release;
                    let listed = release.files.get(path).map(|f| f.sha256.as_str());
                    let ready = prefetched
                        .iter()
                        .position(|(p, sha, _, _)| p == path && Some(sha.as_str()) == listed)
                        .map(|i| prefetched.swap_remove(i));
                    scope.spawn(move || {
                        let (text, spans) = match ready {
                            Some((_, _, text, spans)) => (text, spans),
                            None => self.load_index(release, path)?,
                        };
                        Ok((Arc::from(component.as_str()), text, spans))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        let indices = results.into_iter().collect::<Result<Vec<_>, _>>()?;
        if !self.options.offline {
            let hint: String = wanted
                .iter()
                .filter_map(|(_, path)| {
                    let file = release.files.get(path)?;
                    Some(format!("{} {path}\n", file.sha256))
                })
                .collect();
            self.cache
                .put_record(INDEX_HINTS, &source_key(source), hint.as_bytes())?;
        }
        Ok(SourceIndices { release, indices })
    }

    /// Reads and splits the indices the previous load of `source` used.
    /// Best effort: anything missing or malformed is simply not prefetched.
    /// Nothing here is trusted until the verified Release names the same
    /// digest (and the cache verified the content against it).
    fn prefetch(&self, source: &Source) -> Vec<Prefetched> {
        let Ok(Some(hint)) = self.cache.get_record(INDEX_HINTS, &source_key(source)) else {
            return Vec::new();
        };
        let hint = String::from_utf8_lossy(&hint);
        hint.lines()
            .filter_map(|line| {
                let (sha, path) = line.split_once(' ')?;
                if !bulwark_cache::is_sha256_hex(sha) {
                    return None;
                }
                let data = self.cache.read_shared(sha).ok()??;
                let (data, spans) = finish_index(data, path).ok()?;
                Some((path.to_string(), sha.to_string(), data, spans))
            })
            .collect()
    }

    /// Whether the source's `dists/SUITE/Release` can be downloaded.
    fn publishes_release(&self, source: &Source) -> bool {
        let url = format!("{}/dists/{}/Release", source.uri, source.suite);
        self.client.get_bytes(&url, INRELEASE_LIMIT).is_ok()
    }

    /// Fetches (or, offline, recalls) and verifies a source's `InRelease`.
    fn fetch_release(&self, source: &Source, keyring: &Keyring) -> Result<Release, Error> {
        let repository = source.display_name();
        let record_key = source_key(source);
        let url = format!("{}/dists/{}/InRelease", source.uri, source.suite);
        let (bytes, sha) = if self.options.offline {
            let not_cached = || Error::NotCached {
                what: bulwark_http::redact_url(&url),
            };
            let sha = self
                .cache
                .get_record(INRELEASE_RECORDS, &record_key)?
                .and_then(|v| String::from_utf8(v).ok())
                .ok_or_else(not_cached)?;
            let bytes = self.cache.read(sha.trim())?.ok_or_else(not_cached)?;
            (bytes, sha.trim().to_string())
        } else {
            let bytes = match self.client.get_bytes(&url, INRELEASE_LIMIT) {
                Ok(bytes) => bytes,
                // A repository with only `Release` (and perhaps a detached
                // `Release.gpg`) is, for bulwark, an unsigned one.
                Err(err) if err.is_not_found() && self.publishes_release(source) => {
                    return Err(Error::Untrusted {
                        repository,
                        source: TrustError::Unsigned(
                            "the repository has `Release` but no `InRelease`; bulwark verifies \
                             only clear-signed `InRelease` files"
                                .to_string(),
                        ),
                    });
                }
                Err(err) => return Err(err.into()),
            };
            let sha = bulwark_cache::sha256_hex(&bytes);
            (bytes, sha)
        };
        let text = keyring
            .verify_cleartext(&bytes, self.now)
            .map_err(|source| Error::Untrusted {
                repository: repository.clone(),
                source,
            })?;
        let release =
            Release::parse(&text, Arc::new(source.clone()), sha.clone()).map_err(|reason| {
                Error::Release {
                    repository: repository.clone(),
                    reason,
                }
            })?;
        if let Some(valid_until) = &release.valid_until {
            let Some(t) = release.valid_until_unix() else {
                return Err(Error::Release {
                    repository,
                    reason: format!("malformed Valid-Until `{valid_until}`"),
                });
            };
            if t <= self.now {
                return Err(Error::Untrusted {
                    repository,
                    source: TrustError::Expired(valid_until.clone()),
                });
            }
        }
        if !self.options.offline {
            self.cache.put_bytes(Some(&sha), &bytes)?;
            self.cache
                .put_record(INRELEASE_RECORDS, &record_key, sha.as_bytes())?;
        }
        Ok(release)
    }

    /// Loads one `Packages` index, from the cache when possible.
    fn load_index(
        &self,
        release: &Release,
        path: &str,
    ) -> Result<(Arc<[u8]>, Vec<index::Spans>), Error> {
        let dist = format!("{}/dists/{}", release.source.uri, release.source.suite);
        let plain = release.files.get(path);
        // What messages name: the URL with any credentials redacted.
        let shown = bulwark_http::redact_url(&dist);
        let display_url = format!("{shown}/{path}");
        // Warm path: the decompressed index by its listed digest.
        if let Some(plain) = plain {
            if let Some(data) = self.cache.read_shared(&plain.sha256)? {
                return finish_index(data, &display_url);
            }
        }
        // gzip first: on a nearby mirror, the larger download costs less
        // than xz decompression (measured for bookworm main: 12.1 MB .gz
        // decompresses in under half the time of the 8.8 MB .xz).
        let variant = [".gz", ".xz", ""].into_iter().find_map(|ext| {
            let name = format!("{path}{ext}");
            release.files.get(&name).map(|f| (ext, name, f))
        });
        let Some((ext, name, file)) = variant else {
            return Err(Error::Release {
                repository: release.source.display_name(),
                reason: format!("no index `{path}` is listed"),
            });
        };
        // The decompressed digest of a compressed index seen before.
        if ext.is_empty() {
            // `plain` was listed but not cached: fall through to download.
        } else if let Some(sha) = self
            .cache
            .get_record(UNPACKED_RECORDS, &file.sha256)?
            .and_then(|v| String::from_utf8(v).ok())
        {
            if bulwark_cache::is_sha256_hex(sha.trim()) {
                if let Some(data) = self.cache.read_shared(sha.trim())? {
                    return finish_index(data, &display_url);
                }
            }
        }
        let url = format!("{shown}/{name}");
        let blob = match self.cache.get(&file.sha256)? {
            Some(blob) => blob,
            None => self.download(release, &dist, &name, file)?,
        };
        if ext.is_empty() {
            let data = self
                .cache
                .read_shared(&file.sha256)?
                .ok_or_else(|| Error::NotCached { what: url.clone() })?;
            return finish_index(data, &url);
        }
        let compressed = std::fs::File::open(&blob).map_err(|e| Error::Index {
            url: url.clone(),
            reason: format!("cannot open cached copy `{}`: {e}", blob.display()),
        })?;
        let reader: Box<dyn Read> = match ext {
            ".xz" => Box::new(liblzma::read::XzDecoder::new_multi_decoder(
                std::io::BufReader::new(compressed),
            )),
            _ => Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
                compressed,
            ))),
        };
        let (sha, _) = self
            .cache
            .put(
                plain.map(|p| p.sha256.as_str()),
                plain.map(|p| p.size),
                reader,
            )
            .map_err(|source| match source {
                bulwark_cache::Error::DigestMismatch { .. }
                | bulwark_cache::Error::SizeMismatch { .. } => Error::IndexMismatch {
                    url: format!("{url} (decompressed)"),
                    source,
                },
                e => Error::Index {
                    url: url.clone(),
                    reason: e.to_string(),
                },
            })?;
        self.cache
            .put_record(UNPACKED_RECORDS, &file.sha256, sha.as_bytes())?;
        let data = self
            .cache
            .read_shared(&sha)?
            .ok_or_else(|| Error::NotCached { what: url.clone() })?;
        finish_index(data, &url)
    }

    /// Downloads a Release-listed file into the cache, by hash when allowed
    /// (falling back to the name if the mirror lacks the by-hash copy).
    fn download(
        &self,
        release: &Release,
        dist: &str,
        name: &str,
        file: &ReleaseFile,
    ) -> Result<PathBuf, Error> {
        let by_name = format!("{dist}/{name}");
        if self.options.offline {
            return Err(Error::NotCached {
                what: bulwark_http::redact_url(&by_name),
            });
        }
        let mut urls = Vec::new();
        if release.acquire_by_hash {
            let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
            urls.push(format!("{dist}/{dir}/by-hash/SHA256/{}", file.sha256));
        }
        urls.push(by_name);
        let mut last_error = None;
        for (i, url) in urls.iter().enumerate() {
            let last = i + 1 == urls.len();
            let fetched = self.client.retry(
                || self.download_one(url, file),
                |e| matches!(e, Error::Transport(e) if e.is_transient()),
            );
            match fetched {
                Err(Error::Transport(e)) if e.is_not_found() && !last => last_error = Some(e),
                result => return result,
            }
        }
        Err(last_error
            .map(Error::from)
            .unwrap_or_else(|| Error::NotCached {
                what: name.to_string(),
            }))
    }

    /// One attempt to stream `url` into the cache as `file`.
    fn download_one(&self, url: &str, file: &ReleaseFile) -> Result<PathBuf, Error> {
        let mismatch = |source| Error::IndexMismatch {
            url: bulwark_http::redact_url(url),
            source,
        };
        let response = self
            .client
            .request(bulwark_http::Method::Get, url)
            .send()?
            .success()?;
        if let Some(announced) = response.content_length().filter(|&l| l != file.size) {
            return Err(mismatch(bulwark_cache::Error::SizeMismatch {
                expected: file.size,
                actual: announced,
                // Stopped before the transfer, for being too large.
                truncated: announced > file.size,
            }));
        }
        let shown = bulwark_http::redact_url(url);
        self.reporter.on_index_start(&shown, file.size);
        let reader = Progress {
            inner: response.body(file.size)?,
            reporter: self.reporter,
        };
        let (_, path) = self
            .cache
            .put(Some(&file.sha256), Some(file.size), reader)
            .map_err(|source| match source {
                bulwark_cache::Error::DigestMismatch { .. }
                | bulwark_cache::Error::SizeMismatch { .. } => mismatch(source),
                e => Error::Index {
                    url: bulwark_http::redact_url(url),
                    reason: e.to_string(),
                },
            })?;
        self.reporter.on_index_done(&shown);
        Ok(path)
    }
}

/// The cache record key of a source: a digest of its URI and suite.
fn source_key(source: &Source) -> String {
    bulwark_cache::sha256_hex(format!("{}\n{}", source.uri, source.suite).as_bytes())
}

fn has_index(release: &Release, path: &str) -> bool {
    [".xz", ".gz", ""]
        .iter()
        .any(|ext| release.files.contains_key(&format!("{path}{ext}")))
}

fn finish_index(data: Arc<[u8]>, url: &str) -> Result<(Arc<[u8]>, Vec<index::Spans>), Error> {
    let text = std::str::from_utf8(&data).map_err(|e| Error::Index {
        url: url.to_string(),
        reason: format!("not UTF-8: {e}"),
    })?;
    let spans = index::split(text).map_err(|reason| Error::Index {
        url: url.to_string(),
        reason,
    })?;
    Ok((data, spans))
}

struct Progress<'a> {
    inner: bulwark_http::Body,
    reporter: &'a dyn Reporter,
}

impl Read for Progress<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.reporter.on_index_progress(n as u64);
        }
        Ok(n)
    }
}
