//! "Confirm it is you": the password again (and a code with MFA on), which
//! opens sensitive actions for 10 minutes. A plain form post; the server
//! sends the person back to the page they came from.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{MfaState, client, paths, reauth_return_page};
use crate::components::{CodeInput, ErrorNotice, load_failed, redirect_error};

#[component]
pub fn ReauthPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| client::sendable(client::load_me()));
    let query = use_query_map();
    let next = move || reauth_return_page(query.read().get("next").as_deref());
    let error = redirect_error();
    let rd = crate::components::return_to::use_return_to();
    view! {
        <Title text="Confirm it is you" />
        <Suspense fallback=|| view! { <p class="card">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) => view! {
                        <section class="card narrow">
                            <h1>"Confirm it is you"</h1>
                            <p>"For your safety, this needs your password again."</p>
                            <form method="post" action=paths::REAUTH>
                                <ErrorNotice error />
                                <input type="hidden" name="next" value=next() />
                                {rd.get().map(|rd| view! { <input type="hidden" name="rd" value=rd /> })}
                                <label for="reauth-password">"Password"</label>
                                <input id="reauth-password" name="password" type="password"
                                    autocomplete="current-password" required />
                                {(me.mfa == MfaState::Enabled).then(|| view! {
                                    <CodeInput id="reauth-code" node_ref=NodeRef::new()
                                        label="Code from your app or a backup code" backup=true />
                                })}
                                <button type="submit" class="primary">"Continue"</button>
                            </form>
                            {(me.mfa == MfaState::Enabled).then(|| view! { <PasskeyReauth next=next() /> })}
                        </section>
                    }.into_any(),
                    Err(e) => load_failed(e),
                }
            })}
        </Suspense>
    }
}

/// "Use a passkey instead": a passkey with user verification proves the
/// password and a factor at once, so it opens the window by itself (a
/// passkey sign-in that replaces this browser's session).
#[component]
fn PasskeyReauth(next: &'static str) -> impl IntoView {
    let rd = crate::components::return_to::use_return_to();
    let available = RwSignal::new(false);
    Effect::new(move |_| available.set(crate::api::webauthn::available()));
    let (error, set_error) = signal(None::<crate::api::AppError>);
    let navigate = leptos_router::hooks::use_navigate();
    let on_click = move |_| {
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match crate::api::webauthn::sign_in(false).await {
                Ok(_) => crate::components::return_to::finish(rd.get_untracked(), next, &navigate),
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    view! {
        <Show when=move || available.get()>
            <div class="passkey-option">
                <p class="divider">"or"</p>
                <ErrorNotice error=error />
                <button type="button" on:click=on_click.clone()>"Use a passkey instead"</button>
            </div>
        </Show>
    }
}
