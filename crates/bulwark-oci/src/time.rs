//! RFC 3339 formatting of epoch seconds.

/// Formats seconds since the Unix epoch as an RFC 3339 UTC timestamp
/// (`1970-01-01T00:00:00Z`).
pub fn rfc3339(secs: u64) -> String {
    // RFC 3339 has four-digit years: later instants are clamped to its end.
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::MAX);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn agrees_with_date() {
        // `date -u -d @N` is GNU coreutils; compare a spread of instants.
        for epoch in [1u64, 86_399, 1_234_567_890, 1_709_251_200, 2_000_000_000] {
            let out = std::process::Command::new("date")
                .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%dT%H:%M:%SZ"])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8(out.stdout).unwrap().trim(),
                rfc3339(epoch)
            );
        }
    }
}
