//! Passkeys and security keys: adding one, signing in with one alone, and
//! one as the second factor. Each ceremony's start sets the ceremony cookie;
//! its finish clears it.

use app::api::{
    AppError, LoginOutcome, PasskeyAdded, PasskeyLoginRequest, PasskeyRegisterRequest,
    PasskeyStartRequest,
};
use app::backend::factors::passkeys::{self, Started};
use app::backend::{
    AppState, auth::access, auth::challenges, auth::cookies, auth::sessions, auth::sign_in,
};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;

use super::auth::with_cookie;
use super::input::{ClientInfo, Input};

/// The options as JSON, and the cookie naming the ceremony.
fn started(headers: &HeaderMap, result: Result<Started, AppError>) -> Response {
    match result {
        Ok(started) => with_cookie(
            Json(started.options).into_response(),
            cookies::passkey_set_cookie(&started.token, cookies::is_https(headers)),
        ),
        Err(e) => e.into_response(),
    }
}

fn clear_ceremony(headers: &HeaderMap, resp: Response) -> Response {
    with_cookie(
        resp,
        cookies::passkey_clear_cookie(cookies::is_https(headers)),
    )
}

/// `POST /api/webauthn/register/start {name}`: signed in, within the
/// re-authentication window.
pub async fn register_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<PasskeyStartRequest>,
) -> Response {
    // Adding a factor stays open past a policy deadline: it is the way out.
    let result = match access::signed_in(&state, &headers).await {
        Ok(live) => passkeys::register_start(&state, &live, &value.name, &meta).await,
        Err(e) => Err(e),
    };
    started(&headers, result)
}

/// `POST /api/webauthn/register/finish {name, credential}`.
pub async fn register_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<PasskeyRegisterRequest>,
) -> Response {
    let result: Result<PasskeyAdded, AppError> = async {
        let live = access::signed_in(&state, &headers).await?;
        let token = cookies::passkey_token(&headers);
        passkeys::register_finish(&state, &live, token, value, &meta).await
    }
    .await;
    match result {
        Ok(added) => clear_ceremony(&headers, Json(added).into_response()),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/webauthn/login/start`: no session needed.
pub async fn login_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
) -> Response {
    started(&headers, passkeys::sign_in_start(&state, &meta).await)
}

/// `POST /api/webauthn/login/finish {credential}` -> `"SignedIn"` and a
/// session.
pub async fn login_finish(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<PasskeyLoginRequest>,
) -> Response {
    match sign_in::passkey_sign_in(&state, &headers, value, &meta).await {
        Ok(session) => {
            // Used to confirm it is you inside a session (the re-auth page):
            // the new session replaces this browser's old one.
            if let Some(old) =
                cookies::session_token(&headers, state.settings.cookie_domain.as_deref())
                && let Err(e) = sessions::delete(&state.pool, &old).await
            {
                return e.into_response();
            }
            let secure = cookies::is_https(&headers);
            let resp = with_cookie(
                Json(LoginOutcome::SignedIn).into_response(),
                cookies::session_set_cookie(
                    &session,
                    secure,
                    state.settings.cookie_domain.as_deref(),
                ),
            );
            clear_ceremony(&headers, resp)
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /api/auth/second-factor/passkey/start`: during a sign-in
/// challenge, options naming that account's keys.
pub async fn second_factor_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
) -> Response {
    let result = async {
        let now = state.clock.now();
        let token = cookies::challenge_token(&headers).ok_or(AppError::ChallengeExpired)?;
        let challenge = challenges::find(&state, &token, now)
            .await?
            .ok_or(AppError::ChallengeExpired)?;
        passkeys::second_factor_start(&state, challenge.user, &meta).await
    }
    .await;
    started(&headers, result)
}
