//! CycloneDX 1.6 JSON documents.

use serde::Serialize;

use crate::ident::{self, Prepared};
use crate::{purl, Error, License, SbomInput};

const SUBJECT_REF: &str = "subject";
const OS_REF: &str = "operating-system";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    #[serde(rename = "$schema")]
    schema: &'static str,
    bom_format: &'static str,
    spec_version: &'static str,
    serial_number: String,
    version: u32,
    metadata: Metadata,
    components: Vec<Component>,
    dependencies: Vec<Dependency>,
}

#[derive(Serialize)]
struct Metadata {
    timestamp: String,
    tools: Tools,
    component: Component,
}

#[derive(Serialize)]
struct Tools {
    components: Vec<Component>,
}

#[derive(Serialize)]
struct Component {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "bom-ref", skip_serializing_if = "Option::is_none")]
    bom_ref: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<Supplier>,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    licenses: Vec<LicenseChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    properties: Vec<Property>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<Component>,
}

impl Component {
    fn new(kind: &'static str, bom_ref: Option<String>, name: String) -> Self {
        Self {
            kind,
            bom_ref,
            supplier: None,
            name,
            version: None,
            description: None,
            hashes: Vec::new(),
            licenses: Vec::new(),
            purl: None,
            properties: Vec::new(),
            components: Vec::new(),
        }
    }
}

#[derive(Serialize)]
struct Supplier {
    name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    url: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    contact: Vec<Contact>,
}

#[derive(Serialize)]
struct Contact {
    email: String,
}

#[derive(Serialize)]
struct Hash {
    alg: &'static str,
    content: String,
}

#[derive(Serialize)]
struct LicenseChoice {
    expression: String,
}

#[derive(Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Dependency {
    #[serde(rename = "ref")]
    reference: String,
    depends_on: Vec<String>,
}

/// A supplier from `Name <address>`: an address that looks like an email
/// becomes a contact, an `http(s)` one a URL, anything else is dropped.
fn supplier(text: &str) -> Option<Supplier> {
    let text = text
        .strip_prefix("Organization:")
        .or_else(|| text.strip_prefix("Person:"))
        .unwrap_or(text)
        .trim();
    // SPDX actor form `NAME (EMAIL)` or Debian form `NAME <EMAIL>`.
    let (name, address) = match text.strip_suffix(')').and_then(|t| t.rsplit_once('(')) {
        Some((name, email)) if email.contains('@') => {
            (name.trim().to_owned(), Some(email.trim().to_owned()))
        }
        _ => ident::parse_maintainer(text),
    };
    if name.is_empty() {
        return None;
    }
    let mut out = Supplier {
        name,
        url: Vec::new(),
        contact: Vec::new(),
    };
    if let Some(address) = address {
        if address.starts_with("https://") || address.starts_with("http://") {
            if !address.contains(char::is_whitespace) {
                out.url.push(address);
            }
        } else if is_email(&address) {
            out.contact.push(Contact { email: address });
        }
    }
    Some(out)
}

fn is_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !s.contains(|c: char| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
    })
}

/// Writes the CycloneDX 1.6 JSON document of `input`.
///
/// `metadata.component` is the subject (type `container` for an image,
/// `file` for a root filesystem); `components` holds the operating system
/// (type `operating-system`) and one `library` per package with its PURL
/// (also its `bom-ref`), supplier, `.deb` SHA-256 and license expression;
/// listed files (type `file`, SHA-1 and SHA-256) nest under their first
/// owning package, or stand at the top level. `dependencies` has the
/// subject depending on everything it contains and each package on its
/// dependencies. The serial number is a version 5 UUID of the subject's
/// identity.
pub fn cyclonedx_json(input: &SbomInput) -> Result<Vec<u8>, Error> {
    let prepared = Prepared::new(input)?;
    let subject = &input.subject;
    let refs: Vec<String> = prepared
        .packages
        .iter()
        .map(|r| purl(&r.package, input.os))
        .collect();

    let mut metadata_component = Component::new(
        if subject.manifest_digest.is_some() {
            "container"
        } else {
            "file"
        },
        Some(SUBJECT_REF.to_owned()),
        subject.name.clone(),
    );
    metadata_component.version = Some(prepared.key.clone());
    metadata_component.supplier = subject.supplier.as_deref().and_then(supplier);
    if let Some(digest) = &subject.manifest_digest {
        let (_, alg, hex) = ident::split_digest(digest)?;
        metadata_component.hashes.push(Hash { alg, content: hex });
    }
    if let Some(platform) = &subject.platform {
        metadata_component.properties.push(Property {
            name: "bulwark:platform",
            value: platform.clone(),
        });
    }

    let (tool_name, tool_version) = match input.tool.rsplit_once('-') {
        Some((name, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => {
            (name, Some(version.to_owned()))
        }
        _ => (input.tool, None),
    };
    let mut tool = Component::new("application", None, tool_name.to_owned());
    tool.version = tool_version;

    let mut components = Vec::with_capacity(prepared.packages.len() + 1);
    let mut subject_deps = Vec::with_capacity(prepared.packages.len() + 1);
    if let Some(os) = input.os {
        let mut c = Component::new("operating-system", Some(OS_REF.to_owned()), os.id.clone());
        c.version = os
            .version_id
            .clone()
            .or_else(|| os.version_codename.clone());
        c.description = os.pretty_name.clone();
        c.supplier = ident::os_supplier(&os.id).and_then(supplier);
        components.push(c);
        subject_deps.push(OS_REF.to_owned());
    }

    // Files nest under their first owner.
    let mut owned_files: Vec<Vec<Component>> = std::iter::repeat_with(Vec::new)
        .take(prepared.packages.len())
        .collect();
    let mut loose_files = Vec::new();
    for (f, owners) in prepared.files.iter().flatten() {
        let mut c = Component::new("file", Some(format!("file:{}", f.path)), f.path.clone());
        c.hashes = vec![
            Hash {
                alg: "SHA-1",
                content: f.sha1.to_ascii_lowercase(),
            },
            Hash {
                alg: "SHA-256",
                content: f.sha256.to_ascii_lowercase(),
            },
        ];
        match owners.first() {
            Some(&o) => owned_files[o].push(c),
            None => loose_files.push(c),
        }
    }

    for (i, (r, files)) in prepared.packages.iter().zip(owned_files).enumerate() {
        let p = &r.package;
        let mut c = Component::new("library", Some(refs[i].clone()), p.name.clone());
        c.version = Some(p.version.clone());
        c.supplier = p.maintainer.as_deref().and_then(supplier);
        if let Some(h) = &prepared.deb_sha256[i] {
            c.hashes.push(Hash {
                alg: "SHA-256",
                content: h.clone(),
            });
        }
        if let License::Expression(e) = &r.license {
            c.licenses.push(LicenseChoice {
                expression: e.clone(),
            });
        }
        c.purl = Some(refs[i].clone());
        c.properties = vec![
            Property {
                name: "bulwark:deb:architecture",
                value: p.architecture.clone(),
            },
            Property {
                name: "bulwark:deb:source",
                value: p.source_name.clone(),
            },
            Property {
                name: "bulwark:deb:source-version",
                value: p.source_version.clone(),
            },
        ];
        c.components = files;
        components.push(c);
        subject_deps.push(refs[i].clone());
    }
    subject_deps.extend(loose_files.iter().filter_map(|f| f.bom_ref.clone()));
    components.extend(loose_files);

    let mut dependencies = Vec::with_capacity(prepared.packages.len() + 2);
    dependencies.push(Dependency {
        reference: SUBJECT_REF.to_owned(),
        depends_on: subject_deps,
    });
    if input.os.is_some() {
        dependencies.push(Dependency {
            reference: OS_REF.to_owned(),
            depends_on: Vec::new(),
        });
    }
    for (i, deps) in prepared.depends.iter().enumerate() {
        dependencies.push(Dependency {
            reference: refs[i].clone(),
            depends_on: deps.iter().map(|&j| refs[j].clone()).collect(),
        });
    }

    let bom = Bom {
        schema: "http://cyclonedx.org/schema/bom-1.6.schema.json",
        bom_format: "CycloneDX",
        spec_version: "1.6",
        serial_number: format!(
            "urn:uuid:{}",
            ident::document_uuid("cyclonedx", &prepared.key, input.files.is_some())
        ),
        version: 1,
        metadata: Metadata {
            timestamp: ident::rfc3339(input.created),
            tools: Tools {
                components: vec![tool],
            },
            component: metadata_component,
        },
        components,
        dependencies,
    };
    let mut out = serde_json::to_vec_pretty(&bom)?;
    out.push(b'\n');
    Ok(out)
}
