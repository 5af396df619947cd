//! Vulnerability feeds: importing any file (OSV JSON, a record array, Debian
//! Security Tracker JSON, a zip or tar of them) never panics, and what does
//! import can be saved, reopened and scanned.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let feed = dir.path().join("feed");
    if std::fs::write(&feed, data).is_err() {
        return;
    }
    let Ok((db, _stats)) = bulwark_vuln::Database::import(&[feed.as_path()]) else {
        return;
    };
    let saved = dir.path().join("vuln.db");
    if db.save(&saved).is_ok() {
        let _ = bulwark_vuln::Database::open(&saved);
    }
});
