//! The one entry point of every request: route, record, inject faults, authenticate, check the zone,
//! then act on the zone's records. Anything the routing table does not know is a loud 404.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::{Fault, Faults};

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A DNS record as Cloudflare returns it (the fields our client reads, plus a few more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub content: String,
    pub proxied: bool,
    pub ttl: u32,
    pub created_on: String,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub api_token: String,
    pub zone_id: String,
    pub faults: Faults,
    records: Mutex<Vec<DnsRecord>>,
    log: Mutex<(Vec<RecordedRequest>, Vec<String>)>,
}

const API_PREFIX: &str = "/client/v4";

impl Shared {
    pub(crate) fn new(api_token: String, zone_id: String) -> Self {
        Self {
            api_token,
            zone_id,
            faults: Faults::default(),
            records: Mutex::new(Vec::new()),
            log: Mutex::new((Vec::new(), Vec::new())),
        }
    }

    fn lock_records(&self) -> MutexGuard<'_, Vec<DnsRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, (Vec<RecordedRequest>, Vec<String>)> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn records(&self) -> Vec<DnsRecord> {
        self.lock_records().clone()
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.log().0.clone()
    }

    pub(crate) fn unknown_routes(&self) -> Vec<String> {
        self.log().1.clone()
    }

    pub(crate) fn seed(&self, kind: &str, name: &str, content: &str, proxied: bool) -> DnsRecord {
        let rec = new_record(kind, name, content, proxied, 1);
        self.lock_records().push(rec.clone());
        rec
    }
}

fn new_record(kind: &str, name: &str, content: &str, proxied: bool, ttl: u32) -> DnsRecord {
    DnsRecord {
        id: uuid::Uuid::new_v4().simple().to_string(),
        kind: kind.to_ascii_uppercase(),
        name: normalize(name),
        content: content.to_owned(),
        proxied,
        ttl,
        created_on: chrono::Utc::now().to_rfc3339(),
    }
}

/// Cloudflare stores names lowercase, without a trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    List(String),
    Create(String),
    Delete(String, String),
    Control(Control),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Control {
    SeedRecord,
    Records,
    InjectFault,
    ClearFaults,
    Requests,
}

impl Route {
    /// The operation name faults match on.
    fn op(&self) -> &'static str {
        match self {
            Route::List(_) => "list_records",
            Route::Create(_) => "create_record",
            Route::Delete(..) => "delete_record",
            Route::Control(_) => "control",
        }
    }
}

fn classify(method: &Method, path: &str) -> Option<Route> {
    if let Some(rest) = path.strip_prefix("/__mock/") {
        let c = match (method.as_str(), rest) {
            ("POST", "records") => Control::SeedRecord,
            ("GET", "records") => Control::Records,
            ("POST", "faults") => Control::InjectFault,
            ("DELETE", "faults") => Control::ClearFaults,
            ("GET", "requests") => Control::Requests,
            _ => return None,
        };
        return Some(Route::Control(c));
    }
    let rest = path.strip_prefix(API_PREFIX)?;
    let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    Some(match (method.as_str(), segs.as_slice()) {
        ("GET", ["zones", zone, "dns_records"]) if !zone.is_empty() => {
            Route::List((*zone).to_owned())
        }
        ("POST", ["zones", zone, "dns_records"]) if !zone.is_empty() => {
            Route::Create((*zone).to_owned())
        }
        ("DELETE", ["zones", zone, "dns_records", id]) if !zone.is_empty() && !id.is_empty() => {
            Route::Delete((*zone).to_owned(), (*id).to_owned())
        }
        _ => return None,
    })
}

pub(crate) async fn entry(req: HttpRequest, body: Bytes, ctx: web::Data<Shared>) -> HttpResponse {
    let resp = match classify(req.method(), req.path()) {
        None => {
            let line = format!("{} {}", req.method(), req.path());
            tracing::error!(route = %line, "mock-cloudflare: UNKNOWN ROUTE");
            ctx.log().1.push(line.clone());
            // Cloudflare's answer to a path it has no route for.
            error(404, &[(7000, "No route for that URI")])
        }
        Some(Route::Control(c)) => control(&ctx, c, &body),
        Some(route) => cloudflare(&ctx, &req, route, &body).await,
    };
    ctx.log().0.push(RecordedRequest {
        method: req.method().to_string(),
        path: req.path().to_owned(),
        status: resp.status().as_u16(),
    });
    resp
}

/// Cloudflare's envelope for a failure.
fn error(status: u16, errors: &[(u32, &str)]) -> HttpResponse {
    let errors: Vec<Value> = errors
        .iter()
        .map(|(code, message)| json!({ "code": code, "message": message }))
        .collect();
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    )
    .json(json!({ "success": false, "errors": errors, "messages": [], "result": null }))
}

/// Cloudflare's envelope for a success.
fn ok(result: Value, extra: Option<(&str, Value)>) -> HttpResponse {
    let mut body = json!({ "success": true, "errors": [], "messages": [], "result": result });
    if let Some((k, v)) = extra {
        body[k] = v;
    }
    HttpResponse::Ok().json(body)
}

/// API-token authentication, answered the way Cloudflare answers each kind of mistake.
fn authenticate(ctx: &Shared, req: &HttpRequest) -> Result<(), HttpResponse> {
    let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Err(error(
            400,
            &[(
                9106,
                "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
            )],
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty());
    match token {
        None => Err(error(400, &[(6003, "Invalid request headers")])),
        Some(t) if t != ctx.api_token => Err(error(403, &[(10000, "Authentication error")])),
        Some(_) => Ok(()),
    }
}

async fn cloudflare(ctx: &Shared, req: &HttpRequest, route: Route, body: &[u8]) -> HttpResponse {
    let decision = ctx.faults.decide(route.op());
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if let Some(status) = decision.status {
        let mut resp = if status == 429 {
            error(
                429,
                &[(
                    971,
                    "Please wait and consider throttling your request speed",
                )],
            )
        } else if status >= 500 {
            error(status, &[(10001, "mock-cloudflare: injected fault")])
        } else {
            error(status, &[(1000, "mock-cloudflare: injected fault")])
        };
        if let Some(secs) = decision.retry_after
            && let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, v);
        }
        return resp;
    }
    if let Err(resp) = authenticate(ctx, req) {
        return resp;
    }
    let zone = match &route {
        Route::List(z) | Route::Create(z) | Route::Delete(z, _) => z.clone(),
        Route::Control(_) => String::new(),
    };
    if zone != ctx.zone_id {
        let msg = format!(
            "Could not route to /zones/{zone}/dns_records, perhaps your object identifier is invalid?"
        );
        return error(400, &[(7003, &msg), (7000, "No route for that URI")]);
    }
    let resp = match route {
        Route::List(_) => list(ctx, req.query_string()),
        Route::Create(_) => create(ctx, body),
        Route::Delete(_, id) => delete(ctx, &id),
        Route::Control(c) => control(ctx, c, body),
    };
    if decision.drop_after_acting {
        tracing::warn!(
            route = %format!("{} {}", req.method(), req.path()),
            "mock-cloudflare: acted, dropping the answer as injected"
        );
        return dropped(resp.status());
    }
    resp
}

fn list(ctx: &Shared, query: &str) -> HttpResponse {
    let q = match web::Query::<HashMap<String, String>>::from_query(query) {
        Ok(q) => q.into_inner(),
        Err(e) => return error(400, &[(1004, &format!("DNS Validation Error: {e}"))]),
    };
    // `name` and `name.exact` both match the whole name (Cloudflare's default for `name`).
    let name = q
        .get("name.exact")
        .or_else(|| q.get("name"))
        .map(|n| normalize(n));
    let kind = q.get("type").map(|t| t.to_ascii_uppercase());
    let per_page: usize = match q.get("per_page").map(|p| p.parse()) {
        None => 100,
        Some(Ok(n)) if (5..=5_000_000).contains(&n) => n,
        Some(_) => return error(400, &[(1004, "DNS Validation Error: per_page")]),
    };
    let page: usize = match q.get("page").map(|p| p.parse()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return error(400, &[(1004, "DNS Validation Error: page")]),
    };
    let matching: Vec<DnsRecord> = ctx
        .lock_records()
        .iter()
        .filter(|r| name.as_ref().is_none_or(|n| &r.name == n))
        .filter(|r| kind.as_ref().is_none_or(|k| &r.kind == k))
        .cloned()
        .collect();
    // Paginated as Cloudflare does: a client that reads only the first page sees `total_pages` > 1.
    let total_count = matching.len();
    let found: Vec<DnsRecord> = matching
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let count = found.len();
    ok(
        json!(found),
        Some((
            "result_info",
            json!({
                "page": page,
                "per_page": per_page,
                "count": count,
                "total_count": total_count,
                "total_pages": total_count.div_ceil(per_page),
            }),
        )),
    )
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    content: Option<String>,
    #[serde(default)]
    proxied: bool,
    ttl: Option<u32>,
    #[serde(default)]
    #[allow(dead_code, reason = "accepted as Cloudflare accepts it; not stored")]
    comment: Option<String>,
}

fn create(ctx: &Shared, body: &[u8]) -> HttpResponse {
    let b: CreateBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return error(400, &[(9207, &format!("Request body is invalid: {e}"))]),
    };
    let (Some(kind), Some(name), Some(content)) = (b.kind, b.name, b.content) else {
        return error(400, &[(9005, "Content, name and type are required")]);
    };
    let kind = kind.to_ascii_uppercase();
    if !["A", "AAAA", "CNAME", "TXT", "MX", "NS", "CAA"].contains(&kind.as_str()) {
        return error(400, &[(1004, "DNS Validation Error")]);
    }
    let ttl = b.ttl.unwrap_or(1);
    if ttl != 1 && !(30..=86_400).contains(&ttl) {
        return error(
            400,
            &[(
                9021,
                "Invalid TTL. Must be between 30 and 86400 or 1 for automatic",
            )],
        );
    }
    if b.proxied && !matches!(kind.as_str(), "A" | "AAAA" | "CNAME") {
        return error(400, &[(9004, "This record type cannot be proxied.")]);
    }
    let name = normalize(&name);
    if name.is_empty() || content.is_empty() {
        return error(400, &[(9005, "Content, name and type are required")]);
    }
    let mut records = ctx.lock_records();
    let same_name: Vec<&DnsRecord> = records.iter().filter(|r| r.name == name).collect();
    if same_name
        .iter()
        .any(|r| r.kind == kind && r.content == content)
    {
        return error(400, &[(81058, "An identical record already exists.")]);
    }
    let address_like = |k: &str| matches!(k, "A" | "AAAA" | "CNAME");
    if same_name.iter().any(|r| r.kind == "CNAME")
        || (kind == "CNAME" && same_name.iter().any(|r| address_like(&r.kind)))
    {
        return error(
            400,
            &[(
                81053,
                "An A, AAAA, or CNAME record with that host already exists.",
            )],
        );
    }
    let rec = new_record(&kind, &name, &content, b.proxied, ttl);
    records.push(rec.clone());
    ok(json!(rec), None)
}

fn delete(ctx: &Shared, id: &str) -> HttpResponse {
    let mut records = ctx.lock_records();
    match records.iter().position(|r| r.id == id) {
        Some(i) => {
            records.remove(i);
            ok(json!({ "id": id }), None)
        }
        None => error(404, &[(81044, "Record does not exist.")]),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    content: String,
    #[serde(default)]
    proxied: bool,
}

fn control(ctx: &Shared, c: Control, body: &[u8]) -> HttpResponse {
    let bad = |m: String| HttpResponse::BadRequest().json(json!({ "error": m }));
    match c {
        Control::SeedRecord => match serde_json::from_slice::<Seed>(body) {
            Ok(s) => {
                HttpResponse::Created().json(ctx.seed(&s.kind, &s.name, &s.content, s.proxied))
            }
            Err(e) => bad(format!("seed: {e}")),
        },
        Control::Records => HttpResponse::Ok().json(json!({ "records": ctx.records() })),
        Control::InjectFault => match serde_json::from_slice::<Fault>(body) {
            Ok(f) => {
                ctx.faults.inject(f);
                HttpResponse::NoContent().finish()
            }
            Err(e) => bad(format!("fault: {e}")),
        },
        Control::ClearFaults => {
            ctx.faults.clear();
            HttpResponse::NoContent().finish()
        }
        Control::Requests => HttpResponse::Ok().json(json!({
            "requests": ctx.requests(),
            "unknown_routes": ctx.unknown_routes(),
        })),
    }
}

/// A response whose body fails at once: actix aborts the connection and the client never receives
/// a complete answer.
fn dropped(status: actix_web::http::StatusCode) -> HttpResponse {
    let body = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other(
            "mock-cloudflare: injected lost answer",
        ))
    });
    HttpResponse::build(status).streaming(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_cloudflare_and_control_routes() {
        let z = "/client/v4/zones/z1/dns_records";
        assert_eq!(classify(&Method::GET, z), Some(Route::List("z1".into())));
        assert_eq!(classify(&Method::POST, z), Some(Route::Create("z1".into())));
        assert_eq!(
            classify(&Method::DELETE, &format!("{z}/r1")),
            Some(Route::Delete("z1".into(), "r1".into()))
        );
        assert!(classify(&Method::DELETE, z).is_none());
        assert!(classify(&Method::GET, "/zones/z1/dns_records").is_none());
        assert_eq!(
            classify(&Method::POST, "/__mock/faults"),
            Some(Route::Control(Control::InjectFault))
        );
    }
}
