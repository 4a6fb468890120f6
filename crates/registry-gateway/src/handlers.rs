//! Request handlers: authenticate, decide, then answer locally or forward to the upstream.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use mgmt_domain::{PushAccess, RepoError, media_type::MANIFEST_ACCEPT};
use serde_json::json;

use crate::auth::{authenticate, challenge};
use crate::credentials::TenantScope;
use crate::error::RegistryError;
use crate::forward::{self, Outbound, PublicOrigin};
use crate::policy::{Decision, decide};
use crate::route::{self, Route};
use crate::state::GatewayState;
use crate::{uploads, writes};

fn public_origin(req: &HttpRequest, state: &GatewayState) -> PublicOrigin {
    let scheme = state
        .public_scheme
        .clone()
        .unwrap_or_else(|| req.connection_info().scheme().to_owned());
    PublicOrigin {
        scheme,
        host: state.issuer.public_host().to_owned(),
    }
}

/// Authenticates the caller, holds it to its request rate, and checks that its tenant may still act
/// (asked on every request: a suspension or deletion stops the credential at once on every replica).
async fn caller(
    req: &HttpRequest,
    state: &GatewayState,
    scope_hint: Option<&str>,
) -> Result<TenantScope, RegistryError> {
    let origin = public_origin(req, state);
    let challenge = challenge(&origin.scheme, &origin.host, scope_hint);
    let scope = authenticate(req, &state.issuer, challenge.clone())?;
    if let Err(wait) = state.rate.check(scope.tenant) {
        return Err(RegistryError::too_many_requests(
            "too many requests for this tenant; slow down",
            wait,
        ));
    }
    let access = state
        .pushes
        .push_access(scope.tenant)
        .await
        .map_err(|e| unavailable(&scope, "tenant state", &e))?;
    match access {
        PushAccess::Allowed => Ok(scope),
        PushAccess::TenantGone => Err(RegistryError::unauthorized(
            "this tenant no longer exists",
            challenge,
        )),
        PushAccess::Suspended => Err(RegistryError::unauthorized(
            "this account is suspended",
            challenge,
        )),
    }
}

/// A storage failure behind a gateway decision: logged, answered 503 so the client retries.
pub(crate) fn unavailable(scope: &TenantScope, what: &str, e: &RepoError) -> RegistryError {
    tracing::warn!(tenant = %scope.tenant, error = %e, "{what} unavailable");
    RegistryError {
        retry_after: Some(1),
        ..RegistryError::unavailable(format!("{what} unavailable; retry later"))
    }
}

/// The request's declared body length, if any.
pub(crate) fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get("content-length")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// `GET /v2/token`: the Bearer flow. The client authenticates with its credential (Basic) and gets the
/// same credential back as its token, so there is one thing to verify and one expiry.
pub async fn token(req: HttpRequest, state: web::Data<GatewayState>) -> HttpResponse {
    let scope = match caller(&req, &state, None).await {
        Ok(scope) => scope,
        Err(mut e) => {
            // The token endpoint itself takes Basic credentials.
            e.challenge = Some(r#"Basic realm="registry-gateway""#.to_owned());
            tracing::info!(status = e.status.as_u16(), "registry token refused");
            return e.to_response();
        }
    };
    let token = crate::auth::presented_token(&req).unwrap_or_default();
    let expires_in = (scope.expires_at - Utc::now()).num_seconds().max(0);
    tracing::info!(tenant = %scope.tenant, "registry token issued");
    HttpResponse::Ok().json(json!({
        "token": token, "access_token": token, "expires_in": expires_in, "issued_at": Utc::now().to_rfc3339(),
    }))
}

/// Every `/v2/...` request.
pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<GatewayState>,
) -> HttpResponse {
    let Some(route) = route::parse(req.uri().path()) else {
        return RegistryError::not_found().to_response();
    };
    let hint = route.name().map(|n| format!("repository:{n}:pull,push"));
    let scope = match caller(&req, &state, hint.as_deref()).await {
        Ok(scope) => scope,
        Err(e) => {
            tracing::info!(method = %req.method(), route = route.kind(), status = e.status.as_u16(), "registry request unauthenticated");
            return e.to_response();
        }
    };
    let decision = decide(&scope, req.method(), &route);
    let res = match handle(&req, payload, &state, &scope, &route, decision).await {
        Ok(res) => res,
        Err(e) => e.to_response(),
    };
    tracing::info!(tenant = %scope.tenant, method = %req.method(), route = route.kind(), status = res.status().as_u16(), "registry request");
    res
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &GatewayState,
    scope: &TenantScope,
    route: &Route,
    decision: Decision,
) -> Result<HttpResponse, RegistryError> {
    let head = *req.method() == Method::HEAD;
    let origin = public_origin(req, state);
    let path = req.uri().path();
    let up = &state.upstream;
    match decision {
        Decision::Refuse(e) => Err(e),
        Decision::Base => Ok(HttpResponse::Ok()
            .insert_header(("Docker-Distribution-API-Version", "registry/2.0"))
            .json(json!({}))),
        Decision::OwnTags => own_tags(state, scope).await,
        // Reads forward no query at all: nothing a read needs is in one.
        Decision::Forward => {
            let res =
                forward::send_answer(up, &scope.repository, req, Outbound::empty(path)).await?;
            Ok(forward::respond(res, head, up.origin(), &origin))
        }
        Decision::ForwardIfReadable { digest, not_found } => {
            if !readable(state, scope, &digest).await? {
                return Err(not_found);
            }
            let res =
                forward::send_answer(up, &scope.repository, req, Outbound::empty(path)).await?;
            Ok(forward::respond(res, head, up.origin(), &origin))
        }
        Decision::PushManifest => {
            writes::push_manifest(req, payload, state, scope, route, &origin).await
        }
        Decision::Upload => match route {
            Route::Upload { id, .. } => {
                uploads::step(req, payload, state, scope, id, &origin).await
            }
            _ => uploads::start(req, payload, state, scope, &origin).await,
        },
    }
}

pub(crate) async fn readable(
    state: &GatewayState,
    scope: &TenantScope,
    digest: &str,
) -> Result<bool, RegistryError> {
    state
        .pushes
        .tenant_may_read(scope.tenant, digest)
        .await
        .map_err(|e| unavailable(scope, "push records", &e))
}

/// `tags/list` answers at most the tenant's own tag, and only when the upstream holds it: the listing
/// of a shared repository would reveal every other tenant.
async fn own_tags(
    state: &GatewayState,
    scope: &TenantScope,
) -> Result<HttpResponse, RegistryError> {
    let up = &state.upstream;
    let url = up.url(&format!("/v2/{}/manifests/{}", scope.repository, scope.tag));
    let auth = up.authorization(&scope.repository).await?;
    let res = up
        .client()
        .head(url)
        .header("accept", MANIFEST_ACCEPT.join(", "))
        .header("authorization", auth)
        .send()
        .await;
    let res = res.map_err(|e| crate::upstream::upstream_error("tags", &e))?;
    let tags: Vec<&str> = match res.status().as_u16() {
        200 => vec![scope.tag.as_str()],
        404 => vec![],
        other => {
            tracing::warn!(
                status = other,
                "upstream answered a tag lookup unexpectedly"
            );
            return Err(RegistryError::upstream(
                "upstream registry could not resolve the tag",
            ));
        }
    };
    Ok(HttpResponse::Ok().json(json!({"name": scope.repository, "tags": tags})))
}
