//! `GET /tenants/{id}/deployments`: the tenant's deployments, newest first.

use mgmt_domain::Deployment;
use serde::Serialize;
use utoipa::ToSchema;

/// One deploy request and how it went (a failed one names why: check output, exit code, OOM, rollback).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentView {
    pub id: String,
    /// `pending`, `in_progress`, `succeeded`, `failed` or `superseded`.
    pub status: String,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub requested_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

impl From<&Deployment> for DeploymentView {
    fn from(d: &Deployment) -> Self {
        Self {
            id: d.id.to_string(),
            status: d.status.as_str().to_owned(),
            image: d.image.clone(),
            digest: d.digest.clone(),
            error: d.error.clone(),
            requested_at: d.requested_at.to_rfc3339(),
            started_at: d.started_at.map(|t| t.to_rfc3339()),
            finished_at: d.finished_at.map(|t| t.to_rfc3339()),
        }
    }
}
