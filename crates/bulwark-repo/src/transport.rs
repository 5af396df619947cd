//! Reading `http://`, `https://` and `file://` URLs.
//!
//! One [`Transport`] (an HTTP agent with a connection pool) is shared by the
//! repository client and the package downloader.

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Why a URL could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot fetch `{url}`: {reason}")]
pub struct TransportError {
    /// The URL.
    pub url: String,
    /// What went wrong.
    pub reason: String,
    /// The server answered 404 or 410, or the local file does not exist.
    pub not_found: bool,
    /// Retrying may help (timeouts, resets, 5xx answers).
    pub transient: bool,
}

/// An open response body.
pub struct Response {
    /// The body.
    pub reader: Box<dyn Read + Send>,
    /// The announced length, when known.
    pub length: Option<u64>,
}

/// Fetches URLs over HTTP(S) or from the local filesystem.
#[derive(Clone, Debug)]
pub struct Transport {
    agent: ureq::Agent,
}

impl Default for Transport {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport {
    /// A transport with bulwark's timeouts (connect 20 s, response 60 s, each
    /// read 60 s), proxies from the environment, and the user agent
    /// `bulwark/VERSION`.
    pub fn new() -> Transport {
        let config = ureq::Agent::config_builder()
            .user_agent(concat!("bulwark/", env!("CARGO_PKG_VERSION")))
            .timeout_resolve(Some(Duration::from_secs(20)))
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_send_request(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .max_idle_connections_per_host(16)
            .build();
        Transport {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// A process-wide transport, so that connections are reused.
    pub fn shared() -> &'static Transport {
        static SHARED: OnceLock<Transport> = OnceLock::new();
        SHARED.get_or_init(Transport::new)
    }

    /// Opens `url` for reading.
    pub fn open(&self, url: &str) -> Result<Response, TransportError> {
        if let Some(path) = file_url_path(url) {
            let file = std::fs::File::open(&path).map_err(|e| TransportError {
                url: url.to_string(),
                not_found: e.kind() == std::io::ErrorKind::NotFound,
                reason: e.to_string(),
                transient: false,
            })?;
            let length = file.metadata().ok().map(|m| m.len());
            return Ok(Response {
                reader: Box::new(file),
                length,
            });
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(TransportError {
                url: url.to_string(),
                reason: "only http, https and file URLs are supported".into(),
                not_found: false,
                transient: false,
            });
        }
        let response = self.agent.get(url).call().map_err(|e| {
            let (not_found, transient) = classify(&e);
            TransportError {
                url: url.to_string(),
                reason: e.to_string(),
                not_found,
                transient,
            }
        })?;
        let length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let reader = response.into_body().into_reader();
        Ok(Response {
            reader: Box::new(reader),
            length,
        })
    }

    /// Reads all of `url`, refusing more than `limit` bytes.
    pub fn get_bytes(&self, url: &str, limit: u64) -> Result<Vec<u8>, TransportError> {
        let response = self.open(url)?;
        let mut data = Vec::new();
        response
            .reader
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| TransportError {
                url: url.to_string(),
                reason: e.to_string(),
                not_found: false,
                transient: true,
            })?;
        if data.len() as u64 > limit {
            return Err(TransportError {
                url: url.to_string(),
                reason: format!("larger than the {limit}-byte limit"),
                not_found: false,
                transient: false,
            });
        }
        Ok(data)
    }
}

/// The local path of a `file:` URL (`file:///p` or `file:/p`), percent
/// escapes decoded.
pub fn file_url_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("file:")?;
    let rest = rest.strip_prefix("//localhost").unwrap_or(rest);
    let rest = if rest.starts_with("///") {
        &rest[2..]
    } else if let Some(r) = rest.strip_prefix("//") {
        // `file://host/...` with a host is not local.
        if !r.starts_with('/') {
            return None;
        }
        r
    } else {
        rest
    };
    Some(PathBuf::from(percent_decode(rest)))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn classify(e: &ureq::Error) -> (bool, bool) {
    match e {
        ureq::Error::StatusCode(code) => (
            matches!(code, 404 | 410),
            matches!(code, 408 | 429) || *code >= 500,
        ),
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_) => (false, true),
        _ => (false, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls() {
        assert_eq!(
            file_url_path("file:///srv/a%20b"),
            Some(PathBuf::from("/srv/a b"))
        );
        assert_eq!(file_url_path("file:/srv/x"), Some(PathBuf::from("/srv/x")));
        assert_eq!(
            file_url_path("file://localhost/srv/x"),
            Some(PathBuf::from("/srv/x"))
        );
        assert_eq!(file_url_path("file://host/srv/x"), None);
        assert_eq!(file_url_path("http://x/y"), None);
    }

    #[test]
    fn missing_file_is_not_found() {
        let e = Transport::new()
            .open("file:///nonexistent/bulwark")
            .err()
            .unwrap();
        assert!(e.not_found && !e.transient);
        assert!(
            e.to_string().contains("`file:///nonexistent/bulwark`"),
            "{e}"
        );
    }
}
