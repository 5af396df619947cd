//! Package URLs (`pkg:deb/…`) in the form vulnerability scanners read.

use bulwark_image::{InstalledPackage, OsRelease};

/// The package URL of a Debian package, in the canonical form syft writes and
/// grype and trivy match on:
///
/// ```text
/// pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bb1?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5
/// ```
///
/// - The namespace is the `os-release` `ID` (`debian` when `os` is unknown).
/// - Name, version and qualifier values are percent-encoded except for the
///   unreserved characters `A-Z a-z 0-9 . - _ ~`, so the epoch's `:` becomes
///   `%3A` and `+` becomes `%2B`.
/// - Qualifiers are sorted by key: `arch`; `distro` as `ID-VERSION_ID` (only
///   `ID` when there is no `VERSION_ID`, e.g. on testing, like syft);
///   `upstream` only when the source differs from the binary package: the
///   source name, plus `@VERSION` when the source version differs.
pub fn purl(p: &InstalledPackage, os: Option<&OsRelease>) -> String {
    let namespace = os.map_or("debian", |os| os.id.as_str());
    let mut out = String::with_capacity(96);
    out.push_str("pkg:deb/");
    encode_into(&mut out, &namespace.to_ascii_lowercase());
    out.push('/');
    encode_into(&mut out, &p.name);
    out.push('@');
    encode_into(&mut out, &p.version);
    // Keys in sorted order: arch, distro, upstream.
    out.push_str("?arch=");
    encode_into(&mut out, &p.architecture);
    if let Some(os) = os {
        out.push_str("&distro=");
        match os.version_id.as_deref().filter(|v| !v.is_empty()) {
            Some(version_id) => encode_into(&mut out, &format!("{}-{version_id}", os.id)),
            None => encode_into(&mut out, &os.id),
        }
    }
    let other_name = !p.source_name.is_empty() && p.source_name != p.name;
    let other_version = !p.source_version.is_empty() && p.source_version != p.version;
    if other_name || other_version {
        out.push_str("&upstream=");
        let source = if p.source_name.is_empty() {
            &p.name
        } else {
            &p.source_name
        };
        if other_version {
            encode_into(&mut out, &format!("{source}@{}", p.source_version));
        } else {
            encode_into(&mut out, source);
        }
    }
    out
}

/// Appends `s` percent-encoded: everything but `A-Z a-z 0-9 . - _ ~`.
fn encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(
        name: &str,
        version: &str,
        arch: &str,
        src: &str,
        src_version: &str,
    ) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            architecture: arch.into(),
            source_name: src.into(),
            source_version: src_version.into(),
            maintainer: None,
            status: "install ok installed".into(),
            installed: true,
            files: Vec::new(),
            md5sums: Default::default(),
            stanza: String::new(),
        }
    }

    fn os(id: &str, version_id: Option<&str>, codename: Option<&str>) -> OsRelease {
        OsRelease {
            id: id.into(),
            version_id: version_id.map(Into::into),
            version_codename: codename.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn epoch_plus_and_binnmu_upstream() {
        // The example of the issue: epoch, binNMU suffix, other source name
        // and version.
        let p = pkg(
            "bsdutils",
            "1:2.38.1-5+b1",
            "amd64",
            "util-linux",
            "2.38.1-5",
        );
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), Some("bookworm")))),
            "pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bb1?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5"
        );
    }

    #[test]
    fn same_source_has_no_upstream() {
        let p = pkg("bash", "5.2.15-2+b7", "amd64", "bash", "5.2.15-2+b7");
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), None))),
            "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12"
        );
    }

    #[test]
    fn binnmu_of_same_source_name_names_version_only() {
        let p = pkg("libfoo1", "1.0-1+b2", "arm64", "libfoo1", "1.0-1");
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), None))),
            "pkg:deb/debian/libfoo1@1.0-1%2Bb2?arch=arm64&distro=debian-12&upstream=libfoo1%401.0-1"
        );
    }

    #[test]
    fn other_source_same_version_names_source_only() {
        let p = pkg(
            "libc6",
            "2.36-9+deb12u4",
            "amd64",
            "glibc",
            "2.36-9+deb12u4",
        );
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), None))),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
        );
    }

    #[test]
    fn tilde_stays_and_plus_in_name_is_encoded() {
        let p = pkg(
            "libstdc++6",
            "12.2.0-14~bpo1",
            "amd64",
            "gcc-12",
            "12.2.0-14~bpo1",
        );
        assert_eq!(
            purl(&p, Some(&os("debian", Some("12"), None))),
            "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14~bpo1?arch=amd64&distro=debian-12&upstream=gcc-12"
        );
    }

    #[test]
    fn ubuntu_namespace() {
        let p = pkg(
            "coreutils",
            "9.4-3ubuntu6",
            "amd64",
            "coreutils",
            "9.4-3ubuntu6",
        );
        assert_eq!(
            purl(&p, Some(&os("ubuntu", Some("24.04"), Some("noble")))),
            "pkg:deb/ubuntu/coreutils@9.4-3ubuntu6?arch=amd64&distro=ubuntu-24.04"
        );
    }

    #[test]
    fn testing_without_version_id_uses_id_like_syft() {
        let p = pkg("tzdata", "2025a-1", "all", "tzdata", "2025a-1");
        assert_eq!(
            purl(&p, Some(&os("debian", None, Some("trixie")))),
            "pkg:deb/debian/tzdata@2025a-1?arch=all&distro=debian"
        );
    }

    #[test]
    fn unknown_os_has_no_distro() {
        let p = pkg("tzdata", "2025a-1", "all", "tzdata", "2025a-1");
        assert_eq!(purl(&p, None), "pkg:deb/debian/tzdata@2025a-1?arch=all");
    }
}
