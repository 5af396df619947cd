//! The registry test servers: the real `docker-registry` (anonymous, Basic
//! auth, TLS, restarts) and the `Front` before it (forwarding, the request
//! log, faults, the token service, the referrers API), checked with ureq
//! and raw sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use bulwark_testkit::registry::{DockerRegistry, Fault, Front, FrontOptions, RegistryOptions};
use sha2::Digest as _;

/// A response: status, headers (names lowercase), body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn agent_with(tls: Option<ureq::tls::TlsConfig>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)));
    if let Some(tls) = tls {
        config = config.tls_config(tls);
    }
    config.build().into()
}

fn agent() -> ureq::Agent {
    agent_with(None)
}

fn try_call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, ureq::Error> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = if body.is_empty() && !matches!(method, "PUT" | "POST" | "PATCH") {
        agent.run(builder.body(()).unwrap())?
    } else {
        agent.run(builder.body(body.to_vec()).unwrap())?
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        response.into_body().read_to_vec()?
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    try_call(agent, method, url, headers, body).unwrap()
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// Uploads `blob` to `repo` monolithically (POST, then PUT with the digest)
/// through `base` (`http://host`); returns its digest.
fn push_blob(
    agent: &ureq::Agent,
    base: &str,
    repo: &str,
    auth: &[(&str, &str)],
    blob: &[u8],
) -> String {
    let start = call(
        agent,
        "POST",
        &format!("{base}/v2/{repo}/blobs/uploads/"),
        auth,
        b"",
    );
    assert_eq!(start.status, 202, "{start:?}");
    let location = start.header("location").unwrap().to_string();
    assert!(location.starts_with(base), "{location} is not under {base}");
    let d = digest(blob);
    let sep = if location.contains('?') { '&' } else { '?' };
    let mut headers = auth.to_vec();
    headers.push(("Content-Type", "application/octet-stream"));
    let put = call(
        agent,
        "PUT",
        &format!("{location}{sep}digest={d}"),
        &headers,
        blob,
    );
    assert_eq!(
        put.status,
        201,
        "{put:?} {}",
        String::from_utf8_lossy(&put.body)
    );
    d
}

/// Pushes a manifest; returns the answer.
fn push_manifest(
    agent: &ureq::Agent,
    base: &str,
    repo: &str,
    reference: &str,
    auth: &[(&str, &str)],
    manifest: &serde_json::Value,
) -> (Answer, String) {
    let bytes = serde_json::to_vec(manifest).unwrap();
    let mut headers = auth.to_vec();
    headers.push(("Content-Type", "application/vnd.oci.image.manifest.v1+json"));
    let put = call(
        agent,
        "PUT",
        &format!("{base}/v2/{repo}/manifests/{reference}"),
        &headers,
        &bytes,
    );
    assert_eq!(
        put.status,
        201,
        "{put:?} {}",
        String::from_utf8_lossy(&put.body)
    );
    (put, digest(&bytes))
}

/// Sends `request` on `stream` and reads one response (Content-Length
/// framed): status line, headers, body.
fn raw_exchange(
    reader: &mut BufReader<TcpStream>,
    request: &str,
) -> (String, Vec<String>, Vec<u8>) {
    reader.get_mut().write_all(request.as_bytes()).unwrap();
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end().to_string();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        headers.push(line);
    }
    let mut body = vec![0; length];
    if !request.starts_with("HEAD ") {
        reader.read_exact(&mut body).unwrap();
    }
    (status.trim_end().to_string(), headers, body)
}

#[test]
fn registry_serves_v2_and_keeps_content_and_uploads_across_restarts() {
    let mut registry = DockerRegistry::start();
    assert!(registry.host().starts_with("127.0.0.1:"));
    assert!(registry.ca_cert().is_none());
    let agent = agent();
    let base = registry.url();
    let v2 = call(&agent, "GET", &format!("{base}/v2/"), &[], b"");
    assert_eq!(v2.status, 200, "{v2:?}");
    assert_eq!(
        v2.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    let blob = b"hello registry\n";
    let d = push_blob(&agent, &base, "t", &[], blob);
    assert!(registry.storage().join("docker").is_dir());

    // An upload started before a restart resumes after it (same secret).
    let start = call(
        &agent,
        "POST",
        &format!("{base}/v2/t/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(start.status, 202, "{start:?}");
    let location = start.header("location").unwrap().to_string();
    let part = [
        ("Content-Type", "application/octet-stream"),
        ("Content-Range", "0-4"),
    ];
    let patch = call(&agent, "PATCH", &location, &part, b"01234");
    assert_eq!(patch.status, 202, "{patch:?}");
    let location = patch.header("location").unwrap().to_string();

    registry.restart();

    let head = call(&agent, "HEAD", &format!("{base}/v2/t/blobs/{d}"), &[], b"");
    assert_eq!(head.status, 200, "{head:?}");
    assert_eq!(head.header("content-length"), Some("15"));
    let get = call(&agent, "GET", &format!("{base}/v2/t/blobs/{d}"), &[], b"");
    assert_eq!(get.body, blob);

    let status = call(&agent, "GET", &location, &[], b"");
    assert_eq!(status.status, 204, "{status:?}");
    assert_eq!(status.header("range"), Some("0-4"));
    let whole = digest(b"0123456789");
    let sep = if location.contains('?') { '&' } else { '?' };
    let put = call(
        &agent,
        "PUT",
        &format!("{location}{sep}digest={whole}"),
        &[("Content-Type", "application/octet-stream")],
        b"56789",
    );
    assert_eq!(put.status, 201, "{put:?}");

    registry.stop();
    assert!(try_call(&agent, "GET", &format!("{base}/v2/"), &[], b"").is_err());
    registry.restart();
    let head = call(
        &agent,
        "HEAD",
        &format!("{base}/v2/t/blobs/{whole}"),
        &[],
        b"",
    );
    assert_eq!(head.status, 200, "{head:?}");
}

#[test]
fn registry_with_htpasswd_demands_basic_auth() {
    let registry = DockerRegistry::start_with(RegistryOptions {
        htpasswd: Some(("alice".into(), "s3cret".into())),
        tls: false,
    });
    let agent = agent();
    let url = format!("{}/v2/", registry.url());
    let anonymous = call(&agent, "GET", &url, &[], b"");
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let challenge = anonymous.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    let wrong = basic("alice", "nope");
    assert_eq!(
        call(&agent, "GET", &url, &[("Authorization", &wrong)], b"").status,
        401
    );
    let right = basic("alice", "s3cret");
    let ok = call(&agent, "GET", &url, &[("Authorization", &right)], b"");
    assert_eq!(ok.status, 200, "{ok:?}");
}

#[test]
fn registry_with_tls_serves_clients_that_trust_its_certificate() {
    let registry = DockerRegistry::start_with(RegistryOptions {
        htpasswd: None,
        tls: true,
    });
    let url = format!("{}/v2/", registry.url());
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let pem = std::fs::read(registry.ca_cert().unwrap()).unwrap();
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item.unwrap() {
            ureq::tls::PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(certs.len(), 1);
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .build();
    let trusting = agent_with(Some(tls));
    assert_eq!(call(&trusting, "GET", &url, &[], b"").status, 200);
    let localhost = url.replace("127.0.0.1", "localhost");
    assert_eq!(call(&trusting, "GET", &localhost, &[], b"").status, 200);

    // Without the certificate (or in clear text) there is no answer.
    let err = try_call(&agent(), "GET", &url, &[], b"").unwrap_err();
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
    let clear = url.replace("https://", "http://");
    assert_eq!(call(&agent(), "GET", &clear, &[], b"").status, 400);
}

#[test]
fn front_forwards_logs_and_injects_faults_once() {
    let registry = DockerRegistry::start();
    let front = Front::start(&registry.host(), FrontOptions::default());
    let agent = agent();
    let base = front.url();

    // Forwarded, and the registry's Locations point back at the front.
    let d = push_blob(&agent, &base, "lib/app", &[], b"layer bytes");
    let log = front.requests();
    let methods: Vec<_> = log.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["POST", "PUT"], "{log:?}");
    assert_eq!(log[0].path, "/v2/lib/app/blobs/uploads/");
    assert_eq!(
        log[1]
            .query
            .split('&')
            .filter(|p| p.starts_with("digest="))
            .count(),
        1
    );
    assert_eq!(log[1].body_len, 11);
    assert_eq!(
        log[1].header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(log[1].authorization, None);
    let get = call(
        &agent,
        "GET",
        &format!("{base}/v2/lib/app/blobs/{d}"),
        &[],
        b"",
    );
    assert_eq!(
        (get.status, get.body.as_slice()),
        (200, &b"layer bytes"[..])
    );
    // Without the option, referrers go to the registry, which lacks them.
    let referrers = call(
        &agent,
        "GET",
        &format!("{base}/v2/lib/app/referrers/{d}"),
        &[],
        b"",
    );
    assert_eq!(referrers.status, 404);

    front.clear();
    assert!(front.requests().is_empty());

    // A status fault applies once, to the first matching request.
    front.inject("GET", "/v2/", Fault::Status(500));
    front.inject(
        "GET",
        "/v2/",
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    let url = format!("{base}/v2/");
    let first = call(&agent, "GET", &url, &[], b"");
    assert_eq!(first.status, 500);
    assert_eq!(first.json()["errors"][0]["code"], "UNKNOWN");
    let second = call(&agent, "GET", &url, &[], b"");
    assert_eq!(
        (second.status, second.header("retry-after")),
        (429, Some("7"))
    );
    assert_eq!(call(&agent, "GET", &url, &[], b"").status, 200);
    assert_eq!(front.requests().len(), 3);

    // A cut closes the connection without an answer after that much body;
    // the registry has seen only part of the upload, which goes on.
    let start = call(
        &agent,
        "POST",
        &format!("{base}/v2/lib/app/blobs/uploads/"),
        &[],
        b"",
    );
    let location = start.header("location").unwrap().to_string();
    front.inject(
        "PATCH",
        "/blobs/uploads/",
        Fault::CutAfter { body_bytes: 3 },
    );
    let cut = try_call(
        &agent,
        "PATCH",
        &location,
        &[("Content-Type", "application/octet-stream")],
        &[b'x'; 100_000],
    );
    assert!(cut.is_err(), "{cut:?}");
    let logged = front.requests().pop().unwrap();
    assert_eq!((logged.method.as_str(), logged.body_len), ("PATCH", 3));
    let status = call(&agent, "GET", &location, &[], b"");
    assert_eq!((status.status, status.header("range")), (204, Some("0-0")));
    let patch = call(
        &agent,
        "PATCH",
        &location,
        &[("Content-Type", "application/octet-stream")],
        b"abc",
    );
    assert_eq!((patch.status, patch.header("range")), (202, Some("0-2")));

    // Keep-alive, a chunked request body, and HEAD, on one raw connection.
    let mut conn = BufReader::new(TcpStream::connect(front.host()).unwrap());
    let host = front.host();
    let (status, _, body) = raw_exchange(
        &mut conn,
        &format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    );
    assert_eq!(
        (status.as_str(), body.as_slice()),
        ("HTTP/1.1 200 OK", &b"{}"[..])
    );
    let (status, headers, _) = raw_exchange(
        &mut conn,
        &format!(
            "POST /v2/lib/app/blobs/uploads/ HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
        ),
    );
    assert_eq!(status, "HTTP/1.1 202 Accepted");
    let location = headers
        .iter()
        .find_map(|h| h.strip_prefix("Location: "))
        .unwrap()
        .to_string();
    let path = location.strip_prefix(&base).unwrap();
    let chunked = digest(b"hello, chunked");
    let (status, _, _) = raw_exchange(
        &mut conn,
        &format!(
            "PUT {path}&digest={chunked} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n\
             7\r\nhello, \r\n7\r\nchunked\r\n0\r\n\r\n"
        ),
    );
    assert_eq!(status, "HTTP/1.1 201 Created");
    let (status, headers, _) = raw_exchange(
        &mut conn,
        &format!("HEAD /v2/lib/app/blobs/{chunked} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers.iter().any(|h| h == "Content-Length: 14"),
        "{headers:?}"
    );
    assert_eq!(front.requests().last().unwrap().method, "HEAD");
}

#[test]
fn front_token_service_grants_exactly_the_scopes_asked() {
    let registry = DockerRegistry::start();
    let front = Front::start(
        &registry.host(),
        FrontOptions {
            bearer: Some(("bob".into(), "hunter2".into())),
            referrers_api: false,
        },
    );
    let agent = agent();
    let base = front.url();
    let host = front.host();
    let realm = format!("Bearer realm=\"http://{host}/token\",service=\"bulwark-test\"");

    let v2 = call(&agent, "GET", &format!("{base}/v2/"), &[], b"");
    assert_eq!(v2.status, 401);
    assert_eq!(v2.header("www-authenticate"), Some(realm.as_str()));
    let pull = call(
        &agent,
        "GET",
        &format!("{base}/v2/a/manifests/latest"),
        &[],
        b"",
    );
    assert_eq!(
        pull.header("www-authenticate").unwrap(),
        format!("{realm},scope=\"repository:a:pull\"")
    );
    let post = call(
        &agent,
        "POST",
        &format!("{base}/v2/a/blobs/uploads/"),
        &[],
        b"",
    );
    assert_eq!(
        post.header("www-authenticate").unwrap(),
        format!("{realm},scope=\"repository:a:pull,push\"")
    );

    let token_url = format!("{base}/token?service=bulwark-test&scope=repository%3Aa%3Apull%2Cpush");
    assert_eq!(call(&agent, "GET", &token_url, &[], b"").status, 401);
    let wrong = basic("bob", "nope");
    assert_eq!(
        call(&agent, "GET", &token_url, &[("Authorization", &wrong)], b"").status,
        401
    );
    let right = basic("bob", "hunter2");
    let answer = call(&agent, "GET", &token_url, &[("Authorization", &right)], b"");
    assert_eq!(answer.status, 200, "{answer:?}");
    let json = answer.json();
    assert_eq!(json["token"], json["access_token"]);
    assert_eq!(json["expires_in"], 300);
    assert_eq!(front.token_scopes(), ["repository:a:pull,push"]);
    let bearer = format!("Bearer {}", json["token"].as_str().unwrap());
    let auth = [("Authorization", bearer.as_str())];

    assert_eq!(
        call(&agent, "GET", &format!("{base}/v2/"), &auth, b"").status,
        200
    );
    let d = push_blob(&agent, &base, "a", &auth, b"granted");
    let head = call(
        &agent,
        "HEAD",
        &format!("{base}/v2/a/blobs/{d}"),
        &auth,
        b"",
    );
    assert_eq!(head.status, 200);

    // Another repository is not granted, nor a mount from it.
    let other = call(
        &agent,
        "HEAD",
        &format!("{base}/v2/b/blobs/{d}"),
        &auth,
        b"",
    );
    assert_eq!(other.status, 401);
    assert_eq!(
        other.header("www-authenticate").unwrap(),
        format!("{realm},scope=\"repository:b:pull\",error=\"insufficient_scope\"")
    );
    let mount = call(
        &agent,
        "POST",
        &format!("{base}/v2/a/blobs/uploads/?mount={d}&from=b"),
        &auth,
        b"",
    );
    assert_eq!(mount.status, 401);
    assert_eq!(
        mount.header("www-authenticate").unwrap(),
        format!(
            "{realm},scope=\"repository:a:pull,push repository:b:pull\",error=\"insufficient_scope\""
        )
    );

    // One request may ask several scopes (repeated or space-separated).
    let both = format!("{base}/token?service=bulwark-test&scope=repository:a:pull,push&scope=repository:b:pull+repository:c:pull");
    let json = call(&agent, "GET", &both, &[("Authorization", &right)], b"").json();
    let bearer2 = format!("Bearer {}", json["token"].as_str().unwrap());
    let auth2 = [("Authorization", bearer2.as_str())];
    let mount = call(
        &agent,
        "POST",
        &format!("{base}/v2/a/blobs/uploads/?mount={d}&from=b"),
        &auth2,
        b"",
    );
    // Granted; the registry has no such blob in `b`, so it starts an upload.
    assert_eq!(mount.status, 202, "{mount:?}");
    assert_eq!(
        front.token_scopes(),
        [
            "repository:a:pull,push",
            "repository:a:pull,push",
            "repository:b:pull",
            "repository:c:pull"
        ]
    );

    // The log keeps the token requests and the Authorization sent.
    let log = front.requests();
    assert!(log
        .iter()
        .any(|r| r.path == "/token" && r.authorization.as_deref() == Some(right.as_str())));
    assert_eq!(
        log.last().unwrap().authorization.as_deref(),
        Some(bearer2.as_str())
    );

    front.revoke_tokens();
    let revoked = call(&agent, "GET", &format!("{base}/v2/"), &auth, b"");
    assert_eq!(revoked.status, 401);
    assert!(revoked
        .header("www-authenticate")
        .unwrap()
        .ends_with(",error=\"invalid_token\""));
}

#[test]
fn front_referrers_api_lists_manifests_pushed_with_a_subject() {
    let registry = DockerRegistry::start();
    let front = Front::start(
        &registry.host(),
        FrontOptions {
            bearer: None,
            referrers_api: true,
        },
    );
    let agent = agent();
    let base = front.url();

    let empty = push_blob(&agent, &base, "app", &[], b"{}");
    let layer = push_blob(&agent, &base, "app", &[], b"a layer");
    let image = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 7}],
    });
    let (put, subject) = push_manifest(&agent, &base, "app", "v1", &[], &image);
    assert_eq!(put.header("oci-subject"), None);
    let image_size = serde_json::to_vec(&image).unwrap().len();

    let sbom = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 7}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": image_size},
        "annotations": {"org.opencontainers.image.created": "2023-11-14T22:13:20Z"},
    });
    let (put, sbom_digest) = push_manifest(&agent, &base, "app", "sha256-sbom", &[], &sbom);
    assert_eq!(put.header("oci-subject"), Some(subject.as_str()));
    let sig = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.example.signature.config", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": 7}],
        "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": image_size},
    });
    let (_, sig_digest) = push_manifest(&agent, &base, "app", "sig", &[], &sig);

    let url = format!("{base}/v2/app/referrers/{subject}");
    let all = call(&agent, "GET", &url, &[], b"");
    assert_eq!(all.status, 200);
    assert_eq!(
        all.header("content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
    assert_eq!(all.header("oci-filters-applied"), None);
    let index = all.json();
    assert_eq!(index["schemaVersion"], 2);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2, "{index}");
    assert_eq!(manifests[0]["digest"], sbom_digest.as_str());
    assert_eq!(manifests[0]["artifactType"], "application/spdx+json");
    assert_eq!(
        manifests[0]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifests[0]["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(manifests[1]["digest"], sig_digest.as_str());
    assert_eq!(
        manifests[1]["artifactType"],
        "application/vnd.example.signature.config"
    );

    let filtered = call(
        &agent,
        "GET",
        &format!("{url}?artifactType=application%2Fspdx%2Bjson"),
        &[],
        b"",
    );
    assert_eq!(filtered.header("oci-filters-applied"), Some("artifactType"));
    let manifests = filtered.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], sbom_digest.as_str());

    // Another repository, or a digest without referrers: an empty index.
    let none = call(
        &agent,
        "GET",
        &format!("{base}/v2/other/referrers/{subject}"),
        &[],
        b"",
    );
    assert_eq!(none.status, 200);
    assert_eq!(none.json()["manifests"], serde_json::json!([]));

    // The manifests themselves went to the registry.
    let get = call(
        &agent,
        "GET",
        &format!("{base}/v2/app/manifests/{sbom_digest}"),
        &[("Accept", "application/vnd.oci.image.manifest.v1+json")],
        b"",
    );
    assert_eq!(get.status, 200, "{get:?}");
    assert_eq!(digest(&get.body), sbom_digest);

    // Deleting a referrer drops it from the list.
    let delete = call(
        &agent,
        "DELETE",
        &format!("{base}/v2/app/manifests/{sig_digest}"),
        &[],
        b"",
    );
    assert_eq!(delete.status, 202, "{delete:?}");
    let after = call(&agent, "GET", &url, &[], b"").json();
    assert_eq!(after["manifests"].as_array().unwrap().len(), 1);
}
