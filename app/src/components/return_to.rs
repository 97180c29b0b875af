//! The way back to an app behind forward-auth: the sign-in pages carry
//! `?rd=` (the app's URL) from step to step, and once signed in hand it to
//! the server (`/api/auth/continue`), which follows it only to an allowed
//! domain. The browser itself never decides where `rd` may lead.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_query_map;

/// The page's `rd`, if any.
pub fn use_return_to() -> Memo<Option<String>> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get("rd").filter(|rd| !rd.trim().is_empty()))
}

/// `page` with `rd` kept for the next step of the sign-in.
pub fn keep_rd(page: &str, rd: Option<&str>) -> String {
    match rd {
        None => page.to_string(),
        Some(rd) => {
            let sep = if page.contains('?') { '&' } else { '?' };
            format!("{page}{sep}rd={}", crate::api::client::encode_query(rd))
        }
    }
}

/// Signed in: back to `rd` through the server's check (a full page load,
/// since it leaves the app), else to `page` inside the app.
pub fn finish(rd: Option<String>, page: &str, navigate: impl Fn(&str, NavigateOptions)) {
    match rd {
        Some(rd) => leave_for(&crate::api::continue_to(&rd)),
        None => navigate(page, NavigateOptions::default()),
    }
}

#[cfg(feature = "hydrate")]
fn leave_for(url: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(url);
    }
}

#[cfg(not(feature = "hydrate"))]
fn leave_for(_url: &str) {}
