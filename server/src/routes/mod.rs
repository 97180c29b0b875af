//! The JSON API. Each handler decodes the request, calls one function of the
//! core (`app::backend`) and shapes the answer.

mod auth;
mod input;

use app::api::paths;
use app::backend::AppState;
use axum::Router;
use axum::routing::{get, post};

pub use input::{ClientInfo, Input};

pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route(paths::REGISTER, post(auth::register))
        .route(paths::LOGIN, post(auth::login))
        .route(paths::LOGOUT, post(auth::logout))
        .route(paths::ME, get(auth::me))
        .route(paths::HEALTH, get(auth::health))
}
