//! The consent page: an app asks to learn who the person is; they allow it
//! (remembered, revocable on the account page) or refuse (the app is told
//! `access_denied`).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_location;

use crate::api::{AppError, client, paths};
use crate::components::{ErrorNotice, load_failed};

use super::account_apps::scope_words;

#[component]
pub fn ConsentPage() -> impl IntoView {
    let location = use_location();
    let query = Memo::new(move |_| location.search.get());
    let info = Resource::new(
        move || query.get(),
        |q| client::sendable(client::load_consent(q)),
    );
    let (pending, set_pending) = signal(false);
    let (error, set_error) = signal(None::<AppError>);
    let answer = move |allow: bool| {
        set_pending.set(true);
        set_error.set(None);
        let q = query.get_untracked();
        spawn_local(async move {
            match client::answer_consent(q, allow).await {
                Ok(next) => leave_for(&next.redirect),
                Err(e) => {
                    set_error.set(Some(e));
                    set_pending.set(false);
                }
            }
        });
    };
    view! {
        <Title text="Allow this app?" />
        <section class="card narrow">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match info.await {
                        Ok(info) => view! {
                            <h1>{format!("Sign in to {}?", info.client_name)}</h1>
                            <p>{format!("{} wants to know who you are ({}). It will learn:", info.client_name, info.email)}</p>
                            <ul>
                                <li>"that you are this Twofold account, and how you signed in"</li>
                                {info.scopes.iter().map(|s| view! { <li>{scope_words(s)}</li> }).collect_view()}
                            </ul>
                            <p class="hint">"You can take this back on your account page, under \u{201c}Apps you signed in to\u{201d}."</p>
                            <ErrorNotice error=error />
                            // A plain form without JavaScript; with it, the
                            // buttons answer over the API.
                            <form method="post" action=paths::CONSENT class="actions">
                                <input type="hidden" name="query" value=move || query.get() />
                                <button type="submit" name="allow" value="true" class="primary" disabled=move || pending.get()
                                    on:click=move |ev| { ev.prevent_default(); answer(true) }>"Allow"</button>
                                <button type="submit" name="allow" value="false" disabled=move || pending.get()
                                    on:click=move |ev| { ev.prevent_default(); answer(false) }>"Refuse"</button>
                            </form>
                        }.into_any(),
                        Err(e) => load_failed(e),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[cfg(feature = "hydrate")]
fn leave_for(url: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(url);
    }
}

#[cfg(not(feature = "hydrate"))]
fn leave_for(_url: &str) {}
