//! The typed values of a spec: file modes, owners and paths in the image.
//!
//! The spec is read as text (so that `${VAR}` expands first); each value is
//! converted into its type once, when the spec is validated, and consumers
//! never parse the text again.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A file mode: the permission bits with setuid, setgid and sticky, at most
/// `0o7777`. Written in a spec as octal text: `"0644"`, `"644"` or `"0o644"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mode(u32);

impl Mode {
    /// The mode `bits`, if they are at most `0o7777`.
    pub fn new(bits: u32) -> Option<Mode> {
        (bits <= 0o7777).then_some(Mode(bits))
    }

    /// The mode bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl FromStr for Mode {
    type Err = String;

    /// Parses octal text; the error is the reason, naming the text.
    fn from_str(s: &str) -> Result<Mode, String> {
        u32::from_str_radix(s.trim_start_matches("0o"), 8)
            .ok()
            .and_then(Mode::new)
            .ok_or_else(|| format!("`{}` is not octal", s.escape_debug()))
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A numeric owner, written in a spec as `UID:GID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
}

impl FromStr for Owner {
    type Err = String;

    /// Parses `UID:GID`; the error is the reason, naming the text.
    fn from_str(s: &str) -> Result<Owner, String> {
        s.split_once(':')
            .and_then(|(u, g)| {
                Some(Owner {
                    uid: u.parse().ok()?,
                    gid: g.parse().ok()?,
                })
            })
            .ok_or_else(|| format!("`{}` is not UID:GID", s.escape_debug()))
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

impl Serialize for Owner {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An absolute, normalized path in the image: it starts with `/`, has no
/// `.` or `..` component, no `//` and no trailing `/`, is not `/` itself and
/// holds no NUL or newline.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ImagePath(String);

impl ImagePath {
    /// The path, absolute (`/etc/app.conf`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path without its leading `/` (`etc/app.conf`), as a layer names
    /// it.
    pub fn relative(&self) -> &str {
        &self.0[1..]
    }
}

impl FromStr for ImagePath {
    type Err = String;

    /// Checks the rules of [`ImagePath`]; the error is the reason, naming
    /// the text.
    fn from_str(p: &str) -> Result<ImagePath, String> {
        let shown = p.escape_debug();
        if p.contains(['\0', '\n']) {
            return Err(format!("`{shown}` contains NUL or a newline"));
        }
        let Some(rest) = p.strip_prefix('/') else {
            return Err(format!("`{shown}` must be absolute"));
        };
        if rest.is_empty() {
            return Err("`/` itself cannot be given".into());
        }
        if rest
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(format!(
                "`{shown}` must be normalized: no `.` or `..` component, no `//`, no trailing `/`"
            ));
        }
        Ok(ImagePath(p.to_string()))
    }
}

impl fmt::Display for ImagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ImagePath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_up_to_0o7777() {
        for (text, bits) in [("0644", 0o644), ("755", 0o755), ("0o4755", 0o4755)] {
            assert_eq!(text.parse::<Mode>().unwrap().bits(), bits, "{text}");
        }
        assert_eq!("0644".parse::<Mode>().unwrap().to_string(), "0644");
        for bad in ["", "0o", "9", "0x1f", "010000", "rwx"] {
            let e = bad.parse::<Mode>().unwrap_err();
            assert!(e.contains("is not octal"), "{bad}: {e}");
        }
        assert_eq!(Mode::new(0o10000), None);
    }

    #[test]
    fn owners_are_numeric_pairs() {
        let o: Owner = "1000:42".parse().unwrap();
        assert_eq!((o.uid, o.gid), (1000, 42));
        assert_eq!(o.to_string(), "1000:42");
        for bad in ["1000", "a:b", "1:2:3", ":", "1:-1", "4294967296:0"] {
            assert!(bad.parse::<Owner>().is_err(), "{bad}");
        }
    }

    #[test]
    fn image_paths_are_absolute_and_normalized() {
        let p: ImagePath = "/etc/app.conf".parse().unwrap();
        assert_eq!(
            (p.as_str(), p.relative()),
            ("/etc/app.conf", "etc/app.conf")
        );
        for bad in [
            "", "rel", "/", "/a/", "//a", "/a/./b", "/a/../b", "/a\nb", "/a\0b",
        ] {
            assert!(bad.parse::<ImagePath>().is_err(), "{bad:?}");
        }
    }
}
