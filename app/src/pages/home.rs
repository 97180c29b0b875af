use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="" />
        <section class="card hero">
            <h1>"Keep your account yours"</h1>
            <p>
                "Twofold protects your sign-in with a second factor: an authenticator app, "
                "backup codes you keep safe, and alerts when something changes."
            </p>
            <p class="actions">
                <A href="/login" attr:class="button primary">
                    "Sign in"
                </A>
                <A href="/signup" attr:class="button">
                    "Create an account"
                </A>
            </p>
        </section>
    }
}
