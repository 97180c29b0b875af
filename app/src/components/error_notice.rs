use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_query_map};

use crate::api::AppError;

/// A form's error, announced to screen readers when it appears. Shows the
/// error of the last submit in the browser, or the one a no-JS submit was
/// redirected back with.
#[component]
pub fn ErrorNotice(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    let location = use_location();
    move || {
        error.get().map(|e| {
            // A sensitive action asked for a fresh password: offer the way.
            let reauth = (e == AppError::ReauthRequired).then(|| {
                let next = location.pathname.get();
                view! {
                    " "
                    <a href=format!("/reauth?next={next}")>"Confirm it is you"</a>
                }
            });
            view! {
                <p class="notice error" role="alert">
                    {e.to_string()}
                    {reauth}
                </p>
            }
        })
    }
}

/// The error carried in `?error=&field=` after a form posted without JavaScript.
pub fn redirect_error() -> Memo<Option<AppError>> {
    let query = use_query_map();
    Memo::new(move |_| {
        let q = query.read();
        q.get_str("error")
            .and_then(|kind| AppError::from_redirect(kind, q.get_str("field")))
    })
}
