//! Commands that read existing images: `bulwark sbom`, and the helpers
//! `scan` and `verify` share with it (target opening, platform default,
//! document timestamps).

use std::path::Path;

use anyhow::{bail, Context, Result};

use bulwark_cache::Cache;
use bulwark_cli::{RegistryArgs, SbomArgs, SbomFormat};
use bulwark_image::Contents;
use bulwark_oci::ImageRef;

use crate::printer::Printer;

/// The host's platform in OCI form, the default for `sbom` and `scan`.
pub fn host_platform() -> String {
    let arch = bulwark_deb::host_architecture();
    bulwark_oci::Platform::for_debian_arch(arch)
        .map_or_else(|| format!("linux/{arch}"), |p| p.to_string())
}

/// Opens a target for one platform (the host's unless given), telling the
/// user which kind a bare path was detected as. With a cache, what reading
/// each layer found is kept there (see [`crate::layer_cache`]).
pub fn open_one(
    target: &str,
    platform: Option<&str>,
    cache: Option<&Cache>,
    registry: &RegistryArgs,
    printer: &Printer,
) -> Result<Contents> {
    let (parsed, detected) = bulwark_image::parse_target(target)?;
    if let Some(kind) = detected {
        printer.status("Detected", format!("`{target}` as {kind}"));
    }
    let platform = platform.map_or_else(host_platform, str::to_string);
    let layers = cache.map(crate::layer_cache::CachedLayers::new);
    let layers = layers.as_ref().map(|l| l as &dyn bulwark_image::LayerCache);
    let opened = match (&parsed, layers) {
        (ImageRef::Registry(reference), _) => {
            let store = crate::registry::open(reference, registry)?;
            bulwark_image::open_store(store, target, "docker", None, Some(&platform), layers)
        }
        (_, Some(layers)) => bulwark_image::open_cached(&parsed, Some(&platform), layers),
        (_, None) => bulwark_image::open(&parsed, Some(&platform)),
    };
    let mut all = opened.with_context(|| format!("cannot read `{target}`"))?;
    match all.len() {
        1 => {
            let contents = all.remove(0);
            if contents.packages.is_empty() {
                printer.warn(format!(
                    "`{target}` holds no installed Debian package (no entries in \
                     /var/lib/dpkg/status or /var/lib/dpkg/status.d)"
                ));
            }
            Ok(contents)
        }
        0 => bail!("`{target}` has no image for platform `{platform}`"),
        n => bail!("`{target}` has {n} images for platform `{platform}`; name one with --platform"),
    }
}

/// Seconds since the Unix epoch for documents about `contents`:
/// `SOURCE_DATE_EPOCH`, else the image's `created`, else now.
pub fn document_time(contents: &Contents) -> Result<u64> {
    if let Some(epoch) = crate::source_date_epoch()? {
        return Ok(epoch);
    }
    if let Some(created) = contents
        .config
        .as_ref()
        .and_then(|c| c.get("created"))
        .and_then(|c| c.as_str())
        .and_then(parse_rfc3339)
    {
        return Ok(created);
    }
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()))
}

/// Parses an RFC 3339 timestamp (`2023-11-14T22:13:20Z`, fractions and
/// offsets allowed) to Unix seconds; `None` before 1970 or when malformed.
fn parse_rfc3339(s: &str) -> Option<u64> {
    let t: jiff::Timestamp = s.parse().ok()?;
    u64::try_from(t.as_second()).ok()
}

/// Checks `--supplier` is an SPDX actor: `Person: NAME` or `Organization:
/// NAME`, optionally followed by ` (EMAIL)`, on one line.
fn check_supplier(supplier: &str) -> Result<()> {
    let name = supplier
        .strip_prefix("Person:")
        .or_else(|| supplier.strip_prefix("Organization:"));
    let Some(name) = name else {
        bail!("--supplier `{supplier}` must start with `Person: ` or `Organization: `");
    };
    let name = name.split(" (").next().unwrap_or_default().trim();
    if name.is_empty() {
        bail!("--supplier `{supplier}` names no one after its `Person:` or `Organization:`");
    }
    if supplier.chars().any(char::is_control) {
        bail!("--supplier must be one line without control characters");
    }
    Ok(())
}

/// `bulwark sbom`.
pub fn sbom(args: &SbomArgs, cache: Option<&Cache>, printer: &Printer) -> Result<()> {
    let contents = open_one(
        &args.target,
        args.platform.as_deref(),
        cache,
        &args.registry,
        printer,
    )?;
    let records = bulwark_sbom::records(&contents)?;
    let files = if args.files {
        Some(bulwark_sbom::file_records(&contents)?)
    } else {
        None
    };
    if let Some(supplier) = &args.supplier {
        check_supplier(supplier)?;
    }
    let supplier = args.supplier.clone().or_else(|| {
        contents
            .annotations
            .get("org.opencontainers.image.vendor")
            .map(|v| format!("Organization: {v}"))
    });
    let input = bulwark_sbom::SbomInput {
        subject: bulwark_sbom::Subject {
            name: contents.target.clone(),
            manifest_digest: contents.manifest_digest.clone(),
            platform: contents.platform.clone(),
            supplier,
        },
        os: contents.os.as_ref(),
        packages: &records,
        files: files.as_deref(),
        created: document_time(&contents)?,
        tool: concat!("bulwark-", env!("CARGO_PKG_VERSION")),
    };
    let bytes = match args.format {
        SbomFormat::SpdxJson => bulwark_sbom::spdx_json(&input)?,
        SbomFormat::CyclonedxJson => bulwark_sbom::cyclonedx_json(&input)?,
    };
    match &args.output {
        Some(path) => {
            bulwark_oci::write_atomic(path, &bytes)?;
            printer.status(
                "Wrote",
                format!("{} packages to `{}`", records.len(), path.display()),
            );
        }
        None => printer.data(&String::from_utf8_lossy(&bytes)),
    }
    Ok(())
}

/// `bulwark key generate`.
pub fn key_generate(
    algorithm: bulwark_attest::Algorithm,
    out: &Path,
    printer: &Printer,
) -> Result<()> {
    let key = bulwark_attest::generate(algorithm);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory `{}`", dir.display()))?;
    }
    bulwark_attest::write_key_pair(out, &key)?;
    printer.status(
        "Wrote",
        format!(
            "`{}` (private, 0600) and `{}.pub`",
            out.display(),
            out.display()
        ),
    );
    printer.data(&key.key_id());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.5+01:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_rfc3339("not a date"), None);
    }
}
