//! The JSON API. Each handler decodes the request, calls one function of the
//! core (`app::backend`) and shapes the answer.

mod admin;
mod auth;
mod authz;
mod factors;
mod input;
mod mfa;
mod oidc;
mod passkeys;
mod plain_pages;
mod recovery;
mod sessions;

use app::api::paths;
use app::backend::AppState;
use axum::Router;
use axum::routing::{any, get, post};

pub use input::{ClientInfo, Input};

pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route(paths::REGISTER, post(auth::register))
        .route(paths::LOGIN, post(auth::login))
        .route(paths::LOGOUT, post(auth::logout))
        .route(paths::ME, get(auth::me))
        .route(paths::HEALTH, get(auth::health))
        .route(paths::SECOND_FACTOR, post(mfa::second_factor))
        .route(paths::EMAIL_CODE, post(mfa::email_code))
        .route(paths::SMS_CODE, post(mfa::sms_code))
        .route(paths::PHONE_START, post(recovery::phone_start))
        .route(paths::PHONE_CONFIRM, post(recovery::phone_confirm))
        .route(paths::RESET_REQUEST, post(recovery::reset_request))
        .route(paths::RESET_INFO, post(recovery::reset_info))
        .route(
            paths::RESET_PASSKEY_START,
            post(recovery::reset_passkey_start),
        )
        .route(paths::RESET_SMS_CODE, post(recovery::reset_sms_code))
        .route(paths::RESET_COMPLETE, post(recovery::reset_complete))
        .route(paths::RECOVERY, get(recovery::recovery_status))
        .route(paths::RECOVERY_START, post(recovery::recovery_start))
        .route(paths::RECOVERY_CANCEL, post(recovery::recovery_cancel))
        .route(paths::RECOVERY_COMPLETE, post(recovery::recovery_complete))
        .route(paths::ADMIN_RECOVERIES, get(recovery::admin_list))
        .route(paths::ADMIN_RECOVERY_CANCEL, post(recovery::admin_cancel))
        .route(paths::ADMIN_RECOVERY_APPROVE, post(recovery::admin_approve))
        .route(paths::TOTP_START, post(mfa::totp_start))
        .route(paths::TOTP_CONFIRM, post(mfa::totp_confirm))
        .route(paths::TOTP_CANCEL, post(mfa::totp_cancel))
        .route(paths::MFA_DISABLE, post(mfa::disable))
        .route(paths::REGENERATE_CODES, post(mfa::regenerate))
        .route(paths::REPLACEMENT_CODE, post(mfa::replacement_code))
        .route(paths::LOGOUT_ALL, post(sessions::logout_all))
        .route(paths::SESSIONS, get(sessions::list))
        .route(paths::SESSIONS_REVOKE, post(sessions::revoke))
        .route(paths::EVENTS, get(sessions::events))
        .route(paths::DEVICES, get(sessions::devices))
        .route(paths::DEVICES_REVOKE, post(sessions::revoke_devices))
        .route(paths::FACTORS, get(factors::list))
        .route(paths::FACTORS_RENAME, post(factors::rename))
        .route(paths::FACTORS_REMOVE, post(factors::remove))
        .route(
            paths::PASSKEY_REGISTER_START,
            post(passkeys::register_start),
        )
        .route(
            paths::PASSKEY_REGISTER_FINISH,
            post(passkeys::register_finish),
        )
        .route(paths::PASSKEY_LOGIN_START, post(passkeys::login_start))
        .route(paths::PASSKEY_LOGIN_FINISH, post(passkeys::login_finish))
        .route(
            paths::PASSKEY_SECOND_FACTOR_START,
            post(passkeys::second_factor_start),
        )
        .route(paths::CONTINUE, get(auth::continue_to))
        .route(paths::FORWARD_AUTH, any(authz::forward_auth))
        .route(paths::AUTH_REQUEST, any(authz::auth_request))
        .route(paths::REAUTH, post(auth::reauth))
        .route(paths::CHANGE_PASSWORD, post(auth::change_password))
        .route(paths::ADMIN_USERS, get(admin::users))
        .route(paths::ADMIN_STATS, get(admin::stats))
        .route(paths::ADMIN_ACCESS, get(admin::access_rules))
        .route(paths::ADMIN_OIDC, get(oidc::admin_overview))
        .route(paths::APPS, get(oidc::apps))
        .route(paths::APPS_REVOKE, post(oidc::revoke_app))
        .route(paths::CONSENT, get(oidc::consent_info).post(oidc::consent))
        .route(paths::OIDC_DISCOVERY, get(oidc::discovery))
        .route(paths::OAUTH2_JWKS, get(oidc::jwks))
        .route(
            paths::OAUTH2_AUTHORIZE,
            get(oidc::authorize).post(oidc::authorize),
        )
        .route(paths::OAUTH2_TOKEN, post(oidc::token))
        .route(
            paths::OAUTH2_USERINFO,
            get(oidc::userinfo).post(oidc::userinfo),
        )
        .route(paths::OAUTH2_REVOKE, post(oidc::revoke))
        .route(paths::OAUTH2_LOGOUT, get(oidc::logout).post(oidc::logout))
        .route(
            paths::ADMIN_POLICY,
            get(admin::policy).post(admin::set_policy),
        )
        .route(paths::ADMIN_RESET_MFA, post(admin::reset_mfa))
        .route(paths::ADMIN_UNLOCK, post(admin::unlock))
        .route(paths::ADMIN_INVITE, post(admin::invite))
        .route(paths::CONFIRM_EMAIL, post(auth::confirm_email))
        .route(paths::SET_PASSWORD, post(auth::set_password))
        .route(paths::UNLOCK, post(auth::unlock))
}
