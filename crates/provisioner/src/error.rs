//! The one error of the provisioner's use cases, typed so the API maps it to a status code.
//!
//! Errors of the layers below that the caller can act on become the matching kind (not found,
//! conflict, unavailable); the unexpected ones are kept whole ([`ServiceError::Storage`],
//! [`ServiceError::Fly`]) rather than flattened to a string, so whoever logs them has the original.

use mgmt_domain::{RepoError, TransitionError};
use mgmt_fly_client::FlyError;

/// What a customer-facing call can fail with. Messages are customer-readable and never hold a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The tenant (or another record) does not exist or is not the caller's.
    #[error("not found")]
    NotFound,
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Wrong state for the request, or a name already taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The tenant's state does not allow the request yet (e.g. its infrastructure is not in place).
    #[error("not ready: {0}")]
    NotReady(String),
    /// The request needs something the operator has not configured (e.g. a public database endpoint).
    #[error("not configured: {0}")]
    NotConfigured(String),
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The image to deploy was never pushed (or its tag no longer resolves).
    #[error("image not found: {0}")]
    ImageNotFound(String),
    /// Fly, the registry or the database is unavailable right now (includes an open circuit): retry later.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A bug (a broken invariant, retries of a conflict exhausted); the API answers an opaque 500.
    #[error("internal error: {0}")]
    Internal(String),
    /// A storage failure that is neither the caller's nor transient (e.g. a check constraint); the API
    /// answers an opaque 500.
    #[error(transparent)]
    Storage(RepoError),
    /// A Fly or registry answer that is neither transient nor a conflict (e.g. refused credentials, an
    /// answer that could not be decoded); the API answers an opaque 500.
    #[error(transparent)]
    Fly(FlyError),
    /// A job run's write was refused because its job lease moved on (another worker claimed the job):
    /// the run must stop at once, changing nothing more.
    #[error("the job's lease was lost; this run stops")]
    Fenced,
}

impl ServiceError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl From<RepoError> for ServiceError {
    fn from(e: RepoError) -> Self {
        match e {
            e if e.is_fenced() => Self::Fenced,
            RepoError::NotFound { .. } => Self::NotFound,
            RepoError::Conflict { what } => Self::Conflict(what),
            RepoError::StaleVersion { entity } => {
                Self::Conflict(format!("{entity} changed concurrently; retry"))
            }
            RepoError::Unavailable(m) => Self::Unavailable(m),
            RepoError::LimitReached { what } => Self::QuotaExceeded(what),
            other => Self::Storage(other),
        }
    }
}

impl From<FlyError> for ServiceError {
    fn from(e: FlyError) -> Self {
        if e.is_transient() {
            return Self::Unavailable(e.to_string());
        }
        match e {
            FlyError::NameTaken(m) | FlyError::Conflict(m) => Self::Conflict(m),
            other => Self::Fly(other),
        }
    }
}

impl From<TransitionError> for ServiceError {
    fn from(e: TransitionError) -> Self {
        Self::Conflict(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_upstream_errors_to_actionable_kinds() {
        assert!(matches!(
            ServiceError::from(RepoError::NotFound { entity: "tenant" }),
            ServiceError::NotFound
        ));
        assert!(ServiceError::from(RepoError::Unavailable("down".into())).is_transient());
        assert!(ServiceError::from(FlyError::CircuitOpen { upstream: "fly" }).is_transient());
        assert!(ServiceError::from(FlyError::RateLimited { retry_after: None }).is_transient());
        assert!(matches!(
            ServiceError::from(FlyError::NameTaken("sp-x".into())),
            ServiceError::Conflict(_)
        ));
        let unauthorized = ServiceError::from(FlyError::Unauthorized("bad".into()));
        assert!(
            matches!(
                unauthorized,
                ServiceError::Fly(FlyError::Unauthorized(ref m)) if m == "bad"
            ),
            "{unauthorized:?}"
        );
        assert_eq!(unauthorized.to_string(), "unauthorized: bad");
        assert!(matches!(
            ServiceError::from(RepoError::Other("check `x` refused".into())),
            ServiceError::Storage(RepoError::Other(_))
        ));
    }
}
