//! The API contract: shared types, the error, and the browser-side calls.

pub mod client;
pub mod display;
mod error;
mod types;
pub mod webauthn;

pub use error::{AppError, ErrorBody, human_wait};
pub use types::*;

/// Where the re-auth form returns after success: only our own pages, so
/// `?next=` cannot send anyone elsewhere. Used by the page and the server.
pub fn reauth_return_page(next: Option<&str>) -> &'static str {
    match next {
        Some("/admin") => "/admin",
        Some("/account/password") => "/account/password",
        Some("/account/two-factor") => "/account/two-factor",
        _ => "/account",
    }
}

/// The second-factor page for a challenge offering `methods`: it leaves out
/// "Email me a code" when email codes are not among them (`email=off`),
/// offers the passkey when one is (`passkey=on`), and starts with what the
/// account has (`totp=off` when it holds no authenticator app).
pub fn second_factor_page(methods: &[SecondFactor]) -> String {
    let mut flags = Vec::new();
    if !methods.contains(&SecondFactor::EmailCode) {
        flags.push("email=off");
    }
    if methods.contains(&SecondFactor::Passkey) {
        flags.push("passkey=on");
    }
    if methods.contains(&SecondFactor::SmsCode) {
        flags.push("sms=on");
    }
    if !methods.contains(&SecondFactor::Totp) {
        flags.push("totp=off");
    }
    if flags.is_empty() {
        "/login/second-factor".to_string()
    } else {
        format!("/login/second-factor?{}", flags.join("&"))
    }
}

/// The way back to `rd` after a sign-in: the server follows it only to an
/// allowed domain, else goes to the account page.
pub fn continue_to(rd: &str) -> String {
    format!("{}?rd={}", paths::CONTINUE, client::encode_query(rd))
}

/// Stable endpoint paths, used by the router, the pages' forms and the client.
pub mod paths {
    pub const REGISTER: &str = "/api/auth/register";
    pub const LOGIN: &str = "/api/auth/login";
    pub const LOGOUT: &str = "/api/auth/logout";
    pub const ME: &str = "/api/me";
    pub const HEALTH: &str = "/healthz";
    pub const SECOND_FACTOR: &str = "/api/auth/second-factor";
    pub const TOTP_START: &str = "/api/mfa/totp/start";
    pub const TOTP_CONFIRM: &str = "/api/mfa/totp/confirm";
    pub const TOTP_CANCEL: &str = "/api/mfa/totp/cancel";
    pub const MFA_DISABLE: &str = "/api/mfa/disable";
    pub const REGENERATE_CODES: &str = "/api/mfa/backup-codes/regenerate";
    pub const LOGOUT_ALL: &str = "/api/auth/logout-all";
    pub const SESSIONS: &str = "/api/sessions";
    pub const SESSIONS_REVOKE: &str = "/api/sessions/revoke";
    pub const EVENTS: &str = "/api/security/events";
    pub const DEVICES: &str = "/api/devices";
    pub const EMAIL_CODE: &str = "/api/auth/email-code";
    pub const REPLACEMENT_CODE: &str = "/api/mfa/backup-codes/replacement";
    pub const DEVICES_REVOKE: &str = "/api/devices/revoke";
    pub const FACTORS: &str = "/api/factors";
    pub const FACTORS_RENAME: &str = "/api/factors/rename";
    pub const FACTORS_REMOVE: &str = "/api/factors/remove";
    pub const CONTINUE: &str = "/api/auth/continue";
    pub const FORWARD_AUTH: &str = "/api/authz/forward-auth";
    pub const AUTH_REQUEST: &str = "/api/authz/auth-request";
    pub const PASSKEY_REGISTER_START: &str = "/api/webauthn/register/start";
    pub const PASSKEY_REGISTER_FINISH: &str = "/api/webauthn/register/finish";
    pub const PASSKEY_LOGIN_START: &str = "/api/webauthn/login/start";
    pub const PASSKEY_LOGIN_FINISH: &str = "/api/webauthn/login/finish";
    pub const PASSKEY_SECOND_FACTOR_START: &str = "/api/auth/second-factor/passkey/start";
    pub const REAUTH: &str = "/api/auth/reauth";
    pub const CHANGE_PASSWORD: &str = "/api/auth/change-password";
    pub const ADMIN_USERS: &str = "/api/admin/users";
    pub const ADMIN_STATS: &str = "/api/admin/stats";
    pub const ADMIN_ACCESS: &str = "/api/admin/access";
    pub const ADMIN_OIDC: &str = "/api/admin/oidc";
    pub const APPS: &str = "/api/account/apps";
    pub const APPS_REVOKE: &str = "/api/account/apps/revoke";
    pub const CONSENT: &str = "/api/oauth2/consent";
    // OpenID Connect (SPEC section 11): outside /api, named by discovery.
    pub const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const OAUTH2_AUTHORIZE: &str = "/oauth2/authorize";
    pub const OAUTH2_TOKEN: &str = "/oauth2/token";
    pub const OAUTH2_USERINFO: &str = "/oauth2/userinfo";
    pub const OAUTH2_JWKS: &str = "/oauth2/jwks";
    pub const OAUTH2_REVOKE: &str = "/oauth2/revoke";
    pub const OAUTH2_LOGOUT: &str = "/oauth2/logout";
    pub const ADMIN_POLICY: &str = "/api/admin/policy";
    pub const ADMIN_RESET_MFA: &str = "/api/admin/users/reset-mfa";
    pub const ADMIN_UNLOCK: &str = "/api/admin/users/unlock";
    pub const METRICS: &str = "/metrics";
    pub const CONFIRM_EMAIL: &str = "/api/auth/confirm-email";
    pub const SET_PASSWORD: &str = "/api/auth/set-password";
    pub const UNLOCK: &str = "/api/auth/unlock";
    pub const ADMIN_INVITE: &str = "/api/admin/users/invite";
    // Text messages, forgotten passwords, lost factors (SPEC section 9).
    pub const PHONE_START: &str = "/api/mfa/phone/start";
    pub const PHONE_CONFIRM: &str = "/api/mfa/phone/confirm";
    pub const SMS_CODE: &str = "/api/auth/sms-code";
    pub const RESET_REQUEST: &str = "/api/auth/password-reset/request";
    pub const RESET_INFO: &str = "/api/auth/password-reset/info";
    pub const RESET_PASSKEY_START: &str = "/api/auth/password-reset/passkey/start";
    pub const RESET_SMS_CODE: &str = "/api/auth/password-reset/sms-code";
    pub const RESET_COMPLETE: &str = "/api/auth/password-reset/complete";
    pub const RECOVERY: &str = "/api/auth/recovery";
    pub const RECOVERY_START: &str = "/api/auth/recovery/start";
    pub const RECOVERY_CANCEL: &str = "/api/auth/recovery/cancel";
    pub const RECOVERY_COMPLETE: &str = "/api/auth/recovery/complete";
    pub const ADMIN_RECOVERIES: &str = "/api/admin/recoveries";
    pub const ADMIN_RECOVERY_CANCEL: &str = "/api/admin/recoveries/cancel";
    pub const ADMIN_RECOVERY_APPROVE: &str = "/api/admin/recoveries/approve";
}
