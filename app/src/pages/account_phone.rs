//! "Add a phone": a number with its country code and a name; a code is
//! texted to it; typing the code back adds it. Text messages are the
//! weakest factor after email, and the form says so.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{AppError, BackupCodes, client};
use crate::components::{CodesList, ErrorNotice};

#[component]
pub fn AddPhone(on_added: impl Fn(BackupCodes) + Copy + Send + Sync + 'static) -> impl IntoView {
    let phone = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    // The masked number a code went to, once one did.
    let sent_to = RwSignal::new(None::<String>);
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let codes = RwSignal::new(Vec::<String>::new());
    let send = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        set_pending.set(true);
        set_error.set(None);
        let (number, label) = (phone.get_untracked(), name.get_untracked());
        let label = if label.trim().is_empty() {
            "Phone".to_string()
        } else {
            label
        };
        spawn_local(async move {
            match client::start_phone(number, label).await {
                Ok(started) => sent_to.set(Some(started.phone)),
                Err(e) => set_error.set(Some(e)),
            }
            set_pending.set(false);
        });
    };
    let confirm = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        set_pending.set(true);
        set_error.set(None);
        let typed = code.get_untracked();
        spawn_local(async move {
            match client::confirm_phone(typed).await {
                Ok(added) => {
                    sent_to.set(None);
                    phone.set(String::new());
                    name.set(String::new());
                    code.set(String::new());
                    codes.set(added.backup_codes.clone());
                    on_added(added);
                }
                Err(e) => set_error.set(Some(e)),
            }
            set_pending.set(false);
        });
    };
    view! {
        <div class="add-phone">
            <h3 id="add-phone-title">"Add a phone (text messages)"</h3>
            <p class="hint">
                "Codes by text message are weaker than an authenticator app or a passkey: a thief can move your number to their SIM card. Prefer those when you can."
            </p>
            <ErrorNotice error=error />
            <Show
                when=move || sent_to.get().is_some()
                fallback=move || view! {
                    <form on:submit=send class="inline">
                        <label>
                            "Mobile number, with the country code"
                            <input type="tel" name="phone" autocomplete="tel" placeholder="+44 7911 123456" required
                                prop:value=move || phone.get()
                                on:input=move |ev| phone.set(event_target_value(&ev)) />
                        </label>
                        <label>
                            "The phone's name (for example \"My phone\")"
                            <input type="text" name="phone-name" maxlength="64" placeholder="Phone"
                                prop:value=move || name.get()
                                on:input=move |ev| name.set(event_target_value(&ev)) />
                        </label>
                        <button type="submit" disabled=move || pending.get()>"Text me a code"</button>
                    </form>
                }
            >
                <form on:submit=confirm class="inline">
                    <p role="status">{move || format!("We texted a 6-digit code to {}. It works for 10 minutes.", sent_to.get().unwrap_or_default())}</p>
                    <label>
                        "Code from the text message"
                        <input type="text" name="phone-code" inputmode="numeric" autocomplete="one-time-code"
                            maxlength="6" required
                            prop:value=move || code.get()
                            on:input=move |ev| code.set(event_target_value(&ev)) />
                    </label>
                    <button type="submit" class="primary" disabled=move || pending.get()>"Add this phone"</button>
                    <button type="button" on:click=move |_| sent_to.set(None)>"Use another number"</button>
                </form>
            </Show>
            {move || (!codes.get().is_empty()).then(|| view! {
                <div class="notice ok" role="status">
                    <p>"Two-factor authentication is on. Save these backup codes now: they are shown once, and each signs you in once if you lose your phone."</p>
                    <CodesList codes=codes.get() />
                </div>
            })}
        </div>
    }
    .into_any()
}
