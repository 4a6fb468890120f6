//! The tenant lifecycle: internal states, the allowed transitions, and the words the CLI sees.
//!
//! ```text
//! pending → provisioning → awaiting_deploy → deploying → running
//!              ↓    ↑                          ↓   ↑        │
//!            failed ┘(retry-provision)       failed ┘(redeploy)
//! any state but deleted → deleting → deleted
//! ```
//!
//! The CLI reads one word: it waits for `ready` after creating a tenant (before its first deploy) and gives
//! up on `failed`. So `ready` means "usable": from the end of phase 1 on, whatever deploys do; the finer
//! state travels in the message and in extra fields.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Internal lifecycle state of a tenant (the database spelling is the snake_case name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum TenantState {
    /// Created, provisioning not started yet.
    Pending,
    /// Phase 1 running: database, app, secrets, volume, IPs, certificate.
    Provisioning,
    /// Infrastructure ready; waiting for the first image.
    AwaitingDeploy,
    /// A deploy was accepted and is being rolled out.
    Deploying,
    /// The machine runs the deployed image.
    Running,
    /// Provisioning or a deploy failed; the status message says why.
    Failed,
    /// Cleanup job enqueued or running.
    Deleting,
    /// Every resource is gone.
    Deleted,
}

/// A transition the lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tenant that is {from} cannot become {to}")]
pub struct TransitionError {
    pub from: TenantState,
    pub to: TenantState,
}

impl TenantState {
    /// The database spelling (also the CLI's word for the in-progress states).
    pub fn as_str(&self) -> &'static str {
        self.into()
    }

    /// Whether `self → to` is allowed. Staying in `deploying` (a newer deploy supersedes one in flight),
    /// `running` (restart) and `deleting` (a retried cleanup) is allowed; other self-loops are not.
    pub fn can_transition_to(&self, to: TenantState) -> bool {
        use TenantState::*;
        match (self, to) {
            (Deleted, _) => false,
            (_, Deleting) => true,
            (Pending, Provisioning) => true,
            (Provisioning, AwaitingDeploy | Failed) => true,
            (AwaitingDeploy, Deploying) => true,
            (Deploying, Deploying | Running | Failed) => true,
            (Running, Deploying | Running | Failed) => true,
            (Failed, Provisioning | Deploying) => true,
            (Deleting, Deleted) => true,
            _ => false,
        }
    }

    /// Checked transition.
    pub fn transition(self, to: TenantState) -> Result<TenantState, TransitionError> {
        if self.can_transition_to(to) {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    /// A final state: nothing will happen without a new request.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            Self::AwaitingDeploy | Self::Running | Self::Failed | Self::Deleted
        )
    }

    /// States in which the tenant's infrastructure exists and an image may be pushed and deployed.
    /// A `failed` tenant may deploy only if its infrastructure is in place (checked by the use case).
    pub fn accepts_deploy(&self) -> bool {
        matches!(
            self,
            Self::AwaitingDeploy | Self::Deploying | Self::Running | Self::Failed
        )
    }

    /// The word `/status` answers for a tenant in this state. The CLI treats `ready` as done, `failed` as
    /// failed, and polls on anything else. Phase 1 done is `ready`: the CLI's `tenant create` waits for it
    /// before its first deploy. A `failed` tenant that still runs an earlier image is ready too (see
    /// [`crate::Tenant::cli_status`], which knows the machine).
    pub fn cli_status(&self) -> CliStatus {
        match self {
            Self::AwaitingDeploy | Self::Deploying | Self::Running => CliStatus::Ready,
            Self::Failed => CliStatus::Failed,
            other => CliStatus::InProgress(*other),
        }
    }

    /// `TenantInfo.status` in `auth/me`: one of `pending | active | suspended | deleted`.
    pub fn tenant_info_status(&self, customer_suspended: bool) -> TenantInfoStatus {
        match self {
            Self::Deleting | Self::Deleted => TenantInfoStatus::Deleted,
            _ if customer_suspended => TenantInfoStatus::Suspended,
            Self::AwaitingDeploy | Self::Running | Self::Deploying => TenantInfoStatus::Active,
            _ => TenantInfoStatus::Pending,
        }
    }
}

/// The status word of `GET /tenants/{id}/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliStatus {
    Ready,
    Failed,
    InProgress(TenantState),
}

impl CliStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::InProgress(s) => s.as_str(),
        }
    }
}

impl fmt::Display for CliStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `TenantInfo.status` as the CLI's login parses it; any other spelling breaks the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantInfoStatus {
    Pending,
    Active,
    Suspended,
    Deleted,
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::TenantState::*;
    use super::*;

    #[test]
    fn happy_path_and_retry_are_allowed() {
        let s = Pending.transition(Provisioning).unwrap();
        let s = s.transition(Failed).unwrap();
        let s = s.transition(Provisioning).unwrap();
        let s = s.transition(AwaitingDeploy).unwrap();
        let s = s.transition(Deploying).unwrap();
        let s = s.transition(Running).unwrap();
        let s = s.transition(Deploying).unwrap();
        let s = s.transition(Deleting).unwrap();
        assert_eq!(s.transition(Deleted).unwrap(), Deleted);
    }

    #[test]
    fn illegal_transitions_are_refused() {
        for (from, to) in [
            (Pending, Running),
            (Pending, AwaitingDeploy),
            (Provisioning, Running),
            (AwaitingDeploy, Running),
            (AwaitingDeploy, Provisioning),
            (Running, Provisioning),
            (Deleting, Running),
            (Deleting, Provisioning),
            (Deleted, Deleting),
            (Deleted, Pending),
            (Pending, Deleted),
            (Running, Deleted),
        ] {
            let err = from.transition(to).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("a tenant that is {from} cannot become {to}")
            );
        }
    }

    #[test]
    fn every_live_state_can_be_deleted_and_deleted_is_terminal() {
        for s in TenantState::iter() {
            assert_eq!(s.can_transition_to(Deleting), s != Deleted, "{s}");
            assert!(!Deleted.can_transition_to(s));
        }
    }

    #[test]
    fn cli_words() {
        for s in [AwaitingDeploy, Deploying, Running] {
            assert_eq!(s.cli_status().as_str(), "ready", "{s}");
        }
        assert_eq!(Failed.cli_status().as_str(), "failed");
        for s in [Pending, Provisioning, Deleting, Deleted] {
            let word = s.cli_status().as_str();
            assert!(word != "ready" && word != "failed");
            assert_eq!(word, s.as_str());
        }
        assert_eq!(Running.tenant_info_status(false), TenantInfoStatus::Active);
        assert_eq!(
            Running.tenant_info_status(true),
            TenantInfoStatus::Suspended
        );
        assert_eq!(Deleting.tenant_info_status(true), TenantInfoStatus::Deleted);
        assert_eq!(
            Provisioning.tenant_info_status(false),
            TenantInfoStatus::Pending
        );
        assert_eq!(
            AwaitingDeploy.tenant_info_status(false),
            TenantInfoStatus::Active
        );
        assert_eq!(
            serde_json::to_string(&TenantInfoStatus::Suspended).unwrap(),
            "\"suspended\""
        );
    }

    #[test]
    fn spellings_round_trip() {
        for s in TenantState::iter() {
            assert_eq!(s.as_str().parse::<TenantState>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        let words: Vec<_> = TenantState::iter().map(|s| s.as_str()).collect();
        assert_eq!(
            words,
            [
                "pending",
                "provisioning",
                "awaiting_deploy",
                "deploying",
                "running",
                "failed",
                "deleting",
                "deleted"
            ]
        );
        assert!("Running".parse::<TenantState>().is_err());
    }
}
