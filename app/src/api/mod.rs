//! The API contract: shared types, the error, and the browser-side calls.

pub mod client;
mod error;
mod types;

pub use error::{AppError, ErrorBody, human_wait};
pub use types::*;

/// Stable endpoint paths, used by the router, the pages' forms and the client.
pub mod paths {
    pub const REGISTER: &str = "/api/auth/register";
    pub const LOGIN: &str = "/api/auth/login";
    pub const LOGOUT: &str = "/api/auth/logout";
    pub const ME: &str = "/api/me";
    pub const HEALTH: &str = "/healthz";
}
