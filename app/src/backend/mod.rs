//! The server-side core: rules and repositories. Server functions and HTTP
//! handlers are thin wrappers over the functions here.

pub mod admin;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod authz;
pub mod factors;
pub mod infra;
pub mod oidc;
pub mod policy;
pub mod state;

pub use state::{AppState, Settings, Shared};

use crate::api::AppError;

/// Primary key of `users`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub i64);

/// Who is asking: recorded with sessions and security events.
#[derive(Debug, Clone, Default)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Logs the detail for operators and returns the opaque error for the client.
pub fn internal(context: &str, err: impl std::fmt::Display) -> AppError {
    tracing::error!("{context}: {err}");
    AppError::Internal
}
