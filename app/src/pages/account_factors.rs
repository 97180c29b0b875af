//! The account page's list of second factors: each authenticator app and
//! passkey with its name, when it was added and last used; renamed in
//! place, removed on its own; and the ways to add one.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::display::format_utc;
use crate::api::{AppError, FactorInfo, FactorKind, MfaState, PasskeyAdded, client};
use crate::components::{CodesList, ErrorNotice};

/// What a person calls each kind of factor.
pub fn kind_label(kind: FactorKind) -> &'static str {
    match kind {
        FactorKind::Totp => "Authenticator app",
        FactorKind::Passkey => "Passkey or security key",
        FactorKind::Phone => "Text messages",
    }
}

/// A small mark for the kind, read out by screen readers as the kind.
fn kind_icon(kind: FactorKind) -> &'static str {
    match kind {
        FactorKind::Totp => "⏱",
        FactorKind::Passkey => "🔑",
        FactorKind::Phone => "📱",
    }
}

/// Passkeys: whether the key can follow its owner to other devices.
fn sync_label(synced: Option<bool>) -> &'static str {
    match synced {
        Some(true) => " (synced passkey)",
        Some(false) => " (this device only)",
        None => "",
    }
}

/// `mfa` is the page's MFA state: removing the last factor turns it off,
/// adding a first one turns it on with a new set of `codes_left`.
#[component]
pub fn FactorsSection(
    mfa: RwSignal<MfaState>,
    codes_left: RwSignal<u32>,
    /// Phones can be added here (an SMS provider, and the policy allows it).
    #[prop(optional)]
    sms: bool,
) -> impl IntoView {
    let factors = Resource::new(|| (), |_| client::sendable(client::load_factors()));
    let (error, set_error) = signal(None::<AppError>);
    let (notice, set_notice) = signal(None::<String>);
    let remove = move |id: i64, name: String| {
        spawn_local(async move {
            match client::remove_factor(id).await {
                Ok(status) => {
                    set_error.set(None);
                    set_notice.set(Some(match status.mfa {
                        MfaState::Disabled => format!(
                            "\"{name}\" was removed. It was your last factor, so two-factor authentication is off."
                        ),
                        _ => format!("\"{name}\" was removed."),
                    }));
                    mfa.set(status.mfa);
                    factors.refetch();
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="factors-title">
            <h2 id="factors-title">"Second factors"</h2>
            <ErrorNotice error=error />
            {move || notice.get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
            <Suspense fallback=|| view! { <p>"Loading your factors…"</p> }>
                {move || Suspend::new(async move {
                    match factors.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="hint">"No second factor yet."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="rows" aria-label="Second factors">
                                {list.into_iter().map(|f| view! {
                                    <FactorRow factor=f set_error remove />
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <AddPasskey on_added=move |added: PasskeyAdded| {
                set_error.set(None);
                if !added.backup_codes.is_empty() {
                    codes_left.set(added.backup_codes.len() as u32);
                }
                mfa.set(added.mfa);
                set_notice.set(Some(format!("\"{}\" was added.", added.factor.name)));
                factors.refetch();
            } />
            {sms.then(|| view! {
                <super::account_phone::AddPhone on_added=move |added: crate::api::BackupCodes| {
                    set_error.set(None);
                    if !added.backup_codes.is_empty() {
                        codes_left.set(added.backup_codes.len() as u32);
                    }
                    mfa.set(added.mfa);
                    set_notice.set(Some("The phone was added.".to_string()));
                    factors.refetch();
                } />
            })}
            <p>
                <a href="/account/two-factor">"Add an authenticator app"</a>
            </p>
        </section>
    }
    .into_any()
}

/// "Add a passkey or security key": the person names it, the browser makes
/// it. A first factor turns two-factor authentication on and shows the
/// backup codes, once.
#[component]
fn AddPasskey(on_added: impl Fn(PasskeyAdded) + Copy + Send + Sync + 'static) -> impl IntoView {
    let available = RwSignal::new(false);
    Effect::new(move |_| available.set(crate::api::webauthn::available()));
    let name = RwSignal::new(String::new());
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let codes = RwSignal::new(Vec::<String>::new());
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        set_pending.set(true);
        set_error.set(None);
        let typed = name.get_untracked();
        spawn_local(async move {
            match crate::api::webauthn::add_passkey(typed).await {
                Ok(added) => {
                    name.set(String::new());
                    codes.set(added.backup_codes.clone());
                    on_added(added);
                }
                Err(e) => set_error.set(Some(e)),
            }
            set_pending.set(false);
        });
    };
    view! {
        <Show
            when=move || available.get()
            fallback=|| view! {
                <p class="hint">"Passkeys need a browser with JavaScript and passkey support."</p>
            }
        >
            <form on:submit=submit class="inline" aria-labelledby="add-passkey-title">
                <h3 id="add-passkey-title">"Add a passkey or security key"</h3>
                <ErrorNotice error=error />
                <label>
                    "Name it (for example \"Laptop\" or \"YubiKey\")"
                    <input type="text" maxlength="64" placeholder="Passkey"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev)) />
                </label>
                <button type="submit" disabled=move || pending.get()>
                    {move || if pending.get() { "Waiting for your passkey…" } else { "Add a passkey" }}
                </button>
            </form>
        </Show>
        {move || (!codes.get().is_empty()).then(|| view! {
            <div class="notice ok" role="status">
                <p>"Two-factor authentication is on. Save these backup codes now: they are shown once, and each signs you in once if you lose your passkey."</p>
                <CodesList codes=codes.get() />
            </div>
        })}
    }
    .into_any()
}

#[component]
fn FactorRow(
    factor: FactorInfo,
    set_error: WriteSignal<Option<AppError>>,
    remove: impl Fn(i64, String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = factor.id;
    let name = RwSignal::new(factor.name.clone());
    let draft = RwSignal::new(factor.name.clone());
    let editing = RwSignal::new(false);
    let used = factor.last_used_at.map_or_else(
        || "never used".to_string(),
        |t| format!("last used {}", format_utc(t)),
    );
    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        let typed = draft.get_untracked();
        spawn_local(async move {
            match client::rename_factor(id, typed).await {
                Ok(saved) => {
                    set_error.set(None);
                    name.set(saved.name.clone());
                    draft.set(saved.name);
                    editing.set(false);
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    view! {
        <li data-testid="factor">
            <div>
                <span aria-hidden="true">{kind_icon(factor.kind)}</span>
                " "
                <strong data-testid="factor-name">{move || name.get()}</strong>
                <br />
                <span class="hint">
                    {format!(
                        "{}{}{} · added {} · {used}",
                        kind_label(factor.kind),
                        sync_label(factor.synced),
                        factor.phone.as_deref().map(|p| format!(" to {p}")).unwrap_or_default(),
                        format_utc(factor.created_at),
                    )}
                </span>
            </div>
            <Show
                when=move || editing.get()
                fallback=move || view! {
                    <button type="button" on:click=move |_| editing.set(true)
                        aria-label=move || format!("Rename {}", name.get())>
                        "Rename"
                    </button>
                    <button type="button" on:click=move |_| remove(id, name.get_untracked())
                        aria-label=move || format!("Remove {}", name.get())>
                        "Remove"
                    </button>
                }
            >
                <form on:submit=save class="inline">
                    <label>
                        "New name"
                        <input type="text" maxlength="64" required
                            prop:value=move || draft.get()
                            on:input=move |ev| draft.set(event_target_value(&ev)) />
                    </label>
                    <button type="submit">"Save"</button>
                    <button type="button" on:click=move |_| {
                        draft.set(name.get_untracked());
                        editing.set(false);
                    }>"Cancel"</button>
                </form>
            </Show>
        </li>
    }
}
