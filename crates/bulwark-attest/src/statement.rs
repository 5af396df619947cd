//! in-toto Statement v1 documents: SLSA Provenance v1 and SBOM statements.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE_V1: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of SLSA Provenance v1.
pub const PREDICATE_SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// `predicateType` of an SPDX document.
pub const PREDICATE_SPDX: &str = "https://spdx.dev/Document";
/// `predicateType` of a CycloneDX BOM.
pub const PREDICATE_CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// `predicateType` cosign (v2.4 and later, new bundle format) gives the
/// statement it signs to sign an image.
pub const PREDICATE_COSIGN_SIGN_V1: &str = "https://sigstore.dev/cosign/sign/v1";
/// `buildDefinition.buildType` of bulwark's provenance: names the schema of
/// `externalParameters` and `internalParameters` (documented in this crate's
/// `docs/attestations.md`).
pub const BUILD_TYPE: &str =
    "https://github.com/bulwark-build/bulwark/blob/main/docs/attestations.md#build-type-v1";

/// An artifact a statement is about: a name and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The artifact's name (the image reference, for an image). May be empty.
    pub name: String,
    /// SHA-256 of the artifact, `sha256:<hex>` or bare hex.
    pub sha256: String,
}

impl Subject {
    /// A subject named `name` with digest `sha256` (`sha256:<hex>` or hex).
    pub fn new(name: impl Into<String>, sha256: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            sha256: sha256.into(),
        }
    }

    fn to_json(&self) -> Value {
        let mut subject = Map::new();
        if !self.name.is_empty() {
            subject.insert("name".into(), Value::String(self.name.clone()));
        }
        subject.insert("digest".into(), json!({ "sha256": bare_hex(&self.sha256) }));
        Value::Object(subject)
    }
}

/// An in-toto v1 `ResourceDescriptor`: a dependency of the build (a `.deb`,
/// an `InRelease` file, the spec).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    /// A name for the resource (a package name, a file name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the resource came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Digests by algorithm (`sha256` → hex).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// The resource's media type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Free-form annotations (package version, architecture, …).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, Value>,
}

impl ResourceDescriptor {
    /// A resource at `uri` with SHA-256 `sha256` (`sha256:<hex>` or hex).
    pub fn new(uri: impl Into<String>, sha256: &str) -> Self {
        Self {
            uri: Some(uri.into()),
            digest: BTreeMap::from([("sha256".to_owned(), bare_hex(sha256).to_owned())]),
            ..Self::default()
        }
    }
}

/// What goes into a SLSA Provenance v1 statement.
///
/// Every field is an input of the build, so the statement is a pure
/// function of them: leave the timestamps `None` (or set them from
/// `SOURCE_DATE_EPOCH`) for reproducible provenance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProvenanceInput {
    /// What was built: the image manifest(s), and the index for several
    /// platforms.
    pub subjects: Vec<Subject>,
    /// SHA-256 of the spec file (`sha256:<hex>` or hex).
    pub spec_digest: String,
    /// SHA-256 of the lock file, if the build used one.
    pub lock_digest: Option<String>,
    /// The build's parameters (platforms, tag, options), under
    /// `externalParameters.parameters`.
    pub parameters: Value,
    /// Parameters bulwark set itself, as `internalParameters` (`Null` for
    /// none).
    pub internal_parameters: Value,
    /// Every input artifact: `.deb` files, `InRelease` files, the spec.
    /// Written in the given order.
    pub resolved_dependencies: Vec<ResourceDescriptor>,
    /// `runDetails.builder.id`: a URI naming the builder.
    pub builder_id: String,
    /// `runDetails.builder.version`: component name → version
    /// (`{"bulwark": "0.1.0"}`).
    pub builder_version: BTreeMap<String, String>,
    /// `runDetails.metadata.invocationId`, if any.
    pub invocation_id: Option<String>,
    /// Start time, seconds since the Unix epoch.
    pub started_on: Option<u64>,
    /// End time, seconds since the Unix epoch.
    pub finished_on: Option<u64>,
}

/// Builds an in-toto Statement v1 with a SLSA Provenance v1 predicate.
///
/// `externalParameters` holds `spec` (`{"digest": {"sha256": …}}`), `lock`
/// (likewise, when there is a lock file) and `parameters`.
pub fn provenance_statement(input: &ProvenanceInput) -> Value {
    let mut external = Map::new();
    external.insert(
        "spec".into(),
        json!({ "digest": { "sha256": bare_hex(&input.spec_digest) } }),
    );
    if let Some(lock) = &input.lock_digest {
        external.insert(
            "lock".into(),
            json!({ "digest": { "sha256": bare_hex(lock) } }),
        );
    }
    if !input.parameters.is_null() {
        external.insert("parameters".into(), input.parameters.clone());
    }

    let mut build_definition = Map::new();
    build_definition.insert("buildType".into(), Value::String(BUILD_TYPE.to_owned()));
    build_definition.insert("externalParameters".into(), Value::Object(external));
    if !input.internal_parameters.is_null() {
        build_definition.insert(
            "internalParameters".into(),
            input.internal_parameters.clone(),
        );
    }
    build_definition.insert(
        "resolvedDependencies".into(),
        serde_json::to_value(&input.resolved_dependencies).unwrap_or(Value::Null),
    );

    let mut builder = Map::new();
    builder.insert("id".into(), Value::String(input.builder_id.clone()));
    if !input.builder_version.is_empty() {
        builder.insert("version".into(), json!(input.builder_version));
    }
    let mut metadata = Map::new();
    if let Some(id) = &input.invocation_id {
        metadata.insert("invocationId".into(), Value::String(id.clone()));
    }
    if let Some(t) = input.started_on {
        metadata.insert("startedOn".into(), Value::String(rfc3339(t)));
    }
    if let Some(t) = input.finished_on {
        metadata.insert("finishedOn".into(), Value::String(rfc3339(t)));
    }
    let mut run_details = Map::new();
    run_details.insert("builder".into(), Value::Object(builder));
    if !metadata.is_empty() {
        run_details.insert("metadata".into(), Value::Object(metadata));
    }

    statement(
        &input.subjects,
        PREDICATE_SLSA_PROVENANCE_V1,
        json!({
            "buildDefinition": build_definition,
            "runDetails": run_details,
        }),
    )
}

/// Builds an in-toto Statement v1 whose predicate is an SBOM document
/// (`predicate_type` [`PREDICATE_SPDX`] or [`PREDICATE_CYCLONEDX`]).
pub fn sbom_statement(
    subject_name: &str,
    subject_digest: &str,
    predicate_type: &str,
    sbom: Value,
) -> Value {
    statement(
        &[Subject::new(subject_name, subject_digest)],
        predicate_type,
        sbom,
    )
}

/// An in-toto Statement v1 about `subjects`.
pub fn statement(subjects: &[Subject], predicate_type: &str, predicate: Value) -> Value {
    json!({
        "_type": STATEMENT_TYPE_V1,
        "subject": subjects.iter().map(Subject::to_json).collect::<Vec<_>>(),
        "predicateType": predicate_type,
        "predicate": predicate,
    })
}

/// The hex of a `sha256:<hex>` digest; other strings unchanged.
pub(crate) fn bare_hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// RFC 3339 UTC, the same form as the image config's `created`.
pub(crate) use bulwark_oci::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
