//! The tenant credentials the server keeps for the tenant's owner: the database password and the
//! platform `JWT_SECRET`, sealed by the [`crate::vault`] and stored per tenant.
//!
//! Provisioning makes them once (a rerun reuses them); the owner reads them (`secrets_url`), rotates
//! the database password, and switches external database access. Values are `SecretString`s from
//! birth to the response; nothing here logs one or puts one into an error.
//!
//! Rotation is ordered for crash safety: the new password is sealed and stored under a *pending* name
//! before the role gets it, and the pending value is reused by whichever rotation comes next. A process
//! that dies after `ALTER ROLE` but before the new password became current therefore loses nothing:
//! the next rotation sets the same password again (a no-op on the role), promotes it, and carries on.

use std::collections::BTreeMap;

use mgmt_domain::{CustomerId, RepoError, SealedCredential, Tenant, TenantId};
use secrecy::{ExposeSecret, SecretString};

use crate::error::ServiceError;
use crate::jobs::random_secret;
use crate::service::TenantService;
use crate::vault::Keyring;

/// The tenant role's password (what `DATABASE_URL` carries).
pub const DATABASE_PASSWORD: &str = "database_password";
/// A rotation's new password, stored before the role gets it and removed once it is current.
pub const DATABASE_PASSWORD_PENDING: &str = "database_password_pending";
/// The platform `JWT_SECRET` set on the tenant's app.
pub const JWT_SECRET: &str = "jwt_secret";

const DATABASE_PASSWORD_CHARS: usize = 32;
const JWT_SECRET_CHARS: usize = 64;

/// What the owner's `secrets_url` answers. `Debug` redacts every secret.
#[derive(Debug, Clone)]
pub struct TenantCredentials {
    pub jwt_secret: SecretString,
    /// The external URL when the owner enabled external access and the server has a public database
    /// endpoint; otherwise the internal one.
    pub database_url: SecretString,
    /// `postgres://{role}:{password}@{tenant db host}/{db}`: what the app's `DATABASE_URL` holds.
    pub internal_database_url: SecretString,
    pub app_url: String,
}

/// The outcome of a rotation. `Debug` redacts both URLs.
#[derive(Debug, Clone)]
pub struct RotatedCredentials {
    pub internal_database_url: SecretString,
    /// The URL through the public endpoint if the server has one, else the internal URL.
    pub external_database_url: SecretString,
}

/// The external database access switch after a change. `Debug` redacts the URL.
#[derive(Debug, Clone)]
pub struct ExternalDbAccess {
    pub tenant_id: TenantId,
    pub enabled: bool,
    /// When enabled, the URL through the public endpoint (`sslmode=require`); otherwise the internal one.
    pub database_url: SecretString,
}

/// The credentials provisioning puts on the app.
pub(crate) struct ProvisionSecrets {
    pub database_password: SecretString,
    pub jwt_secret: SecretString,
}

impl TenantService {
    fn keyring(&self) -> Result<&Keyring, ServiceError> {
        self.config.keyring.as_ref().ok_or_else(|| {
            ServiceError::Internal(
                "tenant credentials cannot be sealed: SECRETS_ENCRYPTION_KEYS is not configured"
                    .into(),
            )
        })
    }

    fn seal(
        &self,
        tenant: TenantId,
        name: &str,
        value: &SecretString,
    ) -> Result<SealedCredential, ServiceError> {
        self.keyring()?
            .seal(tenant, name, value)
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    fn open(
        &self,
        tenant: TenantId,
        sealed: &SealedCredential,
    ) -> Result<SecretString, ServiceError> {
        self.keyring()?
            .open(tenant, sealed)
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// The stored credential `name`, or `fresh()` sealed and stored when there is none. Concurrent
    /// callers agree on one value (the first stored wins).
    async fn stored_or_new(
        &self,
        tenant: TenantId,
        name: &str,
        fresh: impl FnOnce() -> SecretString,
    ) -> Result<SecretString, ServiceError> {
        let store = &self.repos.tenant_credentials;
        if let Some(sealed) = store.get(tenant, name).await? {
            return self.open(tenant, &sealed);
        }
        let sealed = self.seal(tenant, name, &fresh())?;
        let stored = store.insert_if_absent(tenant, &sealed).await?;
        self.open(tenant, &stored)
    }

    /// The stored credential `name`; a tenant without it was provisioned before credentials were kept.
    async fn stored(&self, tenant: TenantId, name: &str) -> Result<SecretString, ServiceError> {
        match self.repos.tenant_credentials.get(tenant, name).await? {
            Some(sealed) => self.open(tenant, &sealed),
            None => Err(ServiceError::NotReady(format!(
                "this tenant's {} was not kept (it was provisioned before the server stored credentials); rotate-credentials sets new ones",
                name.replace('_', " ")
            ))),
        }
    }

    /// Provisioning's credentials: the stored ones, made and stored first if this is the first run.
    pub(crate) async fn provisioning_credentials(
        &self,
        tenant: &Tenant,
    ) -> Result<ProvisionSecrets, ServiceError> {
        Ok(ProvisionSecrets {
            database_password: self
                .stored_or_new(tenant.id, DATABASE_PASSWORD, || {
                    random_secret(DATABASE_PASSWORD_CHARS)
                })
                .await?,
            jwt_secret: self
                .stored_or_new(tenant.id, JWT_SECRET, || random_secret(JWT_SECRET_CHARS))
                .await?,
        })
    }

    /// `postgres://{role}:{password}@{tenant db host}/{db}`, the app's `DATABASE_URL`. The password is
    /// alphanumeric (see `random_secret`), so it needs no escaping.
    pub(crate) fn internal_database_url(
        &self,
        tenant: &Tenant,
        password: &SecretString,
    ) -> SecretString {
        SecretString::from(format!(
            "postgres://{}:{}@{}/{}",
            tenant.database_role,
            password.expose_secret(),
            self.config.tenant_db_host,
            tenant.database_name
        ))
    }

    /// The same database through the public endpoint, with TLS required; `None` without an endpoint.
    fn external_database_url(
        &self,
        tenant: &Tenant,
        password: &SecretString,
    ) -> Option<SecretString> {
        self.config
            .tenant_db_public_endpoint
            .as_ref()
            .map(|endpoint| {
                SecretString::from(format!(
                    "postgres://{}:{}@{endpoint}/{}?sslmode=require",
                    tenant.database_role,
                    password.expose_secret(),
                    tenant.database_name
                ))
            })
    }

    /// The caller's tenant, once its infrastructure (database, app, secrets) exists.
    async fn load_provisioned(
        &self,
        customer: CustomerId,
        id: TenantId,
        what: &str,
    ) -> Result<Tenant, ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        if !tenant.infrastructure_ready() {
            return Err(ServiceError::NotReady(format!(
                "{what} once provisioning has finished (the tenant is {})",
                tenant.state
            )));
        }
        Ok(tenant)
    }

    /// The tenant's credentials for its owner (`secrets_url`).
    #[tracing::instrument(skip(self))]
    pub async fn credentials(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<TenantCredentials, ServiceError> {
        let tenant = self
            .load_provisioned(customer, id, "credentials are available")
            .await?;
        let password = self.stored(tenant.id, DATABASE_PASSWORD).await?;
        let jwt_secret = self.stored(tenant.id, JWT_SECRET).await?;
        let internal = self.internal_database_url(&tenant, &password);
        let external = tenant
            .external_db_access
            .then(|| self.external_database_url(&tenant, &password))
            .flatten();
        Ok(TenantCredentials {
            jwt_secret,
            database_url: external.unwrap_or_else(|| internal.clone()),
            internal_database_url: internal,
            app_url: tenant.app_url(),
        })
    }

    /// Gives the tenant's database role a new password, keeps it, puts the new `DATABASE_URL` on the
    /// app and rolls the running machine so it uses it.
    #[tracing::instrument(skip(self))]
    pub async fn rotate_credentials(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<RotatedCredentials, ServiceError> {
        let tenant = self
            .load_provisioned(customer, id, "credentials can be rotated")
            .await?;
        let store = &self.repos.tenant_credentials;
        // 1. The new password is kept before the role has it. A pending one left by a rotation that died
        //    is reused: the role may already have it.
        let fresh = self.seal(
            tenant.id,
            DATABASE_PASSWORD_PENDING,
            &random_secret(DATABASE_PASSWORD_CHARS),
        )?;
        let pending = store.insert_if_absent(tenant.id, &fresh).await?;
        let password = self.open(tenant.id, &pending)?;
        // 2. The role gets it (setting the same password twice is harmless).
        self.db_admin
            .set_password(&tenant.database_role, &password)
            .await
            .map_err(|e| match e {
                RepoError::NotFound { .. } => ServiceError::Internal(format!(
                    "the database role {} of tenant {} is missing",
                    tenant.database_role, tenant.id
                )),
                other => other.into(),
            })?;
        // 3. It becomes the current password, and the pending copy goes, in one transaction.
        let current = self.seal(tenant.id, DATABASE_PASSWORD, &password)?;
        store.promote(tenant.id, &current, &pending).await?;
        tracing::info!(tenant_id = %tenant.id, "tenant database password rotated");
        // 4. The app's DATABASE_URL follows. A tenant provisioned before credentials were kept gets a
        //    platform JWT_SECRET kept (and set) now too, so its credentials endpoint works from here on.
        let internal = self.internal_database_url(&tenant, &password);
        let mut secrets = BTreeMap::from([("DATABASE_URL".to_owned(), internal.clone())]);
        if store.get(tenant.id, JWT_SECRET).await?.is_none() {
            let jwt = self
                .stored_or_new(tenant.id, JWT_SECRET, || random_secret(JWT_SECRET_CHARS))
                .await?;
            secrets.insert("JWT_SECRET".to_owned(), jwt);
        }
        let names: Vec<String> = secrets.keys().cloned().collect();
        let version = self.fly.set_secrets(&tenant.fly_app_name, secrets).await?;
        tracing::info!(tenant_id = %tenant.id, names = ?names, version, "rotated credentials set on the app");
        self.repos
            .tenants
            .raise_secrets_version(tenant.id, version)
            .await?;
        // 5. The machine boots with them (no-op before the first deploy, which boots with them anyway).
        self.roll_out_secrets(&tenant, "database password rotated")
            .await?;
        let external = self
            .external_database_url(&tenant, &password)
            .unwrap_or_else(|| internal.clone());
        Ok(RotatedCredentials {
            internal_database_url: internal,
            external_database_url: external,
        })
    }

    /// Records whether the owner wants the database reachable through the public endpoint, and answers
    /// the URL that now applies. Enabling needs a public endpoint on this server.
    #[tracing::instrument(skip(self))]
    pub async fn set_external_db_access(
        &self,
        customer: CustomerId,
        id: TenantId,
        enabled: bool,
    ) -> Result<ExternalDbAccess, ServiceError> {
        let tenant = self
            .load_provisioned(customer, id, "external database access can be set")
            .await?;
        if enabled && self.config.tenant_db_public_endpoint.is_none() {
            return Err(ServiceError::NotConfigured(
                "external database access is not available on this server: it has no public database endpoint"
                    .into(),
            ));
        }
        let password = self.stored(tenant.id, DATABASE_PASSWORD).await?;
        let tenant = if tenant.external_db_access == enabled {
            tenant
        } else {
            self.update_tenant(tenant.id, None, |t| {
                t.external_db_access = enabled;
                Ok(())
            })
            .await?
        };
        tracing::info!(tenant_id = %tenant.id, enabled, "external database access set");
        let database_url = if enabled {
            self.external_database_url(&tenant, &password)
        } else {
            None
        }
        .unwrap_or_else(|| self.internal_database_url(&tenant, &password));
        Ok(ExternalDbAccess {
            tenant_id: tenant.id,
            enabled,
            database_url,
        })
    }

    /// Forgets every credential of the tenant (its cleanup).
    pub(crate) async fn forget_credentials(&self, tenant: &Tenant) -> Result<u64, RepoError> {
        self.repos
            .tenant_credentials
            .delete_for_tenant(tenant.id)
            .await
    }
}
