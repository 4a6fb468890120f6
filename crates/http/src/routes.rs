//! The route table: one list that both registers the handlers and names every route, so a test can
//! check it against the OpenAPI document in both directions.

use actix_web::middleware::from_fn;
use actix_web::web;

use crate::handlers::{
    activity, billing, checkout, credentials, custom_domains, deploy, events, health, login, me,
    paddle_webhooks, secrets, tenants, token_exchange,
};
use crate::input;
use crate::request_context;
use crate::state::AppState;

macro_rules! route_table {
    ($( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        /// Every registered route as (lowercase method, path).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn register(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
        }
    };
}

route_table! {
    get "/api/v1/health" => health::health,
    get "/api/v1/ready" => health::ready,
    get "/api/v1/openapi.json" => crate::openapi::document,
    get "/api/v1/auth/me" => me::me,
    get "/api/v1/auth/oauth/{provider}" => login::authorize,
    get "/api/v1/auth/oauth/{provider}/callback" => login::callback,
    get "/api/v1/tenants" => tenants::list,
    post "/api/v1/tenants" => tenants::create,
    get "/api/v1/tenants/{id}" => tenants::get,
    delete "/api/v1/tenants/{id}" => tenants::delete,
    get "/api/v1/tenants/{id}/status" => tenants::status,
    get "/api/v1/tenants/{id}/events" => events::stream,
    get "/api/v1/tenants/{id}/registry-token" => deploy::registry_token,
    post "/api/v1/tenants/{id}/deploy" => deploy::deploy,
    get "/api/v1/tenants/{id}/deployments" => deploy::deployments,
    post "/api/v1/tenants/{id}/restart" => deploy::restart,
    post "/api/v1/tenants/{id}/retry-provision" => deploy::retry_provision,
    put "/api/v1/tenants/{id}/secrets" => secrets::set,
    get "/api/v1/tenants/{id}/secrets" => secrets::list,
    delete "/api/v1/tenants/{id}/secrets/{key}" => secrets::unset,
    post "/api/v1/tenants/{id}/custom-domain" => custom_domains::set,
    get "/api/v1/tenants/{id}/custom-domain" => custom_domains::get,
    delete "/api/v1/tenants/{id}/custom-domain" => custom_domains::remove,
    post "/api/v1/tenants/{id}/subscription/cancel" => billing::cancel,
    post "/api/v1/activity" => activity::record,
    get "/api/v1/tenants/{id}/credentials" => credentials::get,
    post "/api/v1/tenants/{id}/rotate-credentials" => credentials::rotate,
    put "/api/v1/tenants/{id}/external-db-access" => credentials::set_external_db_access,
    get "/.well-known/jwks.json" => token_exchange::jwks,
    post "/api/v1/core/oauth/token" => token_exchange::exchange,
    get "/api/v1/checkout/plans" => checkout::plans,
    post "/api/v1/checkout" => checkout::start,
    get "/api/v1/checkout/{session}/events" => checkout::events,
    get "/checkout/return" => checkout::paid_return,
    get "/checkout/{session}" => checkout::free_page,
    post "/checkout/{session}" => checkout::free_confirm,
    post "/api/v1/webhooks/paddle" => paddle_webhooks::receive,
}

/// Registers the whole API on an app: state, extractor error handlers, request context, routes, and a
/// default service answering unknown routes with the error body. The caller adds
/// `tracing_actix_web::TracingLogger` around the app so each request has its id and span.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let limit = state.settings.json_limit;
        cfg.app_data(web::Data::new(state))
            .app_data(input::json_config(limit))
            .app_data(input::path_config())
            .app_data(input::query_config())
            .service(
                web::scope("")
                    .wrap(from_fn(request_context::middleware))
                    .configure(register)
                    .default_service(web::to(input::not_found)),
            );
    }
}
