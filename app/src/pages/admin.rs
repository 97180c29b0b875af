//! The admin dashboard: statistics, the MFA policy, and the accounts with
//! their help actions. Every action is a plain form posting to the admin
//! API, so it works with or without JavaScript; the server answers with a
//! redirect back here (`?done=` or `?error=`).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::client::{self, AdminView};
use crate::api::display::format_utc;
use crate::api::{AdminUser, MfaRequirement, Role, paths};
use crate::components::{ErrorNotice, load_failed, redirect_error};
use crate::pages::account::mfa_label;

#[component]
pub fn AdminPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(1)
    };
    let data = Resource::new(
        move || (search(), page()),
        |(q, page)| client::sendable(client::load_admin(q, page)),
    );
    let done = move || {
        query.read().get("done").and_then(|d| match d.as_str() {
            "policy" => Some("The policy is saved."),
            "reset" => Some("Two-factor authentication was reset; the user was emailed."),
            "unlock" => Some("The account is unlocked."),
            "invite" => Some("The account is made; they were emailed a link to choose a password."),
            "recovery-approved" => {
                Some("The recovery is approved: it can finish at the next sign-in.")
            }
            "recovery-cancelled" => {
                Some("The recovery is cancelled; the account's sessions were ended.")
            }
            _ => None,
        })
    };
    let error = redirect_error();
    view! {
        <Title text="Administration" />
        <Suspense fallback=|| view! { <p class="card">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(view) => view! {
                        <section class="card wide">
                            <h1>"Administration"</h1>
                            {move || done().map(|d| view! { <p class="notice ok" role="status">{d}</p> })}
                            <ErrorNotice error />
                            <Stats view=view.clone() />
                        </section>
                        <PolicyForm view=view.clone() />
                        <Recoveries recoveries=view.recoveries.clone() />
                        <InviteForm />
                        <Users view=view.clone() search=search() />
                        <AccessRules access=view.access />
                        <SingleSignOn oidc=view.oidc />
                    }.into_any(),
                    Err(e) => load_failed(e),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Stats(view: AdminView) -> impl IntoView {
    let s = view.stats;
    view! {
        <h2>"Statistics"</h2>
        <dl class="facts stats" data-testid="stats">
            <dt>"Accounts"</dt>
            <dd data-testid="stat-accounts">{format!("{} ({} admins)", s.accounts, s.admins)}</dd>
            <dt>"Two-factor on"</dt>
            <dd data-testid="stat-mfa">{format!("{} ({}%)", s.mfa_enabled, s.mfa_enabled_percent)}</dd>
            <dt>"Sign-ins"</dt>
            <dd>{format!("{} in 24 h, {} in 7 days", s.sign_ins_24h, s.sign_ins_7d)}</dd>
            <dt>"Failed codes"</dt>
            <dd>{format!("{} in 24 h, {} in 7 days", s.failed_factors_24h, s.failed_factors_7d)}</dd>
            <dt>"Locked now"</dt>
            <dd data-testid="stat-locked">{s.active_lockouts}</dd>
        </dl>
    }
    .into_any()
}

fn requirement_label(r: MfaRequirement) -> &'static str {
    match r {
        MfaRequirement::Nobody => "Nobody (optional for everyone)",
        MfaRequirement::Admins => "Admins",
        MfaRequirement::Everyone => "Everyone",
    }
}

#[component]
fn PolicyForm(view: AdminView) -> impl IntoView {
    let current = view.policy;
    view! {
        <section class="card wide" aria-labelledby="policy-title">
            <h2 id="policy-title">"Two-factor policy"</h2>
            <form method="post" action=paths::ADMIN_POLICY>
                <label for="require">"Require two-factor authentication for"</label>
                <select id="require" name="require">
                    {[MfaRequirement::Nobody, MfaRequirement::Admins, MfaRequirement::Everyone]
                        .into_iter()
                        .map(|r| view! {
                            <option value=r.as_str() selected=r == current.require>{requirement_label(r)}</option>
                        })
                        .collect_view()}
                </select>
                <label for="grace_days">"Days to set it up"</label>
                <input id="grace_days" name="grace_days" type="number" min="0" max="365"
                    value=current.grace_days.to_string() required />
                <p class="hint">
                    "Each account gets its own date when the rule first covers it; after it, the account can do nothing but set up two-factor authentication."
                </p>
                <label for="allow_email_codes">"Codes by email"</label>
                <select id="allow_email_codes" name="allow_email_codes">
                    <option value="true" selected=current.allow_email_codes>"Allowed as a fallback"</option>
                    <option value="false" selected=!current.allow_email_codes>"Not allowed"</option>
                </select>
                <p class="hint">
                    "Codes by email are the weakest second factor: anyone who can read the mailbox can use them. An authenticator app or a passkey is stronger."
                </p>
                <label for="allow_sms">"Codes by text message"</label>
                <select id="allow_sms" name="allow_sms">
                    <option value="true" selected=current.allow_sms>"Allowed (when an SMS provider is set)"</option>
                    <option value="false" selected=!current.allow_sms>"Not allowed"</option>
                </select>
                <p class="hint">
                    "Text messages can be intercepted or redirected by a SIM swap. When not allowed, nobody can add a phone or sign in with one."
                </p>
                <button type="submit" class="primary">"Save policy"</button>
            </form>
        </section>
    }
    .into_any()
}

/// Recoveries waiting: someone signed in with the password and said they
/// lost every factor. An admin who checked who is asking (out of band) can
/// let it finish now, or cancel it.
#[component]
fn Recoveries(recoveries: Vec<crate::api::PendingRecovery>) -> impl IntoView {
    view! {
        <section class="card wide" aria-labelledby="recoveries-title">
            <h2 id="recoveries-title">"Account recoveries waiting"</h2>
            {if recoveries.is_empty() {
                view! { <p class="hint">"None."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table>
                            <thead>
                                <tr>
                                    <th scope="col">"Account"</th>
                                    <th scope="col">"Started"</th>
                                    <th scope="col">"Can finish"</th>
                                    <th scope="col">"From"</th>
                                    <th scope="col">"Decide"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {recoveries.into_iter().map(|r| {
                                    let id = r.id.to_string();
                                    view! {
                                        <tr data-testid="recovery-row" data-email=r.email.clone()>
                                            <td>{r.email.clone()}</td>
                                            <td>{format_utc(r.started_at)}</td>
                                            <td>{if r.approved { "now (approved)".to_string() } else { format_utc(r.ready_at) }}</td>
                                            <td>{r.address.clone().unwrap_or_default()}</td>
                                            <td class="actions">
                                                <form method="post" action=paths::ADMIN_RECOVERY_APPROVE class="inline">
                                                    <input type="hidden" name="id" value=id.clone() />
                                                    <button type="submit">"Approve now"</button>
                                                </form>
                                                <form method="post" action=paths::ADMIN_RECOVERY_CANCEL class="inline">
                                                    <input type="hidden" name="id" value=id />
                                                    <button type="submit">"Cancel"</button>
                                                </form>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            <p class="hint">"Approve only after checking who is asking, for example by a call to a number you already know."</p>
        </section>
    }
}

/// "Invite": adds someone and mails them a link to choose a password.
#[component]
fn InviteForm() -> impl IntoView {
    view! {
        <section class="card wide" aria-labelledby="invite-title">
            <h2 id="invite-title">"Invite someone"</h2>
            <form method="post" action=paths::ADMIN_INVITE class="search">
                <label for="invite-email">"Email"</label>
                <input id="invite-email" name="email" type="email" autocomplete="off" required />
                <button type="submit">"Invite"</button>
            </form>
            <p class="hint">"They get an email with a link to choose their password (valid 7 days)."</p>
        </section>
    }
}

#[component]
fn Users(view: AdminView, search: String) -> impl IntoView {
    let users = view.users;
    let pages = users.total.div_ceil(users.per_page.max(1)).max(1);
    let page = users.page;
    let q = client::encode_query(&search);
    let link = move |p: u32| format!("/admin?q={q}&page={p}");
    view! {
        <section class="card wide" aria-labelledby="users-title">
            <h2 id="users-title">"Accounts"</h2>
            <form method="get" action="/admin" class="search" role="search">
                <label for="q">"Search by email"</label>
                <input id="q" name="q" type="text" value=search.clone() />
                <button type="submit">"Search"</button>
            </form>
            <p class="hint">{format!("{} accounts found", users.total)}</p>
            <div class="table-wrap">
                <table class="users">
                    <thead>
                        <tr>
                            <th scope="col">"Email"</th>
                            <th scope="col">"Role"</th>
                            <th scope="col">"Two-factor"</th>
                            <th scope="col">"Last sign-in"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col">"Help"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {users.users.into_iter().map(|u| view! { <UserRow user=u /> }).collect_view()}
                    </tbody>
                </table>
            </div>
            <nav class="actions" aria-label="Pages">
                {(page > 1).then(|| view! { <a href=link(page - 1)>"Previous page"</a> })}
                <span class="hint">{format!("Page {page} of {pages}")}</span>
                {(page < pages).then(|| view! { <a href=link(page + 1)>"Next page"</a> })}
            </nav>
        </section>
    }
    .into_any()
}

#[component]
fn UserRow(user: AdminUser) -> impl IntoView {
    let email = user.email.clone();
    let required = user
        .mfa_required_by
        .map(|by| format!(" · required by {}", format_utc(by)));
    view! {
        <tr data-testid="user-row" data-email=user.email.clone()>
            <td>{user.email.clone()}</td>
            <td>{match user.role { Role::Admin => "Admin", Role::User => "User" }}</td>
            <td>{mfa_label(user.mfa)}{required}</td>
            <td>{user.last_sign_in_at.map_or_else(|| "never".to_string(), format_utc)}</td>
            <td>{if user.locked { "locked" } else { "ok" }}</td>
            <td class="help">
                {user.locked.then(|| view! {
                    <form method="post" action=paths::ADMIN_UNLOCK class="inline">
                        <input type="hidden" name="email" value=email.clone() />
                        <button type="submit">"Unlock"</button>
                    </form>
                })}
                <details>
                    <summary>"Reset two-factor"</summary>
                    <form method="post" action=paths::ADMIN_RESET_MFA class="inline">
                        <input type="hidden" name="email" value=email.clone() />
                        <p class="hint">
                            "Only when they lost every factor, and you made sure it is them. Their app, backup codes and trusted devices stop working; they get an email."
                        </p>
                        <button type="submit" class="danger">{format!("Reset two-factor for {email}")}</button>
                    </form>
                </details>
            </td>
        </tr>
    }
    .into_any()
}

/// The forward-auth rules as loaded (change them in the file and restart)
/// and the latest requests they refused.
#[component]
fn AccessRules(access: crate::api::AccessOverview) -> impl IntoView {
    let list = |v: &[String]| {
        if v.is_empty() {
            "any".to_string()
        } else {
            v.join(", ")
        }
    };
    let rules = access.rules.clone();
    let denials = access.denials.clone();
    view! {
        <section class="card wide" aria-labelledby="access-title">
            <h2 id="access-title">"Apps behind forward-auth"</h2>
            {if rules.is_empty() {
                view! {
                    <p class="hint">{format!(
                        "No access rules are loaded (--access-rules): every proxied request gets the default policy, {}.",
                        access.default_policy
                    )}</p>
                }.into_any()
            } else {
                view! {
                    <table>
                        <caption>{format!("Access rules, first match wins; otherwise {}", access.default_policy)}</caption>
                        <thead><tr>
                            <th scope="col">"Line"</th><th scope="col">"Domains"</th><th scope="col">"Paths"</th>
                            <th scope="col">"Methods"</th><th scope="col">"Who"</th><th scope="col">"Policy"</th>
                        </tr></thead>
                        <tbody>
                            {rules.into_iter().map(|r| {
                                let mut who: Vec<String> = r.roles.clone();
                                who.extend(r.users.clone());
                                view! { <tr>
                                    <td>{r.line}</td>
                                    <td>{r.domains.join(", ")}</td>
                                    <td>{list(&r.paths)}</td>
                                    <td>{list(&r.methods)}</td>
                                    <td>{list(&who)}</td>
                                    <td>{r.policy}</td>
                                </tr> }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <h3>"Recently refused"</h3>
            {if denials.is_empty() {
                view! { <p class="hint">"Nothing refused since this server started."</p> }.into_any()
            } else {
                view! {
                    <ul class="rows" aria-label="Recently refused requests">
                        {denials.into_iter().map(|d| view! {
                            <li>
                                <span>{format!("{} {}", d.method, d.url)}</span>
                                <span class="hint">{format!(
                                    "{} · {} · {} · {}",
                                    crate::api::display::format_utc(d.at),
                                    d.user.unwrap_or_else(|| "not signed in".into()),
                                    d.ip.unwrap_or_else(|| "unknown address".into()),
                                    d.line.map_or_else(|| "default policy".to_string(), |l| format!("rule at line {l}")),
                                )}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
    .into_any()
}

/// The OpenID Connect clients as loaded, and the latest sign-ins to them.
#[component]
fn SingleSignOn(oidc: crate::api::OidcOverview) -> impl IntoView {
    let clients = oidc.clients.clone();
    let recent = oidc.recent.clone();
    view! {
        <section class="card wide" aria-labelledby="oidc-title">
            <h2 id="oidc-title">"Apps using single sign-on"</h2>
            {if clients.is_empty() {
                view! { <p class="hint">"No OpenID Connect clients are loaded (--oidc-clients)."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <caption>"OpenID Connect clients"</caption>
                        <thead><tr>
                            <th scope="col">"App"</th><th scope="col">"Client id"</th><th scope="col">"Kind"</th>
                            <th scope="col">"Needs"</th><th scope="col">"Consent"</th><th scope="col">"Redirect URIs"</th>
                        </tr></thead>
                        <tbody>
                            {clients.into_iter().map(|c| view! { <tr>
                                <td>{c.name}</td>
                                <td><code>{c.id}</code></td>
                                <td>{if c.public { "public (PKCE)" } else { "confidential" }}</td>
                                <td>{c.policy}</td>
                                <td>{if c.consent { "asked" } else { "implicit" }}</td>
                                <td>{c.redirect_uris.join(", ")}</td>
                            </tr> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {if recent.is_empty() {
                view! { <p class="hint">"No sign-ins to apps yet."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <caption>"Latest sign-ins to apps"</caption>
                        <thead><tr>
                            <th scope="col">"When"</th><th scope="col">"App"</th><th scope="col">"Who"</th><th scope="col">"How"</th>
                        </tr></thead>
                        <tbody>
                            {recent.into_iter().map(|r| view! { <tr>
                                <td>{crate::api::display::format_utc(r.at)}</td>
                                <td>{r.client_id}</td>
                                <td>{r.email}</td>
                                <td>{r.amr}</td>
                            </tr> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
