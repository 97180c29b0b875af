use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use super::account_activity::{ActivitySection, DevicesSection, SessionsSection};
use super::account_factors::FactorsSection;
use crate::api::{AppError, DisableRequest, Me, MfaState, client, paths};
use crate::components::{
    CodeInput, CodesList, ErrorNotice, PolicyBanner, SubmitButton, load_failed,
};
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;

/// Backup codes at or below this count get a warning.
pub const FEW_CODES_LEFT: u32 = 3;

/// The account security overview.
#[component]
pub fn AccountPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| client::sendable(client::load_me()));
    view! {
        <Title text="Account security" />
        <Suspense fallback=|| view! { <p class="card">"Loading your account…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) if me.mfa_enrolment_required => view! {
                    <Redirect path="/account/two-factor" />
                    <PolicyBanner me />
                }.into_any(),
                    Ok(me) => view! {
                    <Overview me />
                    <DevicesSection />
                    <SessionsSection />
                    <super::account_apps::AppsSection />
                    <ActivitySection />
                }.into_any(),
                    Err(e) => load_failed(e),
                }
            })}
        </Suspense>
    }
}

/// What the MFA state means for the person reading it.
pub fn mfa_label(state: MfaState) -> &'static str {
    match state {
        MfaState::Disabled => "off",
        MfaState::SetupInProgress => "setup not finished",
        MfaState::Enabled => "on",
    }
}

#[component]
fn Overview(me: Me) -> impl IntoView {
    let state = RwSignal::new(me.mfa);
    let codes_left = RwSignal::new(me.backup_codes_left);
    let query = use_query_map();
    let changed = move || query.read().get("changed").as_deref() == Some("password");
    let is_admin = me.role == crate::api::Role::Admin;
    view! {
        <section class="card">
            <h1>"Account security"</h1>
            {move || changed().then(|| view! {
                <p class="notice ok" role="status">
                    "Your password was changed. Every other session was signed out."
                </p>
            })}
            <PolicyBanner me=me.clone() />
            <dl class="facts">
                <dt>"Signed in as"</dt>
                <dd data-testid="account-email">{me.email.clone()}</dd>
                <dt>"Second factor"</dt>
                <dd>
                    <span class=move || format!("badge {}", mfa_label(state.get()).replace(' ', "-"))>
                        {move || format!("Two-factor authentication: {}", mfa_label(state.get()))}
                    </span>
                </dd>
                {move || (state.get() == MfaState::Enabled).then(|| view! {
                    <dt>"Backup codes"</dt>
                    <dd data-testid="codes-left">{move || format!("{} left", codes_left.get())}</dd>
                })}
            </dl>
            <ReplacementNotice />
            {move || (state.get() == MfaState::Enabled && codes_left.get() <= FEW_CODES_LEFT).then(|| view! {
                <p class="notice warn" role="status">
                    {format!("Only {} backup codes left. Make a new set so you are never locked out.", codes_left.get())}
                </p>
            })}
            {move || match state.get() {
                MfaState::Disabled => view! {
                    <p>"Protect your account with an authenticator app (after your password, you also enter a code from your phone) or with a passkey or security key (below)."</p>
                    <A href="/account/two-factor" attr:class="button primary">"Set up two-factor authentication"</A>
                }.into_any(),
                MfaState::SetupInProgress => view! {
                    <p>"You started setting up an authenticator app but did not finish."</p>
                    <A href="/account/two-factor" attr:class="button primary">"Start setup again"</A>
                }.into_any(),
                MfaState::Enabled => view! {
                    <Regenerate codes_left />
                    <Disable state />
                }.into_any(),
            }}
            <p class="actions">
                <A href="/account/password">"Change password"</A>
                {is_admin.then(|| view! { <A href="/admin">"Administration"</A> })}
            </p>
            <SignOut />
        </section>
        <FactorsSection mfa=state codes_left sms=me.sms_available />
    }
}

/// After a sign-in with a backup code: the code that replaced it, shown
/// once. Fetched in the browser only (an Effect), because fetching it uses it up.
#[component]
fn ReplacementNotice() -> impl IntoView {
    let (code, set_code) = signal(None::<String>);
    Effect::new(move |_| {
        spawn_local(async move {
            if let Ok(r) = client::take_replacement_code().await {
                set_code.set(r.code);
            }
        });
    });
    move || {
        code.get().map(|c| {
            view! {
                <div class="notice warn" role="status" data-testid="replacement-code">
                    <p>
                        "You signed in with a backup code, so it no longer works. "
                        "Here is a new one in its place; it is shown only now:"
                    </p>
                    <p>
                        <code>{c}</code>
                    </p>
                </div>
            }
        })
    }
}

#[component]
fn Regenerate(codes_left: RwSignal<u32>) -> impl IntoView {
    let code = NodeRef::<Input>::new();
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let (fresh, set_fresh) = signal(None::<Vec<String>>);
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let typed = code.get().map(|i| i.value()).unwrap_or_default();
        set_pending.set(true);
        set_error.set(None);
        spawn_local(async move {
            match client::regenerate_codes(&typed).await {
                Ok(set) => {
                    codes_left.set(set.backup_codes.len() as u32);
                    set_fresh.set(Some(set.backup_codes));
                }
                Err(e) => set_error.set(Some(e)),
            }
            if let Some(i) = code.get_untracked() {
                i.set_value("");
            }
            set_pending.set(false);
        });
    };
    view! {
        <h2>"Backup codes"</h2>
        {move || match fresh.get() {
            Some(codes) => view! {
                <p>"Your new backup codes. The old ones no longer work. They are shown only now."</p>
                <CodesList codes />
            }.into_any(),
            None => view! {
                <form on:submit=on_submit novalidate>
                    <ErrorNotice error=error />
                    <p class="hint">"Making new codes ends the old ones. Confirm with a code from your app (with a passkey: leave it empty within 10 minutes of using your passkey)."</p>
                    <CodeInput id="regen-code" label="Code from your app" node_ref=code />
                    <SubmitButton pending label="Make new backup codes" pending_label="Making codes…" />
                </form>
            }.into_any(),
        }}
    }
}

#[component]
fn Disable(state: RwSignal<MfaState>) -> impl IntoView {
    let password = NodeRef::<Input>::new();
    let code = NodeRef::<Input>::new();
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let req = DisableRequest {
            password: password.get().map(|i| i.value()).unwrap_or_default(),
            code: code.get().map(|i| i.value()).unwrap_or_default(),
        };
        set_pending.set(true);
        set_error.set(None);
        spawn_local(async move {
            match client::mfa_disable(&req).await {
                Ok(status) => state.set(status.mfa),
                Err(e) => set_error.set(Some(e)),
            }
            set_pending.set(false);
        });
    };
    view! {
        <h2>"Turn off two-factor authentication"</h2>
        <form on:submit=on_submit novalidate>
            <ErrorNotice error=error />
            <label for="disable-password">"Password"</label>
            <input id="disable-password" type="password" autocomplete="current-password" required node_ref=password />
            <CodeInput id="disable-code" label="Code from your app or a backup code" node_ref=code backup=true />
            <SubmitButton pending label="Turn off" pending_label="Turning off…" />
        </form>
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
