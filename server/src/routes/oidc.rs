//! OpenID Connect provider endpoints (SPEC section 11): discovery, JWKS,
//! authorize, token, userinfo, revoke, logout; and the JSON the consent
//! page, the account page and the admin page use.

use app::api::{
    AppError, AppInfo, AppRevokeRequest, ConsentAnswer, ConsentInfo, ConsentRequest, OidcOverview,
    paths,
};
use app::backend::auth::{access, accounts, cookies};
use app::backend::oidc::{self, authorize, keys};
use app::backend::{AppState, internal};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::auth::with_cookie;
use super::input::{ClientInfo, Input, Mode, form_error_redirect};
use super::plain_pages::{continue_page, escape_html, small_page};

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(State(state): State<AppState>) -> Response {
    let base = &state.settings.public_url;
    let url = |path: &str| format!("{base}{path}");
    Json(serde_json::json!({
        "issuer": base,
        "authorization_endpoint": url(paths::OAUTH2_AUTHORIZE),
        "token_endpoint": url(paths::OAUTH2_TOKEN),
        "userinfo_endpoint": url(paths::OAUTH2_USERINFO),
        "jwks_uri": url(paths::OAUTH2_JWKS),
        "revocation_endpoint": url(paths::OAUTH2_REVOKE),
        "end_session_endpoint": url(paths::OAUTH2_LOGOUT),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": oidc::clients::SCOPES,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr",
            "email", "email_verified", "name", "preferred_username", "groups"],
        "acr_values_supported": ["one_factor", "two_factor"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    }))
    .into_response()
}

/// `GET /oauth2/jwks`: the public keys that sign ID tokens.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, AppError> {
    let keys = keys::published(&state.pool, state.clock.now()).await?;
    Ok(Json(serde_json::json!({ "keys": keys })).into_response())
}

/// A page for a request that cannot be sent back to any app.
fn refusal_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Twofold cannot sign you in to this app.\n\n{message}\n"),
    )
        .into_response()
}

/// `GET|POST /oauth2/authorize` (a POST carries the same parameters as a
/// form, OpenID Connect Core 3.1.2.1).
pub async fn authorize(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    body: axum::body::Bytes,
) -> Response {
    let raw = if body.is_empty() {
        query.unwrap_or_default()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let Some(req) = oidc::parse_query(&raw) else {
        return refusal_page(
            "The app's request is malformed (a parameter is repeated or unreadable).",
        );
    };
    match authorize::authorize(&state, &headers, &req, &meta).await {
        Ok(authorize::Next::Refuse(message)) => refusal_page(&message),
        Ok(authorize::Next::Redirect(to)) => found(&to),
        Err(e) => e.into_response(),
    }
}

/// A 302 to `to` (Redirect::to answers 303, which is for POSTs).
fn found(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => AppError::Internal.into_response(),
    }
}

/// `Authorization: Basic` credentials, each part form-decoded (RFC 6749
/// 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| -> Option<String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={s}")).ok()?;
        pairs.into_iter().next().map(|(_, v)| v)
    };
    Some((decode(id)?, decode(secret)?))
}

fn oauth_error(e: oidc::OAuthError, basic: bool) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (
        status,
        Json(serde_json::json!({ "error": e.error, "error_description": e.description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED && basic {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"twofold\""),
        );
    }
    if let Some(s) = e.retry_after_s
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn form_of<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, oidc::OAuthError> {
    let is_form = super::input::is_form(headers);
    if !is_form {
        return Err(oidc::OAuthError::invalid_request(
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|e| oidc::OAuthError::invalid_request(format!("malformed form: {e}")))
}

/// The Basic credentials and the form of a token or revocation request.
fn client_request<T: serde::de::DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: &[u8],
) -> (Option<(String, String)>, Result<T, oidc::OAuthError>) {
    (basic_credentials(headers), form_of(headers, body))
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    body: axum::body::Bytes,
) -> Response {
    let (basic, req) = client_request::<oidc::TokenRequest>(&headers, &body);
    let has_basic = basic.is_some();
    let req = match req {
        Ok(req) => req,
        Err(e) => return oauth_error(e, has_basic),
    };
    match oidc::token(&state, basic, req, &meta).await {
        Ok(answer) => {
            let mut resp = Json(answer).into_response();
            resp.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => oauth_error(e, has_basic),
    }
}

/// `GET|POST /oauth2/userinfo` with a bearer access token.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let claims = match token {
        Some(token) => match oidc::userinfo(&state, token).await {
            Ok(claims) => claims,
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    match claims {
        Some(claims) => Json(claims).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer error=\"invalid_token\", error_description=\"the access token is missing, expired or revoked\"",
            )],
            Json(serde_json::json!({ "error": "invalid_token" })),
        )
            .into_response(),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth2/revoke` (RFC 7009).
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    body: axum::body::Bytes,
) -> Response {
    let (basic, form) = client_request::<RevokeForm>(&headers, &body);
    let has_basic = basic.is_some();
    let form = match form {
        Ok(form) => form,
        Err(e) => return oauth_error(e, has_basic),
    };
    let creds = oidc::ClientCredentials {
        basic,
        client_id: form.client_id,
        client_secret: form.client_secret,
    };
    match oidc::revoke(&state, creds, form.token.as_deref(), &meta).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(e, has_basic),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct LogoutParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    /// Set by Twofold's own confirmation page.
    confirm: Option<String>,
}

/// `GET|POST /oauth2/logout` (RP-initiated logout 1.0). The app names
/// itself with an ID token Twofold gave it (`id_token_hint`), or with its
/// `client_id` and one of its listed `post_logout_redirect_uris` (Grafana and
/// Gitea may send no hint). The Twofold session ends (with a hint: only when
/// it is the person the token names) and the browser goes to that address.
pub async fn logout(
    State(state): State<AppState>,
    method: http::Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    body: axum::body::Bytes,
) -> Response {
    let raw = if body.is_empty() {
        query.unwrap_or_default().into_bytes()
    } else {
        body.to_vec()
    };
    let Ok(params) = serde_urlencoded::from_bytes::<LogoutParams>(&raw) else {
        return refusal_page("The app's sign-out request is malformed.");
    };
    let hinted = match params.id_token_hint.as_deref() {
        Some(hint) => match oidc::check_id_token_hint(&state, hint).await {
            Ok(Some(claims)) => Some(claims),
            Ok(None) => {
                return refusal_page("The app's id_token_hint is not a token Twofold issued.");
            }
            Err(e) => return e.into_response(),
        },
        None => None,
    };
    let client_id = match (&hinted, params.client_id.as_deref()) {
        (Some(claims), Some(id)) if claims.aud != id => {
            return refusal_page("client_id differs from the id_token_hint's audience.");
        }
        (Some(claims), _) => claims.aud.clone(),
        (None, Some(id)) => id.to_string(),
        (None, None) => {
            return refusal_page(
                "The app did not say which app it is (id_token_hint or client_id). Sign out on Twofold's account page instead.",
            );
        }
    };
    let Some(client) = state.settings.oidc_clients.get(&client_id) else {
        return refusal_page("The app is not known to Twofold.");
    };
    // Without a hint, only a listed address proves the request is the app's.
    if hinted.is_none()
        && !params
            .post_logout_redirect_uri
            .as_deref()
            .is_some_and(|u| client.allows_logout_redirect(u))
    {
        return refusal_page(&format!(
            "post_logout_redirect_uri is missing or not one listed for {}.",
            client.name
        ));
    }
    let to = match params.post_logout_redirect_uri.as_deref() {
        Some(uri) if client.allows_logout_redirect(uri) => match url::Url::parse(uri) {
            Ok(mut url) => {
                if let Some(s) = &params.state {
                    url.query_pairs_mut().append_pair("state", s);
                }
                url.to_string()
            }
            Err(_) => "/login".to_string(),
        },
        Some(_) => {
            return refusal_page(&format!(
                "post_logout_redirect_uri is not one listed for {}.",
                client.name
            ));
        }
        None => "/login".to_string(),
    };
    let session_user = accounts::current_user(&state, &headers).await.ok();
    let named_person = match &hinted {
        Some(claims) => match oidc::user_of_subject(&state, &claims.sub).await {
            Ok(named) => named.is_some() && named == session_user,
            Err(e) => return e.into_response(),
        },
        None => false,
    };
    let Some(_) = session_user else {
        // Nobody to sign out: straight on.
        return found(&to);
    };
    // RP-Initiated Logout 2: without an ID token naming this person, any
    // site could send the browser here, so the person is asked first, and
    // only Twofold's own page (a same-origin POST) can confirm.
    let confirmed = params.confirm.as_deref() == Some("yes")
        && method == http::Method::POST
        && !crate::security::is_cross_origin(&headers);
    if !named_person && !confirmed {
        return confirm_logout_page(&client.name, &raw);
    }
    if let Err(e) = accounts::logout(&state, &headers, &meta).await {
        return e.into_response();
    }
    // After a form post the CSP (`form-action 'self'`) would stop a redirect
    // to the app: a page sends the browser on instead.
    let resp = if confirmed {
        continue_page(
            "You are signed out",
            &to,
            &format!("Back to {}", client.name),
        )
    } else {
        found(&to)
    };
    with_cookie(
        resp,
        cookies::session_clear_cookie(
            cookies::is_https(&headers),
            state.settings.cookie_domain.as_deref(),
        ),
    )
}

/// "Sign out of Twofold?": the same request again, confirmed.
fn confirm_logout_page(app: &str, raw: &[u8]) -> Response {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(raw).unwrap_or_default();
    let hidden: String = fields
        .iter()
        .filter(|(name, _)| name != "confirm")
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape_html(name),
                escape_html(value)
            )
        })
        .collect();
    small_page(
        "Sign out of Twofold?",
        &format!(
            "<p>{} asks to sign you out. Signing out of Twofold signs you out of every app that uses it.</p>\
             <form method=\"post\" action=\"{}\">{hidden}\
             <button type=\"submit\" name=\"confirm\" value=\"yes\" class=\"primary\">Sign out</button></form>\
             <p><a href=\"/account\">Stay signed in</a></p>",
            escape_html(app),
            paths::OAUTH2_LOGOUT
        ),
    )
}

/// `GET /api/oauth2/consent?<authorization request>`: what the consent page
/// shows.
pub async fn consent_info(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<ConsentInfo>, AppError> {
    let query = query.unwrap_or_default();
    Ok(Json(oidc::consent_info(&state, &headers, &query).await?))
}

/// `POST /api/oauth2/consent {query, allow}`: allowed, back to the
/// authorization request (which now finds the consent); refused, back to the
/// app with `access_denied`. A form post (no JavaScript) is redirected there.
pub async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<ConsentRequest>,
) -> Response {
    let result = async {
        let live = access::caller(&state, &headers).await?;
        oidc::answer_consent(&state, live.user, &value.query, value.allow, &meta).await
    }
    .await;
    match (result, mode) {
        (Ok(redirect), Mode::Json) => Json(ConsentAnswer { redirect }).into_response(),
        (Ok(redirect), Mode::Form) => super::plain_pages::after_form(&redirect),
        (Err(e), Mode::Json) => e.into_response(),
        (Err(e), Mode::Form) => {
            // Back to the page with the same request, if it can be a header.
            let query = value.query.trim_start_matches('?');
            let page = if query.bytes().all(|b| b.is_ascii_graphic()) {
                format!("/consent?{query}")
            } else {
                "/consent".to_string()
            };
            form_error_redirect(&page, &e)
        }
    }
}

/// `GET /api/account/apps`: "Apps you signed in to".
pub async fn apps(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<AppInfo>>, AppError> {
    Ok(Json(oidc::apps_for_request(&state, &headers).await?))
}

/// `POST /api/account/apps/revoke {client_id}`: the app's tokens end and
/// its consent is forgotten.
pub async fn revoke_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value: req, .. }: Input<AppRevokeRequest>,
) -> Result<Json<app::api::Revoked>, AppError> {
    let live = access::caller(&state, &headers).await?;
    let ended = oidc::forget_app(&state, live.user, &req.client_id, &meta).await?;
    Ok(Json(app::api::Revoked {
        revoked: u32::try_from(ended).unwrap_or(u32::MAX),
    }))
}

/// `GET /api/admin/oidc`.
pub async fn admin_overview(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<OidcOverview>, AppError> {
    access::admin(&state, &headers).await?;
    Ok(Json(oidc::overview(&state).await.map_err(|e| {
        internal("the OpenID Connect overview", format!("{e:?}"))
    })?))
}
