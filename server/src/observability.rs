//! Logs and metrics: the tracing subscriber (text or JSON), one log line
//! and one metrics sample per request, and the `/metrics` endpoint.

use std::time::Instant;

use app::backend::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method};

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` narrows or widens it.
pub fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Times each request and counts it under its route pattern. The log line
/// names the route, never the raw path or query, and no header or body: they
/// may carry tokens and passwords.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Only standard methods become labels: made-up ones would each add a
    // series, and `/metrics` would grow without bound.
    let method = match *req.method() {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let resp = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    state.metrics.http_request(&route, method, status, elapsed);
    tracing::debug!(
        method = %method,
        route = %route,
        status,
        ms = elapsed * 1000.0,
        "request"
    );
    resp
}

/// `GET /metrics`: the Prometheus text exposition format, version 0.0.4.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(app::backend::infra::metrics::CONTENT_TYPE),
    );
    resp
}
