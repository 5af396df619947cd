//! Bounds on what a spec may cost to read: the file's size and kind, and
//! the YAML's nesting depth, node count and alias expansion, each checked in
//! time linear in the text and memory independent of what aliases would
//! expand to.
//!
//! The YAML is first walked as events by `saphyr-parser` (which holds its
//! flow nesting to 255 levels, so deep `[[[[…` costs linear time), counting
//! nodes and text as aliases would expand them; `serde_norway`, whose
//! libyaml scanner is quadratic in flow nesting and whose deserializer
//! copies every alias, only sees text that passed. A second walk through
//! `serde_norway` itself, which allocates nothing per node, applies the same
//! budget to what libyaml makes of the text, so that a disagreement between
//! the two parsers cannot let an expansion through.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use serde::de::{DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess};

/// The largest spec file accepted, in bytes (1 MiB).
pub const MAX_SPEC_BYTES: usize = 1 << 20;
/// The deepest nesting of mappings and sequences accepted, aliases expanded.
pub const MAX_DEPTH: usize = 32;
/// The most YAML nodes (scalars, mappings, sequences) a spec may hold,
/// aliases counted as the nodes they expand to.
pub const MAX_NODES: u64 = 100_000;
/// The most scalar text a spec may hold with its aliases expanded, in
/// bytes: as much as a spec file can hold without aliases.
pub const MAX_EXPANDED_BYTES: u64 = MAX_SPEC_BYTES as u64;
/// The longest annotation value accepted, in bytes (64 KiB).
pub const MAX_ANNOTATION_BYTES: usize = 64 << 10;
/// The longest environment value accepted, in bytes (32 KiB; Linux refuses
/// to start a program with one `NAME=value` over 128 KiB).
pub const MAX_ENVIRONMENT_VALUE_BYTES: usize = 32 << 10;
/// The largest `files[].source` accepted, in bytes (1 GiB): the file is
/// held in memory while the image is assembled.
pub const MAX_FILE_SOURCE_BYTES: u64 = 1 << 30;

/// When `saphyr-parser` refuses text that libyaml may still read (they
/// implement YAML 1.2 and 1.1), libyaml gets it only if it is this small,
/// nests flow collections at most this deep however it is read, and has
/// no alias.
const FALLBACK_MAX_BYTES: usize = 64 << 10;
const FALLBACK_MAX_BRACKETS: usize = 256;

/// Reads a regular file of at most `max` bytes whole, refusing a FIFO,
/// a device or a directory (see [`bulwark_oci::read_regular`]).
fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    bulwark_oci::read_regular(path, max).map_err(|err| match err {
        bulwark_oci::Error::Io { source, .. } => source,
        bulwark_oci::Error::NotAFile(_, kind) => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({kind})"),
        ),
        bulwark_oci::Error::FileTooLarge { limit, .. } => io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("larger than {limit} bytes, the limit"),
        ),
        other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
    })
}

/// Reads a spec file: a regular file of at most [`MAX_SPEC_BYTES`], UTF-8.
pub(crate) fn read_spec(path: &Path) -> io::Result<String> {
    let data = read_regular(path, MAX_SPEC_BYTES as u64)?;
    String::from_utf8(data).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

/// Checks the YAML's size, depth, node count and alias expansion before a
/// parser that would copy aliases or scan deep nesting in quadratic time
/// reads it. The error is one line, with the line where the parser was.
pub(crate) fn check_yaml(text: &str) -> Result<(), String> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(format!(
            "the spec is {} bytes, more than the limit of {MAX_SPEC_BYTES}",
            text.len()
        ));
    }
    walk_events(text)?;
    walk_serde(text)
}

/// What a node expands to: its nodes, its scalar text and its height (the
/// nesting it adds; 0 for a scalar).
#[derive(Clone, Copy, Default)]
struct Size {
    nodes: u64,
    bytes: u64,
    height: usize,
}

/// The running totals of one walk, checked against the limits.
#[derive(Default)]
struct Budget {
    nodes: u64,
    bytes: u64,
    aliases: bool,
}

impl Budget {
    /// Adds `size` at nesting `depth` (the collections around it).
    fn charge(&mut self, size: Size, depth: usize) -> Result<(), String> {
        self.nodes = self.nodes.saturating_add(size.nodes);
        self.bytes = self.bytes.saturating_add(size.bytes);
        let through = if self.aliases {
            "with its aliases expanded, "
        } else {
            ""
        };
        if depth.saturating_add(size.height) > MAX_DEPTH {
            return Err(format!(
                "{through}the YAML nests deeper than {MAX_DEPTH} levels"
            ));
        }
        if self.nodes > MAX_NODES {
            return Err(format!("{through}the YAML has more than {MAX_NODES} nodes"));
        }
        if self.bytes > MAX_EXPANDED_BYTES {
            return Err(format!(
                "{through}the YAML holds more than {MAX_EXPANDED_BYTES} bytes of text"
            ));
        }
        Ok(())
    }
}

/// One open collection of the event walk.
struct Open {
    anchor: usize,
    nodes: u64,
    bytes: u64,
    height: usize,
}

/// Walks the YAML's events with `saphyr-parser`.
fn walk_events(text: &str) -> Result<(), String> {
    use saphyr_parser::{Event, Parser};
    let mut budget = Budget::default();
    // Completed anchored nodes, by anchor id.
    let mut anchors: HashMap<usize, Size> = HashMap::new();
    let mut open: Vec<Open> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ev) => ev,
            Err(e) => return fallback(text, &e),
        };
        let at = |reason: String| {
            format!(
                "{reason} at line {} column {}",
                span.start.line(),
                span.start.col() + 1
            )
        };
        let depth = open.len();
        let leaf = match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                budget
                    .charge(
                        Size {
                            nodes: 1,
                            bytes: 0,
                            height: 1,
                        },
                        depth,
                    )
                    .map_err(at)?;
                open.push(Open {
                    anchor,
                    nodes: budget.nodes,
                    bytes: budget.bytes,
                    height: 1,
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(done) = open.pop() else { continue };
                let size = Size {
                    nodes: budget.nodes - done.nodes + 1,
                    bytes: budget.bytes - done.bytes,
                    height: done.height,
                };
                if done.anchor != 0 {
                    anchors.insert(done.anchor, size);
                }
                if let Some(parent) = open.last_mut() {
                    parent.height = parent.height.max(size.height + 1);
                }
                continue;
            }
            Event::Scalar(value, _, anchor, _) => {
                let size = Size {
                    nodes: 1,
                    bytes: value.len() as u64,
                    height: 0,
                };
                budget.charge(size, depth).map_err(at)?;
                if anchor != 0 {
                    anchors.insert(anchor, size);
                }
                size
            }
            Event::Alias(id) => {
                budget.aliases = true;
                let Some(size) = anchors.get(&id).copied() else {
                    return Err(at("an alias refers to a node that contains it".to_string()));
                };
                budget.charge(size, depth).map_err(at)?;
                size
            }
            _ => continue,
        };
        if let Some(parent) = open.last_mut() {
            parent.height = parent.height.max(leaf.height + 1);
        }
    }
    Ok(())
}

/// `saphyr-parser` refused the text. libyaml reads YAML 1.1 and may accept
/// it, and its message is the one users know; it gets the text only if the
/// text is small, cannot nest flow collections deeply and holds no alias,
/// which bounds what it may cost without the event walk's checks.
fn fallback(text: &str, e: &saphyr_parser::ScanError) -> Result<(), String> {
    let brackets = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if text.len() <= FALLBACK_MAX_BYTES && brackets <= FALLBACK_MAX_BRACKETS && !text.contains('*')
    {
        return Ok(());
    }
    let reason = match e.info() {
        "recursion limit exceeded" => format!("the YAML nests deeper than {MAX_DEPTH} levels"),
        other => other.escape_debug().to_string(),
    };
    Err(format!(
        "{reason} at line {} column {}",
        e.marker().line(),
        e.marker().col() + 1
    ))
}

/// Walks what `serde_norway` makes of the text (aliases replayed) without
/// keeping anything, under the same budget. Only a budget error is
/// reported: any other error is the typed pass's to report, in its words,
/// and stops it no later than it stopped this walk.
fn walk_serde(text: &str) -> Result<(), String> {
    let mut budget = Budget::default();
    let mut exceeded = None;
    let seed = Count {
        budget: &mut budget,
        depth: 0,
        exceeded: &mut exceeded,
    };
    let result = seed.deserialize(serde_norway::Deserializer::from_str(text));
    match (exceeded, result) {
        // The message with the position serde_norway adds.
        (Some(_), Err(e)) => Err(e.to_string()),
        (Some(reason), Ok(())) => Err(reason),
        (None, _) => Ok(()),
    }
}

/// A node of the `serde_norway` walk, at `depth` collections.
struct Count<'a> {
    budget: &'a mut Budget,
    depth: usize,
    /// Set when the budget is exceeded, to tell that error from others.
    exceeded: &'a mut Option<String>,
}

impl Count<'_> {
    fn charge<E: serde::de::Error>(&mut self, bytes: usize, height: usize) -> Result<(), E> {
        let size = Size {
            nodes: 1,
            bytes: bytes as u64,
            height,
        };
        self.budget.charge(size, self.depth).map_err(|reason| {
            *self.exceeded = Some(reason.clone());
            E::custom(reason)
        })
    }

    fn child(&mut self) -> Count<'_> {
        Count {
            budget: self.budget,
            depth: self.depth + 1,
            exceeded: self.exceeded,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Count<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Numbers and booleans are charged the one byte of text they have at
/// least, so that this walk never charges more than the event walk did.
const SHORT: usize = 1;

impl<'de> serde::de::Visitor<'de> for Count<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: serde::de::Error>(mut self, _: bool) -> Result<(), E> {
        self.charge(SHORT, 0)
    }
    fn visit_i64<E: serde::de::Error>(mut self, _: i64) -> Result<(), E> {
        self.charge(SHORT, 0)
    }
    fn visit_i128<E: serde::de::Error>(mut self, _: i128) -> Result<(), E> {
        self.charge(SHORT, 0)
    }
    fn visit_u64<E: serde::de::Error>(mut self, _: u64) -> Result<(), E> {
        self.charge(SHORT, 0)
    }
    fn visit_u128<E: serde::de::Error>(mut self, _: u128) -> Result<(), E> {
        self.charge(SHORT, 0)
    }
    fn visit_f64<E: serde::de::Error>(mut self, _: f64) -> Result<(), E> {
        self.charge(SHORT, 0)
    }
    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<(), E> {
        self.charge(v.len(), 0)
    }
    fn visit_bytes<E: serde::de::Error>(mut self, v: &[u8]) -> Result<(), E> {
        self.charge(v.len(), 0)
    }
    fn visit_unit<E: serde::de::Error>(mut self) -> Result<(), E> {
        self.charge(0, 0)
    }
    fn visit_none<E: serde::de::Error>(mut self) -> Result<(), E> {
        self.charge(0, 0)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.charge(0, 1)?;
        while seq.next_element_seed(self.child())?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.charge(0, 1)?;
        while map.next_key_seed(self.child())?.is_some() {
            map.next_value_seed(self.child())?;
        }
        Ok(())
    }
    /// A tagged node (`!tag value`): the value under its tag.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (_, variant) = data.variant_seed(TagName)?;
        variant.newtype_variant_seed(self)
    }
}

/// The tag of a tagged node, not kept.
struct TagName;

impl<'de> DeserializeSeed<'de> for TagName {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        <serde::de::IgnoredAny as serde::Deserialize>::deserialize(d).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn laughs(levels: usize) -> String {
        let mut text = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n".to_string();
        for i in 1..levels {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        text
    }

    /// The walk through serde_norway holds the budget on its own, should
    /// the event walk ever read aliases differently.
    #[test]
    fn the_serde_walk_refuses_expansion_on_its_own() {
        let e = walk_serde(&laughs(10)).unwrap_err();
        assert!(
            e.contains("more than 100000 nodes") && e.contains("line"),
            "{e}"
        );
        let long = format!("s: &s {}\nl: [*s, *s, *s]\n", "x".repeat(400_000));
        let e = walk_serde(&long).unwrap_err();
        assert!(e.contains("bytes of text"), "{e}");
        let deep = format!("d: {}x{}\n", "[".repeat(40), "]".repeat(40));
        assert!(walk_serde(&deep).unwrap_err().contains("nests deeper"));
        // What it does not own is left to the typed pass.
        assert_eq!(walk_serde("a: [b\n"), Ok(()));
        assert_eq!(walk_serde("a: !custom [b, c]\nb: !!str 1\n"), Ok(()));
        assert_eq!(walk_serde(&laughs(5)), Ok(()));
    }

    /// Text saphyr refuses reaches libyaml only when small, shallow and
    /// without aliases.
    #[test]
    fn the_fallback_is_bounded() {
        let err =
            saphyr_parser::ScanError::new_str(saphyr_parser::Marker::new(0, 3, 4), "some error");
        assert_eq!(fallback("a: b\n", &err), Ok(()));
        let e = fallback("a: *b\n", &err).unwrap_err();
        assert_eq!(e, "some error at line 3 column 5");
        assert!(fallback(&"[".repeat(FALLBACK_MAX_BRACKETS + 1), &err).is_err());
        assert!(fallback(&"#".repeat(FALLBACK_MAX_BYTES + 1), &err).is_err());
        let deep = saphyr_parser::ScanError::new_str(
            saphyr_parser::Marker::new(0, 1, 0),
            "recursion limit exceeded",
        );
        let e = fallback(&"[".repeat(300), &deep).unwrap_err();
        assert_eq!(e, "the YAML nests deeper than 32 levels at line 1 column 1");
    }

    #[test]
    fn anchors_account_for_what_they_hold() {
        assert_eq!(walk_events(&laughs(5)), Ok(()));
        let e = walk_events(&laughs(7)).unwrap_err();
        assert!(
            e.starts_with("with its aliases expanded, the YAML has more than"),
            "{e}"
        );
        assert!(e.ends_with("at line 6 column 10"), "{e}");
    }
}
