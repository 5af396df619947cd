//! This crate provides dependency resolution over Debian package indices, the
//! way `apt-get install --no-install-recommends` would choose, minus the
//! maintainer scripts.
//!
//! # Brief overview
//!
//! [`resolve`] takes a [`PackageIndex`] (one
//! architecture, possibly several repositories) and a [`Request`], and returns
//! a [`Resolution`]: the selected packages sorted by name, each with the
//! dependency edges that pulled it in and the alternative choices made, plus
//! the excluded packages something depended on. [`Resolution::explain`]
//! renders why a package is in the image.
//!
//! # Semantics
//!
//! - The candidate of a name is its highest version (deb-version ordering)
//!   across all repositories, among packages of the requested architecture
//!   or `all`, unless the request pins it with `name=VERSION`. Like apt, only
//!   candidates are considered: a dependency the candidate does not satisfy
//!   is not satisfied by an older version.
//! - `Pre-Depends` and `Depends` are followed depth-first in the order they
//!   are written, like apt's `MarkInstall`; `Recommends` only when asked, and
//!   an uninstallable recommendation is skipped.
//! - An alternative group (`a | b`) is satisfied if any of its alternatives
//!   (or a provider of one) is already selected or excluded. Otherwise the
//!   options are, in order, each alternative's real package and then its
//!   providers, and the first one that can be installed (with all of its own
//!   dependencies) wins, except that names listed in `prefer` come first, then
//!   the built-in preferences below.
//! - Providers of one virtual name are ordered: `prefer`, built-in table,
//!   `Essential: yes`, `Priority` (required, important, standard, optional,
//!   extra), then name. An unversioned `Provides` never satisfies a versioned
//!   dependency; `Provides: foo (= 1.2)` satisfies `foo (>= 1.0)`.
//! - `pkg:any` is only satisfied by `Multi-Arch: allowed` packages (as in
//!   apt); `pkg:native` and `pkg:ARCH` by packages of that architecture
//!   (`all` counts as native).
//! - Excluded packages are never selected and their dependencies are not
//!   followed, but any dependency on them, or on a name they provide, is
//!   satisfied, whatever its version constraint.
//! - `Conflicts` and `Breaks` within the selected set are errors that show
//!   why each of the two packages is in.
//! - Request entries may be the patterns `?essential` (every
//!   `Essential: yes` package) and `?priority(LEVEL)` (every package of that
//!   exact priority); excluded packages are left out of pattern matches.
//!
//! # Built-in preferences
//!
//! When no alternative is selected yet and `prefer` says nothing, these pairs
//! override apt's first-alternative rule:
//!
//! | preferred | over | why |
//! |---|---|---|
//! | `usr-is-merged` | `usrmerge` | `usrmerge` pulls perl into the image |
//!
//! The result is a pure function of the index (including its order, which
//! only breaks ties between identical versions) and the request.
//!
//! # Upgrading an image
//!
//! [`upgrade()`] moves packages of an existing image, like
//! `apt-get install --only-upgrade NAMES` on the installed system. It takes
//! the index and an [`UpgradeRequest`] (the [`Installed`] packages, the
//! names to move, optionally pinned with a version, and the image's
//! exclusions), and returns an [`Upgrade`]: the [`Change`]s, each with its
//! [`Reason`], and the packages added, both sorted by name.
//!
//! - Each requested name must be installed; it moves to its candidate (as
//!   above) or its pinned version. A target not newer than the installed
//!   version is no change; a pin older than it is an error (no downgrades).
//!   Pinning the installed version holds a package.
//! - Every new version's `Pre-Depends` and `Depends` (not `Recommends`) must
//!   hold in the resulting set: installed packages at their installed
//!   version, moving ones at their new version, added ones, their
//!   `Provides`, and excluded names, with the Multi-Arch and versioned
//!   `Provides` rules above. Otherwise, trying the alternatives in order, an
//!   installed package whose candidate satisfies it moves to that candidate
//!   (by name first, then a provider); else the first installable
//!   alternative is installed fresh with its closure, by [`resolve`]'s rules.
//!   Added packages are checked the same way.
//! - An installed package whose own `Pre-Depends` or `Depends` held before
//!   and no longer holds after the moves (`gcc-12-base (= 12.2.0-14)` when
//!   `gcc-12-base` moves on) moves to its candidate, or the upgrade fails.
//! - `Conflicts` and `Breaks` of new and added packages against the
//!   resulting set, and of installed packages against new and added ones,
//!   are errors that show why each of the two packages is there.

use std::collections::HashMap;
use std::fmt;

use bulwark_deb::relation::{Dependency, RelationError};
use bulwark_repo::{AvailablePackage, PackageIndex};

mod solver;
mod tables;
mod upgrade;

pub use upgrade::{upgrade, Change, Installed, Reason, Upgrade, UpgradeRequest};

/// Alternatives that override apt's first-alternative rule:
/// `(preferred, over, why)`.
pub const BUILTIN_PREFERENCES: &[(&str, &str, &str)] =
    &[("usr-is-merged", "usrmerge", "usrmerge pulls perl")];

/// What to resolve.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The Debian architecture, e.g. `amd64`.
    pub architecture: &'a str,
    /// Packages to install (`name` or `name=VERSION`), or the patterns
    /// `?essential` and `?priority(LEVEL)`.
    pub packages: &'a [bulwark_spec::PackageRequest],
    /// Packages never installed that still satisfy dependencies on them.
    pub exclude: &'a [bulwark_spec::Exclusion],
    /// Names preferred when choosing among alternatives or providers.
    pub prefer: &'a [String],
    /// Follow `Recommends` too.
    pub recommends: bool,
}

/// Why a resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A requested name is neither a package nor provided by one.
    #[error("unknown package `{name}`{}", did_you_mean(.suggestions))]
    UnknownPackage {
        /// The requested name.
        name: String,
        /// Close names that do exist.
        suggestions: Vec<String>,
    },
    /// A pinned version is not in any repository.
    #[error("package `{name}` has no version `{version}`; available: {}", list_or_none(.available))]
    VersionNotFound {
        /// The package.
        name: String,
        /// The pinned version.
        version: String,
        /// The versions the repositories have, highest first.
        available: Vec<String>,
    },
    /// A requested virtual name has several providers and `prefer` names none.
    #[error(
        "`{name}` is a virtual package provided by {}; request one of them or add it to `prefer`",
        .providers.join(", ")
    )]
    AmbiguousVirtual {
        /// The virtual name.
        name: String,
        /// Its providers.
        providers: Vec<String>,
    },
    /// A request pattern is not supported.
    #[error(
        "unsupported package pattern `{0}`; supported: `?essential`, `?priority(required|important|standard|optional|extra)`"
    )]
    UnknownPattern(String),
    /// A package is both requested and excluded.
    #[error("`{0}` is both requested and excluded")]
    RequestedAndExcluded(String),
    /// A hard dependency cannot be satisfied.
    #[error("unsatisfiable dependency: {chain}: {reason}")]
    Unsatisfiable {
        /// The first alternative of the failing dependency.
        package: String,
        /// From the requested package down to the failing dependency,
        /// joined by ` → `.
        chain: String,
        /// Why no alternative fits.
        reason: String,
    },
    /// Two selected packages conflict.
    #[error(transparent)]
    Conflict(Box<Conflict>),
    /// A package to upgrade is not installed (but the index has it).
    #[error("`{0}` is not installed in the image")]
    NotInstalled(String),
    /// A package to upgrade is listed twice with different versions.
    #[error("`{0}` is requested more than once, with different versions")]
    UpgradeRequestedTwice(String),
    /// An installed package to upgrade has no candidate in the index.
    #[error(
        "`{name}` {installed} is installed, but no repository has `{name}` for {architecture}"
    )]
    NoCandidate {
        /// The package.
        name: String,
        /// Its installed version.
        installed: String,
        /// The image's architecture.
        architecture: String,
    },
    /// A pinned version is older than the installed one.
    #[error("`{name}` {installed} is installed; `{name}={requested}` would downgrade it")]
    Downgrade {
        /// The package.
        name: String,
        /// Its installed version.
        installed: String,
        /// The pinned version.
        requested: String,
    },
    /// A move breaks a dependency of an installed package that has no newer
    /// version.
    #[error(transparent)]
    BreaksInstalled(Box<BrokenDependency>),
    /// A selected package has a malformed relation field.
    #[error("package `{package}` {version}: invalid `{field}`: {source}")]
    Relation {
        /// The package.
        package: String,
        /// Its version.
        version: String,
        /// The field.
        field: &'static str,
        /// The parse error.
        source: RelationError,
    },
}

/// Two selected packages that conflict, with why each is in.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{package}` {field} `{relation}`, which `{other}` {other_version} matches; `{package}`: {package_chain}; `{other}`: {other_chain}"
)]
pub struct Conflict {
    /// The package declaring the conflict.
    pub package: String,
    /// `Conflicts` or `Breaks`.
    pub field: &'static str,
    /// The relation as written.
    pub relation: String,
    /// The package it hits.
    pub other: String,
    /// Its version.
    pub other_version: String,
    /// Why `package` is in, as a one-line chain.
    pub package_chain: String,
    /// Why `other` is in, as a one-line chain.
    pub other_chain: String,
}

/// An installed package whose dependency a move breaks, with no newer
/// version to move it to.
#[derive(Debug, thiserror::Error)]
#[error(
    "moving `{changed}` to {new_version} breaks `{package}` {version} ({field}: {dependency}), and no newer `{package}` is available; `{changed}`: {chain}"
)]
pub struct BrokenDependency {
    /// The moving package.
    pub changed: String,
    /// The version it moves to.
    pub new_version: String,
    /// The installed package it breaks.
    pub package: String,
    /// Its installed version.
    pub version: String,
    /// The field of the broken dependency.
    pub field: Field,
    /// The broken dependency.
    pub dependency: String,
    /// Why `changed` moves, as a one-line chain.
    pub chain: String,
}

fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        s => format!(
            "; did you mean {}?",
            s.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn list_or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}

/// The dependency field an edge comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `Pre-Depends`.
    PreDepends,
    /// `Depends`.
    Depends,
    /// `Recommends`.
    Recommends,
}

impl Field {
    /// The field name as in control files.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::PreDepends => "Pre-Depends",
            Field::Depends => "Depends",
            Field::Recommends => "Recommends",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an option was taken for a dependency with several possible packages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChoiceReason {
    /// An alternative was already selected.
    AlreadySelected,
    /// An alternative is excluded, which satisfies the dependency.
    Excluded,
    /// Listed in the request's `prefer`.
    Preferred,
    /// The built-in preference table; the text says why.
    BuiltIn(&'static str),
    /// apt's rule: the first alternative that can be installed.
    FirstInstallable,
    /// Several packages provide the name; ordered by `Essential`,
    /// `Priority` and name.
    ProviderPriority,
}

impl fmt::Display for ChoiceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChoiceReason::AlreadySelected => f.write_str("already selected"),
            ChoiceReason::Excluded => f.write_str("excluded, counts as satisfied"),
            ChoiceReason::Preferred => f.write_str("listed in `prefer`"),
            ChoiceReason::BuiltIn(why) => write!(f, "built-in preference: {why}"),
            ChoiceReason::FirstInstallable => f.write_str("first installable alternative"),
            ChoiceReason::ProviderPriority => {
                f.write_str("provider with the highest Essential/Priority, then name")
            }
        }
    }
}

/// The choice made for a dependency with several possible packages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The package that satisfies the dependency.
    pub chosen: String,
    /// Why it was chosen.
    pub reason: ChoiceReason,
    /// Options tried before it that could not be installed.
    pub skipped: Vec<String>,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chose {} ({}", self.chosen, self.reason)?;
        if !self.skipped.is_empty() {
            write!(f, "; not installable: {}", self.skipped.join(", "))?;
        }
        f.write_str(")")
    }
}

/// A dependency of `parent` that a package satisfies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The depending package.
    pub parent: String,
    /// The field the dependency is in.
    pub field: Field,
    /// The dependency (with all its alternatives), rendered the Debian way.
    pub dependency: String,
    /// The choice made, when the dependency offered several packages.
    pub choice: Option<Choice>,
}

impl fmt::Display for Edge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.parent, self.field, self.dependency)?;
        if let Some(choice) = &self.choice {
            write!(f, " → {choice}")?;
        }
        Ok(())
    }
}

/// One package of the resolution.
#[derive(Clone, Debug)]
pub struct Selected {
    /// The package.
    pub package: AvailablePackage,
    /// Whether the request named it (directly or through a pattern).
    pub requested: bool,
    /// The dependencies it satisfies, the one that pulled it in first.
    pub pulled_by: Vec<Edge>,
}

impl Selected {
    /// The package name.
    pub fn name(&self) -> &str {
        self.package.name()
    }
}

/// An excluded package that something depended on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExcludedUse {
    /// The excluded package.
    pub name: String,
    /// The reason given in the request.
    pub reason: Option<String>,
    /// The dependencies it was taken to satisfy.
    pub depended_on_by: Vec<Edge>,
}

/// The outcome of [`resolve`].
#[derive(Clone, Debug)]
pub struct Resolution {
    packages: Vec<Selected>,
    excluded: Vec<ExcludedUse>,
    by_name: HashMap<String, usize>,
}

impl Resolution {
    /// The selected packages, sorted by name.
    pub fn packages(&self) -> &[Selected] {
        &self.packages
    }

    /// The excluded packages something depended on, sorted by name.
    pub fn excluded(&self) -> &[ExcludedUse] {
        &self.excluded
    }

    /// The selected package `name`.
    pub fn get(&self, name: &str) -> Option<&Selected> {
        self.by_name.get(name).map(|&i| &self.packages[i])
    }

    /// Why `name` is in the image (or, for an excluded package, what
    /// depended on it): the chain of first edges from a requested package.
    pub fn explain(&self, name: &str) -> Option<Explanation> {
        let (version, excluded, first) = match self.get(name) {
            Some(s) => (
                Some(s.package.version().to_string()),
                false,
                s.pulled_by.first(),
            ),
            None => {
                let e = self.excluded.iter().find(|e| e.name == name)?;
                (None, true, e.depended_on_by.first())
            }
        };
        let mut steps = Vec::new();
        let mut next = first;
        let mut seen = std::collections::HashSet::new();
        let mut root = name.to_string();
        if let Some(s) = self.get(name) {
            if s.requested {
                next = None;
            }
        }
        while let Some(edge) = next {
            if !seen.insert(edge.parent.clone()) {
                break;
            }
            steps.push(edge.clone());
            root = edge.parent.clone();
            next = match self.get(&edge.parent) {
                Some(p) if !p.requested => p.pulled_by.first(),
                _ => None,
            };
        }
        steps.reverse();
        Some(Explanation {
            name: name.to_string(),
            version,
            excluded,
            requested: root,
            steps,
        })
    }

    /// The one-line chain used in conflict errors.
    fn chain_line(&self, name: &str) -> String {
        match self.explain(name) {
            Some(e) => {
                let mut parts = vec![format!("requested {}", e.requested)];
                parts.extend(
                    e.steps
                        .iter()
                        .map(|s| format!("{} {}: {}", s.parent, s.field, s.dependency)),
                );
                parts.join(" → ")
            }
            None => "not selected".to_string(),
        }
    }
}

/// Why a package is in the image; [`Display`](fmt::Display) renders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The package explained.
    pub name: String,
    /// Its version, when selected.
    pub version: Option<String>,
    /// Whether it is excluded (depended on, but not in the image).
    pub excluded: bool,
    /// The requested package the chain starts from.
    pub requested: String,
    /// The edges from the requested package down to `name`.
    pub steps: Vec<Edge>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.version, self.excluded) {
            (_, true) => writeln!(f, "{} is excluded, but depended on because:", self.name)?,
            (Some(v), false) => writeln!(f, "{} {v} is in the image because:", self.name)?,
            (None, false) => writeln!(f, "{} is in the image because:", self.name)?,
        }
        write!(f, "  requested: {}", self.requested)?;
        for step in &self.steps {
            write!(f, "\n  {step}")?;
        }
        Ok(())
    }
}

/// Resolves `request` against `index`; see the [crate docs](crate) for the
/// rules.
pub fn resolve(index: &PackageIndex, request: &Request<'_>) -> Result<Resolution, Error> {
    solver::solve(index, request)
}

/// Parsed dependency fields of one candidate.
pub(crate) struct Deps {
    pub(crate) hard: Vec<(Field, Dependency)>,
    pub(crate) recommends: Vec<Dependency>,
}

#[cfg(test)]
mod tests;
