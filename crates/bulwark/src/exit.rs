//! Exit codes, shared by every command:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | findings or policy violations |
//! | 2 | usage or input error |
//! | 3 | signature missing |
//! | 4 | bad signature or wrong key |
//! | 5 | digest or content mismatch |

use bulwark_repo::TrustError;

/// Usage or input error.
pub const INPUT: u8 = 2;
/// A repository is not signed.
pub const SIGNATURE_MISSING: u8 = 3;
/// A signature does not verify, or was made by a key not trusted.
pub const BAD_SIGNATURE: u8 = 4;
/// A download or cache entry does not have the expected digest or size.
pub const DIGEST_MISMATCH: u8 = 5;

/// The exit code for an error: the most specific cause in its chain.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<TrustError>() {
            return trust_code(e);
        }
        if let Some(bulwark_repo::Error::Untrusted { source, .. }) = cause.downcast_ref() {
            return trust_code(source);
        }
        if let Some(e) = cause.downcast_ref::<bulwark_repo::Error>() {
            if matches!(e, bulwark_repo::Error::Index { reason, .. } if reason.contains("SHA-256") || reason.contains("size"))
            {
                return DIGEST_MISMATCH;
            }
        }
        match cause.downcast_ref::<bulwark_fetch::Error>() {
            Some(
                bulwark_fetch::Error::DigestMismatch { .. }
                | bulwark_fetch::Error::SizeMismatch { .. },
            ) => return DIGEST_MISMATCH,
            Some(_) | None => {}
        }
        match cause.downcast_ref::<bulwark_cache::Error>() {
            Some(
                bulwark_cache::Error::DigestMismatch { .. }
                | bulwark_cache::Error::SizeMismatch { .. },
            ) => return DIGEST_MISMATCH,
            Some(_) | None => {}
        }
    }
    INPUT
}

fn trust_code(e: &TrustError) -> u8 {
    match e {
        TrustError::Unsigned(_) => SIGNATURE_MISSING,
        _ => BAD_SIGNATURE,
    }
}
