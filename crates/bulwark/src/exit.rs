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
use bulwark_verify::FailureKind;

/// Findings or policy violations (`scan --fail-on`, `verify`).
pub const FINDINGS: u8 = 1;

/// Usage or input error.
pub const INPUT: u8 = 2;
/// A repository is not signed.
pub const SIGNATURE_MISSING: u8 = 3;
/// A signature does not verify, or was made by a key not trusted.
pub const BAD_SIGNATURE: u8 = 4;
/// A download, index or cache entry does not have the expected digest or size.
pub const DIGEST_MISMATCH: u8 = 5;

/// The exit code of a failed verification.
pub fn verify_code(kind: FailureKind) -> u8 {
    match kind {
        FailureKind::Mismatch => DIGEST_MISMATCH,
        FailureKind::BadSignature => BAD_SIGNATURE,
        FailureKind::SignatureMissing => SIGNATURE_MISSING,
        FailureKind::Input => INPUT,
        FailureKind::Policy => FINDINGS,
    }
}

/// Whether an OCI error is a changed or missing blob: content that does
/// not match what names it.
fn oci_mismatch(err: &bulwark_oci::Error) -> bool {
    err.is_mismatch() || matches!(err, bulwark_oci::Error::BlobMissing { .. })
}

/// The exit code for an error: the first cause in its chain that has a
/// specific code, else [`INPUT`].
pub fn code_for(err: &anyhow::Error) -> u8 {
    err.chain().find_map(specific_code).unwrap_or(INPUT)
}

fn specific_code(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    use bulwark_cache::Error as CacheError;
    use bulwark_fetch::Error as FetchError;
    if let Some(e) = cause.downcast_ref::<crate::verify::VerifyFailed>() {
        return Some(verify_code(e.0));
    }
    if cause.is::<crate::platform::PackageMismatch>() {
        return Some(DIGEST_MISMATCH);
    }
    if let Some(e) = cause.downcast_ref::<bulwark_registry::Error>() {
        return Some(if e.is_mismatch() {
            DIGEST_MISMATCH
        } else {
            INPUT
        });
    }
    let oci = cause.downcast_ref::<bulwark_oci::Error>().or_else(|| {
        match (
            cause.downcast_ref::<bulwark_image::Error>(),
            cause.downcast_ref::<bulwark_emit::Error>(),
            cause.downcast_ref::<bulwark_verify::Error>(),
        ) {
            (Some(bulwark_image::Error::Oci(e)), _, _)
            | (_, Some(bulwark_emit::Error::Oci(e)), _)
            | (_, _, Some(bulwark_verify::Error::Oci(e)))
            | (
                _,
                _,
                Some(bulwark_verify::Error::Image {
                    source: bulwark_image::Error::Oci(e),
                    ..
                }),
            ) => Some(e),
            _ => None,
        }
    });
    if oci.is_some_and(oci_mismatch) {
        return Some(DIGEST_MISMATCH);
    }
    if let Some(e) = cause.downcast_ref::<TrustError>() {
        return Some(trust_code(e));
    }
    if let Some(bulwark_repo::Error::Untrusted { source, .. }) = cause.downcast_ref() {
        return Some(trust_code(source));
    }
    if let Some(bulwark_vuln::Error::Checksum { .. }) = cause.downcast_ref() {
        return Some(DIGEST_MISMATCH);
    }
    let mismatch = matches!(
        cause.downcast_ref::<FetchError>(),
        Some(FetchError::DigestMismatch { .. } | FetchError::SizeMismatch { .. })
    ) || matches!(
        cause.downcast_ref::<CacheError>(),
        Some(CacheError::DigestMismatch { .. } | CacheError::SizeMismatch { .. })
    ) || matches!(
        cause.downcast_ref::<bulwark_repo::Error>(),
        Some(bulwark_repo::Error::IndexMismatch { .. })
    );
    mismatch.then_some(DIGEST_MISMATCH)
}

fn trust_code(e: &TrustError) -> u8 {
    match e {
        TrustError::Unsigned(_) => SIGNATURE_MISSING,
        _ => BAD_SIGNATURE,
    }
}
