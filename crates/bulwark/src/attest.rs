//! Build-time attestations: SBOMs, SLSA provenance and image signatures.
//!
//! [`attach_build_attestations`] runs after `bulwark_emit::write` has
//! written an OCI layout into the build's staging layout: it reads the image
//! back (the ground truth), builds an SPDX and a CycloneDX SBOM and an
//! in-toto SLSA Provenance v1 statement per platform, signs them (and the
//! manifest digests) when a key is given, and attaches everything as OCI 1.1
//! artifacts there; `bulwark_oci::publish` then moves it all into the
//! output layout with one `index.json` write. `bulwark verify`
//! (`bulwark-verify`) checks all of it again.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use bulwark_attest::{
    bundle_artifact, dsse_artifact, ProvenanceInput, ResourceDescriptor, SigningKey, Subject,
    PAYLOAD_TYPE_IN_TOTO, PREDICATE_COSIGN_SIGN_V1, PREDICATE_CYCLONEDX,
    PREDICATE_SLSA_PROVENANCE_V1, PREDICATE_SPDX,
};
use bulwark_image::Contents;
use bulwark_oci::{annotation, media_type, Artifact, Descriptor, ImageRef, Layout};
use bulwark_sbom::PackageRecord;
use bulwark_verify::MEDIA_TYPE_DEB;

/// `runDetails.builder.id` of bulwark's provenance.
pub const BUILDER_ID: &str = "https://github.com/bulwark-build/bulwark";
const TOOL: &str = concat!("bulwark-", env!("CARGO_PKG_VERSION"));

/// The repository URI of a spec repository entry as written (the lockfile's
/// `entry`: JSON, `${VAR}` unexpanded), without a trailing `/`; for the
/// host's APT sources (`"host"`, `{"host": SUITE}`), `apt-host:SUITE`, so
/// that no host mirror is recorded. Credentials written literally in the
/// URI are hidden.
fn repository_uri(entry: &str, suite: &str) -> String {
    serde_json::from_str::<Value>(entry)
        .ok()
        .and_then(|v| v.get("uri").and_then(Value::as_str).map(str::to_owned))
        .map_or_else(
            || format!("apt-host:{suite}"),
            |uri| bulwark_http::redact_url(uri.trim_end_matches('/')),
        )
}

/// The host-free URI of a `.deb` for the provenance: the repository's URI
/// as written in the spec (`${VAR}` unexpanded; `apt-host:SUITE` for the
/// host's sources) and the pool path, e.g.
/// `${MIRROR}/pool/main/b/bash/bash_5.2.15-2+b7_amd64.deb`.
pub fn deb_uri(entry: &str, suite: &str, path: &str) -> String {
    format!(
        "{}/{}",
        repository_uri(entry, suite),
        path.trim_start_matches('/')
    )
}

/// The host-free URI of a suite's `InRelease` file for the provenance:
/// `URI/dists/SUITE/InRelease`, the URI as in [`deb_uri`].
pub fn inrelease_uri(entry: &str, suite: &str) -> String {
    format!("{}/dists/{suite}/InRelease", repository_uri(entry, suite))
}

/// One package of a built platform, as the build resolved it.
#[derive(Clone, Debug)]
pub struct BuiltPackage<'a> {
    /// Binary package name.
    pub name: &'a str,
    /// Version, epoch included.
    pub version: &'a str,
    /// Package architecture (`amd64`, `all`, …).
    pub architecture: &'a str,
    /// Hex SHA-256 of the `.deb`.
    pub sha256: &'a str,
    /// Where the `.deb` came from, host-free: see [`deb_uri`].
    pub uri: String,
}

/// One platform of a build.
#[derive(Clone, Debug)]
pub struct PlatformAttest<'a> {
    /// The platform's image manifest, as `bulwark_emit::write` returned it.
    pub manifest: &'a Descriptor,
    /// The Debian architecture it was built for.
    pub architecture: &'a str,
    /// The packages installed, with their `.deb` digests.
    pub packages: Vec<BuiltPackage<'a>>,
}

/// Everything [`attach_build_attestations`] needs from a build.
#[derive(Clone, Debug)]
pub struct BuildAttestations<'a> {
    /// The (staging) OCI layout the image was written to.
    pub layout: &'a Path,
    /// The tag the image was written under.
    pub tag: &'a str,
    /// The spec's image name.
    pub image_name: &'a str,
    /// The image index, for a multi-platform image (it is signed too).
    pub index: Option<Descriptor>,
    /// Every platform, in `Written::manifests` order.
    pub platforms: Vec<PlatformAttest<'a>>,
    /// Hex SHA-256 of the spec file.
    pub spec_sha256: String,
    /// Hex SHA-256 of the lockfile, when the build used one.
    pub lock_sha256: Option<String>,
    /// Every `InRelease` the packages came from: its host-free URI (see
    /// [`inrelease_uri`]) and its hex SHA-256.
    pub inrelease: Vec<(String, String)>,
    /// The build's parameters (`externalParameters.parameters`), host-free.
    pub parameters: Value,
    /// Document time, seconds since the epoch (from `SOURCE_DATE_EPOCH`).
    pub created: u64,
    /// The signing key, for `--sign`.
    pub key: Option<&'a SigningKey>,
    /// Also list every file in the SBOMs (spec key `sbom-files`).
    pub sbom_files: bool,
    /// The cache that keeps what reading each layer back found.
    pub cache: Option<&'a bulwark_cache::Cache>,
    /// The digests (`sha256:HEX`) of the layers the build wrote, hashed as
    /// it wrote them: reading them back does not hash them again.
    pub layer_digests: std::collections::BTreeSet<String>,
}

/// Builds the SBOMs and provenance of every platform of a freshly written
/// image and attaches them (signed, with a key) to the image in its OCI
/// layout. Returns one summary line per platform.
///
/// The SBOMs describe what the image really holds: the image is read back
/// from the layout (digests checked) and its dpkg database and copyright
/// files are what [`bulwark_sbom::records`] reads; only the `.deb` SHA-256s
/// come from the build. What reading each layer found is kept in the cache
/// under the layer's digest (see [`crate::layer_cache`]), so only layers the
/// build made anew are decompressed again; every blob is still hashed.
/// Everything is a
/// pure function of the inputs, so two builds give the same bytes (Ed25519
/// and RFC 6979 ECDSA signatures are deterministic).
pub fn attach_build_attestations(input: &BuildAttestations) -> Result<Vec<String>> {
    let reference = format!("{}:{}", input.image_name, input.tag);
    let target = ImageRef::Oci {
        dir: input.layout.to_path_buf(),
        tag: Some(input.tag.to_owned()),
    };
    let layout = Layout::open(input.layout)?;
    let contents = match input.cache {
        Some(cache) => bulwark_image::open_cached(
            &target,
            None,
            &crate::layer_cache::CachedLayers::known_good(cache, input.layer_digests.clone()),
        ),
        None => bulwark_image::open(&target, None),
    }
    .with_context(|| format!("cannot read back the image `{target}` to attest it"))?;
    let mut lines = Vec::new();
    for platform in &input.platforms {
        let digest = &platform.manifest.digest;
        let image = contents
            .iter()
            .find(|c| c.manifest_digest.as_deref() == Some(digest.as_str()))
            .with_context(|| format!("`{target}` has no image manifest `{digest}`"))?;
        let read = ReadBack::of(image, input.sbom_files)?;
        let artifacts = platform_artifacts(input, platform, &read, &reference)?;
        let kinds: Vec<&str> = artifacts
            .iter()
            .filter_map(|a| a.annotations.get(annotation::ARTIFACT))
            .map(String::as_str)
            .collect();
        layout
            .attach(platform.manifest, &artifacts)
            .with_context(|| format!("cannot attach attestations to `{digest}`"))?;
        lines.push(format!(
            "{} {}: {}{}",
            read.platform.as_deref().unwrap_or(platform.architecture),
            digest,
            kinds.join(", "),
            if input.key.is_some() { " (signed)" } else { "" }
        ));
    }
    if let (Some(index), Some(key)) = (&input.index, input.key) {
        let bundle = bulwark_attest::sign_manifest(&index.digest, input.image_name, key)?;
        let artifact = bundle_artifact("signature", bundle.to_json(), PREDICATE_COSIGN_SIGN_V1);
        layout
            .attach(index, &[artifact])
            .with_context(|| format!("cannot attach the signature of `{}`", index.digest))?;
        lines.push(format!("index {}: signature", index.digest));
    }
    Ok(lines)
}

/// What the SBOMs of one platform are made of, as read back from the
/// image: its platform, operating system, vendor annotation, packages
/// (without `.deb` digests) and, with `sbom-files`, files.
#[derive(Debug, Deserialize, Serialize)]
struct ReadBack {
    platform: Option<String>,
    os: Option<bulwark_image::OsRelease>,
    vendor: Option<String>,
    records: Vec<PackageRecord>,
    files: Option<Vec<bulwark_sbom::FileRecord>>,
}

impl ReadBack {
    fn of(image: &Contents, files: bool) -> Result<Self> {
        let digest = image.manifest_digest.as_deref().unwrap_or("the image");
        let records = bulwark_sbom::records(image)
            .with_context(|| format!("cannot read the packages of `{digest}`"))?;
        let files = if files {
            Some(
                bulwark_sbom::file_records(image)
                    .with_context(|| format!("cannot read the files of `{digest}`"))?,
            )
        } else {
            None
        };
        Ok(Self {
            platform: image.platform.clone(),
            os: image.os.clone(),
            vendor: image.annotations.get(annotation::VENDOR).cloned(),
            records,
            files,
        })
    }
}

/// The artifacts of one platform: SBOMs, provenance and, with a key, the
/// signature.
fn platform_artifacts(
    input: &BuildAttestations,
    platform: &PlatformAttest,
    read: &ReadBack,
    reference: &str,
) -> Result<Vec<Artifact>> {
    let digest = &platform.manifest.digest;
    let by_name: BTreeMap<(&str, &str), &BuiltPackage> = platform
        .packages
        .iter()
        .map(|p| ((p.name, p.architecture), p))
        .collect();
    let mut records = read.records.clone();
    for r in &mut records {
        let key = (r.package.name.as_str(), r.package.architecture.as_str());
        r.deb_sha256 = by_name.get(&key).map(|p| p.sha256.to_owned());
    }
    let sbom_input = bulwark_sbom::SbomInput {
        subject: bulwark_sbom::Subject {
            name: reference.to_owned(),
            manifest_digest: Some(digest.clone()),
            platform: read.platform.clone(),
            supplier: Some(supplier(read.vendor.as_deref(), input.image_name)),
        },
        os: read.os.as_ref(),
        packages: &records,
        files: read.files.as_deref(),
        created: input.created,
        tool: TOOL,
    };
    let spdx = bulwark_sbom::spdx_json(&sbom_input)?;
    let cyclonedx = bulwark_sbom::cyclonedx_json(&sbom_input)?;
    let provenance = provenance(input, platform, reference);

    let mut artifacts = vec![
        Artifact::new("sbom-spdx", media_type::SPDX_JSON, spdx.clone()),
        Artifact::new(
            "sbom-cyclonedx",
            media_type::CYCLONEDX_JSON,
            cyclonedx.clone(),
        ),
    ];
    let Some(key) = input.key else {
        artifacts.push(
            Artifact::new(
                "provenance",
                media_type::IN_TOTO,
                serde_json::to_vec(&provenance)?,
            )
            .with_annotation(annotation::PREDICATE_TYPE, PREDICATE_SLSA_PROVENANCE_V1),
        );
        return Ok(artifacts);
    };
    let sign = |statement: &Value| -> Result<Vec<u8>> {
        let payload = serde_json::to_vec(statement)?;
        Ok(bulwark_attest::dsse_sign(PAYLOAD_TYPE_IN_TOTO, &payload, key).to_json())
    };
    artifacts.push(dsse_artifact(
        "provenance",
        sign(&provenance)?,
        PREDICATE_SLSA_PROVENANCE_V1,
    ));
    for (kind, predicate_type, document) in [
        ("sbom-spdx", PREDICATE_SPDX, &spdx),
        ("sbom-cyclonedx", PREDICATE_CYCLONEDX, &cyclonedx),
    ] {
        let sbom: Value = serde_json::from_slice(document)?;
        let statement = bulwark_attest::sbom_statement(reference, digest, predicate_type, sbom);
        artifacts.push(dsse_artifact(kind, sign(&statement)?, predicate_type));
    }
    let bundle = bulwark_attest::sign_manifest(digest, input.image_name, key)?;
    artifacts.push(bundle_artifact(
        "signature",
        bundle.to_json(),
        PREDICATE_COSIGN_SIGN_V1,
    ));
    Ok(artifacts)
}

/// The SBOM supplier of a built image: `Organization: VENDOR` from the
/// `org.opencontainers.image.vendor` annotation (the spec's `annotations`),
/// else `Organization: NAME maintainers`, NAME being the spec's image name:
/// whoever maintains the spec supplies the image.
fn supplier(vendor: Option<&str>, image_name: &str) -> String {
    match vendor {
        Some(vendor) if !vendor.trim().is_empty() => format!("Organization: {}", vendor.trim()),
        _ => format!("Organization: {image_name} maintainers"),
    }
}

/// The SLSA provenance statement of one platform.
fn provenance(input: &BuildAttestations, platform: &PlatformAttest, reference: &str) -> Value {
    let mut debs: Vec<&BuiltPackage> = platform.packages.iter().collect();
    debs.sort_by(|a, b| (a.name, a.architecture).cmp(&(b.name, b.architecture)));
    let mut dependencies: Vec<ResourceDescriptor> = debs
        .iter()
        .map(|p| ResourceDescriptor {
            name: Some(format!("{}_{}_{}.deb", p.name, p.version, p.architecture)),
            media_type: Some(MEDIA_TYPE_DEB.to_owned()),
            annotations: BTreeMap::from([
                ("package".to_owned(), Value::String(p.name.to_owned())),
                ("version".to_owned(), Value::String(p.version.to_owned())),
                (
                    "architecture".to_owned(),
                    Value::String(p.architecture.to_owned()),
                ),
            ]),
            ..ResourceDescriptor::new(p.uri.clone(), p.sha256)
        })
        .collect();
    let mut inrelease: Vec<&(String, String)> = input.inrelease.iter().collect();
    inrelease.sort();
    inrelease.dedup();
    dependencies.extend(inrelease.iter().map(|(name, sha256)| ResourceDescriptor {
        name: Some("InRelease".to_owned()),
        ..ResourceDescriptor::new(name.clone(), sha256)
    }));
    bulwark_attest::provenance_statement(&ProvenanceInput {
        subjects: vec![Subject::new(reference, platform.manifest.digest.clone())],
        spec_digest: input.spec_sha256.clone(),
        lock_digest: input.lock_sha256.clone(),
        parameters: input.parameters.clone(),
        internal_parameters: Value::Null,
        resolved_dependencies: dependencies,
        builder_id: BUILDER_ID.to_owned(),
        builder_version: BTreeMap::from([(
            "bulwark".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        )]),
        ..ProvenanceInput::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_uris_name_no_host() {
        assert_eq!(
            deb_uri(
                r#"{"uri":"${M}/debian/","suites":["s"]}"#,
                "s",
                "pool/a.deb"
            ),
            "${M}/debian/pool/a.deb"
        );
        assert_eq!(
            inrelease_uri("\"host\"", "bookworm"),
            "apt-host:bookworm/dists/bookworm/InRelease"
        );
    }
}
