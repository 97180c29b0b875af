//! Text messages, forgotten passwords and lost factors (SPEC section 9):
//! adding a phone, texting a sign-in code, resetting a password from a
//! mailed link, and the delayed recovery.

use app::api::{
    AppError, BackupCodes, CodeRequest, LoginOutcome, PhoneStartRequest, PhoneStarted,
    RecoveryIdRequest, RecoveryStatus, ResetCompleteRequest, ResetInfo, ResetRequest,
    ResetRequested, SmsCodeSent, TokenRequest,
};
use app::backend::auth::{cookies, password_reset, recovery};
use app::backend::factors::phones;
use app::backend::{AppState, auth::access};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode};

use super::auth::with_cookie;
use super::input::{ClientInfo, Input, Mode, answer, form_error_redirect};

/// `POST /api/mfa/phone/start {phone, name}`.
pub async fn phone_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<PhoneStartRequest>,
) -> Result<Json<PhoneStarted>, AppError> {
    // Enrolment stays open past a policy deadline: it is the way out.
    let live = access::signed_in(&state, &headers).await?;
    let started = phones::start(&state, &live, &value.phone, &value.name, &meta).await?;
    Ok(Json(started))
}

/// `POST /api/mfa/phone/confirm {code}`.
pub async fn phone_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<CodeRequest>,
) -> Result<Json<BackupCodes>, AppError> {
    let live = access::signed_in(&state, &headers).await?;
    Ok(Json(
        phones::confirm(&state, &live, &value.code, &meta).await?,
    ))
}

/// `POST /api/auth/password-reset/request {email}`: the same answer for
/// every address. A form post goes back to the page, which says so.
pub async fn reset_request(
    State(state): State<AppState>,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<ResetRequest>,
) -> Response {
    let result = password_reset::request(&state, &value.email, &meta).await;
    match (result, mode) {
        (Ok(sent), Mode::Json) => {
            (StatusCode::ACCEPTED, Json::<ResetRequested>(sent)).into_response()
        }
        (Ok(_), Mode::Form) => Redirect::to("/forgot-password?sent=1").into_response(),
        (Err(e), Mode::Json) => e.into_response(),
        (Err(e), Mode::Form) => form_error_redirect("/forgot-password", &e),
    }
}

/// `POST /api/auth/password-reset/info {token}`.
pub async fn reset_info(
    State(state): State<AppState>,
    Input { value, .. }: Input<TokenRequest>,
) -> Result<Json<ResetInfo>, AppError> {
    Ok(Json(password_reset::info(&state, &value.token).await?))
}

/// `POST /api/auth/password-reset/passkey/start {token}`: options, and the
/// cookie naming the ceremony.
pub async fn reset_passkey_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<TokenRequest>,
) -> Response {
    match password_reset::passkey_start(&state, &value.token, &meta).await {
        Ok(started) => with_cookie(
            Json(started.options).into_response(),
            cookies::passkey_set_cookie(&started.token, cookies::is_https(&headers)),
        ),
        Err(e) => e.into_response(),
    }
}

/// `POST /api/auth/password-reset/sms-code {token}`.
pub async fn reset_sms_code(
    State(state): State<AppState>,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<TokenRequest>,
) -> Result<(StatusCode, Json<SmsCodeSent>), AppError> {
    let sent = password_reset::send_sms_code(&state, &value.token, &meta).await?;
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

/// `POST /api/auth/password-reset/complete`. A form post (no JavaScript)
/// goes to the sign-in page, or back to the reset page with the error.
pub async fn reset_complete(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<ResetCompleteRequest>,
) -> Response {
    let page = format!(
        "/reset-password?token={}",
        app::api::client::encode_query(&value.token)
    );
    let result = password_reset::complete(&state, &headers, value, &meta)
        .await
        .map(|ended| serde_json::json!({ "reset": true, "sessions_ended": ended }));
    let resp = match (&result, mode) {
        (Ok(_), Mode::Form) => Redirect::to("/login?reset=1").into_response(),
        _ => answer(mode, result, &page),
    };
    with_cookie(
        resp,
        cookies::passkey_clear_cookie(cookies::is_https(&headers)),
    )
}

/// `GET /api/auth/recovery`, during a sign-in challenge.
pub async fn recovery_status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<RecoveryStatus>, AppError> {
    Ok(Json(recovery::status(&state, &headers).await?))
}

/// `POST /api/auth/recovery/start`, during a sign-in challenge. A plain
/// form post goes back to the recovery page.
pub async fn recovery_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
) -> Response {
    let is_form = super::input::is_form(&headers);
    match (recovery::start(&state, &headers, &meta).await, is_form) {
        (Ok(status), false) => (StatusCode::ACCEPTED, Json(status)).into_response(),
        (Ok(_), true) => Redirect::to("/recover").into_response(),
        (Err(e), false) => e.into_response(),
        (Err(e), true) => form_error_redirect("/recover", &e),
    }
}

/// `POST /api/auth/recovery/cancel {token}`: the link from the alert mail.
pub async fn recovery_cancel(
    State(state): State<AppState>,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<TokenRequest>,
) -> Response {
    let result = recovery::cancel(&state, &value.token, &meta)
        .await
        .map(|()| serde_json::json!({ "cancelled": true }));
    match (&result, mode) {
        (Ok(_), Mode::Form) => Redirect::to("/recovery/cancel?done=1").into_response(),
        _ => answer(mode, result, "/recovery/cancel"),
    }
}

/// `POST /api/auth/recovery/complete {code}`: signed in, factors gone; the
/// answer names the enrolment page to go to.
pub async fn recovery_complete(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<CodeRequest>,
) -> Response {
    let secure = cookies::is_https(&headers);
    match recovery::complete(&state, &headers, &value.code, &meta).await {
        Ok(done) => {
            let body = serde_json::json!({
                "outcome": LoginOutcome::SignedIn,
                "next": "/account/two-factor",
            });
            let resp = with_cookie(
                Json(body).into_response(),
                cookies::session_set_cookie(
                    &done.session,
                    secure,
                    state.settings.cookie_domain.as_deref(),
                ),
            );
            with_cookie(resp, cookies::challenge_clear_cookie(secure))
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /api/admin/recoveries`.
pub async fn admin_list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<app::api::PendingRecovery>>, AppError> {
    access::admin(&state, &headers).await?;
    Ok(Json(recovery::pending(&state).await?))
}

/// `POST /api/admin/recoveries/cancel {id}`: within the re-auth window.
pub async fn admin_cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<RecoveryIdRequest>, AppError>,
) -> Response {
    super::admin::recovery_action(&state, &headers, &meta, input, false).await
}

/// `POST /api/admin/recoveries/approve {id}`: within the re-auth window.
pub async fn admin_approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<RecoveryIdRequest>, AppError>,
) -> Response {
    super::admin::recovery_action(&state, &headers, &meta, input, true).await
}
