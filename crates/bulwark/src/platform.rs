//! Assembling one platform's image: the package layers (from the layer
//! cache when their inputs are unchanged), the system layer, and the image
//! config with bulwark's records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use bulwark_cache::Cache;
use bulwark_spec::Spec;

use crate::plan::{Chosen, PlatformPlan};
use crate::printer::Printer;

/// Bumped whenever the layer bytes for the same inputs would change.
const LAYER_FORMAT: &str = "bulwark-layer-v4";

/// What the layer cache stores for one package group.
#[derive(Serialize, Deserialize)]
struct CachedLayer {
    digest: String,
    diff_id: String,
    size: u64,
    media_type: String,
    facts: Vec<bulwark_assemble::PackageFacts>,
}

/// A `.deb` whose control file names another package or version than the
/// one resolved or locked: content that does not match what names it.
#[derive(Debug)]
pub struct PackageMismatch(String);

impl std::fmt::Display for PackageMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PackageMismatch {}

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
        return Err(PackageMismatch(format!(
            "package `{}` {}: `{}` holds `{}` {} instead",
            c.name,
            c.version,
            deb.display(),
            field("Package").escape_debug(),
            field("Version").escape_debug()
        ))
        .into());
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
pub(crate) fn assemble_platform(
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
        release: platform.release.clone(),
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
        let key = crate::sha256_hex(key.as_bytes());
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
    let results: Vec<_> = plans.par_iter().map(build_one).collect();
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
    annotations.insert(
        "dev.bulwark.spec.sha256".into(),
        crate::sha256_hex(spec_bytes),
    );
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
