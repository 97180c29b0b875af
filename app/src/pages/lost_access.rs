//! When someone cannot sign in: a forgotten password (a link by mail, then
//! a new password and, with two-factor on, one of their factors), and a
//! lost every factor (a recovery that waits, cancellable by the owner).
//! The forms are plain HTML posts where they can be, so they work without
//! JavaScript; passkeys and "text me a code" need it.

use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::display::format_utc;
use crate::api::{AppError, RecoveryStatus, ResetInfo, SecondFactor, client, paths};
use crate::components::{ErrorNotice, redirect_error};

fn query_flag(name: &'static str) -> Memo<bool> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get_str(name).is_some())
}

fn token() -> Memo<String> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get("token").unwrap_or_default())
}

/// Leaves the app for `url` with a full page load (a new session cookie
/// must be read by the server-rendered page).
fn go(url: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let sent = query_flag("sent");
    let error = redirect_error();
    view! {
        <Title text="Forgot your password?" />
        <section class="card narrow">
            <h1>"Forgot your password?"</h1>
            <Show
                when=move || sent.get()
                fallback=move || view! {
                    <p>"Enter the email address of your account. We will send it a link to choose a new password."</p>
                    <form method="post" action=paths::RESET_REQUEST>
                        <ErrorNotice error />
                        <label for="email">"Email"</label>
                        <input id="email" name="email" type="email" autocomplete="username" required />
                        <button type="submit" class="primary">"Send me a link"</button>
                    </form>
                }
            >
                <p class="notice ok" role="status">
                    "If an account uses this address, we sent it a link to choose a new password. It works once, for 30 minutes."
                </p>
            </Show>
            <p class="aside"><A href="/login">"Back to sign in"</A></p>
        </section>
    }
}

fn method_label(method: SecondFactor) -> &'static str {
    match method {
        SecondFactor::Totp => "Code from your authenticator app",
        SecondFactor::SmsCode => "Code by text message",
        SecondFactor::BackupCode => "Backup code",
        SecondFactor::EmailCode => "Code by email",
        SecondFactor::Passkey => "Passkey",
    }
}

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let token = token();
    let info = Resource::new(
        move || token.get(),
        |t| client::sendable(client::load_reset_info(t)),
    );
    view! {
        <Title text="Choose a new password" />
        <section class="card narrow">
            <h1>"Choose a new password"</h1>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match info.await {
                        Ok(info) => view! { <ResetForm token=token.get_untracked() info /> }.into_any(),
                        Err(e) => view! {
                            <p class="notice error" role="alert">{e.to_string()}</p>
                            <p><A href="/forgot-password">"Ask for a new link"</A></p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ResetForm(token: String, info: ResetInfo) -> impl IntoView {
    let error = redirect_error();
    let (js_error, set_js_error) = signal(None::<AppError>);
    let shown = Signal::derive(move || js_error.get().or_else(|| error.get()));
    let (texted, set_texted) = signal(None::<String>);
    let password = NodeRef::<Input>::new();
    let typed_methods: Vec<SecondFactor> = info
        .methods
        .iter()
        .copied()
        .filter(|m| *m != SecondFactor::Passkey)
        .collect();
    let passkey = info.methods.contains(&SecondFactor::Passkey);
    let sms = info.methods.contains(&SecondFactor::SmsCode);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let text_me = {
        let token = token.clone();
        move |_| {
            let token = token.clone();
            set_js_error.set(None);
            spawn_local(async move {
                match client::send_reset_sms_code(token).await {
                    Ok(sent) => set_texted.set(Some(sent.phone)),
                    Err(e) => set_js_error.set(Some(e)),
                }
            });
        }
    };
    let use_passkey = {
        let token = token.clone();
        move |_| {
            let token = token.clone();
            let typed = password
                .get_untracked()
                .map(|i| i.value())
                .unwrap_or_default();
            set_js_error.set(None);
            spawn_local(async move {
                match crate::api::webauthn::reset_password(token, typed).await {
                    Ok(_) => go("/login?reset=1"),
                    Err(e) => set_js_error.set(Some(e)),
                }
            });
        }
    };
    view! {
        <form method="post" action=paths::RESET_COMPLETE>
            <ErrorNotice error=shown />
            <input type="hidden" name="token" value=token.clone() />
            <label for="password">"New password"</label>
            <input id="password" name="password" type="password" autocomplete="new-password"
                minlength="12" required aria-describedby="password-hint" node_ref=password />
            <p id="password-hint" class="hint">
                "At least 12 characters. A few unrelated words make a strong, memorable password."
            </p>
            {info.mfa.then(|| view! {
                <fieldset>
                    <legend>"Your second factor"</legend>
                    <p class="hint">"Your account has two-factor authentication, so a reset needs one of your factors too."</p>
                    <label for="method">"Answer with"</label>
                    <select id="method" name="method">
                        {typed_methods.iter().map(|m| view! {
                            <option value=format!("{m:?}")>{method_label(*m)}</option>
                        }).collect_view()}
                    </select>
                    <label for="code">"Code"</label>
                    <input id="code" name="code" type="text" autocomplete="one-time-code" autocapitalize="off" spellcheck="false" />
                    {(sms).then(|| view! {
                        <Show when=move || hydrated.get()>
                            <button type="button" on:click=text_me.clone()>"Text me a code"</button>
                        </Show>
                        {move || texted.get().map(|to| view! {
                            <p role="status">{format!("We texted a 6-digit code to {to}. Choose \u{201c}Code by text message\u{201d} above.")}</p>
                        })}
                    })}
                </fieldset>
            })}
            <button type="submit" class="primary">"Save new password"</button>
        </form>
        {(info.mfa && passkey).then(|| view! {
            <Show when=move || hydrated.get()>
                <p>"Or, after typing the new password above:"</p>
                <button type="button" on:click=use_passkey.clone()>"Use a passkey or security key"</button>
            </Show>
        })}
        <p class="hint">"Saving signs you out everywhere and forgets trusted devices."</p>
    }
}

#[component]
pub fn RecoveryCancelPage() -> impl IntoView {
    let token = token();
    let done = query_flag("done");
    let error = redirect_error();
    view! {
        <Title text="Cancel the recovery" />
        <section class="card narrow">
            <h1>"Cancel the recovery of your account"</h1>
            <Show
                when=move || done.get()
                fallback=move || view! {
                    <p>"Someone signed in with your password and started removing your second factors. If it was not you, cancel it: every session will be signed out."</p>
                    <form method="post" action=paths::RECOVERY_CANCEL>
                        <ErrorNotice error />
                        <input type="hidden" name="token" value=move || token.get() />
                        <button type="submit" class="primary">"Cancel the recovery"</button>
                    </form>
                }
            >
                <p class="notice ok" role="status">
                    "The recovery is cancelled and every session was signed out. Whoever started it knows your password: change it now."
                </p>
                <p><A href="/forgot-password">"Choose a new password"</A></p>
            </Show>
        </section>
    }
}

/// "I lost every factor": reached from the second-factor page, so the
/// password is proven (the sign-in challenge).
#[component]
pub fn RecoverPage() -> impl IntoView {
    // Loaded in the browser: the sign-in challenge's cookie is only sent to
    // /api/auth, never with this page's own request.
    let status = LocalResource::new(client::load_recovery);
    let error = redirect_error();
    view! {
        <Title text="Recover your account" />
        <section class="card narrow">
            <h1>"Lost every second factor?"</h1>
            <ErrorNotice error />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(status) => view! { <RecoveryStep status /> }.into_any(),
                        Err(_) => view! {
                            <p>"To recover your account, first sign in with your email and password; then choose \u{201c}Lost every factor?\u{201d}."</p>
                            <p><A href="/login">"Sign in"</A></p>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn RecoveryStep(status: RecoveryStatus) -> impl IntoView {
    if !status.pending {
        return view! {
            <p>"If you lost your phone, passkeys and backup codes, you can remove them and set up new ones. For your safety this waits 3 days (or as long as your administrator set): we email your address now and halfway, so if it is not you, you can cancel it."</p>
            {(!status.email_confirmed).then(|| view! {
                <p class="notice warn">"Your email address is not confirmed, so recovery cannot finish by email. Ask an administrator for help."</p>
            })}
            <form method="post" action=paths::RECOVERY_START>
                <button type="submit" class="primary" disabled=!status.email_confirmed>"Start recovery"</button>
            </form>
            <p class="aside"><A href="/login/second-factor">"Back to the code page"</A></p>
        }
        .into_any();
    }
    if !status.ready {
        let when = status.ready_at.map(format_utc).unwrap_or_default();
        return view! {
            <p class="notice ok" role="status" data-testid="recovery-waiting">
                {format!("Your recovery has started. You can finish it from {when}: sign in again then, and come back to this page.")}
            </p>
            <p class="hint">"We emailed your address. If you did not start this, the mail has a link to cancel it."</p>
        }
        .into_any();
    }
    view! { <FinishRecovery /> }.into_any()
}

/// The delay has passed: a fresh code by email proves the mailbox, then the
/// old factors go and enrolment begins.
#[component]
fn FinishRecovery() -> impl IntoView {
    let code = RwSignal::new(String::new());
    let (sent, set_sent) = signal(false);
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let send = move |_| {
        set_error.set(None);
        spawn_local(async move {
            match client::send_email_code().await {
                Ok(_) => set_sent.set(true),
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let finish = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        set_pending.set(true);
        set_error.set(None);
        let typed = code.get_untracked();
        spawn_local(async move {
            match client::complete_recovery(typed).await {
                Ok(done) => go(done["next"].as_str().unwrap_or("/account")),
                Err(e) => set_error.set(Some(e)),
            }
            set_pending.set(false);
        });
    };
    view! {
        <p role="status" data-testid="recovery-ready">"Your recovery can finish now. We will email you a code; entering it removes your old factors, and you set up new ones at once."</p>
        <ErrorNotice error=error />
        <button type="button" on:click=send>{move || if sent.get() { "Send a new code" } else { "Email me a code" }}</button>
        <form on:submit=finish>
            <label for="recovery-code">"Code from the email"</label>
            <input id="recovery-code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="6" required
                prop:value=move || code.get()
                on:input=move |ev| code.set(event_target_value(&ev)) />
            <button type="submit" class="primary" disabled=move || pending.get()>"Remove my old factors"</button>
        </form>
    }
}
