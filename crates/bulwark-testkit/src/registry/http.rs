//! A minimal HTTP/1.1 message reader for [`super::Front`]: start line,
//! headers, and bodies framed by `Content-Length`, `Transfer-Encoding:
//! chunked` or the end of the connection. Test-only: it trusts its peers
//! and bounds only the size of a message head.

use std::io::{self, BufRead, Read, Write};

/// The largest message head (start line and headers) accepted.
const HEAD_LIMIT: usize = 1 << 20;

/// A message head: the start line and the headers, in order, as sent.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    pub(crate) start: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether some header `name` lists `token` (comma-separated,
    /// case-insensitive).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Reads a message head; `Ok(None)` when the peer closed the connection
/// (or sent only blank lines) before a start line.
pub(crate) fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut total = 0;
    let mut start = String::new();
    // RFC 9112 §2.2: ignore empty lines before the start line.
    while start.trim_end_matches(['\r', '\n']).is_empty() {
        start.clear();
        let n = r.read_line(&mut start)?;
        if n == 0 {
            return Ok(None);
        }
        total += n;
        if total > HEAD_LIMIT {
            return Err(invalid("message head too large"));
        }
    }
    let start = start.trim_end_matches(['\r', '\n']).to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a message head",
            ));
        }
        total += n;
        if total > HEAD_LIMIT {
            return Err(invalid("message head too large"));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(invalid("header line without a colon"));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Some(Head { start, headers }))
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

/// The framing of a request body: chunked, a `Content-Length`, or none.
pub(crate) fn request_framing(head: &Head) -> io::Result<Framing> {
    declared_framing(head, Framing::Empty)
}

/// Chunked, or the `Content-Length`, or `absent` without either.
fn declared_framing(head: &Head, absent: Framing) -> io::Result<Framing> {
    if head.has_token("Transfer-Encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    match head.get("Content-Length") {
        Some(v) => match v.trim().parse::<u64>() {
            Ok(0) => Ok(Framing::Empty),
            Ok(n) => Ok(Framing::Length(n)),
            Err(_) => Err(invalid("bad Content-Length")),
        },
        None => Ok(absent),
    }
}

/// The framing of a response body to a `method` request.
pub(crate) fn response_framing(method: &str, status: u16, head: &Head) -> io::Result<Framing> {
    if method.eq_ignore_ascii_case("HEAD") || status < 200 || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    declared_framing(head, Framing::Close)
}

/// A reader of the body that `framing` delimits in `r`.
pub(crate) fn body<'a, R: BufRead>(r: &'a mut R, framing: Framing) -> Box<dyn Read + 'a> {
    match framing {
        Framing::Empty => Box::new(io::empty()),
        Framing::Length(n) => Box::new(r.take(n)),
        Framing::Chunked => Box::new(Chunked {
            inner: r,
            remaining: 0,
            done: false,
        }),
        Framing::Close => Box::new(r),
    }
}

/// Copies all of `from` to `to`; returns the number of bytes copied.
pub(crate) fn copy(from: &mut dyn Read, to: &mut dyn Write) -> io::Result<u64> {
    io::copy(from, to)
}

/// Decodes a chunked body, stopping after the last chunk and trailers.
struct Chunked<'a, R> {
    inner: &'a mut R,
    remaining: u64,
    done: bool,
}

impl<R: BufRead> Chunked<'_, R> {
    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.inner.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a chunked body",
            ));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

impl<R: BufRead> Read for Chunked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to an empty line.
                while !self.line()?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
            self.remaining = size;
        }
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a chunk",
            ));
        }
        self.remaining -= n as u64;
        if self.remaining == 0 && !self.line()?.is_empty() {
            return Err(invalid("chunk not followed by CRLF"));
        }
        Ok(n)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// The usual reason phrase of `status`.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_heads_and_bodies() {
        let raw = b"\r\nPUT /x?y HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                    3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let mut r = io::BufReader::new(&raw[..]);
        let head = read_head(&mut r).unwrap().unwrap();
        assert_eq!(head.start, "PUT /x?y HTTP/1.1");
        assert_eq!(head.get("host"), Some("h"));
        assert_eq!(request_framing(&head).unwrap(), Framing::Chunked);
        let mut out = Vec::new();
        copy(&mut body(&mut r, Framing::Chunked), &mut out).unwrap();
        assert_eq!(out, b"abcde");
        let next = read_head(&mut r).unwrap().unwrap();
        assert_eq!(next.start, "GET / HTTP/1.1");
        assert_eq!(request_framing(&next).unwrap(), Framing::Empty);
        assert!(read_head(&mut r).unwrap().is_none());
    }

    #[test]
    fn truncated_chunked_body_is_an_error() {
        let mut r = io::BufReader::new(&b"5\r\nab"[..]);
        let mut out = Vec::new();
        assert!(copy(&mut body(&mut r, Framing::Chunked), &mut out).is_err());
    }
}
