//! Specs: parsing arbitrary YAML never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "MIRROR").then(|| "http://mirror.invalid/debian".to_string());
    let _ = bulwark_spec::Spec::parse(text, std::path::Path::new("fuzz.yaml"), &env);
});
