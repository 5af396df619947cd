//! .deb archives (ar + control and data tarballs): reading arbitrary bytes
//! never panics; errors are errors.
#![no_main]
use std::io::Read;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return;
    };
    if std::io::Write::write_all(&mut file, data).is_err() {
        return;
    }
    let Ok(deb) = bulwark_deb::deb::DebArchive::open(file.path()) else {
        return;
    };
    let _ = deb.control();
    let Ok(mut archive) = deb.data() else {
        return;
    };
    let Ok(entries) = archive.entries() else {
        return;
    };
    for entry in entries.take(1000) {
        let Ok(mut entry) = entry else { break };
        let _ = entry.path();
        let mut sink = Vec::new();
        let _ = entry.by_ref().take(1 << 20).read_to_end(&mut sink);
    }
});
