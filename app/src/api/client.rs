//! Calls to the JSON API. In the browser they go over `fetch`; during server
//! rendering, `load_me` asks the backend directly with the request's cookie.

use super::{AppError, LoginOutcome, LoginRequest, Me, RegisterRequest, paths};

/// The signed-in account, for pages that show it.
pub async fn load_me() -> Result<Me, AppError> {
    #[cfg(feature = "ssr")]
    {
        let (state, parts) = server_context()?;
        crate::backend::auth::accounts::me_for_request(&state, &parts.headers).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser::get_json(paths::ME).await
    }
}

/// The signed-in user's sessions.
pub async fn load_sessions() -> Result<Vec<super::SessionInfo>, AppError> {
    #[cfg(feature = "ssr")]
    {
        let (state, parts) = server_context()?;
        crate::backend::auth::accounts::sessions_for_request(&state, &parts.headers).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser::get_json(paths::SESSIONS).await
    }
}

/// The newest entries of the signed-in user's audit trail.
pub async fn load_events() -> Result<super::EventsPage, AppError> {
    #[cfg(feature = "ssr")]
    {
        let (state, parts) = server_context()?;
        crate::backend::auth::accounts::events_for_request(&state, &parts.headers, None, Some(10))
            .await
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser::get_json(&format!("{}?limit=10", paths::EVENTS)).await
    }
}

#[cfg(feature = "ssr")]
fn server_context() -> Result<(crate::backend::AppState, http::request::Parts), AppError> {
    use leptos::prelude::use_context;
    let state = use_context::<crate::backend::AppState>().ok_or(AppError::Internal)?;
    let parts = use_context::<http::request::Parts>().ok_or(AppError::Internal)?;
    Ok((state, parts))
}

/// Makes a loader's future fit a `Resource`, which wants `Send`: in the
/// browser (one thread) `fetch` futures are wrapped; on the server they are
/// `Send` already.
#[cfg(feature = "hydrate")]
pub fn sendable<F: std::future::Future + 'static>(f: F) -> send_wrapper::SendWrapper<F> {
    send_wrapper::SendWrapper::new(f)
}

#[cfg(not(feature = "hydrate"))]
pub fn sendable<F: std::future::Future + Send + 'static>(f: F) -> F {
    f
}

pub async fn register(req: &RegisterRequest) -> Result<super::RegisterAnswer, AppError> {
    browser_post(paths::REGISTER, req).await
}

pub async fn login(req: &LoginRequest) -> Result<LoginOutcome, AppError> {
    browser_post(paths::LOGIN, req).await
}

pub async fn logout() -> Result<(), AppError> {
    browser_post::<_, serde_json::Value>(paths::LOGOUT, &serde_json::json!({}))
        .await
        .map(|_| ())
}

/// A POST of a JSON value (the passkey ceremonies' bodies).
pub async fn post_value<T: serde::de::DeserializeOwned>(
    path: &str,
    body: &serde_json::Value,
) -> Result<T, AppError> {
    browser_post(path, body).await
}

/// Form handlers only run in the browser; on the server, where a submit can
/// never fire, this answers `Internal` instead of pulling an HTTP client into
/// the server build.
async fn browser_post<B, T>(path: &str, body: &B) -> Result<T, AppError>
where
    B: serde::Serialize,
    T: serde::de::DeserializeOwned,
{
    #[cfg(feature = "hydrate")]
    {
        browser::post_json(path, body).await
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (path, body);
        Err(AppError::Internal)
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use gloo_net::http::{Request, Response};
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use crate::api::{AppError, ErrorBody};

    pub async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, AppError> {
        let resp = Request::get(path)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|_| network_error())?;
        decode(resp).await
    }

    pub async fn post_json<B: Serialize, T: DeserializeOwned>(
        path: &str,
        body: &B,
    ) -> Result<T, AppError> {
        let resp = Request::post(path)
            .header("Accept", "application/json")
            .json(body)
            .map_err(|_| AppError::Internal)?
            .send()
            .await
            .map_err(|_| network_error())?;
        decode(resp).await
    }

    fn network_error() -> AppError {
        AppError::BadRequest {
            message: "Cannot reach the server. Check your connection and try again.".into(),
        }
    }

    async fn decode<T: DeserializeOwned>(resp: Response) -> Result<T, AppError> {
        if resp.ok() {
            // 204 No Content: let `null` stand for the empty body.
            let text = resp.text().await.map_err(|_| AppError::Internal)?;
            let text = if text.is_empty() { "null" } else { &text };
            serde_json::from_str(text).map_err(|_| AppError::Internal)
        } else {
            match resp.json::<ErrorBody>().await {
                Ok(body) => Err(body.into()),
                Err(_) => Err(AppError::Internal),
            }
        }
    }
}

#[cfg(all(not(feature = "ssr"), not(feature = "hydrate")))]
mod browser {
    use crate::api::AppError;

    /// Neither side built in (plain `cargo check` of the lib): nothing to call.
    pub async fn get_json<T>(_path: &str) -> Result<T, AppError> {
        Err(AppError::Internal)
    }
}

pub async fn second_factor(req: &super::SecondFactorRequest) -> Result<LoginOutcome, AppError> {
    browser_post(paths::SECOND_FACTOR, req).await
}

pub async fn totp_start() -> Result<super::TotpSetup, AppError> {
    browser_post(paths::TOTP_START, &serde_json::json!({})).await
}

pub async fn totp_confirm(code: &str) -> Result<super::BackupCodes, AppError> {
    browser_post(
        paths::TOTP_CONFIRM,
        &super::CodeRequest { code: code.into() },
    )
    .await
}

pub async fn totp_cancel() -> Result<super::MfaStatus, AppError> {
    browser_post(paths::TOTP_CANCEL, &serde_json::json!({})).await
}

pub async fn revoke_session(id: i64) -> Result<(), AppError> {
    browser_post::<_, serde_json::Value>(
        paths::SESSIONS_REVOKE,
        &super::RevokeSessionRequest { id },
    )
    .await
    .map(|_| ())
}

pub async fn logout_others() -> Result<super::Revoked, AppError> {
    browser_post(
        paths::LOGOUT_ALL,
        &super::LogoutAllRequest { keep_current: true },
    )
    .await
}

/// The signed-in user's trusted devices.
pub async fn load_devices() -> Result<Vec<super::TrustedDevice>, AppError> {
    #[cfg(feature = "ssr")]
    {
        let (state, parts) = server_context()?;
        crate::backend::auth::accounts::devices_for_request(&state, &parts.headers).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser::get_json(paths::DEVICES).await
    }
}

pub async fn load_factors() -> Result<Vec<super::FactorInfo>, AppError> {
    #[cfg(feature = "ssr")]
    {
        let (state, parts) = server_context()?;
        crate::backend::factors::named::list_for_request(&state, &parts.headers).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser::get_json(paths::FACTORS).await
    }
}

pub async fn rename_factor(id: i64, name: String) -> Result<super::FactorInfo, AppError> {
    browser_post(
        paths::FACTORS_RENAME,
        &super::RenameFactorRequest { id, name },
    )
    .await
}

pub async fn remove_factor(id: i64) -> Result<super::MfaStatus, AppError> {
    browser_post(paths::FACTORS_REMOVE, &super::RemoveFactorRequest { id }).await
}

pub async fn revoke_device(id: Option<i64>) -> Result<super::Revoked, AppError> {
    let req = super::RevokeDevicesRequest {
        id,
        all: id.is_none(),
    };
    browser_post(paths::DEVICES_REVOKE, &req).await
}

pub async fn send_email_code() -> Result<super::EmailCodeSent, AppError> {
    browser_post(paths::EMAIL_CODE, &serde_json::json!({})).await
}

pub async fn take_replacement_code() -> Result<super::ReplacementCode, AppError> {
    browser_post(paths::REPLACEMENT_CODE, &serde_json::json!({})).await
}

pub async fn mfa_disable(req: &super::DisableRequest) -> Result<super::MfaStatus, AppError> {
    browser_post(paths::MFA_DISABLE, req).await
}

pub async fn regenerate_codes(code: &str) -> Result<super::BackupCodes, AppError> {
    browser_post(
        paths::REGENERATE_CODES,
        &super::CodeRequest { code: code.into() },
    )
    .await
}

/// Everything the admin dashboard shows, for one search and page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdminView {
    pub stats: super::AdminStats,
    pub policy: super::MfaPolicy,
    pub users: super::AdminUsersPage,
    pub access: super::AccessOverview,
    pub oidc: super::OidcOverview,
    /// Recoveries waiting (someone who lost every factor).
    pub recoveries: Vec<super::PendingRecovery>,
}

/// "Apps you signed in to" (single sign-on).
pub async fn load_apps() -> Result<Vec<super::AppInfo>, AppError> {
    #[cfg(feature = "ssr")]
    {
        let (state, parts) = server_context()?;
        crate::backend::oidc::apps_for_request(&state, &parts.headers).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser::get_json(paths::APPS).await
    }
}

pub async fn revoke_app(client_id: String) -> Result<super::Revoked, AppError> {
    browser_post(paths::APPS_REVOKE, &super::AppRevokeRequest { client_id }).await
}

/// What the consent page shows for the authorization request `query`.
pub async fn load_consent(query: String) -> Result<super::ConsentInfo, AppError> {
    #[cfg(feature = "ssr")]
    {
        let (state, parts) = server_context()?;
        crate::backend::oidc::consent_info(&state, &parts.headers, &query).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser::get_json(&format!(
            "{}?{}",
            paths::CONSENT,
            query.trim_start_matches('?')
        ))
        .await
    }
}

pub async fn answer_consent(query: String, allow: bool) -> Result<super::ConsentAnswer, AppError> {
    browser_post(paths::CONSENT, &super::ConsentRequest { query, allow }).await
}

/// Users shown per dashboard page.
pub const ADMIN_PAGE_SIZE: u32 = 20;

pub async fn load_admin(q: String, page: u32) -> Result<AdminView, AppError> {
    #[cfg(feature = "ssr")]
    {
        use crate::backend::{admin, auth::access, policy};
        let (state, parts) = server_context()?;
        let q = Some(q.as_str()).filter(|q| !q.trim().is_empty());
        let view: Result<AdminView, AppError> = async {
            access::admin(&state, &parts.headers).await?;
            Ok(AdminView {
                stats: admin::stats(&state).await?,
                policy: policy::load(&state.pool).await?,
                users: admin::list_users(&state, q, page, ADMIN_PAGE_SIZE).await?,
                access: crate::backend::authz::overview(&state),
                oidc: crate::backend::oidc::overview(&state).await?,
                recoveries: crate::backend::auth::recovery::pending(&state).await?,
            })
        }
        .await;
        // The page answers with the API's status: 403 for non-admins.
        if let Err(e) = &view
            && let Some(options) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
            && let Ok(status) = http::StatusCode::from_u16(e.status())
        {
            options.set_status(status);
        }
        view
    }
    #[cfg(not(feature = "ssr"))]
    {
        let query = format!(
            "{}?q={}&page={page}&per_page={ADMIN_PAGE_SIZE}",
            paths::ADMIN_USERS,
            encode_query(&q)
        );
        Ok(AdminView {
            stats: browser::get_json(paths::ADMIN_STATS).await?,
            policy: browser::get_json(paths::ADMIN_POLICY).await?,
            users: browser::get_json(&query).await?,
            access: browser::get_json(paths::ADMIN_ACCESS).await?,
            oidc: browser::get_json(paths::ADMIN_OIDC).await?,
            recoveries: browser::get_json(paths::ADMIN_RECOVERIES).await?,
        })
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `POST /api/mfa/phone/start`: texts a code to a number to add.
pub async fn start_phone(phone: String, name: String) -> Result<super::PhoneStarted, AppError> {
    browser_post(
        paths::PHONE_START,
        &super::PhoneStartRequest { phone, name },
    )
    .await
}

/// `POST /api/mfa/phone/confirm`: the texted code adds the phone.
pub async fn confirm_phone(code: String) -> Result<super::BackupCodes, AppError> {
    browser_post(paths::PHONE_CONFIRM, &super::CodeRequest { code }).await
}

/// During a sign-in challenge: a code by text message.
pub async fn send_sms_code() -> Result<super::SmsCodeSent, AppError> {
    browser_post(paths::SMS_CODE, &serde_json::json!({})).await
}

/// A reset link's needs: whether a factor is asked, and which.
pub async fn load_reset_info(token: String) -> Result<super::ResetInfo, AppError> {
    #[cfg(feature = "ssr")]
    {
        let (state, _) = server_context()?;
        crate::backend::auth::password_reset::info(&state, &token).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser_post(paths::RESET_INFO, &super::TokenRequest { token }).await
    }
}

/// With a reset link: a code by text message to the account's phone.
pub async fn send_reset_sms_code(token: String) -> Result<super::SmsCodeSent, AppError> {
    browser_post(paths::RESET_SMS_CODE, &super::TokenRequest { token }).await
}

/// Where the recovery of the challenge's account stands.
pub async fn load_recovery() -> Result<super::RecoveryStatus, AppError> {
    #[cfg(feature = "ssr")]
    {
        let (state, parts) = server_context()?;
        crate::backend::auth::recovery::status(&state, &parts.headers).await
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser::get_json(paths::RECOVERY).await
    }
}

/// Finishes a ready recovery with an emailed code; answers where to go next.
pub async fn complete_recovery(code: String) -> Result<serde_json::Value, AppError> {
    browser_post(paths::RECOVERY_COMPLETE, &super::CodeRequest { code }).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(super::encode_query("a b&c=d@x.y"), "a%20b%26c%3Dd%40x.y");
    }
}
