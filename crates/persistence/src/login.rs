//! CLI login storage: logins in flight (`login_states`, consumed once) and provider identities
//! (`login_identities`), each belonging to one customer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use mgmt_domain::{
    Customer, LoggedInCustomer, LoginIdentityRepository, LoginProvider, LoginState,
    LoginStateRepository, NewLoginIdentity, NewLoginState, RepoError, RepoResult,
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::customers::CustomerRow;
use crate::error::db_error;
use crate::pool::{PgPool, get};
use crate::schema::{customers, login_identities, login_states};
use crate::tx::TxError;

#[derive(Queryable, Selectable)]
#[diesel(table_name = login_states, check_for_backend(diesel::pg::Pg))]
struct LoginStateRow {
    provider: String,
    redirect_uri: String,
    pkce_verifier: String,
    nonce: String,
    expires_at: DateTime<Utc>,
}

fn parse_provider(s: &str) -> RepoResult<LoginProvider> {
    s.parse()
        .map_err(|_| RepoError::Other(format!("unknown login provider `{s}` in storage")))
}

/// [`LoginStateRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgLoginStateRepository {
    pool: PgPool,
}

impl PgLoginStateRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgLoginStateRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLoginStateRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl LoginStateRepository for PgLoginStateRepository {
    async fn insert(&self, new: NewLoginState) -> RepoResult<()> {
        let mut conn = get(&self.pool).await?;
        // Abandoned logins (the user closed the browser) are never consumed: drop those long expired
        // here rather than in a timer. An hour of grace keeps a just-expired one consumable, so its
        // callback can still tell the CLI "expired" instead of "unknown".
        diesel::delete(
            login_states::table
                .filter(login_states::expires_at.lt(Utc::now() - chrono::Duration::hours(1))),
        )
        .execute(&mut conn)
        .await
        .map_err(db_error("login state"))?;
        diesel::insert_into(login_states::table)
            .values((
                login_states::state_hash.eq(&new.state_hash),
                login_states::provider.eq(new.provider.as_str()),
                login_states::redirect_uri.eq(&new.redirect_uri),
                login_states::pkce_verifier.eq(new.pkce_verifier.expose_secret()),
                login_states::nonce.eq(&new.nonce),
                login_states::expires_at.eq(new.expires_at),
            ))
            .execute(&mut conn)
            .await
            .map_err(db_error("login state"))?;
        Ok(())
    }

    async fn consume(&self, state_hash: &str) -> RepoResult<Option<LoginState>> {
        let mut conn = get(&self.pool).await?;
        // DELETE ... RETURNING is the single-use guarantee: of two concurrent callbacks, one deletes
        // the row and the other finds nothing.
        let row = diesel::delete(login_states::table.find(state_hash))
            .returning(LoginStateRow::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(db_error("login state"))?;
        row.map(|r| {
            Ok(LoginState {
                provider: parse_provider(&r.provider)?,
                redirect_uri: r.redirect_uri,
                pkce_verifier: SecretString::from(r.pkce_verifier),
                nonce: r.nonce,
                expires_at: r.expires_at,
            })
        })
        .transpose()
    }
}

/// [`LoginIdentityRepository`] on PostgreSQL.
#[derive(Clone)]
pub struct PgLoginIdentityRepository {
    pool: PgPool,
}

impl PgLoginIdentityRepository {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

impl std::fmt::Debug for PgLoginIdentityRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLoginIdentityRepository")
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl LoginIdentityRepository for PgLoginIdentityRepository {
    async fn login(&self, identity: NewLoginIdentity) -> RepoResult<LoggedInCustomer> {
        let mut conn = get(&self.pool).await?;
        let provider = identity.provider.as_str();
        let (row, created) = conn
            .transaction::<_, TxError, _>(async |conn| {
                // A known identity: record this login and keep its customer (whatever the email says
                // now: the identity, not the address, is the key).
                let known: Option<Uuid> = diesel::update(
                    login_identities::table.find((provider, &identity.provider_user_id)),
                )
                .set((
                    login_identities::email.eq(&identity.email),
                    login_identities::last_login_at.eq(diesel::dsl::now),
                ))
                .returning(login_identities::customer_id)
                .get_result(conn)
                .await
                .optional()?;
                if let Some(customer_id) = known {
                    let row: CustomerRow = customers::table
                        .find(customer_id)
                        .select(CustomerRow::as_select())
                        .first(conn)
                        .await?;
                    return Ok((row, false));
                }
                // First login of this identity: its own customer, whose subject names the provider
                // identity. A concurrent first login waits on the unique subject and then reads the
                // row the other one made.
                let subject = identity.subject();
                let inserted: Option<CustomerRow> = diesel::insert_into(customers::table)
                    .values((
                        customers::subject.eq(&subject),
                        customers::email.eq(&identity.email),
                        customers::name.eq(&identity.name),
                    ))
                    .on_conflict(customers::subject)
                    .do_nothing()
                    .returning(CustomerRow::as_returning())
                    .get_result(conn)
                    .await
                    .optional()?;
                let created = inserted.is_some();
                let customer_id = match inserted {
                    Some(row) => row.id,
                    None => {
                        customers::table
                            .filter(customers::subject.eq(&subject))
                            .select(customers::id)
                            .first::<Uuid>(conn)
                            .await?
                    }
                };
                diesel::insert_into(login_identities::table)
                    .values((
                        login_identities::provider.eq(provider),
                        login_identities::provider_user_id.eq(&identity.provider_user_id),
                        login_identities::customer_id.eq(customer_id),
                        login_identities::email.eq(&identity.email),
                    ))
                    .on_conflict((
                        login_identities::provider,
                        login_identities::provider_user_id,
                    ))
                    .do_nothing()
                    .execute(conn)
                    .await?;
                // Whoever inserted the identity, it decides the customer.
                let owner: Uuid = login_identities::table
                    .find((provider, &identity.provider_user_id))
                    .select(login_identities::customer_id)
                    .first(conn)
                    .await?;
                let row: CustomerRow = customers::table
                    .find(owner)
                    .select(CustomerRow::as_select())
                    .first(conn)
                    .await?;
                Ok((row, created && owner == customer_id))
            })
            .await
            .map_err(|e| e.into_repo("login identity"))?;
        let customer: Customer = row.try_into()?;
        Ok(LoggedInCustomer { customer, created })
    }
}
