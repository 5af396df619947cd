//! OpenVEX input: statements that suppress findings.

use std::path::Path;

use serde_json::Value;

use crate::{Error, Result};

/// One OpenVEX statement, reduced to what matching needs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VexStatement {
    /// The vulnerability's name (`CVE-…`).
    pub vulnerability: String,
    /// Other names of the vulnerability the statement gives.
    pub aliases: Vec<String>,
    /// The products it covers; empty means every package.
    pub products: Vec<VexProduct>,
    /// `not_affected`, `fixed`, `affected` or `under_investigation`.
    pub status: String,
    /// The justification (`vulnerable_code_not_present`…), if any.
    pub justification: Option<String>,
    /// The impact statement, if any.
    pub impact_statement: Option<String>,
}

/// A product of a statement: a package URL or another identifier (an image),
/// and the package URLs of its subcomponents.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VexProduct {
    /// `@id` (or `identifiers.purl`).
    pub id: String,
    /// The subcomponents' `@id`s.
    pub subcomponents: Vec<String>,
}

impl VexStatement {
    /// Whether the statement's status suppresses a finding.
    pub fn suppresses(&self) -> bool {
        matches!(self.status.as_str(), "not_affected" | "fixed")
    }

    /// Whether the statement names vulnerability `id` or one of `aliases`.
    pub(crate) fn names(&self, id: &str, aliases: &[String]) -> bool {
        std::iter::once(&self.vulnerability)
            .chain(&self.aliases)
            .any(|name| name == id || aliases.iter().any(|a| a == name))
    }
}

/// The most bytes read of an OpenVEX document.
pub const MAX_VEX_BYTES: u64 = 64 << 20;

/// Reads an OpenVEX JSON document: a regular file of at most
/// [`MAX_VEX_BYTES`].
pub fn read_openvex(path: &Path) -> Result<Vec<VexStatement>> {
    let bytes = bulwark_oci::read_regular(path, MAX_VEX_BYTES).map_err(|err| match err {
        bulwark_oci::Error::Io { source, .. } => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        other => Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
        },
    })?;
    parse_openvex(&bytes, path)
}

/// Parses an OpenVEX JSON document; `path` names it in errors.
pub fn parse_openvex(bytes: &[u8], path: &Path) -> Result<Vec<VexStatement>> {
    let err = |reason: String| Error::Vex {
        path: path.to_path_buf(),
        reason,
    };
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let statements = doc
        .get("statements")
        .and_then(Value::as_array)
        .ok_or_else(|| err("no `statements` array: not an OpenVEX document".to_string()))?;
    let mut out = Vec::with_capacity(statements.len());
    for (index, st) in statements.iter().enumerate() {
        let (vulnerability, aliases) = match st.get("vulnerability") {
            Some(Value::String(name)) => (name.clone(), Vec::new()),
            Some(Value::Object(v)) => {
                let name = v
                    .get("name")
                    .or_else(|| v.get("@id"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        err(format!(
                            "statement {index}: the vulnerability has no `name`"
                        ))
                    })?;
                let aliases = v
                    .get("aliases")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                (name.to_string(), aliases)
            }
            _ => return Err(err(format!("statement {index}: no `vulnerability`"))),
        };
        let status = st
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| err(format!("statement {index}: no `status`")))?
            .to_string();
        let products = st
            .get("products")
            .and_then(Value::as_array)
            .map(|products| products.iter().filter_map(product).collect())
            .unwrap_or_default();
        let text = |key| st.get(key).and_then(Value::as_str).map(str::to_string);
        let (justification, impact_statement) = (text("justification"), text("impact_statement"));
        if !matches!(
            status.as_str(),
            "not_affected" | "affected" | "fixed" | "under_investigation"
        ) {
            return Err(err(format!(
                "statement {index}: unknown status `{status}` (OpenVEX has not_affected, \
                 affected, fixed and under_investigation)"
            )));
        }
        // OpenVEX: a `not_affected` statement MUST say why.
        if status == "not_affected" && justification.is_none() && impact_statement.is_none() {
            return Err(err(format!(
                "statement {index}: `not_affected` for `{vulnerability}` has neither a \
                 `justification` nor an `impact_statement`"
            )));
        }
        out.push(VexStatement {
            vulnerability,
            aliases,
            products,
            status,
            justification,
            impact_statement,
        });
    }
    Ok(out)
}

fn product(value: &Value) -> Option<VexProduct> {
    let id_of = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("@id")
                .and_then(Value::as_str)
                .or_else(|| {
                    o.get("identifiers")
                        .and_then(|i| i.get("purl"))
                        .and_then(Value::as_str)
                })
                .map(str::to_string),
            _ => None,
        }
    };
    Some(VexProduct {
        id: id_of(value)?,
        subcomponents: value
            .get("subcomponents")
            .and_then(Value::as_array)
            .map(|s| s.iter().filter_map(id_of).collect())
            .unwrap_or_default(),
    })
}
