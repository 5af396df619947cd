//! Packages from package URLs, as SBOMs carry them.
//!
//! syft writes `pkg:deb/debian/bsdutils@1:2.38.1-5+b1?arch=amd64&upstream=util-linux%402.38.1-5&distro=debian-12`
//! (the source in `upstream=`, as `NAME` or `NAME@VERSION`); trivy writes
//! `pkg:deb/debian/bsdutils@2.38.1-5+b1?arch=amd64&distro=debian-12.5&epoch=1`
//! (the epoch in a qualifier, the source in CycloneDX properties).

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
    let name = decode(path.rsplit('/').next()?);
    if name.is_empty() {
        return None;
    }
    let qualifiers = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_ascii_lowercase(), decode(v)))
        .collect();
    Some(DebPurl {
        name,
        version,
        qualifiers,
    })
}

/// The `pkg:deb` package URLs of `purls` as installed packages; other
/// package types are ignored. The version gets the `epoch=` qualifier's
/// epoch when it has none; the source comes from `upstream=` (`NAME` or
/// `NAME@VERSION`), else it is the binary name and version.
pub fn packages_from_purls<S: AsRef<str>>(purls: &[S]) -> Vec<InstalledPackage> {
    let mut packages: Vec<InstalledPackage> = purls
        .iter()
        .filter_map(|p| parse_deb_purl(p.as_ref()))
        .filter(|p| !p.version.is_empty())
        .map(|p| {
            let version = match p.qualifiers.get("epoch") {
                Some(epoch) if !p.version.contains(':') && epoch != "0" => {
                    format!("{epoch}:{}", p.version)
                }
                _ => p.version.clone(),
            };
            let (source_name, source_version) = match p.qualifiers.get("upstream") {
                Some(up) => match up.split_once('@') {
                    Some((n, v)) => (n.to_string(), v.to_string()),
                    None => (up.clone(), version.clone()),
                },
                None => (p.name.clone(), version.clone()),
            };
            installed(
                p.name,
                version,
                p.qualifiers.get("arch").cloned(),
                source_name,
                source_version,
            )
        })
        .collect();
    packages.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    packages.dedup_by(|a, b| a.name == b.name && a.architecture == b.architecture);
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

/// The operating system named by the `distro=` qualifier of the first
/// `pkg:deb/debian/…` URL that has one (`debian-12`, `debian-12.5`,
/// `bookworm`).
pub fn os_from_purls<S: AsRef<str>>(purls: &[S]) -> Option<OsRelease> {
    let distro = purls
        .iter()
        .filter_map(|p| parse_deb_purl(p.as_ref()))
        .find_map(|p| p.qualifiers.get("distro").cloned())?;
    let version = distro
        .strip_prefix("debian-")
        .unwrap_or(&distro)
        .to_string();
    let numeric = version.starts_with(|c: char| c.is_ascii_digit());
    Some(OsRelease {
        id: "debian".to_string(),
        version_id: numeric.then(|| version.clone()),
        version_codename: (!numeric).then_some(version),
        pretty_name: None,
        id_like: Vec::new(),
    })
}

/// The Debian packages of an SPDX or CycloneDX JSON SBOM, from their
/// package URLs (with trivy's `aquasecurity:trivy:Src*` CycloneDX
/// properties for the source when present), and the operating system the
/// URLs name. An SBOM without any `pkg:deb` URL is an error.
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
    let mut purls = Vec::new();
    let mut trivy_sources = BTreeMap::new();
    if let Some(packages) = doc.get("packages").and_then(Value::as_array) {
        // SPDX 2.x
        for package in packages {
            for r in package
                .get("externalRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if r.get("referenceType").and_then(Value::as_str) == Some("purl") {
                    if let Some(l) = r.get("referenceLocator").and_then(Value::as_str) {
                        purls.push(l.to_string());
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
            .collect();
        while let Some(component) = stack.pop() {
            if let Some(purl) = component.get("purl").and_then(Value::as_str) {
                purls.push(purl.to_string());
                if let Some(source) = trivy_source(component) {
                    trivy_sources.insert(purl.to_string(), source);
                }
            }
            stack.extend(
                component
                    .get("components")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        }
    } else {
        return Err(err(
            "neither SPDX JSON (`packages`) nor CycloneDX JSON (`bomFormat`)".to_string(),
        ));
    }
    let mut packages = Vec::new();
    for purl in &purls {
        let mut found = packages_from_purls(std::slice::from_ref(purl));
        if let (Some(pkg), Some((name, version))) = (found.first_mut(), trivy_sources.get(purl)) {
            if !purl.contains("upstream=") {
                pkg.source_name = name.clone();
                pkg.source_version = version.clone();
            }
        }
        packages.append(&mut found);
    }
    packages.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    packages.dedup_by(|a, b| a.name == b.name && a.architecture == b.architecture);
    if packages.is_empty() {
        return Err(err(format!(
            "no Debian package URLs (`pkg:deb/…`) among its {} package URLs: generate it with \
             package URLs (syft and trivy do by default)",
            purls.len()
        )));
    }
    Ok((packages, os_from_purls(&purls)))
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
