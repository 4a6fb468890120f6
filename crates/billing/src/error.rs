//! What a call to Paddle can fail with, sorted by what the caller can do about it.

/// A failed Paddle call. Never holds the API key.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PaddleError {
    /// Unreachable, timed out, rate limited, a 5xx, or the answer was lost on the way: Paddle may or
    /// may not have acted. Retry later.
    #[error("Paddle is unavailable: {0}")]
    Unavailable(String),
    /// Paddle refused the request (4xx) with its error envelope.
    #[error("Paddle answered {status} {code}: {detail}")]
    Api {
        status: u16,
        /// Paddle's error code, e.g. `not_found`, `subscription_locked_pending_changes`.
        code: String,
        detail: String,
    },
    /// Paddle answered something that is not its documented shape.
    #[error("unexpected answer from Paddle: {0}")]
    Decode(String),
    /// The client cannot be used (bad base URL, key not a valid header value, bad id).
    #[error("invalid Paddle client configuration: {0}")]
    Config(String),
}

impl PaddleError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Paddle's error code of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}
