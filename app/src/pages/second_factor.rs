use leptos::ev::SubmitEvent;
use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{AppError, SecondFactor, SecondFactorRequest, client, paths};
use crate::components::{CodeInput, ErrorNotice, SubmitButton, redirect_error, return_to};

/// The second step of signing in. `?method=backup`, `?method=email` and
/// `?method=totp` switch the factor, so switching is a plain link that works
/// with and without JavaScript. The server's flags say what the account can
/// use: `email=off`, `passkey=on`, `totp=off` (see `second_factor_page`).
#[component]
pub fn SecondFactorPage() -> impl IntoView {
    let query = use_query_map();
    let passkey_on = Memo::new(move |_| query.read().get_str("passkey") == Some("on"));
    let totp_on = Memo::new(move |_| query.read().get_str("totp") != Some("off"));
    // `None`: the account has no authenticator app; its passkey comes first.
    let method = Memo::new(move |_| match query.read().get_str("method") {
        Some("backup") => Some(SecondFactor::BackupCode),
        Some("email") => Some(SecondFactor::EmailCode),
        Some("totp") => Some(SecondFactor::Totp),
        Some("sms") => Some(SecondFactor::SmsCode),
        _ if totp_on.get() => Some(SecondFactor::Totp),
        _ => None,
    });
    // The server says `email=off` when codes by email are not offered (the
    // operator's policy, or an unconfirmed address); it refuses them anyway.
    let email_offered = Memo::new(move |_| query.read().get_str("email") != Some("off"));
    let sms_on = Memo::new(move |_| query.read().get_str("sms") == Some("on"));
    view! {
        <Title text="Two-factor authentication" />
        <section class="card narrow">
            <h1>"Two-factor authentication"</h1>
            {move || (passkey_on.get()
                && matches!(method.get(), None | Some(SecondFactor::Totp)))
                .then(|| view! { <PasskeyAnswer /> })}
            {move || match method.get() {
                Some(method) => view! { <CodeForm method /> }.into_any(),
                None => view! {
                    <p class="aside">
                        <A href=move || format!("/login/second-factor?{}method=backup", page_flags(query))>
                            "Use a backup code instead"
                        </A>
                    </p>
                }.into_any(),
            }}
            {move || (method.get() != Some(SecondFactor::BackupCode) && sms_on.get())
                .then(|| view! { <SendACode channel=Channel::Text method=method.get() flags=page_flags(query) /> })}
            {move || (method.get() != Some(SecondFactor::BackupCode) && email_offered.get())
                .then(|| view! { <SendACode channel=Channel::Email method=method.get() flags=page_flags(query) /> })}
            <p class="aside">
                <A href="/recover">"Lost every factor? Recover your account"</A>
            </p>
        </section>
    }
}

/// The server's flags of the page, to keep in links that switch the method.
fn page_flags(query: Memo<leptos_router::params::ParamsMap>) -> String {
    let query = query.read();
    let mut flags = String::new();
    for (name, value) in [
        ("email", "off"),
        ("passkey", "on"),
        ("totp", "off"),
        ("sms", "on"),
    ] {
        if query.get_str(name) == Some(value) {
            flags.push_str(&format!("{name}={value}&"));
        }
    }
    if let Some(rd) = query.get_str("rd") {
        flags.push_str(&format!("rd={}&", crate::api::client::encode_query(rd)));
    }
    flags
}

/// "Use a passkey or security key": the browser asks for one of the
/// account's keys; it needs JavaScript, so it appears once hydrated.
#[component]
fn PasskeyAnswer() -> impl IntoView {
    let rd = return_to::use_return_to();
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(crate::api::webauthn::available()));
    let trust = NodeRef::<Input>::new();
    let navigate = use_navigate();
    let on_click = move |_| {
        if pending.get_untracked() {
            return;
        }
        set_pending.set(true);
        set_error.set(None);
        let trust_device = trust.get_untracked().is_some_and(|t| t.checked());
        let navigate = navigate.clone();
        spawn_local(async move {
            match crate::api::webauthn::second_factor(trust_device).await {
                Ok(_) => return_to::finish(rd.get_untracked(), "/account", &navigate),
                Err(e) => {
                    let expired = matches!(e, AppError::ChallengeExpired);
                    set_error.set(Some(e));
                    if expired {
                        navigate("/login?error=ChallengeExpired", NavigateOptions::default());
                    }
                }
            }
            set_pending.set(false);
        });
    };
    view! {
        <div class="passkey-option">
            <ErrorNotice error=error />
            <Show
                when=move || hydrated.get()
                fallback=|| view! {
                    <p class="hint">"Passkeys need JavaScript in this browser. Use a code below instead."</p>
                }
            >
                <p>"Use the passkey or security key you added to your account."</p>
                <button type="button" class="primary" on:click=on_click.clone() disabled=move || pending.get()>
                    {move || if pending.get() { "Waiting for your passkey…" } else { "Use a passkey or security key" }}
                </button>
                <label class="check">
                    <input type="checkbox" node_ref=trust />
                    "Trust this device for 30 days"
                </label>
            </Show>
        </div>
    }
}

/// How a code can reach the person at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Email,
    Text,
}

/// "Email me a code" / "Text me a code": a form that also works without
/// JavaScript.
#[component]
fn SendACode(channel: Channel, method: Option<SecondFactor>, flags: String) -> impl IntoView {
    let (name, path, this_method) = match channel {
        Channel::Email => ("email", paths::EMAIL_CODE, SecondFactor::EmailCode),
        Channel::Text => ("sms", paths::SMS_CODE, SecondFactor::SmsCode),
    };
    // The page's flags and `rd` go along, so the code page still offers the
    // right methods and still leads back to the app that sent the person.
    let next = format!("/login/second-factor?{flags}method={name}");
    let action = format!("{path}?{flags}");
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let navigate = use_navigate();
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        set_pending.set(true);
        set_error.set(None);
        let navigate = navigate.clone();
        let next = next.clone();
        spawn_local(async move {
            let sent = match channel {
                Channel::Email => client::send_email_code().await.map(|_| ()),
                Channel::Text => client::send_sms_code().await.map(|_| ()),
            };
            match sent {
                Ok(()) => navigate(&next, NavigateOptions::default()),
                Err(e) => set_error.set(Some(e)),
            }
            set_pending.set(false);
        });
    };
    let label = match (channel, method == Some(this_method)) {
        (Channel::Email, false) => "Email me a code",
        (Channel::Email, true) => "Send a new code",
        (Channel::Text, false) => "Text me a code",
        (Channel::Text, true) => "Text me a new code",
    };
    view! {
        <form method="post" action=action on:submit=on_submit class="inline">
            <ErrorNotice error=error />
            <button type="submit" disabled=move || pending.get()>{label}</button>
            {(channel == Channel::Email).then(|| view! {
                <p class="hint">
                    "Codes by email are weaker than an authenticator app or a passkey: anyone who can read your mailbox can use them."
                </p>
            })}
        </form>
    }
}

#[component]
fn CodeForm(method: SecondFactor) -> impl IntoView {
    let backup = method == SecondFactor::BackupCode;
    let code = NodeRef::<Input>::new();
    let trust = NodeRef::<Input>::new();
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let from_redirect = redirect_error();
    let query = use_query_map();
    let shown = Signal::derive(move || error.get().or_else(|| from_redirect.get()));
    let navigate = use_navigate();
    let rd = return_to::use_return_to();

    let submit = move || {
        if pending.get_untracked() {
            return;
        }
        let req = SecondFactorRequest {
            method,
            code: code.get_untracked().map(|i| i.value()).unwrap_or_default(),
            credential: None,
            trust_device: trust.get_untracked().is_some_and(|t| t.checked()),
            rd: None,
        };
        set_pending.set(true);
        set_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match client::second_factor(&req).await {
                Ok(_) => return_to::finish(rd.get_untracked(), "/account", &navigate),
                Err(e) => {
                    let expired = matches!(e, AppError::ChallengeExpired);
                    set_error.set(Some(e));
                    if let Some(i) = code.get_untracked() {
                        i.set_value("");
                        let _ = i.focus();
                    }
                    if expired {
                        navigate("/login?error=ChallengeExpired", NavigateOptions::default());
                    }
                }
            }
            set_pending.set(false);
        });
    };
    let on_submit = {
        let submit = submit.clone();
        move |ev: SubmitEvent| {
            ev.prevent_default();
            submit();
        }
    };
    let complete = Callback::new(move |_: ()| submit());

    view! {
        <form method="post" action=paths::SECOND_FACTOR on:submit=on_submit novalidate>
            <ErrorNotice error=shown />
            <input type="hidden" name="method" value=format!("{method:?}") />
            {move || rd.get().map(|rd| view! { <input type="hidden" name="rd" value=rd /> })}
            {if method == SecondFactor::SmsCode {
                view! {
                    <p role="status">"We texted a 6-digit code to your phone. It works once, for 10 minutes."</p>
                    <CodeInput id="code" label="Code from the text message" node_ref=code on_complete=complete />
                }
                    .into_any()
            } else if method == SecondFactor::EmailCode {
                view! {
                    <p role="status">"We sent a 6-digit code to your email address. It works once, for 10 minutes."</p>
                    <CodeInput id="code" label="Code from the email" node_ref=code on_complete=complete />
                }
                    .into_any()
            } else if backup {
                view! {
                    <p>"Enter one of the backup codes you saved when you turned on two-factor authentication. Each code works once."</p>
                    <CodeInput id="code" label="Backup code" node_ref=code backup=true />
                }
                    .into_any()
            } else {
                view! {
                    <p>"Open your authenticator app and enter the 6-digit code for Twofold."</p>
                    <CodeInput id="code" label="6-digit code" node_ref=code on_complete=complete />
                }
                    .into_any()
            }}
            <label class="check">
                <input type="checkbox" name="trust_device" value="true" node_ref=trust />
                "Trust this device for 30 days"
            </label>
            <SubmitButton pending label="Verify" pending_label="Checking…" />
        </form>
        <p class="aside">
            {move || {
                let flags = page_flags(query);
                let totp_on = query.read().get_str("totp") != Some("off");
                if method != SecondFactor::Totp && totp_on {
                    let href = format!("/login/second-factor?{flags}method=totp");
                    view! { <A href=href>"Use your authenticator app instead"</A> }.into_any()
                } else if method != SecondFactor::Totp {
                    let href = format!("/login/second-factor?{flags}");
                    view! { <A href=href>"Use your passkey instead"</A> }.into_any()
                } else {
                    let href = format!("/login/second-factor?{flags}method=backup");
                    view! { <A href=href>"Use a backup code instead"</A> }.into_any()
                }
            }}
        </p>
    }
}
