//! Build-time attestations (SBOMs, SLSA provenance, image signatures) and
//! `bulwark verify`.
//!
//! [`attach_build_attestations`] runs after `bulwark_emit::write` has
//! written an OCI layout into the build's staging layout: it reads the image
//! back (the ground truth), builds an SPDX and a CycloneDX SBOM and an
//! in-toto SLSA Provenance v1 statement per platform, signs them (and the
//! manifest digests) when a key is given, and attaches everything as OCI 1.1
//! artifacts there; `bulwark_attest::publish` then moves it all into the
//! output layout with one `index.json` write. [`verify`] checks all of it
//! again and evaluates a [`Policy`]; it returns a [`VerifyReport`] whose
//! [`exit_code`](VerifyReport::exit_code) is that of `bulwark verify`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use bulwark_attest::{
    Artifact, Envelope, ProvenanceInput, ResourceDescriptor, SigningKey, Subject, VerifyError,
    VerifyingKey, ARTIFACT_TYPE_CYCLONEDX, ARTIFACT_TYPE_DSSE, ARTIFACT_TYPE_SIGSTORE_BUNDLE,
    ARTIFACT_TYPE_SPDX, PAYLOAD_TYPE_IN_TOTO, PREDICATE_COSIGN_SIGN_V1, PREDICATE_CYCLONEDX,
    PREDICATE_SLSA_PROVENANCE_V1, PREDICATE_SPDX,
};
use bulwark_emit::Descriptor;
use bulwark_image::Contents;
use bulwark_sbom::PackageRecord;
use bulwark_vuln::Severity;

/// `runDetails.builder.id` of bulwark's provenance.
pub const BUILDER_ID: &str = "https://github.com/bulwark-build/bulwark";
/// Artifact type of an unsigned in-toto statement (provenance without a key).
pub const ARTIFACT_TYPE_IN_TOTO: &str = PAYLOAD_TYPE_IN_TOTO;
/// Media type of a `.deb` in the provenance's resolved dependencies.
const MEDIA_TYPE_DEB: &str = "application/vnd.debian.binary-package";
const TOOL: &str = concat!("bulwark-", env!("CARGO_PKG_VERSION"));

/// Exit code: policy violation.
const POLICY: u8 = 1;
/// Exit code: input error.
const INPUT: u8 = 2;
/// Exit code: signature missing.
const MISSING: u8 = 3;
/// Exit code: bad signature or wrong key.
const BAD_SIGNATURE: u8 = 4;
/// Exit code: digest or content mismatch.
const MISMATCH: u8 = 5;

/// The repository URI of a spec repository entry as written (the lockfile's
/// `entry`: JSON, `${VAR}` unexpanded), without a trailing `/`; for the
/// host's APT sources (`"host"`, `{"host": SUITE}`), `apt-host:SUITE`, so
/// that no host mirror is recorded.
fn repository_uri(entry: &str, suite: &str) -> String {
    serde_json::from_str::<Value>(entry)
        .ok()
        .and_then(|v| v.get("uri").and_then(Value::as_str).map(str::to_owned))
        .map_or_else(
            || format!("apt-host:{suite}"),
            |uri| uri.trim_end_matches('/').to_owned(),
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
    let target = bulwark_image::Target::Oci {
        dir: input.layout.to_path_buf(),
        tag: Some(input.tag.to_owned()),
    };
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
            .filter_map(|a| a.annotations.get(bulwark_attest::ANNOTATION_ARTIFACT))
            .map(String::as_str)
            .collect();
        bulwark_attest::attach(input.layout, platform.manifest, &artifacts)
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
        let artifact =
            Artifact::sigstore_bundle("signature", bundle.to_json(), PREDICATE_COSIGN_SIGN_V1);
        bulwark_attest::attach(input.layout, index, &[artifact])
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
            vendor: image
                .annotations
                .get("org.opencontainers.image.vendor")
                .cloned(),
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
        Artifact::new("sbom-spdx", ARTIFACT_TYPE_SPDX, spdx.clone()),
        Artifact::new("sbom-cyclonedx", ARTIFACT_TYPE_CYCLONEDX, cyclonedx.clone()),
    ];
    let Some(key) = input.key else {
        artifacts.push(
            Artifact::new(
                "provenance",
                ARTIFACT_TYPE_IN_TOTO,
                serde_json::to_vec(&provenance)?,
            )
            .with_annotation(
                bulwark_attest::ANNOTATION_PREDICATE_TYPE,
                PREDICATE_SLSA_PROVENANCE_V1,
            ),
        );
        return Ok(artifacts);
    };
    let sign = |statement: &Value| -> Result<Vec<u8>> {
        let payload = serde_json::to_vec(statement)?;
        Ok(bulwark_attest::dsse_sign(PAYLOAD_TYPE_IN_TOTO, &payload, key).to_json())
    };
    artifacts.push(Artifact::dsse(
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
        artifacts.push(Artifact::dsse(kind, sign(&statement)?, predicate_type));
    }
    let bundle = bulwark_attest::sign_manifest(digest, input.image_name, key)?;
    artifacts.push(Artifact::sigstore_bundle(
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

// ---------------------------------------------------------------------------
// verify

/// A verification policy (`--policy FILE`, YAML). Unknown keys are refused.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// Package name globs (`*`, `?`) that must not be in the image.
    #[serde(default)]
    pub deny_packages: Vec<String>,
    /// When set, every package's license expression must be satisfiable
    /// with these SPDX identifiers (globs, case-insensitive; `NOASSERTION`
    /// must be listed to accept unknown licenses).
    #[serde(default)]
    pub allow_licenses: Option<Vec<String>>,
    /// SPDX identifiers (globs, case-insensitive) a package's license
    /// expression must be satisfiable without.
    #[serde(default)]
    pub deny_licenses: Vec<String>,
    /// The provenance's `runDetails.builder.id` must be this.
    #[serde(default)]
    pub require_builder: Option<String>,
    /// The image's config `User` must not be empty, `0` or `root`.
    #[serde(default)]
    pub require_non_root: bool,
    /// Highest acceptable vulnerability severity: a finding of a higher
    /// (known) severity in the image's packages is a violation. Needs a
    /// vulnerability database (`--db`).
    #[serde(default)]
    pub max_severity: Option<Severity>,
}

impl Policy {
    /// Reads a policy file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read policy `{}`", path.display()))?;
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_norway::from_str(&text).map_err(|err| {
            // serde_norway leaves out the location when it is the start of
            // the document (an unknown key on line 1).
            let mut message = err.to_string();
            if let Some(at) = err.location() {
                if !message.contains(&format!("line {}", at.line())) {
                    message.push_str(&format!(" at line {} column {}", at.line(), at.column()));
                }
            }
            anyhow::anyhow!("invalid policy `{}`: {message}", path.display())
        })
    }
}

/// One check `verify` made.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked, with the platform (`signature linux/amd64`).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found; for a failure, what does not match.
    pub detail: String,
    /// The exit code a failure gives (0 when ok).
    #[serde(skip)]
    code: u8,
}

/// What `bulwark verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// The target verified.
    pub target: String,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Policy violations.
    pub violations: Vec<String>,
    /// Rules that were not evaluated, and why.
    pub notes: Vec<String>,
    /// 0 ok, 1 policy violation, 3 signature missing, 4 bad signature or
    /// wrong key, 5 digest or content mismatch. With several failures, the
    /// first of 5, 4, 3, 1 that applies.
    pub exit_code: u8,
}

impl VerifyReport {
    fn new(target: &str) -> Self {
        Self {
            target: target.to_owned(),
            checks: Vec::new(),
            violations: Vec::new(),
            notes: Vec::new(),
            exit_code: 0,
        }
    }

    fn pass(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            code: 0,
        });
    }

    fn fail(&mut self, name: impl Into<String>, detail: impl Into<String>, code: u8) {
        self.checks.push(Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            code,
        });
    }

    fn finish(&mut self) {
        let codes: BTreeSet<u8> = self.checks.iter().map(|c| c.code).collect();
        self.exit_code = [MISMATCH, BAD_SIGNATURE, MISSING, INPUT]
            .into_iter()
            .find(|c| codes.contains(c))
            .unwrap_or(if self.violations.is_empty() {
                0
            } else {
                POLICY
            });
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Verifying {}", self.target)?;
        for c in &self.checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            writeln!(f, "  {mark} {}: {}", c.name, c.detail)?;
        }
        if !self.violations.is_empty() {
            writeln!(f, "Policy violations:")?;
            for v in &self.violations {
                writeln!(f, "  - {v}")?;
            }
        }
        for n in &self.notes {
            writeln!(f, "Note: {n}")?;
        }
        let verdict = match self.exit_code {
            0 => "verified",
            POLICY => "policy violation",
            MISSING => "signature missing",
            BAD_SIGNATURE => "bad signature or wrong key",
            MISMATCH => "digest or content mismatch",
            _ => "input error",
        };
        writeln!(f, "Result: {verdict} (exit {})", self.exit_code)
    }
}

/// The error `bulwark verify` returns when its report is not clean; carries
/// the exit code.
#[derive(Debug)]
pub struct VerifyFailed(pub u8);

impl fmt::Display for VerifyFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.0 {
            POLICY => "the image violates the policy",
            MISSING => "a signature is missing",
            BAD_SIGNATURE => "a signature does not verify with the given key",
            MISMATCH => "a digest or the content does not match",
            _ => "the image could not be verified",
        };
        write!(f, "verification failed: {what} (see the report above)")
    }
}

impl std::error::Error for VerifyFailed {}

/// `bulwark verify`: checks an image in an OCI layout and its attestations.
///
/// For each platform (all unless `platform` says): the manifest, config
/// and layer digests (while reading the image); the Sigstore bundle
/// signature over the exact manifest digest with the key at `key_path`;
/// the signed provenance and its subject; each signed SBOM (and unsigned
/// copy) against the packages recomputed from the image; then the policy.
/// For a multi-platform image, the signature over the index digest too.
///
/// Verification failures are in the report (see
/// [`VerifyReport::exit_code`]); an `Err` is an input error (unreadable key
/// or policy, a target that is not an OCI layout).
pub fn verify(
    target: &str,
    key_path: &Path,
    policy: Option<&Path>,
    platform: Option<&str>,
    db: Option<&Path>,
) -> Result<VerifyReport> {
    let key = VerifyingKey::load(key_path)?;
    let policy = policy.map(Policy::load).transpose()?.unwrap_or_default();
    let db = match policy.max_severity {
        Some(max) => Some(open_database(db, max)?),
        None => None,
    };
    let (parsed, _) = bulwark_image::Target::parse(target)?;
    let bulwark_image::Target::Oci { dir, tag } = &parsed else {
        bail!(
            "`{target}` is a {}; signatures and attestations are stored only in OCI layouts (`oci:DIR[:TAG]`)",
            parsed.kind()
        );
    };

    let mut report = VerifyReport::new(target);
    let images = match bulwark_image::open(&parsed, platform) {
        Ok(images) => images,
        Err(err) => {
            let detail = match &err {
                bulwark_image::Error::DigestMismatch { .. }
                | bulwark_image::Error::MissingBlob { .. } => err.to_string(),
                _ => match missing_blob(dir, &err) {
                    Some(blob) => format!("blob `{blob}` is missing"),
                    None => {
                        return Err(
                            anyhow::Error::new(err).context(format!("cannot read `{target}`"))
                        )
                    }
                },
            };
            report.fail("image digests", detail, MISMATCH);
            report.finish();
            return Ok(report);
        }
    };

    if platform.is_none() {
        if let Some(index) = tagged_index(dir, tag.as_deref())? {
            if let Some(artifacts) = artifacts_of(&mut report, dir, &index, "index") {
                check_signature(&mut report, &key, &artifacts, &index, "index");
            }
        }
    }
    let rules = Rules {
        policy: &policy,
        db: db.as_ref(),
    };
    for image in &images {
        verify_image(&mut report, &key, &rules, dir, image)?;
    }
    report.finish();
    Ok(report)
}

/// The blob of the layout at `dir` whose absence `err` reports, if it
/// does: a directory layout reports a blob it cannot open as an I/O error
/// on its file, not as [`bulwark_image::Error::MissingBlob`].
fn missing_blob(dir: &Path, err: &bulwark_image::Error) -> Option<String> {
    let bulwark_image::Error::Io { path, source } = err else {
        return None;
    };
    let in_blobs = path
        .parent()
        .is_some_and(|parent| parent.ends_with(dir.join("blobs").join("sha256")));
    (source.kind() == std::io::ErrorKind::NotFound && in_blobs).then(|| path.display().to_string())
}

/// The vulnerability database that `max-severity` is evaluated with: `db`
/// (`--db`, `BULWARK_DB`) or `bulwark scan`'s default.
fn open_database(db: Option<&Path>, max: Severity) -> Result<bulwark_vuln::Database> {
    let needs = || {
        format!("policy rule `max-severity: {max}` needs a vulnerability database (--db FILE or BULWARK_DB)")
    };
    let path = match db {
        Some(path) => path.to_path_buf(),
        None => bulwark_vuln::default_path().with_context(needs)?,
    };
    bulwark_vuln::Database::open(&path).with_context(needs)
}

/// The digest of the image index the tag (or the only image) points at,
/// if it is an index.
fn tagged_index(dir: &Path, tag: Option<&str>) -> Result<Option<String>> {
    let path = dir.join("index.json");
    let bytes =
        std::fs::read(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let index: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("malformed JSON in `{}`", path.display()))?;
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ref_name = |d: &Value| {
        d.pointer("/annotations/org.opencontainers.image.ref.name")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let chosen = match tag {
        Some(tag) => manifests
            .iter()
            .find(|d| ref_name(d).as_deref() == Some(tag)),
        None => {
            let images: Vec<&Value> = manifests
                .iter()
                .filter(|d| d.get("artifactType").is_none())
                .filter(|d| !ref_name(d).is_some_and(|n| n.starts_with("sha256-")))
                .collect();
            (images.len() == 1).then(|| images[0])
        }
    };
    Ok(chosen
        .filter(|d| {
            d.get("mediaType").and_then(Value::as_str) == Some(bulwark_emit::MEDIA_TYPE_INDEX)
        })
        .and_then(|d| d.get("digest").and_then(Value::as_str))
        .map(str::to_owned))
}

/// One artifact attached to an image: its descriptor (with the artifact
/// type and annotations) and its document.
type Attached = (Descriptor, Vec<u8>);

/// Why the artifacts of an image could not be read: what to report and
/// the exit code.
struct ReadFailure {
    detail: String,
    code: u8,
}

impl ReadFailure {
    fn new(detail: impl Into<String>, code: u8) -> Self {
        Self {
            detail: detail.into(),
            code,
        }
    }
}

/// A blob of the layout, read whole and checked against its digest and
/// size; `Ok(None)` when it is not there.
fn read_layout_blob(dir: &Path, descriptor: &Descriptor) -> Result<Option<Vec<u8>>, ReadFailure> {
    let Some(hex) = descriptor.sha256_hex() else {
        return Err(ReadFailure::new(
            format!(
                "`{}` is not a sha256 digest (`sha256:` and 64 lowercase hex digits)",
                descriptor.digest
            ),
            INPUT,
        ));
    };
    let path = dir.join("blobs/sha256").join(hex);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(ReadFailure::new(
                format!("cannot read blob `{}`: {err}", path.display()),
                MISMATCH,
            ))
        }
    };
    let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    if actual != hex || bytes.len() as u64 != descriptor.size {
        return Err(ReadFailure::new(
            format!(
                "blob `{}` does not match its digest: expected `{}` ({} bytes), found `sha256:{actual}` ({} bytes)",
                path.display(),
                descriptor.digest,
                descriptor.size,
                bytes.len()
            ),
            MISMATCH,
        ));
    }
    Ok(Some(bytes))
}

/// Like [`read_layout_blob`], but a missing blob is a mismatch too.
fn read_required_blob(
    dir: &Path,
    descriptor: &Descriptor,
    what: &str,
) -> Result<Vec<u8>, ReadFailure> {
    read_layout_blob(dir, descriptor)?.ok_or_else(|| {
        ReadFailure::new(
            format!(
                "{what} {} is missing: no blob `{}`",
                descriptor.digest,
                dir.join("blobs/sha256")
                    .join(descriptor.sha256_hex().unwrap_or_default())
                    .display()
            ),
            MISMATCH,
        )
    })
}

/// Whether `verify` looks at an artifact of this descriptor: bulwark's
/// (annotated `dev.bulwark.artifact`) or of a type a check reads.
fn is_checked(descriptor: &Descriptor) -> bool {
    descriptor
        .annotations
        .contains_key(bulwark_attest::ANNOTATION_ARTIFACT)
        || [
            ARTIFACT_TYPE_SPDX,
            ARTIFACT_TYPE_CYCLONEDX,
            ARTIFACT_TYPE_DSSE,
            ARTIFACT_TYPE_SIGSTORE_BUNDLE,
            ARTIFACT_TYPE_IN_TOTO,
        ]
        .contains(&artifact_type(descriptor))
}

/// The artifacts attached to `digest` in the layout at `dir`: those its
/// referrers index (tagged `sha256-<hex>`) lists, and the untagged
/// artifact manifests of `index.json` whose `subject` is `digest`. Every
/// blob read is checked against its digest.
///
/// An entry the referrers index of `digest` lists claims to be one of its
/// artifacts: a missing blob there is a mismatch. An untagged entry whose
/// manifest is missing may belong to any image: it is ignored, with a
/// note. Artifacts of other types than those `verify` checks (and not
/// bulwark's) are ignored without reading their documents.
fn read_referrers(
    dir: &Path,
    digest: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Attached>, ReadFailure> {
    #[derive(Deserialize)]
    struct IndexDoc {
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    let tag = bulwark_attest::referrers_tag(digest)
        .ok_or_else(|| ReadFailure::new(format!("`{digest}` is not a sha256 digest"), INPUT))?;
    let path = dir.join("index.json");
    let bytes = std::fs::read(&path).map_err(|err| {
        ReadFailure::new(format!("cannot read `{}`: {err}", path.display()), INPUT)
    })?;
    let index: IndexDoc = serde_json::from_slice(&bytes).map_err(|err| {
        ReadFailure::new(
            format!("invalid JSON in `{}`: {err}", path.display()),
            INPUT,
        )
    })?;
    fn ref_name(d: &Descriptor) -> Option<&str> {
        d.annotations
            .get(bulwark_emit::ANNOTATION_REF_NAME)
            .map(String::as_str)
    }
    // (descriptor, whether the referrers index of `digest` lists it).
    let mut candidates: Vec<(Descriptor, bool)> = Vec::new();
    if let Some(referrers) = index
        .manifests
        .iter()
        .find(|d| ref_name(d) == Some(tag.as_str()))
    {
        let bytes = read_required_blob(dir, referrers, "the referrers index")?;
        let listed: IndexDoc = serde_json::from_slice(&bytes).map_err(|err| {
            ReadFailure::new(
                format!(
                    "the referrers index {} is not valid JSON: {err}",
                    referrers.digest
                ),
                INPUT,
            )
        })?;
        candidates.extend(listed.manifests.into_iter().map(|d| (d, true)));
    }
    for descriptor in &index.manifests {
        if descriptor.artifact_type.is_some()
            && descriptor.media_type == bulwark_emit::MEDIA_TYPE_MANIFEST
            && !candidates
                .iter()
                .any(|(d, _)| d.digest == descriptor.digest)
        {
            let mut descriptor = descriptor.clone();
            descriptor
                .annotations
                .remove(bulwark_emit::ANNOTATION_REF_NAME);
            candidates.push((descriptor, false));
        }
    }

    let mut found = Vec::new();
    for (descriptor, claimed) in candidates {
        if descriptor.media_type != bulwark_emit::MEDIA_TYPE_MANIFEST {
            continue;
        }
        let bytes = if claimed {
            read_required_blob(dir, &descriptor, "artifact manifest")?
        } else {
            match read_layout_blob(dir, &descriptor)? {
                Some(bytes) => bytes,
                None => {
                    let note = format!(
                        "ignored the artifact {} (type {}) that index.json lists: its manifest blob is missing",
                        descriptor.digest,
                        artifact_type(&descriptor).escape_debug()
                    );
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    continue;
                }
            }
        };
        let manifest: Value = match serde_json::from_slice(&bytes) {
            Ok(manifest) => manifest,
            Err(_) if !claimed => continue,
            Err(err) => {
                return Err(ReadFailure::new(
                    format!(
                        "artifact manifest {} is not valid JSON: {err}",
                        descriptor.digest
                    ),
                    INPUT,
                ))
            }
        };
        if manifest.pointer("/subject/digest").and_then(Value::as_str) != Some(digest) {
            continue;
        }
        let annotations: BTreeMap<String, String> = manifest
            .get("annotations")
            .and_then(|a| serde_json::from_value(a.clone()).ok())
            .unwrap_or_default();
        let descriptor = Descriptor {
            artifact_type: descriptor.artifact_type.clone().or_else(|| {
                manifest
                    .get("artifactType")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }),
            annotations: if descriptor.annotations.is_empty() {
                annotations
            } else {
                descriptor.annotations.clone()
            },
            ..descriptor
        };
        if !is_checked(&descriptor) {
            continue;
        }
        let layers: Vec<Descriptor> = manifest
            .get("layers")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        let [layer] = layers.as_slice() else {
            return Err(ReadFailure::new(
                format!(
                    "artifact manifest `{}` is not usable: it has {} usable layers, not one",
                    descriptor.digest,
                    layers.len()
                ),
                INPUT,
            ));
        };
        let document = read_required_blob(
            dir,
            layer,
            &format!("the document of artifact {}", descriptor.digest),
        )?;
        found.push((descriptor, document));
    }
    Ok(found)
}

/// The artifacts attached to `digest` (see [`read_referrers`]), or `None`
/// after recording a failed check (a changed byte in an artifact, or a
/// missing blob it names, is a mismatch).
fn artifacts_of(
    report: &mut VerifyReport,
    dir: &Path,
    digest: &str,
    label: &str,
) -> Option<Vec<Attached>> {
    match read_referrers(dir, digest, &mut report.notes) {
        Ok(found) => Some(found),
        Err(failure) => {
            report.fail(
                format!("attestations {label}"),
                failure.detail,
                failure.code,
            );
            None
        }
    }
}

fn kind_of(descriptor: &Descriptor) -> &str {
    descriptor
        .annotations
        .get(bulwark_attest::ANNOTATION_ARTIFACT)
        .map_or("", String::as_str)
}

fn artifact_type(descriptor: &Descriptor) -> &str {
    descriptor.artifact_type.as_deref().unwrap_or("")
}

/// Checks the Sigstore bundle signature(s) over `digest` among the
/// `artifacts` attached to it.
fn check_signature(
    report: &mut VerifyReport,
    key: &VerifyingKey,
    artifacts: &[Attached],
    digest: &str,
    label: &str,
) {
    let name = format!("signature {label}");
    let mut first_error = None;
    for (descriptor, document) in artifacts {
        if artifact_type(descriptor) != ARTIFACT_TYPE_SIGSTORE_BUNDLE {
            continue;
        }
        let result = bulwark_attest::Bundle::from_json(document)
            .and_then(|bundle| bulwark_attest::verify_manifest_signature(&bundle, digest, key));
        match result {
            Ok(()) => {
                report.pass(
                    name,
                    format!("{digest} is signed by key {}", short(&key.key_id())),
                );
                return;
            }
            Err(err) => {
                first_error.get_or_insert((descriptor.digest.clone(), err));
            }
        }
    }
    match first_error {
        None => report.fail(name, format!("no signature of {digest}"), MISSING),
        Some((artifact, err)) => {
            let code = err.exit_code();
            report.fail(name, format!("{err} (signature artifact {artifact})"), code);
        }
    }
}

fn short(key_id: &str) -> &str {
    key_id.get(..16).unwrap_or(key_id)
}

/// One package identity: name, version, architecture.
type Pkg = (String, String, String);

/// What an SBOM says about one package besides its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    /// Its `pkg:deb/` PURL.
    purl: String,
    /// The hex SHA-256s of its `.deb` the SBOM gives (bulwark's give one,
    /// when the build knew it).
    sha256: Vec<String>,
    /// Its license, as the SBOM declares it.
    license: ListedLicense,
}

/// A package's license as an SBOM declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ListedLicense {
    /// SPDX `licenseDeclared` and `licenseConcluded` (`None` when absent).
    Spdx {
        declared: Option<String>,
        concluded: Option<String>,
    },
    /// CycloneDX `licenses`: each entry's `expression` (or `license.id`,
    /// `license.name`).
    CycloneDx(Vec<String>),
}

impl ListedLicense {
    /// What the SBOM declares, when it is not `expected` (the license
    /// bulwark's SBOMs derive from the image's copyright file) the way
    /// bulwark writes it: SPDX `licenseDeclared` the expression (or
    /// `NOASSERTION`) and `licenseConcluded` `NOASSERTION` (or the same);
    /// CycloneDX one `expression`, none for `NOASSERTION`.
    fn differs(&self, expected: &bulwark_sbom::License) -> Option<String> {
        let want = expected.as_str();
        match self {
            Self::Spdx {
                declared,
                concluded,
            } => {
                let declared = declared.as_deref().unwrap_or("NOASSERTION");
                let concluded = concluded.as_deref().unwrap_or("NOASSERTION");
                if declared != want {
                    Some(format!("`{declared}`"))
                } else if concluded != "NOASSERTION" && concluded != want {
                    Some(format!("`{concluded}` (licenseConcluded)"))
                } else {
                    None
                }
            }
            Self::CycloneDx(listed) => {
                let ok = match expected {
                    bulwark_sbom::License::NoAssertion => listed.is_empty(),
                    bulwark_sbom::License::Expression(e) => listed.as_slice() == [e.clone()],
                };
                (!ok).then(|| {
                    if listed.is_empty() {
                        "none".to_owned()
                    } else {
                        listed
                            .iter()
                            .map(|l| format!("`{l}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                })
            }
        }
    }
}

/// The packages an SBOM lists, by identity, and what in it is not one
/// package of the image listed once.
#[derive(Debug, Default)]
struct Listing {
    packages: BTreeMap<Pkg, Listed>,
    /// Entries that are no package of the image, or list one again.
    problems: Vec<String>,
}

impl Listing {
    fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// Adds the entry `show` of (name, version, PURL, `.deb` SHA-256s,
    /// license); a PURL that is not `pkg:deb/` or an identity already
    /// listed is a problem.
    fn add(
        &mut self,
        show: &str,
        (name, version, purl, sha256, license): (String, String, &str, Vec<String>, ListedLicense),
    ) {
        if !purl.starts_with("pkg:deb/") {
            self.problem(format!(
                "{show} has PURL `{purl}`, not a pkg:deb package of the image"
            ));
            return;
        }
        let key = (name, version, purl_arch(purl).unwrap_or("").to_owned());
        if self.packages.contains_key(&key) {
            let (n, v, a) = &key;
            self.problem(format!("`{n}` {v} ({a}) is listed twice"));
            return;
        }
        self.packages.insert(
            key,
            Listed {
                purl: purl.to_owned(),
                sha256,
                license,
            },
        );
    }
}

/// The policy and what evaluating it needs.
struct Rules<'a> {
    policy: &'a Policy,
    /// The vulnerability database, when the policy has `max-severity`.
    db: Option<&'a bulwark_vuln::Database>,
}

fn verify_image(
    report: &mut VerifyReport,
    key: &VerifyingKey,
    rules: &Rules,
    dir: &Path,
    image: &Contents,
) -> Result<()> {
    let digest = image
        .manifest_digest
        .clone()
        .context("the image has no manifest digest")?;
    let label = image.platform.clone().unwrap_or_else(|| digest.clone());
    report.pass(
        format!("image {label}"),
        format!("manifest {digest}, its config and layers match their digests"),
    );
    let records = match bulwark_sbom::records(image) {
        Ok(r) => r,
        Err(err) => {
            report.fail(format!("packages {label}"), err.to_string(), INPUT);
            return Ok(());
        }
    };
    let actual: BTreeSet<Pkg> = records
        .iter()
        .map(|r| {
            let p = &r.package;
            (p.name.clone(), p.version.clone(), p.architecture.clone())
        })
        .collect();

    let Some(artifacts) = artifacts_of(report, dir, &digest, &label) else {
        evaluate_policy(report, rules, image, &records, None, &label);
        return Ok(());
    };
    check_signature(report, key, &artifacts, &digest, &label);

    // Provenance.
    let mut builder = None;
    // The `.deb` digests of the verified provenance, by package identity.
    let mut deb_digests: BTreeMap<Pkg, String> = BTreeMap::new();
    let provenance: Vec<&(Descriptor, Vec<u8>)> = artifacts
        .iter()
        .filter(|(d, _)| kind_of(d) == "provenance" && artifact_type(d) == ARTIFACT_TYPE_DSSE)
        .collect();
    let name = format!("provenance {label}");
    if provenance.is_empty() {
        report.fail(name.clone(), "no signed provenance", MISSING);
    }
    for (descriptor, document) in provenance {
        match open_statement(document, key) {
            Err(err) => report.fail(
                name.clone(),
                format!("{err} (artifact {})", descriptor.digest),
                err.exit_code(),
            ),
            Ok(statement) => {
                if statement.get("predicateType").and_then(Value::as_str)
                    != Some(PREDICATE_SLSA_PROVENANCE_V1)
                {
                    report.fail(
                        name.clone(),
                        format!("artifact {} is not SLSA provenance", descriptor.digest),
                        INPUT,
                    );
                    continue;
                }
                let subjects = subject_digests(&statement);
                if subjects.contains(&digest) {
                    builder = statement
                        .pointer("/predicate/runDetails/builder/id")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    deb_digests = provenance_debs(&statement);
                    report.pass(
                        name.clone(),
                        format!(
                            "signed; subject is {digest}; builder {}",
                            builder.as_deref().unwrap_or("(none)")
                        ),
                    );
                } else {
                    report.fail(
                        name.clone(),
                        format!(
                            "subject is {}, not the image manifest {digest} (artifact {})",
                            subjects.join(", "),
                            descriptor.digest
                        ),
                        MISMATCH,
                    );
                }
            }
        }
    }

    // SBOMs: signed statements (required) and plain copies (checked when
    // present).
    for (kind, predicate_type, plain_type) in [
        ("sbom-spdx", PREDICATE_SPDX, ARTIFACT_TYPE_SPDX),
        (
            "sbom-cyclonedx",
            PREDICATE_CYCLONEDX,
            ARTIFACT_TYPE_CYCLONEDX,
        ),
    ] {
        let name = format!("{kind} {label}");
        let mut signed = 0;
        for (descriptor, document) in &artifacts {
            let atype = artifact_type(descriptor);
            let sbom = if atype == ARTIFACT_TYPE_DSSE && kind_of(descriptor) == kind {
                signed += 1;
                match open_statement(document, key) {
                    Err(err) => {
                        report.fail(
                            name.clone(),
                            format!("{err} (artifact {})", descriptor.digest),
                            err.exit_code(),
                        );
                        continue;
                    }
                    Ok(statement) => {
                        let subjects = subject_digests(&statement);
                        if !subjects.contains(&digest) {
                            report.fail(
                                name.clone(),
                                format!(
                                    "signed SBOM's subject is {}, not the image manifest {digest} (artifact {})",
                                    subjects.join(", "),
                                    descriptor.digest
                                ),
                                MISMATCH,
                            );
                            continue;
                        }
                        if statement.get("predicateType").and_then(Value::as_str)
                            != Some(predicate_type)
                        {
                            report.fail(
                                name.clone(),
                                format!(
                                    "artifact {} has predicate type {}, not {predicate_type}",
                                    descriptor.digest,
                                    statement
                                        .get("predicateType")
                                        .and_then(Value::as_str)
                                        .unwrap_or("(none)")
                                ),
                                INPUT,
                            );
                            continue;
                        }
                        statement.get("predicate").cloned().unwrap_or(Value::Null)
                    }
                }
            } else if atype == plain_type {
                match serde_json::from_slice::<Value>(document) {
                    Ok(v) => v,
                    Err(err) => {
                        report.fail(
                            name.clone(),
                            format!("artifact {} is not JSON: {err}", descriptor.digest),
                            MISMATCH,
                        );
                        continue;
                    }
                }
            } else {
                continue;
            };
            let listed = if kind == "sbom-spdx" {
                spdx_packages(&sbom, image, &digest)
            } else {
                cyclonedx_packages(&sbom, image, &digest)
            };
            let which = if atype == ARTIFACT_TYPE_DSSE {
                "signed"
            } else {
                "unsigned copy"
            };
            let keys: BTreeSet<Pkg> = listed.packages.keys().cloned().collect();
            let diff = listed
                .problems
                .first()
                .cloned()
                .or_else(|| first_difference(&actual, &keys))
                .or_else(|| {
                    first_detail_difference(&records, image, &listed.packages, &deb_digests)
                });
            match diff {
                None => report.pass(
                    format!("{name} ({which})"),
                    format!(
                        "lists exactly the {} packages in the image, with their PURLs{}",
                        actual.len(),
                        if deb_digests.is_empty() {
                            " and licenses"
                        } else {
                            ", licenses and the provenance's .deb digests"
                        }
                    ),
                ),
                Some(diff) => report.fail(
                    format!("{name} ({which})"),
                    format!(
                        "does not match the image (artifact {}): {diff}",
                        descriptor.digest
                    ),
                    MISMATCH,
                ),
            }
        }
        if signed == 0 {
            report.fail(name, "no signed SBOM", MISSING);
        }
    }

    evaluate_policy(report, rules, image, &records, builder.as_deref(), &label);
    Ok(())
}

/// The `.deb`s a provenance statement lists as resolved dependencies: the
/// package identity from their annotations, and their hex SHA-256.
fn provenance_debs(statement: &Value) -> BTreeMap<Pkg, String> {
    statement
        .pointer("/predicate/buildDefinition/resolvedDependencies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|d| d.get("mediaType").and_then(Value::as_str) == Some(MEDIA_TYPE_DEB))
        .filter_map(|d| {
            let s = |k: &str| {
                d.pointer(&format!("/annotations/{k}"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let sha256 = d.pointer("/digest/sha256").and_then(Value::as_str)?;
            Some((
                (s("package")?, s("version")?, s("architecture")?),
                sha256.to_owned(),
            ))
        })
        .collect()
}

/// For an SBOM that lists the image's packages: the first package whose
/// PURL differs from the one recomputed from the image, whose license
/// differs from the one bulwark's SBOMs derive from the image's copyright
/// file for it, or whose `.deb` SHA-256 differs from the verified
/// provenance's (`debs`, when there is one).
fn first_detail_difference(
    records: &[PackageRecord],
    image: &Contents,
    listed: &BTreeMap<Pkg, Listed>,
    debs: &BTreeMap<Pkg, String>,
) -> Option<String> {
    for r in records {
        let p = &r.package;
        let key = (p.name.clone(), p.version.clone(), p.architecture.clone());
        let Some(entry) = listed.get(&key) else {
            continue;
        };
        let show = format!("`{}` {} ({})", p.name, p.version, p.architecture);
        let purl = bulwark_sbom::purl(p, image.os.as_ref());
        if entry.purl != purl {
            return Some(format!(
                "{show} has PURL `{}` in the SBOM, the image gives `{purl}`",
                entry.purl
            ));
        }
        if let Some(found) = entry.license.differs(&r.license) {
            return Some(format!(
                "{show} has license {found} in the SBOM, the image's copyright file gives `{}`",
                r.license
            ));
        }
        if let Some(expected) = debs.get(&key) {
            if entry.sha256.as_slice() != [expected.clone()] {
                return Some(format!(
                    "{show} has .deb SHA-256 {} in the SBOM, the signed provenance says {expected}",
                    if entry.sha256.is_empty() {
                        "(none)".to_owned()
                    } else {
                        entry.sha256.join(", ")
                    }
                ));
            }
        }
    }
    None
}

/// Parses a DSSE envelope, verifies it and returns its in-toto statement.
fn open_statement(document: &[u8], key: &VerifyingKey) -> Result<Value, VerifyError> {
    let envelope = Envelope::from_json(document)?;
    let payload = bulwark_attest::dsse_verify(&envelope, key)?;
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(VerifyError::Malformed(format!(
            "payload type `{}` is not `{PAYLOAD_TYPE_IN_TOTO}`",
            envelope.payload_type
        )));
    }
    serde_json::from_slice(&payload)
        .map_err(|err| VerifyError::Malformed(format!("the signed statement is not JSON: {err}")))
}

/// The subject digests of a statement, as `sha256:<hex>`.
fn subject_digests(statement: &Value) -> Vec<String> {
    statement
        .get("subject")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.pointer("/digest/sha256").and_then(Value::as_str))
        .map(|hex| format!("sha256:{hex}"))
        .collect()
}

/// The `arch` qualifier of a `pkg:deb/` PURL.
fn purl_arch(purl: &str) -> Option<&str> {
    let (_, qualifiers) = purl.split_once('?')?;
    qualifiers
        .split('#')
        .next()?
        .split('&')
        .find_map(|q| q.strip_prefix("arch="))
}

/// Packages an SPDX document lists, by identity. Besides the image (the
/// package the document `DESCRIBES` that carries the manifest digest) and
/// the image's operating system (purpose `OPERATING-SYSTEM`, no PURL),
/// every package must have exactly one PURL, a `pkg:deb/` one, and be
/// listed once; each other entry is a problem.
fn spdx_packages(doc: &Value, image: &Contents, digest: &str) -> Listing {
    let mut out = Listing::default();
    let described: BTreeSet<&str> = doc
        .get("relationships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| {
            r.get("spdxElementId").and_then(Value::as_str) == Some("SPDXRef-DOCUMENT")
                && r.get("relationshipType").and_then(Value::as_str) == Some("DESCRIBES")
        })
        .filter_map(|r| r.get("relatedSpdxElement").and_then(Value::as_str))
        .chain(
            doc.get("documentDescribes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        )
        .collect();
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let mut subject_seen = false;
    let mut os_seen = false;
    for p in doc
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let id = s("SPDXID");
        let show = format!("package `{}` ({id})", s("name"));
        let sha256: Vec<String> = p
            .get("checksums")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c.get("algorithm").and_then(Value::as_str) == Some("SHA256"))
            .map(|c| {
                c.get("checksumValue")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            })
            .collect();
        let purls: Vec<&str> = p
            .get("externalRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
            .map(|r| {
                r.get("referenceLocator")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            })
            .collect();
        if purls.is_empty() {
            if !subject_seen && described.contains(id.as_str()) && sha256.iter().any(|h| h == hex) {
                subject_seen = true;
            } else if !os_seen
                && p.get("primaryPackagePurpose").and_then(Value::as_str)
                    == Some("OPERATING-SYSTEM")
                && is_image_os(image, &s("name"), p.get("versionInfo"))
            {
                os_seen = true;
            } else {
                out.problem(format!("{show} has no pkg:deb PURL"));
            }
            continue;
        }
        let [purl] = purls.as_slice() else {
            out.problem(format!("{show} has {} PURLs", purls.len()));
            continue;
        };
        let license = ListedLicense::Spdx {
            declared: p
                .get("licenseDeclared")
                .map(|v| v.as_str().unwrap_or("(not a string)").to_owned()),
            concluded: p
                .get("licenseConcluded")
                .map(|v| v.as_str().unwrap_or("(not a string)").to_owned()),
        };
        out.add(&show, (s("name"), s("versionInfo"), purl, sha256, license));
    }
    if !subject_seen {
        out.problem(format!(
            "no package that the document describes carries the image's manifest digest {digest}"
        ));
    }
    out
}

/// Packages a CycloneDX document lists, by identity: every component at
/// any depth (under `components` and under `metadata.component`). Besides
/// files (type `file`, no PURL) and the image's operating system (type
/// `operating-system`, no PURL), every component must have a `pkg:deb/`
/// PURL and be listed once; each other component is a problem. The
/// `metadata.component` must carry the image's manifest digest.
fn cyclonedx_packages(doc: &Value, image: &Contents, digest: &str) -> Listing {
    let mut out = Listing::default();
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let hashes = |c: &Value| -> Vec<String> {
        c.get("hashes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|h| h.get("alg").and_then(Value::as_str) == Some("SHA-256"))
            .map(|h| {
                h.get("content")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    };
    let children = |c: &Value| -> Vec<Value> {
        c.get("components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let metadata = doc.pointer("/metadata/component");
    if !metadata.is_some_and(|m| hashes(m).iter().any(|h| h == hex)) {
        out.problem(format!(
            "metadata.component does not carry the image's manifest digest {digest}"
        ));
    }
    let mut pending: Vec<Value> = children(doc);
    pending.extend(metadata.map(children).unwrap_or_default());
    pending.reverse();
    let mut os_seen = false;
    while let Some(c) = pending.pop() {
        let mut nested = children(&c);
        nested.reverse();
        pending.extend(nested);
        let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let kind = s("type");
        let show = format!("component `{}` (type {kind})", s("name"));
        let Some(purl) = c.get("purl") else {
            if kind == "file" {
                continue;
            }
            if kind == "operating-system"
                && !os_seen
                && is_image_os(image, &s("name"), c.get("version"))
            {
                os_seen = true;
            } else {
                out.problem(format!("{show} has no pkg:deb PURL"));
            }
            continue;
        };
        let purl = purl.as_str().unwrap_or("(not a string)");
        let licenses = c
            .get("licenses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|l| {
                l.get("expression")
                    .or_else(|| l.pointer("/license/id"))
                    .or_else(|| l.pointer("/license/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("(unreadable)")
                    .to_owned()
            })
            .collect();
        out.add(
            &show,
            (
                s("name"),
                s("version"),
                purl,
                hashes(&c),
                ListedLicense::CycloneDx(licenses),
            ),
        );
    }
    out
}

/// Whether an SBOM's operating-system entry is the image's, as bulwark's
/// SBOMs write it: `ID` and `VERSION_ID` (else `VERSION_CODENAME`).
fn is_image_os(image: &Contents, name: &str, version: Option<&Value>) -> bool {
    image.os.as_ref().is_some_and(|os| {
        os.id == name
            && version.and_then(Value::as_str)
                == os.version_id.as_deref().or(os.version_codename.as_deref())
    })
}

/// The first package (in name order) that is in one set and not the other.
fn first_difference(image: &BTreeSet<Pkg>, sbom: &BTreeSet<Pkg>) -> Option<String> {
    let missing = image.difference(sbom).next();
    let extra = sbom.difference(image).next();
    let show = |(n, v, a): &Pkg| format!("`{n}` {v} ({a})");
    match (missing, extra) {
        (None, None) => None,
        (Some(m), Some(e)) if e < m => {
            Some(format!("{} is in the SBOM, not in the image", show(e)))
        }
        (Some(m), _) => Some(format!("{} is in the image, not in the SBOM", show(m))),
        (None, Some(e)) => Some(format!("{} is in the SBOM, not in the image", show(e))),
    }
}

fn evaluate_policy(
    report: &mut VerifyReport,
    rules: &Rules,
    image: &Contents,
    records: &[PackageRecord],
    builder: Option<&str>,
    label: &str,
) {
    let policy = rules.policy;
    if let (Some(max), Some(db)) = (policy.max_severity, rules.db) {
        evaluate_max_severity(report, db, max, image, label);
    }
    for r in records {
        let p = &r.package;
        if let Some(glob) = policy
            .deny_packages
            .iter()
            .find(|g| glob_match(g, &p.name, false))
        {
            report.violations.push(format!(
                "{label}: package `{}` {} matches deny-packages `{glob}`",
                p.name, p.version
            ));
        }
        let license = r.license.as_str();
        if let Some(allow) = &policy.allow_licenses {
            let allowed = |id: &str| allow.iter().any(|g| glob_match(g, id, true));
            if !license_satisfies(license, &allowed) {
                report.violations.push(format!(
                    "{label}: package `{}` has license `{license}`, not allowed by allow-licenses",
                    p.name
                ));
            }
        }
        if !policy.deny_licenses.is_empty() {
            let clean = |id: &str| !policy.deny_licenses.iter().any(|g| glob_match(g, id, true));
            if !license_satisfies(license, &clean) {
                report.violations.push(format!(
                    "{label}: package `{}` has license `{license}`, denied by deny-licenses",
                    p.name
                ));
            }
        }
    }
    if let Some(required) = &policy.require_builder {
        if builder != Some(required.as_str()) {
            report.violations.push(format!(
                "{label}: builder is {}, require-builder wants `{required}`",
                builder.map_or("not established by signed provenance".to_owned(), |b| {
                    format!("`{b}`")
                })
            ));
        }
    }
    if policy.require_non_root {
        let user = image
            .config
            .as_ref()
            .and_then(|c| c.pointer("/config/User"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = user.split(':').next().unwrap_or("");
        if matches!(name, "" | "0" | "root") {
            report.violations.push(format!(
                "{label}: the image runs as root (config User `{user}`), require-non-root is set"
            ));
        }
    }
}

/// The most findings a `max-severity` violation names.
const WORST_SHOWN: usize = 5;

/// Scans the image's packages and records a violation naming the worst
/// findings whose severity is above `max` (see [`exceeds`]), worst first.
fn evaluate_max_severity(
    report: &mut VerifyReport,
    db: &bulwark_vuln::Database,
    max: Severity,
    image: &Contents,
    label: &str,
) {
    let name = format!("vulnerabilities {label}");
    let options = bulwark_vuln::ScanOptions {
        target: report.target.clone(),
        target_digest: image.manifest_digest.clone(),
        debian_origin: debian_origin(image),
        ..bulwark_vuln::ScanOptions::default()
    };
    let scan = match bulwark_vuln::scan(db, &image.packages, image.os.as_ref(), &options) {
        Ok(scan) => scan,
        Err(err) => {
            report.fail(name, format!("cannot scan the image: {err}"), INPUT);
            return;
        }
    };
    report
        .notes
        .extend(scan.warnings.iter().map(|w| format!("{label}: {w}")));
    let mut above: Vec<(Severity, &str, &str, &str)> = scan
        .packages
        .iter()
        .flat_map(|p| {
            p.findings
                .iter()
                .filter(|f| exceeds(f.severity, max))
                .map(move |f| {
                    (
                        f.severity,
                        f.id.as_str(),
                        p.name.as_str(),
                        p.version.as_str(),
                    )
                })
        })
        .collect();
    above.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (a.1, a.2).cmp(&(b.1, b.2))));
    if above.is_empty() {
        report.pass(
            name,
            format!(
                "no finding above max-severity `{max}` ({} findings in all)",
                scan.summary.findings
            ),
        );
        return;
    }
    let worst: Vec<String> = above
        .iter()
        .take(WORST_SHOWN)
        .map(|(severity, id, package, version)| {
            format!("{id} ({severity}) in `{package}` {version}")
        })
        .collect();
    let more = match above.len().saturating_sub(WORST_SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    report.violations.push(format!(
        "{label}: {} finding{} above max-severity `{max}`: {}{more}",
        above.len(),
        if above.len() == 1 { "" } else { "s" },
        worst.join(", ")
    ));
}

/// Whether a finding of `severity` is above `max-severity: max`. Severities
/// order unknown < negligible < low < medium < high < critical, so a
/// finding of unknown severity is above no threshold, and `unknown`
/// accepts only findings of unknown severity.
fn exceeds(severity: Severity, max: Severity) -> bool {
    severity > max
}

/// Which packages came from a repository whose Release says `Origin:
/// Debian`, as the build recorded it (`dev.bulwark.origins`), as `bulwark
/// scan` reads it; empty for other images.
fn debian_origin(image: &Contents) -> BTreeMap<String, bool> {
    image
        .annotations
        .get("dev.bulwark.origins")
        .and_then(|v| serde_json::from_str::<BTreeMap<String, String>>(v).ok())
        .map(|m| m.into_iter().map(|(k, v)| (k, v == "Debian")).collect())
        .unwrap_or_default()
}

/// Whether an SPDX license expression can be satisfied when each
/// identifier is acceptable as `ok` says: `A OR B` needs either, `A AND B`
/// both; `A WITH E` is acceptable when `A WITH E` or `A` is. An expression
/// that does not parse is taken as one identifier.
fn license_satisfies(expression: &str, ok: &dyn Fn(&str) -> bool) -> bool {
    let spaced = expression.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    match parse_or(&tokens, &mut pos, ok) {
        Some(value) if pos == tokens.len() => value,
        _ => ok(expression.trim()),
    }
}

fn parse_or(tokens: &[&str], pos: &mut usize, ok: &dyn Fn(&str) -> bool) -> Option<bool> {
    let mut value = parse_and(tokens, pos, ok)?;
    while tokens
        .get(*pos)
        .is_some_and(|t| t.eq_ignore_ascii_case("OR"))
    {
        *pos += 1;
        let rhs = parse_and(tokens, pos, ok)?;
        value = value || rhs;
    }
    Some(value)
}

fn parse_and(tokens: &[&str], pos: &mut usize, ok: &dyn Fn(&str) -> bool) -> Option<bool> {
    let mut value = parse_atom(tokens, pos, ok)?;
    while tokens
        .get(*pos)
        .is_some_and(|t| t.eq_ignore_ascii_case("AND"))
    {
        *pos += 1;
        let rhs = parse_atom(tokens, pos, ok)?;
        value = value && rhs;
    }
    Some(value)
}

fn parse_atom(tokens: &[&str], pos: &mut usize, ok: &dyn Fn(&str) -> bool) -> Option<bool> {
    let token = *tokens.get(*pos)?;
    *pos += 1;
    if token == "(" {
        let value = parse_or(tokens, pos, ok)?;
        if tokens.get(*pos) != Some(&")") {
            return None;
        }
        *pos += 1;
        return Some(value);
    }
    if matches!(token, ")")
        || ["AND", "OR", "WITH"]
            .iter()
            .any(|k| token.eq_ignore_ascii_case(k))
    {
        return None;
    }
    if tokens
        .get(*pos)
        .is_some_and(|t| t.eq_ignore_ascii_case("WITH"))
    {
        let exception = *tokens.get(*pos + 1)?;
        *pos += 2;
        return Some(ok(&format!("{token} WITH {exception}")) || ok(token));
    }
    Some(ok(token))
}

/// Shell-style glob match with `*` and `?`.
fn glob_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let norm = |s: &str| -> Vec<char> {
        if ignore_case {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect()
        }
    };
    let (p, t) = (norm(pattern), norm(text));
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("foo*", "foo", false));
        assert!(glob_match("foo*", "foobar", false));
        assert!(!glob_match("foo*", "libfoo", false));
        assert!(glob_match("*foo*", "libfoo1", false));
        assert!(glob_match("lib?oo", "libfoo", false));
        assert!(!glob_match("FOO", "foo", false));
        assert!(glob_match("gpl-*", "GPL-2.0-only", true));
    }

    #[test]
    fn license_expressions() {
        let allow = |id: &str| ["MIT", "Apache-2.0"].contains(&id);
        assert!(license_satisfies("MIT", &allow));
        assert!(license_satisfies("MIT OR GPL-2.0-only", &allow));
        assert!(!license_satisfies("MIT AND GPL-2.0-only", &allow));
        assert!(license_satisfies(
            "(GPL-2.0-only OR MIT) AND Apache-2.0",
            &allow
        ));
        assert!(!license_satisfies("NOASSERTION", &allow));
        assert!(license_satisfies("Apache-2.0 WITH LLVM-exception", &allow));
        // AND binds tighter than OR.
        assert!(license_satisfies(
            "GPL-2.0-only AND BSD-3-Clause OR MIT",
            &allow
        ));
        // Unparsable: one identifier.
        assert!(!license_satisfies("MIT AND", &allow));
    }

    #[test]
    fn policy_refuses_unknown_keys_naming_the_line() {
        let err = serde_norway::from_str::<Policy>("deny-packages: [a]\nallow-license: [MIT]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow-license"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let p: Policy =
            serde_norway::from_str("deny-packages: [\"foo*\"]\nrequire-non-root: true\n").unwrap();
        assert_eq!(p.deny_packages, ["foo*"]);
        assert!(p.require_non_root);
        let p: Policy = serde_norway::from_str("max-severity: high\n").unwrap();
        assert_eq!(p.max_severity, Some(Severity::High));
        let err = serde_norway::from_str::<Policy>("deny-packages: []\nmax-severity: severe\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("severe") && err.contains("line 2"), "{err}");
        assert!(err.contains("critical"), "{err}");
    }

    #[test]
    fn severities_above_the_maximum() {
        assert!(exceeds(Severity::Critical, Severity::High));
        assert!(!exceeds(Severity::High, Severity::High));
        assert!(!exceeds(Severity::Low, Severity::Medium));
        // Unknown is above no known threshold; `unknown` accepts only it.
        assert!(!exceeds(Severity::Unknown, Severity::Negligible));
        assert!(exceeds(Severity::Negligible, Severity::Unknown));
        assert!(!exceeds(Severity::Unknown, Severity::Unknown));
    }

    #[test]
    fn differences_name_the_first_package() {
        let p = |n: &str| (n.to_owned(), "1".to_owned(), "amd64".to_owned());
        let image: BTreeSet<Pkg> = [p("a"), p("b")].into();
        let sbom: BTreeSet<Pkg> = [p("a"), p("c")].into();
        assert_eq!(
            first_difference(&image, &sbom).unwrap(),
            "`b` 1 (amd64) is in the image, not in the SBOM"
        );
        assert_eq!(first_difference(&image, &image), None);
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
        assert_eq!(
            purl_arch("pkg:deb/debian/a@1?arch=arm64&distro=debian-12"),
            Some("arm64")
        );
    }
}
