//! The dynamic loader's cache, `/etc/ld.so.cache`, written natively.
//!
//! `ldconfig` (run by libc-bin's trigger) writes it on a real system; a
//! script-free image needs it only when a package names library directories
//! in `/etc/ld.so.conf.d` that are not on the loader's built-in path. The
//! loader looks a library up in the cache first and falls back to its
//! built-in directories, so a cache of just those extra directories finds
//! everything a full one would.
//!
//! The format is glibc's "new" one (`glibc-ld.so.cache1.1`, the only one
//! glibc 2.32 and later write): a 48-byte header, one 24-byte entry per
//! library sorted for the loader's binary search, then the strings.

use std::cmp::Ordering;

use goblin::elf::header::{EM_386, EM_AARCH64, EM_X86_64, ET_DYN};
use serde::{Deserialize, Serialize};

/// What the cache records of one ELF shared object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedObject {
    /// `DT_SONAME`, or the file name when the object has none (as
    /// `ldconfig` does).
    pub soname: String,
    /// The cache's flags for the object's ABI (`FLAG_ELF_LIBC6` plus the
    /// architecture's bits), or `None` for an ABI bulwark does not map.
    pub flags: Option<i32>,
}

/// `FLAG_ELF_LIBC6`.
const FLAG_ELF_LIBC6: i32 = 0x0003;
/// `FLAG_X8664_LIB64`.
const FLAG_X8664_LIB64: i32 = 0x0300;
/// `FLAG_AARCH64_LIB64`.
const FLAG_AARCH64_LIB64: i32 = 0x0a00;

const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const HEADER_LEN: usize = 48;
const ENTRY_LEN: usize = 24;
/// `cache_file_new_flags_endian_little`.
const ENDIAN_LITTLE: u8 = 2;

/// Whether `ldconfig` would look at a file of this name: it must start with
/// `lib` or `ld-` and contain `.so`.
pub(crate) fn is_candidate_name(file_name: &str) -> bool {
    (file_name.starts_with("lib") || file_name.starts_with("ld-")) && file_name.contains(".so")
}

/// Reads a shared object's soname and ABI; `None` for anything that is not
/// an ELF shared object.
pub(crate) fn shared_object(file_name: &str, bytes: &[u8]) -> Option<SharedObject> {
    if !bytes.starts_with(b"\x7fELF") {
        return None;
    }
    let elf = goblin::elf::Elf::parse(bytes).ok()?;
    if elf.header.e_type != ET_DYN {
        return None;
    }
    let flags = match (elf.header.e_machine, elf.is_64, elf.little_endian) {
        (EM_X86_64, true, true) => Some(FLAG_ELF_LIBC6 | FLAG_X8664_LIB64),
        (EM_AARCH64, true, true) => Some(FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64),
        (EM_386, false, true) => Some(FLAG_ELF_LIBC6),
        _ => None,
    };
    Some(SharedObject {
        soname: elf.soname.unwrap_or(file_name).to_string(),
        flags,
    })
}

/// One library in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CacheEntry {
    /// The name the loader looks up (the soname).
    pub(crate) key: String,
    /// The absolute path it maps to.
    pub(crate) path: String,
    /// See [`SharedObject::flags`].
    pub(crate) flags: i32,
}

/// glibc's `_dl_cache_libcmp`: byte order, except that runs of digits
/// compare as numbers and a digit sorts after a non-digit.
pub(crate) fn libcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() {
        let (ca, cb) = (a[i], b.get(j).copied());
        match (ca.is_ascii_digit(), cb.is_some_and(|c| c.is_ascii_digit())) {
            (true, true) => {
                let (mut va, mut vb) = (0u64, 0u64);
                while i < a.len() && a[i].is_ascii_digit() {
                    va = va.saturating_mul(10).saturating_add(u64::from(a[i] - b'0'));
                    i += 1;
                }
                while j < b.len() && b[j].is_ascii_digit() {
                    vb = vb.saturating_mul(10).saturating_add(u64::from(b[j] - b'0'));
                    j += 1;
                }
                if va != vb {
                    return va.cmp(&vb);
                }
            }
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            (false, false) => {
                let cb = cb.unwrap_or(0);
                if ca != cb {
                    return ca.cmp(&cb);
                }
                i += 1;
                j += 1;
            }
        }
    }
    if j < b.len() {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

/// The cache file for `entries`, sorted as the loader's binary search
/// expects: by [`libcmp`] of the key, descending, then by flags. Entries
/// that compare equal keep their order (the order of the directories in
/// `ld.so.conf.d`).
pub(crate) fn write(mut entries: Vec<CacheEntry>) -> Vec<u8> {
    entries.sort_by(|x, y| libcmp(&y.key, &x.key).then(y.flags.cmp(&x.flags)));
    let strings_start = HEADER_LEN + ENTRY_LEN * entries.len();
    let mut strings: Vec<u8> = Vec::new();
    let mut table = Vec::with_capacity(ENTRY_LEN * entries.len());
    let offset_of = |s: &str, strings: &mut Vec<u8>| -> u32 {
        let at = strings_start + strings.len();
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        u32::try_from(at).unwrap_or(u32::MAX)
    };
    for e in &entries {
        let key = offset_of(&e.key, &mut strings);
        let value = offset_of(&e.path, &mut strings);
        table.extend_from_slice(&e.flags.to_le_bytes());
        table.extend_from_slice(&key.to_le_bytes());
        table.extend_from_slice(&value.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes()); // osversion (unused)
        table.extend_from_slice(&0u64.to_le_bytes()); // hwcap
    }
    let mut out = Vec::with_capacity(strings_start + strings.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(
        &u32::try_from(entries.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(
        &u32::try_from(strings.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.push(ENDIAN_LITTLE);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&0u32.to_le_bytes()); // no extensions
    out.extend_from_slice(&[0; 12]);
    debug_assert_eq!(out.len(), HEADER_LEN);
    out.extend_from_slice(&table);
    out.extend_from_slice(&strings);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libcmp_compares_digit_runs_as_numbers() {
        use Ordering::*;
        assert_eq!(libcmp("libfoo.so.10", "libfoo.so.9"), Greater);
        assert_eq!(libcmp("libfoo.so.1", "libfoo.so.1"), Equal);
        assert_eq!(libcmp("libfoo.so.1", "libfoo.so"), Greater);
        assert_eq!(libcmp("libfoo.so", "libfoo.so.1"), Less);
        assert_eq!(libcmp("liba2.so", "liba.so"), Greater);
        assert_eq!(libcmp("libb.so", "liba.so"), Greater);
        assert_eq!(libcmp("libx.so.01", "libx.so.1"), Equal);
    }

    #[test]
    fn layout_is_glibcs_new_format() {
        let out = write(vec![
            CacheEntry {
                key: "liba.so.1".into(),
                path: "/opt/a/liba.so.1".into(),
                flags: 0x0303,
            },
            CacheEntry {
                key: "libb.so.2".into(),
                path: "/opt/b/libb.so.2".into(),
                flags: 0x0303,
            },
        ]);
        assert_eq!(&out[..20], MAGIC);
        assert_eq!(u32::from_le_bytes(out[20..24].try_into().unwrap()), 2);
        let strings = b"libb.so.2\0/opt/b/libb.so.2\0liba.so.1\0/opt/a/liba.so.1\0";
        assert_eq!(
            u32::from_le_bytes(out[24..28].try_into().unwrap()) as usize,
            strings.len()
        );
        assert_eq!(out[28], ENDIAN_LITTLE);
        assert_eq!(out.len(), HEADER_LEN + 2 * ENTRY_LEN + strings.len());
        // Descending order: libb before liba; offsets count from the start.
        let first = &out[HEADER_LEN..HEADER_LEN + ENTRY_LEN];
        assert_eq!(i32::from_le_bytes(first[..4].try_into().unwrap()), 0x0303);
        let key = u32::from_le_bytes(first[4..8].try_into().unwrap()) as usize;
        assert_eq!(&out[key..key + 9], b"libb.so.2");
        assert_eq!(&out[HEADER_LEN + 2 * ENTRY_LEN..], strings);
    }

    #[test]
    fn non_elf_and_non_shared_objects_are_not_libraries() {
        assert_eq!(shared_object("libx.so", b"not elf"), None);
        assert_eq!(shared_object("libx.so", b"\x7fELF truncated"), None);
        assert!(is_candidate_name("libfoo.so.1"));
        assert!(is_candidate_name("ld-linux-x86-64.so.2"));
        assert!(!is_candidate_name("foo.so"));
        assert!(!is_candidate_name("libfoo.a"));
    }
}
