//! Deterministic identifiers, timestamps and the parts both document formats
//! share.

use std::collections::BTreeMap;

use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use crate::{Error, FileRecord, PackageRecord, SbomInput};

/// The project's home, the base of SPDX document namespaces.
const HOME: &str = env!("CARGO_PKG_REPOSITORY");

/// `created` as RFC 3339 UTC (`2024-01-31T12:00:00Z`).
pub(crate) fn rfc3339(secs: u64) -> String {
    // RFC 3339 has four-digit years: later instants are clamped to its end.
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A name-based (version 5) UUID in the URL namespace, as RFC 9562 defines.
pub(crate) fn uuid_v5(name: &str) -> String {
    const URL_NAMESPACE: [u8; 16] = [
        0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];
    let mut h = Sha1::new();
    h.update(URL_NAMESPACE);
    h.update(name.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// The subject's identity: the manifest digest, or for a root filesystem
/// `sha256:` of its sorted package list.
pub(crate) fn subject_key(packages: &[&PackageRecord], manifest_digest: Option<&str>) -> String {
    if let Some(digest) = manifest_digest {
        return digest.to_owned();
    }
    let mut h = Sha256::new();
    for r in packages {
        let p = &r.package;
        for field in [&p.name, &p.architecture, &p.version] {
            h.update(field.as_bytes());
            h.update([0]);
        }
        h.update(b"\n");
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The document's UUID: from the subject's identity, the format and whether
/// files are listed, so that each distinct document has its own.
pub(crate) fn document_uuid(format: &str, key: &str, files: bool) -> String {
    let suffix = if files { "+files" } else { "" };
    uuid_v5(&format!("{HOME}/sbom/{format}/{key}{suffix}"))
}

/// `{HOME}/spdx/NAME-UUID`, NAME restricted to URI-safe characters.
pub(crate) fn spdx_namespace(name: &str, uuid: &str) -> String {
    format!("{HOME}/spdx/{}-{uuid}", sanitize(name, 64))
}

/// `s` restricted to `[A-Za-z0-9.-]` (others become `-`), at most `max`
/// characters.
pub(crate) fn sanitize(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if out.is_empty() {
        "unnamed".to_owned()
    } else {
        out
    }
}

/// A short stable hash of `s`, for identifiers.
pub(crate) fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..6])
}

/// Checks that `value` is lowercase-able hex of `len` digits and returns it
/// lowercased.
pub(crate) fn check_hex(
    value: &str,
    len: usize,
    what: impl FnOnce() -> String,
) -> Result<String, Error> {
    if value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(Error::InvalidDigest {
            what: what(),
            value: value.to_owned(),
            expected: if len == 40 {
                "40 hex digits"
            } else {
                "64 hex digits"
            },
        })
    }
}

/// Splits a manifest digest `sha256:HEX` into its SPDX/CycloneDX algorithm
/// names and the hex.
pub(crate) fn split_digest(digest: &str) -> Result<(&'static str, &'static str, String), Error> {
    let bad = || Error::InvalidDigest {
        what: "image manifest digest".to_owned(),
        value: digest.to_owned(),
        expected: "`sha256:` or `sha512:` and hex",
    };
    let (alg, hex) = digest.split_once(':').ok_or_else(bad)?;
    let (spdx, cdx, len) = match alg {
        "sha256" => ("SHA256", "SHA-256", 64),
        "sha512" => ("SHA512", "SHA-512", 128),
        _ => return Err(bad()),
    };
    if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    Ok((spdx, cdx, hex.to_ascii_lowercase()))
}

/// A `Maintainer` (`Name <email>`) split into name and address.
pub(crate) fn parse_maintainer(m: &str) -> (String, Option<String>) {
    let m = m.trim();
    if let (Some(open), true) = (m.rfind('<'), m.ends_with('>')) {
        let name = m[..open].trim();
        let email = m[open + 1..m.len() - 1].trim();
        let email = (!email.is_empty()).then(|| email.to_owned());
        let name = if name.is_empty() {
            email.clone().unwrap_or_default()
        } else {
            name.to_owned()
        };
        return (name, email);
    }
    (m.to_owned(), None)
}

/// The supplier of the operating system: the distribution's publisher.
pub(crate) fn os_supplier(id: &str) -> Option<&'static str> {
    match id {
        "debian" => Some("Debian"),
        "ubuntu" => Some("Canonical Ltd."),
        _ => None,
    }
}

/// The pieces of an input that both formats lay out the same way: packages
/// sorted and checked, dependencies resolved to indices, files sorted.
pub(crate) struct Prepared<'a> {
    /// Sorted by name, architecture, version.
    pub(crate) packages: Vec<&'a PackageRecord>,
    /// Per package: validated lowercase SHA-256 of its `.deb`.
    pub(crate) deb_sha256: Vec<Option<String>>,
    /// Per package: indices of the packages it depends on, sorted, unique.
    pub(crate) depends: Vec<Vec<usize>>,
    /// Sorted by path, each with its owners' indices.
    pub(crate) files: Option<Vec<(&'a FileRecord, Vec<usize>)>>,
    /// The subject's identity (see [`subject_key`]).
    pub(crate) key: String,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(input: &'a SbomInput<'a>) -> Result<Self, Error> {
        let mut packages: Vec<&PackageRecord> = input.packages.iter().collect();
        packages.sort_by(|a, b| {
            let (a, b) = (&a.package, &b.package);
            (&a.name, &a.architecture, &a.version).cmp(&(&b.name, &b.architecture, &b.version))
        });
        for pair in packages.windows(2) {
            let (a, b) = (&pair[0].package, &pair[1].package);
            if a.name == b.name && a.architecture == b.architecture {
                return Err(Error::DuplicatePackage {
                    name: a.name.clone(),
                    architecture: a.architecture.clone(),
                });
            }
        }
        let deb_sha256 = packages
            .iter()
            .map(|r| {
                r.deb_sha256
                    .as_deref()
                    .map(|h| {
                        check_hex(h, 64, || {
                            format!("SHA-256 of the `.deb` of package `{}`", r.package.name)
                        })
                    })
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;

        // NAME:ARCH → index, NAME → indices.
        let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
        let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in packages.iter().enumerate() {
            by_key.insert(format!("{}:{}", r.package.name, r.package.architecture), i);
            by_name.entry(&r.package.name).or_default().push(i);
        }
        let resolve = |reference: &str, arch: Option<&str>| -> Option<usize> {
            if let Some(&i) = by_key.get(reference) {
                return Some(i);
            }
            let candidates = by_name.get(reference)?;
            let pick = arch.and_then(|arch| {
                candidates
                    .iter()
                    .find(|&&i| packages[i].package.architecture == arch)
                    .or_else(|| {
                        candidates
                            .iter()
                            .find(|&&i| packages[i].package.architecture == "all")
                    })
            });
            pick.or(candidates.first()).copied()
        };
        let depends = packages
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut deps: Vec<usize> = r
                    .depends
                    .iter()
                    .filter_map(|d| resolve(d, Some(&r.package.architecture)))
                    .filter(|&j| j != i)
                    .collect();
                deps.sort_unstable();
                deps.dedup();
                deps
            })
            .collect();

        let files = match input.files {
            None => None,
            Some(files) => {
                let mut sorted: Vec<&FileRecord> = files.iter().collect();
                sorted.sort_by(|a, b| a.path.cmp(&b.path));
                for pair in sorted.windows(2) {
                    if pair[0].path == pair[1].path {
                        return Err(Error::DuplicateFile(pair[0].path.clone()));
                    }
                }
                let mut out = Vec::with_capacity(sorted.len());
                for f in sorted {
                    check_hex(&f.sha1, 40, || format!("SHA-1 of file `{}`", f.path))?;
                    check_hex(&f.sha256, 64, || format!("SHA-256 of file `{}`", f.path))?;
                    let mut owners: Vec<usize> =
                        f.owners.iter().filter_map(|o| resolve(o, None)).collect();
                    owners.sort_unstable();
                    owners.dedup();
                    out.push((f, owners));
                }
                Some(out)
            }
        };
        let key = subject_key(&packages, input.subject.manifest_digest.as_deref());
        Ok(Self {
            packages,
            deb_sha256,
            depends,
            files,
            key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn uuid_v5_matches_python() {
        // python3 -c 'import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, "https://www.example.com/"))'
        assert_eq!(
            uuid_v5("https://www.example.com/"),
            "3d3ed9d2-aa3d-5fa6-90e8-ed662e90f559"
        );
    }

    #[test]
    fn maintainers() {
        assert_eq!(
            parse_maintainer("GNU Libc Maintainers <debian-glibc@lists.debian.org>"),
            (
                "GNU Libc Maintainers".into(),
                Some("debian-glibc@lists.debian.org".into())
            )
        );
        assert_eq!(
            parse_maintainer("Laszlo Boszormenyi (GCS) <gcs@debian.org>"),
            (
                "Laszlo Boszormenyi (GCS)".into(),
                Some("gcs@debian.org".into())
            )
        );
        assert_eq!(
            parse_maintainer("Just A Name"),
            ("Just A Name".into(), None)
        );
        assert_eq!(
            parse_maintainer("<a@b.c>"),
            ("a@b.c".into(), Some("a@b.c".into()))
        );
    }
}
