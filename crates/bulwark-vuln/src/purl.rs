//! Packages from package URLs, as SBOMs carry them.
//!
//! syft writes `pkg:deb/debian/bsdutils@1:2.38.1-5+b1?arch=amd64&upstream=util-linux%402.38.1-5&distro=debian-12`
//! (the source in `upstream=`, as `NAME` or `NAME@VERSION`); trivy writes
//! `pkg:deb/debian/bsdutils@2.38.1-5+b1?arch=amd64&distro=debian-12.5&epoch=1`
//! (the epoch in a qualifier, the source in CycloneDX properties or, in
//! SPDX, in `sourceInfo`: `built package from: util-linux 2.38.1-5`).
//! Both write `distro=ID-VERSION` (`debian-12.4`, `ubuntu-22.04`) and
//! describe the operating system as an SBOM element of its own.

use std::collections::BTreeMap;
use std::path::Path;

use bulwark_image::{InstalledPackage, OsRelease};
use bulwark_sbom::{Purl, Sbom, SourcePackage, MAX_SBOM_BYTES};

use crate::{Error, Result};

/// The `pkg:deb` URLs of `purls`, parsed; others are ignored.
fn deb_purls<S: AsRef<str>>(purls: &[S]) -> impl Iterator<Item = Purl> + '_ {
    purls
        .iter()
        .filter_map(|p| Purl::parse(p.as_ref()).ok())
        .filter(Purl::is_deb)
}

/// One `pkg:deb` URL as an installed package. The source comes from the
/// `upstream=` qualifier when there is one, else from `source` (what the
/// SBOM says besides the URL: trivy's SPDX `sourceInfo` or CycloneDX
/// properties), else it is the binary. A source without a version has the
/// binary's.
fn package_from_purl(purl: Purl, source: Option<&SourcePackage>) -> Option<InstalledPackage> {
    let version = purl.deb_version()?;
    let (source_name, source_version) = match (purl.upstream(), source) {
        (Some((name, source_version)), _) => (
            name.to_owned(),
            source_version.map_or_else(|| version.clone(), str::to_owned),
        ),
        (None, Some(source)) if !source.name.is_empty() => (
            source.name.clone(),
            source.version.clone().unwrap_or_else(|| version.clone()),
        ),
        (None, _) => (purl.name.clone(), version.clone()),
    };
    Some(InstalledPackage {
        architecture: purl.arch().unwrap_or_default().to_owned(),
        name: purl.name,
        version,
        source_name,
        source_version,
        maintainer: None,
        status: "install ok installed".to_string(),
        installed: true,
        files: Vec::new(),
        md5sums: BTreeMap::new(),
        stanza: String::new(),
    })
}

fn sort_dedup(packages: &mut Vec<InstalledPackage>) {
    packages.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    packages.dedup_by(|a, b| a.name == b.name && a.architecture == b.architecture);
}

/// The `pkg:deb` package URLs of `purls` as installed packages; other
/// package types are ignored. The version gets the `epoch=` qualifier's
/// epoch when it has none; the source comes from `upstream=` (`NAME` or
/// `NAME@VERSION`), else it is the binary name and version.
pub fn packages_from_purls<S: AsRef<str>>(purls: &[S]) -> Vec<InstalledPackage> {
    let mut packages: Vec<InstalledPackage> = deb_purls(purls)
        .filter_map(|p| package_from_purl(p, None))
        .collect();
    sort_dedup(&mut packages);
    packages
}

/// An os-release for `id` at `release`: a number (`12`, `12.4`, `22.04`)
/// is the `VERSION_ID`, anything else the `VERSION_CODENAME`. Ubuntu gets
/// `ID_LIKE=debian`, as its os-release has.
fn os_release(id: &str, release: &str) -> OsRelease {
    let id = id.trim().to_ascii_lowercase();
    let release = release.trim();
    let numeric = release.starts_with(|c: char| c.is_ascii_digit());
    OsRelease {
        id_like: if id == "ubuntu" {
            vec!["debian".to_string()]
        } else {
            Vec::new()
        },
        id,
        version_id: (numeric && !release.is_empty()).then(|| release.to_string()),
        version_codename: (!numeric && !release.is_empty()).then(|| release.to_ascii_lowercase()),
        pretty_name: None,
    }
}

/// The operating system named by the `distro=` qualifier of the first
/// `pkg:deb/…` URL that has one: `ID-VERSION` (`debian-12`, `debian-12.5`,
/// `ubuntu-22.04`, as syft and trivy write it), `ID-CODENAME`
/// (`debian-bookworm`), or a bare `CODENAME` or `VERSION` (`bookworm`,
/// `12`), whose ID is then the URL's namespace (`debian` without one).
pub fn os_from_purls<S: AsRef<str>>(purls: &[S]) -> Option<OsRelease> {
    let (namespace, distro) = deb_purls(purls).find_map(|p| {
        let distro = p.distro()?.trim().to_string();
        (!distro.is_empty()).then_some((p.namespace, distro))
    })?;
    let namespace = namespace
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "debian".to_string());
    let lower = distro.to_ascii_lowercase();
    let (id, release) = match lower
        .strip_prefix(namespace.as_str())
        .and_then(|r| r.strip_prefix('-'))
    {
        Some(release) => (namespace.as_str(), release),
        None => match lower.rsplit_once('-') {
            Some((id, release))
                if !id.is_empty() && release.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                (id, release)
            }
            _ => (namespace.as_str(), lower.as_str()),
        },
    };
    Some(os_release(id, release))
}

/// The operating system named only by the URLs' namespace, when that is
/// not Debian (`pkg:deb/ubuntu/…`): no release, but the scan then says the
/// system is not Debian rather than that the release is unknown.
fn os_from_namespace<S: AsRef<str>>(purls: &[S]) -> Option<OsRelease> {
    let namespace = deb_purls(purls)
        .filter_map(|p| p.namespace)
        .find(|ns| !ns.is_empty())?;
    (namespace != "debian").then(|| os_release(&namespace, ""))
}

/// The operating system an SBOM describes as such: `name` (the os-release
/// `ID`) and `version`.
fn os_from_element(package: &bulwark_sbom::Package) -> Option<OsRelease> {
    let name = package.name.trim();
    (!name.is_empty()).then(|| os_release(name, package.version.as_deref().unwrap_or("")))
}

/// Reads the file at `path`: a regular file (not a FIFO, which would
/// block, or a device, which would never end) of at most
/// [`MAX_SBOM_BYTES`].
fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    bulwark_oci::read_regular(path, MAX_SBOM_BYTES as u64).map_err(|err| match err {
        bulwark_oci::Error::Io { source, .. } => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        bulwark_oci::Error::FileTooLarge { .. } => Error::Sbom {
            path: path.to_path_buf(),
            reason: format!("larger than {MAX_SBOM_BYTES} bytes"),
        },
        other => Error::Sbom {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// The Debian packages of an SPDX or CycloneDX JSON SBOM, from their
/// package URLs, and the operating system.
///
/// The packages are those of every SPDX package and every CycloneDX
/// component at any depth (see [`Sbom::packages`]). A package's source
/// comes from the URL's `upstream=` qualifier (syft), else from what the
/// SBOM says beside the URL: the SPDX `sourceInfo` `built package from:
/// NAME VERSION` or the CycloneDX properties `aquasecurity:trivy:Src*`
/// (trivy); else it is the binary.
///
/// The operating system is, first found wins: the `distro=` qualifier of
/// the URLs (see [`os_from_purls`]); the SBOM's operating-system element
/// (see [`bulwark_sbom::Package::is_operating_system`]), its name as the ID
/// and its version as the release; the URLs' namespace when it is not
/// `debian` (an operating system without release). An SBOM without any
/// `pkg:deb` URL is an error.
pub fn packages_from_sbom(path: &Path) -> Result<(Vec<InstalledPackage>, Option<OsRelease>)> {
    let err = |reason: String| Error::Sbom {
        path: path.to_path_buf(),
        reason,
    };
    let doc = Sbom::from_json(&read_bounded(path)?).map_err(|e| err(e.to_string()))?;
    // Each package URL with the source the SBOM gives beside it.
    let entries: Vec<(&str, Option<&SourcePackage>)> = doc
        .packages
        .iter()
        .flat_map(|p| p.purls.iter().map(|u| (u.as_str(), p.source.as_ref())))
        .collect();
    let mut packages: Vec<InstalledPackage> = entries
        .iter()
        .filter_map(|(purl, source)| {
            let purl = Purl::parse(purl).ok().filter(Purl::is_deb)?;
            package_from_purl(purl, *source)
        })
        .collect();
    sort_dedup(&mut packages);
    if packages.is_empty() {
        return Err(err(format!(
            "no Debian package URLs (`pkg:deb/…`) among its {} package URLs: generate it with \
             package URLs (syft and trivy do by default)",
            entries.len()
        )));
    }
    let purls: Vec<&str> = entries.iter().map(|(p, _)| *p).collect();
    let os_element = doc
        .packages
        .iter()
        .filter(|p| p.is_operating_system())
        .find_map(os_from_element);
    let os = os_from_purls(&purls)
        .or(os_element)
        .or_else(|| os_from_namespace(&purls));
    Ok((packages, os))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syft_purl_with_upstream_version() {
        let p = packages_from_purls(&[
            "pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bb1?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5",
        ]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "bsdutils");
        assert_eq!(p[0].version, "1:2.38.1-5+b1");
        assert_eq!(p[0].architecture, "amd64");
        assert_eq!(p[0].source_name, "util-linux");
        assert_eq!(p[0].source_version, "2.38.1-5");
    }

    #[test]
    fn syft_purl_with_upstream_name_only() {
        let p = packages_from_purls(&[
            "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&upstream=openssl&distro=debian-12",
        ]);
        assert_eq!(p[0].source_name, "openssl");
        assert_eq!(p[0].source_version, "3.0.15-1~deb12u1");
    }

    #[test]
    fn trivy_purl_with_epoch_qualifier() {
        let purls = [
            "pkg:deb/debian/bsdutils@2.38.1-5+b1?arch=amd64&distro=debian-12.5&epoch=1",
            "pkg:npm/left-pad@1.0.0",
        ];
        let p = packages_from_purls(&purls);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].version, "1:2.38.1-5+b1");
        assert_eq!(p[0].source_name, "bsdutils");
        let os = os_from_purls(&purls).unwrap();
        assert_eq!(os.version_id.as_deref(), Some("12.5"));
        assert_eq!(crate::release_key(os.version_id.as_deref().unwrap()), "12");
    }
}
