//! Request decoding shared by the handlers: JSON bodies from scripts and the
//! app, form bodies from pages posted without JavaScript, and who is asking.

use std::net::SocketAddr;

use app::api::AppError;
use app::backend::ClientMeta;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::request::Parts;
use serde::de::DeserializeOwned;

/// How the request was sent, which decides how it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `fetch` or a script: answer JSON.
    Json,
    /// A plain HTML form post: answer with a redirect to a page.
    Form,
}

/// A decoded request body. Malformed, mistyped, empty or oversized bodies are
/// a 4xx with a clear message, before any handler code runs.
pub struct Input<T> {
    pub value: T,
    pub mode: Mode,
}

impl<S, T> FromRequest<S> for Input<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes: Result<Bytes, BytesRejection> = Bytes::from_request(req, state).await;
        let bytes = bytes.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest {
                    message: "The request body could not be read.".into(),
                }
            }
        })?;
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let value = serde_urlencoded::from_bytes(&bytes).map_err(|e| AppError::BadRequest {
                message: format!("The form could not be read: {e}."),
            })?;
            return Ok(Input {
                value,
                mode: Mode::Form,
            });
        }
        if bytes.is_empty() {
            return Err(AppError::BadRequest {
                message: "The request body is empty; send a JSON object.".into(),
            });
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| AppError::BadRequest {
            message: json_problem(&e),
        })?;
        Ok(Input {
            value,
            mode: Mode::Json,
        })
    }
}

/// serde_json's message names the field and expected type, which helps a
/// script author; it never contains server internals.
fn json_problem(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => format!("The JSON does not have the expected fields or types: {e}."),
        Category::Syntax | Category::Eof => format!("The body is not valid JSON: {e}."),
        Category::Io => "The request body could not be read.".into(),
    }
}

/// Answers a handler's result: JSON for scripts and the app; for a plain
/// form post, a redirect back to `page` (with the error kind when it failed).
pub fn answer<T: serde::Serialize>(
    mode: Mode,
    result: Result<T, AppError>,
    page: &str,
) -> Response {
    match (result, mode) {
        (Ok(v), Mode::Json) => axum::Json(v).into_response(),
        (Ok(_), Mode::Form) => super::plain_pages::after_form(page),
        (Err(e), Mode::Json) => e.into_response(),
        (Err(e), Mode::Form) => form_error_redirect(page, &e),
    }
}

/// Whether the request is a plain HTML form post (no JavaScript): it is
/// answered with a redirect to a page rather than JSON.
pub fn is_form(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Where a form post goes after an error: back to its page with the error kind
/// (and field) in the query, never the message itself.
pub fn form_error_redirect(page: &str, err: &AppError) -> Response {
    let sep = if page.contains('?') { '&' } else { '?' };
    let mut url = format!("{page}{sep}error={}", err.kind());
    if let AppError::Validation { field, .. } = err {
        // Field names come from our own validation code: plain identifiers.
        url.push_str("&field=");
        url.push_str(field);
    }
    Redirect::to(&url).into_response()
}

/// Client address and user agent, for sessions and the audit trail.
pub struct ClientInfo(pub ClientMeta);

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The proxy-aware address when the middleware ran, else the peer.
        let ip = match parts.extensions.get::<crate::client_ip::ClientIp>() {
            Some(crate::client_ip::ClientIp(ip)) => Some(ip.to_string()),
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string()),
        };
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(ClientInfo(ClientMeta { ip, user_agent }))
    }
}
