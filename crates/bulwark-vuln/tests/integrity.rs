//! A damaged or truncated database file is refused when opened, and an
//! import of a feed without records fails and leaves the database alone.

mod common;

use std::path::{Path, PathBuf};

use bulwark_vuln::*;
use common::*;
use sha2::{Digest, Sha256};

/// The fixture feed imported and saved as `DIR/vuln.db`.
fn saved_db(dir: &Path) -> PathBuf {
    let tree = dir.join("feed");
    write_tree(&tree, &fixture_records());
    let (db, _) = Database::import(&[&tree]).unwrap();
    let file = dir.join("vuln.db");
    db.save(&file).unwrap();
    file
}

#[test]
fn a_flipped_bit_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved_db(dir.path());
    let good = std::fs::read(&file).unwrap();
    assert!(Database::open(&file).is_ok());
    // Anywhere after the version: the digest, the header, a block.
    for at in [20, 60, good.len() / 2, good.len() * 9 / 10, good.len() - 1] {
        let mut bytes = good.clone();
        bytes[at] ^= 8;
        let bad = dir.path().join("f.db");
        std::fs::write(&bad, &bytes).unwrap();
        let err = Database::open(&bad).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        let err = err.to_string();
        assert!(
            err.contains("f.db") && err.contains("checksum mismatch") && err.contains("re-import"),
            "{at}: {err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn a_truncated_file_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved_db(dir.path());
    let good = std::fs::read(&file).unwrap();
    for len in [good.len() - 1, good.len() * 9 / 10, 100, 40, 16] {
        let cut = dir.path().join("cut.db");
        std::fs::write(&cut, &good[..len]).unwrap();
        let err = Database::open(&cut).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{len}: {err:?}");
        assert!(err.to_string().contains("cut.db"), "{err}");
    }
    // Appended bytes are damage too.
    let mut long = good.clone();
    long.extend_from_slice(b"junk");
    std::fs::write(&file, &long).unwrap();
    assert!(matches!(
        Database::open(&file).unwrap_err(),
        Error::Corrupt { .. }
    ));
}

#[test]
fn an_older_format_asks_for_a_reimport() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved_db(dir.path());
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let err = Database::open(&file).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Version {
                found: 2,
                expected: FORMAT_VERSION,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("it must be made again"), "{err}");
}

#[test]
fn a_damaged_block_with_a_matching_digest_is_an_error_when_used() {
    // Damage the checksum cannot see (the digest recomputed) still surfaces
    // as an error naming the file, not as a panic.
    let dir = tempfile::tempdir().unwrap();
    let file = saved_db(dir.path());
    let mut bytes = std::fs::read(&file).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len - 200..] {
        *b ^= 0x5a;
    }
    let digest = Sha256::digest(&bytes[48..]);
    bytes[16..48].copy_from_slice(&digest);
    std::fs::write(&file, &bytes).unwrap();
    let db = Database::open(&file).unwrap();
    let err = db.vulnerability("CVE-2024-6387").unwrap_err().to_string();
    assert!(err.contains("vuln.db"), "{err}");
}

#[test]
fn the_saved_file_roundtrips_and_resaves() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved_db(dir.path());
    let db = Database::open(&file).unwrap();
    // Saving an opened database copies its undecoded blocks.
    let again = dir.path().join("again.db");
    db.save(&again).unwrap();
    let db2 = Database::open(&again).unwrap();
    assert_eq!(db.info(), db2.info());
    assert_eq!(
        db.entries("12", "openssh").unwrap(),
        db2.entries("12", "openssh").unwrap()
    );
}

#[test]
fn a_feed_without_records_is_refused_and_the_database_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = saved_db(dir.path());
    let before = std::fs::read(&file).unwrap();
    let feed = dir.path().join("feed-empty");
    std::fs::create_dir_all(&feed).unwrap();
    let arr = feed.join("arr.json");
    std::fs::write(&arr, b"[]").unwrap();
    let obj = feed.join("obj.json");
    std::fs::write(&obj, b"{}").unwrap();
    let empty_dir = dir.path().join("nothing");
    std::fs::create_dir_all(&empty_dir).unwrap();
    std::fs::write(empty_dir.join("README.txt"), b"no json here").unwrap();
    let empty_zip = dir.path().join("empty.zip");
    write_zip(&empty_zip, &[]);
    for input in [&arr, &obj, &empty_dir, &empty_zip] {
        let err = Database::import(&[input.as_path()])
            .unwrap_err()
            .to_string();
        let named = format!("`{}`", input.display());
        assert!(
            err.contains(&named) && err.contains("holds no vulnerability records"),
            "{err}"
        );
    }
    // An empty input among good ones is refused too.
    let good = dir.path().join("feed");
    let err = Database::import(&[good.as_path(), arr.as_path()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("arr.json"), "{err}");
    // The database was not touched.
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert!(Database::open(&file).is_ok());
}
