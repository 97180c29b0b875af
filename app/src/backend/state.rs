//! What every request handler can reach: the pool, the clock, settings.

use std::sync::Arc;

use leptos::config::LeptosOptions;
use sqlx::SqlitePool;

use super::clock::Clock;
use super::passwords::PasswordHashString;

#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    pub clock: Arc<dyn Clock>,
    pub leptos_options: LeptosOptions,
    /// Verified against for unknown emails (see `passwords::dummy_hash`).
    pub dummy_hash: PasswordHashString,
}

impl axum::extract::FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
