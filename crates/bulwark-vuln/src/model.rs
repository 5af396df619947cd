//! The vulnerability model: what the database knows per (release, source
//! package, vulnerability), and the severity scale.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use bulwark_deb::version::compare;

use serde::{Deserialize, Serialize};

/// Debian's view of one vulnerability in one source package of one release.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Affected, no fix yet.
    #[default]
    Open,
    /// Fixed in [`Entry::fixed_version`].
    Resolved,
    /// Not known whether affected (the tracker's `undetermined`).
    Undetermined,
    /// The package in this release is not affected.
    NotAffected,
}

impl Status {
    /// The lowercase name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Resolved => "resolved",
            Status::Undetermined => "undetermined",
            Status::NotAffected => "not-affected",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Status::Open => 0,
            Status::Resolved => 1,
            Status::Undetermined => 2,
            Status::NotAffected => 3,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Status> {
        Some(match code {
            0 => Status::Open,
            1 => Status::Resolved,
            2 => Status::Undetermined,
            3 => Status::NotAffected,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One (source package, vulnerability) entry of a release.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The vulnerability id (`CVE-2024-1234`; a `DSA-…`/`DLA-…` id when the
    /// advisory names no CVE; a `TEMP-…` id from the tracker).
    pub vulnerability: String,
    /// The status in this release.
    pub status: Status,
    /// The first version without the vulnerability, when resolved.
    pub fixed_version: Option<String>,
    /// Debian's urgency as written (`low`, `medium`, `high`, `unimportant`,
    /// `not yet assigned`, `end-of-life`), when known.
    pub urgency: Option<String>,
    /// The tracker's no-DSA comment, when the fix does not warrant an advisory.
    pub nodsa: Option<String>,
    /// The tracker's no-DSA reason: `ignored` or `postponed`.
    pub nodsa_reason: Option<String>,
    /// The fix is queued for the next point release, not yet shipped.
    pub next_point_update: bool,
    /// The DSA/DLA/DTSA ids whose update fixes this in this release, sorted.
    pub advisories: Vec<String>,
    /// The affected version intervals, when they are more than "every
    /// version below [`Entry::fixed_version`]" (an OSV range with an
    /// `introduced` above `0`, a `last_affected`, or several intervals).
    /// Empty otherwise: then [`Entry::status`] and [`Entry::fixed_version`]
    /// alone decide. When not empty, `status` and `fixed_version` summarise
    /// them (`open` when some interval has no fix, else `resolved` with the
    /// highest fix); [`Entry::for_version`] gives what applies to a version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<AffectedRange>,
}

impl Entry {
    /// Whether source version `version` is affected (see [`Entry::for_version`]).
    pub fn affects(&self, version: &str) -> bool {
        self.for_version(version).is_some()
    }

    /// This entry as it applies to source version `version`, or `None` when
    /// that version is not affected.
    ///
    /// Without [`Entry::ranges`]: `not-affected` never applies, `open` and
    /// `undetermined` always do, `resolved` while `version` is lower than
    /// the fixed version (a resolved entry without a fixed version never
    /// applies). With ranges: the version is affected when an interval
    /// holds it; the entry returned is `resolved` with that interval's fix,
    /// or `open` without a fixed version when the interval has no fix (it
    /// ends with `last_affected`, or not at all).
    pub fn for_version(&self, version: &str) -> Option<Cow<'_, Entry>> {
        if self.ranges.is_empty() {
            let affected = match self.status {
                Status::NotAffected => false,
                Status::Open | Status::Undetermined => true,
                Status::Resolved => self
                    .fixed_version
                    .as_deref()
                    .is_some_and(|fixed| compare(version, fixed).is_lt()),
            };
            return affected.then_some(Cow::Borrowed(self));
        }
        if self.status == Status::NotAffected {
            return None;
        }
        let mut hit = false;
        let mut unfixed = false;
        let mut fix: Option<&str> = None;
        for range in self.ranges.iter().filter(|r| r.contains(version)) {
            hit = true;
            match &range.end {
                RangeEnd::Fixed(f) => {
                    if fix.is_none_or(|old| compare(f, old).is_gt()) {
                        fix = Some(f);
                    }
                }
                RangeEnd::Open | RangeEnd::LastAffected(_) => unfixed = true,
            }
        }
        if !hit {
            return None;
        }
        let (status, fixed_version) = if unfixed {
            (Status::Open, None)
        } else {
            (Status::Resolved, fix)
        };
        if status == self.status && fixed_version == self.fixed_version.as_deref() {
            return Some(Cow::Borrowed(self));
        }
        Some(Cow::Owned(Entry {
            status,
            fixed_version: fixed_version.map(str::to_string),
            ..self.clone()
        }))
    }
}

/// One interval of affected versions, from an OSV `ECOSYSTEM` range,
/// compared with Debian version ordering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedRange {
    /// The first affected version; `None` from the beginning (OSV's
    /// `introduced: "0"`).
    pub introduced: Option<String>,
    /// Where the interval ends.
    pub end: RangeEnd,
}

/// How an [`AffectedRange`] ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RangeEnd {
    /// It does not: every later version is affected, no fix is known.
    Open,
    /// OSV's `fixed`: the first version without the vulnerability
    /// (excluded from the interval).
    Fixed(String),
    /// OSV's `last_affected`: the last affected version (included); later
    /// versions are not affected, and no fix is known for the ones up to it.
    LastAffected(String),
}

impl AffectedRange {
    /// Whether `version` lies in the interval.
    pub fn contains(&self, version: &str) -> bool {
        if let Some(introduced) = &self.introduced {
            if compare(version, introduced).is_lt() {
                return false;
            }
        }
        match &self.end {
            RangeEnd::Open => true,
            RangeEnd::Fixed(fixed) => compare(version, fixed).is_lt(),
            RangeEnd::LastAffected(last) => compare(version, last).is_le(),
        }
    }
}

/// What the database knows about a vulnerability, independent of packages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Vulnerability {
    /// The canonical id (the CVE id when there is one).
    pub id: String,
    /// Other ids of the same vulnerability (`DEBIAN-CVE-…`, `GHSA-…`), sorted.
    pub aliases: Vec<String>,
    /// A one-paragraph summary, when the feed has one.
    pub summary: Option<String>,
    /// The CVSS v3 vector (`CVSS:3.1/AV:N/…`), when the feed has one.
    pub cvss_v3: Option<String>,
    /// The newest `modified` date of the records merged into this one.
    pub modified: Option<String>,
}

impl Vulnerability {
    /// The CVSS v3 base score computed from [`Vulnerability::cvss_v3`].
    pub fn cvss_v3_score(&self) -> Option<f64> {
        self.cvss_v3.as_deref().and_then(crate::cvss::base_score)
    }
}

/// The single severity scale of reports: `unknown` when nothing says,
/// then negligible < low < medium < high < critical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Neither a Debian urgency nor a CVSS score is known.
    Unknown,
    /// Debian's `unimportant`, or CVSS 0.0.
    Negligible,
    /// Debian's `low`, or CVSS 0.1–3.9.
    Low,
    /// Debian's `medium`, or CVSS 4.0–6.9.
    Medium,
    /// Debian's `high`, or CVSS 7.0–8.9.
    High,
    /// CVSS 9.0–10.0 (Debian has no higher urgency than `high`).
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 6] = [
        Severity::Unknown,
        Severity::Negligible,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Negligible => "negligible",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity from Debian's urgency, falling back to the CVSS v3 base
    /// score's band when the urgency is `not yet assigned`, `end-of-life`,
    /// absent or unrecognised; `Unknown` when neither says anything.
    pub fn from_debian(urgency: Option<&str>, cvss_score: Option<f64>) -> Severity {
        // The tracker marks urgencies it took from elsewhere with `*`/`**`.
        let urgency = urgency.map(|u| u.trim().trim_end_matches('*'));
        match urgency {
            Some("unimportant") => Severity::Negligible,
            Some("low") => Severity::Low,
            Some("medium") => Severity::Medium,
            Some("high") => Severity::High,
            _ => cvss_score.map_or(Severity::Unknown, Severity::from_cvss),
        }
    }

    /// The CVSS v3 qualitative band of `score` (`none` becomes negligible).
    pub fn from_cvss(score: f64) -> Severity {
        if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::High
        } else if score >= 4.0 {
            Severity::Medium
        } else if score > 0.0 {
            Severity::Low
        } else {
            Severity::Negligible
        }
    }

    /// Whether a finding of this severity trips `--fail-on threshold`.
    ///
    /// `unknown` findings trip only the threshold `unknown`, which every
    /// finding trips; otherwise a finding trips when its severity is at
    /// least the threshold.
    pub fn trips(self, threshold: Severity) -> bool {
        match (threshold, self) {
            (Severity::Unknown, _) => true,
            (_, Severity::Unknown) => false,
            _ => self >= threshold,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown severity name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity `{0}`: expected unknown, negligible, low, medium, high or critical")]
pub struct ParseSeverityError(pub String);

impl FromStr for Severity {
    type Err = ParseSeverityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseSeverityError(s.to_string()))
    }
}

/// Debian releases the database knows by number and codename.
const RELEASES: &[(&str, &str)] = &[
    ("7", "wheezy"),
    ("8", "jessie"),
    ("9", "stretch"),
    ("10", "buster"),
    ("11", "bullseye"),
    ("12", "bookworm"),
    ("13", "trixie"),
    ("14", "forky"),
    ("15", "duke"),
];

/// The database's key for a release: its major version number (`12`) when
/// known, else the lowercase name (`sid`). Accepts a number (`12`, `12.5`),
/// a codename (`bookworm`), or `unstable`.
pub fn release_key(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    let major = name.split('.').next().unwrap_or("");
    if !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()) {
        return major.trim_start_matches('0').to_string();
    }
    if let Some((number, _)) = RELEASES.iter().find(|(_, codename)| *codename == name) {
        return (*number).to_string();
    }
    match name.as_str() {
        "unstable" => "sid".to_string(),
        _ => name,
    }
}

/// The codename of a release key (`12` → `bookworm`), when known.
pub fn release_codename(key: &str) -> Option<&'static str> {
    RELEASES
        .iter()
        .find(|(number, _)| *number == key)
        .map(|(_, codename)| *codename)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_keys() {
        assert_eq!(release_key("12"), "12");
        assert_eq!(release_key("12.5"), "12");
        assert_eq!(release_key("bookworm"), "12");
        assert_eq!(release_key("Trixie"), "13");
        assert_eq!(release_key("10"), "10");
        assert_eq!(release_key("unstable"), "sid");
        assert_eq!(release_key("sid"), "sid");
        assert_eq!(release_codename("11"), Some("bullseye"));
    }

    #[test]
    fn severity_mapping() {
        assert_eq!(
            Severity::from_debian(Some("unimportant"), Some(9.8)),
            Severity::Negligible
        );
        assert_eq!(Severity::from_debian(Some("high"), None), Severity::High);
        assert_eq!(
            Severity::from_debian(Some("medium**"), None),
            Severity::Medium
        );
        assert_eq!(
            Severity::from_debian(Some("not yet assigned"), Some(9.8)),
            Severity::Critical
        );
        assert_eq!(
            Severity::from_debian(Some("not yet assigned"), Some(7.0)),
            Severity::High
        );
        assert_eq!(Severity::from_debian(None, Some(3.9)), Severity::Low);
        assert_eq!(
            Severity::from_debian(Some("not yet assigned"), None),
            Severity::Unknown
        );
        assert_eq!(Severity::from_debian(None, Some(0.0)), Severity::Negligible);
    }

    #[test]
    fn fail_on_thresholds() {
        assert!(Severity::High.trips(Severity::Medium));
        assert!(!Severity::Low.trips(Severity::Medium));
        assert!(!Severity::Unknown.trips(Severity::Negligible));
        assert!(Severity::Unknown.trips(Severity::Unknown));
        assert!(Severity::Negligible.trips(Severity::Unknown));
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
    }
}
