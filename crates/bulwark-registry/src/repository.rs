//! One repository of a registry: manifests, blobs and referrers, and the
//! [`ImageStore`] that lets the image readers read it.

use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex, OnceLock};

use bulwark_http::Method;
use bulwark_oci::{
    media_type, referrers_tag, sha256_digest, sha256_hex, BlobStore, Descriptor, ImageStore, Index,
    RegistryRef, MAX_DOCUMENT,
};

use crate::registry::{Access, Body, Registry};
use crate::{Error, Options};

/// What a manifest request accepts.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A repository of a registry, and the image a reference names in it.
pub struct Repository {
    registry: Arc<Registry>,
    name: String,
    /// The tag or digest [`ImageStore::resolve`] reads without a tag.
    reference: String,
    /// Manifests read so far, by digest (checked), so that resolving and
    /// reading a manifest fetch it once.
    manifests: Mutex<ManifestCache>,
    /// Digests known to name manifests (listed in an index or as
    /// referrers), which live at `/manifests/`, not `/blobs/`.
    manifest_digests: Mutex<HashSet<String>>,
    referrers_api: OnceLock<bool>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location())
    }
}

/// The most pages of a referrers list followed, and referrers taken.
const MAX_REFERRER_PAGES: usize = 64;
const MAX_REFERRERS: usize = 10_000;

/// What the referrers API said.
enum Api {
    /// The registry has the API; these are the referrers.
    Listed(Vec<Descriptor>),
    /// The registry has no referrers API.
    Missing,
    /// The answer does not tell (the repository is unknown).
    Unknown,
}

/// The target of a `Link: <URL>; rel="next"` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
        let next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        next.then(|| target.to_owned())
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The manifests read so far, up to a total size.
#[derive(Default)]
struct ManifestCache {
    by_digest: HashMap<String, RemoteManifest>,
    bytes: usize,
}

/// What the manifest cache holds at most.
const CACHE_BUDGET: usize = 256 << 20;

/// A manifest as the registry holds it.
#[derive(Clone)]
pub(crate) struct RemoteManifest {
    pub(crate) descriptor: Descriptor,
    pub(crate) bytes: Arc<[u8]>,
}

impl Repository {
    /// The repository `reference` names, on a new [`Registry`] with
    /// `options`.
    pub fn open(reference: &RegistryRef, options: &Options) -> Result<Repository, Error> {
        let registry = Arc::new(Registry::new(&reference.registry, options)?);
        Ok(Repository::new(registry, reference))
    }

    /// The repository `reference` names, on `registry` (which must be the
    /// reference's registry).
    pub fn new(registry: Arc<Registry>, reference: &RegistryRef) -> Repository {
        let default = reference
            .digest
            .clone()
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".to_owned());
        Repository {
            registry,
            name: reference.repository.clone(),
            reference: default,
            manifests: Mutex::new(ManifestCache::default()),
            manifest_digests: Mutex::new(HashSet::new()),
            referrers_api: OnceLock::new(),
        }
    }

    /// The repository's path (`library/debian`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub(crate) fn pull_access(&self) -> Access<'_> {
        Access {
            repository: &self.name,
            push: false,
            from: None,
        }
    }

    pub(crate) fn push_access(&self) -> Access<'_> {
        Access {
            repository: &self.name,
            push: true,
            from: None,
        }
    }

    fn path(&self, kind: &str, reference: &str) -> String {
        format!("/v2/{}/{kind}/{reference}", self.name)
    }

    fn what(&self, action: &str, reference: &str) -> String {
        format!(
            "{action} of `{}` in `{}`",
            reference.escape_debug(),
            self.name
        )
    }

    /// `GET /v2/NAME/KIND/REFERENCE`: the answer when it is `200`, `None`
    /// when `404`, else an error with the registry's own message.
    fn get(
        &self,
        kind: &str,
        reference: &str,
        access: &Access<'_>,
        accept: &str,
    ) -> Result<Option<bulwark_http::Response>, Error> {
        let path = self.path(kind, reference);
        let response = self.registry.send(
            Method::Get,
            &path,
            access,
            &[("accept", accept)],
            Body::None,
            true,
        )?;
        match response.status() {
            200 => Ok(Some(response)),
            404 => Ok(None),
            _ => Err(self
                .registry
                .status_error(response, self.what(&format!("GET {kind}"), reference))),
        }
    }

    /// The manifest a tag or digest names, or `None` when the registry has
    /// none. A digest is checked against the bytes; for a tag, the digest
    /// is computed from the bytes (and must match `Docker-Content-Digest`
    /// when the registry sends one).
    pub(crate) fn get_manifest(
        &self,
        reference: &str,
        push: bool,
    ) -> Result<Option<RemoteManifest>, Error> {
        if let Some(found) = self.cached(reference) {
            return Ok(Some(found));
        }
        let access = if push {
            self.push_access()
        } else {
            self.pull_access()
        };
        let Some(response) = self.get("manifests", reference, &access, ACCEPT)? else {
            return Ok(None);
        };
        let content_type = response
            .header("content-type")
            .map(|v| v.split(';').next().unwrap_or("").trim().to_owned());
        let announced = response.header("docker-content-digest").map(str::to_owned);
        let bytes: Arc<[u8]> = response
            .bytes(MAX_DOCUMENT)
            .map_err(|source| Error::Http {
                registry: self.registry.host().to_owned(),
                source,
            })?
            .into();
        let digest = sha256_digest(&bytes);
        let expected = if sha256_hex(reference).is_some() {
            Some(reference.to_owned())
        } else {
            announced.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(expected) = expected.filter(|e| *e != digest) {
            return Err(bulwark_oci::Error::DigestMismatch {
                blob: format!("docker://{}/{}@{expected}", self.registry.host(), self.name),
                expected,
                actual: digest,
            }
            .into());
        }
        let found = RemoteManifest {
            descriptor: describe_manifest(&digest, &bytes, content_type),
            bytes,
        };
        self.remember(&found);
        Ok(Some(found))
    }

    fn cached(&self, reference: &str) -> Option<RemoteManifest> {
        sha256_hex(reference)?;
        self.manifests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_digest
            .get(reference)
            .cloned()
    }

    /// Keeps a checked manifest (while the cache has room), and notes the
    /// manifests it lists.
    fn remember(&self, found: &RemoteManifest) {
        if let Ok(index) = serde_json::from_slice::<Index>(&found.bytes) {
            self.note_manifests(index.manifests.iter().map(|d| d.digest.as_str()));
        }
        let mut cache = self.manifests.lock().unwrap_or_else(|p| p.into_inner());
        if cache.bytes + found.bytes.len() <= CACHE_BUDGET {
            cache.bytes += found.bytes.len();
            cache
                .by_digest
                .insert(found.descriptor.digest.clone(), found.clone());
        }
    }

    fn note_manifests<'a>(&self, digests: impl Iterator<Item = &'a str>) {
        let mut known = self
            .manifest_digests
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        known.extend(digests.map(str::to_owned));
    }

    fn is_manifest(&self, digest: &str) -> bool {
        self.manifest_digests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(digest)
    }

    /// Whether the registry has the manifest `reference` (a digest or a
    /// tag), and its digest when the registry says.
    pub(crate) fn head_manifest(
        &self,
        reference: &str,
        push: bool,
    ) -> Result<Option<Option<String>>, Error> {
        let path = self.path("manifests", reference);
        let access = if push {
            self.push_access()
        } else {
            self.pull_access()
        };
        let response = self.registry.send(
            Method::Head,
            &path,
            &access,
            &[("accept", ACCEPT)],
            Body::None,
            true,
        )?;
        match response.status() {
            200 => Ok(Some(
                response.header("docker-content-digest").map(str::to_owned),
            )),
            404 => Ok(None),
            _ => Err(self
                .registry
                .status_error(response, self.what("HEAD manifest", reference))),
        }
    }

    /// Whether the registry has the blob, with its size.
    pub(crate) fn head_blob(&self, digest: &str) -> Result<Option<u64>, Error> {
        let path = self.path("blobs", digest);
        let response = self.registry.send(
            Method::Head,
            &path,
            &self.push_access(),
            &[],
            Body::None,
            true,
        )?;
        match response.status() {
            200 => Ok(Some(response.content_length().unwrap_or(0))),
            404 => Ok(None),
            _ => Err(self
                .registry
                .status_error(response, self.what("HEAD blob", digest))),
        }
    }

    /// Stores a manifest under `reference` (its digest or a tag), as its
    /// exact bytes. Returns whether the registry answered with
    /// `OCI-Subject` (it has the referrers API).
    pub(crate) fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<bool, Error> {
        let path = self.path("manifests", reference);
        let response = self.registry.send(
            Method::Put,
            &path,
            &self.push_access(),
            &[("content-type", media_type)],
            Body::Bytes(bytes),
            true,
        )?;
        if !(200..300).contains(&response.status()) {
            return Err(self
                .registry
                .status_error(response, self.what("PUT manifest", reference)));
        }
        let digest = sha256_digest(bytes);
        if let Some(said) = response.header("docker-content-digest") {
            if said != digest {
                return Err(Error::Protocol {
                    registry: self.registry.host().to_owned(),
                    reason: format!(
                        "it stored manifest `{digest}` as `{}`: it changed the bytes",
                        said.escape_debug()
                    ),
                });
            }
        }
        Ok(response.header("oci-subject").is_some())
    }

    /// Whether the registry has the OCI 1.1 referrers API, asked once.
    pub(crate) fn has_referrers_api(&self, subject: &str) -> Result<bool, Error> {
        if let Some(known) = self.referrers_api.get() {
            return Ok(*known);
        }
        Ok(match self.referrers_from_api(subject)? {
            Api::Listed(_) => *self.referrers_api.get_or_init(|| true),
            Api::Missing => *self.referrers_api.get_or_init(|| false),
            Api::Unknown => false,
        })
    }

    /// Records that the registry has (or lacks) the referrers API.
    pub(crate) fn set_referrers_api(&self, api: bool) {
        let _ = self.referrers_api.set(api);
    }

    /// Asks the referrers API for `subject`'s list, following `Link`
    /// pages. A registry without the API answers `404` (but a `404` for an
    /// unknown repository tells nothing), `400`, `405` or `501`, or
    /// something that is not an image index.
    fn referrers_from_api(&self, subject: &str) -> Result<Api, Error> {
        let mut listed = Vec::new();
        let mut next = Some(self.path("referrers", subject));
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > MAX_REFERRER_PAGES {
                return Err(Error::Protocol {
                    registry: self.registry.host().to_owned(),
                    reason: format!(
                        "its referrers list of `{subject}` runs over {MAX_REFERRER_PAGES} pages"
                    ),
                });
            }
            let response = self.registry.send(
                Method::Get,
                &path,
                &self.pull_access(),
                &[("accept", media_type::INDEX)],
                Body::None,
                true,
            )?;
            match response.status() {
                200 => {}
                404 => {
                    let body = response.bytes(64 << 10).unwrap_or_default();
                    let unknown_repository = contains(&body, b"NAME_UNKNOWN");
                    return Ok(if unknown_repository {
                        Api::Unknown
                    } else {
                        Api::Missing
                    });
                }
                400 | 405 | 501 => return Ok(Api::Missing),
                _ => {
                    return Err(self
                        .registry
                        .status_error(response, self.what("GET referrers", subject)))
                }
            }
            next = response.header("link").and_then(next_link);
            let bytes = response.bytes(MAX_DOCUMENT).map_err(|source| Error::Http {
                registry: self.registry.host().to_owned(),
                source,
            })?;
            match serde_json::from_slice::<Index>(&bytes) {
                Ok(index) => listed.extend(index.manifests),
                Err(_) if pages == 1 => return Ok(Api::Missing),
                Err(e) => {
                    return Err(Error::Protocol {
                        registry: self.registry.host().to_owned(),
                        reason: format!(
                            "page {pages} of its referrers list of `{subject}` is not an image index: {e}"
                        ),
                    })
                }
            }
            if listed.len() > MAX_REFERRERS {
                return Err(Error::Protocol {
                    registry: self.registry.host().to_owned(),
                    reason: format!("it lists more than {MAX_REFERRERS} referrers of `{subject}`"),
                });
            }
        }
        Ok(Api::Listed(listed))
    }

    /// The referrers of `subject`: through the API when the registry has
    /// it, else from the `sha256-<hex>` tag.
    pub(crate) fn referrers(&self, subject: &str) -> Result<Vec<Descriptor>, Error> {
        let listed = if self.referrers_api.get() == Some(&false) {
            None
        } else {
            match self.referrers_from_api(subject)? {
                Api::Listed(listed) => {
                    let _ = self.referrers_api.set(true);
                    Some(listed)
                }
                Api::Missing => {
                    let _ = self.referrers_api.set(false);
                    None
                }
                Api::Unknown => None,
            }
        };
        let listed = match listed {
            Some(listed) => listed,
            None => self.referrers_from_tag(subject, false)?.manifests,
        };
        self.note_manifests(listed.iter().map(|d| d.digest.as_str()));
        Ok(listed)
    }

    /// The referrers index under the `sha256-<hex>` tag of `subject`
    /// (empty when there is none).
    pub(crate) fn referrers_from_tag(&self, subject: &str, push: bool) -> Result<Index, Error> {
        let tag = referrers_tag(subject)
            .ok_or_else(|| bulwark_oci::Error::InvalidDigest(subject.to_owned()))?;
        // Most images have no such tag: ask with HEAD, which registries do
        // not count against pull limits.
        if self.head_manifest(&tag, push)?.is_none() {
            return Ok(Index::new(Vec::new(), Default::default()));
        }
        let Some(found) = self.get_manifest(&tag, push)? else {
            return Ok(Index::new(Vec::new(), Default::default()));
        };
        serde_json::from_slice(&found.bytes).map_err(|e| Error::Protocol {
            registry: self.registry.host().to_owned(),
            reason: format!("its referrers tag `{tag}` is not an image index: {e}"),
        })
    }

    /// Opens a blob for streaming (not checked: read through a
    /// [`bulwark_oci::VerifiedReader`]).
    fn open_remote_blob(&self, digest: &str) -> Result<Box<dyn Read + Send + '_>, Error> {
        let Some(response) = self.get("blobs", digest, &self.pull_access(), "*/*")? else {
            return Err(bulwark_oci::Error::BlobMissing {
                digest: digest.to_owned(),
                location: self.location(),
            }
            .into());
        };
        let body = response.body(u64::MAX - 1).map_err(|source| Error::Http {
            registry: self.registry.host().to_owned(),
            source,
        })?;
        Ok(Box::new(body))
    }
}

/// The descriptor of manifest bytes: the media type from the document, else
/// the `Content-Type` the registry sent.
fn describe_manifest(digest: &str, bytes: &[u8], content_type: Option<String>) -> Descriptor {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        #[serde(rename = "artifactType")]
        artifact_type: Option<String>,
    }
    let head: Option<Head> = serde_json::from_slice(bytes).ok();
    let (from_document, artifact_type) = head
        .map(|h| (h.media_type, h.artifact_type))
        .unwrap_or_default();
    let media_type = from_document
        .or(content_type)
        .unwrap_or_else(|| media_type::MANIFEST.to_owned());
    Descriptor {
        artifact_type,
        ..Descriptor::new(&media_type, digest, bytes.len() as u64)
    }
}

/// Turns a registry error into the OCI error a [`BlobStore`] returns.
fn to_oci(err: Error, location: &str) -> bulwark_oci::Error {
    match err {
        Error::Oci(err) => err,
        other => bulwark_oci::Error::Io {
            action: "read",
            path: location.into(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

impl BlobStore for Repository {
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + Send + '_>, bulwark_oci::Error> {
        if self.is_manifest(digest) || self.cached(digest).is_some() {
            return match self.get_manifest(digest, false) {
                Ok(Some(found)) => Ok(Box::new(Cursor::new(found.bytes))),
                Ok(None) => Err(bulwark_oci::Error::BlobMissing {
                    digest: digest.to_owned(),
                    location: self.location(),
                }),
                Err(err) => Err(to_oci(err, &self.describe_blob(digest))),
            };
        }
        match self.open_remote_blob(digest) {
            Ok(reader) => Ok(reader),
            // Not a blob: perhaps a manifest nobody listed.
            Err(Error::Oci(bulwark_oci::Error::BlobMissing { .. })) => {
                match self.get_manifest(digest, false) {
                    Ok(Some(found)) => Ok(Box::new(Cursor::new(found.bytes))),
                    Ok(None) => Err(bulwark_oci::Error::BlobMissing {
                        digest: digest.to_owned(),
                        location: self.location(),
                    }),
                    Err(err) => Err(to_oci(err, &self.describe_blob(digest))),
                }
            }
            Err(err) => Err(to_oci(err, &self.describe_blob(digest))),
        }
    }

    fn describe_blob(&self, digest: &str) -> String {
        format!("docker://{}/{}@{digest}", self.registry.host(), self.name)
    }
}

impl ImageStore for Repository {
    fn location(&self) -> String {
        format!("docker://{}/{}", self.registry.host(), self.name)
    }

    fn resolve(&self, tag: Option<&str>) -> Result<Descriptor, bulwark_oci::Error> {
        let reference = tag.unwrap_or(&self.reference);
        match self.get_manifest(reference, false) {
            Ok(Some(found)) => Ok(found.descriptor),
            Ok(None) => Err(bulwark_oci::Error::TagNotFound {
                location: self.location(),
                tag: reference.to_owned(),
                available: "the registry lists none by that name".to_owned(),
            }),
            Err(err) => Err(to_oci(err, &self.location())),
        }
    }

    fn referrer_candidates(
        &self,
        subject: &str,
    ) -> Result<Vec<(Descriptor, bool)>, bulwark_oci::Error> {
        self.referrers(subject)
            .map(|listed| listed.into_iter().map(|d| (d, true)).collect())
            .map_err(|err| to_oci(err, &self.location()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn link_headers_name_the_next_page() {
        let next = super::next_link;
        assert_eq!(
            next(r#"</v2/a/referrers/sha256:1?n=10&last=x>; rel="next""#).as_deref(),
            Some("/v2/a/referrers/sha256:1?n=10&last=x")
        );
        assert_eq!(
            next(r#"<https://h/p1>; rel="prev", <https://h/p3>; rel=next"#).as_deref(),
            Some("https://h/p3")
        );
        assert_eq!(next(r#"<https://h/p1>; rel="prev""#), None);
        assert_eq!(next("garbage"), None);
    }
}
