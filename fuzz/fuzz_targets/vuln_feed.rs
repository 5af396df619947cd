//! Vulnerability feeds: importing any file (OSV JSON, a record array, Debian
//! Security Tracker JSON, a zip or tar of them) never panics, and what does
//! import can be saved, reopened and scanned.
#![no_main]
use libfuzzer_sys::fuzz_target;

mod feed;

fuzz_target!(|data: &[u8]| {
    feed::import("feed", data);
});
