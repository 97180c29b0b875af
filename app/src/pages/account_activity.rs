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

/// Browsers that skip the second factor, with a way to forget them.
#[component]
pub fn DevicesSection() -> impl IntoView {
    let devices = Resource::new(|| (), |_| client::sendable(client::load_devices()));
    let (error, set_error) = signal(None::<AppError>);
    let forget = move |id: Option<i64>| {
        spawn_local(async move {
            match client::revoke_device(id).await {
                Ok(_) => devices.refetch(),
                Err(e) => set_error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="card" aria-labelledby="devices-title">
            <h2 id="devices-title">"Trusted devices"</h2>
            <ErrorNotice error=error />
            <Suspense fallback=|| view! { <p>"Loading devices…"</p> }>
                {move || Suspend::new(async move {
                    match devices.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="hint">
                                "No trusted devices. Tick \"Trust this device\" when you enter a code to skip it on that browser for 30 days."
                            </p>
                        }.into_any(),
                        Ok(list) => view! {
                            <ul class="rows" aria-label="Trusted devices">
                                {list.into_iter().map(|d| {
                                    let id = d.id;
                                    let label = d.label.clone();
                                    view! {
                                        <li>
                                            <div>
                                                <strong>{d.label.clone()}</strong>
                                                {d.current.then(|| view! { " " <span class="badge on">"This device"</span> })}
                                                <br />
                                                <span class="hint">
                                                    {format!("trusted until {} · last used {}", format_utc(d.expires_at), format_utc(d.last_used_at))}
                                                </span>
                                            </div>
                                            <button type="button" on:click=move |_| forget(Some(id)) aria-label=format!("Forget {label}")>
                                                "Forget"
                                            </button>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                            <button type="button" on:click=move |_| forget(None)>"Forget all devices"</button>
                        }.into_any(),
                        Err(e) => view! { <p class="notice error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
