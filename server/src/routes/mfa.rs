//! Second-factor sign-in and the MFA lifecycle endpoints.

use app::api::{
    AppError, BackupCodes, CodeRequest, DisableRequest, LoginOutcome, MfaStatus, ReplacementCode,
    SecondFactorRequest, TotpSetup,
};
use app::backend::{
    AppState, auth::access, auth::accounts, auth::cookies, auth::sessions, auth::sign_in,
    factors::mfa,
};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::HeaderMap;

use super::auth::with_cookie;
use super::input::{ClientInfo, Input, Mode, form_error_redirect};

/// Completes a sign-in challenge with a TOTP or backup code.
pub async fn second_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, mode }: Input<SecondFactorRequest>,
) -> Response {
    let secure = cookies::is_https(&headers);
    let back = app::backend::authz::return_to(&state, value.rd.as_deref());
    match (
        sign_in::second_factor(&state, &headers, value, &meta).await,
        mode,
    ) {
        (Ok(grant), mode) => {
            let resp = match mode {
                Mode::Json => Json(LoginOutcome::SignedIn).into_response(),
                Mode::Form => super::plain_pages::after_form(back.as_deref().unwrap_or("/account")),
            };
            let mut resp = with_cookie(
                resp,
                cookies::session_set_cookie(
                    &grant.session,
                    secure,
                    state.settings.cookie_domain.as_deref(),
                ),
            );
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
) -> Result<Json<TotpSetup>, AppError> {
    // Enrolment stays open past a policy deadline: it is the way out.
    let live = access::signed_in(&state, &headers).await?;
    let me = accounts::me(&state, live.user).await?;
    Ok(Json(mfa::start(&state, &live, &me.email, &meta).await?))
}

pub async fn totp_confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<CodeRequest>,
) -> Result<Json<BackupCodes>, AppError> {
    let live = access::signed_in(&state, &headers).await?;
    let codes = mfa::confirm(&state, live.user, &value.code, &meta).await?;
    // The code just proved the new authenticator: a fresh second factor.
    let proof = sessions::Proof::PasswordAndCode;
    sessions::mark_factor(&state.pool, live.id, proof, state.clock.now()).await?;
    Ok(Json(codes))
}

pub async fn totp_cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
) -> Result<Json<MfaStatus>, AppError> {
    let user = access::signed_in(&state, &headers).await?.user;
    let mfa = mfa::cancel(&state, user, &meta).await?;
    Ok(Json(MfaStatus { mfa }))
}

pub async fn disable(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<DisableRequest>,
) -> Result<Json<MfaStatus>, AppError> {
    let user = accounts::current_user(&state, &headers).await?;
    let mfa = mfa::disable(&state, user, value.password, &value.code, &meta).await?;
    Ok(Json(MfaStatus { mfa }))
}

/// During a sign-in challenge: mails a 6-digit code.
/// A plain form post (no JavaScript) is sent back to the code page.
pub async fn email_code(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
) -> Response {
    let sent = sign_in::send_email_code(&state, &headers, &meta).await;
    code_sent(&headers, query.as_deref(), sent, "email")
}

/// During a sign-in challenge: texts a 6-digit code to the account's phone.
/// A plain form post (no JavaScript) is sent back to the code page.
pub async fn sms_code(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
) -> Response {
    let sent = sign_in::send_sms_code(&state, &headers, &meta).await;
    code_sent(&headers, query.as_deref(), sent, "sms")
}

/// A code on its way: 202 and what was sent for scripts; for a form post,
/// the code page with `method` (or the error).
fn code_sent<T: serde::Serialize>(
    headers: &HeaderMap,
    query: Option<&str>,
    sent: Result<T, AppError>,
    method: &str,
) -> Response {
    let is_form = super::input::is_form(headers);
    match (sent, is_form) {
        (Ok(sent), false) => (http::StatusCode::ACCEPTED, Json(sent)).into_response(),
        (Ok(_), true) => Redirect::to(&format!(
            "/login/second-factor?{}method={method}",
            page_flags(query)
        ))
        .into_response(),
        (Err(e), false) => e.into_response(),
        (Err(e), true) => form_error_redirect("/login/second-factor", &e),
    }
}

/// The second-factor page's flags and `rd` from the form's query, rebuilt
/// from the known names only (the page checks `rd` again before using it).
fn page_flags(query: Option<&str>) -> String {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or_default()).unwrap_or_default();
    let kept: Vec<&(String, String)> = pairs
        .iter()
        .filter(|(name, _)| matches!(name.as_str(), "email" | "passkey" | "totp" | "sms" | "rd"))
        .collect();
    match serde_urlencoded::to_string(kept) {
        Ok(flags) if !flags.is_empty() => format!("{flags}&"),
        _ => String::new(),
    }
}

/// Consumes the held code, so it is a POST.
pub async fn replacement_code(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ReplacementCode>, AppError> {
    let code = accounts::take_replacement_code(&state, &headers).await?;
    Ok(Json(ReplacementCode { code }))
}

pub async fn regenerate(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientInfo(meta): ClientInfo,
    Input { value, .. }: Input<CodeRequest>,
) -> Result<Json<BackupCodes>, AppError> {
    let live = access::caller(&state, &headers).await?;
    Ok(Json(
        mfa::regenerate(&state, &live, &value.code, &meta).await?,
    ))
}
