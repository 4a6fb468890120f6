//! The OpenAPI document (`GET /api/v1/openapi.json`), generated from the handlers' annotations.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers::{
    activity, billing, checkout, credentials, custom_domains, deploy, events, health, login, me,
    paddle_webhooks, secrets, tenants, token_exchange,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "management-api", description = "Tenant control plane for the customer CLI"),
    paths(
        health::health, health::ready, document,
        me::me, login::authorize, login::callback,
        tenants::list, tenants::create, tenants::get, tenants::delete, tenants::status,
        events::stream,
        deploy::registry_token, deploy::deploy, deploy::deployments, deploy::restart, deploy::retry_provision,
        secrets::set, secrets::list, secrets::unset,
        custom_domains::set, custom_domains::get, custom_domains::remove,
        billing::cancel, activity::record,
        credentials::get, credentials::rotate, credentials::set_external_db_access,
        token_exchange::jwks, token_exchange::exchange,
        checkout::plans, checkout::start, checkout::events, checkout::paid_return,
        checkout::free_page, checkout::free_confirm, paddle_webhooks::receive,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// This document, as JSON.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let doc = ApiDoc::openapi();
        let mut documented = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            let json = serde_json::to_value(item).unwrap();
            for method in ["get", "post", "put", "delete", "patch", "head", "options"] {
                if json.get(method).is_some() {
                    documented.insert((method.to_owned(), path.clone()));
                }
            }
        }
        let registered: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(
            registered.len(),
            ROUTES.len(),
            "a route is registered twice"
        );
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let unregistered: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty(),
            "registered but not documented: {undocumented:?}"
        );
        assert!(
            unregistered.is_empty(),
            "documented but not registered: {unregistered:?}"
        );
    }
}
