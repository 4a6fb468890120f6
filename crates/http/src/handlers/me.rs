//! `GET /auth/me`: who the token belongs to, the customer, and its tenants as the CLI's login reads them.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use mgmt_domain::{CustomerStatus, Plan, Tenant, TenantState};

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use crate::wire::{Me, MeCustomer, MeUser, PlanInfo, TenantInfo};

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let tenants = state
        .repos
        .tenants
        .list_for_customer(caller.customer.id)
        .await?;
    let plans: HashMap<String, Plan> = state
        .repos
        .plans
        .list()
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let suspended = caller.customer.status == CustomerStatus::Suspended;
    // A tenant being deleted is gone for the CLI: its delete already succeeded, and a tenant listed here
    // would be put back into the CLI's local index at the next `tenant list`.
    let infos = tenants
        .iter()
        .filter(|t| !matches!(t.state, TenantState::Deleting | TenantState::Deleted))
        .map(|t| {
            tenant_info(
                t,
                plans.get(&t.plan_id),
                suspended,
                &state.settings.tenant_db_host,
            )
        })
        .collect();
    let mut body = Me {
        user: MeUser {
            id: caller.claims.sub.clone(),
            // Only an address the CLI accepts (it panics otherwise, §3.1): the stored one was checked.
            email: caller
                .claims
                .email
                .clone()
                .filter(|e| mgmt_domain::email::is_valid_email(e))
                .unwrap_or_else(|| caller.customer.email.clone()),
            name: caller
                .claims
                .name
                .clone()
                .or_else(|| caller.claims.username.clone())
                .or_else(|| caller.customer.name.clone()),
        },
        customer: Some(MeCustomer {
            id: caller.customer.id.to_string(),
            status: Some(caller.customer.status.as_str().to_owned()),
        }),
        tenants: infos,
    };
    // Each tenant's subscription, from one query (the CLI accepts only its status spellings).
    let subscriptions: HashMap<String, mgmt_domain::Subscription> = state
        .repos
        .subscriptions
        .list_for_customer(caller.customer.id)
        .await?
        .into_iter()
        .map(|s| (s.tenant_id.to_string(), s))
        .collect();
    for info in &mut body.tenants {
        if let Some(s) = subscriptions.get(&info.id) {
            info.subscription_id = Some(s.id.clone());
            info.subscription_status = Some(crate::wire::SubscriptionStatus::from(s.status));
        }
    }
    Ok(HttpResponse::Ok().json(body))
}

fn tenant_info(t: &Tenant, plan: Option<&Plan>, suspended: bool, db_host: &str) -> TenantInfo {
    TenantInfo {
        id: t.id.to_string(),
        name: t.name.clone(),
        // Filled in by `me` from the subscriptions table.
        subscription_id: None,
        subscription_status: None,
        app_id: Some(t.fly_app_name.clone()),
        hostname: Some(t.hostname.clone()),
        region: Some(t.region.clone()),
        status: Some(t.state.tenant_info_status(suspended)),
        plan: plan.map(|p| PlanInfo {
            id: Some(p.id.clone()),
            name: p.name.clone(),
            memory_mb: p.memory_mb,
            volume_gb: p.volume_gb,
        }),
        external_db_access: t.external_db_access,
        database_url: masked_database_url(t, db_host),
    }
}

/// The tenant's internal database URL with the password masked in the one form the CLI recognises as
/// masked (`:********@`): it then fetches the real URL from `secrets_url`. Any other form (or none)
/// would be taken as a real URL and pushed to the tenant as its `DATABASE_URL`.
fn masked_database_url(t: &Tenant, db_host: &str) -> String {
    format!(
        "postgres://{}:{MASK}@{db_host}/{}",
        t.database_role, t.database_name
    )
}

/// What stands in for the password in `/auth/me`.
const MASK: &str = "********";
