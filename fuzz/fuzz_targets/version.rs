//! Versions: parsing and comparison never panic, and ordering is consistent
//! (antisymmetric, and `compare` agrees with `Ord`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (a, b) = text.split_once('\n').unwrap_or((text, "1.0"));
    let ord = bulwark_deb::version::compare(a, b);
    assert_eq!(ord.reverse(), bulwark_deb::version::compare(b, a));
    if let (Ok(va), Ok(vb)) = (
        bulwark_deb::Version::parse(a),
        bulwark_deb::Version::parse(b),
    ) {
        assert_eq!(va.cmp(&vb), ord);
    }
});
