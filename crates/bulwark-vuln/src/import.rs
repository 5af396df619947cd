//! Reading feeds: OSV JSON (a directory tree, a zip in OSV's flat all.zip
//! shape or the nested `CVE/<year>/…` shape, a tar, a single file) and the
//! Debian Security Tracker JSON, merged into one set of entries.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use crate::archive::{ARCHIVE_LIMIT, MEMBER_LIMIT};
use crate::db::cmp_modified;
use crate::model::{release_key, AffectedRange, Entry, RangeEnd, Status, Vulnerability};
use crate::{Error, Result};

/// The most bytes a JSON feed file (Debian Security Tracker JSON, an OSV
/// record or array) may have: it is read whole.
pub const JSON_LIMIT: u64 = 512 << 20;

/// Where one input of an import came from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceInfo {
    /// The path or URL the user gave.
    pub location: String,
    /// What it was read as: `osv-zip`, `osv-tar`, `osv-directory`,
    /// `osv-json` or `debian-tracker-json`.
    pub kind: String,
    /// `sha256:…` of the file (for a directory: of the sorted list of
    /// `relative path`, NUL, file sha256, newline).
    pub sha256: String,
    /// Records read from it.
    pub records: usize,
}

/// What an import read and what it skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportStats {
    /// Records read (OSV files, or tracker (package, CVE) pairs).
    pub records: usize,
    /// Records used, by kind (`CVE`, `DEBIAN-CVE`, `DSA`, `DLA`, `DTSA`,
    /// `other`, `tracker`).
    pub by_kind: BTreeMap<String, usize>,
    /// Records skipped, by reason (`malformed`, `withdrawn`,
    /// `no Debian entries`, `duplicate id (older modified)`…).
    pub skipped: BTreeMap<String, usize>,
    /// Up to 20 skipped malformed records with the reason, `file: reason`.
    pub examples: Vec<String>,
}

impl ImportStats {
    fn skip(&mut self, reason: &str, example: Option<String>) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
        if let Some(example) = example {
            if self.examples.len() < 20 {
                self.examples.push(example);
            }
        }
    }
}

/// One OSV record reduced to what the database keeps.
#[derive(Clone, Debug)]
pub(crate) struct Record {
    id: String,
    canonical: String,
    advisory: bool,
    kind: &'static str,
    modified: String,
    aliases: Vec<String>,
    /// For advisories: the canonical CVE ids they fix.
    fixes: Vec<String>,
    summary: Option<String>,
    cvss_v3: Option<String>,
    affected: Vec<Affected>,
}

#[derive(Clone, Debug)]
struct Affected {
    release: String,
    package: String,
    /// The highest `fixed` event (what an advisory's entry keeps).
    fixed: Option<String>,
    /// What the ranges say, as an entry's status, fixed version and ranges.
    status: Status,
    fixed_version: Option<String>,
    ranges: Vec<AffectedRange>,
    urgency: Option<String>,
}

/// The result of parsing one input file's bytes.
pub(crate) enum Parsed {
    Record(Box<Record>),
    Skip(&'static str, Option<String>),
}

/// A JSON string borrowed from the input when it has no escapes: parsing
/// ~44,000 records must not churn the heap with strings that are thrown away
/// (other ecosystems' entries, ranges, long details).
struct Str<'a>(Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Cow<'de, str>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Cow::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Cow::Owned(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(Cow::Owned(v))
            }
        }
        d.deserialize_str(Visitor).map(Str)
    }
}

#[derive(Deserialize)]
struct OsvRecord<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(default, borrow)]
    modified: Option<Str<'a>>,
    #[serde(default)]
    withdrawn: Option<serde::de::IgnoredAny>,
    #[serde(default, borrow)]
    aliases: Option<Vec<Str<'a>>>,
    #[serde(default, borrow)]
    related: Option<Vec<Str<'a>>>,
    #[serde(default, borrow)]
    upstream: Option<Vec<Str<'a>>>,
    #[serde(default, borrow)]
    summary: Option<Str<'a>>,
    #[serde(default, borrow)]
    details: Option<Str<'a>>,
    #[serde(default, borrow)]
    severity: Option<Vec<OsvSeverity<'a>>>,
    #[serde(default, borrow)]
    affected: Option<Vec<OsvAffected<'a>>>,
}

#[derive(Deserialize)]
struct OsvSeverity<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    score: Str<'a>,
}

#[derive(Deserialize)]
struct OsvAffected<'a> {
    #[serde(default, borrow)]
    package: Option<OsvPackage<'a>>,
    #[serde(default, borrow)]
    ranges: Option<Vec<OsvRange<'a>>>,
    #[serde(default, borrow)]
    ecosystem_specific: Option<EcosystemSpecific<'a>>,
}

#[derive(Deserialize)]
struct OsvPackage<'a> {
    #[serde(default, borrow)]
    ecosystem: Option<Str<'a>>,
    #[serde(default, borrow)]
    name: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct OsvRange<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(default, borrow)]
    events: Vec<OsvEvent<'a>>,
}

/// A range event: `introduced`, `fixed` or `last_affected` (`limit` is
/// for `GIT` ranges and ignored).
#[derive(Deserialize)]
struct OsvEvent<'a> {
    #[serde(default, borrow)]
    introduced: Option<Str<'a>>,
    #[serde(default, borrow)]
    fixed: Option<Str<'a>>,
    #[serde(default, borrow)]
    last_affected: Option<Str<'a>>,
}

/// The kinds of range events, in the order that events of one version are
/// applied.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
}

/// The affected intervals of one OSV `ECOSYSTEM` range with OSV's
/// semantics: the events sorted by version (`introduced: "0"` first), an
/// `introduced` opens an interval, a `fixed` closes it before its version,
/// a `last_affected` after it; an interval still open at the end has no
/// end. A range without any `introduced` event is read as starting with
/// `introduced: "0"`. Intervals that hold no version are dropped, as is
/// `introduced: "0"` with Debian's `fixed: "0"` (never affected).
fn range_intervals(events: &[OsvEvent<'_>]) -> Vec<AffectedRange> {
    // (version, kind); `None` is the `introduced: "0"` that precedes all.
    let mut sorted: Vec<(Option<&str>, EventKind)> = Vec::new();
    for event in events {
        if let Some(v) = event.introduced.as_deref() {
            let v = v.trim();
            sorted.push(((v != "0").then_some(v), EventKind::Introduced));
        }
        if let Some(v) = event.fixed.as_deref() {
            sorted.push((Some(v.trim()), EventKind::Fixed));
        }
        if let Some(v) = event.last_affected.as_deref() {
            sorted.push((Some(v.trim()), EventKind::LastAffected));
        }
    }
    if !sorted.iter().any(|(_, k)| *k == EventKind::Introduced) {
        sorted.push((None, EventKind::Introduced));
    }
    sorted.sort_by(|(va, ka), (vb, kb)| {
        let by_version = match (va, vb) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Less,
            (Some(_), None) => std::cmp::Ordering::Greater,
            (Some(a), Some(b)) => bulwark_deb::version::compare(a, b),
        };
        by_version.then(ka.cmp(kb))
    });
    let mut out = Vec::new();
    let mut start: Option<Option<&str>> = None;
    for (version, kind) in sorted {
        match (kind, version) {
            (EventKind::Introduced, _) => {
                if start.is_none() {
                    start = Some(version);
                }
            }
            (EventKind::Fixed, Some(v)) => {
                if let Some(from) = start.take() {
                    // From the beginning, only Debian's `fixed: "0"` is empty:
                    // `0~20200229-1` is a real version below `0`.
                    let empty = match from {
                        None => v == "0",
                        Some(from) => bulwark_deb::version::compare(v, from).is_le(),
                    };
                    if !empty {
                        out.push(AffectedRange {
                            introduced: from.map(str::to_string),
                            end: RangeEnd::Fixed(v.to_string()),
                        });
                    }
                }
            }
            (EventKind::LastAffected, Some(v)) => {
                if let Some(from) = start.take() {
                    let empty = from.is_some_and(|f| bulwark_deb::version::compare(v, f).is_lt());
                    if !empty {
                        out.push(AffectedRange {
                            introduced: from.map(str::to_string),
                            end: RangeEnd::LastAffected(v.to_string()),
                        });
                    }
                }
            }
            (_, None) => {}
        }
    }
    if let Some(from) = start {
        out.push(AffectedRange {
            introduced: from.map(str::to_string),
            end: RangeEnd::Open,
        });
    }
    out
}

/// An entry's status, fixed version and ranges from the intervals of all
/// of an `affected` entry's ranges. Intervals that start at the beginning
/// and end with a fix or not at all need no ranges (the entry is open, or
/// resolved in the highest fix, as every version below it is affected);
/// others keep them.
fn summarise(intervals: Vec<AffectedRange>) -> (Status, Option<String>, Vec<AffectedRange>) {
    if intervals.is_empty() {
        return (Status::NotAffected, None, Vec::new());
    }
    let highest_fix = intervals
        .iter()
        .filter_map(|r| match &r.end {
            RangeEnd::Fixed(f) => Some(f.as_str()),
            _ => None,
        })
        .max_by(|a, b| bulwark_deb::version::compare(a, b))
        .map(str::to_string);
    let unfixed = intervals
        .iter()
        .any(|r| !matches!(r.end, RangeEnd::Fixed(_)));
    let from_start = intervals.iter().all(|r| r.introduced.is_none());
    if from_start && intervals.iter().any(|r| r.end == RangeEnd::Open) {
        return (Status::Open, None, Vec::new());
    }
    if from_start && !unfixed {
        return (Status::Resolved, highest_fix, Vec::new());
    }
    if unfixed {
        (Status::Open, None, intervals)
    } else {
        (Status::Resolved, highest_fix, intervals)
    }
}

#[derive(Deserialize)]
struct EcosystemSpecific<'a> {
    #[serde(default, borrow)]
    urgency: Option<Str<'a>>,
}

/// `DEBIAN-CVE-2024-1` → `CVE-2024-1`; other ids unchanged.
fn canonical_id(id: &str) -> &str {
    match id.strip_prefix("DEBIAN-") {
        Some(rest) if rest.starts_with("CVE-") => rest,
        _ => id,
    }
}

fn is_advisory(id: &str) -> bool {
    let id = id.strip_prefix("DEBIAN-").unwrap_or(id);
    id.starts_with("DSA-") || id.starts_with("DLA-") || id.starts_with("DTSA-")
}

fn record_kind(id: &str) -> &'static str {
    for kind in ["DEBIAN-CVE", "CVE", "DSA", "DLA", "DTSA"] {
        if id.starts_with(kind) && id.as_bytes().get(kind.len()) == Some(&b'-') {
            return kind;
        }
    }
    if let Some(rest) = id.strip_prefix("DEBIAN-") {
        return record_kind(rest);
    }
    "other"
}

/// A short summary: the record's `summary`, else the first paragraph of its
/// `details`, whitespace collapsed, cut to 240 characters.
fn short_summary(summary: Option<&str>, details: Option<&str>) -> Option<String> {
    let text = summary
        .filter(|s| !s.trim().is_empty())
        .or_else(|| details.and_then(|d| d.split("\n\n").find(|p| !p.trim().is_empty())))?;
    let mut out = String::new();
    for word in text.split_whitespace() {
        if out.chars().count() + word.chars().count() > 240 {
            out.push('…');
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    (!out.is_empty()).then_some(out)
}

pub(crate) fn parse_osv(name: &str, bytes: &[u8]) -> Parsed {
    let osv: OsvRecord = match serde_json::from_slice(bytes) {
        Ok(osv) => osv,
        Err(err) => return Parsed::Skip("malformed", Some(format!("{name}: {err}"))),
    };
    osv_to_record(name, osv)
}

fn osv_to_record(name: &str, osv: OsvRecord) -> Parsed {
    if osv.id.trim().is_empty() {
        return Parsed::Skip("malformed", Some(format!("{name}: empty `id`")));
    }
    if osv.withdrawn.is_some() {
        return Parsed::Skip("withdrawn", None);
    }
    let mut affected = Vec::new();
    for entry in osv.affected.iter().flatten() {
        let Some(package) = &entry.package else {
            continue;
        };
        let (Some(ecosystem), Some(pkg_name)) =
            (package.ecosystem.as_deref(), package.name.as_deref())
        else {
            continue;
        };
        let Some(release) = ecosystem.strip_prefix("Debian:") else {
            continue;
        };
        if release.trim().is_empty() || pkg_name.trim().is_empty() {
            continue;
        }
        let mut fixed: Option<&str> = None;
        let mut has_range = false;
        let mut intervals = Vec::new();
        for range in entry.ranges.iter().flatten() {
            if &*range.kind != "ECOSYSTEM" {
                continue;
            }
            has_range = true;
            for event in &range.events {
                for (field, version) in [
                    ("introduced", event.introduced.as_deref()),
                    ("fixed", event.fixed.as_deref()),
                    ("last_affected", event.last_affected.as_deref()),
                ] {
                    let Some(version) = version else { continue };
                    if field == "introduced" && version.trim() == "0" {
                        continue;
                    }
                    if let Err(err) = bulwark_deb::version::Version::parse(version) {
                        return Parsed::Skip(
                            "malformed",
                            Some(format!(
                                "{name}: `{field}` of {} in {ecosystem}: {err}",
                                pkg_name.trim()
                            )),
                        );
                    }
                }
                if let Some(version) = event.fixed.as_deref() {
                    // Several fixes for one package and release: the highest
                    // one is the version that has them all.
                    if fixed.is_none_or(|f| bulwark_deb::version::compare(version, f).is_gt()) {
                        fixed = Some(version.trim());
                    }
                }
            }
            intervals.extend(range_intervals(&range.events));
        }
        if !has_range {
            continue;
        }
        let (status, fixed_version, ranges) = summarise(intervals);
        affected.push(Affected {
            release: release_key(release),
            package: pkg_name.trim().to_string(),
            fixed: fixed.map(str::to_string),
            status,
            fixed_version,
            ranges,
            urgency: entry
                .ecosystem_specific
                .as_ref()
                .and_then(|e| e.urgency.as_deref())
                .map(str::to_string),
        });
    }
    if affected.is_empty() {
        return Parsed::Skip("no Debian entries", None);
    }
    let id = osv.id.trim().to_string();
    let canonical = canonical_id(&id).to_string();
    let advisory = is_advisory(&id);
    let mut aliases: Vec<String> = osv
        .aliases
        .iter()
        .chain(osv.upstream.iter())
        .flatten()
        .map(|a| a.trim().to_string())
        .collect();
    if canonical != id {
        aliases.push(id.clone());
    }
    let mut fixes = Vec::new();
    if advisory {
        fixes = osv
            .aliases
            .iter()
            .chain(osv.related.iter())
            .chain(osv.upstream.iter())
            .flatten()
            .map(|a| canonical_id(a.trim()))
            .filter(|a| a.starts_with("CVE-"))
            .map(str::to_string)
            .collect();
        fixes.sort();
        fixes.dedup();
    }
    aliases.retain(|a| *a != canonical);
    aliases.sort();
    aliases.dedup();
    let cvss_v3 = osv
        .severity
        .iter()
        .flatten()
        .find(|s| &*s.kind == "CVSS_V3")
        .map(|s| s.score.trim().to_string());
    Parsed::Record(Box::new(Record {
        kind: record_kind(&id),
        summary: short_summary(osv.summary.as_deref(), osv.details.as_deref()),
        modified: osv.modified.as_deref().unwrap_or_default().to_string(),
        id,
        canonical,
        advisory,
        aliases,
        fixes,
        cvss_v3,
        affected,
    }))
}

/// Debian Security Tracker JSON: `{source: {CVE: {description, releases:
/// {codename: {status, fixed_version, urgency, nodsa, nodsa_reason,
/// next_point_update, repositories}}}}}`.
#[derive(Deserialize)]
struct TrackerIssue {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    releases: BTreeMap<String, TrackerRelease>,
}

#[derive(Deserialize)]
struct TrackerRelease {
    status: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    urgency: Option<String>,
    #[serde(default)]
    nodsa: Option<String>,
    #[serde(default)]
    nodsa_reason: Option<String>,
    #[serde(default)]
    next_point_update: Option<bool>,
}

/// The entries of one (release, source package): vulnerability id →
/// (entry, precedence rank, `modified` of the record that set it).
pub(crate) type PackageEntries = BTreeMap<String, (Entry, u8, String)>;

/// The merged result of an import, before it becomes a database.
#[derive(Default)]
pub(crate) struct Merged {
    pub(crate) vulns: BTreeMap<String, Vulnerability>,
    /// (release, source package) → vulnerability → (entry, rank).
    pub(crate) entries: BTreeMap<(String, String), PackageEntries>,
    pub(crate) sources: Vec<SourceInfo>,
    pub(crate) stats: ImportStats,
}

/// Entry precedence: tracker data is the richest, then OSV vulnerability
/// records, then entries known only from an advisory.
const RANK_ADVISORY: u8 = 0;
const RANK_OSV: u8 = 1;
const RANK_TRACKER: u8 = 2;

impl Merged {
    fn vuln(&mut self, id: &str) -> &mut Vulnerability {
        self.vulns
            .entry(id.to_string())
            .or_insert_with(|| Vulnerability {
                id: id.to_string(),
                ..Vulnerability::default()
            })
    }

    fn add_records(&mut self, mut records: Vec<Record>) {
        // Keep the newest `modified` of each id (the nested layout holds some
        // advisories in two year folders), compared as instants: as text,
        // `…:00Z` would sort after `…:00.5Z`.
        records.sort_by(|a, b| {
            a.id.cmp(&b.id)
                .then_with(|| cmp_modified(&b.modified, &a.modified))
        });
        let before = records.len();
        records.dedup_by(|later, first| later.id == first.id);
        for _ in records.len()..before {
            self.stats.skip("duplicate id (older modified)", None);
        }
        // Vulnerability records first, so advisories find their entries.
        let advisories: Vec<Record> = records.extract_if(.., |r| r.advisory).collect();
        for record in records {
            *self
                .stats
                .by_kind
                .entry(record.kind.to_string())
                .or_default() += 1;
            let vuln = self.vuln(&record.canonical);
            merge_vuln(vuln, &record);
            for affected in record.affected {
                let entry = Entry {
                    vulnerability: record.canonical.clone(),
                    status: affected.status,
                    fixed_version: affected.fixed_version,
                    ranges: affected.ranges,
                    urgency: affected.urgency,
                    ..Entry::default()
                };
                let slot = self
                    .entries
                    .entry((affected.release, affected.package))
                    .or_default();
                match slot.get_mut(&record.canonical) {
                    Some((_, rank, modified))
                        if *rank > RANK_OSV
                            || (*rank == RANK_OSV
                                && cmp_modified(modified, &record.modified).is_ge()) => {}
                    Some(old_slot) => {
                        let advisories = std::mem::take(&mut old_slot.0.advisories);
                        *old_slot = (
                            Entry {
                                advisories,
                                ..entry
                            },
                            RANK_OSV,
                            record.modified.clone(),
                        );
                    }
                    None => {
                        slot.insert(
                            record.canonical.clone(),
                            (entry, RANK_OSV, record.modified.clone()),
                        );
                    }
                }
            }
        }
        for record in advisories {
            *self
                .stats
                .by_kind
                .entry(record.kind.to_string())
                .or_default() += 1;
            let targets = if record.fixes.is_empty() {
                let vuln = self.vuln(&record.canonical);
                merge_vuln(vuln, &record);
                vec![record.canonical.clone()]
            } else {
                for cve in &record.fixes {
                    self.vuln(cve);
                }
                record.fixes.clone()
            };
            for affected in &record.affected {
                let slot = self
                    .entries
                    .entry((affected.release.clone(), affected.package.clone()))
                    .or_default();
                for target in &targets {
                    let (entry, rank, _) = slot.entry(target.clone()).or_insert_with(|| {
                        (
                            Entry {
                                vulnerability: target.clone(),
                                status: Status::Open,
                                ..Entry::default()
                            },
                            RANK_ADVISORY,
                            String::new(),
                        )
                    });
                    if *rank == RANK_ADVISORY {
                        // Known only from advisories: the earliest fix is the fix.
                        if let Some(fixed) = &affected.fixed {
                            if entry
                                .fixed_version
                                .as_deref()
                                .is_none_or(|old| bulwark_deb::version::compare(fixed, old).is_lt())
                            {
                                entry.fixed_version = Some(fixed.clone());
                                entry.status = Status::Resolved;
                            }
                        }
                        if entry.urgency.is_none() {
                            entry.urgency = affected.urgency.clone();
                        }
                    }
                    if let Err(at) = entry.advisories.binary_search(&record.id) {
                        entry.advisories.insert(at, record.id.clone());
                    }
                }
            }
        }
    }

    fn add_tracker(&mut self, name: &str, bytes: &[u8]) -> Result<usize> {
        type Raw = BTreeMap<String, BTreeMap<String, serde_json::Value>>;
        let raw: Raw = serde_json::from_slice(bytes).map_err(|source| Error::Json {
            path: PathBuf::from(name),
            source,
        })?;
        let mut count = 0;
        for (package, issues) in raw {
            for (id, value) in issues {
                count += 1;
                let issue: TrackerIssue = match serde_json::from_value(value) {
                    Ok(issue) => issue,
                    Err(err) => {
                        self.stats
                            .skip("malformed", Some(format!("{name}: {package}/{id}: {err}")));
                        continue;
                    }
                };
                let mut used = false;
                for (codename, rel) in issue.releases {
                    let status = match (rel.status.as_str(), rel.fixed_version.as_deref()) {
                        (_, Some("0")) => Status::NotAffected,
                        ("resolved", Some(_)) => Status::Resolved,
                        ("open", _) => Status::Open,
                        ("undetermined", _) => Status::Undetermined,
                        ("not-affected", _) => Status::NotAffected,
                        (other, _) => {
                            self.stats.skip(
                                "malformed",
                                Some(format!(
                                    "{name}: {package}/{id}/{codename}: unknown status `{other}`"
                                )),
                            );
                            continue;
                        }
                    };
                    if let Some(fixed) = rel
                        .fixed_version
                        .as_deref()
                        .filter(|f| status == Status::Resolved && !f.is_empty())
                    {
                        if let Err(err) = bulwark_deb::version::Version::parse(fixed) {
                            self.stats.skip(
                                "malformed",
                                Some(format!("{name}: {package}/{id}/{codename}: {err}")),
                            );
                            continue;
                        }
                    }
                    used = true;
                    let slot = self
                        .entries
                        .entry((release_key(&codename), package.clone()))
                        .or_default();
                    let advisories = slot
                        .remove(&id)
                        .map(|(old, _, _)| old.advisories)
                        .unwrap_or_default();
                    let entry = Entry {
                        vulnerability: id.clone(),
                        status,
                        fixed_version: rel
                            .fixed_version
                            .filter(|f| status == Status::Resolved && !f.is_empty()),
                        urgency: rel.urgency.filter(|u| !u.is_empty()),
                        nodsa: rel.nodsa.filter(|n| !n.is_empty()),
                        nodsa_reason: rel.nodsa_reason.filter(|n| !n.is_empty()),
                        next_point_update: rel.next_point_update.unwrap_or(false),
                        advisories,
                        ranges: Vec::new(),
                    };
                    slot.insert(id.clone(), (entry, RANK_TRACKER, String::new()));
                }
                if used {
                    *self.stats.by_kind.entry("tracker".to_string()).or_default() += 1;
                    let summary = short_summary(None, issue.description.as_deref());
                    let vuln = self.vuln(&id);
                    if vuln.summary.is_none() {
                        vuln.summary = summary;
                    }
                }
            }
        }
        Ok(count)
    }
}

fn merge_vuln(vuln: &mut Vulnerability, record: &Record) {
    for alias in &record.aliases {
        if let Err(at) = vuln.aliases.binary_search(alias) {
            vuln.aliases.insert(at, alias.clone());
        }
    }
    if vuln.summary.is_none() {
        vuln.summary = record.summary.clone();
    }
    if vuln.cvss_v3.is_none() {
        vuln.cvss_v3 = record.cvss_v3.clone();
    }
    if !record.modified.is_empty()
        && vuln
            .modified
            .as_deref()
            .is_none_or(|m| cmp_modified(m, &record.modified).is_lt())
    {
        vuln.modified = Some(record.modified.clone());
    }
}

/// A JSON file of a feed directory, read through the bound of an archive
/// member ([`MEMBER_LIMIT`]).
fn read_member(path: &Path) -> Result<Vec<u8>> {
    let too_large = || Error::TooLarge {
        path: path.to_path_buf(),
        what: "the file".into(),
        limit: MEMBER_LIMIT,
    };
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    if file.metadata().map_err(io_err(path))?.len() > MEMBER_LIMIT {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(MEMBER_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    if bytes.len() as u64 > MEMBER_LIMIT {
        return Err(too_large());
    }
    Ok(bytes)
}

/// `sha256:…` of a file, read in chunks from its start.
fn sha256_file(path: &Path, file: &std::fs::File) -> Result<String> {
    let mut file = FileAt::new(file.try_clone().map_err(io_err(path))?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// A shared file read at a position of its own, so that every thread's
/// clone of a zip archive reads independently.
#[derive(Clone)]
pub(crate) struct FileAt {
    file: std::sync::Arc<std::fs::File>,
    pos: u64,
}

impl FileAt {
    /// `file` read from its start.
    pub(crate) fn new(file: std::fs::File) -> FileAt {
        FileAt {
            file: std::sync::Arc::new(file),
            pos: 0,
        }
    }
}

impl Read for FileAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for FileAt {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let (base, delta) = match to {
            std::io::SeekFrom::Start(n) => {
                self.pos = n;
                return Ok(n);
            }
            std::io::SeekFrom::End(d) => (self.file.metadata()?.len(), d),
            std::io::SeekFrom::Current(d) => (self.pos, d),
        };
        self.pos = base.checked_add_signed(delta).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.pos)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Merged {
    fn absorb(&mut self, parsed: Vec<Parsed>) -> Vec<Record> {
        let mut records = Vec::with_capacity(parsed.len());
        for p in parsed {
            self.stats.records += 1;
            match p {
                Parsed::Record(record) => records.push(*record),
                Parsed::Skip(reason, example) => self.stats.skip(reason, example),
            }
        }
        records
    }

    /// Reads one input (file or directory), returning its OSV records; the
    /// tracker format is merged directly. An input none of whose records
    /// parses is refused: importing nothing would replace a good database
    /// with an empty one.
    fn read_input(&mut self, input: &Input<'_>, location: &str) -> Result<Vec<Record>> {
        let (before, malformed_before) = (self.stats.records, self.malformed());
        let (kind, sha256, records) = match input {
            Input::Path(path) => {
                let meta = std::fs::metadata(path).map_err(io_err(path))?;
                if meta.is_dir() {
                    let (sha, records) = self.read_dir(path)?;
                    ("osv-directory", sha, records)
                } else if !meta.is_file() {
                    return Err(io_err(path)(crate::db::not_regular()));
                } else {
                    let file = std::fs::File::open(path).map_err(io_err(path))?;
                    self.read_file(path, &file)?
                }
            }
            Input::File(file, name) => self.read_file(Path::new(name), file)?,
        };
        let records_read = self.stats.records - before;
        let malformed = self.malformed() - malformed_before;
        if malformed >= records_read {
            return Err(Error::NoRecords {
                path: PathBuf::from(location),
                malformed,
            });
        }
        self.sources.push(SourceInfo {
            location: location.to_string(),
            kind: kind.to_string(),
            sha256,
            records: records_read,
        });
        Ok(records)
    }

    /// Records skipped as malformed so far.
    fn malformed(&self) -> usize {
        self.stats.skipped.get("malformed").copied().unwrap_or(0)
    }

    /// Reads a regular file: a zip, a tar (gzip-compressed or not) or JSON.
    fn read_file(
        &mut self,
        path: &Path,
        file: &std::fs::File,
    ) -> Result<(&'static str, String, Vec<Record>)> {
        use std::os::unix::fs::FileExt;
        let mut head = [0u8; 512];
        let mut n = 0;
        while n < head.len() {
            match file.read_at(&mut head[n..], n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(path)(e)),
            }
        }
        let head = &head[..n];
        let zip = head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06");
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        if zip || gzip || head.get(257..262) == Some(b"ustar") {
            // Read in place, not into memory: the snapshot is 60 MB. The
            // digest is taken on a thread of its own, so that this thread
            // (outside the pool) keeps the records (see `adopt`).
            let mut records = Vec::new();
            let (sha, read) = std::thread::scope(|scope| {
                let sha = scope.spawn(|| sha256_file(path, file));
                let read = if zip {
                    crate::archive::read_zip(path, file).map(|parsed| records = self.absorb(parsed))
                } else {
                    crate::archive::read_tar(path, file, gzip, &mut |parsed| {
                        records.extend(self.absorb(parsed));
                    })
                };
                (sha.join(), read)
            });
            read?;
            let sha = sha.map_err(|_| Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other("the digest thread panicked"),
            })??;
            return Ok((if zip { "osv-zip" } else { "osv-tar" }, sha, records));
        }
        let len = file.metadata().map_err(io_err(path))?.len();
        let too_large = || Error::TooLarge {
            path: path.to_path_buf(),
            what: "the file".into(),
            limit: JSON_LIMIT,
        };
        if len > JSON_LIMIT {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        FileAt::new(file.try_clone().map_err(io_err(path))?)
            .take(JSON_LIMIT + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(path))?;
        if bytes.len() as u64 > JSON_LIMIT {
            return Err(too_large());
        }
        let sha = sha256_hex(&bytes);
        let (kind, records) = self.read_json_file(path, &bytes)?;
        Ok((kind, sha, records))
    }

    fn read_dir(&mut self, root: &Path) -> Result<(String, Vec<Record>)> {
        let mut paths = Vec::new();
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry.map_err(|err| {
                let path = err.path().unwrap_or(root).to_path_buf();
                Error::Io {
                    path,
                    source: err.into(),
                }
            })?;
            if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "json")
            {
                paths.push(entry.into_path());
            }
        }
        let mut tree = Sha256::new();
        let mut parsed = Vec::with_capacity(paths.len());
        for batch in paths.chunks(BATCH) {
            let read: Vec<Result<(String, Parsed)>> = batch
                .par_iter()
                .map(|path| {
                    let bytes = read_member(path)?;
                    let sha = hex::encode(Sha256::digest(&bytes));
                    Ok((sha, parse_osv(&path.display().to_string(), &bytes)))
                })
                .collect();
            let mut batch_parsed = Vec::with_capacity(read.len());
            for (path, item) in batch.iter().zip(read) {
                let (sha, p) = item?;
                let rel = path.strip_prefix(root).unwrap_or(path).to_string_lossy();
                tree.update(rel.as_bytes());
                tree.update(b"\0");
                tree.update(sha.as_bytes());
                tree.update(b"\n");
                batch_parsed.push(p);
            }
            parsed.append(&mut adopt(batch_parsed));
        }
        let records = self.absorb(parsed);
        Ok((format!("sha256:{}", hex::encode(tree.finalize())), records))
    }

    fn read_json_file(&mut self, path: &Path, bytes: &[u8]) -> Result<(&'static str, Vec<Record>)> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|source| Error::Json {
                path: path.to_path_buf(),
                source,
            })?;
        let name = path.display().to_string();
        match value {
            serde_json::Value::Array(items) => {
                let parsed = items
                    .into_iter()
                    // Each item on its own, so that a malformed one is skipped.
                    .map(|item| parse_osv(&name, item.to_string().as_bytes()))
                    .collect();
                Ok(("osv-json", self.absorb(parsed)))
            }
            serde_json::Value::Object(ref map) if map.contains_key("id") => {
                let parsed = vec![parse_osv(&name, bytes)];
                Ok(("osv-json", self.absorb(parsed)))
            }
            serde_json::Value::Object(_) => {
                drop(value);
                let count = self.add_tracker(&name, bytes)?;
                self.stats.records += count;
                Ok(("debian-tracker-json", Vec::new()))
            }
            _ => Err(Error::UnknownInput {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Members parsed per batch (see [`adopt`]).
pub(crate) const BATCH: usize = 512;

/// Moves records that the pool's threads parsed onto this thread: copies
/// each here and lets the pool free its own. glibc's per-thread caches keep
/// blocks that one thread frees for another, so records made by the pool and
/// freed on this thread later leave the heap several times larger than
/// what it holds (the snapshot's import peaked at 370 MB instead of 170 MB).
/// Parsing in batches bounds what the pool's threads hold at once.
pub(crate) fn adopt(parsed: Vec<Parsed>) -> Vec<Parsed> {
    let mut out = Vec::with_capacity(parsed.len());
    let mut theirs = Vec::new();
    for p in parsed {
        match p {
            Parsed::Record(record) => {
                out.push(Parsed::Record(Box::new((*record).clone())));
                theirs.push(record);
            }
            skip => out.push(skip),
        }
    }
    theirs.into_par_iter().for_each(drop);
    out
}

/// One input of an import.
pub(crate) enum Input<'a> {
    /// A file or directory.
    Path(&'a Path),
    /// An open regular file (a download), named in messages as given.
    File(&'a std::fs::File, &'a str),
}

/// Imports `inputs` (input, location to record) into a merged set.
pub(crate) fn import(inputs: &[(Input<'_>, String)]) -> Result<Merged> {
    let mut merged = Merged::default();
    let mut records = Vec::new();
    for (input, location) in inputs {
        let mut read = merged.read_input(input, location)?;
        records.append(&mut read);
    }
    // Tracker files were merged while reading; they take precedence however
    // the user ordered the inputs, so OSV records go in first.
    let tracker_entries = std::mem::take(&mut merged.entries);
    merged.add_records(records);
    // Re-apply tracker entries over OSV ones, keeping advisory ids.
    for (key, vulns) in tracker_entries {
        let slot = merged.entries.entry(key).or_default();
        for (id, (mut entry, rank, modified)) in vulns {
            if let Some((old, _, _)) = slot.remove(&id) {
                for adv in old.advisories {
                    if let Err(at) = entry.advisories.binary_search(&adv) {
                        entry.advisories.insert(at, adv);
                    }
                }
            }
            slot.insert(id, (entry, rank, modified));
        }
    }
    if merged.vulns.is_empty() {
        return Err(Error::NothingUsable {
            records: merged.stats.records,
        });
    }
    Ok(merged)
}
