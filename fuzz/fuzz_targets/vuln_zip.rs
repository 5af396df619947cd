//! The zip reader of `db import`: a zip built from arbitrary members
//! (stored or deflated, any name and data), with declared sizes and
//! arbitrary bytes overwritten, never panics and never allocates what a
//! member declares; what imports can be saved and reopened.
#![no_main]
use std::io::Write;

use libfuzzer_sys::fuzz_target;

mod feed;

/// Overwrites the 4 bytes at `offset` after each occurrence of `signature`.
fn patch(bytes: &mut [u8], signature: &[u8; 4], offset: usize, value: u32) {
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(4).position(|w| w == signature) {
        let start = at + found + offset;
        if let Some(field) = bytes.get_mut(start..start + 4) {
            field.copy_from_slice(&value.to_le_bytes());
        }
        at += found + 4;
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = feed::Bytes(data);
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for _ in 0..b.u8() % 8 {
        let len = usize::from(b.u8() % 40);
        let mut name = String::from_utf8_lossy(&b.take(len)).into_owned();
        if b.u8() % 2 == 0 {
            name.push_str(".json");
        }
        let method = if b.u8() % 2 == 0 {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        let len = usize::from(b.u8()) * 16;
        let body = b.take(len);
        if zip.start_file(name, options).is_err() || zip.write_all(&body).is_err() {
            return;
        }
    }
    if zip.finish().is_err() {
        return;
    }
    let mut file = out.into_inner();
    match b.u8() % 4 {
        // The uncompressed size in the local headers and the central directory.
        1 => {
            let declared = b.u64() as u32;
            patch(&mut file, b"PK\x03\x04", 22, declared);
            patch(&mut file, b"PK\x01\x02", 24, declared);
        }
        // The member count and directory size of the end record.
        2 => {
            let value = b.u64() as u32;
            patch(&mut file, b"PK\x05\x06", 8, value);
        }
        _ => {}
    }
    for _ in 0..b.u8() % 4 {
        let at = b.index(file.len());
        if let Some(byte) = file.get_mut(at) {
            *byte = b.u8();
        }
    }
    feed::import("feed.zip", &file);
});
