//! Guarding other apps: a reverse proxy asks, for each request to an app
//! behind it, whether it may pass (forward-auth). The access rules say what
//! the request needs; the browser's Twofold session says what it has.
//! Nothing is cached: a session revoked a moment ago is refused at once.

pub mod rules;

pub use rules::{AccessRules, Policy, Resource, RulesError, Subject, Verdict};

use http::HeaderMap;

use crate::api::{AppError, MfaState, Role};
use crate::backend::auth::{cookies, sessions};
use crate::backend::factors::mfa;
use crate::backend::{AppState, internal};

/// The request a proxy asks about.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The original URL, as the browser asked for it.
    pub url: url::Url,
    /// Its HTTP method, upper case.
    pub method: String,
}

impl Asked {
    /// From the parts a proxy forwards; `None` when they do not make an
    /// absolute http(s) URL.
    pub fn new(url: &str, method: &str) -> Option<Self> {
        let url = url::Url::parse(url).ok()?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return None;
        }
        Some(Asked {
            url,
            method: method.trim().to_ascii_uppercase(),
        })
    }

    fn https(&self) -> bool {
        self.url.scheme() == "https"
    }
}

/// Who the request is from, for the headers the app reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub email: String,
    pub role: Role,
}

/// The answer for the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Let it through; with the person's identity when signed in.
    Allow(Option<Identity>),
    /// Send the browser here first (the sign-in page, or the enrolment
    /// wizard for a `two_factor` rule and an account without MFA).
    Redirect(String),
    /// Refused by a rule.
    Deny,
}

/// The decision for one proxied request.
pub async fn check(
    state: &AppState,
    headers: &HeaderMap,
    asked: &Asked,
) -> Result<Answer, AppError> {
    let now = state.clock.now();
    let live = match cookies::session_token_over(headers, asked.https()) {
        Some(token) => {
            sessions::find(&state.pool, &token, now, state.settings.session_idle_s).await?
        }
        None => None,
    };
    let identity = match &live {
        Some(live) => {
            let (email, role): (String, String) =
                sqlx::query_as("SELECT email, role FROM users WHERE id = ?")
                    .bind(live.user.0)
                    .fetch_one(&state.pool)
                    .await
                    .map_err(|e| internal("reading who a session is", e))?;
            let role = Role::parse(&role).ok_or_else(|| internal("unknown role", &role))?;
            Some(Identity { email, role })
        }
        None => None,
    };
    let host = asked
        .url
        .host_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let resource = Resource {
        host: &host,
        path: asked.url.path(),
        method: &asked.method,
    };
    let subject = identity.as_ref().map(|i| Subject {
        email: &i.email,
        role: i.role,
    });
    let verdict = state
        .settings
        .access_rules
        .decide(&resource, subject.as_ref());
    let sign_in = || Answer::Redirect(sign_in_url(state, asked));
    Ok(match (verdict.policy, live) {
        (Policy::Deny, _) => Answer::Deny,
        (Policy::Bypass, _) => Answer::Allow(identity),
        (Policy::OneFactor, Some(_)) => Answer::Allow(identity),
        (Policy::TwoFactor, Some(live)) if live.factor_at.is_some() => Answer::Allow(identity),
        (Policy::TwoFactor, Some(live)) => {
            if mfa::state_of(&state.pool, live.user, now).await? == MfaState::Enabled {
                sign_in()
            } else {
                Answer::Redirect(format!(
                    "{}/account/two-factor?rd={}",
                    state.settings.public_url,
                    crate::api::client::encode_query(asked.url.as_str())
                ))
            }
        }
        (Policy::OneFactor | Policy::TwoFactor, None) => sign_in(),
    })
}

/// `PUBLIC_URL/login?rd=<the original URL>`.
pub fn sign_in_url(state: &AppState, asked: &Asked) -> String {
    format!(
        "{}/login?rd={}",
        state.settings.public_url,
        crate::api::client::encode_query(asked.url.as_str())
    )
}
