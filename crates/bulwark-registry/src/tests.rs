//! The transfer machinery against a real docker-registry on 127.0.0.1,
//! with the testkit's fault-injecting front: resumed uploads, retries and
//! their cap, digest checks on download.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulwark_oci::{read_blob, ImageStore, Layout, RegistryRef};
use bulwark_testkit::oci::{layer, write_layout, LayerFile};
use bulwark_testkit::registry::{DockerRegistry, Fault, Front, FrontOptions};

use crate::upload::{upload, Outcome};
use crate::{pull, push, Options, Registry, Repository};

/// `size` bytes that gzip cannot shrink.
fn noise(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A layout at `dir` with one image of one layer of `size` random bytes.
fn image(dir: &Path, size: usize, seed: u64) -> Layout {
    let data = noise(size, seed);
    let layers = vec![layer(vec![LayerFile::bytes("data.bin", &data)])];
    write_layout(dir, "latest", &layers);
    Layout::open(dir).unwrap()
}

fn repository(host: &str, name: &str, options: Options) -> Repository {
    let registry = Arc::new(Registry::new(host, &options).unwrap());
    let reference = RegistryRef {
        registry: host.to_owned(),
        repository: name.to_owned(),
        tag: Some("latest".to_owned()),
        digest: None,
    };
    Repository::new(registry, &reference)
}

fn fast(options: Options) -> Options {
    Options {
        retry_pause: Duration::from_millis(20),
        ..options
    }
}

/// The largest layer of the layout's image.
fn big_layer(layout: &Layout) -> bulwark_oci::Descriptor {
    let top = layout.resolve(Some("latest")).unwrap();
    let manifest: bulwark_oci::Manifest = bulwark_oci::read_json(layout, &top).unwrap();
    manifest.layers.into_iter().max_by_key(|l| l.size).unwrap()
}

#[test]
fn an_upload_cut_mid_blob_resumes_where_the_registry_stopped() {
    let registry = DockerRegistry::start();
    let front = Front::start(&registry.host(), FrontOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let layout = image(tmp.path(), 300 << 10, 7);
    let blob = big_layer(&layout);
    let repo = repository(
        &front.host(),
        "resume",
        fast(Options {
            chunk_size: 64 << 10,
            ..Options::default()
        }),
    );

    // Cut the connection in the middle of the second chunk.
    let chunks = AtomicU32::new(0);
    let outcome = upload(&repo, &layout, &blob, &[], &|_| {
        if chunks.fetch_add(1, Ordering::SeqCst) == 0 {
            front.inject(
                "PATCH",
                "/blobs/uploads/",
                Fault::CutAfter { body_bytes: 10_000 },
            );
        }
    })
    .unwrap();
    assert_eq!(outcome, Outcome::Uploaded);

    let log = front.requests();
    let count = |method: &str| {
        log.iter()
            .filter(|r| r.method == method && r.path.contains("/blobs/uploads/"))
            .count()
    };
    let whole_chunks = blob.size.div_ceil(64 << 10) as usize;
    // One session, every chunk once, the cut one twice.
    assert_eq!(count("POST"), 1, "{log:#?}");
    assert_eq!(count("PATCH"), whole_chunks + 1, "{log:#?}");
    assert_eq!(
        count("GET"),
        1,
        "the upload's state is asked once: {log:#?}"
    );
    assert_eq!(count("PUT"), 1);
    assert!(
        log.iter()
            .any(|r| r.method == "PATCH" && r.body_len == 10_000),
        "the cut request is in the log: {log:#?}"
    );

    // What the registry holds is the blob.
    let got = read_blob(&repo, &blob, 1 << 30).unwrap();
    assert_eq!(got.len() as u64, blob.size);
    assert_eq!(
        upload(&repo, &layout, &blob, &[], &|_| {}).unwrap(),
        Outcome::Present
    );
}

#[test]
fn retries_honour_retry_after_up_to_the_cap_and_survive_a_500() {
    let registry = DockerRegistry::start();
    let front = Front::start(&registry.host(), FrontOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let layout = image(tmp.path(), 4 << 10, 3);
    let repo = repository(
        &front.host(),
        "retry",
        fast(Options {
            retry_max_wait: Duration::from_secs(1),
            ..Options::default()
        }),
    );
    front.inject(
        "HEAD",
        "/blobs/",
        Fault::TooManyRequests {
            retry_after_secs: 600,
        },
    );
    front.inject("PUT", "/manifests/", Fault::Status(500));
    let started = Instant::now();
    let report = push(&layout, Some("latest"), &repo, Some("v1"), &(), &()).unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(20),
        "Retry-After 600 s capped at 1 s: took {took:?}"
    );
    assert_eq!(report.uploaded, 2);
    let log = front.requests();
    let manifest_puts = log
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .count();
    assert_eq!(
        manifest_puts, 3,
        "by digest (twice: a 500, then 201), then the tag: {log:#?}"
    );
    // The image is there by its tag.
    let top = repository(&registry.host(), "retry", Options::default());
    assert_eq!(
        top.resolve(Some("v1")).unwrap().digest,
        layout.resolve(Some("latest")).unwrap().digest
    );
}

#[test]
fn retries_stop_after_the_budget_with_the_status() {
    let registry = DockerRegistry::start();
    let front = Front::start(&registry.host(), FrontOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let layout = image(tmp.path(), 1 << 10, 5);
    let repo = repository(
        &front.host(),
        "budget",
        fast(Options {
            retries: 2,
            parallel: 1,
            ..Options::default()
        }),
    );
    for _ in 0..3 {
        front.inject("HEAD", "/blobs/", Fault::Status(503));
    }
    let err = push(&layout, Some("latest"), &repo, Some("v1"), &(), &()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("503"), "{message}");
    assert!(message.contains(&front.host()), "{message}");
}

#[test]
fn a_blob_with_other_bytes_is_never_kept() {
    let registry = DockerRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = image(&tmp.path().join("src"), 64 << 10, 11);
    let blob = big_layer(&layout);
    let repo = repository(&registry.host(), "tampered", Options::default());
    push(&layout, Some("latest"), &repo, Some("latest"), &(), &()).unwrap();

    // Same length, other bytes, in the registry's own storage.
    let hex = blob.digest.trim_start_matches("sha256:");
    let data = registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    std::fs::write(&data, noise(blob.size as usize, 99)).unwrap();

    let fresh = repository(&registry.host(), "tampered", Options::default());
    let err = read_blob(&fresh, &blob, 1 << 30).unwrap_err();
    assert!(err.is_mismatch(), "{err}");

    let dest = tmp.path().join("pulled");
    let pull_repo = repository(&registry.host(), "tampered", Options::default());
    let err = pull(&pull_repo, &dest, "v1", &()).unwrap_err();
    assert!(err.is_mismatch(), "{err}");
    assert!(!dest.exists(), "nothing is published");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn the_referrers_tag_keeps_what_other_tools_listed() {
    let registry = DockerRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    // Another tool attached a document to the image and pushed it first.
    let theirs = image(&tmp.path().join("theirs"), 2 << 10, 21);
    let top = theirs.resolve(Some("latest")).unwrap();
    let foreign = theirs
        .attach(
            &top,
            &[bulwark_oci::Artifact::new(
                "foreign",
                "application/vnd.example.foreign+json",
                b"{\"by\":\"another tool\"}".to_vec(),
            )],
        )
        .unwrap();
    let repo = repository(&registry.host(), "merge", Options::default());
    let first = push(&theirs, Some("latest"), &repo, Some("latest"), &(), &()).unwrap();
    assert_eq!(first.referrers, "tag");

    // The same image with bulwark's own attestation.
    let ours = image(&tmp.path().join("ours"), 2 << 10, 21);
    assert_eq!(ours.resolve(Some("latest")).unwrap().digest, top.digest);
    let own = ours
        .attach(
            &top,
            &[bulwark_oci::Artifact::new(
                "sbom-spdx",
                bulwark_oci::media_type::SPDX_JSON,
                b"{\"spdxVersion\":\"SPDX-2.3\"}".to_vec(),
            )],
        )
        .unwrap();
    let repo = repository(&registry.host(), "merge", Options::default());
    let second = push(&ours, Some("latest"), &repo, Some("latest"), &(), &()).unwrap();
    assert_eq!(
        (second.referrers, second.uploaded),
        ("tag", 1),
        "{second:?}"
    );

    let listed: Vec<String> = repository(&registry.host(), "merge", Options::default())
        .referrers(&top.digest)
        .unwrap()
        .into_iter()
        .map(|d| d.digest)
        .collect();
    assert_eq!(listed, [foreign[0].digest.clone(), own[0].digest.clone()]);
}

#[test]
fn a_registry_that_refuses_the_chunk_size_gets_smaller_chunks() {
    let registry = DockerRegistry::start();
    let front = Front::start(&registry.host(), FrontOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let layout = image(tmp.path(), 6 << 20, 13);
    let blob = big_layer(&layout);
    assert!(blob.size > 4 << 20);
    let repo = repository(
        &front.host(),
        "capped",
        fast(Options {
            chunk_size: 4 << 20,
            ..Options::default()
        }),
    );
    // As GHCR answers a chunk over its limit.
    front.inject("PATCH", "/blobs/uploads/", Fault::Status(416));
    assert_eq!(
        upload(&repo, &layout, &blob, &[], &|_| {}).unwrap(),
        Outcome::Uploaded
    );
    let patches: Vec<u64> = front
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.body_len)
        .collect();
    // The refused 4 MiB, then 2 MiB pieces of each 4 MiB read.
    let last = blob.size - (6 << 20);
    assert_eq!(
        patches,
        [4 << 20, 2 << 20, 2 << 20, 2 << 20, last],
        "{patches:?}"
    );
    assert_eq!(
        read_blob(&repo, &blob, 1 << 30).unwrap().len() as u64,
        blob.size
    );
}

#[test]
fn a_blob_that_fits_one_chunk_goes_up_in_one_put() {
    let registry = DockerRegistry::start();
    let front = Front::start(&registry.host(), FrontOptions::default());
    let tmp = tempfile::tempdir().unwrap();
    let layout = image(tmp.path(), 100 << 10, 17);
    let blob = big_layer(&layout);
    let repo = repository(&front.host(), "small", fast(Options::default()));
    front.inject(
        "PUT",
        "/blobs/uploads/",
        Fault::CutAfter { body_bytes: 1000 },
    );
    assert_eq!(
        upload(&repo, &layout, &blob, &[], &|_| {}).unwrap(),
        Outcome::Uploaded
    );
    let log = front.requests();
    let uploads: Vec<(&str, u64)> = log
        .iter()
        .filter(|r| r.path.contains("/blobs/uploads/"))
        .map(|r| (r.method.as_str(), r.body_len))
        .collect();
    // The cut commit is retried in a new session; no PATCH at all.
    assert_eq!(
        uploads,
        [("POST", 0), ("PUT", 1000), ("POST", 0), ("PUT", blob.size)],
        "{log:#?}"
    );
}

#[test]
fn an_expired_token_is_replaced_and_credentials_are_asked_once() {
    let registry = DockerRegistry::start();
    let front = Front::start(
        &registry.host(),
        FrontOptions {
            bearer: Some(("ci".to_owned(), "s3cret".to_owned())),
            ..FrontOptions::default()
        },
    );
    let tmp = tempfile::tempdir().unwrap();
    let first = image(&tmp.path().join("a"), 8 << 10, 31);
    let second = image(&tmp.path().join("b"), 8 << 10, 32);
    let repo = repository(
        &front.host(),
        "tokens",
        fast(Options {
            credentials: Some(crate::Credentials::new("ci", "s3cret")),
            ..Options::default()
        }),
    );
    push(&first, Some("latest"), &repo, Some("a"), &(), &()).unwrap();
    let tokens = |log: &[bulwark_testkit::registry::LoggedRequest]| {
        log.iter().filter(|r| r.path == "/token").count()
    };
    // Parallel transfers share one token per scope.
    assert_eq!(tokens(&front.requests()), 1, "{:#?}", front.requests());

    front.revoke_tokens();
    front.clear();
    push(&second, Some("latest"), &repo, Some("b"), &(), &()).unwrap();
    assert_eq!(
        tokens(&front.requests()),
        1,
        "one new token after the old one expired"
    );
    assert!(front
        .token_scopes()
        .iter()
        .any(|s| s == "repository:tokens:pull,push"));
}
