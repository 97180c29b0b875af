use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::AppError;

/// A form's error, announced to screen readers when it appears. Shows the
/// error of the last submit in the browser, or the one a no-JS submit was
/// redirected back with.
#[component]
pub fn ErrorNotice(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            view! {
                <p class="notice error" role="alert">
                    {e.to_string()}
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
