//! Uploading one blob: skipped when the registry has it, mounted from
//! another repository when one holds it, else sent in chunks that resume
//! after a broken connection.

use std::io::Read;

use bulwark_http::Method;
use bulwark_oci::{BlobStore, Descriptor, VerifiedReader};

use crate::registry::{Access, Body};
use crate::{Error, Repository};

/// What became of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The registry had it.
    Present,
    /// The registry mounted it from another repository.
    Mounted,
    /// It was uploaded.
    Uploaded,
}

/// Puts `descriptor`'s blob, read from `source`, into `repo`. `mount_from`
/// are repositories of the same registry that hold it; `progress` is told
/// of every byte sent.
pub(crate) fn upload(
    repo: &Repository,
    source: &dyn BlobStore,
    descriptor: &Descriptor,
    mount_from: &[String],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Outcome, Error> {
    if repo.head_blob(&descriptor.digest)?.is_some() {
        return Ok(Outcome::Present);
    }
    let mut session = None;
    for from in mount_from.iter().filter(|f| *f != repo.name()) {
        match mount(repo, &descriptor.digest, from)? {
            Mount::Done => return Ok(Outcome::Mounted),
            Mount::Session(location) => {
                session = Some((location, 0));
                break;
            }
            Mount::Refused => {}
        }
    }
    let mut attempts = repo.registry().options().retries + 1;
    loop {
        let (location, min_chunk) = match session.take() {
            Some(session) => session,
            None => start(repo)?,
        };
        match send(repo, source, descriptor, location, min_chunk, progress) {
            // The upload session is gone (a registry restarted without its
            // state), or it holds bytes that cannot be told apart: start
            // again from the first byte.
            Err(Error::Status {
                status: 404 | 416, ..
            }) if attempts > 1 => attempts -= 1,
            Err(err) if attempts > 1 && err.is_transient() => {
                attempts -= 1;
                std::thread::sleep(repo.registry().options().retry_pause);
            }
            result => return result.map(|()| Outcome::Uploaded),
        }
    }
}

enum Mount {
    Done,
    Session(String),
    Refused,
}

fn mount(repo: &Repository, digest: &str, from: &str) -> Result<Mount, Error> {
    let path = format!(
        "/v2/{}/blobs/uploads/?mount={digest}&from={from}",
        repo.name()
    );
    let access = Access {
        repository: repo.name(),
        push: true,
        from: Some(from),
    };
    let response =
        match repo
            .registry()
            .send(Method::Post, &path, &access, &[], Body::Bytes(&[]), true)
        {
            Ok(response) => response,
            // No right to read the other repository: upload instead.
            Err(Error::Auth { .. }) => return Ok(Mount::Refused),
            Err(err) => return Err(err),
        };
    match response.status() {
        201 => Ok(Mount::Done),
        202 => match response.header("location") {
            Some(location) => Ok(Mount::Session(location.to_owned())),
            None => Ok(Mount::Refused),
        },
        _ => Ok(Mount::Refused),
    }
}

/// Starts an upload session; returns its location and the smallest chunk
/// the registry takes (`OCI-Chunk-Min-Length`, 0 when it says none).
fn start(repo: &Repository) -> Result<(String, u64), Error> {
    let path = format!("/v2/{}/blobs/uploads/", repo.name());
    let response = repo.registry().send(
        Method::Post,
        &path,
        &repo.push_access(),
        &[],
        Body::Bytes(&[]),
        true,
    )?;
    if response.status() != 202 {
        let what = format!("POST a blob upload to `{}`", repo.name());
        return Err(repo.registry().status_error(response, what));
    }
    let min_chunk = response
        .header("oci-chunk-min-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Ok((location(repo, &response, "POST a blob upload")?, min_chunk))
}

fn location(
    repo: &Repository,
    response: &bulwark_http::Response,
    what: &str,
) -> Result<String, Error> {
    response
        .header("location")
        .map(str::to_owned)
        .ok_or_else(|| Error::Protocol {
            registry: repo.registry().host().to_owned(),
            reason: format!("it answered {what} without a `Location`"),
        })
}

/// The smallest chunk bulwark shrinks to when a registry refuses larger
/// ones (GHCR takes at most 4 MiB per request).
const MIN_CHUNK: usize = 1 << 20;

/// Sends the blob's bytes to the session at `location` and commits it
/// under its digest: a blob that fits one chunk in the committing `PUT`,
/// a larger one in `PATCH` requests with `Content-Range`, each resumed
/// from where the registry says it got when the connection breaks, and
/// halved when the registry refuses its size. The bytes are checked
/// against the digest as they are read: a changed local blob is never
/// committed.
fn send(
    repo: &Repository,
    source: &dyn BlobStore,
    descriptor: &Descriptor,
    mut location: String,
    min_chunk: u64,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), Error> {
    let registry = repo.registry();
    let configured = registry.options().chunk_size.max(min_chunk).max(1);
    let chunk_size = usize::try_from(configured).unwrap_or(16 << 20);
    let mut reader = VerifiedReader::open(source, descriptor)?;
    if descriptor.size <= configured {
        let mut whole = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
        reader
            .read_to_end(&mut whole)
            .map_err(|err| read_error(err, &source.describe_blob(&descriptor.digest)))?;
        commit(repo, descriptor, &location, &whole)?;
        progress(whole.len() as u64);
        return Ok(());
    }
    let mut chunk = vec![0u8; chunk_size];
    // What one request carries: the chunk size, halved while the registry
    // answers 416 to a request it took nothing of.
    let mut limit = chunk_size;
    let mut offset: u64 = 0;
    loop {
        let filled = fill(&mut reader, &mut chunk, source, descriptor)?;
        if filled == 0 {
            break;
        }
        let mut sent = 0usize;
        let mut resumes = registry.options().retries;
        while sent < filled {
            let end_of_piece = filled.min(sent + limit);
            let start = offset + sent as u64;
            let range = format!("{start}-{}", offset + end_of_piece as u64 - 1);
            let length = (end_of_piece - sent).to_string();
            let result = registry.send(
                Method::Patch,
                &location,
                &repo.push_access(),
                &[
                    ("content-type", "application/octet-stream"),
                    ("content-range", &range),
                    ("content-length", &length),
                ],
                Body::Bytes(&chunk[sent..end_of_piece]),
                false,
            );
            let failure = match result {
                Ok(response) if response.status() == 202 => {
                    location = self::location(repo, &response, "PATCH a blob upload")?;
                    progress((end_of_piece - sent) as u64);
                    sent = end_of_piece;
                    continue;
                }
                Ok(response) => {
                    let what = format!("PATCH blob `{}` to `{}`", descriptor.digest, repo.name());
                    registry.status_error(response, what)
                }
                Err(err) => err,
            };
            let too_large = matches!(
                failure,
                Error::Status {
                    status: 413 | 416,
                    ..
                }
            );
            if resumes == 0 || !(failure.is_transient() || too_large) {
                return Err(failure);
            }
            resumes -= 1;
            // Ask how far the registry got, and go on from there.
            let (next, received) = status(repo, &location)?;
            location = next;
            if received < offset + sent as u64 || received > offset + end_of_piece as u64 {
                // Not what was sent: the session cannot go on.
                return Err(Error::Status {
                    registry: registry.host().to_owned(),
                    what: format!(
                        "a resumed upload of `{}`: it holds {received} bytes",
                        descriptor.digest
                    ),
                    status: 416,
                    detail: None,
                });
            }
            if too_large && received == start {
                if limit <= MIN_CHUNK {
                    return Err(failure);
                }
                limit = (limit / 2).max(MIN_CHUNK);
            } else {
                std::thread::sleep(registry.options().retry_pause);
            }
            let now = usize::try_from(received - offset).unwrap_or(filled);
            if now > sent {
                progress((now - sent) as u64);
            }
            sent = now;
        }
        offset += filled as u64;
    }
    commit(repo, descriptor, &location, &[])
}

/// Commits the upload at `location` under the blob's digest, with the
/// last bytes (or none). When the answer is lost, a registry that has the
/// blob anyway is success.
fn commit(
    repo: &Repository,
    descriptor: &Descriptor,
    location: &str,
    last: &[u8],
) -> Result<(), Error> {
    let registry = repo.registry();
    let separator = if location.contains('?') { '&' } else { '?' };
    let url = format!("{location}{separator}digest={}", descriptor.digest);
    let length = last.len().to_string();
    let result = registry.send(
        Method::Put,
        &url,
        &repo.push_access(),
        &[
            ("content-type", "application/octet-stream"),
            ("content-length", &length),
        ],
        Body::Bytes(last),
        false,
    );
    let failure = match result {
        Ok(response) if response.status() == 201 => return Ok(()),
        Ok(response) => {
            let what = format!("PUT blob `{}` to `{}`", descriptor.digest, repo.name());
            registry.status_error(response, what)
        }
        Err(err) => err,
    };
    if failure.is_transient() && repo.head_blob(&descriptor.digest)?.is_some() {
        return Ok(());
    }
    Err(failure)
}

/// Reads until `chunk` is full or the blob ends; the digest is checked at
/// the end.
fn fill(
    reader: &mut VerifiedReader<'_>,
    chunk: &mut [u8],
    source: &dyn BlobStore,
    descriptor: &Descriptor,
) -> Result<usize, Error> {
    let mut filled = 0;
    while filled < chunk.len() {
        match reader.read(&mut chunk[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(read_error(err, &source.describe_blob(&descriptor.digest))),
        }
    }
    Ok(filled)
}

/// The error a blob reader returned: the [`bulwark_oci::Error`] a
/// [`VerifiedReader`] carries (a digest or size mismatch), else an I/O error.
pub(crate) fn read_error(err: std::io::Error, blob: &str) -> Error {
    if err.get_ref().is_some_and(|e| e.is::<bulwark_oci::Error>()) {
        if let Some(Ok(inner)) = err.into_inner().map(|e| e.downcast::<bulwark_oci::Error>()) {
            return Error::Oci(*inner);
        }
        return Error::Oci(bulwark_oci::Error::Io {
            action: "read",
            path: blob.into(),
            source: std::io::Error::other("read failed"),
        });
    }
    Error::Oci(bulwark_oci::Error::Io {
        action: "read",
        path: blob.into(),
        source: err,
    })
}

/// How many bytes the upload at `location` holds, and its location now.
fn status(repo: &Repository, location: &str) -> Result<(String, u64), Error> {
    let registry = repo.registry();
    let response = registry.send(
        Method::Get,
        location,
        &repo.push_access(),
        &[],
        Body::None,
        true,
    )?;
    if response.status() != 204 {
        let what = format!("GET the state of an upload to `{}`", repo.name());
        return Err(registry.status_error(response, what));
    }
    // `Range: 0-N` holds bytes 0 to N. docker-registry says `0-0` for an
    // empty upload as for one byte: take it as empty (a one-byte partial
    // chunk is then refused with 416 and the blob starts over).
    let received = response
        .header("range")
        .and_then(|r| r.trim().trim_start_matches("bytes=").split_once('-'))
        .and_then(|(_, end)| end.trim().parse::<u64>().ok())
        .map_or(0, |end| if end == 0 { 0 } else { end + 1 });
    let next = response
        .header("location")
        .map_or_else(|| location.to_owned(), str::to_owned);
    Ok((next, received))
}
