//! `bulwark build`, `lock` and `explain`: the pipeline spec → repo → resolve →
//! fetch → assemble → emit, run once per architecture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use bulwark_cache::Cache;
use bulwark_repo::Source;
use bulwark_spec::Spec;

use crate::lockfile::{self, Inputs, LockedExclusion, LockedPackage, LockedRepository, Lockfile};
use crate::printer::Printer;
use crate::progress;
use crate::target::ImageRef;

/// Bumped whenever the layer bytes for the same inputs would change.
const LAYER_FORMAT: &str = "bulwark-layer-v3";

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
}

/// The Debian architecture of the machine bulwark runs on.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        "arm" => "armhf",
        "powerpc64" => "ppc64el",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn architectures(spec: &Spec) -> Vec<String> {
    if spec.architectures.is_empty() {
        vec![host_architecture().to_string()]
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
        platforms.push(PlatformPlan {
            architecture: arch.clone(),
            packages,
            excluded,
            origins,
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
fn plan_from_lock(spec: &Spec, lock: &Lockfile, lock_path: &Path) -> Result<Plan> {
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
        platforms.push(PlatformPlan {
            architecture: arch,
            packages,
            excluded,
            origins,
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

/// What a build produced.
#[derive(Debug, Serialize)]
pub struct BuildReport {
    pub image: String,
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<PlatformReport>,
    pub warnings: Vec<String>,
}

/// One platform of a build.
#[derive(Debug, Serialize)]
pub struct PlatformReport {
    pub architecture: String,
    pub manifest: String,
    pub packages: usize,
    pub layers: usize,
}

/// Options of one build.
pub struct BuildOptions<'a> {
    pub spec_path: &'a Path,
    pub output: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub locked: bool,
    pub jobs: usize,
    /// Sign with this key (a PEM file or `env://VAR`).
    pub sign: Option<&'a str>,
}

/// `bulwark build`.
pub fn build(opts: &BuildOptions, cache: &Cache, printer: &Printer) -> Result<BuildReport> {
    // Read once (bounded), so that the digest recorded is of the text built.
    let (spec, spec_text) = Spec::load_with_text(opts.spec_path)?;
    let spec_bytes = spec_text.into_bytes();
    let (target, shown) = output_target(&spec, opts)?;
    let lock_path = lockfile::path_for(opts.spec_path);
    let mut phases = Phases::start();
    if let bulwark_emit::Target::OciLayout { dir, .. } = &target {
        bulwark_attest::check_destination(dir)
            .with_context(|| format!("cannot write image `{shown}`"))?;
    }

    let signing_key = opts
        .sign
        .map(bulwark_attest::load_signing_key)
        .transpose()?;
    if signing_key.is_some() && !matches!(target, bulwark_emit::Target::OciLayout { .. }) {
        bail!("--sign needs an OCI layout output (`oci:DIR[:TAG]`): a docker-archive has no place for signatures");
    }

    let plan = if opts.locked {
        let lock = Lockfile::read(&lock_path)?;
        plan_from_lock(&spec, &lock, &lock_path)?
    } else {
        resolve_plan(&spec, cache, printer)?.0
    };
    phases.mark("resolve");
    for p in &plan.platforms {
        printer.status(
            "Resolved",
            format!("{} packages for {}", p.packages.len(), p.architecture),
        );
    }

    // Download every distinct .deb once, across platforms.
    let mut downloads = Vec::new();
    let mut seen = BTreeSet::new();
    for p in &plan.platforms {
        for c in &p.packages {
            if seen.insert(c.sha256.clone()) {
                downloads.push(bulwark_fetch::Download {
                    name: format!("{}_{}_{}", c.name, c.version, c.architecture),
                    url: c.url.clone(),
                    sha256: c.sha256.clone(),
                    size: c.size,
                });
            }
        }
    }
    let reporter = progress::FetchProgress::new(printer);
    let paths = bulwark_fetch::fetch_all(&downloads, cache, opts.jobs.max(1), &reporter)?;
    reporter.finish();
    phases.mark("fetch");
    let deb_paths: BTreeMap<String, PathBuf> = downloads
        .iter()
        .zip(paths)
        .map(|(d, p)| (d.sha256.clone(), p))
        .collect();

    let epoch_env = source_date_epoch()?;
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let mut images = Vec::new();
    let mut warnings = Vec::new();
    for platform in &plan.platforms {
        let (image, mut warn) = assemble_platform(
            &spec,
            &spec_bytes,
            platform,
            &deb_paths,
            epoch_env,
            cache,
            work.path(),
            printer,
        )?;
        warnings.append(&mut warn);
        images.push(image);
    }
    phases.mark("assemble");
    let mut seen_warnings = BTreeSet::new();
    warnings.retain(|w| seen_warnings.insert(w.clone()));
    for w in &warnings {
        printer.warn(w);
    }
    // An OCI layout is written and attested in a staging layout beside the
    // output; `publish` then moves its blobs in and writes `index.json`
    // once, so the tag and every attestation appear together or not at all.
    let staging = match &target {
        bulwark_emit::Target::OciLayout { dir, .. } => Some(staging_dir(dir)?),
        bulwark_emit::Target::DockerArchive { .. } => None,
    };
    let staged = staging.as_ref().map(|s| s.path().join("layout"));
    let write_target = match (&target, &staged) {
        (bulwark_emit::Target::OciLayout { tag, .. }, Some(dir)) => {
            bulwark_emit::Target::OciLayout {
                dir: dir.clone(),
                tag: tag.clone(),
            }
        }
        _ => target.clone(),
    };
    let written = bulwark_emit::write(&write_target, &images, &BTreeMap::new())
        .with_context(|| format!("cannot write image `{shown}`"))?;
    phases.mark("write");
    let mut attested = Vec::new();
    if let (bulwark_emit::Target::OciLayout { dir, tag }, Some(staged)) = (&target, &staged) {
        let archs: Vec<&str> = plan
            .platforms
            .iter()
            .map(|p| p.architecture.as_str())
            .collect();
        let att = crate::attest::BuildAttestations {
            layout: staged,
            tag,
            image_name: &spec.name,
            index: (written.media_type == bulwark_emit::MEDIA_TYPE_INDEX).then(|| {
                bulwark_emit::Descriptor {
                    media_type: written.media_type.clone(),
                    digest: written.digest.clone(),
                    size: written.size,
                    ..Default::default()
                }
            }),
            platforms: plan
                .platforms
                .iter()
                .zip(&written.manifests)
                .map(|(p, m)| crate::attest::PlatformAttest {
                    manifest: m,
                    architecture: &p.architecture,
                    packages: p
                        .packages
                        .iter()
                        .map(|c| crate::attest::BuiltPackage {
                            name: &c.name,
                            version: &c.version,
                            architecture: &c.architecture,
                            sha256: &c.sha256,
                            uri: crate::attest::deb_uri(
                                &plan.repositories[c.repository].entry,
                                &plan.repositories[c.repository].suite,
                                &c.path,
                            ),
                        })
                        .collect(),
                })
                .collect(),
            spec_sha256: sha256_hex(&spec_bytes),
            lock_sha256: if opts.locked {
                Some(sha256_hex(&std::fs::read(&lock_path).with_context(
                    || format!("cannot read lockfile `{}`", lock_path.display()),
                )?))
            } else {
                None
            },
            inrelease: plan
                .repositories
                .iter()
                .map(|r| {
                    (
                        crate::attest::inrelease_uri(&r.entry, &r.suite),
                        r.inrelease_sha256.clone(),
                    )
                })
                .collect(),
            parameters: serde_json::json!({
                // The repositories as the spec wrote them (`${VAR}`
                // unexpanded), as JSON, not a string holding JSON.
                "repositories": serde_json::from_str::<serde_json::Value>(
                    &spec.repositories_as_written,
                )
                .context("cannot record the spec's repositories in the provenance")?,
                "packages": spec.packages,
                "exclude": spec.exclude.iter().map(|x| &x.name).collect::<Vec<_>>(),
                "architectures": archs,
                "tag": tag,
            }),
            created: epoch_env.unwrap_or(images[0].created),
            key: signing_key.as_ref(),
            sbom_files: spec.sbom_files,
            cache: Some(cache),
            layer_digests: images
                .iter()
                .flat_map(|i| i.layers.iter().map(|l| l.digest.clone()))
                .collect(),
        };
        attested = crate::attest::attach_build_attestations(&att)?;
        phases.mark("attest");
        bulwark_attest::publish(staged, dir)
            .with_context(|| format!("cannot write image `{shown}`"))?;
        phases.mark("publish");
    }
    printer.status("Wrote", format!("{shown} {}", written.digest));
    for line in attested {
        printer.status("Attested", line);
    }
    printer.verbose(&phases);
    Ok(BuildReport {
        image: shown,
        digest: written.digest.clone(),
        media_type: written.media_type.clone(),
        platforms: plan
            .platforms
            .iter()
            .zip(&images)
            .zip(&written.manifests)
            .map(|((p, img), m)| PlatformReport {
                architecture: p.architecture.clone(),
                manifest: m.digest.clone(),
                packages: p.packages.len(),
                layers: img.layers.len(),
            })
            .collect(),
        warnings,
    })
}

/// A new directory beside the output layout `dir` (on its file system, so
/// that publishing renames rather than copies), removed when dropped.
fn staging_dir(dir: &Path) -> Result<tempfile::TempDir> {
    let dir = std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .with_context(|| format!("cannot resolve the output path `{}`", dir.display()))?;
    let parent = dir.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create directory `{}`", parent.display()))?;
    let name = dir
        .file_name()
        .map_or_else(|| "layout".into(), |n| n.to_string_lossy().into_owned());
    tempfile::Builder::new()
        .prefix(&format!(".{name}.build-"))
        .tempdir_in(parent)
        .with_context(|| {
            format!(
                "cannot create a staging directory in `{}`",
                parent.display()
            )
        })
}

/// The wall-clock time of each phase of a build, printed with `--verbose`
/// (`timing: resolve 0.012 s, …, total 0.345 s`; bench/sbom.sh reads it).
struct Phases {
    start: std::time::Instant,
    last: std::time::Instant,
    done: Vec<(&'static str, std::time::Duration)>,
}

impl Phases {
    fn start() -> Self {
        let now = std::time::Instant::now();
        Self {
            start: now,
            last: now,
            done: Vec::new(),
        }
    }

    /// Ends the phase `name`, which began when the previous one ended.
    fn mark(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.done.push((name, now - self.last));
        self.last = now;
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timing:")?;
        for (name, took) in &self.done {
            write!(f, " {name} {:.3} s,", took.as_secs_f64())?;
        }
        write!(f, " total {:.3} s", (self.last - self.start).as_secs_f64())
    }
}

fn output_target(spec: &Spec, opts: &BuildOptions) -> Result<(bulwark_emit::Target, String)> {
    let output = match opts.output {
        Some(o) => {
            ImageRef::parse_output(o).map_err(|e| anyhow::anyhow!("invalid --output: {e}"))?
        }
        None => ImageRef::Oci {
            dir: PathBuf::from("out").join(&spec.name),
            tag: None,
        },
    };
    Ok(match output {
        ImageRef::Oci { dir, tag } => {
            let tag = opts
                .tag
                .map(str::to_string)
                .or(tag)
                .unwrap_or_else(|| spec.tag.clone());
            let shown = format!("oci:{}:{tag}", dir.display());
            (bulwark_emit::Target::OciLayout { dir, tag }, shown)
        }
        ImageRef::DockerArchive { file } => {
            let tag = opts.tag.unwrap_or(&spec.tag);
            let shown = format!("docker-archive:{}", file.display());
            (
                bulwark_emit::Target::DockerArchive {
                    file,
                    reference: format!("{}:{tag}", spec.name),
                },
                shown,
            )
        }
    })
}

/// `SOURCE_DATE_EPOCH`, if set.
fn source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("SOURCE_DATE_EPOCH `{v}` is not a number of seconds")),
        _ => Ok(None),
    }
}

/// What the layer cache stores for one package group.
#[derive(Serialize, Deserialize)]
struct CachedLayer {
    digest: String,
    diff_id: String,
    size: u64,
    media_type: String,
    facts: Vec<bulwark_assemble::PackageFacts>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A package ready to assemble, read from its `.deb`.
fn package_input(c: &Chosen, deb: &Path) -> Result<(bulwark_assemble::PackageInput, u64)> {
    let archive = bulwark_deb::deb::DebArchive::open(deb)?;
    let control = archive.control()?.control;
    let paragraph = bulwark_deb::Paragraph::parse_single(&control).with_context(|| {
        format!(
            "package `{}`: malformed control file in `{}`",
            c.name,
            deb.display()
        )
    })?;
    let field = |name: &str| paragraph.get(name).unwrap_or_default().to_string();
    if field("Package") != c.name || field("Version") != c.version {
        bail!(
            "package `{}` {}: `{}` holds `{}` {} instead",
            c.name,
            c.version,
            deb.display(),
            field("Package"),
            field("Version")
        );
    }
    let source = paragraph
        .get("Source")
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or(&c.name)
        .to_string();
    Ok((
        bulwark_assemble::PackageInput {
            name: c.name.clone(),
            version: c.version.clone(),
            architecture: c.architecture.clone(),
            source,
            deb: deb.to_path_buf(),
            stanza: control.clone(),
        },
        archive.mtime(),
    ))
}

#[expect(
    clippy::too_many_arguments,
    reason = "one platform's build needs the whole build context"
)]
fn assemble_platform(
    spec: &Spec,
    spec_bytes: &[u8],
    platform: &PlatformPlan,
    deb_paths: &BTreeMap<String, PathBuf>,
    epoch_env: Option<u64>,
    cache: &Cache,
    work: &Path,
    printer: &Printer,
) -> Result<(bulwark_emit::ImageSpec, Vec<String>)> {
    let compression = match spec.compression {
        bulwark_spec::Compression::Gzip => bulwark_emit::Compression::Gzip,
        bulwark_spec::Compression::Zstd => bulwark_emit::Compression::Zstd,
    };
    let mut inputs = Vec::new();
    let mut sha256s = Vec::new();
    let mut newest = 0;
    for c in &platform.packages {
        let deb = deb_paths
            .get(&c.sha256)
            .with_context(|| format!("package `{}` was not downloaded", c.name))?;
        let (input, mtime) = package_input(c, deb)?;
        newest = newest.max(mtime);
        inputs.push(input);
        sha256s.push(c.sha256.clone());
    }
    // The newest file time in the packages, unless SOURCE_DATE_EPOCH says otherwise.
    let epoch = epoch_env.unwrap_or(newest);
    let options = bulwark_assemble::Options {
        epoch,
        work_dir: work.to_path_buf(),
        dpkg_database: spec.dpkg_database,
    };
    let plans = bulwark_assemble::plan_layers(&inputs, spec.max_layers);
    let bar = printer.count_bar("Assembling", plans.len() as u64 + 1);
    let mut layers = Vec::new();
    let mut history = Vec::new();
    let mut all_facts = Vec::new();
    // Build (or fetch from the layer cache) every package layer, in
    // parallel; the image lists them in plan order whatever finishes first.
    let build_one = |plan: &bulwark_assemble::LayerPlan| -> Result<(CachedLayer, PathBuf)> {
        let mut key = format!(
            "{LAYER_FORMAT}\n{}\n{:?}\n{:?}\n{epoch}\n",
            platform.architecture, spec.dpkg_database, spec.compression
        );
        for &i in &plan.packages {
            key.push_str(&sha256s[i]);
            key.push('\n');
        }
        let key = sha256_hex(key.as_bytes());
        let cached = cache
            .get_record("layer", &key)?
            .and_then(|bytes| serde_json::from_slice::<CachedLayer>(&bytes).ok())
            .and_then(|c| {
                let hex = c.digest.strip_prefix("sha256:")?.to_string();
                let path = cache.get(&hex).ok().flatten()?;
                Some((c, path))
            });
        let built = match cached {
            Some(hit) => {
                printer.verbose(format!("layer `{}`: cached", plan.label));
                hit
            }
            None => {
                printer.verbose(format!("layer `{}`: unpacking", plan.label));
                let (tar, facts) = bulwark_assemble::package_layer(plan, &inputs, &options)?;
                let (entry, path) = store_layer(&tar.path, compression, work, cache, facts)?;
                cache.put_record("layer", &key, &serde_json::to_vec(&entry)?)?;
                (entry, path)
            }
        };
        bar.inc(1);
        Ok(built)
    };
    let results = parallel_map(&plans, build_one);
    for (plan, result) in plans.iter().zip(results) {
        let (entry, path) = result?;
        let members: Vec<String> = plan
            .packages
            .iter()
            .map(|&i| format!("{}={}", inputs[i].name, inputs[i].version))
            .collect();
        history.push(bulwark_emit::History {
            created_by: format!("bulwark: install {}", plan.label),
            comment: Some(members.join(" ")),
            empty_layer: false,
        });
        layers.push(bulwark_emit::LayerBlob {
            path,
            digest: entry.digest.clone(),
            diff_id: entry.diff_id.clone(),
            size: entry.size,
            media_type: entry.media_type.clone(),
        });
        all_facts.extend(entry.facts);
        bar.inc(1);
    }
    let created = epoch;
    let (system_tar, report) = bulwark_assemble::system_layer(&all_facts, spec, &options)?;
    let (sys_entry, sys_path) =
        store_layer(&system_tar.path, compression, work, cache, Vec::new())?;
    layers.push(bulwark_emit::LayerBlob {
        path: sys_path,
        digest: sys_entry.digest,
        diff_id: sys_entry.diff_id,
        size: sys_entry.size,
        media_type: sys_entry.media_type,
    });
    history.push(bulwark_emit::History {
        created_by: "bulwark: system files (accounts, CA bundle, alternatives, dpkg database)"
            .into(),
        comment: None,
        empty_layer: false,
    });
    bar.inc(1);
    bar.finish_and_clear();

    let mut warnings = Vec::new();
    let mut labels = BTreeMap::new();
    let mut not_run: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for note in &report.scripts_not_replaced {
        not_run.entry(&note.package).or_default().push(&note.script);
    }
    for dir in &report.ld_so_cache_missing {
        warnings.push(format!(
            "{}: ld.so.cache cannot list the libraries in `{dir}` (named in /etc/ld.so.conf.d; an ABI bulwark does not map), so the loader will not find them",
            platform.architecture
        ));
    }
    warnings.extend(report.warnings.iter().cloned());
    if !not_run.is_empty() {
        let list: Vec<String> = not_run
            .iter()
            .map(|(pkg, scripts)| format!("{pkg} ({})", scripts.join(", ")))
            .collect();
        warnings.push(format!(
            "{}: maintainer scripts not run, effects not replaced: {}",
            platform.architecture,
            list.join("; ")
        ));
        labels.insert("dev.bulwark.scripts.not-run".to_string(), list.join("; "));
    }
    let mut annotations = spec
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect::<BTreeMap<_, _>>();
    annotations.insert(
        "dev.bulwark.repositories".into(),
        spec.repositories_as_written.clone(),
    );
    annotations.insert("dev.bulwark.spec.sha256".into(), sha256_hex(spec_bytes));
    annotations.insert(
        "dev.bulwark.origins".into(),
        serde_json::to_string(&platform.origins)?,
    );
    if !platform.excluded.is_empty() {
        let excluded: Vec<serde_json::Value> = platform
            .excluded
            .iter()
            .map(|(name, reason, by)| {
                serde_json::json!({"name": name, "reason": reason, "required-by": by})
            })
            .collect();
        annotations.insert(
            "dev.bulwark.excluded".into(),
            serde_json::to_string(&excluded)?,
        );
    }
    let env: Vec<String> = {
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        );
        for (k, v) in &spec.environment {
            env.insert(k.clone(), v.clone());
        }
        env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
    };
    let image = bulwark_emit::ImageSpec {
        architecture: platform.architecture.clone(),
        layers,
        history,
        entrypoint: (!spec.entrypoint.is_empty()).then(|| spec.entrypoint.clone()),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        env,
        workdir: spec.workdir.clone(),
        user: spec.run_as_numeric(),
        labels,
        created,
        manifest_annotations: annotations,
        ..Default::default()
    };
    Ok((image, warnings))
}

/// Maps `f` over `items` on up to one thread per core, keeping the order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .expect("every slot is filled by a worker that did not panic")
        })
        .collect()
}

/// Compresses a layer tar into the cache; returns the record and blob path.
fn store_layer(
    tar_path: &Path,
    compression: bulwark_emit::Compression,
    work: &Path,
    cache: &Cache,
    facts: Vec<bulwark_assemble::PackageFacts>,
) -> Result<(CachedLayer, PathBuf)> {
    let file = std::fs::File::open(tar_path)
        .with_context(|| format!("cannot read layer `{}`", tar_path.display()))?;
    let blob = bulwark_emit::compress_layer(std::io::BufReader::new(file), compression, work)?;
    let hex = blob.digest.trim_start_matches("sha256:").to_string();
    let blob_file = std::fs::File::open(&blob.path)
        .with_context(|| format!("cannot read layer blob `{}`", blob.path.display()))?;
    let (_, path) = cache.put(Some(&hex), Some(blob.size), blob_file)?;
    let _ = std::fs::remove_file(&blob.path);
    let _ = std::fs::remove_file(tar_path);
    Ok((
        CachedLayer {
            digest: blob.digest,
            diff_id: blob.diff_id,
            size: blob.size,
            media_type: blob.media_type,
            facts,
        },
        path,
    ))
}

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
            let idx = match new.repositories.iter().position(|r| r == &repo) {
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
