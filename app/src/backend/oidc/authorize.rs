//! `GET /oauth2/authorize`: checks an app's request, then either sends the
//! browser back to the app (a code, or an error) or through Twofold's own
//! pages first (sign-in, second factor, enrolment, consent), which return
//! here afterwards with the same request.

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::api::{AppError, MfaState};
use crate::backend::auth::{cookies, sessions};
use crate::backend::factors::mfa;
use crate::backend::infra::clock::UnixTime;
use crate::backend::{AppState, ClientMeta, UserId, audit, internal};

use super::clients::{Client, ClientPolicy, Consent};
use super::{pkce, tokens};

/// The authorization request's parameters (OpenID Connect Core 3.1.2.1),
/// plus `auth_after`, Twofold's own mark that a fresh sign-in was asked
/// for (`prompt=login`, `max_age`) at that time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_after: Option<UnixTime>,
}

impl AuthRequest {
    fn prompts(&self, value: &str) -> bool {
        self.prompt
            .as_deref()
            .is_some_and(|p| p.split_whitespace().any(|v| v == value))
    }

    /// The query string of this request.
    pub fn query(&self) -> String {
        serde_urlencoded_string(self)
    }

    /// This request at Twofold's authorize endpoint.
    pub fn url(&self, public_url: &str) -> String {
        format!(
            "{public_url}{}?{}",
            crate::api::paths::OAUTH2_AUTHORIZE,
            self.query()
        )
    }

    /// The same request once a fresh sign-in was asked for now: `prompt`
    /// values that would ask again are dropped, `auth_after` remembers it.
    fn after_fresh_sign_in(&self, now: UnixTime) -> Self {
        let mut next = self.clone();
        next.prompt = self.without_prompt(&["login"]);
        next.max_age = None;
        next.auth_after = Some(self.auth_after.unwrap_or(now).max(now));
        next
    }

    pub fn without_prompt(&self, drop: &[&str]) -> Option<String> {
        let kept: Vec<&str> = self
            .prompt
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .filter(|v| !drop.contains(v))
            .collect();
        (!kept.is_empty()).then(|| kept.join(" "))
    }
}

fn serde_urlencoded_string(req: &AuthRequest) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    let json = serde_json::to_value(req).unwrap_or_default();
    if let Some(map) = json.as_object() {
        for (name, value) in map {
            match value {
                serde_json::Value::String(s) => {
                    out.append_pair(name, s);
                }
                serde_json::Value::Number(n) => {
                    out.append_pair(name, &n.to_string());
                }
                _ => {}
            }
        }
    }
    out.finish()
}

/// Where the browser goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// No client or redirect URI to trust: an error page, never a redirect
    /// (RFC 6749 4.1.2.1).
    Refuse(String),
    /// To the app (a code or an error) or to one of Twofold's pages.
    Redirect(String),
}

/// A request that passed the checks that need no session.
#[derive(Debug, Clone)]
pub struct Checked<'a> {
    pub client: &'a Client,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub request: AuthRequest,
}

/// The app's redirect URI with `params`, `state` and `iss` (RFC 9207).
pub fn to_client(
    state: &AppState,
    redirect_uri: &str,
    req: &AuthRequest,
    params: &[(&str, &str)],
) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return redirect_uri.to_string(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (name, value) in params {
            q.append_pair(name, value);
        }
        if let Some(s) = &req.state {
            q.append_pair("state", s);
        }
        q.append_pair("iss", &state.settings.public_url);
    }
    url.to_string()
}

fn error_to_client(
    state: &AppState,
    redirect_uri: &str,
    req: &AuthRequest,
    error: &str,
    description: &str,
) -> Next {
    Next::Redirect(to_client(
        state,
        redirect_uri,
        req,
        &[("error", error), ("error_description", description)],
    ))
}

/// The checks that need no session: the client, its redirect URI, the
/// response type, scopes and PKCE.
pub fn check<'a>(state: &'a AppState, req: &AuthRequest) -> Result<Checked<'a>, Next> {
    let clients = &state.settings.oidc_clients;
    let Some(client) = req.client_id.as_deref().and_then(|id| clients.get(id)) else {
        return Err(Next::Refuse(
            "This app is not known to Twofold (unknown client_id). Its operator must list it in the OpenID Connect clients file.".into(),
        ));
    };
    let Some(redirect_uri) = req
        .redirect_uri
        .clone()
        .filter(|u| client.allows_redirect(u))
    else {
        return Err(Next::Refuse(format!(
            "The redirect_uri is not one listed for {}: Twofold sends people back only to exactly the addresses its operator listed.",
            client.name
        )));
    };
    let refuse = |error: &str, description: &str| {
        Err(error_to_client(
            state,
            &redirect_uri,
            req,
            error,
            description,
        ))
    };
    if req.request.is_some() || req.request_uri.is_some() {
        return refuse("request_not_supported", "request objects are not supported");
    }
    if req.response_type.as_deref() != Some("code") {
        return refuse(
            "unsupported_response_type",
            "only the authorization code flow (response_type=code) is supported",
        );
    }
    if req.response_mode.as_deref().is_some_and(|m| m != "query") {
        return refuse("invalid_request", "only response_mode=query is supported");
    }
    let scope = req.scope.as_deref().unwrap_or_default();
    if !scope.split_whitespace().any(|s| s == "openid") {
        return refuse("invalid_scope", "the scope must include openid");
    }
    match (
        req.code_challenge.as_deref(),
        req.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256")) if pkce::valid_challenge(c) => {}
        (Some(_), Some("S256")) => {
            return refuse("invalid_request", "code_challenge is not a S256 challenge");
        }
        (Some(_) | None, Some(_)) | (Some(_), None) => {
            return refuse(
                "invalid_request",
                "only code_challenge_method=S256 is supported",
            );
        }
        (None, None) if client.is_public() => {
            return refuse(
                "invalid_request",
                "a public client must use PKCE (code_challenge with S256)",
            );
        }
        (None, None) => {}
    }
    if req.prompts("none")
        && req
            .prompt
            .as_deref()
            .is_some_and(|p| p.split_whitespace().count() > 1)
    {
        return refuse(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        );
    }
    Ok(Checked {
        client,
        redirect_uri: redirect_uri.clone(),
        scopes: client.granted_scopes(scope),
        request: req.clone(),
    })
}

/// The session row's proof: when the password (or passkey) was last
/// proven, and how.
async fn proof_of(state: &AppState, session: i64) -> Result<(UnixTime, String), AppError> {
    let (password_at, created_at, factor_at, amr): (Option<i64>, i64, Option<i64>, Option<String>) =
        sqlx::query_as("SELECT password_at, created_at, factor_at, amr FROM sessions WHERE id = $1")
            .bind(session)
            .fetch_one(&state.pool)
            .await
            .map_err(|e| internal("reading a session's proof", e))?;
    let amr = amr.unwrap_or_else(|| {
        if factor_at.is_some() {
            "pwd mfa"
        } else {
            "pwd"
        }
        .to_string()
    });
    Ok((password_at.unwrap_or(created_at), amr))
}

/// Whether the person already allowed `client` every scope in `scopes`.
pub async fn consented(
    state: &AppState,
    user: UserId,
    client: &str,
    scopes: &[String],
) -> Result<bool, AppError> {
    let given: Option<String> = sqlx::query_scalar(
        "SELECT scopes FROM oidc_consents WHERE user_id = $1 AND client_id = $2",
    )
    .bind(user.0)
    .bind(client)
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| internal("reading a consent", e))?;
    let given: Vec<&str> = given
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    Ok(scopes.iter().all(|s| given.contains(&s.as_str())))
}

/// The whole decision for one authorization request.
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    req: &AuthRequest,
    meta: &ClientMeta,
) -> Result<Next, AppError> {
    let checked = match check(state, req) {
        Ok(checked) => checked,
        Err(next) => {
            let why = match &next {
                Next::Refuse(why) => why.clone(),
                Next::Redirect(to) => url::Url::parse(to)
                    .ok()
                    .and_then(|u| {
                        u.query_pairs()
                            .find(|(k, _)| k == "error_description")
                            .map(|(_, v)| v.into_owned())
                    })
                    .unwrap_or_default(),
            };
            // The id is the caller's to choose: kept short in the trail.
            let client: String = req
                .client_id
                .as_deref()
                .unwrap_or("(no client_id)")
                .chars()
                .take(64)
                .collect();
            let detail = format!("{client}: authorization refused: {why}");
            let now = state.clock.now();
            audit::record(
                &state.pool,
                None,
                audit::EventKind::AppRefused,
                now,
                meta,
                &detail,
            )
            .await;
            return Ok(next);
        }
    };
    let now = state.clock.now();
    let client = checked.client;
    if req.auth_after.is_some_and(|after| after > now) {
        // Only Twofold sets it, to the time it asked: never later than now.
        let redirect_uri = checked.redirect_uri.as_str();
        return Ok(error_to_client(
            state,
            redirect_uri,
            req,
            "invalid_request",
            "auth_after is in the future",
        ));
    }
    let redirect_uri = checked.redirect_uri.as_str();
    let silent = req.prompts("none");
    let public_url = &state.settings.public_url;
    let live = match cookies::session_token(headers, state.settings.cookie_domain.as_deref()) {
        Some(token) => sessions::find(state, &token, now).await?,
        None => None,
    };
    let page = |path: &str, r: &AuthRequest| {
        format!(
            "{path}?rd={}",
            crate::api::client::encode_query(&r.url(public_url))
        )
    };
    // A page is needed first: there, or with `prompt=none` the app is told
    // why instead.
    let interact = |to: String, error: &str, why: &str| {
        if silent {
            error_to_client(state, redirect_uri, req, error, why)
        } else {
            Next::Redirect(to)
        }
    };
    let Some(live) = live else {
        let fresh = if req.prompts("login") || req.max_age.is_some() {
            req.after_fresh_sign_in(now)
        } else {
            req.clone()
        };
        let to = page("/login", &fresh);
        return Ok(interact(to, "login_required", "nobody is signed in"));
    };
    // Past an MFA enrolment deadline an account can do nothing but enrol.
    if let crate::backend::policy::Standing::EnrolOnly { .. } =
        crate::backend::policy::standing_of(&state.pool, live.user, now).await?
    {
        let to = page("/account/two-factor", req);
        let why = "two-factor authentication must be set up first";
        return Ok(interact(to, "interaction_required", why));
    }
    let (auth_time, amr) = proof_of(state, live.id).await?;
    // A fresh proof asked for: `prompt=login`, a `max_age` passed, or the
    // mark of an earlier ask that this session has not answered yet.
    let max_age = req.max_age.as_deref().map(|m| m.trim().parse::<i64>());
    if let Some(Err(_)) = max_age {
        return Ok(error_to_client(
            state,
            redirect_uri,
            req,
            "invalid_request",
            "max_age must be a number of seconds",
        ));
    }
    let too_old = matches!(max_age, Some(Ok(max)) if now - auth_time > max.max(0));
    let unanswered = req.auth_after.is_some_and(|after| auth_time < after);
    if req.prompts("login") || too_old || unanswered {
        let to = page("/reauth", &req.after_fresh_sign_in(now));
        return Ok(interact(to, "login_required", "a fresh sign-in is needed"));
    }
    if client.policy == ClientPolicy::TwoFactor && live.factor_at.is_none() {
        // Signed in without a code (a trusted device, or MFA off): prove a
        // factor in this session, or set one up, then back here.
        let mfa_on = mfa::state_of(&state.pool, live.user, now).await? == MfaState::Enabled;
        let to = page(
            if mfa_on {
                "/reauth"
            } else {
                "/account/two-factor"
            },
            req,
        );
        return Ok(interact(
            to,
            "interaction_required",
            "this app needs a second factor",
        ));
    }
    let wants_consent = req.prompts("consent")
        || (client.consent == Consent::Explicit
            && !consented(state, live.user, &client.id, &checked.scopes).await?);
    if wants_consent {
        let to = format!("/consent?{}", req.query());
        let why = "the person has not allowed this app yet";
        return Ok(interact(to, "consent_required", why));
    }
    let acr = if live.factor_at.is_some() {
        "two_factor"
    } else {
        "one_factor"
    };
    let code = tokens::issue_code(
        &state.writer,
        &tokens::NewCode {
            client_id: &client.id,
            user: live.user,
            scopes: &checked.scopes,
            nonce: req.nonce.as_deref(),
            auth_time,
            amr: &amr,
            acr,
            redirect_uri,
            code_challenge: req.code_challenge.as_deref(),
        },
        now,
    )
    .await?;
    audit::record(
        &state.pool,
        Some(live.user),
        audit::EventKind::AppSignIn,
        now,
        meta,
        &client.name,
    )
    .await;
    Ok(Next::Redirect(to_client(
        state,
        redirect_uri,
        req,
        &[("code", &code)],
    )))
}
