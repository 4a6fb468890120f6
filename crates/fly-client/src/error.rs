//! The error a caller of either client can act on.

use std::time::Duration;

/// What went wrong talking to Fly or to a registry.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FlyError {
    /// The resource does not exist (404). Cleanup treats this as done.
    #[error("not found: {0}")]
    NotFound(String),
    /// A name is taken by something that is not ours (e.g. Fly app `name_taken`).
    #[error("name taken: {0}")]
    NameTaken(String),
    /// The request conflicts with current state (409/412, e.g. a lease held by someone else).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 429 after retries were exhausted.
    #[error("rate limited by upstream (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// 401/403: the configured token is wrong or lacks permission.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Timeouts, connection errors, 408 and 5xx after retries were exhausted: try again later.
    #[error("transient upstream failure: {0}")]
    Transient(String),
    /// The circuit breaker for this upstream is open: failing fast without calling it.
    #[error("circuit open for {upstream}: failing fast")]
    CircuitOpen { upstream: &'static str },
    /// The upstream refused the request (other 4xx), with its status and message.
    #[error("upstream answered {status}: {message}")]
    Api { status: u16, message: String },
    /// The upstream answered something we could not understand.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// The client's configuration is unusable (bad base URL, token not a valid header).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// An argument was refused before any request was made (e.g. a malformed repository name).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl FlyError {
    /// Worth retrying later (transient, rate limited, circuit open).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Transient(_) | Self::RateLimited { .. } | Self::CircuitOpen { .. }
        )
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound(_))
    }

    /// A stable snake_case name for the error kind (metric label, observer outcome).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::NameTaken(_) => "name_taken",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unauthorized(_) => "unauthorized",
            Self::Transient(_) => "transient",
            Self::CircuitOpen { .. } => "circuit_open",
            Self::Api { .. } => "api_error",
            Self::Decode(_) => "decode",
            Self::Config(_) => "config",
            Self::InvalidArgument(_) => "invalid_argument",
        }
    }
}

pub type FlyResult<T> = Result<T, FlyError>;
