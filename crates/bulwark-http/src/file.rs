//! `file://` URLs, served like a `GET` from the local filesystem.

use std::path::PathBuf;

/// The local path of a `file:` URL (`file:///p`, `file://localhost/p` or
/// `file:/p`), percent escapes decoded; `None` for other URLs and for a
/// `file://HOST/…` with another host.
///
/// ```
/// use std::path::PathBuf;
/// assert_eq!(
///     bulwark_http::file_url_path("file:///srv/a%20b"),
///     Some(PathBuf::from("/srv/a b"))
/// );
/// assert_eq!(bulwark_http::file_url_path("file://host/srv"), None);
/// ```
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
    let decoded = percent_encoding::percent_decode_str(rest).collect::<Vec<u8>>();
    Some(PathBuf::from(
        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(decoded),
    ))
}

/// Opens a local file for reading, refusing anything but a regular file
/// (a FIFO or a device would be read forever), and returns it with its
/// length.
pub(crate) fn open(path: &std::path::Path) -> std::io::Result<(std::fs::File, u64)> {
    let not_regular = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or directory is never read)",
        )
    };
    // Checked before opening too: opening a FIFO blocks until a writer comes.
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    Ok((file, meta.len()))
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
        assert_eq!(
            file_url_path("file:///srv/%ff"),
            Some(PathBuf::from(
                <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
                    b"/srv/\xff".to_vec()
                )
            ))
        );
        assert_eq!(file_url_path("file://host/srv/x"), None);
        assert_eq!(file_url_path("http://x/y"), None);
    }
}
