//! Registry answers: `WWW-Authenticate` challenges and token-service
//! answers never panic; a bearer challenge names an http(s) realm, and a
//! token holds nothing that could break a header line.
#![no_main]
use bulwark_registry::challenge::{self, Challenge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(Challenge::Bearer {
            realm,
            service,
            scope,
        }) = challenge::parse(text)
        {
            let lower = realm.to_ascii_lowercase();
            assert!(lower.starts_with("http://") || lower.starts_with("https://"));
            let scopes: Vec<String> = scope.into_iter().collect();
            let url = challenge::token_url(&realm, service.as_deref(), &scopes);
            assert!(!url.contains(['\r', '\n', ' ']), "{url:?}");
        }
    }
    if let Ok(answer) = challenge::parse_token_response(data) {
        assert!(answer.token.bytes().all(|b| b.is_ascii_graphic()));
    }
});
