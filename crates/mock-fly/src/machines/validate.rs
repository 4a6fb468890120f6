//! Machine config validation as strict as Fly's API: guest sizes, services, checks, restart policy,
//! regions. Limits follow fly-go/flyctl's machine presets (`shared-cpu-Nx`, `performance-Nx`): memory
//! is a multiple of 256 MB (shared) or 1024 MB (performance) between the kind's per-CPU minimum and maximum.

use serde_json::Value;

/// Fly's public regions (flyctl `platform regions`); anything else is refused as Fly does.
pub(crate) const REGIONS: [&str; 35] = [
    "ams", "arn", "atl", "bog", "bom", "bos", "cdg", "den", "dfw", "ewr", "eze", "fra", "gdl",
    "gig", "gru", "hkg", "iad", "jnb", "lax", "lhr", "mad", "mia", "nrt", "ord", "otp", "phx",
    "qro", "scl", "sea", "sin", "sjc", "syd", "waw", "yul", "yyz",
];

pub(crate) fn known_region(r: &str) -> bool {
    REGIONS.contains(&r)
}

/// `Err(message)` for the first thing Fly would refuse (the API answers 400 with `{"error": ...}`).
pub(crate) fn config(config: &Value) -> Result<(), String> {
    guest(&config["guest"])?;
    services(&config["services"])?;
    checks(&config["checks"])?;
    restart(&config["restart"])?;
    Ok(())
}

fn as_u64(v: &Value, what: &str) -> Result<Option<u64>, String> {
    match v {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("invalid {what}: must be a non-negative integer")),
    }
}

fn guest(g: &Value) -> Result<(), String> {
    if g.is_null() {
        return Ok(());
    }
    if !g.is_object() {
        return Err("invalid guest: must be an object".into());
    }
    let kind = g["cpu_kind"].as_str().unwrap_or("shared");
    // (allowed cpus, min MB per cpu, max MB per cpu, memory increment), as flyctl checks a guest
    // (`cpusPerKind`, fly-go's MIN/MAX_MEMORY_MB_PER_*; performance memory comes in whole GB).
    let (cpus_ok, min_per, max_per, step): (&[u64], u64, u64, u64) = match kind {
        "" | "shared" => (&[1, 2, 4, 6, 8], 256, 2048, 256),
        "performance" => (
            &[1, 2, 4, 6, 8, 10, 12, 14, 16, 32, 64, 128],
            2048,
            8192,
            1024,
        ),
        other => {
            return Err(format!(
                "invalid guest.cpu_kind {other:?}: must be shared or performance"
            ));
        }
    };
    let cpus = as_u64(&g["cpus"], "guest.cpus")?.unwrap_or(1);
    if !cpus_ok.contains(&cpus) {
        return Err(format!(
            "invalid guest.cpus {cpus} for cpu_kind {kind}: allowed {cpus_ok:?}"
        ));
    }
    let mem = as_u64(&g["memory_mb"], "guest.memory_mb")?.unwrap_or(min_per * cpus);
    if mem % step != 0 {
        return Err(format!(
            "invalid guest.memory_mb {mem}: must be a multiple of {step} for cpu_kind {kind}"
        ));
    }
    let (lo, hi) = (min_per * cpus, max_per * cpus);
    if !(lo..=hi).contains(&mem) {
        return Err(format!(
            "invalid memory size {mem}MB for {kind}-cpu-{cpus}x: must be between {lo}MB and {hi}MB"
        ));
    }
    Ok(())
}

fn port(v: &Value, what: &str) -> Result<Option<u64>, String> {
    match as_u64(v, what)? {
        Some(p) if !(1..=65535).contains(&p) => Err(format!("invalid {what} {p}: must be 1-65535")),
        p => Ok(p),
    }
}

const HANDLERS: [&str; 5] = ["http", "tls", "proxy_proto", "pg_tls", "edge_http"];

fn services(s: &Value) -> Result<(), String> {
    let list = match s {
        Value::Null => return Ok(()),
        Value::Array(a) => a,
        _ => return Err("invalid services: must be an array".into()),
    };
    for (i, svc) in list.iter().enumerate() {
        let proto = svc["protocol"].as_str().unwrap_or_default();
        if !matches!(proto, "tcp" | "udp") {
            return Err(format!(
                "invalid services[{i}].protocol {proto:?}: must be tcp or udp"
            ));
        }
        if port(&svc["internal_port"], "internal_port")?.is_none() {
            return Err(format!("services[{i}].internal_port is required"));
        }
        let ports = match &svc["ports"] {
            Value::Null => continue,
            Value::Array(a) => a,
            _ => return Err(format!("invalid services[{i}].ports: must be an array")),
        };
        for p in ports {
            let single = port(&p["port"], "port")?;
            let start = port(&p["start_port"], "start_port")?;
            let end = port(&p["end_port"], "end_port")?;
            match (single, start, end) {
                (Some(_), None, None) => {}
                (None, Some(a), Some(b)) if a <= b => {}
                _ => {
                    return Err(format!(
                        "invalid services[{i}].ports: give port, or start_port <= end_port"
                    ));
                }
            }
            for h in p["handlers"].as_array().into_iter().flatten() {
                let h = h.as_str().unwrap_or_default();
                if !HANDLERS.contains(&h) {
                    return Err(format!("invalid handler {h:?} in services[{i}].ports"));
                }
            }
        }
    }
    Ok(())
}

/// Go duration strings as Fly accepts them (`15s`, `1m30s`, `500ms`).
fn duration(v: &Value, what: &str) -> Result<(), String> {
    let Some(s) = v.as_str() else {
        return if v.is_null() {
            Ok(())
        } else {
            Err(format!("invalid {what}: must be a duration string"))
        };
    };
    if go_duration(s) {
        Ok(())
    } else {
        Err(format!("invalid {what} {s:?}: not a duration"))
    }
}

fn go_duration(s: &str) -> bool {
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
        let unit = ["ns", "us", "ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

fn checks(c: &Value) -> Result<(), String> {
    let map = match c {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        _ => return Err("invalid checks: must be an object of named checks".into()),
    };
    for (name, chk) in map {
        let kind = chk["type"].as_str().unwrap_or_default();
        if !matches!(kind, "http" | "tcp") {
            return Err(format!(
                "invalid checks.{name}.type {kind:?}: must be http or tcp"
            ));
        }
        if port(&chk["port"], "check port")?.is_none() {
            return Err(format!("checks.{name}.port is required"));
        }
        for f in ["interval", "timeout", "grace_period"] {
            duration(&chk[f], &format!("checks.{name}.{f}"))?;
        }
        if let Some(p) = chk["path"].as_str().filter(|p| !p.starts_with('/')) {
            return Err(format!(
                "invalid checks.{name}.path {p:?}: must start with /"
            ));
        }
        let method_ok = |m: &str| {
            matches!(
                m.to_ascii_uppercase().as_str(),
                "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS"
            )
        };
        if let Some(m) = chk["method"].as_str().filter(|m| !method_ok(m)) {
            return Err(format!("invalid checks.{name}.method {m:?}"));
        }
    }
    Ok(())
}

fn restart(r: &Value) -> Result<(), String> {
    if r.is_null() {
        return Ok(());
    }
    match r["policy"].as_str() {
        None | Some("no" | "always" | "on-failure" | "spot-price") => {}
        Some(p) => {
            return Err(format!(
                "invalid restart.policy {p:?}: must be no, always, on-failure or spot-price"
            ));
        }
    }
    as_u64(&r["max_retries"], "restart.max_retries")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn guest_limits_follow_flys_presets() {
        let g = |k: &str, c: u64, m: u64| {
            config(&json!({"guest": {"cpu_kind": k, "cpus": c, "memory_mb": m}})).is_ok()
        };
        assert!(g("shared", 1, 256) && g("shared", 1, 2048) && g("shared", 8, 16384));
        assert!(!g("shared", 1, 300) && !g("shared", 1, 2304) && !g("shared", 3, 768));
        assert!(!g("shared", 2, 256), "two shared CPUs need at least 512 MB");
        assert!(g("performance", 1, 2048) && g("performance", 16, 131_072));
        assert!(!g("performance", 1, 1024) && !g("gpu", 1, 256));
        assert!(g("shared", 6, 1536) && g("performance", 32, 65_536));
        assert!(
            !g("performance", 1, 2304),
            "performance memory comes in 1024 MB steps"
        );
        assert!(!g("shared", 16, 4096) && !g("performance", 3, 6144));
    }

    #[test]
    fn durations_are_go_durations() {
        for ok in ["15s", "1m30s", "500ms", "2h"] {
            assert!(go_duration(ok), "{ok}");
        }
        for bad in ["", "15", "s", "1x", "fast"] {
            assert!(duration(&json!(bad), "d").is_err(), "{bad}");
        }
    }
}
