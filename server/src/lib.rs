//! The `twofold` server: configuration, startup, the HTTP router with its
//! security layers, the JSON API handlers and the embedded site.

pub mod assets;
pub mod config;
pub mod routes;
pub mod security;
pub mod startup;

use app::backend::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};

/// Request bodies above this are refused with 413 before any handler runs.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole application: API, server-rendered pages, static files, with the
/// security headers and the cross-origin guard around all of it.
pub fn router(state: AppState) -> Router {
    let pages = generate_route_list(app::App);
    let context_state = state.clone();
    let shell_options = state.leptos_options.clone();
    Router::new()
        .merge(routes::api_routes())
        .leptos_routes_with_context(
            &state,
            pages,
            move || {
                provide_context(context_state.clone());
                security::provide_csp_nonce();
            },
            move || app::shell(shell_options.clone()),
        )
        .fallback(assets::fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(security::refuse_cross_origin))
        .layer(middleware::from_fn(security::headers))
        .with_state(state)
}
