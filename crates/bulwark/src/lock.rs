//! `bulwark lock` and `bulwark explain`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use bulwark_cache::Cache;
use bulwark_spec::Spec;

use crate::lockfile::{self, Inputs, LockedPackage, LockedRepository, Lockfile};
use crate::plan::{architectures, lockfile_of, resolve_plan};
use crate::printer::Printer;

/// `bulwark lock`: resolves and writes the lockfile; returns the changes.
pub fn lock(
    spec_path: &Path,
    update: Option<&[String]>,
    cache: &Cache,
    printer: &Printer,
) -> Result<(PathBuf, Vec<String>)> {
    let spec = Spec::load(spec_path)?;
    let lock_path = lockfile::path_for(spec_path);
    let old = if lock_path.exists() {
        Some(Lockfile::read(&lock_path)?)
    } else {
        None
    };
    if let (Some(old), None) = (&old, update) {
        if old
            .inputs
            .drift(&Inputs::of(&spec, &architectures(&spec)))
            .is_empty()
        {
            printer.status(
                "Kept",
                format!(
                    "`{}` (matches the spec; use --update to re-resolve)",
                    lock_path.display()
                ),
            );
            return Ok((lock_path, Vec::new()));
        }
    }
    let (plan, _) = resolve_plan(&spec, cache, printer)?;
    let mut new = lockfile_of(&spec, &plan);
    if let (Some(old), Some(names)) = (&old, update) {
        if !names.is_empty() {
            keep_unnamed(old, &mut new, names)?;
        }
    }
    let changes = old
        .as_ref()
        .map(|o| lockfile::changes(o, &new))
        .unwrap_or_default();
    new.write(&lock_path)?;
    Ok((lock_path, changes))
}

/// For `lock --update PKG…`: every package not named keeps its locked
/// version when the new resolution still has the same package.
fn keep_unnamed(old: &Lockfile, new: &mut Lockfile, names: &[String]) -> Result<()> {
    let named: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    for n in &named {
        if !new.packages.iter().any(|p| p.name == *n) && !old.packages.iter().any(|p| p.name == *n)
        {
            bail!("`{n}` is not a package of this spec's lockfile");
        }
    }
    let old_by_key: BTreeMap<(&str, &str), &LockedPackage> = old
        .packages
        .iter()
        .map(|p| ((p.platform.as_str(), p.name.as_str()), p))
        .collect();
    for p in &mut new.packages {
        if named.contains(p.name.as_str()) {
            continue;
        }
        if let Some(o) = old_by_key.get(&(p.platform.as_str(), p.name.as_str())) {
            let repo = old.repositories[o.repository].clone();
            // The same InRelease is the same repository, whether or not the
            // old lockfile recorded its `Version` and `Codename`.
            let same = |r: &LockedRepository| {
                (&r.entry, &r.suite, &r.inrelease_sha256)
                    == (&repo.entry, &repo.suite, &repo.inrelease_sha256)
            };
            let idx = match new.repositories.iter().position(same) {
                Some(i) => i,
                None => {
                    new.repositories.push(repo);
                    new.repositories.len() - 1
                }
            };
            *p = LockedPackage {
                repository: idx,
                ..(*o).clone()
            };
        }
    }
    Ok(())
}

/// `bulwark explain`.
pub fn explain(
    spec_path: &Path,
    package: &str,
    arch: Option<&str>,
    cache: &Cache,
    printer: &Printer,
) -> Result<String> {
    let mut spec = Spec::load(spec_path)?;
    if let Some(a) = arch {
        spec.architectures = vec![a.to_string()];
    } else if spec.architectures.len() > 1 {
        spec.architectures.truncate(1);
    }
    let (_, resolved) = resolve_plan(&spec, cache, printer)?;
    let r = resolved.first().context("no architecture to explain")?;
    match r.resolution.explain(package) {
        Some(e) => Ok(e.to_string()),
        None if spec.exclude.iter().any(|e| e.name == package) => {
            let reason = spec
                .exclude
                .iter()
                .find_map(|e| (e.name == package).then_some(e.reason.as_deref()).flatten())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            Ok(format!(
                "{package} is excluded{reason}, and nothing in the image depends on it for `{}`",
                r.architecture
            ))
        }
        None => bail!(
            "package `{package}` is not in the image `{}` builds for `{}`",
            spec_path.display(),
            r.architecture
        ),
    }
}
