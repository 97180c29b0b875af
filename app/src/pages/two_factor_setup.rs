//! The enrolment wizard: one component per step, the step in one enum.

use leptos::html::Input;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use crate::api::{AppError, TotpSetup, client};
use crate::components::{CodeInput, CodesList, ErrorNotice, PolicyBanner, SubmitButton, clipboard};

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Starting,
    Scan(TotpSetup),
    Verify(TotpSetup),
    SaveCodes(Vec<String>),
}

#[component]
pub fn TwoFactorSetupPage() -> impl IntoView {
    let step = RwSignal::new(Step::Starting);
    let (error, set_error) = signal(None::<AppError>);
    // Starting a setup creates a secret, so it happens in the browser only
    // (an Effect never runs during server rendering).
    Effect::new(move |_| {
        spawn_local(async move {
            match client::totp_start().await {
                Ok(setup) => step.set(Step::Scan(setup)),
                Err(e) => set_error.set(Some(e)),
            }
        });
    });
    let navigate = use_navigate();
    let cancel = move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            let _ = client::totp_cancel().await;
            navigate("/account", NavigateOptions::default());
        });
    };
    let step_number = move || match step.get() {
        Step::Starting | Step::Scan(_) => 1,
        Step::Verify(_) => 2,
        Step::SaveCodes(_) => 3,
    };
    let me = Resource::new(|| (), |_| client::sendable(client::load_me()));
    view! {
        <Title text="Set up two-factor authentication" />
        <section class="card">
            <Suspense>
                {move || Suspend::new(async move {
                    me.await.ok().map(|me| view! { <PolicyBanner me /> })
                })}
            </Suspense>
            <p class="step-count">{move || format!("Step {} of 3", step_number())}</p>
            <ErrorNotice error=error />
            {move || match step.get() {
                Step::Starting => view! { <p>"Preparing your setup…"</p> }.into_any(),
                Step::Scan(setup) => view! { <ScanStep setup step /> }.into_any(),
                Step::Verify(setup) => view! { <VerifyStep setup step /> }.into_any(),
                Step::SaveCodes(codes) => view! { <SaveCodesStep codes /> }.into_any(),
            }}
            {move || {
                (!matches!(step.get(), Step::SaveCodes(_)))
                    .then(|| {
                        view! {
                            <p class="aside">
                                <button type="button" class="link" on:click=cancel.clone()>
                                    "Cancel setup"
                                </button>
                            </p>
                        }
                    })
            }}
        </section>
    }
}

#[component]
fn ScanStep(setup: TotpSetup, step: RwSignal<Step>) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let key = setup.secret.clone();
    let next = setup.clone();
    view! {
        <h1>"Scan the QR code"</h1>
        <p>"Open your authenticator app (for example Aegis, Google Authenticator, 1Password) and scan this code."</p>
        <div class="qr" role="img" aria-label="QR code for your authenticator app" inner_html=setup.qr_svg.clone()></div>
        <p>"Can't scan it? Type this key into the app instead:"</p>
        <p class="key">
            <code data-testid="totp-secret">{setup.secret.clone()}</code>
            <button
                type="button"
                on:click=move |_| {
                    clipboard::copy(&key.replace(' ', ""));
                    set_copied.set(true);
                }
            >
                {move || if copied.get() { "Copied" } else { "Copy key" }}
            </button>
        </p>
        <button type="button" class="primary" on:click=move |_| step.set(Step::Verify(next.clone()))>
            "Next: enter a code"
        </button>
    }
}

#[component]
fn VerifyStep(setup: TotpSetup, step: RwSignal<Step>) -> impl IntoView {
    let code = NodeRef::<Input>::new();
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let navigate = use_navigate();
    let submit = move || {
        if pending.get_untracked() {
            return;
        }
        let navigate = navigate.clone();
        let typed = code.get_untracked().map(|i| i.value()).unwrap_or_default();
        set_pending.set(true);
        set_error.set(None);
        spawn_local(async move {
            match client::totp_confirm(&typed).await {
                // Another app beside existing factors: no new codes to save.
                Ok(codes) if codes.backup_codes.is_empty() => {
                    navigate("/account?added=app", NavigateOptions::default())
                }
                Ok(codes) => step.set(Step::SaveCodes(codes.backup_codes)),
                Err(e) => {
                    set_error.set(Some(e));
                    if let Some(i) = code.get_untracked() {
                        i.set_value("");
                        let _ = i.focus();
                    }
                }
            }
            set_pending.set(false);
        });
    };
    let on_submit = {
        let submit = submit.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            submit();
        }
    };
    let back = setup.clone();
    view! {
        <h1>"Enter a code from the app"</h1>
        <form on:submit=on_submit novalidate>
            <ErrorNotice error=error />
            <p>"Type the 6-digit code your app shows for Twofold, to prove it works."</p>
            <CodeInput id="code" label="6-digit code" node_ref=code on_complete=Callback::new(move |_: ()| submit()) />
            <SubmitButton pending label="Verify code" pending_label="Checking…" />
        </form>
        <p class="aside">
            <button type="button" class="link" on:click=move |_| step.set(Step::Scan(back.clone()))>
                "Back to the QR code"
            </button>
        </p>
    }
}

#[component]
fn SaveCodesStep(codes: Vec<String>) -> impl IntoView {
    // Sent here by an app that needs two factors: back to it when done.
    let rd = crate::components::return_to::use_return_to();
    let (saved, set_saved) = signal(false);
    let navigate = use_navigate();
    view! {
        <h1>"Save your backup codes"</h1>
        <p>
            "Two-factor authentication is now on. If you lose your phone, each of these codes "
            "signs you in once. They are shown only now."
        </p>
        <CodesList codes />
        <label class="check">
            <input type="checkbox" on:change=move |ev| set_saved.set(event_target_checked(&ev)) />
            "I have saved these codes"
        </label>
        <button
            type="button"
            class="primary"
            disabled=move || !saved.get()
            on:click=move |_| crate::components::return_to::finish(rd.get_untracked(), "/account", &navigate)
        >
            "Finish"
        </button>
    }
}
