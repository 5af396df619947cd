//! The depth-first solver, after apt's `pkgDepCache::MarkInstall`.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use bulwark_deb::relation::{self, Dependency, Relation};
use bulwark_deb::version;
use bulwark_repo::PackageIndex;

use crate::tables::{Candidate, MultiArch, Tables};
use crate::{
    Choice, ChoiceReason, Deps, Edge, Error, ExcludedUse, Field, Request, Resolution, Selected,
    BUILTIN_PREFERENCES,
};

/// What an edge points at.
#[derive(Clone, Copy)]
enum Target {
    Package(u32),
    Excluded(usize),
}

/// How far the mutable state had grown; rolling back truncates to it.
#[derive(Clone, Copy)]
struct Snapshot {
    trail: usize,
    edges: usize,
}

struct Solver<'t, 'a> {
    t: &'t Tables<'a>,
    arch: &'t str,
    recommends: bool,
    prefer: &'t [String],
    /// Excluded name → index in the request's `exclude`.
    excluded: HashMap<&'t str, usize>,
    /// Virtual name → excluded package providing it.
    excluded_provides: HashMap<&'a str, usize>,
    selected: Vec<bool>,
    requested: Vec<bool>,
    trail: Vec<u32>,
    edges: Vec<(Target, Edge)>,
    /// The requested package and the relations followed down to the
    /// package being expanded, for error chains.
    path: Vec<String>,
    deps: HashMap<u32, Rc<Deps>>,
}

/// One way to satisfy a dependency.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Opt {
    id: u32,
    /// Index of the alternative it satisfies.
    alt: usize,
    /// Whether it satisfies the alternative through `Provides`.
    provided: bool,
}

pub(crate) fn solve(index: &PackageIndex, request: &Request<'_>) -> Result<Resolution, Error> {
    let mut pins: HashMap<&str, &str> = HashMap::new();
    for p in request.packages {
        if let Some(v) = &p.version {
            pins.insert(p.name.as_str(), v.as_str());
        }
    }
    let tables = Tables::build(index, request.architecture, &pins)?;
    let mut excluded = HashMap::new();
    for (i, e) in request.exclude.iter().enumerate() {
        excluded.entry(e.name.as_str()).or_insert(i);
    }
    let mut excluded_provides = HashMap::new();
    // In request order, so the first excluded provider wins.
    for (i, e) in request.exclude.iter().enumerate() {
        if let Some(&id) = tables.by_name.get(e.name.as_str()) {
            for (virt, _) in &tables.get(id).provides {
                excluded_provides.entry(*virt).or_insert(i);
            }
        }
    }
    let n = tables.candidates.len();
    let mut solver = Solver {
        t: &tables,
        arch: request.architecture,
        recommends: request.recommends,
        prefer: request.prefer,
        excluded,
        excluded_provides,
        selected: vec![false; n],
        requested: vec![false; n],
        trail: Vec::new(),
        edges: Vec::new(),
        path: Vec::new(),
        deps: HashMap::new(),
    };

    // Like apt-get: mark every requested package first, then follow their
    // dependencies in request order.
    let roots = solver.roots(request)?;
    for &id in &roots {
        if !solver.selected[id as usize] {
            solver.selected[id as usize] = true;
            solver.trail.push(id);
        }
        solver.requested[id as usize] = true;
    }
    for &id in &roots {
        solver.path = vec![tables.get(id).name.to_string()];
        solver.expand(id)?;
    }
    let resolution = solver.finish(request);
    check_conflicts(&tables, &resolution)?;
    Ok(resolution)
}

impl<'t, 'a> Solver<'t, 'a> {
    /// The requested candidates, patterns expanded, in request order.
    fn roots(&self, request: &Request<'_>) -> Result<Vec<u32>, Error> {
        let mut roots = Vec::new();
        for p in request.packages {
            let name = p.name.as_str();
            if let Some(pattern) = name.strip_prefix('?') {
                let matches: Box<dyn Fn(&Candidate<'_>) -> bool> = match pattern {
                    "essential" => {
                        Box::new(|c| c.may_have("\nEssential: yes") && c.fields().essential)
                    }
                    _ => {
                        let level = pattern
                            .strip_prefix("priority(")
                            .and_then(|r| r.strip_suffix(')'))
                            .filter(|l| {
                                ["required", "important", "standard", "optional", "extra"]
                                    .contains(l)
                            })
                            .ok_or_else(|| Error::UnknownPattern(name.to_string()))?
                            .to_string();
                        Box::new(move |c| {
                            c.may_have(&format!("\nPriority: {level}"))
                                && c.fields().priority_name == level
                        })
                    }
                };
                let mut found: Vec<(&str, u32)> = self
                    .t
                    .candidates
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| matches(c) && !self.excluded.contains_key(c.name))
                    .map(|(i, c)| (c.name, i as u32))
                    .collect();
                found.sort_unstable();
                roots.extend(found.into_iter().map(|(_, id)| id));
                continue;
            }
            if self.excluded.contains_key(name) {
                return Err(Error::RequestedAndExcluded(name.to_string()));
            }
            if let Some(&id) = self.t.by_name.get(name) {
                roots.push(id);
                continue;
            }
            let providers = self.t.providers.get(name).cloned().unwrap_or_default();
            let mut sorted = providers.clone();
            self.sort_providers(&mut sorted);
            match sorted.as_slice() {
                [] => {
                    return Err(Error::UnknownPackage {
                        name: name.to_string(),
                        suggestions: self.suggestions(name),
                    })
                }
                [only] => roots.push(*only),
                [first, ..] if self.is_preferred(self.t.get(*first).name) => roots.push(*first),
                _ => {
                    return Err(Error::AmbiguousVirtual {
                        name: name.to_string(),
                        providers: sorted
                            .iter()
                            .map(|&id| self.t.get(id).name.to_string())
                            .collect(),
                    })
                }
            }
        }
        Ok(roots)
    }

    /// Up to three existing names within edit distance 2 of `name`.
    fn suggestions(&self, name: &str) -> Vec<String> {
        close_names(
            name,
            self.t
                .by_name
                .keys()
                .chain(self.t.providers.keys())
                .copied(),
        )
    }

    fn is_preferred(&self, name: &str) -> bool {
        self.prefer.iter().any(|p| p == name)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            trail: self.trail.len(),
            edges: self.edges.len(),
        }
    }

    fn rollback(&mut self, s: Snapshot) {
        for id in self.trail.drain(s.trail..) {
            self.selected[id as usize] = false;
        }
        self.edges.truncate(s.edges);
    }

    /// Parses (once) the dependency fields of a candidate.
    fn deps(&mut self, id: u32) -> Result<Rc<Deps>, Error> {
        if let Some(d) = self.deps.get(&id) {
            return Ok(d.clone());
        }
        let c = self.t.get(id);
        let f = c.fields();
        let parse = |field: &'static str, text: Option<&str>| {
            relation::parse(text.unwrap_or("")).map_err(|source| Error::Relation {
                package: c.name.to_string(),
                version: c.version.to_string(),
                field,
                source,
            })
        };
        let mut hard = Vec::new();
        for dep in parse("Pre-Depends", f.pre_depends)? {
            hard.push((Field::PreDepends, dep));
        }
        for dep in parse("Depends", f.depends)? {
            hard.push((Field::Depends, dep));
        }
        let recommends = if self.recommends {
            parse("Recommends", f.recommends)?
        } else {
            Vec::new()
        };
        let d = Rc::new(Deps { hard, recommends });
        self.deps.insert(id, d.clone());
        Ok(d)
    }

    /// Follows the dependencies of the selected package `id`.
    fn expand(&mut self, id: u32) -> Result<(), Error> {
        let deps = self.deps(id)?;
        for (field, dep) in &deps.hard {
            self.satisfy(id, *field, dep)?;
        }
        for dep in &deps.recommends {
            let snap = self.snapshot();
            let depth = self.path.len();
            if self.satisfy(id, Field::Recommends, dep).is_err() {
                self.rollback(snap);
                self.path.truncate(depth);
            }
        }
        Ok(())
    }

    /// Whether candidate `c` satisfies `rel` by its own name.
    fn real_matches(&self, c: &Candidate<'_>, rel: &Relation) -> bool {
        c.name == rel.name && self.arch_ok(c, rel) && version_ok(c.version, rel)
    }

    /// Whether candidate `c` satisfies `rel` through its `Provides`.
    fn provides_matches(&self, c: &Candidate<'_>, rel: &Relation) -> bool {
        self.arch_ok(c, rel)
            && c.provides.iter().any(|(name, v)| {
                *name == rel.name
                    && match (&rel.constraint, v) {
                        (None, _) => true,
                        (Some(_), None) => false,
                        (Some((op, want)), Some(v)) => {
                            op.accepts(version::compare(v, want.as_str()))
                        }
                    }
            })
    }

    fn arch_ok(&self, c: &Candidate<'_>, rel: &Relation) -> bool {
        match rel.arch_qualifier.as_deref() {
            None => true,
            Some("any") => c.fields().multi_arch == MultiArch::Allowed,
            Some("native") => c.arch == self.arch || c.arch == "all",
            Some(a) => c.arch == a || (c.arch == "all" && a == self.arch),
        }
    }

    /// The options for one alternative: its real package, then its
    /// providers in provider order.
    fn alternative_options(&self, alt: usize, rel: &Relation, out: &mut Vec<Opt>) {
        if let Some(&id) = self.t.by_name.get(rel.name.as_str()) {
            if self.real_matches(self.t.get(id), rel) {
                out.push(Opt {
                    id,
                    alt,
                    provided: false,
                });
            }
        }
        if let Some(list) = self.t.providers.get(rel.name.as_str()) {
            let mut ids: Vec<u32> = list
                .iter()
                .copied()
                .filter(|&id| self.provides_matches(self.t.get(id), rel))
                .collect();
            self.sort_providers(&mut ids);
            for id in ids {
                if !out.iter().any(|o| o.id == id) {
                    out.push(Opt {
                        id,
                        alt,
                        provided: true,
                    });
                }
            }
        }
    }

    /// Orders providers: selected, `prefer`, built-in table, Essential,
    /// Priority, name.
    fn sort_providers(&self, ids: &mut [u32]) {
        let prefer_rank = |name: &str| {
            self.prefer
                .iter()
                .position(|p| p == name)
                .unwrap_or(usize::MAX)
        };
        let builtin_rank = |name: &str| {
            if BUILTIN_PREFERENCES.iter().any(|(good, _, _)| *good == name) {
                0
            } else if BUILTIN_PREFERENCES.iter().any(|(_, bad, _)| *bad == name) {
                2
            } else {
                1
            }
        };
        ids.sort_by_cached_key(|&id| {
            let c = self.t.get(id);
            (
                !self.selected[id as usize],
                prefer_rank(c.name),
                builtin_rank(c.name),
                !c.fields().essential,
                c.fields().priority,
                c.name,
            )
        });
    }

    fn record(
        &mut self,
        target: Target,
        parent: u32,
        field: Field,
        dep: &Dependency,
        choice: Option<Choice>,
    ) {
        self.edges.push((
            target,
            Edge {
                parent: self.t.get(parent).name.to_string(),
                field,
                dependency: dep.to_string(),
                choice,
            },
        ));
    }

    /// Satisfies one dependency of `parent`, selecting packages as needed.
    fn satisfy(&mut self, parent: u32, field: Field, dep: &Dependency) -> Result<(), Error> {
        let several = dep.alternatives.len() > 1;
        // Already satisfied by a selected package?
        for rel in &dep.alternatives {
            let mut hit = None;
            if let Some(&id) = self.t.by_name.get(rel.name.as_str()) {
                if self.selected[id as usize] && self.real_matches(self.t.get(id), rel) {
                    hit = Some(id);
                }
            }
            if hit.is_none() {
                if let Some(list) = self.t.providers.get(rel.name.as_str()) {
                    hit = list.iter().copied().find(|&id| {
                        self.selected[id as usize] && self.provides_matches(self.t.get(id), rel)
                    });
                }
            }
            if let Some(id) = hit {
                let choice = several.then(|| Choice {
                    chosen: self.t.get(id).name.to_string(),
                    reason: ChoiceReason::AlreadySelected,
                    skipped: Vec::new(),
                });
                self.record(Target::Package(id), parent, field, dep, choice);
                return Ok(());
            }
        }
        // Satisfied by an excluded package?
        for rel in &dep.alternatives {
            let ex = self
                .excluded
                .get(rel.name.as_str())
                .or_else(|| self.excluded_provides.get(rel.name.as_str()))
                .copied();
            if let Some(ex) = ex {
                let choice = several.then(|| Choice {
                    chosen: rel.name.clone(),
                    reason: ChoiceReason::Excluded,
                    skipped: Vec::new(),
                });
                self.record(Target::Excluded(ex), parent, field, dep, choice);
                return Ok(());
            }
        }

        let mut options = Vec::new();
        for (alt, rel) in dep.alternatives.iter().enumerate() {
            self.alternative_options(alt, rel, &mut options);
        }
        if options.is_empty() {
            return Err(self.unsatisfiable(dep));
        }
        let natural = options.clone();
        // `prefer` first, in the order of the options.
        let (mut ordered, rest): (Vec<Opt>, Vec<Opt>) = options
            .into_iter()
            .partition(|o| self.is_preferred(self.t.get(o.id).name));
        let preferred_count = ordered.len();
        ordered.extend(rest);
        // Then the built-in table, unless `prefer` decided.
        let mut builtin: Option<(u32, &'static str)> = None;
        for (good, bad, why) in BUILTIN_PREFERENCES {
            let pos = |n: &str| ordered.iter().position(|o| self.t.get(o.id).name == n);
            if let (Some(g), Some(b)) = (pos(good), pos(bad)) {
                if g > b && b >= preferred_count {
                    let opt = ordered.remove(g);
                    ordered.insert(b, opt);
                    builtin = Some((opt.id, why));
                }
            }
        }

        let mut skipped = Vec::new();
        let mut first_error = None;
        for (k, opt) in ordered.iter().enumerate() {
            let snap = self.snapshot();
            let depth = self.path.len();
            let c = self.t.get(opt.id);
            let reason = if k < preferred_count {
                ChoiceReason::Preferred
            } else if builtin.is_some_and(|(id, _)| id == opt.id) {
                ChoiceReason::BuiltIn(builtin.map_or("", |(_, why)| why))
            } else if !skipped.is_empty() || natural.first() == Some(opt) && !opt.provided {
                ChoiceReason::FirstInstallable
            } else if opt.provided && natural.iter().filter(|o| o.alt == opt.alt).count() > 1 {
                ChoiceReason::ProviderPriority
            } else {
                ChoiceReason::FirstInstallable
            };
            let choice = (several || natural.len() > 1).then(|| Choice {
                chosen: c.name.to_string(),
                reason,
                skipped: skipped.clone(),
            });
            // Record the edge before expanding, so that it is the first edge
            // of the package even when a cycle leads back to it.
            self.record(Target::Package(opt.id), parent, field, dep, choice);
            self.selected[opt.id as usize] = true;
            self.trail.push(opt.id);
            self.path.push(dep.alternatives[opt.alt].to_string());
            match self.expand(opt.id) {
                Ok(()) => {
                    self.path.truncate(depth);
                    return Ok(());
                }
                Err(e) => {
                    self.path.truncate(depth);
                    self.rollback(snap);
                    skipped.push(c.name.to_string());
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| self.unsatisfiable(dep)))
    }

    /// The error for a dependency no package can satisfy.
    fn unsatisfiable(&self, dep: &Dependency) -> Error {
        let mut chain = self.path.join(" → ");
        chain.push_str(" → ");
        chain.push_str(&dep.to_string());
        Error::Unsatisfiable {
            package: dep.alternatives[0].name.clone(),
            chain,
            reason: why_none(dep, |rel| self.why_not(rel)),
        }
    }

    fn why_not(&self, rel: &Relation) -> String {
        if let Some(&id) = self.t.by_name.get(rel.name.as_str()) {
            let c = self.t.get(id);
            if !self.arch_ok(c, rel) {
                return match rel.arch_qualifier.as_deref() {
                    Some("any") => format!("`{}` is not `Multi-Arch: allowed`", c.name),
                    _ => format!("`{}` is `Architecture: {}`", c.name, c.arch),
                };
            }
            if !version_ok(c.version, rel) {
                return format!("only {} is available", c.version);
            }
        }
        match self.t.providers.get(rel.name.as_str()) {
            Some(list) if !list.is_empty() => {
                let names: Vec<String> = list
                    .iter()
                    .map(|&id| {
                        let c = self.t.get(id);
                        let v = c
                            .provides
                            .iter()
                            .find(|(n, _)| *n == rel.name)
                            .and_then(|(_, v)| v.as_ref());
                        match v {
                            Some(v) => format!("{} (= {v})", c.name),
                            None => c.name.to_string(),
                        }
                    })
                    .collect();
                format!(
                    "`{}` is only provided by {}, which does not match",
                    rel.name,
                    names.join(", ")
                )
            }
            _ if self.t.by_name.contains_key(rel.name.as_str()) => {
                "no candidate matches".to_string()
            }
            _ => format!("no package `{}` is available", rel.name),
        }
    }

    fn finish(self, request: &Request<'_>) -> Resolution {
        let mut pulled: HashMap<u32, Vec<Edge>> = HashMap::new();
        let mut excluded_edges: BTreeMap<usize, Vec<Edge>> = BTreeMap::new();
        for (target, edge) in self.edges {
            match target {
                Target::Package(id) => pulled.entry(id).or_default().push(edge),
                Target::Excluded(i) => excluded_edges.entry(i).or_default().push(edge),
            }
        }
        let mut packages: Vec<Selected> = self
            .trail
            .iter()
            .map(|&id| Selected {
                package: self.t.get(id).package.clone(),
                requested: self.requested[id as usize],
                pulled_by: pulled.remove(&id).unwrap_or_default(),
            })
            .collect();
        packages.sort_by(|a, b| a.name().cmp(b.name()));
        let mut excluded: Vec<ExcludedUse> = excluded_edges
            .into_iter()
            .map(|(i, edges)| ExcludedUse {
                name: request.exclude[i].name.clone(),
                reason: request.exclude[i].reason.clone(),
                depended_on_by: edges,
            })
            .collect();
        excluded.sort_by(|a, b| a.name.cmp(&b.name));
        let by_name = packages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name().to_string(), i))
            .collect();
        Resolution {
            packages,
            excluded,
            by_name,
        }
    }
}

/// Whether version `candidate` meets `rel`'s constraint.
pub(crate) fn version_ok(candidate: &str, rel: &Relation) -> bool {
    match &rel.constraint {
        None => true,
        Some((op, v)) => op.accepts(version::compare(candidate, v.as_str())),
    }
}

/// Checks `Conflicts` and `Breaks` among the selected packages.
fn check_conflicts(tables: &Tables<'_>, resolution: &Resolution) -> Result<(), Error> {
    for s in resolution.packages() {
        let Some(&id) = tables.by_name.get(s.name()) else {
            continue;
        };
        let c = tables.get(id);
        for (field, text) in [
            ("Conflicts", c.fields().conflicts),
            ("Breaks", c.fields().breaks),
        ] {
            let Some(text) = text else { continue };
            let deps = relation::parse(text).map_err(|source| Error::Relation {
                package: c.name.to_string(),
                version: c.version.to_string(),
                field,
                source,
            })?;
            for rel in deps.iter().flat_map(|d| &d.alternatives) {
                if let Some(other) = conflicting(tables, resolution, c, rel) {
                    return Err(Error::Conflict(Box::new(crate::Conflict {
                        package: c.name.to_string(),
                        field,
                        relation: rel.to_string(),
                        other: other.name.to_string(),
                        other_version: other.version.to_string(),
                        package_chain: resolution.chain_line(c.name),
                        other_chain: resolution.chain_line(other.name),
                    })));
                }
            }
        }
    }
    Ok(())
}

/// The selected package (other than `me`) that `rel` of `me` hits.
fn conflicting<'t, 'a>(
    tables: &'t Tables<'a>,
    resolution: &Resolution,
    me: &Candidate<'_>,
    rel: &Relation,
) -> Option<&'t Candidate<'a>> {
    if rel.name != me.name && resolution.get(&rel.name).is_some() {
        if let Some(&id) = tables.by_name.get(rel.name.as_str()) {
            let other = tables.get(id);
            if version_ok(other.version, rel) {
                return Some(other);
            }
        }
    }
    let providers = tables.providers.get(rel.name.as_str())?;
    providers.iter().map(|&id| tables.get(id)).find(|other| {
        other.name != me.name
            && resolution.get(other.name).is_some()
            && other.provides.iter().any(|(n, v)| {
                *n == rel.name
                    && match (&rel.constraint, v) {
                        (None, _) => true,
                        (Some(_), None) => false,
                        (Some((op, want)), Some(v)) => {
                            op.accepts(version::compare(v, want.as_str()))
                        }
                    }
            })
    })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Up to three of `names` within edit distance 2 of `name`, closest first.
pub(crate) fn close_names<'n>(name: &str, names: impl Iterator<Item = &'n str>) -> Vec<String> {
    let mut close: Vec<(usize, &str)> = names
        .filter(|k| k.len().abs_diff(name.len()) <= 2)
        .filter_map(|k| {
            let d = levenshtein(name, k);
            (d <= 2).then_some((d, k))
        })
        .collect();
    close.sort_unstable();
    close.dedup();
    close
        .into_iter()
        .take(3)
        .map(|(_, k)| k.to_string())
        .collect()
}

/// Why no alternative of `dep` can be installed: `why_not` of the one, or
/// of each, named.
pub(crate) fn why_none(dep: &Dependency, why_not: impl Fn(&Relation) -> String) -> String {
    let several = dep.alternatives.len() > 1;
    dep.alternatives
        .iter()
        .map(|rel| {
            let why = why_not(rel);
            if several {
                format!("`{}`: {why}", rel.name)
            } else {
                why
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
