//! Hiding credentials in URLs before they are printed or recorded.

/// What a hidden credential is replaced with.
const HIDDEN: &str = "***";

/// The parts of a URL that can carry a secret.
struct Parts<'a> {
    /// `user:password` before the host, without the `@`.
    userinfo: Option<&'a str>,
    /// The query, without the `?` and the fragment.
    query: Option<&'a str>,
}

fn parts(url: &str) -> Parts<'_> {
    let (rest, start) = match url.find("://") {
        Some(i) => (&url[i + 3..], i + 3),
        None => (url, 0),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let userinfo = (start > 0)
        .then(|| rest[..authority_end].rfind('@'))
        .flatten()
        .map(|at| &rest[..at]);
    let query = url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(q));
    Parts { userinfo, query }
}

/// `url` with its credentials hidden, for messages and records: the
/// userinfo (`user:password@`) becomes `***@`, and the value of every query
/// parameter becomes `***` (a signed URL's signature, `?token=`…), since a
/// query parameter's name does not say reliably whether it is a secret.
/// Anything that is not a URL is returned unchanged.
///
/// ```
/// assert_eq!(
///     bulwark_http::redact_url("https://me:s3cret@host/feed.zip?token=abc&x"),
///     "https://***@host/feed.zip?token=***&***"
/// );
/// assert_eq!(bulwark_http::redact_url("http://host/a"), "http://host/a");
/// ```
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    let p = parts(url);
    if let Some(query) = p.query {
        let hidden: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) if !value.is_empty() => format!("{name}={HIDDEN}"),
                Some(_) => pair.to_string(),
                None if pair.is_empty() => String::new(),
                None => HIDDEN.to_string(),
            })
            .collect();
        let at = url.len() - url.split_once('?').map_or(0, |(_, q)| q.len());
        out.replace_range(at..at + query.len(), &hidden.join("&"));
    }
    if let Some(userinfo) = p.userinfo {
        let at = url.find("://").map_or(0, |i| i + 3);
        out.replace_range(at..at + userinfo.len(), HIDDEN);
    }
    out
}

/// `text` (an error message from below) with every secret of `url` hidden:
/// the URL itself, its userinfo and its query values, wherever they appear.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    let p = parts(url);
    let mut secrets: Vec<&str> = Vec::new();
    if let Some(userinfo) = p.userinfo {
        secrets.push(userinfo);
        secrets.extend(userinfo.split(':'));
    }
    if let Some(query) = p.query {
        secrets.extend(
            query
                .split('&')
                .map(|pair| pair.split_once('=').map_or(pair, |(_, v)| v)),
        );
    }
    // Longest first, so that `user:pw` goes before `user`; very short
    // values would also hide innocent text, and guess nothing.
    secrets.retain(|s| s.len() >= 3);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        out = out.replace(secret, HIDDEN);
    }
    out
}

/// The user name and password of `url`'s userinfo, percent-decoded, and
/// the URL without them.
pub(crate) fn split_credentials(url: &str) -> Option<(String, String, String)> {
    let userinfo = parts(url).userinfo?;
    let at = url.find("://")? + 3;
    let bare = format!("{}{}", &url[..at], &url[at + userinfo.len() + 1..]);
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Some((decode(user), decode(password), bare))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_and_query_values() {
        assert_eq!(
            redact_url("https://user:pa%40ss@host:8443/x?a=1&token=secret#frag"),
            "https://***@host:8443/x?a=***&token=***#frag"
        );
        assert_eq!(redact_url("https://tok@host/x"), "https://***@host/x");
        assert_eq!(redact_url("https://host/x@y"), "https://host/x@y");
        assert_eq!(redact_url("https://host/x?"), "https://host/x?");
        assert_eq!(
            redact_url("https://host/x?flag&k="),
            "https://host/x?***&k="
        );
        assert_eq!(redact_url("file:///srv/a"), "file:///srv/a");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn scrubs_secrets_from_messages() {
        let url = "https://alice:hunter22@host/f?sig=abcdef";
        let text = format!("failed {url}: alice:hunter22 rejected, sig abcdef");
        let scrubbed = scrub(&text, url);
        assert!(!scrubbed.contains("hunter22") && !scrubbed.contains("abcdef"));
        assert!(
            scrubbed.contains("https://***@host/f?sig=***"),
            "{scrubbed}"
        );
    }

    #[test]
    fn splits_credentials() {
        assert_eq!(
            split_credentials("https://u%3A1:p%40w@host/x"),
            Some(("u:1".into(), "p@w".into(), "https://host/x".into()))
        );
        assert_eq!(
            split_credentials("https://token@host/x"),
            Some(("token".into(), String::new(), "https://host/x".into()))
        );
        assert_eq!(split_credentials("https://host/x"), None);
    }
}
