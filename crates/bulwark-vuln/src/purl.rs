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
use serde_json::Value;

use crate::{Error, Result};

/// Percent-decodes a PURL component (invalid escapes are kept as written).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
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

struct DebPurl {
    /// The namespace (`debian`, `ubuntu`…), lowercased; empty when absent.
    namespace: String,
    name: String,
    version: String,
    qualifiers: BTreeMap<String, String>,
}

fn parse_deb_purl(purl: &str) -> Option<DebPurl> {
    let rest = purl.trim().strip_prefix("pkg:")?;
    let rest = rest.split('#').next()?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let (kind, path) = path.split_once('/')?;
    if !kind.eq_ignore_ascii_case("deb") {
        return None;
    }
    let (path, version) = match path.rsplit_once('@') {
        Some((p, v)) => (p, decode(v)),
        None => (path, String::new()),
    };
    let (namespace, name) = match path.trim_matches('/').rsplit_once('/') {
        Some((ns, n)) => (decode(ns).to_ascii_lowercase(), decode(n)),
        None => (String::new(), decode(path.trim_matches('/'))),
    };
    if name.is_empty() {
        return None;
    }
    let qualifiers = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_ascii_lowercase(), decode(v)))
        .collect();
    Some(DebPurl {
        namespace,
        name,
        version,
        qualifiers,
    })
}

/// One `pkg:deb` URL as an installed package. The source comes from the
/// `upstream=` qualifier when there is one, else from `source` (what the
/// SBOM says besides the URL: trivy's SPDX `sourceInfo` or CycloneDX
/// properties), else it is the binary. A source without a version (an
/// empty one) has the binary's.
fn package_from_purl(purl: &str, source: Option<&(String, String)>) -> Option<InstalledPackage> {
    let p = parse_deb_purl(purl)?;
    if p.version.is_empty() {
        return None;
    }
    let version = match p.qualifiers.get("epoch") {
        Some(epoch) if !p.version.contains(':') && !epoch.is_empty() && epoch != "0" => {
            format!("{epoch}:{}", p.version)
        }
        _ => p.version.clone(),
    };
    let (source_name, source_version) = match (p.qualifiers.get("upstream"), source) {
        (Some(up), _) => match up.split_once('@') {
            Some((n, v)) if !v.is_empty() => (n.to_string(), v.to_string()),
            Some((n, _)) => (n.to_string(), version.clone()),
            None => (up.clone(), version.clone()),
        },
        (None, Some((n, v))) if !n.is_empty() => {
            let v = if v.is_empty() { &version } else { v };
            (n.clone(), v.clone())
        }
        (None, _) => (p.name.clone(), version.clone()),
    };
    Some(installed(
        p.name,
        version,
        p.qualifiers.get("arch").cloned(),
        source_name,
        source_version,
    ))
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
    let mut packages: Vec<InstalledPackage> = purls
        .iter()
        .filter_map(|p| package_from_purl(p.as_ref(), None))
        .collect();
    sort_dedup(&mut packages);
    packages
}

fn installed(
    name: String,
    version: String,
    arch: Option<String>,
    source_name: String,
    source_version: String,
) -> InstalledPackage {
    InstalledPackage {
        name,
        version,
        architecture: arch.unwrap_or_default(),
        source_name,
        source_version,
        maintainer: None,
        status: "install ok installed".to_string(),
        installed: true,
        files: Vec::new(),
        md5sums: BTreeMap::new(),
        stanza: String::new(),
    }
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
    let (namespace, distro) = purls
        .iter()
        .filter_map(|p| parse_deb_purl(p.as_ref()))
        .find_map(|p| {
            let distro = p.qualifiers.get("distro")?.trim().to_string();
            (!distro.is_empty()).then_some((p.namespace, distro))
        })?;
    let namespace = if namespace.is_empty() {
        "debian".to_string()
    } else {
        namespace
    };
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
    let namespace = purls
        .iter()
        .filter_map(|p| parse_deb_purl(p.as_ref()))
        .map(|p| p.namespace)
        .find(|ns| !ns.is_empty())?;
    (namespace != "debian").then(|| os_release(&namespace, ""))
}

/// The operating system an SBOM describes as such: `name` (the os-release
/// `ID`) and `version`.
fn os_from_component(name: Option<&str>, version: Option<&str>) -> Option<OsRelease> {
    let name = name?.trim();
    (!name.is_empty()).then(|| os_release(name, version.unwrap_or("")))
}

/// The Debian packages of an SPDX or CycloneDX JSON SBOM, from their
/// package URLs, and the operating system.
///
/// A package's source comes from the URL's `upstream=` qualifier (syft),
/// else from what the SBOM says beside the URL: the SPDX `sourceInfo`
/// `built package from: NAME VERSION` or the CycloneDX properties
/// `aquasecurity:trivy:Src*` (trivy); else it is the binary.
///
/// The operating system is, first found wins: the `distro=` qualifier of
/// the URLs (see [`os_from_purls`]); the SBOM's operating-system element
/// (a CycloneDX component of type `operating-system`, an SPDX package whose
/// `primaryPackagePurpose` is `OPERATING-SYSTEM` or whose SPDXID is
/// trivy's `SPDXRef-OperatingSystem-…`), its name as the ID and its version
/// as the release; the URLs' namespace when it is not `debian` (an
/// operating system without release). An SBOM without any `pkg:deb` URL is
/// an error.
pub fn packages_from_sbom(path: &Path) -> Result<(Vec<InstalledPackage>, Option<OsRelease>)> {
    let err = |reason: String| Error::Sbom {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
    // Each package URL with the source the SBOM gives beside it.
    let mut entries: Vec<(String, Option<(String, String)>)> = Vec::new();
    let mut os_element = None;
    if let Some(packages) = doc.get("packages").and_then(Value::as_array) {
        // SPDX 2.x
        for package in packages {
            if os_element.is_none() && is_spdx_os(package) {
                os_element = os_from_component(
                    package.get("name").and_then(Value::as_str),
                    package.get("versionInfo").and_then(Value::as_str),
                );
            }
            let source = spdx_source(package);
            for r in package
                .get("externalRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if r.get("referenceType").and_then(Value::as_str) == Some("purl") {
                    if let Some(l) = r.get("referenceLocator").and_then(Value::as_str) {
                        entries.push((l.to_string(), source.clone()));
                    }
                }
            }
        }
    } else if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        let mut stack: Vec<&Value> = doc
            .get("components")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .rev()
            .collect();
        while let Some(component) = stack.pop() {
            if os_element.is_none()
                && component.get("type").and_then(Value::as_str) == Some("operating-system")
            {
                os_element = os_from_component(
                    component.get("name").and_then(Value::as_str),
                    component.get("version").and_then(Value::as_str),
                );
            }
            if let Some(purl) = component.get("purl").and_then(Value::as_str) {
                entries.push((purl.to_string(), trivy_source(component)));
            }
            stack.extend(
                component
                    .get("components")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .rev(),
            );
        }
    } else {
        return Err(err(
            "neither SPDX JSON (`packages`) nor CycloneDX JSON (`bomFormat`)".to_string(),
        ));
    }
    let mut packages: Vec<InstalledPackage> = entries
        .iter()
        .filter_map(|(purl, source)| package_from_purl(purl, source.as_ref()))
        .collect();
    sort_dedup(&mut packages);
    if packages.is_empty() {
        return Err(err(format!(
            "no Debian package URLs (`pkg:deb/…`) among its {} package URLs: generate it with \
             package URLs (syft and trivy do by default)",
            entries.len()
        )));
    }
    let purls: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
    let os = os_from_purls(&purls)
        .or(os_element)
        .or_else(|| os_from_namespace(&purls));
    Ok((packages, os))
}

/// Whether an SPDX package describes the operating system.
fn is_spdx_os(package: &Value) -> bool {
    package.get("primaryPackagePurpose").and_then(Value::as_str) == Some("OPERATING-SYSTEM")
        || package
            .get("SPDXID")
            .and_then(Value::as_str)
            .is_some_and(|id| id.starts_with("SPDXRef-OperatingSystem-"))
}

/// trivy's SPDX `sourceInfo`: `built package from: NAME VERSION` (the
/// version with its epoch, if any; it may be missing).
fn spdx_source(package: &Value) -> Option<(String, String)> {
    let info = package.get("sourceInfo")?.as_str()?.trim();
    let rest = info.strip_prefix("built package from:")?.trim();
    let (name, version) = match rest.split_once(char::is_whitespace) {
        Some((n, v)) => (n, v.trim()),
        None => (rest, ""),
    };
    (!name.is_empty()).then(|| (name.to_string(), version.to_string()))
}

/// trivy's CycloneDX properties: `SrcName`, `SrcVersion`, `SrcRelease`, `SrcEpoch`.
fn trivy_source(component: &Value) -> Option<(String, String)> {
    let props = component.get("properties")?.as_array()?;
    let get = |key: &str| {
        props.iter().find_map(|p| {
            (p.get("name")?.as_str()? == key)
                .then(|| p.get("value")?.as_str().map(str::to_string))
                .flatten()
        })
    };
    let name = get("aquasecurity:trivy:SrcName")?;
    let mut version = get("aquasecurity:trivy:SrcVersion")?;
    if let Some(release) = get("aquasecurity:trivy:SrcRelease").filter(|r| !r.is_empty()) {
        version = format!("{version}-{release}");
    }
    if let Some(epoch) = get("aquasecurity:trivy:SrcEpoch").filter(|e| !e.is_empty() && e != "0") {
        version = format!("{epoch}:{version}");
    }
    Some((name, version))
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
