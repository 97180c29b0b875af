use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{AppError, RegisterAnswer, RegisterRequest, client, paths};
use crate::components::{ErrorNotice, SubmitButton, redirect_error};

/// Like the sign-in form: a plain form post without JavaScript, `fetch` after
/// hydration.
#[component]
pub fn SignUpPage() -> impl IntoView {
    let email = NodeRef::<Input>::new();
    let password = NodeRef::<Input>::new();
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let from_redirect = redirect_error();
    let shown = Signal::derive(move || error.get().or_else(|| from_redirect.get()));
    let navigate = use_navigate();

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let req = RegisterRequest {
            email: email.get().map(|i| i.value()).unwrap_or_default(),
            password: password.get().map(|i| i.value()).unwrap_or_default(),
        };
        set_pending.set(true);
        set_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match client::register(&req).await {
                Ok(RegisterAnswer::SignedIn(_)) => navigate("/account", NavigateOptions::default()),
                Ok(RegisterAnswer::CheckEmail(_)) => {
                    navigate("/signup?sent=1", NavigateOptions::default())
                }
                Err(e) => set_error.set(Some(e)),
            }
            set_pending.set(false);
        });
    };

    let query = use_query_map();
    let sent = move || query.read().get_str("sent").is_some();
    view! {
        <Title text="Create an account" />
        <section class="card narrow">
            <h1>"Create an account"</h1>
            <Show when=sent>
                <p class="notice" role="status" data-testid="signup-sent">
                    "Check your email: we sent a link to finish creating your account. It works once, for 24 hours."
                </p>
            </Show>
            <form method="post" action=paths::REGISTER on:submit=on_submit novalidate>
                <ErrorNotice error=shown />
                <label for="email">"Email"</label>
                <input
                    id="email"
                    name="email"
                    type="email"
                    autocomplete="email"
                    inputmode="email"
                    required
                    node_ref=email
                />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="new-password"
                    minlength="12"
                    required
                    aria-describedby="password-hint"
                    node_ref=password
                />
                <p id="password-hint" class="hint">
                    "At least 12 characters. A few unrelated words make a strong, memorable password."
                </p>
                <SubmitButton pending label="Create account" pending_label="Creating account…" />
            </form>
            <p class="aside">
                "Already have an account? " <A href="/login">"Sign in"</A>
            </p>
        </section>
    }
}
