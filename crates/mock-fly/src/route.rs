//! Maps a method and path to an operation. This is the single routing table of the mock: the
//! dispatcher serves exactly what it recognises, so anything else is reported as an unknown route.

use actix_web::http::Method;

use crate::ops::Op;
use crate::registry::path::RegPath;

#[derive(Debug)]
pub(crate) enum Route {
    /// `/v1/...`; `segs` are the decoded path segments after `/v1/`.
    Machines {
        op: Op,
        segs: Vec<String>,
    },
    Registry {
        op: Op,
        path: RegPath,
    },
    Inspect(Op),
    /// `POST /__mock/certificates/{hostname}/issue`: the hostname's certificate becomes issued.
    IssueCertificate(String),
    /// `POST /__mock/images/{digest}/{behaviour}`: machines running the digest behave so.
    ImageBehaviour(String, String),
    /// `GET|POST|DELETE /__mock/faults`: the fault switchboard (see `faults_http`).
    Faults(Op),
}

impl Route {
    pub(crate) fn op(&self) -> Op {
        match self {
            Route::Machines { op, .. } | Route::Registry { op, .. } | Route::Inspect(op) => *op,
            Route::IssueCertificate(_) => Op::MockIssueCertificate,
            Route::ImageBehaviour(..) => Op::MockImageBehaviour,
            Route::Faults(op) => *op,
        }
    }
}

/// Percent-decode one path segment (IPv6 addresses and hostnames may arrive encoded).
fn decode(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn classify(method: &Method, path: &str) -> Option<Route> {
    if let Some(rest) = path.strip_prefix("/v1/") {
        let segs: Vec<String> = rest.split('/').map(decode).collect();
        if segs.iter().any(String::is_empty) {
            return None;
        }
        return machines_op(method, &segs).map(|op| Route::Machines { op, segs });
    }
    if let Some(tail) = path.strip_prefix("/v2/") {
        let path = RegPath::parse(tail)?;
        return path.op(method).map(|op| Route::Registry { op, path });
    }
    if method == Method::POST
        && let Some(host) = path
            .strip_prefix("/__mock/certificates/")
            .and_then(|rest| rest.strip_suffix("/issue"))
            .filter(|h| !h.is_empty() && !h.contains('/'))
    {
        return Some(Route::IssueCertificate(decode(host)));
    }
    if method == Method::POST
        && let Some((digest, behaviour)) = path
            .strip_prefix("/__mock/images/")
            .and_then(|rest| rest.split_once('/'))
            .filter(|(d, b)| !d.is_empty() && !b.is_empty() && !b.contains('/'))
    {
        return Some(Route::ImageBehaviour(decode(digest), decode(behaviour)));
    }
    match (method.as_str(), path) {
        ("GET", "/__mock/state") => Some(Route::Inspect(Op::MockState)),
        ("GET", "/__mock/requests") => Some(Route::Inspect(Op::MockRequests)),
        ("GET", "/__mock/faults") => Some(Route::Faults(Op::MockFaultsList)),
        ("POST", "/__mock/faults") => Some(Route::Faults(Op::MockFaultsSet)),
        ("DELETE", "/__mock/faults") => Some(Route::Faults(Op::MockFaultsClear)),
        _ => None,
    }
}

fn machines_op(method: &Method, segs: &[String]) -> Option<Op> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.as_str();
    let op = match (m, s.as_slice()) {
        ("GET", ["apps"]) => Op::ListApps,
        ("POST", ["apps"]) => Op::CreateApp,
        ("GET", ["apps", _]) => Op::GetApp,
        ("DELETE", ["apps", _]) => Op::DeleteApp,
        ("GET", ["apps", _, "secrets"]) => Op::ListSecrets,
        ("POST", ["apps", _, "secrets"]) => Op::SetSecrets,
        ("GET", ["apps", _, "secrets", _]) => Op::GetSecret,
        ("POST", ["apps", _, "secrets", _]) => Op::SetSecrets,
        ("DELETE", ["apps", _, "secrets", _]) => Op::UnsetSecrets,
        ("GET", ["apps", _, "volumes"]) => Op::ListVolumes,
        ("POST", ["apps", _, "volumes"]) => Op::CreateVolume,
        ("GET", ["apps", _, "volumes", _]) => Op::GetVolume,
        ("DELETE", ["apps", _, "volumes", _]) => Op::DeleteVolume,
        ("GET", ["apps", _, "ip_assignments"]) => Op::ListIps,
        ("POST", ["apps", _, "ip_assignments"]) => Op::AssignIp,
        ("DELETE", ["apps", _, "ip_assignments", _]) => Op::DeleteIp,
        ("GET", ["apps", _, "certificates"]) => Op::ListCertificates,
        ("POST", ["apps", _, "certificates", "acme"]) => Op::CreateCertificate,
        ("GET", ["apps", _, "certificates", _]) => Op::GetCertificate,
        ("DELETE", ["apps", _, "certificates", _]) => Op::DeleteCertificate,
        ("DELETE", ["apps", _, "certificates", _, "acme"]) => Op::DeleteCertificate,
        ("GET", ["apps", _, "machines"]) => Op::ListMachines,
        ("POST", ["apps", _, "machines"]) => Op::CreateMachine,
        ("GET", ["apps", _, "machines", _]) => Op::GetMachine,
        ("POST", ["apps", _, "machines", _]) => Op::UpdateMachine,
        ("DELETE", ["apps", _, "machines", _]) => Op::DeleteMachine,
        ("POST", ["apps", _, "machines", _, "start"]) => Op::StartMachine,
        ("POST", ["apps", _, "machines", _, "stop"]) => Op::StopMachine,
        ("POST", ["apps", _, "machines", _, "restart"]) => Op::RestartMachine,
        ("GET", ["apps", _, "machines", _, "wait"]) => Op::WaitMachine,
        ("GET", ["apps", _, "machines", _, "metadata"]) => Op::GetMetadata,
        ("GET", ["apps", _, "machines", _, "lease"]) => Op::GetLease,
        ("POST", ["apps", _, "machines", _, "lease"]) => Op::AcquireLease,
        ("DELETE", ["apps", _, "machines", _, "lease"]) => Op::ReleaseLease,
        _ => return None,
    };
    Some(op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(decode("2a09%3A8280%3A%3A1"), "2a09:8280::1");
        assert_eq!(decode("abc%"), "abc%");
        assert_eq!(decode("a%zz"), "a%zz");
    }

    #[test]
    fn classifies_machines_and_registry() {
        let get = Method::GET;
        assert_eq!(
            classify(&get, "/v1/apps/a/machines/m1/wait").unwrap().op(),
            Op::WaitMachine
        );
        assert_eq!(
            classify(&get, "/v2/a/b/manifests/x").unwrap().op(),
            Op::RegistryManifestGet
        );
        assert!(classify(&get, "/v1/apps/a/nope").is_none());
        assert!(classify(&get, "/v1/apps//machines").is_none());
    }
}
