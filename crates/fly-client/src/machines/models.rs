//! Machines API models, following Fly's OpenAPI spec with the documented corrections.
//! Unknown response fields are ignored (no `deny_unknown_fields`), optional ones default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /v1/apps` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateAppRequest {
    pub app_name: String,
    pub org_slug: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub organization: Option<serde_json::Value>,
}

/// Result of a create that may have found the app already there (ours, from an earlier attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCreated {
    pub app: App,
    /// `false` when the app existed already.
    pub created: bool,
}

/// `GET /v1/apps/{app}/secrets`: names and the secrets version, never values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretsListing {
    pub names: Vec<String>,
    pub version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateVolumeRequest {
    pub name: String,
    pub region: String,
    pub size_gb: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub size_gb: Option<u32>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub attached_machine_id: Option<String>,
}

/// IP assignment types of `POST /v1/apps/{app}/ip_assignments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpKind {
    V4,
    V6,
    SharedV4,
    PrivateV6,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAssignment {
    pub ip: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub shared: Option<bool>,
    #[serde(default)]
    pub service_name: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub hostname: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub configured: Option<bool>,
    /// The DNS records Fly wants for the hostname (a custom domain's CNAME target).
    #[serde(default)]
    pub dns_requirements: Option<DnsRequirements>,
    /// The certificates held for the hostname (`status` `active` once one is issued).
    #[serde(default)]
    pub certificates: Vec<CertificateEntry>,
}

impl Certificate {
    /// Whether Fly holds an issued certificate for the hostname (its status, or an entry, is `active`).
    pub fn is_issued(&self) -> bool {
        self.status.as_deref() == Some("active")
            || self
                .certificates
                .iter()
                .any(|c| c.status.as_deref() == Some("active"))
    }
}

/// `dns_requirements` of a certificate: what the hostname's DNS must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DnsRequirements {
    #[serde(default)]
    pub cname: Option<String>,
    #[serde(default)]
    pub a: Vec<String>,
    #[serde(default)]
    pub aaaa: Vec<String>,
}

/// One entry of a certificate's `certificates` (Fly's `CertificateEntry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateEntry {
    #[serde(default)]
    pub source: Option<String>,
    /// `active`, `pending_ownership` or `pending_validation`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// Machine states we wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(strum::IntoStaticStr, strum::EnumString, strum::Display, strum::EnumIter)]
#[strum(serialize_all = "snake_case")]
pub enum MachineState {
    Created,
    Starting,
    Started,
    Stopping,
    Stopped,
    Suspended,
    Destroying,
    Destroyed,
}

impl MachineState {
    /// Fly's spelling (the `state` of a machine and of `/wait`).
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GuestConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_kind: Option<String>,
    pub cpus: u32,
    pub memory_mb: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    pub volume: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortConfig {
    pub port: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub handlers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_https: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    pub protocol: String,
    pub internal_port: u16,
    #[serde(default)]
    pub ports: Vec<PortConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    #[serde(rename = "type")]
    pub kind: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// How long after boot a failing check does not count (the app is still starting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RestartPolicy {
    pub policy: String,
}

/// `fly.MachineConfig` (the fields we use; others survive a round trip as `extra`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MachineConfig {
    pub image: String,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub guest: Option<GuestConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<MountConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceConfig>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, HealthCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// `POST /v1/apps/{app}/machines` and `POST /v1/apps/{app}/machines/{id}` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CreateMachineRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub config: MachineConfig,
    /// The machine starts only once the app's secrets reach this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_secrets_version: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub state: String,
    #[serde(default)]
    pub region: Option<String>,
    /// Changes on every update: what `wait` takes as `instance_id`.
    #[serde(default)]
    pub instance_id: Option<String>,
    #[serde(default)]
    pub config: Option<MachineConfig>,
    #[serde(default)]
    pub private_ip: Option<String>,
    /// The machine's health checks as flyd last ran them (`CheckStatus` of the spec).
    #[serde(default)]
    pub checks: Vec<CheckStatus>,
    /// Newest first: launch, update, start, exit (with the exit code / OOM in `request.exit_event`).
    #[serde(default)]
    pub events: Vec<MachineEvent>,
}

/// One health check's result on a machine: `status` is `passing`, `warning` or `critical`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CheckStatus {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// A machine event (`MachineEvent` of the spec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MachineEvent {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub timestamp: Option<i64>,
    #[serde(default)]
    pub request: Option<MachineEventRequest>,
}

/// The part of an event's `request` we read: a process exit (fly-go's `MachineRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MachineEventRequest {
    #[serde(default)]
    pub exit_event: Option<ExitEvent>,
    #[serde(default)]
    pub restart_count: Option<i64>,
}

/// How the machine's main process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExitEvent {
    #[serde(default)]
    pub exit_code: Option<i64>,
    #[serde(default)]
    pub oom_killed: bool,
    #[serde(default)]
    pub requested_stop: bool,
    #[serde(default)]
    pub restarting: bool,
}

/// A machine lease (the response is wrapped in `{"status":"success","data":{...}}` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub nonce: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

#[cfg(test)]
mod tests {
    use strum::IntoEnumIterator;

    use super::*;

    #[test]
    fn machine_states_are_spelled_as_fly_spells_them() {
        let words: Vec<_> = MachineState::iter().map(|s| s.as_str()).collect();
        assert_eq!(
            words,
            [
                "created",
                "starting",
                "started",
                "stopping",
                "stopped",
                "suspended",
                "destroying",
                "destroyed"
            ]
        );
        for s in MachineState::iter() {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
            assert_eq!(s.as_str().parse::<MachineState>().unwrap(), s);
        }
    }
}
