//! Media types of the documents and blobs bulwark reads and writes.

/// An OCI image manifest (also the shape of an OCI 1.1 artifact manifest).
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An OCI image config.
pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// An uncompressed layer.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// A gzip-compressed layer.
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// A zstd-compressed layer.
pub const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// The OCI empty descriptor (`{}`): the config of artifact manifests.
pub const EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// A Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker manifest list (a multi-platform image).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// A Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// An SPDX JSON document (artifact type of an SBOM).
pub const SPDX_JSON: &str = "application/spdx+json";
/// A CycloneDX JSON document (artifact type of an SBOM).
pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";
/// A DSSE envelope (an in-toto attestation).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// An unsigned in-toto statement (provenance written without a key).
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// A Sigstore bundle v0.3 (an image signature).
pub const SIGSTORE_BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Media types of image indexes (OCI and Docker).
pub const INDEXES: &[&str] = &[INDEX, DOCKER_MANIFEST_LIST];
/// Media types of image manifests (OCI and Docker).
pub const MANIFESTS: &[&str] = &[MANIFEST, DOCKER_MANIFEST];
/// Media types of image configs (OCI and Docker).
pub const CONFIGS: &[&str] = &[CONFIG, DOCKER_CONFIG];
