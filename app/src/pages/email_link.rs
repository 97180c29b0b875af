//! The pages a mailed link opens: confirm an address, choose a password from
//! an invitation, unlock sign-in. Opening the link changes nothing (mail
//! scanners open links too); the button posts the token. Plain forms, so they
//! work the same with and without JavaScript.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::paths;
use crate::components::{ErrorNotice, redirect_error};

fn token() -> Memo<String> {
    let query = use_query_map();
    Memo::new(move |_| query.read().get("token").unwrap_or_default())
}

#[component]
pub fn ConfirmEmailPage() -> impl IntoView {
    let token = token();
    let error = redirect_error();
    view! {
        <Title text="Confirm your email" />
        <section class="card narrow">
            <h1>"Confirm your email"</h1>
            <p>"One more step: confirm this address to create your account and sign in."</p>
            <form method="post" action=paths::CONFIRM_EMAIL>
                <ErrorNotice error />
                <input type="hidden" name="token" value=move || token.get() />
                <button type="submit" class="primary">"Confirm and sign in"</button>
            </form>
        </section>
    }
}

#[component]
pub fn SetPasswordPage() -> impl IntoView {
    let token = token();
    let error = redirect_error();
    view! {
        <Title text="Choose your password" />
        <section class="card narrow">
            <h1>"Choose your password"</h1>
            <p>"You were invited to Twofold. Choose a password to finish your account."</p>
            <form method="post" action=paths::SET_PASSWORD>
                <ErrorNotice error />
                <input type="hidden" name="token" value=move || token.get() />
                <label for="password">"Password"</label>
                <input id="password" name="password" type="password" autocomplete="new-password"
                    minlength="12" required aria-describedby="password-hint" />
                <p id="password-hint" class="hint">
                    "At least 12 characters. A few unrelated words make a strong, memorable password."
                </p>
                <button type="submit" class="primary">"Save password and sign in"</button>
            </form>
        </section>
    }
}

#[component]
pub fn UnlockPage() -> impl IntoView {
    let token = token();
    let error = redirect_error();
    view! {
        <Title text="Unlock sign-in" />
        <section class="card narrow">
            <h1>"Unlock sign-in"</h1>
            <p>"Too many wrong passwords or codes were tried in a row. Unlock sign-in when you are ready to sign in."</p>
            <form method="post" action=paths::UNLOCK>
                <ErrorNotice error />
                <input type="hidden" name="token" value=move || token.get() />
                <button type="submit" class="primary">"Unlock"</button>
            </form>
        </section>
    }
}
