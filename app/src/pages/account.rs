use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api::{AppError, Me, MfaState, client, paths};
use crate::components::{ErrorNotice, SubmitButton};

/// The account security overview.
#[component]
pub fn AccountPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| client::load_me_send());
    view! {
        <Title text="Account security" />
        <Suspense fallback=|| view! { <p class="card">"Loading your account…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) => view! { <Overview me /> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <SignedOut /> }.into_any(),
                    Err(e) => view! { <p class="card notice error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SignedOut() -> impl IntoView {
    view! {
        <section class="card narrow">
            <h1>"You are signed out"</h1>
            <p>"Sign in to see your account security."</p>
            <p>
                <A href="/login" attr:class="button primary">"Sign in"</A>
            </p>
        </section>
    }
}

/// What the MFA state means for the person reading it.
fn mfa_label(state: MfaState) -> &'static str {
    match state {
        MfaState::Disabled => "off",
        MfaState::SetupInProgress => "setup not finished",
        MfaState::Enabled => "on",
    }
}

#[component]
fn Overview(me: Me) -> impl IntoView {
    view! {
        <section class="card">
            <h1>"Account security"</h1>
            <dl class="facts">
                <dt>"Signed in as"</dt>
                <dd data-testid="account-email">{me.email.clone()}</dd>
                <dt>"Two-factor authentication"</dt>
                <dd>
                    <span class=move || format!("badge {}", mfa_label(me.mfa).replace(' ', "-"))>
                        {format!("Two-factor authentication: {}", mfa_label(me.mfa))}
                    </span>
                </dd>
            </dl>
            <SignOut />
        </section>
    }
}

#[component]
fn SignOut() -> impl IntoView {
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let navigate = use_navigate();
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        set_pending.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match client::logout().await {
                Ok(()) => navigate("/login", NavigateOptions::default()),
                Err(e) => set_error.set(Some(e)),
            }
            set_pending.set(false);
        });
    };
    view! {
        <form method="post" action=paths::LOGOUT on:submit=on_submit class="inline">
            <ErrorNotice error=error />
            <SubmitButton pending label="Sign out" pending_label="Signing out…" />
        </form>
    }
}
