//! The lookup tables the solver works on: one candidate per package name and
//! the providers of every virtual name, built in one pass over the index.

use std::cell::OnceCell;
use std::collections::HashMap;

use bulwark_deb::version;
use bulwark_repo::{AvailablePackage, PackageIndex};

use crate::Error;

/// A fast, non-cryptographic hasher (the Fx hash of rustc) for the name
/// maps: their keys come from signed indices, not from an attacker, and
/// SipHash is a measurable share of building the tables.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// `Multi-Arch` of a package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MultiArch {
    No,
    Same,
    Foreign,
    Allowed,
}

/// The candidate version of one package name, borrowed from the index
/// text. Only `Provides` is read up front; the other fields are read on
/// first use.
pub(crate) struct Candidate<'a> {
    pub(crate) package: &'a AvailablePackage,
    pub(crate) name: &'a str,
    pub(crate) version: &'a str,
    pub(crate) arch: &'a str,
    /// `(virtual name, provided version)`.
    pub(crate) provides: Vec<(&'a str, Option<&'a str>)>,
    fields: OnceCell<Fields<'a>>,
}

/// The fields the solver reads from the candidates it visits.
pub(crate) struct Fields<'a> {
    pub(crate) multi_arch: MultiArch,
    pub(crate) essential: bool,
    /// 1 = required … 5 = extra, 6 = unknown; lower is more important.
    pub(crate) priority: u8,
    pub(crate) priority_name: &'a str,
    pub(crate) pre_depends: Option<&'a str>,
    pub(crate) depends: Option<&'a str>,
    pub(crate) recommends: Option<&'a str>,
    pub(crate) conflicts: Option<&'a str>,
    pub(crate) breaks: Option<&'a str>,
}

impl<'a> Candidate<'a> {
    pub(crate) fn fields(&self) -> &Fields<'a> {
        self.fields.get_or_init(|| read_fields(self.package))
    }

    /// Whether the stanza may have `Field: value` (a quick, exact-case
    /// pre-filter; confirm with [`fields`](Self::fields)).
    pub(crate) fn may_have(&self, line: &str) -> bool {
        self.package.paragraph().as_str().contains(line)
    }
}

pub(crate) struct Tables<'a> {
    pub(crate) candidates: Vec<Candidate<'a>>,
    /// Package name → index in `candidates`.
    pub(crate) by_name: FxMap<&'a str, u32>,
    /// Virtual name → candidates providing it, in index order.
    pub(crate) providers: FxMap<&'a str, Vec<u32>>,
}

fn priority_rank(p: &str) -> u8 {
    match p {
        "required" => 1,
        "important" => 2,
        "standard" => 3,
        "optional" => 4,
        "extra" => 5,
        _ => 6,
    }
}

impl<'a> Tables<'a> {
    /// Picks the candidate of each name (the highest version of the request
    /// architecture or `all`, or the pinned one) and reads its fields.
    pub(crate) fn build(
        index: &'a PackageIndex,
        arch: &str,
        pins: &HashMap<&str, &str>,
    ) -> Result<Tables<'a>, Error> {
        // Phase 1: the best version per name, without reading any stanza.
        let mut best: FxMap<&'a str, usize> =
            FxMap::with_capacity_and_hasher(index.packages.len(), Default::default());
        let mut pinned_found: HashMap<&str, bool> = pins.keys().map(|k| (*k, false)).collect();
        for (i, p) in index.packages.iter().enumerate() {
            let a = p.architecture();
            if a != arch && a != "all" {
                continue;
            }
            let name = p.name();
            if let Some(&pin) = pins.get(name) {
                if version::compare(p.version(), pin) != std::cmp::Ordering::Equal {
                    continue;
                }
                pinned_found.insert(name, true);
            }
            match best.entry(name) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                }
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    let cur = &index.packages[*o.get()];
                    if version::compare(p.version(), cur.version()) == std::cmp::Ordering::Greater {
                        o.insert(i);
                    }
                }
            }
        }
        // A pin that matched nothing: report the versions there are.
        let mut missing: Vec<&str> = pinned_found
            .iter()
            .filter(|(_, found)| !**found)
            .map(|(n, _)| *n)
            .collect();
        missing.sort_unstable();
        if let Some(name) = missing.first() {
            let mut available: Vec<&str> = index
                .packages
                .iter()
                .filter(|p| {
                    p.name() == *name && (p.architecture() == arch || p.architecture() == "all")
                })
                .map(AvailablePackage::version)
                .collect();
            available.sort_by(|a, b| version::compare(b, a));
            available.dedup();
            return Err(Error::VersionNotFound {
                name: (*name).to_string(),
                version: pins[name].to_string(),
                available: available.into_iter().map(str::to_string).collect(),
            });
        }

        // Phase 2: read the fields of the candidates, in index order so that
        // provider lists are deterministic.
        let mut order: Vec<usize> = best.into_values().collect();
        order.sort_unstable();
        let mut candidates = Vec::with_capacity(order.len());
        let mut by_name = FxMap::with_capacity_and_hasher(order.len(), Default::default());
        let mut providers: FxMap<&'a str, Vec<u32>> = FxMap::default();
        for i in order {
            let package = &index.packages[i];
            let id = candidates.len() as u32;
            let c = Candidate {
                package,
                name: package.name(),
                version: package.version(),
                arch: package.architecture(),
                provides: read_provides(package.paragraph().as_str()),
                fields: OnceCell::new(),
            };
            for (virt, _) in &c.provides {
                let list = providers.entry(*virt).or_default();
                if list.last() != Some(&id) {
                    list.push(id);
                }
            }
            by_name.insert(c.name, id);
            candidates.push(c);
        }
        Ok(Tables {
            candidates,
            by_name,
            providers,
        })
    }

    pub(crate) fn get(&self, id: u32) -> &Candidate<'a> {
        &self.candidates[id as usize]
    }
}

fn read_fields(package: &AvailablePackage) -> Fields<'_> {
    let mut c = Fields {
        multi_arch: MultiArch::No,
        essential: false,
        priority: 6,
        priority_name: "",
        pre_depends: None,
        depends: None,
        recommends: None,
        conflicts: None,
        breaks: None,
    };
    // A hand-rolled scan: only lines starting like an interesting field are
    // looked at, which keeps reading ~60k stanzas fast.
    let text = package.paragraph().as_str();
    let bytes = text.as_bytes();
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i);
    let mut pos = 0;
    while pos < bytes.len() {
        let end = line_end(pos);
        if matches!(
            bytes[pos].to_ascii_uppercase(),
            b'B' | b'C' | b'D' | b'E' | b'M' | b'P' | b'R'
        ) {
            if let Some(colon) = text[pos..end].find(':') {
                let field = &text[pos..pos + colon];
                // Continuation lines belong to the value.
                let mut value_end = end;
                while value_end + 1 < bytes.len() && matches!(bytes[value_end + 1], b' ' | b'\t') {
                    value_end = line_end(value_end + 1);
                }
                let value = text[pos + colon + 1..value_end].trim();
                let is = |name: &str| field.eq_ignore_ascii_case(name);
                match field.len() {
                    6 if is("Breaks") => c.breaks = Some(value),
                    7 if is("Depends") => c.depends = Some(value),
                    8 if is("Priority") => {
                        c.priority = priority_rank(value);
                        c.priority_name = value;
                    }
                    9 if is("Essential") => c.essential = value.eq_ignore_ascii_case("yes"),
                    9 if is("Conflicts") => c.conflicts = Some(value),
                    10 if is("Multi-Arch") => {
                        c.multi_arch = match value {
                            "same" => MultiArch::Same,
                            "foreign" => MultiArch::Foreign,
                            "allowed" => MultiArch::Allowed,
                            _ => MultiArch::No,
                        }
                    }
                    10 if is("Recommends") => c.recommends = Some(value),
                    11 if is("Pre-Depends") => c.pre_depends = Some(value),
                    _ => {}
                }
                pos = value_end + 1;
                continue;
            }
        }
        pos = end + 1;
    }
    c
}

/// The `Provides` entries of a stanza, borrowed: `(name, version)`.
///
/// This runs for every candidate of the index, so it finds the field with a
/// substring search (archive indices write field names in canonical case)
/// and allocates nothing but the result. Malformed entries are skipped: a
/// broken `Provides` of an unrelated package must not stop a resolution.
fn read_provides(stanza: &str) -> Vec<(&str, Option<&str>)> {
    // `contains` has a SIMD fast path that `find` lacks; most stanzas have
    // no `Provides`.
    if !stanza.contains("\nProvides:") {
        return Vec::new();
    }
    let Some(at) = stanza.find("\nProvides:") else {
        return Vec::new();
    };
    let start = at + "\nProvides:".len();
    let bytes = stanza.as_bytes();
    let mut end = stanza[start..]
        .find('\n')
        .map_or(stanza.len(), |i| start + i);
    while end + 1 < bytes.len() && matches!(bytes[end + 1], b' ' | b'\t') {
        end = stanza[end + 1..]
            .find('\n')
            .map_or(stanza.len(), |i| end + 1 + i);
    }
    let mut out = Vec::new();
    for entry in stanza[start..end].split(',') {
        let entry = entry.trim();
        let name_end = entry
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_')))
            .unwrap_or(entry.len());
        let name = &entry[..name_end];
        if name.is_empty() {
            continue;
        }
        let mut rest = entry[name_end..].trim_start();
        if let Some(after) = rest.strip_prefix(':') {
            // An architecture qualifier, ignored.
            let after = after.trim_start();
            let len = after
                .bytes()
                .position(|b| !(b.is_ascii_alphanumeric() || b == b'-'))
                .unwrap_or(after.len());
            rest = after[len..].trim_start();
        }
        let version = match rest.strip_prefix('(') {
            None if rest.is_empty() => None,
            None => continue,
            Some(inner) => {
                let Some(v) = inner
                    .strip_suffix(')')
                    .and_then(|v| v.trim_start().strip_prefix('='))
                    .map(str::trim)
                    .filter(|v| !v.is_empty() && !v.starts_with(['<', '>', '=']))
                else {
                    continue;
                };
                Some(v)
            }
        };
        out.push((name, version));
    }
    out
}
