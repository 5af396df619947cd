//! `bulwark build`: the pipeline spec → repo → resolve → fetch → assemble →
//! emit → attest, run once per architecture, written through a staging
//! layout and published with one `index.json` write.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use bulwark_cache::Cache;
use bulwark_oci::ImageRef;
use bulwark_spec::Spec;

use crate::lockfile::{self, Lockfile};
use crate::plan;
use crate::platform;
use crate::printer::Printer;
use crate::progress;

/// What a build produced.
#[derive(Debug, Serialize)]
pub struct BuildReport {
    pub image: String,
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<PlatformReport>,
    pub warnings: Vec<String>,
    /// What pushing the image to a registry did (`-o docker://…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed: Option<bulwark_registry::PushReport>,
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
        bulwark_oci::check_destination(dir)
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
        plan::plan_from_lock(&spec, &lock, &lock_path)?
    } else {
        plan::resolve_plan(&spec, cache, printer)?.0
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

    let epoch_env = crate::source_date_epoch()?;
    // Spooled layer tars: in a locked `$TMPDIR/.bulwark.build-*` directory,
    // so that the next build removes what a killed one left, never what a
    // running one uses.
    let work = bulwark_oci::Staging::beside(&std::env::temp_dir().join("bulwark"))
        .context("cannot create a temporary directory")?;
    let mut images = Vec::new();
    let mut warnings = Vec::new();
    for platform in &plan.platforms {
        let (image, mut warn) = platform::assemble_platform(
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
        bulwark_emit::Target::OciLayout { dir, .. } => Some(
            bulwark_oci::Staging::beside(dir)
                .with_context(|| format!("cannot write image `{shown}`"))?,
        ),
        bulwark_emit::Target::DockerArchive { .. } => None,
    };
    let staged = staging.as_ref().map(bulwark_oci::Staging::layout_dir);
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
            index: (written.media_type == bulwark_oci::media_type::INDEX).then(|| {
                bulwark_oci::Descriptor::new(
                    &written.media_type,
                    written.digest.clone(),
                    written.size,
                )
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
            spec_sha256: crate::sha256_hex(&spec_bytes),
            lock_sha256: if opts.locked {
                Some(crate::sha256_hex(
                    &bulwark_oci::read_regular(&lock_path, crate::lockfile::MAX_LOCKFILE)
                        .with_context(|| {
                            format!("cannot read lockfile `{}`", lock_path.display())
                        })?,
                ))
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
        bulwark_oci::publish(staged, dir)
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
        pushed: None,
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
        Some(o) => ImageRef::parse_output(o).context("invalid --output")?,
        None => ImageRef::Oci {
            dir: PathBuf::from("out").join(&spec.name),
            tag: None,
        },
    };
    if let Some(tag) = opts.tag {
        bulwark_oci::check_tag(tag).map_err(|reason| anyhow::anyhow!("invalid --tag: {reason}"))?;
    }
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
        other => bail!(
            "invalid --output `{other}`: bulwark writes images to `oci:DIR[:TAG]` or `docker-archive:FILE`"
        ),
    })
}
