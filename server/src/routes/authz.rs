//! Forward-auth for reverse proxies: Traefik and Caddy ask
//! `/api/authz/forward-auth` (the request in `X-Forwarded-*`), nginx asks
//! `/api/authz/auth-request` (`X-Original-URL`, `X-Original-Method`). Only a
//! peer listed in `--trusted-proxies` may ask: anyone else could probe who
//! is signed in, or forge the request it asks about.

use app::api::AppError;
use app::backend::AppState;
use app::backend::authz::{self, Answer, Asked};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header::LOCATION};

use super::input::ClientInfo;
use crate::client_ip::Peer;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Said once per process, in words an operator can act on.
fn refuse_untrusted(peer: Option<Peer>) -> Option<Response> {
    match peer {
        Some(Peer { trusted: true, .. }) => None,
        other => {
            static WARNED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                let who = other.map_or_else(|| "an unknown peer".to_string(), |p| p.ip.to_string());
                tracing::warn!(
                    "a forward-auth request from {who} was refused: only a reverse proxy listed in \
                     --trusted-proxies may ask; if {who} is your proxy, add it there"
                );
            }
            Some(AppError::Forbidden.into_response())
        }
    }
}

fn missing(what: &str) -> Response {
    AppError::BadRequest {
        message: format!(
            "The proxy did not say which request to check: {what} is missing or not an absolute http(s) URL."
        ),
    }
    .into_response()
}

/// `200` with the identity headers the app reads.
fn allow(identity: Option<authz::Identity>) -> Response {
    let mut resp = StatusCode::OK.into_response();
    if let Some(id) = identity {
        let h = resp.headers_mut();
        for (name, value) in [
            ("remote-user", id.email.as_str()),
            ("remote-email", id.email.as_str()),
            ("remote-name", id.email.as_str()),
            ("remote-groups", id.role.as_str()),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
    }
    resp
}

/// The answer as the proxy reads it; a sign-in is `sign_in` (a redirect, or
/// nginx's 401) with the page in `Location`.
fn respond(result: Result<Answer, AppError>, sign_in: StatusCode) -> Response {
    match result {
        Ok(Answer::Allow(identity)) => allow(identity),
        Ok(Answer::Redirect(to)) => redirect(sign_in, &to),
        Ok(Answer::Deny) => StatusCode::FORBIDDEN.into_response(),
        Err(e) => e.into_response(),
    }
}

fn redirect(status: StatusCode, to: &str) -> Response {
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

/// `/api/authz/forward-auth` (Traefik `forwardAuth`, Caddy `forward_auth`).
pub async fn forward_auth(
    State(state): State<AppState>,
    peer: Option<Extension<Peer>>,
    ClientInfo(meta): ClientInfo,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_untrusted(peer.map(|Extension(p)| p)) {
        return refused;
    }
    let proto = header(&headers, "x-forwarded-proto").unwrap_or("https");
    let Some(host) = header(&headers, "x-forwarded-host") else {
        return missing("X-Forwarded-Host");
    };
    let uri = header(&headers, "x-forwarded-uri").unwrap_or("/");
    let method = header(&headers, "x-forwarded-method").unwrap_or("GET");
    let Some(asked) = Asked::new(&format!("{proto}://{host}{uri}"), method) else {
        return missing("X-Forwarded-Proto/-Host/-Uri");
    };
    // A browser repeats a GET after 302; anything else must become a GET of
    // the sign-in page: 303.
    let get = asked.method == Method::GET.as_str() || asked.method == Method::HEAD.as_str();
    let status = if get {
        StatusCode::FOUND
    } else {
        StatusCode::SEE_OTHER
    };
    respond(
        authz::check(&state, &headers, &asked, meta.ip).await,
        status,
    )
}

/// `/api/authz/auth-request` (nginx `auth_request`): nginx only reads the
/// status, so a sign-in is `401` with the page in `Location` (turned into a
/// redirect by `error_page 401 =302`).
pub async fn auth_request(
    State(state): State<AppState>,
    peer: Option<Extension<Peer>>,
    ClientInfo(meta): ClientInfo,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = refuse_untrusted(peer.map(|Extension(p)| p)) {
        return refused;
    }
    let Some(url) = header(&headers, "x-original-url") else {
        return missing("X-Original-URL");
    };
    let method = header(&headers, "x-original-method").unwrap_or("GET");
    let Some(asked) = Asked::new(url, method) else {
        return missing("X-Original-URL");
    };
    respond(
        authz::check(&state, &headers, &asked, meta.ip).await,
        StatusCode::UNAUTHORIZED,
    )
}
