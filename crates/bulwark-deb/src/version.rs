//! Debian version numbers and their ordering, per deb-version(7).
//!
//! A version is `[epoch:]upstream[-revision]`. The epoch is the digits before
//! the first `:`, the revision is what follows the last `-`. Ordering compares
//! the epoch numerically, then the upstream part, then the revision, each with
//! dpkg's `verrevcmp`: alternating non-digit runs (compared character by
//! character, where `~` sorts before everything, even the end of the string,
//! and letters sort before non-letters) and digit runs (compared numerically,
//! without any limit on their length).
//!
//! [`compare`] orders two version strings without allocating; [`Version`]
//! keeps a parsed, validated version.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Why a version string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid version `{version}`: {reason}")]
pub struct VersionError {
    /// The rejected text.
    pub version: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A parsed Debian version.
///
/// Equality and hashing follow the ordering: `1.0`, `0:1.0`, `1.00` and
/// `1.0-0` are all equal, as `dpkg --compare-versions` says they are.
/// [`Display`](fmt::Display) and [`as_str`](Version::as_str) give the text as
/// written.
#[derive(Clone)]
pub struct Version {
    text: Box<str>,
    epoch: u32,
    /// Byte offset where the upstream part starts (after the epoch colon).
    upstream_start: u32,
    /// Byte offset where the upstream part ends (the revision's `-`, or the end).
    upstream_end: u32,
}

impl Version {
    /// Parses `text` (surrounding whitespace is ignored).
    ///
    /// Like dpkg, this rejects an empty version, an epoch that is not a
    /// number (or is larger than `i32::MAX`), an empty upstream part, an
    /// empty revision, embedded whitespace, and characters outside
    /// `[A-Za-z0-9.+~-:]` (upstream) or `[A-Za-z0-9.+~]` (revision). An
    /// upstream part that does not start with a digit is accepted, as dpkg
    /// accepts it with a warning.
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        let text = text.trim();
        let err = |reason| VersionError {
            version: text.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(err("version string is empty"));
        }
        if text.len() > u32::MAX as usize {
            return Err(err("version string is too long"));
        }
        if text.contains(char::is_whitespace) {
            return Err(err("version string has embedded spaces"));
        }
        let (epoch, upstream_start) = match text.find(':') {
            Some(colon) => {
                let digits = &text[..colon];
                if digits.is_empty() {
                    return Err(err("epoch in version is empty"));
                }
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err("epoch in version is not number"));
                }
                let epoch = digits
                    .parse::<u32>()
                    .ok()
                    .filter(|e| *e <= i32::MAX as u32)
                    .ok_or_else(|| err("epoch in version is too big"))?;
                if colon + 1 == text.len() {
                    return Err(err("nothing after colon in version number"));
                }
                (epoch, colon + 1)
            }
            None => (0, 0),
        };
        let upstream_end = match text[upstream_start..].rfind('-') {
            Some(i) => {
                let hyphen = upstream_start + i;
                if hyphen + 1 == text.len() {
                    return Err(err("revision number is empty"));
                }
                hyphen
            }
            None => text.len(),
        };
        let upstream = &text[upstream_start..upstream_end];
        if upstream.is_empty() {
            return Err(err("version number is empty"));
        }
        if !upstream
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-+~:".contains(&b))
        {
            return Err(err("invalid character in version number"));
        }
        let revision = &text[(upstream_end + 1).min(text.len())..];
        if !revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b))
        {
            return Err(err("invalid character in revision number"));
        }
        // Lengths were checked against u32::MAX above.
        Ok(Version {
            text: text.into(),
            epoch,
            upstream_start: upstream_start as u32,
            upstream_end: upstream_end as u32,
        })
    }

    /// The version as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The epoch; 0 when absent.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The upstream part, between the epoch and the revision.
    pub fn upstream(&self) -> &str {
        &self.text[self.upstream_start as usize..self.upstream_end as usize]
    }

    /// The Debian revision, after the last `-`; `None` for native versions.
    pub fn revision(&self) -> Option<&str> {
        let end = self.upstream_end as usize;
        (end < self.text.len()).then(|| &self.text[end + 1..])
    }

    fn revision_or_empty(&self) -> &str {
        self.revision().unwrap_or("")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({:?})", &*self.text)
    }
}

impl std::str::FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream().as_bytes(), other.upstream().as_bytes()))
            .then_with(|| {
                verrevcmp(
                    self.revision_or_empty().as_bytes(),
                    other.revision_or_empty().as_bytes(),
                )
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.epoch.hash(state);
        hash_part(self.upstream().as_bytes(), state);
        hash_part(self.revision_or_empty().as_bytes(), state);
    }
}

/// Hashes the canonical form of a version part: the sequence of
/// (non-digit run, digit run without leading zeros) pairs, leaving out a pair
/// where both are empty. Two parts hash alike when [`verrevcmp`] says they
/// are equal.
fn hash_part<H: Hasher>(s: &[u8], state: &mut H) {
    let mut i = 0;
    while i < s.len() {
        let start = i;
        while i < s.len() && !s[i].is_ascii_digit() {
            i += 1;
        }
        let non_digit = &s[start..i];
        while i < s.len() && s[i] == b'0' {
            i += 1;
        }
        let digits_start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[digits_start..i];
        if !non_digit.is_empty() || !digits.is_empty() {
            state.write(non_digit);
            state.write_u8(0xff);
            state.write(digits);
            state.write_u8(0xfe);
        }
    }
    state.write_u8(0xfd);
}

/// Compares two version strings the way `dpkg --compare-versions` does,
/// without allocating.
///
/// Malformed strings are compared too, as dpkg compares versions it only
/// warns about; the epoch of a string whose text before the first `:` is not
/// a number is taken as part of the upstream version.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ae, au, ar) = split(a);
    let (be, bu, br) = split(b);
    compare_digits(ae.as_bytes(), be.as_bytes())
        .then_with(|| verrevcmp(au.as_bytes(), bu.as_bytes()))
        .then_with(|| verrevcmp(ar.as_bytes(), br.as_bytes()))
}

/// Splits into (epoch digits, upstream, revision); absent parts are empty.
fn split(v: &str) -> (&str, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if e.bytes().all(|b| b.is_ascii_digit()) => (e, rest),
        _ => ("", v),
    };
    match rest.rsplit_once('-') {
        Some((u, r)) => (epoch, u, r),
        None => (epoch, rest, ""),
    }
}

/// Compares two digit strings numerically, however long they are.
fn compare_digits(a: &[u8], b: &[u8]) -> Ordering {
    fn strip(s: &[u8]) -> &[u8] {
        let zeros = s.iter().take_while(|&&c| c == b'0').count();
        &s[zeros..]
    }
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The weight of a character in a non-digit run; `None` is the end.
fn order(c: Option<&u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(*c),
        Some(c) => i32::from(*c) + 256,
    }
}

/// dpkg's `verrevcmp`, for one part of a version.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while a.get(i).is_some_and(|c| !c.is_ascii_digit())
            || b.get(j).is_some_and(|c| !c.is_ascii_digit())
        {
            let (ac, bc) = (order(a.get(i)), order(b.get(j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            // Equal weights here mean both are non-digit characters, so
            // neither index is at the end.
            i += 1;
            j += 1;
        }
        fn digits(s: &[u8], mut k: usize) -> (&[u8], usize) {
            let start = k;
            while s.get(k).is_some_and(u8::is_ascii_digit) {
                k += 1;
            }
            (&s[start..k], k)
        }
        let (ad, ni) = digits(a, i);
        let (bd, nj) = digits(b, j);
        let ord = compare_digits(ad, bd);
        if ord != Ordering::Equal {
            return ord;
        }
        i = ni;
        j = nj;
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn dpkg_available() -> bool {
        Command::new("dpkg")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn dpkg_cmp(a: &str, b: &str) -> Ordering {
        let op = |op: &str| {
            Command::new("dpkg")
                .args(["--compare-versions", a, op, b])
                .status()
                .unwrap()
                .success()
        };
        if op("lt") {
            Ordering::Less
        } else if op("eq") {
            Ordering::Equal
        } else {
            assert!(op("gt"), "dpkg says neither lt, eq nor gt for {a} {b}");
            Ordering::Greater
        }
    }

    #[test]
    fn classic_cases() {
        let ordered = [
            "1.0~rc1", "1.0", "1.0a", "1.0+", "1.0+b1", "1:0.1", "1:9.9", "2:1.0",
        ];
        for w in ordered.windows(2) {
            assert!(v(w[0]) < v(w[1]), "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Ordering::Greater);
        }
        assert!(v("1.0a") < v("1.0+"));
        assert!(v("3.0.14-1~deb12u1") < v("3.0.14-1"));
        assert!(v("1.0~~") < v("1.0~"));
        assert!(v("1.0~") < v("1.0"));
        assert_eq!(v("1.0"), v("0:1.0"));
        assert_eq!(v("1.0"), v("1.00"));
        assert_eq!(v("1.0"), v("1.0-0"));
        assert_eq!(compare("1.0", "0:1.0"), Ordering::Equal);
        assert!(v("1.10") > v("1.9"));
        // Digit runs far beyond u64 must not overflow.
        let big = "1.123456789012345678901234567890";
        assert!(v(big) > v("1.99999999999999999999"));
        assert_eq!(v(big), v("1.000123456789012345678901234567890"));
    }

    #[test]
    fn parts() {
        let x = v("1:2.38.1-5+b1");
        assert_eq!(x.epoch(), 1);
        assert_eq!(x.upstream(), "2.38.1");
        assert_eq!(x.revision(), Some("5+b1"));
        assert_eq!(x.to_string(), "1:2.38.1-5+b1");
        let y = v("1:2:3-a-b");
        assert_eq!(
            (y.epoch(), y.upstream(), y.revision()),
            (1, "2:3-a", Some("b"))
        );
        let z = v("20230311");
        assert_eq!(
            (z.epoch(), z.upstream(), z.revision()),
            (0, "20230311", None)
        );
        assert_eq!(v(" 1.0 ").as_str(), "1.0");
    }

    #[test]
    fn rejects_what_dpkg_rejects() {
        for bad in [
            "",
            "  ",
            ":1.0",
            "a:1.0",
            "-1:1.0",
            "1:",
            "1.0-",
            "1 .0",
            "1.0_1",
            "1.0-a:b",
            "1.0-a-",
            "99999999999:1.0",
            "1.0/2",
            "-1",
        ] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        // dpkg only warns about these.
        for ok in ["a1.0", "1.0-a.b", "1:1.0-2:3-4", "0:0"] {
            assert!(Version::parse(ok).is_ok(), "{ok:?} should be accepted");
        }
        let e = Version::parse("1.0_1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid version `1.0_1`: invalid character in version number"
        );
    }

    #[test]
    fn hash_agrees_with_eq() {
        use std::collections::hash_map::DefaultHasher;
        let h = |s: &str| {
            let mut hasher = DefaultHasher::new();
            v(s).hash(&mut hasher);
            hasher.finish()
        };
        for (a, b) in [
            ("1.0", "0:1.0"),
            ("1.0", "1.00"),
            ("1.0", "1.0-0"),
            ("1a", "1a0"),
            ("01.02-03", "1.2-3"),
        ] {
            assert_eq!(v(a), v(b));
            assert_eq!(h(a), h(b), "{a} {b}");
        }
        assert_ne!(h("1.0"), h("1.0.0"));
    }

    #[test]
    fn sorted_real_versions_agree_with_dpkg() {
        if !dpkg_available() {
            return;
        }
        let mut versions = vec![
            "2.36-9+deb12u10",
            "2.36-9+deb12u9",
            "2.36-9",
            "3.0.15-1~deb12u1",
            "3.0.14-1~deb12u1",
            "3.0.14-1",
            "1:2.38.1-5+b1",
            "2.38.1-5",
            "1:2.38.1-5",
            "2025a-0+deb12u1",
            "2024b-0+deb12u1",
            "20230311",
            "1.3.4.20200120-3.1",
            "12.2.0-14+deb12u1",
            "1:9.2p1-2+deb12u3",
            "1:9.2p1-2",
            "3.11.2-6+deb12u1",
            "3.11.2-6",
            "5.36.0-7+deb12u1",
            "1.5.82",
            "20230311~deb12u1",
            "1.0~rc1",
            "1.0",
            "0.9.9~beta+dfsg",
            "0.9.9+dfsg",
            "2:8.2.3995-1+deb12u2",
            "1.2.13.dfsg-1",
            "1.2.13.dfsg-1+b1",
        ];
        versions.sort_by_key(|a| v(a));
        for (i, a) in versions.iter().enumerate() {
            for b in &versions[i..] {
                assert_eq!(compare(a, b), dpkg_cmp(a, b), "{a} vs {b}");
            }
        }
    }

    /// Realistic version strings: optional epoch, upstream of digit runs and
    /// separators, optional revision.
    fn version_strategy() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            3 => "[0-9]{1,3}",
            1 => "0[0-9]{0,2}",
            1 => "[a-z]{1,2}",
            2 => "[.+~]",
        ];
        let upstream = ("[0-9]{1,3}", prop::collection::vec(piece.clone(), 0..6))
            .prop_map(|(head, rest)| head + &rest.concat());
        let revision = prop::collection::vec(piece, 1..5).prop_map(|p| p.concat());
        (
            prop::option::of("[0-3]"),
            upstream,
            prop::option::of(revision),
        )
            .prop_map(|(epoch, upstream, revision)| {
                let mut s = String::new();
                if let Some(e) = epoch {
                    s.push_str(&e);
                    s.push(':');
                }
                s.push_str(&upstream);
                if let Some(r) = revision {
                    s.push('-');
                    s.push_str(&r);
                }
                s
            })
    }

    /// A pair that often shares a prefix, so the interesting positions get
    /// compared.
    fn pair_strategy() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            (version_strategy(), version_strategy()),
            (version_strategy(), "[0-9a-z.+~]{0,3}").prop_map(|(a, tail)| {
                let b = format!("{a}{tail}");
                (a, b)
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 300,
            failure_persistence: None,
            rng_algorithm: prop::test_runner::RngAlgorithm::ChaCha,
            rng_seed: prop::test_runner::RngSeed::Fixed(0x0062_756c_7761_726b),
            ..ProptestConfig::default()
        })]
        #[test]
        fn agrees_with_dpkg((a, b) in pair_strategy()) {
            prop_assert!(dpkg_available(), "dpkg is needed to check version ordering");
            let expected = dpkg_cmp(&a, &b);
            prop_assert_eq!(compare(&a, &b), expected, "{} vs {}", a, b);
            let (va, vb) = (Version::parse(&a), Version::parse(&b));
            if let (Ok(va), Ok(vb)) = (va, vb) {
                prop_assert_eq!(va.cmp(&vb), expected, "{} vs {}", a, b);
                prop_assert_eq!(va == vb, expected == Ordering::Equal);
            }
        }
    }
}
