//! Sessions (list, revoke one, sign out everywhere), trusted devices and the
//! audit trail.

use app::api::{
    AppError, EventsPage, LogoutAllRequest, RevokeDevicesRequest, RevokeSessionRequest, Revoked,
    SessionInfo, TrustedDevice,
};
use app::backend::{AppState, auth::accounts, auth::cookies};
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::auth::with_cookie;
use super::input::{ClientInfo, Input};

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<SessionInfo>>, AppError> {
    Ok(Json(
        accounts::sessions_for_request(&state, &headers).await?,
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<RevokeSessionRequest>,
) -> Result<StatusCode, AppError> {
    accounts::revoke_session(&state, &headers, value.id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body is optional: an empty POST signs out every session.
pub async fn logout_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<LogoutAllRequest>, AppError>,
) -> Result<Response, AppError> {
    let keep_current = match input {
        Ok(i) => i.value.keep_current,
        Err(AppError::BadRequest { .. }) if empty_body(&headers) => false,
        Err(e) => return Err(e),
    };
    let revoked = accounts::logout_all(&state, &headers, keep_current, &meta).await?;
    let resp = Json(Revoked { revoked }).into_response();
    Ok(if keep_current {
        resp
    } else {
        with_cookie(
            resp,
            cookies::session_clear_cookie(
                cookies::is_https(&headers),
                state.settings.cookie_domain.as_deref(),
            ),
        )
    })
}

fn empty_body(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v == "0")
}

#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    before: Option<i64>,
    limit: Option<u32>,
}

pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventsPage>, AppError> {
    let Query(q) = query.map_err(|_| AppError::BadRequest {
        message: "Use ?before=<event id>&limit=<1-100>.".into(),
    })?;
    Ok(Json(
        accounts::events_for_request(&state, &headers, q.before, q.limit).await?,
    ))
}

pub async fn devices(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<TrustedDevice>>, AppError> {
    Ok(Json(accounts::devices_for_request(&state, &headers).await?))
}

pub async fn revoke_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<RevokeDevicesRequest>,
) -> Result<Json<Revoked>, AppError> {
    let revoked = accounts::revoke_devices(&state, &headers, value, &meta).await?;
    Ok(Json(Revoked { revoked }))
}
