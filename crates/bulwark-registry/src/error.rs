//! What can go wrong talking to a registry.

/// An error of the registry client. Messages name the registry and what
/// was refused, never a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry could not be reached, or the exchange broke off.
    #[error("registry `{registry}`: {source}")]
    Http {
        /// `HOST[:PORT]`.
        registry: String,
        /// The cause (URLs redacted).
        source: bulwark_http::Error,
    },
    /// The registry (or its token service) refused who we are.
    #[error("registry `{registry}` refused {what}: {reason}")]
    Auth {
        /// `HOST[:PORT]`.
        registry: String,
        /// What was asked (`push to REPO`, `pull from REPO`).
        what: String,
        /// Why, without the credentials.
        reason: String,
    },
    /// The registry answered with an error status.
    #[error("registry `{registry}` answered {status} to {what}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Status {
        /// `HOST[:PORT]`.
        registry: String,
        /// The request (`PUT manifest sha256:… of REPO`).
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error codes and messages, escaped.
        detail: Option<String>,
    },
    /// The registry answered something that breaks the protocol.
    #[error("registry `{registry}`: {reason}")]
    Protocol {
        /// `HOST[:PORT]`.
        registry: String,
        /// What is wrong.
        reason: String,
    },
    /// Credentials could not be read (the Docker config, a helper).
    #[error(transparent)]
    Credentials(#[from] crate::CredentialsError),
    /// Reading or writing OCI content failed; a digest or size mismatch
    /// is [`bulwark_oci::Error::is_mismatch`].
    #[error(transparent)]
    Oci(#[from] bulwark_oci::Error),
}

impl Error {
    /// Whether the content received differs from the digest that names it.
    pub fn is_mismatch(&self) -> bool {
        matches!(self, Error::Oci(err) if err.is_mismatch())
    }

    /// Whether a retry may help: the connection broke off, or the registry
    /// answered `408`, `429` or `5xx`.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Http { source, .. } => source.is_transient(),
            Error::Status { status, .. } => matches!(status, 408 | 429) || *status >= 500,
            _ => false,
        }
    }
}
