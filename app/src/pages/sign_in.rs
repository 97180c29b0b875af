use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api::{AppError, LoginOutcome, LoginRequest, client, paths};
use crate::components::{ErrorNotice, SubmitButton, redirect_error, return_to};

/// The form posts to the API directly, so it works before hydration and
/// without JavaScript (the server answers a form post with a redirect); once
/// hydrated, it submits with `fetch` and shows pending and error states.
#[component]
pub fn SignInPage() -> impl IntoView {
    let email = NodeRef::<Input>::new();
    let password = NodeRef::<Input>::new();
    let remember = NodeRef::<Input>::new();
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let from_redirect = redirect_error();
    let shown = Signal::derive(move || error.get().or_else(|| from_redirect.get()));
    let navigate = use_navigate();
    let (autofill, set_autofill) = signal(false);
    let rd = return_to::use_return_to();

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let req = LoginRequest {
            email: email.get().map(|i| i.value()).unwrap_or_default(),
            password: password.get().map(|i| i.value()).unwrap_or_default(),
            remember_me: remember.get().is_some_and(|i| i.checked()),
            rd: None,
        };
        let back = rd.get_untracked();
        set_pending.set(true);
        set_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match client::login(&req).await {
                Ok(LoginOutcome::SignedIn) => {
                    // A policy asks this account to enrol: straight to the wizard.
                    let required = client::load_me()
                        .await
                        .is_ok_and(|me| me.mfa_required_by.is_some());
                    if required {
                        let page = return_to::keep_rd("/account/two-factor", back.as_deref());
                        navigate(&page, NavigateOptions::default())
                    } else {
                        return_to::finish(back, "/account", &navigate)
                    }
                }
                Ok(LoginOutcome::SecondFactorRequired { methods, .. }) => navigate(
                    &return_to::keep_rd(&crate::api::second_factor_page(&methods), back.as_deref()),
                    NavigateOptions::default(),
                ),
                Err(e) => {
                    set_error.set(Some(e));
                    if let Some(p) = password.get_untracked() {
                        p.set_value("");
                        let _ = p.focus();
                    }
                }
            }
            set_pending.set(false);
        });
    };

    let query = leptos_router::hooks::use_query_map();
    let unlocked = move || query.read().get_str("unlocked").is_some();
    let reset = move || query.read().get_str("reset").is_some();
    view! {
        <Title text="Sign in" />
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <Show when=unlocked>
                <p class="notice ok" role="status">"Sign-in is unlocked. You can sign in now."</p>
            </Show>
            <Show when=reset>
                <p class="notice ok" role="status">"Your password is changed. Sign in with the new one."</p>
            </Show>
            <form method="post" action=paths::LOGIN on:submit=on_submit novalidate>
                <ErrorNotice error=shown />
                <label for="email">"Email"</label>
                <input
                    id="email"
                    name="email"
                    type="email"
                    autocomplete="username webauthn"
                    inputmode="email"
                    required
                    node_ref=email
                    on:focus=move |_| set_autofill.set(true)
                />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    node_ref=password
                />
                <label class="check">
                    <input type="checkbox" name="remember_me" value="true" node_ref=remember />
                    "Keep me signed in for 30 days"
                </label>
                {move || rd.get().map(|rd| view! { <input type="hidden" name="rd" value=rd /> })}
                <SubmitButton pending label="Sign in" pending_label="Signing in…" />
            </form>
            <p class="aside"><A href="/forgot-password">"Forgot your password?"</A></p>
            <PasskeySignIn autofill />
            <p class="aside">
                "New here? " <A href="/signup">"Create an account"</A>
            </p>
        </section>
    }
}

/// "Use a passkey" (to sign in): no email, no password; the browser offers the
/// passkeys it holds for this site. Where the browser supports it, the
/// email field's autofill offers them too (conditional mediation). Needs
/// JavaScript, so it appears once hydrated.
#[component]
fn PasskeySignIn(autofill: ReadSignal<bool>) -> impl IntoView {
    let available = RwSignal::new(false);
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let navigate = use_navigate();
    let rd = return_to::use_return_to();
    let signed_in = move |navigate: &dyn Fn(&str, NavigateOptions)| {
        return_to::finish(rd.get_untracked(), "/account", navigate);
    };
    Effect::new(move |_| available.set(crate::api::webauthn::available()));
    // The autofill's ceremony starts when the person comes to the email
    // field (`autofill` turns true), not on every page view: each one is a
    // row on the server.
    {
        let navigate = navigate.clone();
        let asked = StoredValue::new(false);
        Effect::new(move |_| {
            if !autofill.get() || !available.get() || asked.get_value() {
                return;
            }
            asked.set_value(true);
            let navigate = navigate.clone();
            spawn_local(async move {
                if !crate::api::webauthn::conditional_available().await {
                    return;
                }
                // Waits until the person picks a passkey in the autofill;
                // the button below cancels it. Its errors are not shown:
                // nobody asked for it.
                if crate::api::webauthn::sign_in(true).await.is_ok() {
                    signed_in(&navigate);
                }
            });
        });
    }
    let on_click = move |_| {
        if pending.get_untracked() {
            return;
        }
        set_pending.set(true);
        set_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match crate::api::webauthn::sign_in(false).await {
                Ok(_) => signed_in(&navigate),
                Err(e) => set_error.set(Some(e)),
            }
            set_pending.set(false);
        });
    };
    view! {
        <Show when=move || available.get()>
            <div class="passkey-option">
                <p class="divider">"or"</p>
                <ErrorNotice error=error />
                <button type="button" on:click=on_click.clone() disabled=move || pending.get()>
                    {move || if pending.get() { "Waiting for your passkey…" } else { "Use a passkey" }}
                </button>
            </div>
        </Show>
    }
}
