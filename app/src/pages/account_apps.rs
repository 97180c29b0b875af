//! "Apps you signed in to": the apps that signed the person in through
//! Twofold (OpenID Connect), and a way to cut one off.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::display::format_utc;
use crate::api::{AppError, AppInfo, client};
use crate::components::ErrorNotice;

/// What a scope lets an app learn, in words.
pub fn scope_words(scope: &str) -> &'static str {
    match scope {
        "email" => "your email address",
        "profile" => "your name (from your email address)",
        "groups" => "your role (user or admin)",
        "offline_access" => "to stay signed in while you are away",
        _ => "who you are",
    }
}

#[component]
pub fn AppsSection() -> impl IntoView {
    let apps = Resource::new(|| (), |_| client::sendable(client::load_apps()));
    let (error, set_error) = signal(None::<AppError>);
    view! {
        <section class="card" aria-labelledby="apps-title">
            <h2 id="apps-title">"Apps you signed in to"</h2>
            <ErrorNotice error=error />
            <Suspense fallback=|| view! { <p>"Loading apps…"</p> }>
                {move || Suspend::new(async move {
                    match apps.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="hint">"No app has signed you in through Twofold yet."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="rows" aria-label="Apps">
                                {list.into_iter().map(|a| view! { <AppRow app=a apps set_error /> }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn AppRow(
    app: AppInfo,
    apps: Resource<Result<Vec<AppInfo>, AppError>>,
    set_error: WriteSignal<Option<AppError>>,
) -> impl IntoView {
    let client_id = app.client_id.clone();
    let revoke = move |_| {
        let client_id = client_id.clone();
        spawn_local(async move {
            match client::revoke_app(client_id).await {
                Ok(_) => apps.refetch(),
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let learns: Vec<&str> = app
        .scopes
        .iter()
        .filter(|s| *s != "openid")
        .map(|s| scope_words(s))
        .collect();
    let label = format!("Revoke {}", app.name);
    view! {
        <li>
            <div>
                <strong>{app.name.clone()}</strong>
                {app.signed_in.then(|| view! { " " <span class="badge on">"Signed in"</span> })}
                <br />
                <span class="hint">
                    {app.last_sign_in_at.map(|t| format!("Last sign-in {}", format_utc(t))).unwrap_or_else(|| "Allowed, not used yet".into())}
                    {(!learns.is_empty()).then(|| format!(" · may learn {}", learns.join(", ")))}
                </span>
            </div>
            <button type="button" aria-label=label on:click=revoke>"Revoke"</button>
        </li>
    }
}
