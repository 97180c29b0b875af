//! The signed-in account: what it shows about itself, its password, its
//! sessions, devices and activity.

use http::HeaderMap;
use sqlx::AnyPool;

use crate::api::{AppError, ChangePasswordRequest, Me, MfaState, Role};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::challenges;
use crate::backend::auth::passwords::{self, Password};
use crate::backend::auth::sessions;
use crate::backend::policy::{self, Standing};
use crate::backend::{
    AppState, ClientMeta, UserId, auth::access, auth::cookies, auth::validation,
    factors::backup_codes, factors::devices, factors::mfa, internal,
};

/// The account's email address (where its mail goes).
pub async fn email_of(pool: &AnyPool, user: UserId) -> Result<String, AppError> {
    sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_one(pool)
        .await
        .map_err(|e| internal("reading the email address", e))
}

/// Ends the session the request carries, if any, and abandons an unfinished
/// MFA setup (it must never outlive the sign-in that started it).
pub async fn logout(
    state: &AppState,
    headers: &HeaderMap,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    if let Some(token) = cookies::session_token(headers, state.settings.cookie_domain.as_deref())
        && let Some(user) = sessions::delete(&state.pool, &token).await?
    {
        mfa::cancel(state, user, meta).await?;
        audit::record(
            &state.pool,
            Some(user),
            EventKind::LoggedOut,
            state.clock.now(),
            meta,
            "",
        )
        .await;
    }
    Ok(())
}

/// The user whose live session the request carries, allowed past the MFA
/// policy's enrolment gate (see `access::caller`).
pub async fn current_user(state: &AppState, headers: &HeaderMap) -> Result<UserId, AppError> {
    Ok(access::caller(state, headers).await?.user)
}

pub async fn me(state: &AppState, user: UserId) -> Result<Me, AppError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT email, role FROM users WHERE id = $1")
            .bind(user.0)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| internal("loading the account", e))?;
    let (email, role) = row.ok_or(AppError::NotSignedIn)?;
    let now = state.clock.now();
    let mfa = mfa::state_of(&state.pool, user, now).await?;
    let standing = policy::standing_of(&state.pool, user, now).await?;
    let backup_codes_left = if mfa == MfaState::Enabled {
        backup_codes::remaining(&state.pool, user).await?
    } else {
        0
    };
    Ok(Me {
        email,
        role: Role::parse(&role).ok_or_else(|| internal("unknown role in database", &role))?,
        mfa,
        backup_codes_left,
        trusted_devices: devices::count(&state.pool, user, now).await?,
        mfa_required_by: standing.required_by(),
        mfa_enrolment_required: matches!(standing, Standing::EnrolOnly { .. }),
        sms_available: crate::backend::factors::phones::allowed(state).await?,
    })
}

/// `GET /api/me` for the request's session. Reachable past the enrolment
/// deadline: it is how the app learns it must send the person to enrol.
pub async fn me_for_request(state: &AppState, headers: &HeaderMap) -> Result<Me, AppError> {
    let live = access::signed_in(state, headers).await?;
    me(state, live.user).await
}

/// Where a browser goes after signing in: the enrolment wizard while an MFA
/// policy asks this account to enrol, else the account page.
pub async fn landing_page(state: &AppState, user: UserId) -> &'static str {
    match policy::standing_of(&state.pool, user, state.clock.now()).await {
        Ok(Standing::Grace { .. } | Standing::EnrolOnly { .. }) => "/account/two-factor",
        _ => "/account",
    }
}

/// `POST /api/auth/change-password`: needs the current password and, with MFA
/// on, a second factor from the last 10 minutes or a code now. Every other
/// session ends and every trusted device is forgotten; this one stays.
pub async fn change_password(
    state: &AppState,
    headers: &HeaderMap,
    req: ChangePasswordRequest,
    meta: &ClientMeta,
) -> Result<u32, AppError> {
    let live = access::caller(state, headers).await?;
    let user = live.user;
    let now = state.clock.now();
    let email = email_of(&state.pool, user).await?;
    // Bad input first: it must not cost a TOTP step or an attempt.
    validation::check_password(&req.new_password, &email)
        .map_err(|e| rename_field(e, "new_password"))?;
    if req.new_password == req.current_password {
        return Err(AppError::validation(
            "new_password",
            "Choose a password different from the current one.",
        ));
    }
    let mfa_on = mfa::state_of(&state.pool, user, now).await? == MfaState::Enabled;
    let code = req.code.filter(|c| !c.trim().is_empty());
    if mfa_on && code.is_none() && !access::factor_fresh(&live, now) {
        return Err(AppError::ReauthRequired);
    }
    mfa::check_password(state, user, req.current_password, meta, "change password").await?;
    let mut code_checked = false;
    if let Some(code) = code.filter(|_| mfa_on && !access::factor_fresh(&live, now)) {
        mfa::check_factor(
            state,
            user,
            mfa::method_of_code(&code),
            &code,
            meta,
            mfa::Asker::Session,
        )
        .await?;
        code_checked = true;
    }
    let hash = passwords::hash(&state.hash_pool, Password::new(req.new_password)).await?;
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(&hash.0)
        .bind(user.0)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("changing the password", e))?;
    let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id != $2")
        .bind(user.0)
        .bind(live.id)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("ending other sessions", e))?
        .rows_affected();
    let forgotten = devices::revoke(tx.conn()?, user, None).await?;
    crate::backend::oidc::tokens::revoke_all(tx.conn()?, user, None, now).await?;
    challenges::cancel_all(tx.conn()?, user).await?;
    tx.commit().await?;
    let proof = if code_checked {
        sessions::Proof::PasswordAndCode
    } else {
        sessions::Proof::Password
    };
    sessions::mark_proven(&state.pool, live.id, proof, now).await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::PasswordChanged,
        now,
        meta,
        &format!("{ended} other sessions ended, {forgotten} devices forgotten"),
    )
    .await;
    alerts::send(state, user, Alert::PasswordChanged, meta).await?;
    Ok(u32::try_from(ended).unwrap_or(u32::MAX))
}

/// Validation speaks of `password`; on the change form the field is another.
fn rename_field(e: AppError, field: &str) -> AppError {
    match e {
        AppError::Validation { message, .. } => AppError::validation(field, message),
        other => other,
    }
}

/// `GET /api/sessions`: the caller's live sessions, theirs marked.
pub async fn sessions_for_request(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Vec<crate::api::SessionInfo>, AppError> {
    let user = current_user(state, headers).await?;
    let token = cookies::session_token(headers, state.settings.cookie_domain.as_deref())
        .ok_or(AppError::NotSignedIn)?;
    sessions::list(
        &state.pool,
        user,
        &token,
        state.clock.now(),
        state.settings.session_idle_s,
    )
    .await
}

/// Ends one of the caller's sessions (possibly the current one). Another
/// user's session id is answered like a missing one.
pub async fn revoke_session(
    state: &AppState,
    headers: &HeaderMap,
    id: i64,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    let user = current_user(state, headers).await?;
    if !sessions::revoke(&state.pool, user, id).await? {
        return Err(AppError::NotFound);
    }
    let now = state.clock.now();
    audit::record(
        &state.pool,
        Some(user),
        EventKind::SessionRevoked,
        now,
        meta,
        &format!("session {id}"),
    )
    .await;
    Ok(())
}

/// Ends every session of the caller, or every other one with `keep_current`.
pub async fn logout_all(
    state: &AppState,
    headers: &HeaderMap,
    keep_current: bool,
    meta: &ClientMeta,
) -> Result<u32, AppError> {
    let user = current_user(state, headers).await?;
    let token = cookies::session_token(headers, state.settings.cookie_domain.as_deref());
    let keep = if keep_current { token.as_ref() } else { None };
    // The sessions and the apps' tokens (OpenID Connect) end together.
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    let revoked = sessions::revoke_all(tx.conn()?, user, keep).await?;
    crate::backend::oidc::tokens::revoke_all(tx.conn()?, user, None, state.clock.now()).await?;
    tx.commit().await?;
    if !keep_current {
        mfa::cancel(state, user, meta).await?;
    }
    let now = state.clock.now();
    audit::record(
        &state.pool,
        Some(user),
        EventKind::LoggedOutEverywhere,
        now,
        meta,
        &format!("{revoked} sessions"),
    )
    .await;
    Ok(revoked)
}

/// `GET /api/security/events` for the caller.
pub async fn events_for_request(
    state: &AppState,
    headers: &HeaderMap,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<crate::api::EventsPage, AppError> {
    let user = current_user(state, headers).await?;
    audit::list(&state.pool, user, before, limit.unwrap_or(20)).await
}

/// The replacement backup code waiting for this session, handed out once.
pub async fn take_replacement_code(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<String>, AppError> {
    current_user(state, headers).await?;
    let token = cookies::session_token(headers, state.settings.cookie_domain.as_deref())
        .ok_or(AppError::NotSignedIn)?;
    sessions::take_replacement_code(&state.pool, &state.settings.key, &token).await
}

/// `GET /api/devices`: the caller's trusted browsers, this one marked.
pub async fn devices_for_request(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Vec<crate::api::TrustedDevice>, AppError> {
    let user = current_user(state, headers).await?;
    let current = cookies::device_token(headers);
    devices::list(&state.pool, user, current.as_ref(), state.clock.now()).await
}

/// Forgets one trusted device of the caller, or all of them.
pub async fn revoke_devices(
    state: &AppState,
    headers: &HeaderMap,
    req: crate::api::RevokeDevicesRequest,
    meta: &ClientMeta,
) -> Result<u32, AppError> {
    let user = current_user(state, headers).await?;
    let target = match (req.id, req.all) {
        (Some(id), false) => Some(id),
        (None, true) => None,
        _ => {
            return Err(AppError::validation(
                "id",
                "Give either a device id or \"all\": true.",
            ));
        }
    };
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(|e| internal("acquire", e))?;
    let revoked = devices::revoke(&mut conn, user, target).await?;
    if target.is_some() && revoked == 0 {
        return Err(AppError::NotFound);
    }
    let now = state.clock.now();
    let detail = format!("{revoked} devices");
    audit::record(
        &state.pool,
        Some(user),
        EventKind::DeviceRevoked,
        now,
        meta,
        &detail,
    )
    .await;
    Ok(revoked)
}
