//! Twofold's app: the API contract shared by server and browser, the pages,
//! and (feature `ssr`) the server-side core in `backend`.

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod components;
pub mod pages;

pub use pages::{App, shell};
