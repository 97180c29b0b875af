use leptos::prelude::*;
use leptos_router::components::A;

use crate::api::AppError;

/// What a page shows when its data could not be loaded: the way to sign in
/// when signed out, else the error.
pub fn load_failed(e: AppError) -> AnyView {
    match e {
        AppError::NotSignedIn => view! {
            <section class="card narrow">
                <h1>"You are signed out"</h1>
                <p>"Sign in to continue."</p>
                <p>
                    <A href="/login" attr:class="button primary">"Sign in"</A>
                </p>
            </section>
        }
        .into_any(),
        e => view! { <p class="card notice error" role="alert">{e.to_string()}</p> }.into_any(),
    }
}
