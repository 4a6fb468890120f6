//! `POST /activity`: the CLI's login/logout reports, recorded per customer. The CLI ignores every
//! failure, so strictness here costs it nothing and keeps junk out of the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use mgmt_domain::{ACTIVITY_USER_ID_MAX, ActivityKind, NewActivity};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use crate::wire::ActivityRequest;

/// Longest `timestamp` accepted (RFC 3339 with nanoseconds and an offset is 35 characters).
const TIMESTAMP_MAX: usize = 64;

fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// The request, checked: a known event, an RFC 3339 time, a user id of sane length.
fn parse(body: ActivityRequest) -> Result<(ActivityKind, DateTime<Utc>, String), ApiError> {
    let event: ActivityKind = body.event.parse().map_err(|_| {
        invalid(
            "invalid_event",
            "event must be `cloud_login` or `cloud_logout`",
        )
    })?;
    if body.timestamp.len() > TIMESTAMP_MAX {
        return Err(invalid("invalid_timestamp", "timestamp is too long"));
    }
    let at = DateTime::parse_from_rfc3339(&body.timestamp)
        .map_err(|_| {
            invalid(
                "invalid_timestamp",
                "timestamp must be RFC 3339, e.g. 2026-05-20T11:34:35.123456789+00:00",
            )
        })?
        .with_timezone(&Utc);
    let user_id = body.data.user_id;
    if user_id.trim().is_empty()
        || user_id.chars().count() > ACTIVITY_USER_ID_MAX
        || user_id.chars().any(char::is_control)
    {
        return Err(invalid(
            "invalid_user_id",
            format!("data.user_id must be 1 to {ACTIVITY_USER_ID_MAX} printable characters"),
        ));
    }
    Ok((event, at, user_id))
}

/// Records a login or logout of the caller.
#[utoipa::path(post, path = "/api/v1/activity", tag = "auth", security(("bearer" = [])),
    request_body = ActivityRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub async fn record(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<ActivityRequest>,
) -> ApiResult<HttpResponse> {
    let (event, client_timestamp, user_id) = parse(body.into_inner())?;
    state
        .repos
        .activity
        .record(NewActivity {
            customer_id: caller.customer.id,
            event,
            client_timestamp,
            user_id,
        })
        .await?;
    tracing::info!(customer_id = %caller.customer.id, event = event.as_str(), "activity recorded");
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ActivityData;

    fn req(event: &str, timestamp: &str, user_id: &str) -> ActivityRequest {
        ActivityRequest {
            event: event.into(),
            timestamp: timestamp.into(),
            data: ActivityData {
                user_id: user_id.into(),
            },
        }
    }

    #[test]
    fn accepts_what_the_cli_sends() {
        let (event, at, user) = parse(req(
            "cloud_login",
            "2026-05-20T11:34:35.123456789+00:00",
            "user-1",
        ))
        .unwrap();
        assert_eq!(event, ActivityKind::CloudLogin);
        assert_eq!(at.to_rfc3339(), "2026-05-20T11:34:35.123456789+00:00");
        assert_eq!(user, "user-1");
        parse(req("cloud_logout", "2026-05-20T13:34:35+02:00", "a@b.test")).unwrap();
    }

    #[test]
    fn refuses_the_rest() {
        for (event, ts, user, code) in [
            ("cloud_signup", "2026-05-20T11:34:35Z", "u", "invalid_event"),
            ("CLOUD_LOGIN", "2026-05-20T11:34:35Z", "u", "invalid_event"),
            ("cloud_login", "yesterday", "u", "invalid_timestamp"),
            (
                "cloud_login",
                "2026-05-20 11:34:35",
                "u",
                "invalid_timestamp",
            ),
            ("cloud_login", "2026-05-20T11:34:35Z", "", "invalid_user_id"),
            (
                "cloud_login",
                "2026-05-20T11:34:35Z",
                "a\nb",
                "invalid_user_id",
            ),
        ] {
            let e = parse(req(event, ts, user)).unwrap_err();
            assert_eq!(e.code(), code, "{event} {ts} {user:?}");
        }
        let long = "x".repeat(ACTIVITY_USER_ID_MAX + 1);
        assert!(parse(req("cloud_login", "2026-05-20T11:34:35Z", &long)).is_err());
    }
}
