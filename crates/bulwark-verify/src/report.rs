//! What verification found: the checks made, policy violations, notes, and
//! the kind of failure, if any.

use std::fmt;

use serde::Serialize;

/// Why verification failed, most serious first: the caller decides what
/// each means (`bulwark verify` maps them to exit codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// A blob, a signed subject or an SBOM does not match the image: the
    /// content was changed.
    Mismatch,
    /// A signature does not verify, or is by another key.
    BadSignature,
    /// A required signature (of the image, its provenance, its SBOMs) is
    /// missing.
    SignatureMissing,
    /// An attestation could not be read: malformed input.
    Input,
    /// The image meets every check but violates the policy.
    Policy,
}

impl FailureKind {
    /// What this kind of failure means, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Mismatch => "digest or content mismatch",
            Self::BadSignature => "bad signature or wrong key",
            Self::SignatureMissing => "signature missing",
            Self::Input => "input error",
            Self::Policy => "policy violation",
        }
    }
}

impl From<&bulwark_attest::VerifyError> for FailureKind {
    fn from(err: &bulwark_attest::VerifyError) -> Self {
        use bulwark_attest::VerifyError;
        match err {
            VerifyError::Missing => Self::SignatureMissing,
            VerifyError::BadSignature { .. } | VerifyError::WrongKey { .. } => Self::BadSignature,
            VerifyError::DigestMismatch { .. } => Self::Mismatch,
            VerifyError::Malformed(_) => Self::Input,
        }
    }
}

/// One check verification made.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked, with the platform (`signature linux/amd64`).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found; for a failure, what does not match.
    pub detail: String,
    /// Why it failed; `None` when it passed.
    #[serde(skip)]
    pub failure: Option<FailureKind>,
}

/// What verifying an image found.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// The target verified.
    pub target: String,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Policy violations.
    pub violations: Vec<String>,
    /// Rules that were not evaluated, and what was passed over, and why.
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub(crate) fn new(target: &str) -> Self {
        Self {
            target: target.to_owned(),
            checks: Vec::new(),
            violations: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn pass(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            failure: None,
        });
    }

    pub(crate) fn fail(
        &mut self,
        name: impl Into<String>,
        detail: impl Into<String>,
        kind: FailureKind,
    ) {
        self.checks.push(Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            failure: Some(kind),
        });
    }

    pub(crate) fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// The most serious failure: of the failed checks, the first of
    /// [`FailureKind::Mismatch`], [`FailureKind::BadSignature`],
    /// [`FailureKind::SignatureMissing`], [`FailureKind::Input`] that
    /// applies; else [`FailureKind::Policy`] when the policy is violated;
    /// `None` when the image is verified.
    pub fn failure(&self) -> Option<FailureKind> {
        self.checks
            .iter()
            .filter_map(|c| c.failure)
            .min()
            .or_else(|| (!self.violations.is_empty()).then_some(FailureKind::Policy))
    }
}

impl fmt::Display for VerifyReport {
    /// The checks, violations and notes, one per line, and a verdict.
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
        let verdict = self.failure().map_or("verified", FailureKind::describe);
        write!(f, "Result: {verdict}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_serious_failure_wins() {
        let mut report = VerifyReport::new("oci:x");
        assert_eq!(report.failure(), None);
        report.violations.push("a violation".into());
        assert_eq!(report.failure(), Some(FailureKind::Policy));
        report.fail("sbom", "missing", FailureKind::SignatureMissing);
        report.fail("signature", "bad", FailureKind::BadSignature);
        assert_eq!(report.failure(), Some(FailureKind::BadSignature));
        report.fail("image", "changed", FailureKind::Mismatch);
        assert_eq!(report.failure(), Some(FailureKind::Mismatch));
        assert!(report
            .to_string()
            .ends_with("Result: digest or content mismatch"));
    }
}
