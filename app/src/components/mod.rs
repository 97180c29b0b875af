//! Reusable view pieces.

pub mod clipboard;
mod code_input;
mod codes_list;
mod error_notice;
mod load_failed;
mod policy_banner;
pub mod return_to;
mod submit_button;

pub use code_input::{CodeInput, digits_only};
pub use codes_list::{CodesList, codes_file};
pub use error_notice::{ErrorNotice, redirect_error};
pub use load_failed::load_failed;
pub use policy_banner::{PolicyBanner, policy_banner_text};
pub use submit_button::SubmitButton;
