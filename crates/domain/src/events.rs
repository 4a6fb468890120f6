//! Tenant event types: the CLI's provisioning vocabulary plus our own deploy and cleanup events.
//!
//! The CLI understands exactly the first eleven spellings and skips anything else, so our own events
//! (deploy, restart, cleanup) can share the stream without confusing it.

use serde::{Deserialize, Serialize};

/// What happened to a tenant. Serialized in snake_case, which is what the CLI reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
}

impl EventType {
    pub const ALL: [EventType; 21] = [
        Self::SubscriptionCreated,
        Self::TenantCreated,
        Self::DatabaseCreated,
        Self::SecretsStored,
        Self::VmProvisioningStarted,
        Self::VmProvisioningProgress,
        Self::VmProvisioned,
        Self::SecretsConfigured,
        Self::InfrastructureReady,
        Self::TenantReady,
        Self::ProvisioningFailed,
        Self::DeploymentRequested,
        Self::DeploymentStarted,
        Self::DeploymentSucceeded,
        Self::DeploymentFailed,
        Self::MachineRestarted,
        Self::SecretsUpdated,
        Self::CleanupStarted,
        Self::CleanupStepDone,
        Self::CleanupStepFailed,
        Self::TenantDeleted,
    ];

    /// The wire spelling (also the database spelling).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::SubscriptionCreated => "subscription_created",
            Self::TenantCreated => "tenant_created",
            Self::DatabaseCreated => "database_created",
            Self::SecretsStored => "secrets_stored",
            Self::VmProvisioningStarted => "vm_provisioning_started",
            Self::VmProvisioningProgress => "vm_provisioning_progress",
            Self::VmProvisioned => "vm_provisioned",
            Self::SecretsConfigured => "secrets_configured",
            Self::InfrastructureReady => "infrastructure_ready",
            Self::TenantReady => "tenant_ready",
            Self::ProvisioningFailed => "provisioning_failed",
            Self::DeploymentRequested => "deployment_requested",
            Self::DeploymentStarted => "deployment_started",
            Self::DeploymentSucceeded => "deployment_succeeded",
            Self::DeploymentFailed => "deployment_failed",
            Self::MachineRestarted => "machine_restarted",
            Self::SecretsUpdated => "secrets_updated",
            Self::CleanupStarted => "cleanup_started",
            Self::CleanupStepDone => "cleanup_step_done",
            Self::CleanupStepFailed => "cleanup_step_failed",
            Self::TenantDeleted => "tenant_deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Whether the CLI knows this event type (it skips the others).
    pub fn is_cli_event(&self) -> bool {
        (*self as usize) <= (Self::ProvisioningFailed as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_match_serde() {
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
        }
        let cli: Vec<_> = EventType::ALL
            .iter()
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
