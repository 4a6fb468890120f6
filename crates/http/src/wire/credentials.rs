//! Bodies of the tenant credential endpoints: the owner's `secrets_url` (`TenantSecrets`, bare),
//! `rotate-credentials` (`RotateCredentials`, bare) and `external-db-access` (`{data: ExternalDbAccess}`).
//!
//! These answers are the few that carry secrets to the owner, as the contract requires. The values are
//! held as `SecretString` so `Debug` (and therefore any log of the value) prints them redacted; only
//! serialization writes them out.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

/// Writes a secret's value (response bodies only).
fn expose<S: Serializer>(value: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.expose_secret())
}

/// `GET /tenants/{id}/credentials` (the `secrets_url` of `/status`): bare, every field a string.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantSecrets {
    /// The platform `JWT_SECRET` set on the tenant's app.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub jwt_secret: SecretString,
    /// The external URL when external access is enabled and the server has a public database
    /// endpoint; otherwise the internal one.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub database_url: SecretString,
    /// `postgres://{role}:{password}@{tenant db host}/{db}`, what the app's `DATABASE_URL` holds.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub internal_database_url: SecretString,
    pub app_url: String,
}

/// `POST /tenants/{id}/rotate-credentials`: bare, every field a string.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotateCredentials {
    pub status: String,
    pub message: String,
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub internal_database_url: SecretString,
    /// Through the public endpoint when the server has one; otherwise the internal URL.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub external_database_url: SecretString,
}

/// `PUT /tenants/{id}/external-db-access` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalDbAccessRequest {
    pub enabled: bool,
}

/// `PUT /tenants/{id}/external-db-access` answer (inside `{data: ...}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExternalDbAccess {
    pub tenant_id: String,
    pub external_db_access: bool,
    /// When enabled, `postgres://{role}:{password}@{public endpoint}/{db}?sslmode=require`; otherwise
    /// the internal URL.
    #[serde(serialize_with = "expose")]
    #[schema(value_type = String)]
    pub database_url: SecretString,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_serialize_but_debug_redacts_them() {
        let body = TenantSecrets {
            jwt_secret: SecretString::from("jwt-value-1".to_owned()),
            database_url: SecretString::from("postgres://r:pw-value-2@h/d".to_owned()),
            internal_database_url: SecretString::from("postgres://r:pw-value-2@h/d".to_owned()),
            app_url: "https://x.example".into(),
        };
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["jwt_secret"], "jwt-value-1");
        assert_eq!(json["internal_database_url"], "postgres://r:pw-value-2@h/d");
        let dbg = format!("{body:?}");
        assert!(
            !dbg.contains("jwt-value-1") && !dbg.contains("pw-value-2"),
            "{dbg}"
        );
    }

    #[test]
    fn the_request_is_strict() {
        assert!(
            serde_json::from_str::<ExternalDbAccessRequest>(r#"{"enabled":true}"#)
                .unwrap()
                .enabled
        );
        for bad in [
            r#"{}"#,
            r#"{"enabled":"yes"}"#,
            r#"{"enabled":true,"x":1}"#,
            r#"{"enabled":null}"#,
        ] {
            assert!(
                serde_json::from_str::<ExternalDbAccessRequest>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
