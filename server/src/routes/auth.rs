//! Register, sign in, sign out, who am I, health.

use app::api::{
    AppError, ChangePasswordRequest, Health, LoginOutcome, LoginRequest, ReauthRequest,
    ReauthStatus, RegisterRequest, Revoked, SetPasswordRequest, TokenRequest,
};
use app::backend::auth::sessions::NewSession;
use app::backend::auth::sign_in::Grant;
use app::backend::auth::signup::{self, Registered};
use app::backend::{
    AppState, auth::access, auth::accounts, auth::cookies, auth::links, auth::sign_in, authz,
    infra::db,
};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::input::{ClientInfo, Input, Mode, answer, form_error_redirect};

/// Where a form sign-in goes when a second factor is needed.
const SECOND_FACTOR_PAGE: &str = "/login/second-factor";

pub(super) fn with_cookie(mut resp: Response, cookie: String) -> Response {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(SET_COOKIE, v);
    }
    resp
}

fn session_cookie(state: &AppState, headers: &HeaderMap, session: &NewSession) -> String {
    let domain = state.settings.cookie_domain.as_deref();
    cookies::session_set_cookie(session, cookies::is_https(headers), domain)
}

pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<RegisterRequest>, AppError>,
) -> Response {
    let Input { value, mode } = match input {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let result = signup::register(&state, value, &meta).await;
    match (result, mode) {
        (Ok(Registered::SignedIn(user, session)), Mode::Json) => {
            let me = match accounts::me(&state, user).await {
                Ok(me) => me,
                Err(e) => return e.into_response(),
            };
            with_cookie(
                (StatusCode::CREATED, Json(me)).into_response(),
                session_cookie(&state, &headers, &session),
            )
        }
        (Ok(Registered::SignedIn(user, session)), Mode::Form) => with_cookie(
            Redirect::to(accounts::landing_page(&state, user).await).into_response(),
            session_cookie(&state, &headers, &session),
        ),
        (Ok(Registered::CheckEmail(started)), Mode::Json) => {
            (StatusCode::ACCEPTED, Json(started)).into_response()
        }
        (Ok(Registered::CheckEmail(_)), Mode::Form) => {
            Redirect::to("/signup?sent=1").into_response()
        }
        (Err(e), Mode::Json) => e.into_response(),
        (Err(e), Mode::Form) => form_error_redirect("/signup", &e),
    }
}

/// A new account and its first session, from a mailed link: JSON gets the
/// account, a form post goes to where a new account starts.
async fn signed_in_by_link(
    state: &AppState,
    headers: &HeaderMap,
    mode: Mode,
    result: Result<(app::backend::UserId, NewSession), AppError>,
    error_page: &str,
) -> Response {
    match (result, mode) {
        (Ok((user, session)), Mode::Json) => match accounts::me(state, user).await {
            Ok(me) => with_cookie(
                Json(me).into_response(),
                session_cookie(state, headers, &session),
            ),
            Err(e) => e.into_response(),
        },
        (Ok((user, session)), Mode::Form) => with_cookie(
            Redirect::to(accounts::landing_page(state, user).await).into_response(),
            session_cookie(state, headers, &session),
        ),
        (Err(e), Mode::Json) => e.into_response(),
        (Err(e), Mode::Form) => form_error_redirect(error_page, &e),
    }
}

/// `POST /api/auth/confirm-email {token}`: finishes a sign-up.
pub async fn confirm_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<TokenRequest>,
) -> Response {
    let result = signup::confirm_email(&state, &value.token, &meta).await;
    signed_in_by_link(&state, &headers, mode, result, "/confirm-email").await
}

/// `POST /api/auth/set-password {token, password}`: an invitation accepted.
pub async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<SetPasswordRequest>,
) -> Response {
    let page = format!(
        "/set-password?token={}",
        app::api::client::encode_query(&value.token)
    );
    let result = signup::set_password(&state, &value.token, value.password, &meta).await;
    signed_in_by_link(&state, &headers, mode, result, &page).await
}

/// `POST /api/auth/unlock {token}`: the emailed unlock link.
pub async fn unlock(
    State(state): State<AppState>,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<TokenRequest>,
) -> Response {
    let result = links::unlock(&state, &value.token, &meta)
        .await
        .map(|()| serde_json::json!({ "locked": false }));
    match (&result, mode) {
        (Ok(_), Mode::Form) => Redirect::to("/login?unlocked=1").into_response(),
        _ => answer(mode, result, "/unlock"),
    }
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<LoginRequest>, AppError>,
) -> Response {
    let Input { value, mode } = match input {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let secure = cookies::is_https(&headers);
    let device = cookies::device_token(&headers);
    let back = authz::return_to(&state, value.rd.as_deref());
    match (
        sign_in::login(&state, value, device.as_ref(), &meta).await,
        mode,
    ) {
        (Ok((outcome, grant)), mode) => {
            let (page, cookie) = match &grant {
                Grant::Session(session) => (
                    match &back {
                        Some(url) => url.clone(),
                        None => accounts::landing_page(&state, session.user)
                            .await
                            .to_string(),
                    },
                    session_cookie(&state, &headers, session),
                ),
                Grant::Challenge(token) => (
                    match &outcome {
                        LoginOutcome::SecondFactorRequired { methods, .. } => {
                            with_rd(app::api::second_factor_page(methods), back.as_deref())
                        }
                        LoginOutcome::SignedIn => SECOND_FACTOR_PAGE.to_string(),
                    },
                    cookies::challenge_set_cookie(token, secure),
                ),
            };
            let resp = match mode {
                Mode::Json => Json(outcome).into_response(),
                Mode::Form => super::plain_pages::after_form(&page),
            };
            with_cookie(resp, cookie)
        }
        (Err(e), Mode::Json) => e.into_response(),
        (Err(e), Mode::Form) => form_error_redirect("/login", &e),
    }
}

/// `page` with `rd` kept for the next step of the sign-in.
pub(super) fn with_rd(page: String, rd: Option<&str>) -> String {
    match rd {
        None => page,
        Some(rd) => {
            let sep = if page.contains('?') { '&' } else { '?' };
            format!("{page}{sep}rd={}", app::api::client::encode_query(rd))
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct ContinueQuery {
    rd: Option<String>,
}

/// `GET /api/auth/continue?rd=URL`: after a sign-in in the browser, back to
/// the app the person came from when `rd` is allowed (see
/// `authz::safe_return`), else to the account page. Never an open redirect.
pub async fn continue_to(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ContinueQuery>,
) -> Response {
    let to = authz::return_to(&state, q.rd.as_deref()).unwrap_or_else(|| "/account".into());
    Redirect::to(&to).into_response()
}

/// Signing out always succeeds and always clears the cookie, even when the
/// session was already gone; the body is ignored.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
) -> Response {
    if let Err(e) = accounts::logout(&state, &headers, &meta).await {
        return e.into_response();
    }
    let is_form = super::input::is_form(&headers);
    let resp = if is_form {
        Redirect::to("/login").into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    with_cookie(
        resp,
        cookies::session_clear_cookie(
            cookies::is_https(&headers),
            state.settings.cookie_domain.as_deref(),
        ),
    )
}

pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match accounts::me_for_request(&state, &headers).await {
        Ok(me) => Json(me).into_response(),
        Err(e) => e.into_response(),
    }
}

/// 200 when the database answers, 503 when it does not.
pub async fn health(State(state): State<AppState>) -> Response {
    let ok = db::ping(&state.pool).await;
    let body = Health {
        status: if ok { "ok" } else { "unavailable" }.into(),
        database: if ok { "ok" } else { "unreachable" }.into(),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Proves it is still the account's owner: opens sensitive actions for 10
/// minutes. A form post goes back to `?next=` (a local path) or the account.
pub async fn reauth(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<ReauthRequest>,
) -> Response {
    let next = app::api::reauth_return_page(value.next.as_deref());
    let back = authz::return_to(&state, value.rd.as_deref());
    let result = access::reauthenticate(&state, &headers, value, &meta).await;
    let page = match (&result, next) {
        (Ok(_), next) => next,
        (Err(_), "/account") => "/reauth",
        (Err(_), "/admin") => "/reauth?next=/admin",
        (Err(_), "/account/two-factor") => "/reauth?next=/account/two-factor",
        (Err(_), _) => "/reauth?next=/account/password",
    };
    match result {
        // The proof comes with a new session token (ASVS 7.2.4).
        Ok((status, session)) => {
            let cookie = session_cookie(&state, &headers, &session);
            let page = back.as_deref().unwrap_or(page);
            with_cookie(answer(mode, Ok(status), page), cookie)
        }
        Err(e) => {
            let page = with_rd(page.to_string(), back.as_deref());
            answer::<ReauthStatus>(mode, Err(e), &page)
        }
    }
}

/// Signs out everywhere else and forgets trusted devices (see
/// `accounts::change_password`); answers how many sessions ended.
pub async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<ChangePasswordRequest>,
) -> Response {
    let result = accounts::change_password(&state, &headers, value, &meta)
        .await
        .map(|revoked| Revoked { revoked });
    let page = if result.is_ok() {
        "/account?changed=password"
    } else {
        "/account/password"
    };
    answer(mode, result, page)
}
