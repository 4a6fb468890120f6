//! Customer app secrets: validated names, values passed straight to Fly (never stored or logged), and
//! every change rolled out to the tenant's machine (see `rollout`).
//!
//! A PUT is a merge: Fly's secrets update sets the given names and leaves the others alone, which is
//! what the CLI relies on (it sends a deploy's secrets as several PUTs, each carrying a subset). The
//! customer may set every name the CLI sends, `DATABASE_URL` and `JWT_SECRET` included (the CLI's own
//! values then win over the ones provisioning set); only names the platform must own are refused.

use std::collections::BTreeMap;

use mgmt_domain::{CustomerId, SecretName, Tenant, TenantId};
use secrecy::{ExposeSecret, SecretString};

use crate::error::ServiceError;
use crate::service::TenantService;

/// Secrets provisioning sets on every tenant app. The operator's extra secrets cannot name them; a
/// customer may override them (the CLI sends its own `DATABASE_URL` and `JWT_SECRET`).
pub const RESERVED_SECRETS: [&str; 2] = ["DATABASE_URL", "JWT_SECRET"];
/// Prefix of the variables Fly sets on every machine itself (`FLY_APP_NAME`, `FLY_MACHINE_ID`,
/// `FLY_REGION`, ...): a secret of that name would be shadowed by, or shadow, the runtime's value.
pub const FLY_RESERVED_PREFIX: &str = "FLY_";
/// Largest secret value accepted (Fly's own limit is of this order).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// Most secrets in one request.
pub const MAX_SECRETS_PER_REQUEST: usize = 100;

impl TenantService {
    /// A name a customer may set or unset: a [`SecretName`] (an environment variable name, which is
    /// what Fly accepts) that neither Fly nor the operator's configuration owns.
    fn check_key(&self, key: &str) -> Result<(), ServiceError> {
        SecretName::parse(key).map_err(|e| ServiceError::InvalidInput(e.to_string()))?;
        if key.starts_with(FLY_RESERVED_PREFIX) {
            return Err(ServiceError::InvalidInput(format!(
                "secret `{key}` is refused: names starting with `{FLY_RESERVED_PREFIX}` are set by Fly on every machine"
            )));
        }
        if self.config.extra_secrets.contains_key(key) {
            return Err(ServiceError::InvalidInput(format!(
                "secret `{key}` is refused: it is managed by the platform"
            )));
        }
        Ok(())
    }

    /// The tenant, if provisioning has finished creating its Fly app (secrets live on the app; a
    /// write during provisioning would race the platform's own `DATABASE_URL`/`JWT_SECRET`).
    async fn load_with_app(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<Tenant, ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        if !tenant.infrastructure_ready() {
            return Err(ServiceError::Conflict(format!(
                "secrets can be managed once provisioning has created the tenant's app (the tenant is {})",
                tenant.state
            )));
        }
        Ok(tenant)
    }

    /// Sets (upserts) secrets on the tenant's app, then rolls them out to its machine if it has one
    /// (the rollout runs in the deploy job; this returns once it is queued). Every name and value is
    /// checked before anything is written, so a refused request changes nothing.
    #[tracing::instrument(skip(self, secrets))]
    pub async fn set_secrets(
        &self,
        customer: CustomerId,
        id: TenantId,
        secrets: BTreeMap<String, SecretString>,
    ) -> Result<(), ServiceError> {
        if secrets.is_empty() {
            return Err(ServiceError::InvalidInput("no secrets given".into()));
        }
        if secrets.len() > MAX_SECRETS_PER_REQUEST {
            return Err(ServiceError::InvalidInput(format!(
                "at most {MAX_SECRETS_PER_REQUEST} secrets per request"
            )));
        }
        for (key, value) in &secrets {
            self.check_key(key)?;
            if value.expose_secret().len() > MAX_SECRET_BYTES {
                return Err(ServiceError::InvalidInput(format!(
                    "secret `{key}` is larger than {MAX_SECRET_BYTES} bytes"
                )));
            }
        }
        let tenant = self.load_with_app(customer, id).await?;
        let names: Vec<String> = secrets.keys().cloned().collect();
        let version = self.fly.set_secrets(&tenant.fly_app_name, secrets).await?;
        tracing::info!(tenant_id = %id, names = ?names, version, "secrets set");
        self.repos
            .tenants
            .raise_secrets_version(id, version)
            .await?;
        self.roll_out_secrets(&tenant, &format!("secrets set: {}", names.join(", ")))
            .await
    }

    /// Names of the app's secrets (never values).
    #[tracing::instrument(skip(self))]
    pub async fn list_secret_names(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<Vec<String>, ServiceError> {
        let tenant = self.load_with_app(customer, id).await?;
        let mut names = self
            .fly
            .list_secret_names(&tenant.fly_app_name)
            .await?
            .names;
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Removes one secret and rolls the change out. A name the app does not have counts as done and
    /// changes nothing (no rollout): the CLI's `secrets cleanup` unsets a name that is usually absent.
    #[tracing::instrument(skip(self))]
    pub async fn unset_secret(
        &self,
        customer: CustomerId,
        id: TenantId,
        key: &str,
    ) -> Result<(), ServiceError> {
        self.check_key(key)?;
        let tenant = self.load_with_app(customer, id).await?;
        let app = &tenant.fly_app_name;
        let present = self.fly.list_secret_names(app).await?.names;
        if !present.iter().any(|n| n == key) {
            tracing::info!(tenant_id = %id, key, "secret to unset is not set; nothing to do");
            return Ok(());
        }
        let version = self.fly.unset_secrets(app, &[key.to_owned()]).await?;
        tracing::info!(tenant_id = %id, key, version, "secret unset");
        self.repos
            .tenants
            .raise_secrets_version(id, version)
            .await?;
        self.roll_out_secrets(&tenant, &format!("secret unset: {key}"))
            .await
    }
}
