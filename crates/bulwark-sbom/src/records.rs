//! Package and file records read from an image's or root filesystem's
//! content.

use std::collections::BTreeMap;

use bulwark_deb::relation::{self, Relation};
use bulwark_deb::{control, Version};
use bulwark_image::{Contents, InstalledPackage};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use crate::{license_from_copyright, Error, FileRecord, License, PackageRecord};

/// The package records of `contents`, sorted by name and architecture:
/// every package of its dpkg database except those only remembered
/// (`not-installed`, `config-files`), each with
///
/// - its license from `/usr/share/doc/NAME/copyright`
///   ([`license_from_copyright`]; `NOASSERTION` when the file is missing),
/// - its `Depends` and `Pre-Depends` resolved within the set, as `NAME:ARCH`:
///   for each dependency, the first alternative that a package of the set
///   satisfies (by name and version, or through `Provides`), preferring the
///   depending package's architecture,
/// - no `.deb` checksum (the image does not record it).
pub fn records(contents: &Contents) -> Result<Vec<PackageRecord>, Error> {
    let packages: Vec<&InstalledPackage> = contents
        .packages
        .iter()
        .filter(|p| {
            let state = p.status.split_whitespace().nth(2);
            !matches!(state, Some("not-installed" | "config-files"))
        })
        .collect();

    // Name → (index, provided version) for real and virtual packages.
    let mut providers: BTreeMap<String, Vec<(usize, Option<Version>)>> = BTreeMap::new();
    let mut parsed = Vec::with_capacity(packages.len());
    for (i, p) in packages.iter().enumerate() {
        let stanza = match control::paragraphs(&p.stanza).next() {
            Some(Ok((_, paragraph))) => Some(paragraph),
            Some(Err(source)) => {
                return Err(Error::Stanza {
                    package: p.name.clone(),
                    source,
                })
            }
            None => None,
        };
        providers
            .entry(p.name.clone())
            .or_default()
            .push((i, Version::parse(&p.version).ok()));
        if let Some(provides) = stanza.and_then(|s| s.get("Provides")) {
            // A malformed Provides only loses dependency edges.
            for r in relation::parse_provides(provides).unwrap_or_default() {
                let version = r.constraint.map(|(_, v)| v);
                providers.entry(r.name).or_default().push((i, version));
            }
        }
        parsed.push(stanza);
    }

    let mut out = Vec::with_capacity(packages.len());
    for (i, p) in packages.iter().enumerate() {
        let mut depends = Vec::new();
        if let Some(stanza) = parsed[i] {
            for field in ["Pre-Depends", "Depends"] {
                let Some(value) = stanza.get(field) else {
                    continue;
                };
                for dependency in relation::parse(value).unwrap_or_default() {
                    let target = dependency
                        .alternatives
                        .iter()
                        .find_map(|alt| satisfy(alt, p, &packages, &providers));
                    if let Some(j) = target.filter(|&j| j != i) {
                        depends.push(format!("{}:{}", packages[j].name, packages[j].architecture));
                    }
                }
            }
        }
        depends.sort();
        depends.dedup();
        let copyright = format!("/usr/share/doc/{}/copyright", p.name);
        let license = match contents.files.read(&copyright, MAX_COPYRIGHT) {
            Ok(Some(bytes)) => license_from_copyright(&String::from_utf8_lossy(&bytes)),
            Ok(None) => License::NoAssertion,
            Err(source) => {
                return Err(Error::Read {
                    target: contents.target.clone(),
                    path: copyright,
                    source,
                })
            }
        };
        out.push(PackageRecord {
            package: (*p).clone(),
            deb_sha256: None,
            license,
            depends,
        });
    }
    out.sort_by(|a, b| {
        (&a.package.name, &a.package.architecture).cmp(&(&b.package.name, &b.package.architecture))
    });
    Ok(out)
}

/// The package of the set that satisfies `alt` for `dependent`, if any.
fn satisfy(
    alt: &Relation,
    dependent: &InstalledPackage,
    packages: &[&InstalledPackage],
    providers: &BTreeMap<String, Vec<(usize, Option<Version>)>>,
) -> Option<usize> {
    let candidates = providers.get(alt.name.as_str())?;
    let arch_ok = |i: usize| {
        let arch = &packages[i].architecture;
        match alt.arch_qualifier.as_deref() {
            Some("any") => true,
            Some("native") | None => {
                arch == &dependent.architecture || arch == "all" || dependent.architecture == "all"
            }
            Some(wanted) => arch == wanted,
        }
    };
    let version_ok = |v: &Option<Version>| match (&alt.constraint, v) {
        (None, _) => true,
        (Some((op, wanted)), Some(v)) => op.accepts(v.cmp(wanted)),
        // A versioned dependency is not satisfied by an unversioned Provides.
        (Some(_), None) => false,
    };
    let ok: Vec<usize> = candidates
        .iter()
        .filter(|(i, v)| arch_ok(*i) && version_ok(v))
        .map(|(i, _)| *i)
        .collect();
    ok.iter()
        .copied()
        .find(|&i| packages[i].architecture == dependent.architecture)
        .or_else(|| ok.first().copied())
}

/// The largest copyright file read; a larger one is an error.
pub const MAX_COPYRIGHT: u64 = 8 << 20;

/// Every regular file of `contents`, hashed (SHA-1 and SHA-256), with the
/// packages whose file lists name it (as `NAME:ARCH`; a file listed under
/// `/bin`, `/sbin` or `/lib*` also matches its merged-`/usr` path).
pub fn file_records(contents: &Contents) -> Result<Vec<FileRecord>, Error> {
    let read_error = |path: &str, source| Error::Read {
        target: contents.target.clone(),
        path: path.to_owned(),
        source,
    };
    let mut owners: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for p in &contents.packages {
        let key = format!("{}:{}", p.name, p.architecture);
        for f in &p.files {
            owners.entry(f.as_str()).or_default().push(key.clone());
        }
    }
    let mut out = Vec::new();
    let mut failed = None;
    let visited = contents.files.for_each_file(&mut |path, content| {
        let mut sha1 = Sha1::new();
        let mut sha256 = Sha256::new();
        let mut buf = [0u8; 64 << 10];
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    failed = Some(path.to_owned());
                    return Err(err);
                }
            };
            sha1.update(&buf[..n]);
            sha256.update(&buf[..n]);
        }
        let mut file_owners = owners.get(path).cloned().unwrap_or_default();
        if let Some(unmerged) = path.strip_prefix("/usr") {
            let merged_dirs = ["/bin/", "/sbin/", "/lib"];
            if merged_dirs.iter().any(|d| unmerged.starts_with(d)) {
                file_owners.extend(owners.get(unmerged).cloned().unwrap_or_default());
            }
        }
        file_owners.sort();
        file_owners.dedup();
        out.push(FileRecord {
            sha1: hex::encode(sha1.finalize()),
            sha256: hex::encode(sha256.finalize()),
            path: path.to_owned(),
            owners: file_owners,
        });
        Ok(())
    });
    visited.map_err(|e| read_error(failed.as_deref().unwrap_or("/"), e))?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
