//! OpenVEX input (`scan --vex`): parsing arbitrary bytes never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bulwark_vuln::parse_openvex(data, std::path::Path::new("fuzz.vex.json"));
});
