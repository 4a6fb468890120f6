//! The error type of a transaction body: a diesel error (which rolls back and is mapped afterwards)
//! or a domain outcome decided inside the transaction (stale version, not found).

use diesel::result::Error as DieselError;
use mgmt_domain::RepoError;

use crate::error::map_diesel;

#[derive(Debug)]
pub(crate) enum TxError {
    Db(DieselError),
    Repo(RepoError),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        Self::Db(e)
    }
}

impl From<RepoError> for TxError {
    fn from(e: RepoError) -> Self {
        Self::Repo(e)
    }
}

impl TxError {
    pub(crate) fn into_repo(self, entity: &'static str) -> RepoError {
        match self {
            Self::Db(e) => map_diesel(entity, e),
            Self::Repo(e) => e,
        }
    }
}
