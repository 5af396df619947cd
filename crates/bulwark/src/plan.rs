//! Which packages go into each platform's image: a fresh resolution from
//! the spec's signed repositories, or the lockfile's choice; and the
//! lockfile a plan makes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context, Result};

use bulwark_cache::Cache;
use bulwark_repo::Source;
use bulwark_spec::Spec;

use crate::lockfile::{self, Inputs, LockedExclusion, LockedPackage, LockedRepository, Lockfile};
use crate::printer::Printer;
use crate::progress;

/// One package chosen for one platform, wherever the choice came from
/// (a fresh resolution or the lockfile).
#[derive(Clone, Debug)]
pub struct Chosen {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub url: String,
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Index into the run's repository list.
    pub repository: usize,
}

/// The packages of every platform, plus what the lockfile needs to know.
pub struct Plan {
    pub platforms: Vec<PlatformPlan>,
    pub repositories: Vec<LockedRepository>,
}

/// The packages of one platform.
pub struct PlatformPlan {
    pub architecture: String,
    pub packages: Vec<Chosen>,
    /// Excluded packages that something depended on: (name, reason, required-by).
    pub excluded: Vec<(String, Option<String>, Vec<String>)>,
    /// Package name → the `Origin` of the Release it came from (`Debian`…).
    pub origins: BTreeMap<String, String>,
    /// The release `/etc/os-release` names when no package ships one, or
    /// why it is unknown (see [`debian_release`]).
    pub release: Result<bulwark_assemble::DebianRelease, String>,
}

pub(crate) fn architectures(spec: &Spec) -> Vec<String> {
    if spec.architectures.is_empty() {
        vec![bulwark_deb::host_architecture().to_string()]
    } else {
        spec.architectures.clone()
    }
}

/// Resolves the spec fresh from its signed repositories.
pub fn resolve_plan(
    spec: &Spec,
    cache: &Cache,
    printer: &Printer,
) -> Result<(Plan, Vec<Resolved>)> {
    let sources = bulwark_repo::resolve_spec(spec, &bulwark_repo::apt_root())?;
    let mut repositories: Vec<LockedRepository> = Vec::new();
    let mut platforms = Vec::new();
    let mut resolutions = Vec::new();
    for arch in architectures(spec) {
        let reporter = progress::IndexProgress::new(printer);
        let index = bulwark_repo::load(&sources, &arch, cache, &reporter)
            .with_context(|| format!("cannot load the package indices for `{arch}`"))?;
        reporter.finish();
        let request = bulwark_resolve::Request {
            architecture: &arch,
            packages: &spec.packages,
            exclude: &spec.exclude,
            prefer: &spec.prefer,
            recommends: spec.recommends,
        };
        let resolution = bulwark_resolve::resolve(&index, &request)?;
        warn_unknown_names(&index, spec, &arch, printer);
        let mut packages = Vec::new();
        for selected in resolution.packages() {
            let pkg = &selected.package;
            let release = pkg.release();
            let repo = LockedRepository {
                entry: release.source.as_written.clone(),
                suite: release.source.suite.clone(),
                origin: release.origin.clone(),
                version: release.version.clone(),
                codename: release.codename.clone(),
                inrelease_sha256: release.inrelease_sha256.clone(),
            };
            let repository = match repositories.iter().position(|r| r == &repo) {
                Some(i) => i,
                None => {
                    repositories.push(repo);
                    repositories.len() - 1
                }
            };
            let missing = |field: &str| {
                anyhow::anyhow!(
                    "package `{}` {} has no `{field}` in its index",
                    pkg.name(),
                    pkg.version()
                )
            };
            packages.push(Chosen {
                name: pkg.name().to_string(),
                version: pkg.version().to_string(),
                architecture: pkg.architecture().to_string(),
                url: pkg.url().ok_or_else(|| missing("Filename"))?,
                path: pkg
                    .filename()
                    .ok_or_else(|| missing("Filename"))?
                    .to_string(),
                size: pkg.size().ok_or_else(|| missing("Size"))?,
                sha256: pkg.sha256().ok_or_else(|| missing("SHA256"))?.to_string(),
                repository,
            });
        }
        // Every exclusion of the spec, with what it stood in for (nothing,
        // when no selected package depended on it).
        let excluded = spec
            .exclude
            .iter()
            .map(|x| {
                let by = resolution
                    .excluded()
                    .iter()
                    .filter(|e| e.name == x.name)
                    .flat_map(|e| e.depended_on_by.iter().map(|edge| edge.to_string()))
                    .collect();
                (x.name.clone(), x.reason.clone(), by)
            })
            .collect();
        let origins = origins_of(&packages, &repositories);
        let release = debian_release(&sources, &packages, &repositories, None);
        platforms.push(PlatformPlan {
            architecture: arch.clone(),
            packages,
            excluded,
            origins,
            release,
        });
        resolutions.push(Resolved {
            architecture: arch,
            resolution,
        });
    }
    Ok((
        Plan {
            platforms,
            repositories,
        },
        resolutions,
    ))
}

/// A fresh resolution, kept for `explain`.
pub struct Resolved {
    pub architecture: String,
    pub resolution: bulwark_resolve::Resolution,
}

/// The plan a lockfile describes, after checking it against the spec.
pub(crate) fn plan_from_lock(spec: &Spec, lock: &Lockfile, lock_path: &Path) -> Result<Plan> {
    let archs = architectures(spec);
    let drift = lock.inputs.drift(&Inputs::of(spec, &archs));
    if !drift.is_empty() {
        bail!(
            "the spec drifted from lockfile `{}`: {} (run `bulwark lock --update`)",
            lock_path.display(),
            drift.join("; ")
        );
    }
    let sources = bulwark_repo::resolve_spec(spec, &bulwark_repo::apt_root())?;
    let uri_of = |repo: &LockedRepository| -> Result<String> {
        sources
            .iter()
            .find(|s: &&Source| s.as_written == repo.entry && s.suite == repo.suite)
            .map(|s| s.uri.clone())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "lockfile `{}` names repository {} suite `{}`, which the spec does not resolve to",
                    lock_path.display(),
                    repo.entry,
                    repo.suite
                )
            })
    };
    let mut platforms = Vec::new();
    for arch in archs {
        let mut packages = Vec::new();
        for p in lock.packages_for(&arch) {
            let base = uri_of(&lock.repositories[p.repository])?;
            packages.push(Chosen {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
                url: format!("{}/{}", base.trim_end_matches('/'), p.path),
                path: p.path.clone(),
                size: p.size,
                sha256: p.sha256.clone(),
                repository: p.repository,
            });
        }
        if packages.is_empty() {
            bail!(
                "lockfile `{}` has no packages for architecture `{arch}`",
                lock_path.display()
            );
        }
        let excluded = spec
            .exclude
            .iter()
            .map(|x| {
                let by = lock
                    .excluded
                    .iter()
                    .filter(|e| e.platform == arch && e.name == x.name)
                    .flat_map(|e| e.required_by.iter().cloned())
                    .collect();
                (x.name.clone(), x.reason.clone(), by)
            })
            .collect();
        let origins = origins_of(&packages, &lock.repositories);
        let release = debian_release(&sources, &packages, &lock.repositories, Some(lock_path));
        platforms.push(PlatformPlan {
            architecture: arch,
            packages,
            excluded,
            origins,
            release,
        });
    }
    Ok(Plan {
        platforms,
        repositories: lock.repositories.clone(),
    })
}

/// Each package's repository `Origin`, for scanners (`dev.bulwark.origins`).
fn origins_of(packages: &[Chosen], repositories: &[LockedRepository]) -> BTreeMap<String, String> {
    packages
        .iter()
        .map(|c| {
            let origin = repositories
                .get(c.repository)
                .and_then(|r| r.origin.clone())
                .unwrap_or_default();
            (c.name.clone(), origin)
        })
        .collect()
}

/// The release an image's `/etc/os-release` names when no package ships
/// one: that of the first repository, in the spec's order, that the
/// platform's packages came from and whose Release says `Origin: Debian`
/// (its `Version` and `Codename`, see [`bulwark_assemble::DebianRelease`]).
/// The error says why there is none, for the build's warning; `lock` names
/// the lockfile of a locked build, whose repositories may predate the
/// recording of `Version` and `Codename`.
fn debian_release(
    sources: &[Source],
    packages: &[Chosen],
    repositories: &[LockedRepository],
    lock: Option<&Path>,
) -> Result<bulwark_assemble::DebianRelease, String> {
    let spec_order = |r: &LockedRepository| {
        sources
            .iter()
            .position(|s| s.as_written == r.entry && s.suite == r.suite)
            .unwrap_or(usize::MAX)
    };
    let used: BTreeSet<usize> = packages.iter().map(|c| c.repository).collect();
    let first = used
        .into_iter()
        .filter_map(|i| repositories.get(i).map(|r| (spec_order(r), i, r)))
        .filter(|(.., r)| r.origin.as_deref() == Some("Debian"))
        .min_by_key(|&(order, i, _)| (order, i))
        .map(|(.., r)| r)
        .ok_or("no repository the packages came from has a Release with `Origin: Debian`")?;
    let suite = first.suite.escape_debug();
    if let (Some(lock), None, None) = (lock, &first.version, &first.codename) {
        return Err(format!(
            "lockfile `{}` does not record the `Version` and `Codename` of suite `{suite}` (it predates them; run `bulwark lock --update`)",
            lock.display()
        ));
    }
    bulwark_assemble::DebianRelease::from_release(
        first.version.as_deref(),
        first.codename.as_deref(),
    )
    .map_err(|why| format!("the first Debian repository, suite `{suite}`: {why}"))
}

/// Turns a plan into a lockfile.
pub fn lockfile_of(spec: &Spec, plan: &Plan) -> Lockfile {
    let archs: Vec<String> = plan
        .platforms
        .iter()
        .map(|p| p.architecture.clone())
        .collect();
    let mut packages = Vec::new();
    for platform in &plan.platforms {
        for c in &platform.packages {
            packages.push(LockedPackage {
                name: c.name.clone(),
                version: c.version.clone(),
                architecture: c.architecture.clone(),
                platform: platform.architecture.clone(),
                repository: c.repository,
                path: c.path.clone(),
                size: c.size,
                sha256: c.sha256.clone(),
            });
        }
    }
    let excluded = plan
        .platforms
        .iter()
        .flat_map(|p| {
            p.excluded.iter().map(|(name, _, by)| LockedExclusion {
                name: name.clone(),
                platform: p.architecture.clone(),
                required_by: by.clone(),
            })
        })
        .collect();
    Lockfile {
        version: lockfile::FORMAT_VERSION,
        inputs: Inputs::of(spec, &archs),
        repositories: plan.repositories.clone(),
        packages,
        excluded,
    }
}

/// Warns about `exclude` and `prefer` names that no package of the index
/// has or provides: most likely typos, which would otherwise change nothing
/// silently.
fn warn_unknown_names(
    index: &bulwark_repo::PackageIndex,
    spec: &bulwark_spec::Spec,
    arch: &str,
    printer: &Printer,
) {
    let mut unknown: std::collections::BTreeMap<&str, &str> = spec
        .exclude
        .iter()
        .map(|e| (e.name.as_str(), "exclude"))
        .chain(spec.prefer.iter().map(|p| (p.as_str(), "prefer")))
        .collect();
    if unknown.is_empty() {
        return;
    }
    for package in &index.packages {
        unknown.remove(package.name());
        if unknown.is_empty() {
            return;
        }
        let paragraph = package.paragraph();
        let Some(provides) = paragraph.get("Provides") else {
            continue;
        };
        if unknown.keys().any(|name| provides.contains(name)) {
            for relation in bulwark_deb::relation::parse_provides(provides).unwrap_or_default() {
                unknown.remove(relation.name.as_str());
            }
        }
    }
    for (name, key) in unknown {
        printer.warn(format!(
            "`{key}` names `{name}`, which no package for `{arch}` has or provides (a typo?)"
        ));
    }
}
