//! Sessions (list, revoke one, sign out everywhere) and the audit trail.

use app::api::{AppError, LogoutAllRequest, RevokeDevicesRequest, RevokeSessionRequest, Revoked};
use app::backend::{AppState, accounts, cookies};
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::auth::with_cookie;
use super::input::{ClientInfo, Input};

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match accounts::sessions_for_request(&state, &headers).await {
        Ok(sessions) => Json(sessions).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<RevokeSessionRequest>, AppError>,
) -> Response {
    let result = async {
        let req = input?.value;
        accounts::revoke_session(&state, &headers, req.id, &meta).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The body is optional: an empty POST signs out every session.
pub async fn logout_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<LogoutAllRequest>, AppError>,
) -> Response {
    let keep_current = match input {
        Ok(i) => i.value.keep_current,
        Err(AppError::BadRequest { .. }) if empty_body(&headers) => false,
        Err(e) => return e.into_response(),
    };
    match accounts::logout_all(&state, &headers, keep_current, &meta).await {
        Ok(revoked) => {
            let resp = Json(Revoked { revoked }).into_response();
            if keep_current {
                resp
            } else {
                with_cookie(
                    resp,
                    cookies::session_clear_cookie(cookies::is_https(&headers)),
                )
            }
        }
        Err(e) => e.into_response(),
    }
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
) -> Response {
    let Ok(Query(q)) = query else {
        return AppError::BadRequest {
            message: "Use ?before=<event id>&limit=<1-100>.".into(),
        }
        .into_response();
    };
    match accounts::events_for_request(&state, &headers, q.before, q.limit).await {
        Ok(page) => Json(page).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn devices(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match accounts::devices_for_request(&state, &headers).await {
        Ok(list) => Json(list).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn revoke_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<RevokeDevicesRequest>, AppError>,
) -> Response {
    let result = async {
        let req = input?.value;
        accounts::revoke_devices(&state, &headers, req, &meta).await
    }
    .await;
    match result {
        Ok(revoked) => Json(Revoked { revoked }).into_response(),
        Err(e) => e.into_response(),
    }
}
