//! Annotation keys: the OCI ones bulwark reads and writes, and bulwark's
//! own records (`dev.bulwark.*`).

/// Names a tag in an OCI layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The image's creation time (RFC 3339).
pub const CREATED: &str = "org.opencontainers.image.created";
/// Who supplies the image; the SBOMs' supplier.
pub const VENDOR: &str = "org.opencontainers.image.vendor";
/// The digest of the image an image was made from.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// The prefix of bulwark's own records; a spec may not write keys under it.
pub const BULWARK_PREFIX: &str = "dev.bulwark.";
/// The spec's repositories as written (JSON, `${VAR}` unexpanded).
pub const REPOSITORIES: &str = "dev.bulwark.repositories";
/// The spec's exclusions: JSON list of `{name, reason, required-by}`.
pub const EXCLUDED: &str = "dev.bulwark.excluded";
/// SHA-256 of the spec file.
pub const SPEC_SHA256: &str = "dev.bulwark.spec.sha256";
/// JSON map of package → the `Origin` of the Release it came from.
pub const ORIGINS: &str = "dev.bulwark.origins";
/// Config label: packages whose maintainer scripts were not replaced.
pub const SCRIPTS_NOT_RUN: &str = "dev.bulwark.scripts.not-run";
/// What an attached artifact is (`sbom-spdx`, `provenance`, `signature`…),
/// on its manifest and its descriptors.
pub const ARTIFACT: &str = "dev.bulwark.artifact";

/// The in-toto predicate type of a DSSE envelope artifact.
pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// cosign's annotation of a Sigstore bundle's content (`dsse-envelope`).
pub const BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
/// cosign's annotation of a Sigstore bundle's in-toto predicate type.
pub const BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";
