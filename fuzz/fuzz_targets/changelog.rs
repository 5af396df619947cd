//! Debian changelogs: parsing never panics, entries borrow from the input,
//! and every CVE id found between two versions looks like one.
#![no_main]
use bulwark_deb::{changelog, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let range = text.as_ptr() as usize..=text.as_ptr() as usize + text.len();
    for entry in changelog::entries(text) {
        for part in [entry.source, entry.version, entry.distributions, entry.body] {
            assert!(range.contains(&(part.as_ptr() as usize)));
            assert!(range.contains(&(part.as_ptr() as usize + part.len())));
        }
    }
    let installed = Version::parse("1.0-1").unwrap();
    let new = Version::parse("2:99.0-1").unwrap();
    for id in changelog::cves_between(text, &installed, &new) {
        assert!(id.starts_with("CVE-"), "`{id}` is not a CVE id");
    }
});
