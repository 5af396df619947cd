//! Small helpers shared by the fixture builders.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `cmd`, panicking with the command line, its exit status and its
/// stderr if it cannot be started or fails. Returns its output.
pub(crate) fn run(cmd: &mut Command, what: &str) -> Output {
    let line = format!("{cmd:?}");
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("{what}: cannot run `{line}`: {e} (is the tool installed?)"),
    };
    if !out.status.success() {
        panic!(
            "{what}: `{line}` failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    out
}

/// Writes `bytes` to `path`, creating parent directories, or panics.
pub(crate) fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        create_dir_all(parent);
    }
    if let Err(e) = fs::write(path, bytes) {
        panic!("cannot write `{}`: {e}", path.display());
    }
}

/// Reads `path`, or panics.
pub(crate) fn read(path: &Path) -> Vec<u8> {
    match fs::read(path) {
        Ok(b) => b,
        Err(e) => panic!("cannot read `{}`: {e}", path.display()),
    }
}

/// Creates `path` and its parents, or panics.
pub(crate) fn create_dir_all(path: &Path) {
    if let Err(e) = fs::create_dir_all(path) {
        panic!("cannot create directory `{}`: {e}", path.display());
    }
}

/// Sets the permission bits of `path`, or panics.
pub(crate) fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
        panic!("cannot chmod `{}` to {mode:o}: {e}", path.display());
    }
}

/// Returns the lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Creates a temporary directory, or panics.
pub(crate) fn tempdir(prefix: &str) -> tempfile::TempDir {
    match tempfile::Builder::new().prefix(prefix).tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary directory: {e}"),
    }
}

/// Returns `path` relative to the archive root: without leading `/` or
/// `./`, and without a trailing `/`. Panics on `..` or empty components,
/// which [`crate::DebBuilder`] never accepts (use [`crate::hostile_deb`]).
pub(crate) fn clean_relative(path: &str) -> String {
    let trimmed = path.trim_start_matches("./").trim_start_matches('/');
    let trimmed = trimmed.trim_end_matches('/');
    assert!(
        !trimmed.is_empty()
            && trimmed
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."),
        "package path `{path}` must be a plain relative path (no `..`, `.` or `//`)"
    );
    trimmed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_relative_strips_prefixes() {
        assert_eq!(clean_relative("/usr/bin/x"), "usr/bin/x");
        assert_eq!(clean_relative("./etc/"), "etc");
        assert_eq!(clean_relative("usr"), "usr");
    }

    #[test]
    #[should_panic(expected = "plain relative path")]
    fn clean_relative_rejects_dotdot() {
        clean_relative("usr/../etc");
    }

    #[test]
    fn sha256_of_empty() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
