//! A consistent copy of the mock's whole state, for assertions in tests and `GET /__mock/state`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::state::{AppRecord, MachineRecord, RepoRecord, VolumeRecord, World};

/// What the mock holds at one instant. Secrets appear as names and digests only.
#[derive(Debug, Clone, Serialize)]
pub struct StateSnapshot {
    /// Apps with their secrets (names, digests, version), IPs and certificates.
    pub apps: Vec<AppRecord>,
    /// Machines that are not destroyed.
    pub machines: Vec<MachineRecord>,
    /// Ids of destroyed machines whose app still exists (Fly keeps them visible for a while).
    pub destroyed_machines: Vec<String>,
    pub volumes: Vec<VolumeRecord>,
    /// Registry repositories by name.
    pub repositories: BTreeMap<String, RepoRecord>,
    /// Every blob digest stored, in any repository.
    pub blobs: Vec<String>,
    /// Upload sessions started and neither finished nor cancelled.
    pub open_uploads: usize,
}

impl StateSnapshot {
    pub(crate) fn of(world: &World) -> Self {
        let (live, dead): (Vec<_>, Vec<_>) = world
            .machines
            .values()
            .cloned()
            .partition(|m| m.state != "destroyed");
        Self {
            apps: world.apps.values().cloned().collect(),
            machines: live,
            destroyed_machines: dead.into_iter().map(|m| m.id).collect(),
            volumes: world.volumes.values().cloned().collect(),
            repositories: world.registry.repos.clone(),
            blobs: world.registry.blobs.keys().cloned().collect(),
            open_uploads: world.registry.uploads.len(),
        }
    }

    pub fn app(&self, name: &str) -> Option<&AppRecord> {
        self.apps.iter().find(|a| a.name == name)
    }

    pub fn machines_of(&self, app: &str) -> Vec<&MachineRecord> {
        self.machines.iter().filter(|m| m.app == app).collect()
    }

    pub fn volumes_of(&self, app: &str) -> Vec<&VolumeRecord> {
        self.volumes.iter().filter(|v| v.app == app).collect()
    }

    /// The digest `repo:tag` points at, if any.
    pub fn tag(&self, repo: &str, tag: &str) -> Option<&str> {
        self.repositories
            .get(repo)?
            .tags
            .get(tag)
            .map(String::as_str)
    }

    /// Human-readable list of whatever still exists for `app` (the app itself, machines, volumes,
    /// and the tags named in `tags` of repository `repo`); empty means fully cleaned up.
    pub fn leftovers(&self, app: &str, repo: &str, tags: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        if self.app(app).is_some() {
            out.push(format!("app {app}"));
        }
        out.extend(
            self.machines_of(app)
                .iter()
                .map(|m| format!("machine {}", m.id)),
        );
        out.extend(
            self.volumes_of(app)
                .iter()
                .map(|v| format!("volume {}", v.id)),
        );
        for tag in tags {
            if let Some(d) = self.tag(repo, tag) {
                out.push(format!("tag {repo}:{tag} -> {d}"));
            }
        }
        out
    }
}
