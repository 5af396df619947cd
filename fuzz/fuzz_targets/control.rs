//! Control paragraphs: parsing never panics, and every field of a parsed
//! paragraph can be looked up again by name.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for paragraph in bulwark_deb::control::paragraphs(text) {
        let Ok((range, p)) = paragraph else { break };
        assert!(range.end <= text.len());
        for (name, _) in p.fields() {
            assert!(p.get(name).is_some(), "field `{name}` not found again");
        }
    }
});
