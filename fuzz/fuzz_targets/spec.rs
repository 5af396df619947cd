//! Specs: parsing arbitrary YAML never panics, and YAML built from anchors,
//! aliases and nesting never gets past the limits: what loads holds no more
//! text than `MAX_EXPANDED_BYTES`. (Run with `-rss_limit_mb` and `-timeout`
//! to catch an expansion that costs memory or time before it is refused.)
//!
//! The first byte picks the input: the rest as YAML text, or the rest as
//! operations of a generator of alias-heavy specs (see [`alias_spec`]).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = if mode & 1 == 0 {
        match std::str::from_utf8(rest) {
            Ok(t) => t.to_string(),
            Err(_) => return,
        }
    } else {
        alias_spec(mode, rest)
    };
    let env = |name: &str| (name == "MIRROR").then(|| "http://mirror.invalid/debian".to_string());
    let Ok(spec) = bulwark_spec::Spec::parse(&text, std::path::Path::new("fuzz.yaml"), &env) else {
        return;
    };
    let held: usize = spec
        .cmd
        .iter()
        .chain(&spec.entrypoint)
        .chain(&spec.prefer)
        .chain(spec.environment.values())
        .map(String::len)
        .sum();
    assert!(held as u64 <= bulwark_spec::MAX_EXPANDED_BYTES);
});

/// A spec whose `cmd` (a key of strings, so that what the aliases expand to
/// is kept) or an unknown key (refused, but only after the YAML is read)
/// is a list built from `ops`, two bytes per item:
///
/// - an anchored scalar of up to 16 KiB;
/// - an anchored list of up to 16 aliases of an earlier anchor (chains of
///   these are the billion laughs);
/// - an alias of an earlier anchor, alone or under up to 63 brackets;
/// - plain nesting, up to 255 brackets deep, open or closed.
fn alias_spec(mode: u8, ops: &[u8]) -> String {
    let key = if mode & 2 == 0 { "cmd" } else { "x-unknown" };
    let mut out = format!("name: x\nrepositories: host\npackages: [a1]\n{key}:\n");
    let mut anchors = 0usize;
    for op in ops.chunks(2) {
        let (kind, arg) = (op[0], usize::from(op.get(1).copied().unwrap_or(0)));
        match kind % 5 {
            0 => {
                out.push_str(&format!("  - &a{anchors} {}\n", "x".repeat(arg * 64 + 1)));
                anchors += 1;
            }
            1 if anchors > 0 => {
                let refs = vec![format!("*a{}", arg % anchors); arg % 16 + 1];
                out.push_str(&format!("  - &a{anchors} [{}]\n", refs.join(", ")));
                anchors += 1;
            }
            2 if anchors > 0 => out.push_str(&format!("  - *a{}\n", arg % anchors)),
            3 if anchors > 0 => {
                let d = arg % 64;
                out.push_str(&format!(
                    "  - {}*a{}{}\n",
                    "[".repeat(d),
                    arg % anchors,
                    "]".repeat(d)
                ));
            }
            4 => {
                let close = if kind & 0x80 == 0 {
                    "]".repeat(arg)
                } else {
                    String::new()
                };
                out.push_str(&format!("  - {}x{close}\n", "[".repeat(arg)));
            }
            _ => out.push_str("  - x\n"),
        }
    }
    out
}
