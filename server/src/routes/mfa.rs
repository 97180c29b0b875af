//! Second-factor sign-in and the MFA lifecycle endpoints.

use app::api::{
    AppError, CodeRequest, DisableRequest, LoginOutcome, MfaStatus, SecondFactorRequest,
};
use app::backend::{AppState, accounts, cookies, mfa};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use http::HeaderMap;

use super::auth::with_cookie;
use super::input::{ClientInfo, Input, Mode, form_error_redirect};

/// Completes a sign-in challenge with a TOTP or backup code.
pub async fn second_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<SecondFactorRequest>, AppError>,
) -> Response {
    let Input { value, mode } = match input {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let secure = cookies::is_https(&headers);
    match (
        accounts::second_factor(&state, &headers, value, &meta).await,
        mode,
    ) {
        (Ok(grant), mode) => {
            let resp = match mode {
                Mode::Json => Json(LoginOutcome::SignedIn).into_response(),
                Mode::Form => Redirect::to("/account").into_response(),
            };
            let mut resp = with_cookie(resp, cookies::session_set_cookie(&grant.session, secure));
            if let Some(device) = &grant.device {
                resp = with_cookie(resp, cookies::device_set_cookie(device, secure));
            }
            with_cookie(resp, cookies::challenge_clear_cookie(secure))
        }
        (Err(e), Mode::Json) => e.into_response(),
        (Err(e), Mode::Form) => form_error_redirect("/login/second-factor", &e),
    }
}

pub async fn totp_start(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
) -> Response {
    let result = async {
        let user = accounts::current_user(&state, &headers).await?;
        let me = accounts::me(&state, user).await?;
        mfa::start(&state, user, &me.email, &meta).await
    }
    .await;
    match result {
        Ok(setup) => Json(setup).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn totp_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<CodeRequest>, AppError>,
) -> Response {
    let result = async {
        let req = input?.value;
        let user = accounts::current_user(&state, &headers).await?;
        mfa::confirm(&state, user, &req.code, &meta).await
    }
    .await;
    match result {
        Ok(codes) => Json(codes).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn totp_cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
) -> Response {
    let result = async {
        let user = accounts::current_user(&state, &headers).await?;
        mfa::cancel(&state, user, &meta).await
    }
    .await;
    match result {
        Ok(mfa) => Json(MfaStatus { mfa }).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn disable(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<DisableRequest>, AppError>,
) -> Response {
    let result = async {
        let req = input?.value;
        let user = accounts::current_user(&state, &headers).await?;
        mfa::disable(&state, user, req.password, &req.code, &meta).await
    }
    .await;
    match result {
        Ok(mfa) => Json(MfaStatus { mfa }).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn regenerate(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    input: Result<Input<CodeRequest>, AppError>,
) -> Response {
    let result = async {
        let req = input?.value;
        let user = accounts::current_user(&state, &headers).await?;
        mfa::regenerate(&state, user, &req.code, &meta).await
    }
    .await;
    match result {
        Ok(codes) => Json(codes).into_response(),
        Err(e) => e.into_response(),
    }
}
