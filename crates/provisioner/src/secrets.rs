//! Customer app secrets: validated names, values passed straight to Fly (never stored or logged).
//! A change reaches the machine on its next update (deploy), as on Fly itself.

use std::collections::BTreeMap;

use mgmt_domain::{CustomerId, EventType, SecretName, Tenant, TenantId, TenantState};
use secrecy::{ExposeSecret, SecretString};

use crate::error::ServiceError;
use crate::service::TenantService;

/// Secrets provisioning owns; a customer may neither set nor unset them.
pub const RESERVED_SECRETS: [&str; 2] = ["DATABASE_URL", "JWT_SECRET"];
/// Largest secret value accepted (Fly's own limit is of this order).
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// Most secrets in one request.
pub const MAX_SECRETS_PER_REQUEST: usize = 100;

impl TenantService {
    /// A name a customer may set or unset: a [`SecretName`] that the platform does not manage.
    fn check_key(&self, key: &str) -> Result<(), ServiceError> {
        SecretName::parse(key).map_err(|e| ServiceError::InvalidInput(e.to_string()))?;
        if RESERVED_SECRETS.contains(&key) || self.config.extra_secrets.contains_key(key) {
            return Err(ServiceError::InvalidInput(format!(
                "secret `{key}` is managed by the platform"
            )));
        }
        Ok(())
    }

    /// The tenant, if its Fly app exists (secrets live on the app).
    async fn load_with_app(
        &self,
        customer: CustomerId,
        id: TenantId,
    ) -> Result<Tenant, ServiceError> {
        let tenant = self.load_owned(customer, id).await?;
        let app_ready = match tenant.state {
            TenantState::AwaitingDeploy | TenantState::Deploying | TenantState::Running => true,
            TenantState::Failed => tenant.volume_id.is_some(),
            _ => false,
        };
        if !app_ready {
            return Err(ServiceError::Conflict(format!(
                "secrets can be managed once provisioning has finished (the tenant is {})",
                tenant.state
            )));
        }
        Ok(tenant)
    }

    /// Sets secrets on the tenant's app; they reach the machine on its next deploy.
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
        let msg = format!(
            "secrets set: {} (applied on the next deploy)",
            names.join(", ")
        );
        self.event(&tenant, EventType::SecretsUpdated, msg).await;
        Ok(())
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

    /// Removes one secret; an unknown name counts as done.
    #[tracing::instrument(skip(self))]
    pub async fn unset_secret(
        &self,
        customer: CustomerId,
        id: TenantId,
        key: &str,
    ) -> Result<(), ServiceError> {
        self.check_key(key)?;
        let tenant = self.load_with_app(customer, id).await?;
        self.fly
            .unset_secrets(&tenant.fly_app_name, &[key.to_owned()])
            .await?;
        let msg = format!("secret unset: {key} (applied on the next deploy)");
        self.event(&tenant, EventType::SecretsUpdated, msg).await;
        Ok(())
    }
}
