//! The account page's sessions list and recent security activity.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::display::{event_text, format_utc};
use crate::api::{AppError, SessionInfo, client};
use crate::components::ErrorNotice;

#[component]
pub fn SessionsSection() -> impl IntoView {
    let sessions = Resource::new(|| (), |_| client::sendable(client::load_sessions()));
    let (error, set_error) = signal(None::<AppError>);
    let (notice, set_notice) = signal(None::<String>);
    let sign_out_others = move |_| {
        spawn_local(async move {
            match client::logout_others().await {
                Ok(r) => {
                    set_notice.set(Some(format!("Signed out of {} other sessions.", r.revoked)));
                    sessions.refetch();
                }
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="sessions-title">
            <h2 id="sessions-title">"Where you are signed in"</h2>
            <ErrorNotice error=error />
            {move || notice.get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
            <Suspense fallback=|| view! { <p>"Loading sessions…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => {
                            let others = list.iter().filter(|s| !s.current).count();
                            view! {
                                <ul class="rows" aria-label="Sessions">
                                    {list
                                        .into_iter()
                                        .map(|s| view! { <SessionRow session=s sessions set_error /> })
                                        .collect_view()}
                                </ul>
                                {(others > 0).then(|| view! {
                                    <button type="button" on:click=sign_out_others>
                                        "Sign out everywhere else"
                                    </button>
                                })}
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn SessionRow(
    session: SessionInfo,
    sessions: Resource<Result<Vec<SessionInfo>, AppError>>,
    set_error: WriteSignal<Option<AppError>>,
) -> impl IntoView {
    let id = session.id;
    let revoke = move |_| {
        spawn_local(async move {
            match client::revoke_session(id).await {
                Ok(()) => sessions.refetch(),
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    let label = session.device.clone();
    view! {
        <li>
            <div>
                <strong>{session.device.clone()}</strong>
                {session.current.then(|| view! { " " <span class="badge on">"This device"</span> })}
                <br />
                <span class="hint">
                    {format!(
                        "{} · last active {} · signed in {}",
                        session.ip.clone().unwrap_or_else(|| "unknown address".into()),
                        format_utc(session.last_seen_at),
                        format_utc(session.created_at),
                    )}
                </span>
            </div>
            {(!session.current).then(|| view! {
                <button type="button" on:click=revoke aria-label=format!("Sign out {label}")>
                    "Sign out"
                </button>
            })}
        </li>
    }
}

#[component]
pub fn ActivitySection() -> impl IntoView {
    let events = Resource::new(|| (), |_| client::sendable(client::load_events()));
    view! {
        <section class="card" aria-labelledby="activity-title">
            <h2 id="activity-title">"Recent security activity"</h2>
            <Suspense fallback=|| view! { <p>"Loading activity…"</p> }>
                {move || Suspend::new(async move {
                    match events.await {
                        Ok(page) => view! {
                            <ul class="rows" aria-label="Recent security activity">
                                {page.events.into_iter().map(|e| view! {
                                    <li>
                                        <div>
                                            <strong>{event_text(&e.kind)}</strong>
                                            <br />
                                            <span class="hint">
                                                {format!(
                                                    "{} · {} · {}",
                                                    format_utc(e.at),
                                                    e.device,
                                                    e.ip.unwrap_or_else(|| "unknown address".into()),
                                                )}
                                            </span>
                                        </div>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
