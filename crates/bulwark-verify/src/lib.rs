//! This crate provides the verification of an image and its attestations:
//! signatures, provenance, SBOMs and a policy, checked against what the
//! image really holds, before anything runs.
//!
//! # Brief overview
//!
//! [`verify`] reads an image from an [`ImageStore`] (an OCI layout today,
//! a registry later) with every digest checked, reads the artifacts that
//! refer to it, and checks, per platform: the Sigstore bundle signature
//! over the exact manifest digest; the signed SLSA provenance and its
//! subject; each signed SBOM (and unsigned copy) against the packages,
//! PURLs, licences and `.deb` digests recomputed from the image; then the
//! [`Policy`]. For a multi-platform image, the signature over the index
//! too. It returns a [`VerifyReport`] whose [`VerifyReport::failure`] is
//! the most serious [`FailureKind`] found, if any; what a failure means to
//! a command (an exit code, a hint) is the caller's to say.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use bulwark_attest::{
    Envelope, VerifyError, VerifyingKey, PAYLOAD_TYPE_IN_TOTO, PREDICATE_CYCLONEDX,
    PREDICATE_SLSA_PROVENANCE_V1, PREDICATE_SPDX,
};
use bulwark_image::Contents;
use bulwark_oci::{annotation, media_type, Descriptor, ImageRef, ImageStore, Layout, Referrer};
use serde_json::Value;

mod license;
mod policy;
mod report;
mod rules;
mod sbom;

pub use policy::Policy;
pub use report::{Check, FailureKind, VerifyReport};

use rules::evaluate_policy;
use sbom::{first_detail_difference, first_difference, listing, Pkg};

/// The media type of a `.deb` among a provenance's resolved dependencies.
pub const MEDIA_TYPE_DEB: &str = "application/vnd.debian.binary-package";

/// Why an image could not be verified at all (as opposed to a failed
/// check, which is in the [`VerifyReport`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The target is not where attestations are stored.
    #[error("`{target}` is {what}; signatures and attestations are stored only in OCI layouts (`oci:DIR[:TAG]`)")]
    Unsupported {
        /// The target.
        target: String,
        /// What it is.
        what: &'static str,
    },
    /// A policy file that cannot be read or parsed.
    #[error("invalid policy `{}`: {reason}", path.display())]
    Policy {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The image could not be read (other than a changed or missing blob,
    /// which is a failed check).
    #[error("cannot read `{target}`: {source}")]
    Image {
        /// The target.
        target: String,
        /// The cause.
        source: bulwark_image::Error,
    },
    /// The layout could not be opened.
    #[error(transparent)]
    Oci(#[from] bulwark_oci::Error),
}

/// Verifies the image `target` (an OCI layout, `oci:DIR[:TAG]`) and its
/// attestations with `key` and `policy`; one platform with `platform`,
/// else all. `db` is the vulnerability database the policy's
/// `max-severity` needs (without one, the rule is not evaluated and a note
/// says so).
///
/// Failed checks are in the report; an `Err` means nothing could be
/// verified (a target that is not an OCI layout, an unreadable image).
pub fn verify(
    target: &ImageRef,
    key: &VerifyingKey,
    policy: &Policy,
    platform: Option<&str>,
    db: Option<&bulwark_vuln::Database>,
) -> Result<VerifyReport, Error> {
    let ImageRef::Oci { dir, tag } = target else {
        return Err(Error::Unsupported {
            target: target.to_string(),
            what: match target {
                ImageRef::DockerArchive { .. } => "a docker-archive",
                ImageRef::Rootfs { .. } => "a root filesystem",
                ImageRef::Sbom { .. } => "an SBOM",
                ImageRef::Registry(_) => "an image in a registry",
                _ => "not an OCI layout",
            },
        });
    };
    let layout = Arc::new(Layout::open(dir)?);
    verify_store(
        layout,
        &target.to_string(),
        tag.as_deref(),
        key,
        policy,
        platform,
        db,
    )
}

/// The [`bulwark_image::Contents::kind`] of a store's label.
fn store_kind(label: &str) -> &'static str {
    if label.starts_with("docker://") {
        "docker"
    } else {
        "oci"
    }
}

/// [`verify`] of the image `tag` names in `store`; `label` names it in the
/// report.
pub fn verify_store(
    store: Arc<dyn ImageStore>,
    label: &str,
    tag: Option<&str>,
    key: &VerifyingKey,
    policy: &Policy,
    platform: Option<&str>,
    db: Option<&bulwark_vuln::Database>,
) -> Result<VerifyReport, Error> {
    let mut report = VerifyReport::new(label);
    let images = match bulwark_image::open_store(
        Arc::clone(&store),
        label,
        store_kind(label),
        tag,
        platform,
        None,
    ) {
        Ok(images) => images,
        Err(bulwark_image::Error::Oci(err))
            if err.is_mismatch() || matches!(err, bulwark_oci::Error::BlobMissing { .. }) =>
        {
            report.fail("image digests", err.to_string(), FailureKind::Mismatch);
            return Ok(report);
        }
        Err(source) => {
            return Err(Error::Image {
                target: label.to_owned(),
                source,
            })
        }
    };
    if platform.is_none() {
        let top = store.resolve(tag).ok().filter(Descriptor::is_index);
        if let Some(index) = top {
            if let Some(artifacts) =
                artifacts_of(&mut report, store.as_ref(), &index.digest, "index")
            {
                check_signature(&mut report, key, &artifacts, &index.digest, "index");
            }
        }
    }
    if policy.max_severity.is_some() && db.is_none() {
        report.note("max-severity was not evaluated: no vulnerability database".to_owned());
    }
    let rules = Rules { policy, db };
    for image in &images {
        verify_image(&mut report, key, &rules, store.as_ref(), image);
    }
    Ok(report)
}

/// Whether `verify` looks at an artifact of this descriptor: bulwark's
/// (annotated `dev.bulwark.artifact`) or of a type a check reads.
fn is_checked(descriptor: &Descriptor) -> bool {
    descriptor.annotations.contains_key(annotation::ARTIFACT)
        || [
            media_type::SPDX_JSON,
            media_type::CYCLONEDX_JSON,
            media_type::DSSE_ENVELOPE,
            media_type::SIGSTORE_BUNDLE_V03,
            media_type::IN_TOTO,
        ]
        .contains(&artifact_type(descriptor))
}

/// The artifacts attached to `digest` that verification reads (see
/// [`is_checked`]), with their documents, every blob checked; or `None`
/// after recording a failed check: a missing or changed blob that the
/// referrers index names is a mismatch, a malformed artifact an input error.
fn artifacts_of(
    report: &mut VerifyReport,
    store: &dyn ImageStore,
    digest: &str,
    label: &str,
) -> Option<Vec<Referrer>> {
    match bulwark_oci::read_referrers(store, digest, &is_checked) {
        Ok(found) => {
            for note in found.notes {
                report.note(note);
            }
            Some(found.found)
        }
        Err(err) => {
            let kind = match &err {
                bulwark_oci::Error::BlobMissing { .. }
                | bulwark_oci::Error::Io { .. }
                | bulwark_oci::Error::NotAFile(..) => FailureKind::Mismatch,
                err if err.is_mismatch() => FailureKind::Mismatch,
                _ => FailureKind::Input,
            };
            report.fail(format!("attestations {label}"), err.to_string(), kind);
            None
        }
    }
}

fn kind_of(descriptor: &Descriptor) -> &str {
    descriptor
        .annotations
        .get(annotation::ARTIFACT)
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
    artifacts: &[Referrer],
    digest: &str,
    label: &str,
) {
    let name = format!("signature {label}");
    let mut first_error = None;
    for Referrer {
        descriptor,
        document,
    } in artifacts
    {
        if artifact_type(descriptor) != media_type::SIGSTORE_BUNDLE_V03 {
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
        None => report.fail(
            name,
            format!("no signature of {digest}"),
            FailureKind::SignatureMissing,
        ),
        Some((artifact, err)) => {
            let code = FailureKind::from(&err);
            report.fail(name, format!("{err} (signature artifact {artifact})"), code);
        }
    }
}

fn short(key_id: &str) -> &str {
    key_id.get(..16).unwrap_or(key_id)
}

/// The policy and what evaluating it needs.
pub(crate) struct Rules<'a> {
    pub(crate) policy: &'a Policy,
    /// The vulnerability database, when the policy has `max-severity`.
    pub(crate) db: Option<&'a bulwark_vuln::Database>,
}

fn verify_image(
    report: &mut VerifyReport,
    key: &VerifyingKey,
    rules: &Rules,
    store: &dyn ImageStore,
    image: &Contents,
) {
    let Some(digest) = image.manifest_digest.clone() else {
        report.fail(
            "image",
            "the image has no manifest digest",
            FailureKind::Input,
        );
        return;
    };
    let label = image.platform.clone().unwrap_or_else(|| digest.clone());
    report.pass(
        format!("image {label}"),
        format!("manifest {digest}, its config and layers match their digests"),
    );
    let records = match bulwark_sbom::records(image) {
        Ok(r) => r,
        Err(err) => {
            report.fail(
                format!("packages {label}"),
                err.to_string(),
                FailureKind::Input,
            );
            return;
        }
    };
    let actual: BTreeSet<Pkg> = records
        .iter()
        .map(|r| {
            let p = &r.package;
            (p.name.clone(), p.version.clone(), p.architecture.clone())
        })
        .collect();

    let Some(artifacts) = artifacts_of(report, store, &digest, &label) else {
        evaluate_policy(report, rules, image, &records, None, &label);
        return;
    };
    check_signature(report, key, &artifacts, &digest, &label);

    // Provenance.
    let mut builder = None;
    // The `.deb` digests of the verified provenance, by package identity.
    let mut deb_digests: BTreeMap<Pkg, String> = BTreeMap::new();
    let provenance: Vec<&Referrer> = artifacts
        .iter()
        .filter(|r| {
            kind_of(&r.descriptor) == "provenance"
                && artifact_type(&r.descriptor) == media_type::DSSE_ENVELOPE
        })
        .collect();
    let name = format!("provenance {label}");
    if provenance.is_empty() {
        report.fail(
            name.clone(),
            "no signed provenance",
            FailureKind::SignatureMissing,
        );
    }
    for Referrer {
        descriptor,
        document,
    } in provenance
    {
        match open_statement(document, key) {
            Err(err) => report.fail(
                name.clone(),
                format!("{err} (artifact {})", descriptor.digest),
                FailureKind::from(&err),
            ),
            Ok(statement) => {
                if statement.get("predicateType").and_then(Value::as_str)
                    != Some(PREDICATE_SLSA_PROVENANCE_V1)
                {
                    report.fail(
                        name.clone(),
                        format!("artifact {} is not SLSA provenance", descriptor.digest),
                        FailureKind::Input,
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
                        FailureKind::Mismatch,
                    );
                }
            }
        }
    }

    // SBOMs: signed statements (required) and plain copies (checked when
    // present).
    for (kind, predicate_type, plain_type) in [
        ("sbom-spdx", PREDICATE_SPDX, media_type::SPDX_JSON),
        (
            "sbom-cyclonedx",
            PREDICATE_CYCLONEDX,
            media_type::CYCLONEDX_JSON,
        ),
    ] {
        let name = format!("{kind} {label}");
        let mut signed = 0;
        for Referrer {
            descriptor,
            document,
        } in &artifacts
        {
            let atype = artifact_type(descriptor);
            let sbom = if atype == media_type::DSSE_ENVELOPE && kind_of(descriptor) == kind {
                signed += 1;
                match open_statement(document, key) {
                    Err(err) => {
                        report.fail(
                            name.clone(),
                            format!("{err} (artifact {})", descriptor.digest),
                            FailureKind::from(&err),
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
                                FailureKind::Mismatch,
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
                                FailureKind::Input,
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
                            FailureKind::Mismatch,
                        );
                        continue;
                    }
                }
            } else {
                continue;
            };
            let format = if kind == "sbom-spdx" {
                bulwark_sbom::Format::Spdx
            } else {
                bulwark_sbom::Format::CycloneDx
            };
            let listed = listing(sbom, format, image, &digest);
            let which = if atype == media_type::DSSE_ENVELOPE {
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
                    FailureKind::Mismatch,
                ),
            }
        }
        if signed == 0 {
            report.fail(name, "no signed SBOM", FailureKind::SignatureMissing);
        }
    }

    evaluate_policy(report, rules, image, &records, builder.as_deref(), &label);
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
