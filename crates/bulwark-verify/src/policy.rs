//! Verification policies: the rules an image must meet besides its
//! signatures.

use std::path::Path;

use bulwark_vuln::Severity;
use serde::{Deserialize, Serialize};

use crate::Error;

/// The largest policy file read.
const MAX_POLICY: u64 = 1 << 20;

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
    /// vulnerability database.
    #[serde(default)]
    pub max_severity: Option<Severity>,
}

impl Policy {
    /// Reads a policy file: a regular file of at most 1 MiB.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let read_err = |reason: String| Error::Policy {
            path: path.to_owned(),
            reason,
        };
        let file = bulwark_oci::open_regular(path).map_err(|err| read_err(err.to_string()))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_POLICY + 1), &mut text)
            .map_err(|err| read_err(format!("cannot read it: {err}")))?;
        if text.len() as u64 > MAX_POLICY {
            return Err(read_err(format!("larger than {MAX_POLICY} bytes")));
        }
        Self::parse(&text).map_err(read_err)
    }

    /// Parses a policy's YAML; the error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_norway::from_str(text).map_err(|err| {
            // serde_norway leaves out the location when it is the start of
            // the document (an unknown key on line 1).
            let mut message = err.to_string();
            if let Some(at) = err.location() {
                if !message.contains(&format!("line {}", at.line())) {
                    message.push_str(&format!(" at line {} column {}", at.line(), at.column()));
                }
            }
            message
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_unknown_keys_naming_the_line() {
        let err = Policy::parse("deny-packages: [a]\nallow-license: [MIT]\n").unwrap_err();
        assert!(err.contains("allow-license"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let p = Policy::parse("deny-packages: [\"foo*\"]\nrequire-non-root: true\n").unwrap();
        assert_eq!(p.deny_packages, ["foo*"]);
        assert!(p.require_non_root);
        let p = Policy::parse("max-severity: high\n").unwrap();
        assert_eq!(p.max_severity, Some(Severity::High));
        let err = Policy::parse("deny-packages: []\nmax-severity: severe\n").unwrap_err();
        assert!(err.contains("severe") && err.contains("line 2"), "{err}");
        assert!(err.contains("critical"), "{err}");
        let err = Policy::parse("unknown: 1\n").unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }
}
