//! Dependency relations: parsing never panics, and what parses renders to
//! text that parses to the same relations.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(deps) = bulwark_deb::relation::parse(text) {
        let rendered: Vec<String> = deps
            .iter()
            .map(|d| {
                d.alternatives
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect();
        let again = bulwark_deb::relation::parse(&rendered.join(", "))
            .expect("rendered relations parse again");
        assert_eq!(deps.len(), again.len());
    }
    let _ = bulwark_deb::relation::parse_provides(text);
});
