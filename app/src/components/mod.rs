//! Reusable view pieces.

mod error_notice;
mod submit_button;

pub use error_notice::{ErrorNotice, redirect_error};
pub use submit_button::SubmitButton;
