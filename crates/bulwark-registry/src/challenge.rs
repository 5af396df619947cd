//! `WWW-Authenticate` challenges (RFC 7235) and the token endpoint of
//! registry Bearer authentication: [`parse`] finds the first usable Basic
//! or Bearer challenge in a header value, [`token_url`] builds the URL a
//! token is asked for, and [`parse_token_response`] reads the answer.
//!
//! A registry is not trusted here: a Bearer realm must be an `http` or
//! `https` URL (so a registry cannot make the client fetch a `file:` URL),
//! and a token must be fit for an HTTP header.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What is percent-encoded in a query parameter's value: everything but
/// RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A challenge the client can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Basic authentication: send the credentials with every request.
    Basic {
        /// The protection space, if named.
        realm: Option<String>,
    },
    /// Bearer authentication: get a token from `realm`, then send it.
    Bearer {
        /// The token endpoint, an `http` or `https` URL.
        realm: String,
        /// The `service` to name to the token endpoint.
        service: Option<String>,
        /// The scope(s) the request needs, as given (several are separated
        /// by spaces: `repository:a:pull repository:b:pull`).
        scope: Option<String>,
    },
}

/// The first Basic or Bearer challenge in the `WWW-Authenticate` header
/// value `header` that can be used, if any. Scheme and parameter names are
/// matched ignoring case; parameter values may be tokens or quoted strings.
/// A challenge that cannot be parsed, of another scheme, or a Bearer one
/// without a realm or whose realm is not an `http(s)` URL is skipped.
pub fn parse(header: &str) -> Option<Challenge> {
    challenges(header).into_iter().find_map(usable)
}

/// The token endpoint URL: `realm` with `service` and each scope appended
/// as `service=` and `scope=` query parameters (percent-encoded), keeping
/// a query `realm` already has and dropping a fragment. Each element of
/// `scopes` may hold several space-separated scopes, as a challenge's
/// `scope` does; each becomes its own `scope=` parameter, as the
/// distribution token protocol asks. Empty values are left out.
pub fn token_url(realm: &str, service: Option<&str>, scopes: &[String]) -> String {
    let base = realm.split('#').next().unwrap_or(realm);
    let mut url = base.to_owned();
    let mut separator = if !base.contains('?') {
        Some('?')
    } else if base.ends_with(['?', '&']) {
        None
    } else {
        Some('&')
    };
    let mut push = |name: &str, value: &str| {
        if let Some(separator) = separator {
            url.push(separator);
        }
        separator = Some('&');
        url.push_str(name);
        url.push('=');
        url.extend(utf8_percent_encode(value, QUERY_VALUE));
    };
    if let Some(service) = service.filter(|s| !s.is_empty()) {
        push("service", service);
    }
    for scope in scopes.iter().flat_map(|s| s.split_ascii_whitespace()) {
        push("scope", scope);
    }
    url
}

/// A token endpoint's answer.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The token, for `Authorization: Bearer <token>`.
    pub token: String,
    /// How many seconds the token is valid for, if said.
    pub expires_in: Option<u64>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &"***")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Reads a token endpoint's JSON answer: `token` or `access_token` (the
/// first non-empty one of them, `token` first), and `expires_in` when it
/// is a non-negative integer (otherwise ignored). A token must be visible
/// ASCII, fit for an HTTP header. The error never holds the body's
/// content.
pub fn parse_token_response(body: &[u8]) -> Result<TokenResponse, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|err| {
        format!(
            "the token endpoint's answer is not JSON (error at line {} column {})",
            err.line(),
            err.column()
        )
    })?;
    let object = value
        .as_object()
        .ok_or("the token endpoint's answer is not a JSON object")?;
    let field = |name: &str| match object.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!(
            "the token endpoint's answer has a `{name}` that is not a string"
        )),
    };
    let token = match field("token")? {
        Some(token) => token,
        None => field("access_token")?
            .ok_or("the token endpoint's answer has neither `token` nor `access_token`")?,
    };
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "the token endpoint's token holds characters not allowed in an HTTP header".into(),
        );
    }
    let expires_in = object.get("expires_in").and_then(serde_json::Value::as_u64);
    Ok(TokenResponse {
        token: token.clone(),
        expires_in,
    })
}

/// A challenge as parsed: its scheme, and its parameters with lower-case
/// names.
#[derive(Debug, PartialEq)]
struct Raw {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Raw {
    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.params.iter().position(|(n, _)| n == name)?;
        Some(self.params.swap_remove(at).1)
    }
}

/// The challenge `raw` as one the client can answer, if it is one.
fn usable(mut raw: Raw) -> Option<Challenge> {
    if raw.scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic {
            realm: raw.take("realm"),
        })
    } else if raw.scheme.eq_ignore_ascii_case("bearer") {
        let realm = raw.take("realm").filter(|realm| is_http_url(realm))?;
        Some(Challenge::Bearer {
            realm,
            service: raw.take("service"),
            scope: raw.take("scope"),
        })
    } else {
        None
    }
}

/// Whether `url` is an absolute `http` or `https` URL with a host, made of
/// visible ASCII only.
fn is_http_url(url: &str) -> bool {
    let strip = |prefix: &str| {
        url.get(..prefix.len())
            .filter(|start| start.eq_ignore_ascii_case(prefix))
            .map(|_| &url[prefix.len()..])
    };
    let Some(rest) = strip("https://").or_else(|| strip("http://")) else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if host_port.starts_with('[') {
        host_port.split_once(']').map_or("", |(host, _)| host)
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    !host.is_empty() && url.bytes().all(|b| b.is_ascii_graphic())
}

/// Every challenge of `header` that parses, in order. One that does not is
/// skipped up to the next comma outside a quoted string.
fn challenges(header: &str) -> Vec<Raw> {
    let mut cursor = Cursor {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        cursor.skip_list_separators();
        if cursor.at_end() {
            return out;
        }
        match cursor.challenge() {
            Some(raw) => out.push(raw),
            None => cursor.skip_item(),
        }
    }
}

/// A position in a header value.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

/// RFC 9110's `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110's `token68` characters, but for the trailing `=`.
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    /// Whether the current list item ends here (at a comma or the end).
    fn at_item_end(&self) -> bool {
        matches!(self.peek(), None | Some(b','))
    }

    /// Skips spaces and tabs; whether there were any.
    fn skip_ws(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    /// Skips whitespace and commas (empty list elements are allowed).
    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    /// The token here (possibly empty).
    fn token(&mut self) -> String {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        // Token characters are ASCII.
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// An unquoted parameter value here (possibly empty): a token, but
    /// leniently any visible ASCII but `,` and `"`, since some servers send
    /// a URL unquoted.
    fn bare_value(&mut self) -> String {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|b| b.is_ascii_graphic() && b != b',' && b != b'"')
        {
            self.i += 1;
        }
        // Visible ASCII only.
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    /// Consumes a `token68` here if one stands alone as the item; leaves
    /// the position unchanged otherwise.
    fn token68(&mut self) -> bool {
        let start = self.i;
        while self.peek().is_some_and(is_token68_char) {
            self.i += 1;
        }
        if self.i == start {
            return false;
        }
        while self.peek() == Some(b'=') {
            self.i += 1;
        }
        self.skip_ws();
        if self.at_item_end() {
            true
        } else {
            self.i = start;
            false
        }
    }

    /// The quoted string here (at its `"`), unescaped.
    fn quoted(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let escaped = self
                        .peek()
                        .filter(|&b| is_qdtext(b) || b == b'"' || b == b'\\')?;
                    out.push(escaped);
                    self.i += 1;
                }
                b if is_qdtext(b) => out.push(b),
                _ => return None,
            }
        }
    }

    /// Parses one challenge; `None` when it is malformed (the position is
    /// then somewhere inside it).
    fn challenge(&mut self) -> Option<Raw> {
        let scheme = self.token();
        if scheme.is_empty() {
            return None;
        }
        let mut raw = Raw {
            scheme,
            params: Vec::new(),
        };
        let spaced = self.skip_ws();
        if self.at_item_end() {
            return Some(raw);
        }
        if !spaced {
            return None;
        }
        if self.token68() {
            return Some(raw);
        }
        loop {
            let start = self.i;
            let name = self.token();
            if name.is_empty() {
                return None;
            }
            self.skip_ws();
            if self.peek() != Some(b'=') {
                // Not a parameter: the next challenge starts here, which it
                // may only do after a comma.
                if raw.params.is_empty() {
                    return None;
                }
                self.i = start;
                return Some(raw);
            }
            self.i += 1;
            self.skip_ws();
            let value = if self.peek() == Some(b'"') {
                self.quoted()?
            } else {
                let value = self.bare_value();
                if value.is_empty() {
                    return None;
                }
                value
            };
            let name = name.to_ascii_lowercase();
            // RFC 7235: a parameter name occurs once per challenge; one
            // that repeats is ambiguous.
            if raw.params.iter().any(|(n, _)| *n == name) {
                return None;
            }
            raw.params.push((name, value));
            self.skip_ws();
            match self.peek() {
                None => return Some(raw),
                Some(b',') => {
                    self.skip_list_separators();
                    if self.at_end() {
                        return Some(raw);
                    }
                }
                Some(_) => return None,
            }
        }
    }

    /// Skips to the next comma outside a quoted string (or the end).
    fn skip_item(&mut self) {
        let mut quoted = false;
        while let Some(b) = self.peek() {
            match b {
                b'"' => quoted = !quoted,
                b'\\' if quoted => self.i += 1,
                b',' if !quoted => return,
                _ => {}
            }
            self.i += 1;
        }
    }
}

/// RFC 9110's `qdtext`, plus the bytes of non-ASCII UTF-8 characters.
fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>, scope: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
            scope: scope.map(Into::into),
        }
    }

    #[test]
    fn docker_hub_challenge() {
        assert_eq!(
            parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull""#
            ),
            Some(bearer(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                Some("repository:library/debian:pull")
            ))
        );
    }

    #[test]
    fn basic_challenges() {
        assert_eq!(
            parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic {
                realm: Some("Registry Realm".into())
            })
        );
        assert_eq!(parse("Basic"), Some(Challenge::Basic { realm: None }));
        assert_eq!(parse("  basic  "), Some(Challenge::Basic { realm: None }));
        assert_eq!(
            parse(r#"BASIC REALM=simple, charset="UTF-8""#),
            Some(Challenge::Basic {
                realm: Some("simple".into())
            })
        );
        // token68 form.
        assert_eq!(
            parse("Basic dXNlcjpwYXNz=="),
            Some(Challenge::Basic { realm: None })
        );
    }

    #[test]
    fn names_ignore_case_and_values_may_be_tokens() {
        assert_eq!(
            parse("bEaReR Realm=http://127.0.0.1:5000/token , SERVICE=reg"),
            Some(bearer("http://127.0.0.1:5000/token", Some("reg"), None))
        );
        assert_eq!(
            parse("Bearer realm = \"https://a/t\"\t,scope=\"x\""),
            Some(bearer("https://a/t", None, Some("x")))
        );
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(
            parse(
                r#"Bearer realm="https://a/t?x=1,2",service="a, \"b\" \\ c",scope="repository:a:pull repository:b:pull""#
            ),
            Some(bearer(
                "https://a/t?x=1,2",
                Some(r#"a, "b" \ c"#),
                Some("repository:a:pull repository:b:pull")
            ))
        );
        assert_eq!(
            parse("Basic realm=\"caf\u{e9} \\x\""),
            Some(Challenge::Basic {
                realm: Some("caf\u{e9} x".into())
            })
        );
        // Unterminated, or with a control character: unusable.
        assert_eq!(parse(r#"Bearer realm="https://a/t"#), None);
        assert_eq!(parse("Bearer realm=\"https://a/\nt\""), None);
    }

    #[test]
    fn several_challenges() {
        // RFC 7235's example.
        let header =
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#;
        assert_eq!(
            challenges(header),
            vec![
                Raw {
                    scheme: "Newauth".into(),
                    params: vec![
                        ("realm".into(), "apps".into()),
                        ("type".into(), "1".into()),
                        ("title".into(), r#"Login to "apps""#.into()),
                    ],
                },
                Raw {
                    scheme: "Basic".into(),
                    params: vec![("realm".into(), "simple".into())],
                },
            ]
        );
        assert_eq!(
            parse(header),
            Some(Challenge::Basic {
                realm: Some("simple".into())
            })
        );
        // The first usable one wins.
        assert_eq!(
            parse(r#"Basic realm="b", Bearer realm="https://a/t""#),
            Some(Challenge::Basic {
                realm: Some("b".into())
            })
        );
        assert_eq!(
            parse(r#"Negotiate, Bearer realm="https://a/t",service=s, Basic"#),
            Some(bearer("https://a/t", Some("s"), None))
        );
        assert_eq!(
            parse(r#"Negotiate abc==, , Bearer realm="https://a/t""#),
            Some(bearer("https://a/t", None, None))
        );
        // An unusable Bearer is skipped.
        assert_eq!(
            parse(r#"Bearer service=s, Basic realm="b""#),
            Some(Challenge::Basic {
                realm: Some("b".into())
            })
        );
    }

    #[test]
    fn malformed_challenges_are_skipped() {
        assert_eq!(
            parse(r#"Foo bar baz, x="a,b", Bearer realm="https://a/t""#),
            Some(bearer("https://a/t", None, None))
        );
        assert_eq!(
            parse(r#"Bearer"https://a/t", Basic"#),
            Some(Challenge::Basic { realm: None })
        );
        // A repeated parameter makes the challenge ambiguous.
        assert_eq!(
            parse(r#"Bearer realm="https://a/t", Realm="https://b/t""#),
            None
        );
        assert_eq!(parse(r#"Bearer realm="#), None);
        assert_eq!(parse(r#"Bearer realm=https://a/t junk"#), None);
        for header in ["", " , ,", "=", "\"", "Bearer =x", "Bearer realm=\"\\"] {
            assert_eq!(parse(header), None, "{header:?}");
        }
    }

    #[test]
    fn bearer_needs_an_http_realm() {
        assert_eq!(parse("Bearer"), None);
        assert_eq!(parse(r#"Bearer service="s",scope="x""#), None);
        for realm in [
            "file:///etc/passwd",
            "ftp://a/t",
            "https://",
            "https:///x",
            "http://:80/x",
            "https://user@/x",
            "//a/t",
            "/token",
            "https://a/t t",
            "https://a/\u{e9}",
            "httpsx://a",
        ] {
            let header = format!("Bearer realm=\"{realm}\"");
            assert_eq!(parse(&header), None, "{realm}");
        }
        for realm in ["HTTPS://a/t", "http://[::1]:8080/t", "https://u@a:1/t?x=y"] {
            let header = format!("Bearer realm=\"{realm}\"");
            assert_eq!(parse(&header), Some(bearer(realm, None, None)), "{realm}");
        }
    }

    #[test]
    fn token_urls() {
        let scopes = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            token_url(
                "https://auth.docker.io/token",
                Some("registry.docker.io"),
                &scopes(&["repository:library/debian:pull"])
            ),
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fdebian%3Apull"
        );
        assert_eq!(
            token_url(
                "https://a/t?tenant=x",
                Some("s p&c"),
                &scopes(&["repository:a:pull repository:b:pull,push", "", "  "])
            ),
            "https://a/t?tenant=x&service=s%20p%26c&scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apull%2Cpush"
        );
        assert_eq!(token_url("https://a/t", None, &[]), "https://a/t");
        assert_eq!(token_url("https://a/t", Some(""), &[]), "https://a/t");
        assert_eq!(
            token_url("https://a/t?", None, &scopes(&["x"])),
            "https://a/t?scope=x"
        );
        assert_eq!(
            token_url("https://a/t?a=1&", None, &scopes(&["x"])),
            "https://a/t?a=1&scope=x"
        );
        assert_eq!(
            token_url("https://a/t#frag", Some("s"), &[]),
            "https://a/t?service=s"
        );
        assert_eq!(
            token_url("https://a/t", Some("caf\u{e9}"), &[]),
            "https://a/t?service=caf%C3%A9"
        );
    }

    #[test]
    fn token_responses() {
        let ok = |body: &str| parse_token_response(body.as_bytes()).unwrap();
        assert_eq!(
            ok(
                r#"{"token":"abc","access_token":"def","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}"#
            ),
            TokenResponse {
                token: "abc".into(),
                expires_in: Some(300)
            }
        );
        assert_eq!(
            ok(r#"{"access_token":"def"}"#),
            TokenResponse {
                token: "def".into(),
                expires_in: None
            }
        );
        assert_eq!(ok(r#"{"token":"","access_token":"def"}"#).token, "def");
        assert_eq!(ok(r#"{"token":null,"access_token":"def"}"#).token, "def");
        assert_eq!(ok(r#"{"token":"a","expires_in":-5}"#).expires_in, None);
        assert_eq!(ok(r#"{"token":"a","expires_in":"60"}"#).expires_in, None);
        assert_eq!(ok(r#"{"token":"a","expires_in":1.5}"#).expires_in, None);
    }

    #[test]
    fn token_response_errors_hide_the_body() {
        for body in [
            r#"{"token": "s3cret"#,
            r#"["s3cret"]"#,
            r#"{"nothing": "s3cret"}"#,
            r#"{"token": "", "access_token": ""}"#,
            r#"{"token": ["s3cret"]}"#,
            r#"{"access_token": 5}"#,
            "{\"token\": \"s3cret\\r\\nX-Injected: 1\"}",
            r#"{"token": "s3cret with space"}"#,
            "",
            "s3cret",
        ] {
            let err = parse_token_response(body.as_bytes()).unwrap_err();
            assert!(!err.contains("s3cret"), "{body}: {err}");
        }
    }

    #[test]
    fn token_response_debug_hides_the_token() {
        let response = TokenResponse {
            token: "s3cret".into(),
            expires_in: Some(1),
        };
        assert_eq!(
            format!("{response:?}"),
            r#"TokenResponse { token: "***", expires_in: Some(1) }"#
        );
    }
}
