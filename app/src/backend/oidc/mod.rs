//! Single sign-on: Twofold as an OpenID Connect provider (SPEC section 11).
//! Apps listed in `--oidc-clients` send people to `/oauth2/authorize`; they
//! sign in with Twofold's own pages and come back with a code, which the app
//! exchanges at `/oauth2/token` for an ID token (who, when, how), an access
//! token (for `userinfo`) and a rotating refresh token.

pub mod authorize;
pub mod claims;
pub mod clients;
pub mod keys;
pub mod pkce;
pub mod tokens;

pub use clients::{Client, Clients, ClientsError};

use serde::{Deserialize, Serialize};

use crate::api::AppError;
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::passwords::{self, Password};
use crate::backend::auth::rate_limit::{self, Scope};
use crate::backend::{AppState, ClientMeta, UserId, internal};

/// An OAuth error answer (RFC 6749 5.2): status, code, and a description for
/// the app's developer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
    /// Seconds to wait, for 429.
    pub retry_after_s: Option<u64>,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            retry_after_s: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    fn invalid_client() -> Self {
        Self::new(401, "invalid_client", "client authentication failed")
    }

    fn internal(_: AppError) -> Self {
        Self::new(
            500,
            "server_error",
            "the server could not answer; try again",
        )
    }
}

/// How the app says who it is: HTTP Basic (`client_secret_basic`), form
/// fields (`client_secret_post`), or only its id (`none`, public clients).
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// The client the request authenticates as. Secrets are argon2id hashes
/// (compared in constant time, on the hashing threads); failures count per
/// client and per address, so a secret cannot be guessed.
pub async fn authenticate<'a>(
    state: &'a AppState,
    creds: ClientCredentials,
    meta: &ClientMeta,
) -> Result<&'a Client, OAuthError> {
    let (id, secret) = match (creds.basic, creds.client_id, creds.client_secret) {
        (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ));
        }
        (Some((id, secret)), form_id, None) => {
            if form_id.is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            (id, Some(secret))
        }
        (None, Some(id), secret) => (id, secret),
        (None, None, _) => return Err(OAuthError::invalid_client()),
    };
    let now = state.clock.now();
    let known = state.settings.oidc_clients.get(&id);
    if let Some(client) = known
        && client.is_public()
    {
        // A public client proves nothing here; PKCE protects its codes.
        if secret.is_some_and(|s| !s.is_empty()) {
            return Err(OAuthError::invalid_request("a public client has no secret"));
        }
        return Ok(client);
    }
    // Failures count per address only: a budget per client would let anyone
    // lock an app out with wrong guesses, and its secret (256 random bits
    // from `oidc new-secret`) cannot be guessed anyway.
    let scopes: Vec<Scope> = meta
        .ip
        .as_deref()
        .map(|ip| Scope::Ip(rate_limit::address_bucket(ip)))
        .into_iter()
        .collect();
    let attempt =
        match rate_limit::reserve(&state.writer, &state.settings.limits, &scopes, now).await {
            Ok(attempt) => attempt,
            Err(AppError::TooManyAttempts { retry_after_s }) => {
                let mut e = OAuthError::new(
                    429,
                    "invalid_client",
                    "too many failed client authentications; wait and retry",
                );
                e.retry_after_s = Some(retry_after_s);
                return Err(e);
            }
            Err(e) => return Err(OAuthError::internal(e)),
        };
    let Some((client, hash)) = known.and_then(|c| c.secret_hash.as_ref().map(|h| (c, h))) else {
        let _ = attempt.failed();
        // The id is the caller's to choose: kept short in the trail.
        let shown: String = id.chars().take(64).collect();
        refused(state, None, &shown, "unknown client", meta).await;
        return Err(OAuthError::invalid_client());
    };
    let ok = match secret {
        Some(secret) if !secret.is_empty() => {
            passwords::verify(&state.hash_pool, Password::new(secret), hash.clone())
                .await
                .map_err(OAuthError::internal)?
        }
        _ => false,
    };
    if ok {
        attempt
            .release(&state.writer)
            .await
            .map_err(OAuthError::internal)?;
        Ok(client)
    } else {
        let _ = attempt.failed();
        refused(state, None, &client.id, "wrong client secret", meta).await;
        Err(OAuthError::invalid_client())
    }
}

/// An audited refusal.
async fn refused(
    state: &AppState,
    user: Option<UserId>,
    client: &str,
    why: &str,
    meta: &ClientMeta,
) {
    audit::record(
        &state.pool,
        user,
        EventKind::AppRefused,
        state.clock.now(),
        meta,
        &format!("{client}: {why}"),
    )
    .await;
}

/// The token request's form fields (RFC 6749 4.1.3, 6).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// A successful token answer.
#[derive(Debug, Clone, Serialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub id_token: String,
    pub scope: String,
}

/// `POST /oauth2/token`: a code or a refresh token for tokens.
pub async fn token(
    state: &AppState,
    basic: Option<(String, String)>,
    req: TokenRequest,
    meta: &ClientMeta,
) -> Result<TokenAnswer, OAuthError> {
    let creds = ClientCredentials {
        basic,
        client_id: req.client_id.clone(),
        client_secret: req.client_secret.clone(),
    };
    let client = authenticate(state, creds, meta).await?;
    let now = state.clock.now();
    // Everything that could fail is ready before the code or refresh token
    // is spent: a failure after it would make the app retry, and a retry
    // looks like reuse (which revokes the sign-in).
    let key = keys::current(&state.writer, &state.settings.key, now)
        .await
        .map_err(OAuthError::internal)?;
    let outcome = match req.grant_type.as_deref() {
        Some("authorization_code") => {
            let (Some(code), Some(redirect_uri)) =
                (req.code.as_deref(), req.redirect_uri.as_deref())
            else {
                return Err(OAuthError::invalid_request(
                    "code and redirect_uri are required",
                ));
            };
            if client.is_public() && req.code_verifier.is_none() {
                return Err(OAuthError::invalid_request(
                    "a public client must send code_verifier",
                ));
            }
            tokens::redeem_code(
                &state.writer,
                &client.id,
                code,
                redirect_uri,
                req.code_verifier.as_deref(),
                now,
            )
            .await
            .map_err(OAuthError::internal)?
        }
        Some("refresh_token") => {
            let Some(refresh) = req.refresh_token.as_deref() else {
                return Err(OAuthError::invalid_request("refresh_token is required"));
            };
            tokens::refresh(&state.writer, &client.id, refresh, now)
                .await
                .map_err(OAuthError::internal)?
        }
        Some(_) => {
            return Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                "use authorization_code or refresh_token",
            ));
        }
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    };
    let issued = match outcome {
        Ok(issued) => issued,
        Err(refusal) => {
            refused(
                state,
                refusal.user(),
                &client.id,
                &refusal.to_string(),
                meta,
            )
            .await;
            return Err(OAuthError::new(400, "invalid_grant", refusal.to_string()));
        }
    };
    let grant = &issued.grant;
    let Some(person) = claims::person(&state.pool, grant.user)
        .await
        .map_err(OAuthError::internal)?
    else {
        return Err(OAuthError::new(400, "invalid_grant", "the account is gone"));
    };
    let id_token = key
        .sign(&claims::id_token(
            &state.settings.public_url,
            &person,
            grant,
            now,
        ))
        .map_err(OAuthError::internal)?;
    let how = if req.grant_type.as_deref() == Some("refresh_token") {
        "refreshed"
    } else {
        "code exchanged"
    };
    audit::record(
        &state.pool,
        Some(grant.user),
        EventKind::AppTokensIssued,
        now,
        meta,
        &format!("{}: {how}", client.name),
    )
    .await;
    Ok(TokenAnswer {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: tokens::ACCESS_TTL_S,
        refresh_token: issued.refresh_token,
        id_token,
        scope: grant.scopes.join(" "),
    })
}

/// `GET|POST /oauth2/userinfo` with `Authorization: Bearer <access token>`.
pub async fn userinfo(
    state: &AppState,
    access_token: &str,
) -> Result<Option<claims::ScopedClaims>, AppError> {
    let now = state.clock.now();
    let Some(grant) = tokens::grant_of_access_token(&state.pool, access_token, now).await? else {
        return Ok(None);
    };
    Ok(claims::person(&state.pool, grant.user)
        .await?
        .map(|person| claims::scoped(&person, &grant)))
}

/// `POST /oauth2/revoke` (RFC 7009): the client must authenticate; the
/// answer is the same whether the token was known or not.
pub async fn revoke(
    state: &AppState,
    creds: ClientCredentials,
    token: Option<&str>,
    meta: &ClientMeta,
) -> Result<(), OAuthError> {
    let client = authenticate(state, creds, meta).await?;
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(OAuthError::invalid_request("token is required"));
    };
    let now = state.clock.now();
    if let Some(user) = tokens::revoke(&state.writer, &client.id, token, now)
        .await
        .map_err(OAuthError::internal)?
    {
        audit::record(
            &state.pool,
            Some(user),
            EventKind::AppRevoked,
            now,
            meta,
            &client.name,
        )
        .await;
    }
    Ok(())
}

/// The claims of an ID token Twofold signed (any age: a logout's
/// `id_token_hint` may have expired), or `None`.
#[derive(Debug, Clone, Deserialize)]
pub struct HintClaims {
    pub sub: String,
    pub aud: String,
}

pub async fn check_id_token_hint(
    state: &AppState,
    hint: &str,
) -> Result<Option<HintClaims>, AppError> {
    let Ok(header) = jsonwebtoken::decode_header(hint) else {
        return Ok(None);
    };
    let Some(kid) = header.kid else {
        return Ok(None);
    };
    let Some(key) = keys::decoding_key(&state.pool, &kid, state.clock.now()).await? else {
        return Ok(None);
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[state.settings.public_url.as_str()]);
    Ok(jsonwebtoken::decode::<HintClaims>(hint, &key, &validation)
        .ok()
        .map(|d| d.claims)
        .filter(|c| state.settings.oidc_clients.get(&c.aud).is_some()))
}

/// The account behind a subject.
pub async fn user_of_subject(state: &AppState, subject: &str) -> Result<Option<UserId>, AppError> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT user_id FROM oidc_subjects WHERE subject = $1")
            .bind(subject)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| internal("looking up a subject", e))?;
    Ok(id.map(UserId))
}

/// Records that `user` allowed `client` these scopes (added to any
/// allowed before).
pub async fn consent(
    state: &AppState,
    user: UserId,
    client: &Client,
    scopes: &[String],
    meta: &ClientMeta,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let before: Option<String> = sqlx::query_scalar(
        "SELECT scopes FROM oidc_consents WHERE user_id = $1 AND client_id = $2",
    )
    .bind(user.0)
    .bind(&client.id)
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| internal("reading a consent", e))?;
    let mut all: Vec<String> = before
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    for s in scopes {
        if !all.contains(s) {
            all.push(s.clone());
        }
    }
    sqlx::query(
        "INSERT INTO oidc_consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
    )
    .bind(user.0)
    .bind(&client.id)
    .bind(all.join(" "))
    .bind(now)
    .execute(&state.pool)
    .await
    .map_err(|e| internal("recording a consent", e))?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::AppConsented,
        now,
        meta,
        &client.name,
    )
    .await;
    Ok(())
}

/// "Apps you signed in to": every app with a consent or a sign-in that was
/// not revoked.
pub async fn apps_of(state: &AppState, user: UserId) -> Result<Vec<crate::api::AppInfo>, AppError> {
    let now = state.clock.now();
    let rows: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT client_id, MAX(last_at), MAX(live) FROM (
           SELECT client_id, MAX(created_at) AS last_at,
                  MAX(CASE WHEN revoked_at IS NULL AND EXISTS (
                        SELECT 1 FROM oidc_tokens t WHERE t.grant_id = g.id AND t.expires_at > $2)
                      THEN 1 ELSE 0 END) AS live
           FROM oidc_grants g WHERE user_id = $1 AND revoked_at IS NULL GROUP BY client_id
           UNION ALL
           SELECT client_id, NULL, 0 FROM oidc_consents WHERE user_id = $1
         ) apps GROUP BY client_id ORDER BY MAX(last_at) DESC",
    )
    .bind(user.0)
    .bind(now)
    .fetch_all(&state.pool)
    .await
    .map_err(|e| internal("listing apps", e))?;
    let consents: Vec<(String, String)> =
        sqlx::query_as("SELECT client_id, scopes FROM oidc_consents WHERE user_id = $1")
            .bind(user.0)
            .fetch_all(&state.pool)
            .await
            .map_err(|e| internal("listing consents", e))?;
    Ok(rows
        .into_iter()
        .filter_map(|(client_id, last_at, live)| {
            let client = state.settings.oidc_clients.get(&client_id)?;
            let scopes = consents
                .iter()
                .find(|(c, _)| *c == client_id)
                .map(|(_, s)| s.split_whitespace().map(String::from).collect())
                .unwrap_or_default();
            Some(crate::api::AppInfo {
                client_id,
                name: client.name.clone(),
                last_sign_in_at: last_at,
                signed_in: live == Some(1),
                scopes,
            })
        })
        .collect())
}

/// Forgets an app: its consent and every token it holds.
pub async fn forget_app(
    state: &AppState,
    user: UserId,
    client_id: &str,
    meta: &ClientMeta,
) -> Result<u64, AppError> {
    let now = state.clock.now();
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    let ended = tokens::revoke_all(tx.conn()?, user, Some(client_id), now).await?;
    let forgot = sqlx::query("DELETE FROM oidc_consents WHERE user_id = $1 AND client_id = $2")
        .bind(user.0)
        .bind(client_id)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("forgetting a consent", e))?
        .rows_affected();
    tx.commit().await?;
    if ended + forgot == 0 {
        return Err(AppError::NotFound);
    }
    let name = state
        .settings
        .oidc_clients
        .get(client_id)
        .map_or(client_id, |c| c.name.as_str());
    audit::record(
        &state.pool,
        Some(user),
        EventKind::AppRevoked,
        now,
        meta,
        name,
    )
    .await;
    Ok(ended)
}

/// The admin page's view: the clients as loaded, and the latest sign-ins.
pub async fn overview(state: &AppState) -> Result<crate::api::OidcOverview, AppError> {
    let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT g.client_id, u.email, g.created_at, g.amr FROM oidc_grants g
         JOIN users u ON u.id = g.user_id ORDER BY g.created_at DESC, g.id DESC LIMIT 50",
    )
    .fetch_all(&state.pool)
    .await
    .map_err(|e| internal("listing app sign-ins", e))?;
    Ok(crate::api::OidcOverview {
        clients: state
            .settings
            .oidc_clients
            .all()
            .iter()
            .map(Client::info)
            .collect(),
        recent: rows
            .into_iter()
            .map(|(client_id, email, at, amr)| crate::api::OidcSignInInfo {
                client_id,
                email,
                at,
                amr,
            })
            .collect(),
    })
}

/// What the consent page shows for an authorization request (its query
/// string), checked as the authorize endpoint checks it.
pub async fn consent_info(
    state: &AppState,
    headers: &http::HeaderMap,
    query: &str,
) -> Result<crate::api::ConsentInfo, AppError> {
    let live = crate::backend::auth::access::caller(state, headers).await?;
    let checked = checked_request(state, query)?;
    let me = crate::backend::auth::accounts::me(state, live.user).await?;
    Ok(crate::api::ConsentInfo {
        client_name: checked.client.name.clone(),
        email: me.email,
        scopes: checked
            .scopes
            .into_iter()
            .filter(|s| s != "openid")
            .collect(),
    })
}

/// An authorization request from its query string, checked.
pub fn checked_request<'a>(
    state: &'a AppState,
    query: &str,
) -> Result<authorize::Checked<'a>, AppError> {
    let req: authorize::AuthRequest = parse_query(query.trim_start_matches('?'))
        .ok_or_else(|| AppError::validation("query", "The app's request is malformed."))?;
    authorize::check(state, &req).map_err(|_| {
        AppError::validation(
            "query",
            "The app's request is not valid; go back to the app and try again.",
        )
    })
}

/// An authorization request's query string, read; `None` when malformed.
pub fn parse_query(query: &str) -> Option<authorize::AuthRequest> {
    let mut map = serde_json::Map::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = if name == "auth_after" {
            serde_json::Value::from(value.parse::<i64>().ok()?)
        } else {
            serde_json::Value::from(value.into_owned())
        };
        // A parameter given twice is an error (RFC 6749 3.1).
        if map.insert(name.into_owned(), value).is_some() {
            return None;
        }
    }
    serde_json::from_value(serde_json::Value::Object(map)).ok()
}

/// The consent page's answer: allowed (remembered), back to the
/// authorization request; refused, back to the app with `access_denied`.
/// Answers where the browser goes next.
pub async fn answer_consent(
    state: &AppState,
    user: UserId,
    query: &str,
    allow: bool,
    meta: &ClientMeta,
) -> Result<String, AppError> {
    let checked = checked_request(state, query)?;
    let req = &checked.request;
    if !allow {
        return Ok(authorize::to_client(
            state,
            &checked.redirect_uri,
            req,
            &[
                ("error", "access_denied"),
                ("error_description", "the person did not allow it"),
            ],
        ));
    }
    consent(state, user, checked.client, &checked.scopes, meta).await?;
    let mut next = req.clone();
    next.prompt = req.without_prompt(&["consent"]);
    Ok(next.url(&state.settings.public_url))
}

/// "Apps you signed in to" for the request's session.
pub async fn apps_for_request(
    state: &AppState,
    headers: &http::HeaderMap,
) -> Result<Vec<crate::api::AppInfo>, AppError> {
    let live = crate::backend::auth::access::caller(state, headers).await?;
    apps_of(state, live.user).await
}
