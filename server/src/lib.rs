//! The `twofold` server: configuration, startup, the HTTP router with its
//! security layers, the JSON API handlers and the embedded site.

pub mod assets;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod migrate_data;
pub mod observability;
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

/// How the router is put together beyond the app itself.
#[derive(Debug, Clone, Default)]
pub struct RouterOptions {
    /// Serve `/metrics` on this router.
    pub metrics: bool,
    pub trusted_proxies: client_ip::TrustedProxies,
}

/// The whole application with default options (no `/metrics`, no proxies).
pub fn router(state: AppState) -> Router {
    router_with(state, &RouterOptions::default())
}

/// The whole application: API, server-rendered pages, static files, with the
/// security headers and the cross-origin guard around all of it.
pub fn router_with(state: AppState, options: &RouterOptions) -> Router {
    let pages = generate_route_list(app::App);
    let context_state = state.clone();
    let shell_options = state.leptos_options.clone();
    let mut api = routes::api_routes();
    if options.metrics {
        api = api.route(
            app::api::paths::METRICS,
            axum::routing::get(observability::metrics),
        );
    }
    let proxies = options.trusted_proxies.clone();
    Router::new()
        .merge(api)
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
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observability::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(security::refuse_cross_origin))
        .layer(middleware::from_fn(security::headers))
        .layer(middleware::from_fn(move |req, next| {
            client_ip::resolve(proxies.clone(), req, next)
        }))
        .with_state(state)
}

/// Only `/metrics`, for a separate metrics address.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            app::api::paths::METRICS,
            axum::routing::get(observability::metrics),
        )
        .with_state(state)
}
