//! Reading SPDX 2.x and CycloneDX 1.x JSON documents, as bulwark, syft and
//! trivy write them, into a typed [`Sbom`].

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// The largest SBOM document read, in bytes.
pub const MAX_SBOM_BYTES: usize = 512 << 20;

/// An SBOM document's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// SPDX 2.x JSON.
    Spdx,
    /// CycloneDX 1.x JSON.
    CycloneDx,
}

impl Format {
    /// The format's name: `SPDX` or `CycloneDX`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spdx => "SPDX",
            Self::CycloneDx => "CycloneDX",
        }
    }
}

/// What an SBOM document says: its subject, its packages and, among them,
/// its operating system. Fields this reader does not use are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sbom {
    /// The format.
    pub format: Format,
    /// `spdxVersion` (`SPDX-2.3`) or `specVersion` (`1.6`); empty when
    /// absent.
    pub spec_version: String,
    /// SPDX: every package, in document order (the described ones too).
    /// CycloneDX: every component at any depth, depth first: those under
    /// `components`, then those under `metadata.component` (not that
    /// component itself, which is the subject).
    pub packages: Vec<Package>,
    /// SPDX: the elements the document `DESCRIBES` (relationships of
    /// `SPDXRef-DOCUMENT` and `documentDescribes`).
    described: BTreeSet<String>,
    /// CycloneDX: `metadata.component`, without its components.
    metadata_component: Option<Package>,
}

/// One SPDX package or CycloneDX component.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Package {
    /// `SPDXID` or `bom-ref`.
    pub id: Option<String>,
    /// `name`; empty when absent.
    pub name: String,
    /// `versionInfo` or `version`.
    pub version: Option<String>,
    /// SPDX `primaryPackagePurpose` (`LIBRARY`, `OPERATING-SYSTEM`…) or
    /// CycloneDX `type` (`library`, `operating-system`, `file`…).
    pub kind: Option<String>,
    /// Its package URLs: SPDX `externalRefs` of type `purl`, the CycloneDX
    /// `purl` (one at most), as written.
    pub purls: Vec<String>,
    /// The hex SHA-256s it carries: SPDX `checksums` of algorithm
    /// `SHA256`, CycloneDX `hashes` of alg `SHA-256`.
    pub sha256: Vec<String>,
    /// Its licences.
    pub licenses: Licenses,
    /// Its source package, as scanners note it beside the package URL.
    pub source: Option<SourcePackage>,
}

/// A package's licences as the document declares them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Licenses {
    /// SPDX `licenseDeclared` and `licenseConcluded` (`None` when absent).
    Spdx {
        /// `licenseDeclared`.
        declared: Option<String>,
        /// `licenseConcluded`.
        concluded: Option<String>,
    },
    /// CycloneDX `licenses`: each entry's `expression`, else its
    /// `license.id`, else its `license.name`.
    CycloneDx(Vec<String>),
}

impl Default for Licenses {
    fn default() -> Self {
        Self::CycloneDx(Vec::new())
    }
}

/// The source package a scanner notes beside a binary package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcePackage {
    /// The source package's name.
    pub name: String,
    /// Its version, when the document says.
    pub version: Option<String>,
}

/// Why a document is not a readable SBOM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The document is larger than [`MAX_SBOM_BYTES`].
    #[error("larger than {MAX_SBOM_BYTES} bytes")]
    TooLarge,
    /// The document is not JSON.
    #[error("not valid JSON: {0}")]
    Json(serde_json::Error),
    /// A value has the wrong shape (type, missing key).
    #[error("`{path}`: {source}")]
    Shape {
        /// Where, e.g. `packages[3].licenseDeclared`.
        path: String,
        /// What is wrong.
        source: serde_json::Error,
    },
    /// Neither SPDX nor CycloneDX.
    #[error("neither SPDX JSON (`spdxVersion`, `packages`) nor CycloneDX JSON (`bomFormat`)")]
    UnknownFormat,
}

impl Sbom {
    /// Reads an SPDX 2.x or CycloneDX 1.x JSON document.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ReadError> {
        if bytes.len() > MAX_SBOM_BYTES {
            return Err(ReadError::TooLarge);
        }
        // serde reads a struct from an array too: refuse one at the top.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ReadError::UnknownFormat);
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let raw: RawDoc = deserialize(&mut de)?;
        de.end().map_err(ReadError::Json)?;
        raw.into_sbom()
    }

    /// [`Sbom::from_json`] of a document already parsed (e.g. the predicate
    /// of an in-toto statement).
    pub fn from_value(value: serde_json::Value) -> Result<Self, ReadError> {
        if value.is_array() {
            return Err(ReadError::UnknownFormat);
        }
        deserialize::<RawDoc, _>(value)?.into_sbom()
    }

    /// What the document describes: SPDX, the packages it `DESCRIBES`;
    /// CycloneDX, `metadata.component` (without its components).
    pub fn subjects(&self) -> impl Iterator<Item = &Package> {
        self.packages
            .iter()
            .filter(|p| self.describes(p))
            .chain(&self.metadata_component)
    }

    /// Whether the SPDX document `DESCRIBES` `package` (by its `SPDXID`).
    pub fn describes(&self, package: &Package) -> bool {
        package
            .id
            .as_ref()
            .is_some_and(|id| self.described.contains(id))
    }

    /// The first package that describes the operating system (see
    /// [`Package::is_operating_system`]).
    pub fn operating_system(&self) -> Option<&Package> {
        self.packages.iter().find(|p| p.is_operating_system())
    }
}

impl Package {
    /// Whether it describes the operating system: SPDX purpose
    /// `OPERATING-SYSTEM` (or, as older trivy writes it, an `SPDXID` of
    /// `SPDXRef-OperatingSystem-…`), CycloneDX type `operating-system`.
    pub fn is_operating_system(&self) -> bool {
        matches!(
            self.kind.as_deref(),
            Some("OPERATING-SYSTEM" | "operating-system")
        ) || self
            .id
            .as_deref()
            .is_some_and(|id| id.starts_with("SPDXRef-OperatingSystem-"))
    }
}

/// Deserializes `T`, naming the path of a value of the wrong shape.
fn deserialize<'de, T: DeserializeOwned, D>(de: D) -> Result<T, ReadError>
where
    D: Deserializer<'de, Error = serde_json::Error>,
{
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let source = err.into_inner();
        if source.is_data() {
            ReadError::Shape { path, source }
        } else {
            ReadError::Json(source)
        }
    })
}

/// A list that may also be `null`.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(de)?.unwrap_or_default())
}

/// The keys of both formats this reader uses; each is optional.
#[derive(Deserialize)]
#[serde(expecting = "an SBOM: a JSON object")]
#[serde(rename_all = "camelCase")]
struct RawDoc {
    spdx_version: Option<String>,
    bom_format: Option<String>,
    spec_version: Option<String>,
    packages: Option<Vec<SpdxPackage>>,
    #[serde(default, deserialize_with = "list")]
    relationships: Vec<SpdxRelationship>,
    #[serde(default, deserialize_with = "list")]
    document_describes: Vec<String>,
    metadata: Option<CdxMetadata>,
    #[serde(default, deserialize_with = "list")]
    components: Vec<CdxComponent>,
}

impl RawDoc {
    fn into_sbom(self) -> Result<Sbom, ReadError> {
        if self.spdx_version.is_some() || self.packages.is_some() {
            let described = self
                .relationships
                .into_iter()
                .filter(|r| {
                    r.spdx_element_id == "SPDXRef-DOCUMENT" && r.relationship_type == "DESCRIBES"
                })
                .map(|r| r.related_spdx_element)
                .chain(self.document_describes)
                .collect();
            Ok(Sbom {
                format: Format::Spdx,
                spec_version: self.spdx_version.unwrap_or_default(),
                packages: self
                    .packages
                    .unwrap_or_default()
                    .into_iter()
                    .map(SpdxPackage::into_package)
                    .collect(),
                described,
                metadata_component: None,
            })
        } else if self.bom_format.as_deref() == Some("CycloneDX") {
            let mut metadata_component = self.metadata.and_then(|m| m.component);
            // Depth first, in document order: a stack of the components
            // still to visit, the next on top.
            let mut pending: Vec<CdxComponent> = metadata_component
                .as_mut()
                .map(|m| std::mem::take(&mut m.components))
                .unwrap_or_default();
            pending.reverse();
            pending.extend(self.components.into_iter().rev());
            let mut packages = Vec::new();
            while let Some(mut component) = pending.pop() {
                pending.extend(std::mem::take(&mut component.components).into_iter().rev());
                packages.push(component.into_package());
            }
            Ok(Sbom {
                format: Format::CycloneDx,
                spec_version: self.spec_version.unwrap_or_default(),
                packages,
                described: BTreeSet::new(),
                metadata_component: metadata_component.map(CdxComponent::into_package),
            })
        } else {
            Err(ReadError::UnknownFormat)
        }
    }
}

#[derive(Deserialize)]
#[serde(expecting = "an SPDX package object")]
#[serde(rename_all = "camelCase")]
struct SpdxPackage {
    #[serde(rename = "SPDXID")]
    spdx_id: Option<String>,
    name: Option<String>,
    version_info: Option<String>,
    primary_package_purpose: Option<String>,
    #[serde(default, deserialize_with = "list")]
    external_refs: Vec<SpdxExternalRef>,
    #[serde(default, deserialize_with = "list")]
    checksums: Vec<SpdxChecksum>,
    license_declared: Option<String>,
    license_concluded: Option<String>,
    source_info: Option<String>,
}

#[derive(Deserialize)]
#[serde(expecting = "an SPDX external reference object")]
#[serde(rename_all = "camelCase")]
struct SpdxExternalRef {
    reference_type: String,
    reference_locator: String,
}

#[derive(Deserialize)]
#[serde(expecting = "an SPDX checksum object")]
#[serde(rename_all = "camelCase")]
struct SpdxChecksum {
    algorithm: String,
    checksum_value: String,
}

#[derive(Deserialize)]
#[serde(expecting = "an SPDX relationship object")]
#[serde(rename_all = "camelCase")]
struct SpdxRelationship {
    spdx_element_id: String,
    relationship_type: String,
    related_spdx_element: String,
}

impl SpdxPackage {
    fn into_package(self) -> Package {
        let source = self.source_info.as_deref().and_then(spdx_source);
        Package {
            id: self.spdx_id,
            name: self.name.unwrap_or_default(),
            version: self.version_info,
            kind: self.primary_package_purpose,
            purls: self
                .external_refs
                .into_iter()
                .filter(|r| r.reference_type == "purl")
                .map(|r| r.reference_locator)
                .collect(),
            sha256: self
                .checksums
                .into_iter()
                .filter(|c| c.algorithm == "SHA256")
                .map(|c| c.checksum_value)
                .collect(),
            licenses: Licenses::Spdx {
                declared: self.license_declared,
                concluded: self.license_concluded,
            },
            source,
        }
    }
}

/// The source an SPDX `sourceInfo` names: trivy's `built package from:
/// NAME VERSION` (the version with its epoch, if any; it may be missing),
/// bulwark's `built from Debian source package NAME VERSION`. syft's
/// (`acquired package info from …`) names none.
fn spdx_source(info: &str) -> Option<SourcePackage> {
    let info = info.trim();
    let rest = info
        .strip_prefix("built package from:")
        .or_else(|| info.strip_prefix("built from Debian source package "))?
        .trim();
    let (name, version) = match rest.split_once(char::is_whitespace) {
        Some((name, version)) => (name, Some(version.trim())),
        None => (rest, None),
    };
    (!name.is_empty()).then(|| SourcePackage {
        name: name.to_owned(),
        version: version.filter(|v| !v.is_empty()).map(str::to_owned),
    })
}

#[derive(Deserialize)]
#[serde(expecting = "a CycloneDX metadata object")]
struct CdxMetadata {
    component: Option<CdxComponent>,
}

#[derive(Deserialize)]
#[serde(expecting = "a CycloneDX component object")]
struct CdxComponent {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(rename = "bom-ref")]
    bom_ref: Option<String>,
    name: Option<String>,
    version: Option<String>,
    purl: Option<String>,
    #[serde(default, deserialize_with = "list")]
    hashes: Vec<CdxHash>,
    #[serde(default, deserialize_with = "list")]
    licenses: Vec<CdxLicenseChoice>,
    #[serde(default, deserialize_with = "list")]
    properties: Vec<CdxProperty>,
    #[serde(default, deserialize_with = "list")]
    components: Vec<CdxComponent>,
}

#[derive(Deserialize)]
#[serde(expecting = "a CycloneDX hash object")]
struct CdxHash {
    alg: String,
    content: String,
}

/// A `licenses` entry: its expression, licence id or licence name.
#[derive(Deserialize)]
#[serde(try_from = "CdxLicenseFields")]
struct CdxLicenseChoice(String);

#[derive(Deserialize)]
#[serde(expecting = "a CycloneDX licence choice object")]
struct CdxLicenseFields {
    expression: Option<String>,
    license: Option<CdxLicense>,
}

#[derive(Deserialize)]
#[serde(expecting = "a CycloneDX licence object")]
struct CdxLicense {
    id: Option<String>,
    name: Option<String>,
}

impl TryFrom<CdxLicenseFields> for CdxLicenseChoice {
    type Error = &'static str;

    fn try_from(fields: CdxLicenseFields) -> Result<Self, Self::Error> {
        fields
            .expression
            .or_else(|| fields.license.and_then(|l| l.id.or(l.name)))
            .map(Self)
            .ok_or("neither an `expression` nor a `license` with an `id` or a `name`")
    }
}

#[derive(Deserialize)]
#[serde(expecting = "a CycloneDX property object")]
struct CdxProperty {
    name: String,
    value: Option<String>,
}

impl CdxComponent {
    fn into_package(self) -> Package {
        let source = trivy_source(&self.properties);
        Package {
            id: self.bom_ref,
            name: self.name.unwrap_or_default(),
            version: self.version,
            kind: self.kind,
            purls: self.purl.into_iter().collect(),
            sha256: self
                .hashes
                .into_iter()
                .filter(|h| h.alg == "SHA-256")
                .map(|h| h.content)
                .collect(),
            licenses: Licenses::CycloneDx(self.licenses.into_iter().map(|l| l.0).collect()),
            source,
        }
    }
}

/// trivy's CycloneDX properties: `SrcName` and `SrcVersion` (both needed),
/// `SrcRelease` and `SrcEpoch`.
fn trivy_source(properties: &[CdxProperty]) -> Option<SourcePackage> {
    let get = |key: &str| {
        properties
            .iter()
            .find(|p| p.name == key)
            .and_then(|p| p.value.as_deref())
    };
    let name = get("aquasecurity:trivy:SrcName")?;
    let mut version = get("aquasecurity:trivy:SrcVersion")?.to_owned();
    if let Some(release) = get("aquasecurity:trivy:SrcRelease").filter(|r| !r.is_empty()) {
        version = format!("{version}-{release}");
    }
    if let Some(epoch) = get("aquasecurity:trivy:SrcEpoch").filter(|e| !e.is_empty() && *e != "0") {
        version = format!("{epoch}:{version}");
    }
    Some(SourcePackage {
        name: name.to_owned(),
        version: Some(version),
    })
}
