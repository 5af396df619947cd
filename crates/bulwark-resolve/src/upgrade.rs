//! Upgrading packages of an existing image, like `apt-get install
//! --only-upgrade NAMES` on the installed system, minus the scripts.
//!
//! The installed set is the starting point. Each requested package moves to
//! its candidate (or pinned version); then every new or added package's
//! `Pre-Depends` and `Depends` must hold in the resulting set, moving
//! installed packages to their candidates or installing new ones (with
//! [`resolve`](crate::resolve)) where they do not; installed packages whose
//! own dependencies the moves break are moved too; finally `Conflicts` and
//! `Breaks` between the new packages and the rest are errors.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use bulwark_deb::control::Paragraph;
use bulwark_deb::relation::{self, Dependency, Relation};
use bulwark_deb::version;
use bulwark_repo::{AvailablePackage, PackageIndex};
use bulwark_spec::{Exclusion, PackageRequest};

use crate::solver::version_ok;
use crate::tables::{Candidate, MultiArch, Tables};
use crate::{BrokenDependency, Conflict, Error, Field, Request, Selected};

/// A package installed in the image: the fields of its dpkg status entry
/// that upgrading reads. Relation fields are raw, as in the status file,
/// and empty when absent.
///
/// The relation fields matter: `Depends` and `Pre-Depends` tell which
/// installed packages a move would break, `Conflicts` and `Breaks` which
/// new versions they reject. [`Installed::from_stanza`] fills them all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Installed<'a> {
    /// `Package`.
    pub name: &'a str,
    /// `Version`.
    pub version: &'a str,
    /// `Architecture`: `all` or the image's architecture (packages of other
    /// architectures are left alone and satisfy nothing).
    pub architecture: &'a str,
    /// `Provides`.
    pub provides: &'a str,
    /// `Multi-Arch`.
    pub multi_arch: &'a str,
    /// `Pre-Depends`.
    pub pre_depends: &'a str,
    /// `Depends`.
    pub depends: &'a str,
    /// `Conflicts`.
    pub conflicts: &'a str,
    /// `Breaks`.
    pub breaks: &'a str,
}

impl<'a> Installed<'a> {
    /// The fields of one dpkg `status` stanza (or `status.d` file); `None`
    /// when `Package`, `Version` or `Architecture` is missing.
    pub fn from_stanza(stanza: &'a str) -> Option<Installed<'a>> {
        let p = Paragraph::new_unchecked(stanza);
        let get = |field: &str| p.get(field).unwrap_or("");
        Some(Installed {
            name: p.get("Package")?,
            version: p.get("Version")?,
            architecture: p.get("Architecture")?,
            provides: get("Provides"),
            multi_arch: get("Multi-Arch"),
            pre_depends: get("Pre-Depends"),
            depends: get("Depends"),
            conflicts: get("Conflicts"),
            breaks: get("Breaks"),
        })
    }
}

/// What to upgrade.
#[derive(Clone, Copy, Debug)]
pub struct UpgradeRequest<'a> {
    /// The image's Debian architecture, e.g. `amd64`.
    pub architecture: &'a str,
    /// The packages installed in the image.
    pub installed: &'a [Installed<'a>],
    /// What to move: installed package names, each to its candidate (the
    /// highest version in the index), or with `Some(VERSION)` to exactly
    /// that version. Pinning the installed version holds a package where it
    /// is.
    pub upgrade: &'a [(&'a str, Option<&'a str>)],
    /// Names never installed that still satisfy dependencies on them (the
    /// image's `dev.bulwark.excluded`).
    pub exclude: &'a [&'a str],
}

/// Why a package moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The request names it.
    Requested,
    /// A new or added package needs a version only its candidate has.
    NeededBy {
        /// The depending package.
        package: String,
        /// Its new version.
        version: String,
        /// The field the dependency is in.
        field: Field,
        /// The dependency, rendered the Debian way.
        dependency: String,
    },
    /// Its installed version depends on a version of a moving package that
    /// the move leaves behind.
    BrokenByUpgrade {
        /// The moving package.
        package: String,
        /// The version it moves to.
        version: String,
        /// The field of the installed version.
        field: Field,
        /// The dependency that no longer holds.
        dependency: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Requested => f.write_str("requested"),
            Reason::NeededBy {
                package,
                version,
                field,
                dependency,
            } => write!(f, "needed by {package} {version} ({field}: {dependency})"),
            Reason::BrokenByUpgrade {
                package,
                version,
                field,
                dependency,
            } => write!(
                f,
                "the installed version's {field} `{dependency}` does not accept {package} {version}"
            ),
        }
    }
}

/// An installed package that moves to a newer version.
#[derive(Clone, Debug)]
pub struct Change {
    /// The package name.
    pub name: String,
    /// The installed package's architecture (the new one's may differ, e.g.
    /// `all` → `amd64`: see `new`).
    pub architecture: String,
    /// The installed version.
    pub old: String,
    /// The version it moves to.
    pub new: AvailablePackage,
    /// Why it moves.
    pub reason: Reason,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} → {} ({})",
            self.name,
            self.old,
            self.new.version(),
            self.reason
        )
    }
}

/// The outcome of [`upgrade()`]: what moves and what is installed fresh.
#[derive(Clone, Debug, Default)]
pub struct Upgrade {
    /// The installed packages that move, sorted by name.
    pub changes: Vec<Change>,
    /// The packages installed fresh, sorted by name; each
    /// [`Selected::pulled_by`] names the dependency that pulled it in.
    pub added: Vec<Selected>,
}

impl Upgrade {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.added.is_empty()
    }
}

/// Upgrades packages of an image; see the [crate docs](crate#upgrading-an-image)
/// for the rules.
pub fn upgrade(index: &PackageIndex, request: &UpgradeRequest<'_>) -> Result<Upgrade, Error> {
    let arch = request.architecture;
    let mut installed: BTreeMap<&str, Inst<'_>> = BTreeMap::new();
    for p in request.installed {
        if (p.architecture == arch || p.architecture == "all") && !installed.contains_key(p.name) {
            installed.insert(p.name, Inst::parse(p)?);
        }
    }

    // The request: installed names, each once.
    let mut wanted: Vec<(&str, Option<&str>)> = Vec::new();
    let mut pins: HashMap<&str, &str> = HashMap::new();
    for &(name, pin) in request.upgrade {
        if let Some(&(_, earlier)) = wanted.iter().find(|(n, _)| *n == name) {
            if earlier != pin {
                return Err(Error::UpgradeRequestedTwice(name.to_string()));
            }
            continue;
        }
        if !installed.contains_key(name) {
            return Err(if index.packages.iter().any(|p| p.name() == name) {
                Error::NotInstalled(name.to_string())
            } else {
                Error::UnknownPackage {
                    name: name.to_string(),
                    suggestions: crate::solver::close_names(name, installed.keys().copied()),
                }
            });
        }
        wanted.push((name, pin));
        if let Some(v) = pin {
            pins.insert(name, v);
        }
    }

    let tables = Tables::build(index, arch, &pins)?;
    let mut excluded_provides = HashSet::new();
    for name in request.exclude {
        if let Some(&id) = tables.by_name.get(name) {
            excluded_provides.extend(tables.get(id).provides.iter().map(|(v, _)| *v));
        }
    }
    let mut installed_providers: HashMap<String, Vec<&str>> = HashMap::new();
    for (name, inst) in &installed {
        for (virt, _) in &inst.provides {
            installed_providers
                .entry(virt.clone())
                .or_default()
                .push(*name);
        }
    }
    let mut up = Upgrader {
        index,
        t: &tables,
        arch,
        installed,
        installed_providers,
        exclude: request.exclude.iter().copied().collect(),
        pinned: pins.keys().copied().collect(),
        excluded_provides,
        changes: BTreeMap::new(),
        added: BTreeMap::new(),
        new_providers: HashMap::new(),
        queue: VecDeque::new(),
        deps: HashMap::new(),
    };

    for (name, pin) in wanted {
        let Some(inst) = up.installed.get(name) else {
            continue;
        };
        let Some(&id) = tables.by_name.get(name) else {
            return Err(Error::NoCandidate {
                name: name.to_string(),
                installed: inst.pkg.version.to_string(),
                architecture: arch.to_string(),
            });
        };
        let target = tables.get(id).version;
        match version::compare(target, inst.pkg.version) {
            std::cmp::Ordering::Greater => up.change(name.to_string(), id, Reason::Requested),
            std::cmp::Ordering::Less if pin.is_some() => {
                return Err(Error::Downgrade {
                    name: name.to_string(),
                    installed: inst.pkg.version.to_string(),
                    requested: target.to_string(),
                })
            }
            // Already there (or newer than anything available).
            _ => {}
        }
    }

    up.run()?;
    up.check_conflicts()?;
    Ok(up.finish())
}

/// An installed package, its relation fields parsed.
struct Inst<'r> {
    pkg: &'r Installed<'r>,
    multi_arch: MultiArch,
    /// `(virtual name, provided version)`.
    provides: Vec<(String, Option<String>)>,
    deps: Vec<(Field, Dependency)>,
    conflicts: Vec<(&'static str, Dependency)>,
}

impl<'r> Inst<'r> {
    fn parse(pkg: &'r Installed<'r>) -> Result<Inst<'r>, Error> {
        let err = |field: &'static str| {
            move |source| Error::Relation {
                package: pkg.name.to_string(),
                version: pkg.version.to_string(),
                field,
                source,
            }
        };
        let provides = relation::parse_provides(pkg.provides)
            .map_err(err("Provides"))?
            .into_iter()
            .map(|r| (r.name, r.constraint.map(|(_, v)| v.as_str().to_string())))
            .collect();
        let mut deps = Vec::new();
        for (field, name, text) in [
            (Field::PreDepends, "Pre-Depends", pkg.pre_depends),
            (Field::Depends, "Depends", pkg.depends),
        ] {
            for dep in relation::parse(text).map_err(err(name))? {
                deps.push((field, dep));
            }
        }
        let mut conflicts = Vec::new();
        for (field, text) in [("Conflicts", pkg.conflicts), ("Breaks", pkg.breaks)] {
            for dep in relation::parse(text).map_err(err(field))? {
                conflicts.push((field, dep));
            }
        }
        Ok(Inst {
            pkg,
            multi_arch: match pkg.multi_arch.trim() {
                "same" => MultiArch::Same,
                "foreign" => MultiArch::Foreign,
                "allowed" => MultiArch::Allowed,
                _ => MultiArch::No,
            },
            provides,
            deps,
            conflicts,
        })
    }
}

/// A package of the installed or the resulting set.
#[derive(Clone, Copy)]
enum Member<'s, 'i, 'r> {
    /// An installed version.
    Old(&'s Inst<'r>),
    /// A version from the index: a new or added package.
    New(&'s Candidate<'i>),
}

impl<'s> Member<'s, '_, '_> {
    fn name(self) -> &'s str {
        match self {
            Member::Old(i) => i.pkg.name,
            Member::New(c) => c.name,
        }
    }

    fn version(self) -> &'s str {
        match self {
            Member::Old(i) => i.pkg.version,
            Member::New(c) => c.version,
        }
    }

    fn arch(self) -> &'s str {
        match self {
            Member::Old(i) => i.pkg.architecture,
            Member::New(c) => c.arch,
        }
    }

    fn multi_arch(self) -> MultiArch {
        match self {
            Member::Old(i) => i.multi_arch,
            Member::New(c) => c.fields().multi_arch,
        }
    }

    /// Whether its `Provides` has `rel`'s name at a version `rel` accepts.
    fn provides(self, rel: &Relation) -> bool {
        match self {
            Member::Old(i) => i
                .provides
                .iter()
                .any(|(n, v)| *n == rel.name && provided_ok(v.as_deref(), rel)),
            Member::New(c) => c
                .provides
                .iter()
                .any(|(n, v)| *n == rel.name && provided_ok(*v, rel)),
        }
    }
}

struct Upgrader<'s, 'i, 'r> {
    index: &'i PackageIndex,
    t: &'s Tables<'i>,
    arch: &'r str,
    installed: BTreeMap<&'r str, Inst<'r>>,
    /// Virtual name → installed packages providing it.
    installed_providers: HashMap<String, Vec<&'r str>>,
    exclude: BTreeSet<&'r str>,
    /// Names pinned by the request.
    pinned: HashSet<&'r str>,
    /// Virtual names the candidates of excluded packages provide.
    excluded_provides: HashSet<&'i str>,
    /// Moving installed packages: name → (candidate, reason).
    changes: BTreeMap<String, (u32, Reason)>,
    /// Packages installed fresh: name → (candidate, how it was selected).
    added: BTreeMap<String, (u32, Selected)>,
    /// Virtual name → changed or added candidates providing it.
    new_providers: HashMap<&'i str, Vec<u32>>,
    /// Changed or added packages whose dependencies are to be checked.
    queue: VecDeque<String>,
    deps: HashMap<u32, Rc<Vec<(Field, Dependency)>>>,
}

impl<'s, 'i, 'r> Upgrader<'s, 'i, 'r> {
    /// The candidate a changed or added package moves to.
    fn new_id(&self, name: &str) -> Option<u32> {
        self.changes
            .get(name)
            .map(|(id, _)| *id)
            .or_else(|| self.added.get(name).map(|(id, _)| *id))
    }

    /// `name` in the resulting set.
    fn member(&self, name: &str) -> Option<Member<'_, 'i, 'r>> {
        match self.new_id(name) {
            Some(id) => Some(Member::New(self.t.get(id))),
            None => self.installed.get(name).map(Member::Old),
        }
    }

    /// The providers of `virt` in the installed set or, with `after`, the
    /// resulting set, sorted by name.
    fn providers(&self, virt: &str, after: bool) -> Vec<Member<'_, 'i, 'r>> {
        let mut out = Vec::new();
        for name in self.installed_providers.get(virt).into_iter().flatten() {
            if after && self.changes.contains_key(*name) {
                continue;
            }
            if let Some(i) = self.installed.get(name) {
                out.push(Member::Old(i));
            }
        }
        if after {
            for &id in self.new_providers.get(virt).into_iter().flatten() {
                out.push(Member::New(self.t.get(id)));
            }
        }
        out.sort_by(|a, b| a.name().cmp(b.name()));
        out
    }

    fn arch_ok(&self, m: Member<'_, '_, '_>, rel: &Relation) -> bool {
        match rel.arch_qualifier.as_deref() {
            None => true,
            Some("any") => m.multi_arch() == MultiArch::Allowed,
            Some("native") => m.arch() == self.arch || m.arch() == "all",
            Some(a) => m.arch() == a || (m.arch() == "all" && a == self.arch),
        }
    }

    fn real_matches(&self, m: Member<'_, '_, '_>, rel: &Relation) -> bool {
        m.name() == rel.name && self.arch_ok(m, rel) && version_ok(m.version(), rel)
    }

    fn provides_matches(&self, m: Member<'_, '_, '_>, rel: &Relation) -> bool {
        self.arch_ok(m, rel) && m.provides(rel)
    }

    /// Whether `rel` holds in the installed set or, with `after`, the
    /// resulting set.
    fn holds(&self, rel: &Relation, after: bool) -> bool {
        let m = if after {
            self.member(&rel.name)
        } else {
            self.installed.get(rel.name.as_str()).map(Member::Old)
        };
        if m.is_some_and(|m| self.real_matches(m, rel)) {
            return true;
        }
        self.providers(&rel.name, after)
            .into_iter()
            .any(|m| self.provides_matches(m, rel))
    }

    fn is_excluded(&self, rel: &Relation) -> bool {
        self.exclude.contains(rel.name.as_str())
            || self.excluded_provides.contains(rel.name.as_str())
    }

    fn dep_ok(&self, dep: &Dependency, after: bool) -> bool {
        dep.alternatives
            .iter()
            .any(|r| self.is_excluded(r) || self.holds(r, after))
    }

    /// Parses (once) `Pre-Depends` and `Depends` of a candidate.
    fn deps(&mut self, id: u32) -> Result<Rc<Vec<(Field, Dependency)>>, Error> {
        if let Some(d) = self.deps.get(&id) {
            return Ok(d.clone());
        }
        let c = self.t.get(id);
        let f = c.fields();
        let mut out = Vec::new();
        for (field, text) in [
            (Field::PreDepends, f.pre_depends),
            (Field::Depends, f.depends),
        ] {
            for dep in parse_field(c, field.as_str(), text)? {
                out.push((field, dep));
            }
        }
        let d = Rc::new(out);
        self.deps.insert(id, d.clone());
        Ok(d)
    }

    /// The installed candidate newer than the installed version of `name`.
    fn newer_candidate(&self, name: &str) -> Option<u32> {
        let inst = self.installed.get(name)?;
        let &id = self.t.by_name.get(name)?;
        (version::compare(self.t.get(id).version, inst.pkg.version) == std::cmp::Ordering::Greater)
            .then_some(id)
    }

    fn change(&mut self, name: String, id: u32, reason: Reason) {
        for (virt, _) in &self.t.get(id).provides {
            self.new_providers.entry(*virt).or_default().push(id);
        }
        self.queue.push_back(name.clone());
        self.changes.insert(name, (id, reason));
    }

    fn add(&mut self, id: u32, selected: Selected) {
        for (virt, _) in &self.t.get(id).provides {
            self.new_providers.entry(*virt).or_default().push(id);
        }
        let name = selected.name().to_string();
        self.queue.push_back(name.clone());
        self.added.insert(name, (id, selected));
    }

    /// Checks the queued packages' dependencies, then the installed
    /// packages the moves may break, until nothing changes.
    fn run(&mut self) -> Result<(), Error> {
        loop {
            while let Some(name) = self.queue.pop_front() {
                self.process(&name)?;
            }
            self.reverse_check()?;
            if self.queue.is_empty() {
                // A later move may have broken a package checked earlier.
                let names: Vec<String> = self
                    .changes
                    .keys()
                    .chain(self.added.keys())
                    .cloned()
                    .collect();
                for name in names {
                    if let Some(id) = self.new_id(&name) {
                        let deps = self.deps(id)?;
                        if deps.iter().any(|(_, d)| !self.dep_ok(d, true)) {
                            self.queue.push_back(name);
                        }
                    }
                }
            }
            if self.queue.is_empty() {
                return Ok(());
            }
        }
    }

    /// Satisfies the dependencies of the changed or added package `name`.
    fn process(&mut self, name: &str) -> Result<(), Error> {
        let Some(id) = self.new_id(name) else {
            return Ok(());
        };
        let deps = self.deps(id)?;
        for (field, dep) in deps.iter() {
            if !self.dep_ok(dep, true) {
                self.satisfy(name, id, *field, dep)?;
            }
        }
        Ok(())
    }

    /// Satisfies a dependency the resulting set does not: moves an
    /// installed package to its candidate, else installs a new one.
    fn satisfy(
        &mut self,
        parent: &str,
        pid: u32,
        field: Field,
        dep: &Dependency,
    ) -> Result<(), Error> {
        for rel in &dep.alternatives {
            if let Some((name, id)) = self.upgradable_for(rel) {
                let reason = Reason::NeededBy {
                    package: parent.to_string(),
                    version: self.t.get(pid).version.to_string(),
                    field,
                    dependency: dep.to_string(),
                };
                self.change(name, id, reason);
                return Ok(());
            }
        }
        self.add_fresh(parent, pid, field, dep)
    }

    /// An installed, unmoved package whose candidate satisfies `rel`: by
    /// name first, then the first provider by name.
    fn upgradable_for(&self, rel: &Relation) -> Option<(String, u32)> {
        if !self.changes.contains_key(&rel.name) {
            if let Some(id) = self.newer_candidate(&rel.name) {
                if self.real_matches(Member::New(self.t.get(id)), rel) {
                    return Some((rel.name.clone(), id));
                }
            }
        }
        let mut found: Vec<(&str, u32)> = self
            .t
            .providers
            .get(rel.name.as_str())
            .into_iter()
            .flatten()
            .map(|&id| (self.t.get(id).name, id))
            .filter(|&(name, id)| {
                !self.changes.contains_key(name)
                    && self.newer_candidate(name) == Some(id)
                    && self.provides_matches(Member::New(self.t.get(id)), rel)
            })
            .collect();
        found.sort_unstable();
        found.first().map(|&(name, id)| (name.to_string(), id))
    }

    /// Installs the first installable alternative of `dep` with its
    /// closure, the way [`resolve`](crate::resolve) would: it resolves a
    /// stand-in for `parent` that only has `dep`, with the resulting set
    /// excluded (so that it counts as satisfying).
    fn add_fresh(
        &mut self,
        parent: &str,
        pid: u32,
        field: Field,
        dep: &Dependency,
    ) -> Result<(), Error> {
        // Alternatives naming a package of the resulting set cannot be
        // installed beside it.
        let alternatives: Vec<Relation> = dep
            .alternatives
            .iter()
            .filter(|r| self.member(&r.name).is_none())
            .cloned()
            .collect();
        if alternatives.is_empty() {
            return Err(self.unsatisfiable(parent, pid, field, dep));
        }
        let wanted = Dependency { alternatives };

        let mut names: BTreeSet<String> = self.exclude.iter().map(|n| n.to_string()).collect();
        names.extend(self.installed.keys().map(|n| n.to_string()));
        names.extend(self.added.keys().cloned());
        for (virt, list) in &self.installed_providers {
            if list.iter().any(|n| !self.changes.contains_key(*n)) {
                names.insert(virt.clone());
            }
        }
        names.extend(self.new_providers.keys().map(|v| v.to_string()));
        names.remove(parent);
        // A virtual name the resulting set provides at a version that does
        // not match: let the resolver pick another provider.
        for rel in &wanted.alternatives {
            names.remove(&rel.name);
        }
        let exclude: Vec<Exclusion> = names
            .into_iter()
            .map(|name| Exclusion { name, reason: None })
            .collect();

        let c = self.t.get(pid);
        let mut text = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\n",
            c.name, c.version, c.arch
        );
        match c.fields().multi_arch {
            MultiArch::No => {}
            MultiArch::Same => text.push_str("Multi-Arch: same\n"),
            MultiArch::Foreign => text.push_str("Multi-Arch: foreign\n"),
            MultiArch::Allowed => text.push_str("Multi-Arch: allowed\n"),
        }
        if !c.provides.is_empty() {
            let list: Vec<String> = c
                .provides
                .iter()
                .map(|(n, v)| match v {
                    Some(v) => format!("{n} (= {v})"),
                    None => (*n).to_string(),
                })
                .collect();
            text.push_str(&format!("Provides: {}\n", list.join(", ")));
        }
        text.push_str(&format!("{field}: {wanted}\n"));
        let len = text.len();
        let stand_in = AvailablePackage::from_text(
            Arc::<str>::from(text),
            0..len,
            c.package.release().clone(),
        );
        // First, so that it is the candidate among equal versions.
        let mut packages = Vec::with_capacity(self.index.packages.len() + 1);
        packages.push(stand_in);
        packages.extend(self.index.packages.iter().cloned());
        let scratch = PackageIndex {
            releases: self.index.releases.clone(),
            packages,
        };
        let root = [PackageRequest {
            name: parent.to_string(),
            version: Some(c.version.to_string()),
        }];
        let request = Request {
            architecture: self.arch,
            packages: &root,
            exclude: &exclude,
            prefer: &[],
            recommends: false,
        };
        let resolution = crate::resolve(&scratch, &request)
            .map_err(|e| self.reroot(e, parent, c.version, field))?;
        for s in resolution.packages() {
            if s.name() == parent {
                continue;
            }
            // The resolver's candidates are this one's: the same index,
            // and the pins are all installed, hence excluded there.
            if let Some(&id) = self.t.by_name.get(s.name()) {
                self.add(id, s.clone());
            }
        }
        // Excluded packages satisfy any version for the resolver.
        if !self.dep_ok(dep, true) {
            return Err(self.unsatisfiable(parent, pid, field, dep));
        }
        Ok(())
    }

    /// Rewrites the chains of an error of [`add_fresh`](Self::add_fresh)'s
    /// resolution, which start at the stand-in, to start where `parent`
    /// comes from.
    fn reroot(&self, e: Error, parent: &str, version: &str, field: Field) -> Error {
        let root = self.chain_line(parent);
        let requested = format!("requested {parent}");
        let fix = |chain: String| match chain.strip_prefix(&requested) {
            Some(rest) if rest.is_empty() || rest.starts_with(" → ") => format!("{root}{rest}"),
            _ => chain,
        };
        match e {
            Error::Unsatisfiable {
                package,
                chain,
                reason,
            } => {
                let rest = chain
                    .strip_prefix(&format!("{parent} → "))
                    .unwrap_or(&chain);
                Error::Unsatisfiable {
                    package,
                    chain: format!("{root} → {parent} {version} {field}: {rest}"),
                    reason,
                }
            }
            Error::Conflict(mut c) => {
                c.package_chain = fix(std::mem::take(&mut c.package_chain));
                c.other_chain = fix(std::mem::take(&mut c.other_chain));
                Error::Conflict(c)
            }
            e => e,
        }
    }

    /// Moves installed packages whose dependencies the moves break to their
    /// candidates; an error when there is none.
    fn reverse_check(&mut self) -> Result<(), Error> {
        // Names whose meaning changes: the moving packages and what their
        // installed versions provide.
        let mut moved: BTreeMap<&str, &str> = BTreeMap::new();
        for name in self.changes.keys() {
            moved.insert(name, name);
            if let Some(inst) = self.installed.get(name.as_str()) {
                for (virt, _) in &inst.provides {
                    moved.entry(virt).or_insert(name);
                }
            }
        }
        let mut fixes: Vec<(String, u32, Reason)> = Vec::new();
        for (name, inst) in &self.installed {
            if self.changes.contains_key(*name) {
                continue;
            }
            for (field, dep) in &inst.deps {
                let Some(mover) = dep
                    .alternatives
                    .iter()
                    .find_map(|r| moved.get(r.name.as_str()))
                else {
                    continue;
                };
                // Only what held before and does not now.
                if !self.dep_ok(dep, false) || self.dep_ok(dep, true) {
                    continue;
                }
                let new_version = self
                    .new_id(mover)
                    .map_or("", |id| self.t.get(id).version)
                    .to_string();
                match self.newer_candidate(name) {
                    Some(id) => {
                        fixes.push((
                            name.to_string(),
                            id,
                            Reason::BrokenByUpgrade {
                                package: mover.to_string(),
                                version: new_version,
                                field: *field,
                                dependency: dep.to_string(),
                            },
                        ));
                        break;
                    }
                    None => {
                        return Err(Error::BreaksInstalled(Box::new(BrokenDependency {
                            changed: mover.to_string(),
                            new_version,
                            package: name.to_string(),
                            version: inst.pkg.version.to_string(),
                            field: *field,
                            dependency: dep.to_string(),
                            chain: self.chain_line(mover),
                        })))
                    }
                }
            }
        }
        for (name, id, reason) in fixes {
            self.change(name, id, reason);
        }
        Ok(())
    }

    /// `Conflicts` and `Breaks` of new and added packages against the
    /// resulting set, and of the installed ones against the new ones.
    fn check_conflicts(&self) -> Result<(), Error> {
        let mut names: Vec<&str> = self
            .installed
            .keys()
            .copied()
            .chain(self.added.keys().map(String::as_str))
            .collect();
        names.sort_unstable();
        for &name in &names {
            let new = self.new_id(name);
            let relations = match new {
                Some(id) => {
                    let c = self.t.get(id);
                    let mut out = Vec::new();
                    for (field, text) in [
                        ("Conflicts", c.fields().conflicts),
                        ("Breaks", c.fields().breaks),
                    ] {
                        out.extend(parse_field(c, field, text)?.into_iter().map(|d| (field, d)));
                    }
                    out
                }
                None => match self.installed.get(name) {
                    Some(inst) => inst.conflicts.clone(),
                    None => continue,
                },
            };
            for (field, dep) in &relations {
                for rel in &dep.alternatives {
                    let Some(other) = self.conflicting(name, rel, new.is_none()) else {
                        continue;
                    };
                    return Err(Error::Conflict(Box::new(Conflict {
                        package: name.to_string(),
                        field,
                        relation: rel.to_string(),
                        other: other.name().to_string(),
                        other_version: other.version().to_string(),
                        package_chain: self.chain_line(name),
                        other_chain: self.chain_line(other.name()),
                    })));
                }
            }
        }
        Ok(())
    }

    /// The package of the resulting set (other than `me`, and only a new
    /// or added one with `only_new`) that `rel` of `me` hits.
    fn conflicting(&self, me: &str, rel: &Relation, only_new: bool) -> Option<Member<'_, 'i, 'r>> {
        let hit = |m: &Member<'_, '_, '_>| {
            m.name() != me && (!only_new || self.new_id(m.name()).is_some())
        };
        if let Some(m) = self.member(&rel.name) {
            if hit(&m) && version_ok(m.version(), rel) {
                return Some(m);
            }
        }
        self.providers(&rel.name, true)
            .into_iter()
            .find(|m| hit(m) && m.provides(rel))
    }

    /// Why `name` is in the resulting set, as a one-line chain.
    fn chain_line(&self, name: &str) -> String {
        let mut steps = Vec::new();
        let mut seen = HashSet::new();
        let mut current = name.to_string();
        while seen.insert(current.clone()) {
            let old = self
                .installed
                .get(current.as_str())
                .map_or("", |i| i.pkg.version);
            let next = if let Some((id, reason)) = self.changes.get(&current) {
                match reason {
                    Reason::Requested => {
                        steps.push(format!(
                            "requested {current} {} (installed {old})",
                            self.t.get(*id).version
                        ));
                        None
                    }
                    Reason::NeededBy {
                        package,
                        version,
                        field,
                        dependency,
                    } => {
                        steps.push(format!("{package} {version} {field}: {dependency}"));
                        Some(package.clone())
                    }
                    Reason::BrokenByUpgrade {
                        package,
                        field,
                        dependency,
                        ..
                    } => {
                        steps.push(format!("installed {current} {old} {field}: {dependency}"));
                        Some(package.clone())
                    }
                }
            } else if let Some((_, selected)) = self.added.get(&current) {
                selected.pulled_by.first().map(|e| {
                    let version = self.member(&e.parent).map_or("", |m| m.version());
                    steps.push(format!(
                        "{} {version} {}: {}",
                        e.parent, e.field, e.dependency
                    ));
                    e.parent.clone()
                })
            } else if self.installed.contains_key(current.as_str()) {
                steps.push(format!("installed {current} {old}"));
                None
            } else {
                None
            };
            match next {
                Some(n) => current = n,
                None => break,
            }
        }
        steps.reverse();
        steps.join(" → ")
    }

    /// The error for a dependency of `parent` nothing can satisfy.
    fn unsatisfiable(&self, parent: &str, pid: u32, field: Field, dep: &Dependency) -> Error {
        let chain = format!(
            "{} → {parent} {} {field}: {dep}",
            self.chain_line(parent),
            self.t.get(pid).version
        );
        Error::Unsatisfiable {
            package: dep
                .alternatives
                .first()
                .map_or_else(String::new, |r| r.name.clone()),
            chain,
            reason: crate::solver::why_none(dep, |rel| self.why_not(rel)),
        }
    }

    fn why_not(&self, rel: &Relation) -> String {
        let name = &rel.name;
        if let Some(m) = self.member(name) {
            if !self.arch_ok(m, rel) {
                return match rel.arch_qualifier.as_deref() {
                    Some("any") => format!("`{name}` {} is not `Multi-Arch: allowed`", m.version()),
                    _ => format!("`{name}` is `Architecture: {}`", m.arch()),
                };
            }
            return match (self.installed.get(name.as_str()), self.changes.get(name)) {
                (Some(i), Some((id, _))) => format!(
                    "`{name}` moves from {} to {}",
                    i.pkg.version,
                    self.t.get(*id).version
                ),
                (Some(i), None) if self.pinned.contains(name.as_str()) => {
                    format!("`{name}` is held at {} by the request", i.pkg.version)
                }
                (Some(i), None) => match self.t.by_name.get(name.as_str()) {
                    Some(&id) if self.newer_candidate(name).is_some() => format!(
                        "`{name}` {} is installed and the newest available is {}",
                        i.pkg.version,
                        self.t.get(id).version
                    ),
                    _ => format!(
                        "`{name}` {} is installed and no newer version is available",
                        i.pkg.version
                    ),
                },
                _ => format!("`{name}` {} is being installed", m.version()),
            };
        }
        let providers = self.providers(name, true);
        if !providers.is_empty() {
            let list: Vec<String> = providers.iter().map(|m| m.name().to_string()).collect();
            return format!(
                "`{name}` is only provided by {}, which does not match",
                list.join(", ")
            );
        }
        if self.t.by_name.contains_key(name.as_str())
            || self.t.providers.contains_key(name.as_str())
        {
            "no candidate matches".to_string()
        } else {
            format!("no package `{name}` is available")
        }
    }

    fn finish(self) -> Upgrade {
        let changes = self
            .changes
            .into_iter()
            .map(|(name, (id, reason))| {
                let (architecture, old) = self
                    .installed
                    .get(name.as_str())
                    .map_or(("", ""), |i| (i.pkg.architecture, i.pkg.version));
                Change {
                    architecture: architecture.to_string(),
                    old: old.to_string(),
                    new: self.t.get(id).package.clone(),
                    reason,
                    name,
                }
            })
            .collect();
        Upgrade {
            changes,
            added: self.added.into_values().map(|(_, s)| s).collect(),
        }
    }
}

/// Parses a relation field of a candidate.
fn parse_field(
    c: &Candidate<'_>,
    field: &'static str,
    text: Option<&str>,
) -> Result<Vec<Dependency>, Error> {
    relation::parse(text.unwrap_or("")).map_err(|source| Error::Relation {
        package: c.name.to_string(),
        version: c.version.to_string(),
        field,
        source,
    })
}

/// Whether a `Provides` entry at `provided` satisfies `rel`: an unversioned
/// one only an unversioned dependency.
fn provided_ok(provided: Option<&str>, rel: &Relation) -> bool {
    match (&rel.constraint, provided) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some((op, want)), Some(v)) => op.accepts(version::compare(v, want.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use bulwark_repo::PackageIndex;

    use super::*;

    use crate::tests::index;

    /// An installed `amd64` package without relation fields.
    fn inst<'a>(name: &'a str, version: &'a str) -> Installed<'a> {
        Installed {
            name,
            version,
            architecture: "amd64",
            ..Installed::default()
        }
    }

    /// Upgrades `names` (`name` or `name=VERSION`).
    fn run(
        idx: &PackageIndex,
        installed: &[Installed<'_>],
        names: &[&str],
        exclude: &[&str],
    ) -> Result<Upgrade, Error> {
        let pairs: Vec<(&str, Option<&str>)> = names
            .iter()
            .map(|n| match n.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (*n, None),
            })
            .collect();
        upgrade(
            idx,
            &UpgradeRequest {
                architecture: "amd64",
                installed,
                upgrade: &pairs,
                exclude,
            },
        )
    }

    fn changes(u: &Upgrade) -> Vec<String> {
        u.changes.iter().map(ToString::to_string).collect()
    }

    fn added(u: &Upgrade) -> Vec<String> {
        u.added
            .iter()
            .map(|s| format!("{} {}", s.name(), s.package.version()))
            .collect()
    }

    fn err(
        idx: &PackageIndex,
        installed: &[Installed<'_>],
        names: &[&str],
        exclude: &[&str],
    ) -> String {
        run(idx, installed, names, exclude).unwrap_err().to_string()
    }

    #[test]
    fn simple_upgrade_moves_only_the_requested_package() {
        let idx = index(&[
            ("libc6", "2.36", ""),
            ("libc6", "2.37", ""),
            ("libssl3", "1", "Depends: libc6 (>= 2.34)"),
            ("libssl3", "2", "Depends: libc6 (>= 2.34)"),
            ("openssl", "1", "Depends: libssl3 (>= 1)"),
            ("openssl", "2", "Depends: libssl3 (>= 2)"),
        ]);
        let installed = [
            inst("libc6", "2.36"),
            Installed {
                depends: "libc6 (>= 2.34)",
                ..inst("libssl3", "1")
            },
            Installed {
                depends: "libssl3 (>= 1)",
                ..inst("openssl", "1")
            },
        ];
        let u = run(&idx, &installed, &["libssl3"], &[]).unwrap();
        assert_eq!(changes(&u), ["libssl3 1 → 2 (requested)"]);
        assert!(u.added.is_empty());
        let c = &u.changes[0];
        assert_eq!(
            (c.name.as_str(), c.architecture.as_str(), c.old.as_str()),
            ("libssl3", "amd64", "1")
        );
        assert_eq!(c.new.version(), "2");
        assert_eq!(c.reason, Reason::Requested);
    }

    #[test]
    fn needed_versions_move_installed_packages_recursively() {
        let idx = index(&[
            ("app", "1", "Depends: libfoo"),
            ("app", "2", "Depends: libfoo (>= 2), other"),
            ("libfoo", "1", "Depends: libbar"),
            ("libfoo", "2", "Depends: libbar (>= 2)"),
            ("libbar", "1", ""),
            ("libbar", "3", ""),
            ("other", "1", ""),
            ("other", "2", ""),
        ]);
        let installed = [
            Installed {
                depends: "libfoo",
                ..inst("app", "1")
            },
            Installed {
                depends: "libbar",
                ..inst("libfoo", "1")
            },
            inst("libbar", "1"),
            inst("other", "1"),
        ];
        let u = run(&idx, &installed, &["app"], &[]).unwrap();
        assert_eq!(
            changes(&u),
            [
                "app 1 → 2 (requested)",
                "libbar 1 → 3 (needed by libfoo 2 (Depends: libbar (>= 2)))",
                "libfoo 1 → 2 (needed by app 2 (Depends: libfoo (>= 2)))",
            ]
        );
        assert_eq!(
            u.changes[2].reason,
            Reason::NeededBy {
                package: "app".into(),
                version: "2".into(),
                field: Field::Depends,
                dependency: "libfoo (>= 2)".into(),
            }
        );
        assert!(u.added.is_empty());
    }

    #[test]
    fn missing_dependencies_are_added_with_their_closure() {
        let idx = index(&[
            ("app", "1", ""),
            ("app", "2", "Depends: libnew, libc6 (>= 2.36)"),
            ("libnew", "1", "Depends: libdep, libexcl, libc6 (>= 2.40)"),
            ("libdep", "1", "Depends: libc6"),
            ("libexcl", "1", ""),
            ("libc6", "2.36", ""),
            ("libc6", "2.40", ""),
        ]);
        let installed = [inst("app", "1"), inst("libc6", "2.36")];
        let u = run(&idx, &installed, &["app"], &["libexcl"]).unwrap();
        assert_eq!(added(&u), ["libdep 1", "libnew 1"]);
        let edge = &u.added[1].pulled_by[0];
        assert_eq!(
            (edge.parent.as_str(), edge.field, edge.dependency.as_str()),
            ("app", Field::Depends, "libnew")
        );
        assert_eq!(u.added[0].pulled_by[0].parent, "libnew");
        assert!(u.added.iter().all(|s| !s.requested));
        // The added package needs a newer libc6 than the installed one.
        assert_eq!(
            changes(&u),
            [
                "app 1 → 2 (requested)",
                "libc6 2.36 → 2.40 (needed by libnew 1 (Depends: libc6 (>= 2.40)))",
            ]
        );
        // Without the exclusion, the excluded package is added too.
        let u = run(&idx, &installed, &["app"], &[]).unwrap();
        assert_eq!(added(&u), ["libdep 1", "libexcl 1", "libnew 1"]);
    }

    #[test]
    fn added_alternatives_follow_the_resolver() {
        let idx = index(&[
            ("app", "1", ""),
            (
                "app",
                "2",
                "Depends: broken | good, usrmerge | usr-is-merged, awk",
            ),
            ("broken", "1", "Depends: missing"),
            ("good", "1", ""),
            ("usrmerge", "35", "Depends: perl"),
            ("perl", "5.36", ""),
            ("usr-is-merged", "35", ""),
            ("gawk", "1", "Priority: optional\nProvides: awk"),
            ("mawk", "1", "Priority: required\nProvides: awk"),
        ]);
        let u = run(&idx, &[inst("app", "1")], &["app"], &[]).unwrap();
        assert_eq!(added(&u), ["good 1", "mawk 1", "usr-is-merged 35"]);
        let choice = u.added[0].pulled_by[0].choice.as_ref().unwrap();
        assert_eq!(choice.skipped, ["broken"]);
        // Failures deep in the added closure show the whole chain.
        let idx = index(&[
            ("app", "1", ""),
            ("app", "2", "Depends: libnew"),
            ("libnew", "1", "Depends: missing"),
        ]);
        assert_eq!(
            err(&idx, &[inst("app", "1")], &["app"], &[]),
            "unsatisfiable dependency: requested app 2 (installed 1) → app 2 Depends: libnew → missing: \
             no package `missing` is available"
        );
    }

    #[test]
    fn installed_alternatives_and_provides_satisfy_dependencies() {
        let idx = index(&[
            ("app", "1", ""),
            (
                "app",
                "2",
                "Depends: default-mta | mail-transport-agent, gawk | awk, \
                 libgnutls30 | libssl3, foo (>= 1), python3:any (>= 3.11)",
            ),
            ("default-mta", "1", ""),
            ("gawk", "1", "Provides: awk"),
            ("libgnutls30", "1", ""),
            ("libssl3", "1", ""),
            ("other-foo", "1", "Provides: foo (= 2)"),
            ("python3", "3.11", "Multi-Arch: allowed"),
        ]);
        let installed = [
            inst("app", "1"),
            Installed {
                provides: "mail-transport-agent",
                ..inst("postfix", "3.7")
            },
            Installed {
                provides: "awk",
                ..inst("mawk", "1.3")
            },
            inst("libssl3", "1"),
            Installed {
                provides: "foo (= 1.2)",
                ..inst("bar", "1")
            },
            Installed {
                multi_arch: "allowed",
                ..inst("python3", "3.11")
            },
        ];
        let u = run(&idx, &installed, &["app"], &[]).unwrap();
        assert_eq!(changes(&u), ["app 1 → 2 (requested)"]);
        assert!(u.added.is_empty(), "{:?}", added(&u));

        // An unversioned Provides does not satisfy a versioned dependency:
        // a provider with a matching version is added.
        let mut installed = installed;
        installed[4].provides = "foo";
        let u = run(&idx, &installed, &["app"], &[]).unwrap();
        assert_eq!(added(&u), ["other-foo 1"]);
    }

    #[test]
    fn multi_arch_of_installed_packages() {
        let idx = index(&[
            ("app", "1", ""),
            ("app", "2", "Depends: python3:any"),
            ("python3", "3.11", ""),
        ]);
        // The installed python3 is not `Multi-Arch: allowed`, nor is any newer
        // one.
        assert_eq!(
            err(
                &idx,
                &[inst("app", "1"), inst("python3", "3.11")],
                &["app"],
                &[]
            ),
            "unsatisfiable dependency: requested app 2 (installed 1) → app 2 Depends: python3:any: \
             `python3` 3.11 is not `Multi-Arch: allowed`"
        );
        // A newer one is.
        let idx = index(&[
            ("app", "1", ""),
            ("app", "2", "Depends: python3:any"),
            ("python3", "3.12", "Multi-Arch: allowed"),
        ]);
        let u = run(
            &idx,
            &[inst("app", "1"), inst("python3", "3.11")],
            &["app"],
            &[],
        )
        .unwrap();
        assert_eq!(
            changes(&u)[1],
            "python3 3.11 → 3.12 (needed by app 2 (Depends: python3:any))"
        );
    }

    #[test]
    fn breaks_and_conflicts_name_both_packages() {
        let idx = index(&[
            ("app", "1", ""),
            ("app", "2", "Breaks: plugin (<< 2)"),
            ("plugin", "1", ""),
        ]);
        let installed = [inst("app", "1"), inst("plugin", "1")];
        let e = run(&idx, &installed, &["app"], &[]).unwrap_err();
        assert!(
            matches!(&e, Error::Conflict(c) if c.field == "Breaks" && c.other == "plugin"),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "`app` Breaks `plugin (<< 2)`, which `plugin` 1 matches; \
             `app`: requested app 2 (installed 1); `plugin`: installed plugin 1"
        );

        // An installed package that breaks the new version.
        let idx = index(&[("app", "1", ""), ("app", "2", ""), ("plugin", "1", "")]);
        let installed = [
            inst("app", "1"),
            Installed {
                breaks: "app (>= 2)",
                ..inst("plugin", "1")
            },
        ];
        assert_eq!(
            err(&idx, &installed, &["app"], &[]),
            "`plugin` Breaks `app (>= 2)`, which `app` 2 matches; \
             `plugin`: installed plugin 1; `app`: requested app 2 (installed 1)"
        );
        // Breaks that the new version does not match are fine.
        let installed = [
            inst("app", "1"),
            Installed {
                breaks: "app (<< 1)",
                ..inst("plugin", "1")
            },
        ];
        assert!(run(&idx, &installed, &["app"], &[]).is_ok());

        // Conflicts with a virtual name an installed package provides; the
        // chain of a moved dependency goes back to the request.
        let idx = index(&[
            ("app", "1", ""),
            ("app", "2", "Depends: libmail (>= 2)"),
            ("libmail", "1", ""),
            ("libmail", "2", "Conflicts: mail-transport-agent"),
        ]);
        let installed = [
            inst("app", "1"),
            inst("libmail", "1"),
            Installed {
                provides: "mail-transport-agent",
                ..inst("postfix", "3.7")
            },
        ];
        assert_eq!(
            err(&idx, &installed, &["app"], &[]),
            "`libmail` Conflicts `mail-transport-agent`, which `postfix` 3.7 matches; \
             `libmail`: requested app 2 (installed 1) → app 2 Depends: libmail (>= 2); \
             `postfix`: installed postfix 3.7"
        );

        // Between two added packages.
        let idx = index(&[
            ("app", "1", ""),
            ("app", "2", "Depends: liba, libb"),
            ("liba", "1", "Depends: libc"),
            ("libb", "1", ""),
            ("libc", "1", "Breaks: libb"),
        ]);
        assert_eq!(
            err(&idx, &[inst("app", "1")], &["app"], &[]),
            "`libc` Breaks `libb`, which `libb` 1 matches; \
             `libc`: requested app 2 (installed 1) → app 2 Depends: liba → liba 1 Depends: libc; \
             `libb`: requested app 2 (installed 1) → app 2 Depends: libb"
        );

        // Conflicts among packages that do not move are not this upgrade's.
        let idx = index(&[
            ("a", "1", ""),
            ("a", "2", ""),
            ("x", "1", ""),
            ("y", "1", ""),
        ]);
        let installed = [
            inst("a", "1"),
            Installed {
                conflicts: "y",
                ..inst("x", "1")
            },
            inst("y", "1"),
        ];
        assert!(run(&idx, &installed, &["a"], &[]).is_ok());
    }

    #[test]
    fn request_errors() {
        let idx = index(&[
            ("libssl3", "1", ""),
            ("libssl3", "2", ""),
            ("curl", "1", ""),
        ]);
        let installed = [inst("libssl3", "1"), inst("local-tool", "1")];
        assert_eq!(
            err(&idx, &installed, &["libssl"], &[]),
            "unknown package `libssl`; did you mean `libssl3`?"
        );
        assert_eq!(
            err(&idx, &installed, &["zzzzzz"], &[]),
            "unknown package `zzzzzz`"
        );
        assert_eq!(
            err(&idx, &installed, &["curl"], &[]),
            "`curl` is not installed in the image"
        );
        assert_eq!(
            err(&idx, &installed, &["libssl3=3"], &[]),
            "package `libssl3` has no version `3`; available: 2, 1"
        );
        assert_eq!(
            err(&idx, &[inst("libssl3", "2")], &["libssl3=1"], &[]),
            "`libssl3` 2 is installed; `libssl3=1` would downgrade it"
        );
        assert_eq!(
            err(&idx, &installed, &["local-tool"], &[]),
            "`local-tool` 1 is installed, but no repository has `local-tool` for amd64"
        );
        assert!(matches!(
            run(&idx, &installed, &["libssl3=1", "libssl3=2"], &[]),
            Err(Error::UpgradeRequestedTwice(n)) if n == "libssl3"
        ));
        // The same entry twice is fine.
        let u = run(&idx, &installed, &["libssl3", "libssl3"], &[]).unwrap();
        assert_eq!(changes(&u), ["libssl3 1 → 2 (requested)"]);
        // A pin to a newer version that is not the candidate.
        let idx = index(&[
            ("libssl3", "1", ""),
            ("libssl3", "2", ""),
            ("libssl3", "3", ""),
        ]);
        let u = run(&idx, &installed, &["libssl3=2"], &[]).unwrap();
        assert_eq!(changes(&u), ["libssl3 1 → 2 (requested)"]);
    }

    #[test]
    fn unsatisfiable_dependencies_of_new_versions() {
        let idx = index(&[
            ("app", "1", ""),
            ("app", "2", "Depends: libfoo (>= 3)"),
            ("libfoo", "1", ""),
            ("libfoo", "2", ""),
        ]);
        let installed = [inst("app", "1"), inst("libfoo", "1")];
        assert_eq!(
            err(&idx, &installed, &["app"], &[]),
            "unsatisfiable dependency: requested app 2 (installed 1) → app 2 Depends: libfoo (>= 3): \
             `libfoo` 1 is installed and the newest available is 2"
        );
        // Pinning the installed version holds a package.
        let idx = index(&[
            ("app", "1", ""),
            ("app", "2", "Depends: libfoo (>= 2)"),
            ("libfoo", "1", ""),
            ("libfoo", "2", ""),
        ]);
        assert_eq!(
            err(&idx, &installed, &["app", "libfoo=1"], &[]),
            "unsatisfiable dependency: requested app 2 (installed 1) → app 2 Depends: libfoo (>= 2): \
             `libfoo` is held at 1 by the request"
        );
        // An excluded name satisfies any version.
        let u = run(&idx, &[inst("app", "1")], &["app"], &["libfoo"]).unwrap();
        assert!(u.added.is_empty());
        // A move needed later breaks a dependency checked earlier.
        let idx = index(&[
            ("a", "1", ""),
            ("a", "2", "Depends: c (<< 3)"),
            ("b", "1", ""),
            ("b", "2", "Depends: c (>= 3)"),
            ("c", "2", ""),
            ("c", "3", ""),
        ]);
        let installed = [inst("a", "1"), inst("b", "1"), inst("c", "2")];
        assert_eq!(
            changes(&run(&idx, &installed, &["a"], &[]).unwrap()),
            ["a 1 → 2 (requested)"]
        );
        assert_eq!(
            err(&idx, &installed, &["a", "b"], &[]),
            "unsatisfiable dependency: requested a 2 (installed 1) → a 2 Depends: c (<< 3): \
             `c` moves from 2 to 3"
        );
    }

    #[test]
    fn nothing_to_do() {
        let idx = index(&[("libssl3", "1", ""), ("libssl3", "2", "")]);
        // Already at the candidate.
        assert!(run(&idx, &[inst("libssl3", "2")], &["libssl3"], &[])
            .unwrap()
            .is_empty());
        // Newer than anything available.
        assert!(run(&idx, &[inst("libssl3", "3")], &["libssl3"], &[])
            .unwrap()
            .is_empty());
        // Pinned to the installed version.
        assert!(run(&idx, &[inst("libssl3", "1")], &["libssl3=1"], &[])
            .unwrap()
            .is_empty());
        // Nothing requested.
        assert!(run(&idx, &[inst("libssl3", "1")], &[], &[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn installed_packages_whose_dependencies_break_move_too() {
        let stanzas = [
            ("gcc-12-base", "1", "Multi-Arch: same"),
            ("gcc-12-base", "2", "Multi-Arch: same"),
            ("libgcc-s1", "1", "Depends: gcc-12-base (= 1)"),
            ("libgcc-s1", "2", "Depends: gcc-12-base (= 2)"),
            ("libstdc++6", "1", "Depends: gcc-12-base (= 1)"),
            ("libstdc++6", "2", "Depends: gcc-12-base (= 2)"),
        ];
        let installed = [
            inst("gcc-12-base", "1"),
            Installed {
                depends: "gcc-12-base (= 1)",
                ..inst("libgcc-s1", "1")
            },
            Installed {
                depends: "gcc-12-base (= 1)",
                ..inst("libstdc++6", "1")
            },
        ];
        let u = run(&index(&stanzas), &installed, &["libgcc-s1"], &[]).unwrap();
        assert_eq!(
            changes(&u),
            [
                "gcc-12-base 1 → 2 (needed by libgcc-s1 2 (Depends: gcc-12-base (= 2)))",
                "libgcc-s1 1 → 2 (requested)",
                "libstdc++6 1 → 2 (the installed version's Depends `gcc-12-base (= 1)` \
                 does not accept gcc-12-base 2)",
            ]
        );
        // Without a newer libstdc++6, the upgrade would break it.
        let e = err(&index(&stanzas[..5]), &installed, &["libgcc-s1"], &[]);
        assert_eq!(
            e,
            "moving `gcc-12-base` to 2 breaks `libstdc++6` 1 (Depends: gcc-12-base (= 1)), \
             and no newer `libstdc++6` is available; `gcc-12-base`: requested libgcc-s1 2 \
             (installed 1) → libgcc-s1 2 Depends: gcc-12-base (= 2)"
        );
    }

    #[test]
    fn output_is_sorted_and_independent_of_order() {
        let mut stanzas = vec![
            ("zlib1g", "1", ""),
            ("zlib1g", "2", ""),
            ("apt", "1", ""),
            ("apt", "2", "Depends: libnew-b, libnew-a"),
            ("libnew-b", "1", ""),
            ("libnew-a", "1", ""),
        ];
        let installed = [inst("zlib1g", "1"), inst("apt", "1")];
        let u = run(&index(&stanzas), &installed, &["zlib1g", "apt"], &[]).unwrap();
        let expected = (changes(&u), added(&u));
        assert_eq!(
            expected.0,
            ["apt 1 → 2 (requested)", "zlib1g 1 → 2 (requested)"]
        );
        assert_eq!(expected.1, ["libnew-a 1", "libnew-b 1"]);
        stanzas.reverse();
        let u = run(&index(&stanzas), &installed, &["apt", "zlib1g"], &[]).unwrap();
        assert_eq!((changes(&u), added(&u)), expected);
    }

    #[test]
    fn installed_from_a_status_stanza() {
        let stanza = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n\
                      Multi-Arch: same\nVersion: 3.0.15-1~deb12u1\n\
                      Depends: libc6 (>= 2.34),\n libzstd1\nBreaks: openssl (<< 3)";
        let i = Installed::from_stanza(stanza).unwrap();
        assert_eq!(
            (i.name, i.version, i.architecture, i.multi_arch),
            ("libssl3", "3.0.15-1~deb12u1", "amd64", "same")
        );
        assert_eq!(i.breaks, "openssl (<< 3)");
        assert_eq!(relation::parse(i.depends).unwrap().len(), 2);
        assert_eq!(i.provides, "");
        assert!(Installed::from_stanza("Package: x\nVersion: 1").is_none());
    }
}
