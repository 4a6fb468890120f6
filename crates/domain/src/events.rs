//! Tenant event types: the CLI's provisioning vocabulary plus our own deploy and cleanup events.
//!
//! The CLI understands exactly the first eleven spellings and skips anything else, so our own events
//! (deploy, restart, cleanup) can share the stream without confusing it.

use serde::{Deserialize, Serialize};

/// What happened to a tenant. Serialized in snake_case, which is what the CLI reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
#[non_exhaustive]
pub enum EventType {
    // The CLI's vocabulary.
    SubscriptionCreated,
    TenantCreated,
    DatabaseCreated,
    SecretsStored,
    VmProvisioningStarted,
    VmProvisioningProgress,
    VmProvisioned,
    SecretsConfigured,
    InfrastructureReady,
    TenantReady,
    ProvisioningFailed,
    // Ours; the CLI skips them.
    DeploymentRequested,
    DeploymentStarted,
    DeploymentSucceeded,
    DeploymentFailed,
    MachineRestarted,
    SecretsUpdated,
    CleanupStarted,
    CleanupStepDone,
    CleanupStepFailed,
    TenantDeleted,
    /// The reconciler found drift and repaired it (or re-enqueued a stranded tenant's job).
    DriftRepaired,
}

impl EventType {
    /// The wire spelling (also the database spelling).
    pub fn as_str(&self) -> &'static str {
        self.into()
    }

    /// Whether the CLI knows this event type (it skips the others).
    pub fn is_cli_event(&self) -> bool {
        (*self as usize) <= (Self::ProvisioningFailed as usize)
    }
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn spellings_round_trip_and_match_serde() {
        for e in EventType::iter() {
            assert_eq!(e.as_str().parse::<EventType>(), Ok(e));
            assert_eq!(e.to_string(), e.as_str());
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
        }
        assert_eq!(EventType::iter().count(), 22);
        assert!("TenantReady".parse::<EventType>().is_err());
        let cli: Vec<_> = EventType::iter()
            .filter(|e| e.is_cli_event())
            .map(|e| e.as_str())
            .collect();
        assert_eq!(
            cli,
            [
                "subscription_created",
                "tenant_created",
                "database_created",
                "secrets_stored",
                "vm_provisioning_started",
                "vm_provisioning_progress",
                "vm_provisioned",
                "secrets_configured",
                "infrastructure_ready",
                "tenant_ready",
                "provisioning_failed"
            ]
        );
    }
}
