//! The tar reader of `db import`: a tar built from arbitrary members (any
//! entry type, GNU long names and pax headers included, any name, data and
//! declared size up to 2 TiB), with arbitrary bytes overwritten, plain or
//! gzip-compressed in one or several gzip members, never panics and never
//! allocates what a member declares; what imports can be saved and
//! reopened.
#![no_main]
use std::io::Write;

use libfuzzer_sys::fuzz_target;

mod feed;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(data);
    gz.finish().unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let mut b = feed::Bytes(data);
    let mode = b.u8() % 3;
    let mut members: Vec<Vec<u8>> = Vec::new();
    for _ in 0..b.u8() % 8 {
        let kind = match b.u8() % 8 {
            0 => b'0',
            1 => b'5',
            2 => b'L',
            3 => b'x',
            4 => b'g',
            5 => b'2',
            6 => b'S',
            _ => b.u8(),
        };
        let len = usize::from(b.u8() % 90);
        let mut name = b.take(len);
        if b.u8() % 2 == 0 {
            name.extend_from_slice(b".json");
        }
        let len = usize::from(b.u8()) * 16;
        let body = b.take(len);
        let declared = if b.u8() % 2 == 0 {
            body.len() as u64
        } else {
            b.u64() % (2 << 40)
        };
        let mut header = tar::Header::new_gnu();
        if let Some(gnu) = header.as_gnu_mut() {
            let n = name.len().min(gnu.name.len());
            gnu.name[..n].copy_from_slice(&name[..n]);
        }
        header.set_entry_type(tar::EntryType::new(kind));
        header.set_size(declared);
        header.set_mode(0o644);
        header.set_cksum();
        let mut member = header.as_bytes().to_vec();
        member.extend_from_slice(&body);
        member.resize(member.len().div_ceil(512) * 512, 0);
        members.push(member);
    }
    let mut tar: Vec<u8> = members.concat();
    tar.extend_from_slice(&[0; 1024]);
    for _ in 0..b.u8() % 4 {
        let at = b.index(tar.len());
        tar[at] = b.u8();
    }
    let file = match mode {
        0 => tar,
        1 => gzip(&tar),
        // One gzip member per 512-byte block.
        _ => tar.chunks(512).flat_map(gzip).collect(),
    };
    feed::import("feed", &file);
});
