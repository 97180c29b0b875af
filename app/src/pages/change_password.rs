//! Change the password. A plain form posting to the API: on success every
//! other session ends, trusted devices are forgotten and an alert is sent.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{MfaState, client, paths};
use crate::components::{CodeInput, ErrorNotice, load_failed, redirect_error};

#[component]
pub fn ChangePasswordPage() -> impl IntoView {
    let me = Resource::new(|| (), |_| client::sendable(client::load_me()));
    let error = redirect_error();
    view! {
        <Title text="Change password" />
        <Suspense fallback=|| view! { <p class="card">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(me) => view! {
                        <section class="card narrow">
                            <h1>"Change password"</h1>
                            <p class="hint">
                                "Every other session will be signed out and trusted devices forgotten."
                            </p>
                            <form method="post" action=paths::CHANGE_PASSWORD>
                                <ErrorNotice error />
                                <input type="text" name="username" autocomplete="username"
                                    value=me.email.clone() hidden />
                                <label for="current-password">"Current password"</label>
                                <input id="current-password" name="current_password" type="password"
                                    autocomplete="current-password" required />
                                <label for="new-password">"New password"</label>
                                <input id="new-password" name="new_password" type="password"
                                    autocomplete="new-password" minlength="12" required
                                    aria-describedby="new-password-hint" />
                                <p class="hint" id="new-password-hint">"At least 12 characters. A few unrelated words work well."</p>
                                {(me.mfa == MfaState::Enabled).then(|| view! {
                                    <CodeInput id="password-code" node_ref=NodeRef::new()
                                        label="Code from your app (if you have not entered one in the last 10 minutes)"
                                        backup=true optional=true />
                                })}
                                <button type="submit" class="primary">"Change password"</button>
                            </form>
                        </section>
                    }.into_any(),
                    Err(e) => load_failed(e),
                }
            })}
        </Suspense>
    }
}
