//! Registration, password sign-in and the signed-in account.

use http::HeaderMap;
use sqlx::SqlitePool;

use super::audit::{self, EventKind};
use super::passwords::{self, Password, PasswordHashString};
use super::sessions::{self, NewSession};
use super::{AppState, ClientMeta, UserId, cookies, internal, validation};
use crate::api::{AppError, LoginOutcome, LoginRequest, Me, MfaState, RegisterRequest, Role};

/// Creates the account and signs it in.
pub async fn register(
    state: &AppState,
    req: RegisterRequest,
    meta: &ClientMeta,
) -> Result<(UserId, NewSession), AppError> {
    let email = validation::normalize_email(&req.email)?;
    validation::check_password(&req.password, &email)?;
    let hash = passwords::hash(Password::new(req.password)).await?;
    let now = state.clock.now();
    let inserted = sqlx::query_as::<_, (i64,)>(
        "INSERT INTO users (email, password_hash, created_at) VALUES (?, ?, ?)
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(&email)
    .bind(&hash.0)
    .bind(now)
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| internal("inserting a user", e))?;
    let Some((id,)) = inserted else {
        return Err(AppError::EmailTaken);
    };
    let user = UserId(id);
    audit::record(
        &state.pool,
        Some(user),
        EventKind::Registered,
        now,
        meta,
        "",
    )
    .await;
    let session = sessions::create(&state.pool, user, false, now, meta).await?;
    Ok((user, session))
}

/// Checks the password. Unknown emails are verified against a dummy hash so the
/// answer (status, body and time) is the same as for a wrong password.
pub async fn login(
    state: &AppState,
    req: LoginRequest,
    meta: &ClientMeta,
) -> Result<(LoginOutcome, NewSession), AppError> {
    let now = state.clock.now();
    // A malformed email cannot match an account; treat it like an unknown one
    // rather than answering differently.
    let email = validation::normalize_email(&req.email).ok();
    let row = match &email {
        Some(email) => find_credentials(&state.pool, email).await?,
        None => None,
    };
    let (user, hash) = match row {
        Some((id, hash)) => (Some(UserId(id)), PasswordHashString(hash)),
        None => (None, state.dummy_hash.clone()),
    };
    let ok = passwords::verify(Password::new(req.password), hash).await?;
    match (user, ok) {
        (Some(user), true) => {
            let session = sessions::create(&state.pool, user, req.remember_me, now, meta).await?;
            audit::record(
                &state.pool,
                Some(user),
                EventKind::LoginSucceeded,
                now,
                meta,
                "",
            )
            .await;
            Ok((LoginOutcome::SignedIn, session))
        }
        (user, _) => {
            audit::record(
                &state.pool,
                user,
                EventKind::LoginFailed,
                now,
                meta,
                "wrong password",
            )
            .await;
            Err(AppError::InvalidCredentials)
        }
    }
}

async fn find_credentials(
    pool: &SqlitePool,
    email: &str,
) -> Result<Option<(i64, String)>, AppError> {
    sqlx::query_as("SELECT id, password_hash FROM users WHERE email = ?")
        .bind(email)
        .fetch_optional(pool)
        .await
        .map_err(|e| internal("looking up credentials", e))
}

/// Ends the session the request carries, if any.
pub async fn logout(
    state: &AppState,
    headers: &HeaderMap,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    if let Some(token) = cookies::session_token(headers) {
        let user = sessions::delete(&state.pool, &token).await?;
        if user.is_some() {
            audit::record(
                &state.pool,
                user,
                EventKind::LoggedOut,
                state.clock.now(),
                meta,
                "",
            )
            .await;
        }
    }
    Ok(())
}

/// The user whose live session the request carries.
pub async fn current_user(state: &AppState, headers: &HeaderMap) -> Result<UserId, AppError> {
    let token = cookies::session_token(headers).ok_or(AppError::NotSignedIn)?;
    sessions::user_for(&state.pool, &token, state.clock.now())
        .await?
        .ok_or(AppError::NotSignedIn)
}

pub async fn me(state: &AppState, user: UserId) -> Result<Me, AppError> {
    let row: Option<(String, String, String)> =
        sqlx::query_as("SELECT email, role, mfa_state FROM users WHERE id = ?")
            .bind(user.0)
            .fetch_optional(&state.pool)
            .await
            .map_err(|e| internal("loading the account", e))?;
    let (email, role, mfa) = row.ok_or(AppError::NotSignedIn)?;
    Ok(Me {
        email,
        role: Role::parse(&role).ok_or_else(|| internal("unknown role in database", &role))?,
        mfa: MfaState::parse(&mfa)
            .ok_or_else(|| internal("unknown MFA state in database", &mfa))?,
        backup_codes_left: 0,
        trusted_devices: 0,
    })
}

/// `GET /api/me` for the request's session.
pub async fn me_for_request(state: &AppState, headers: &HeaderMap) -> Result<Me, AppError> {
    let user = current_user(state, headers).await?;
    me(state, user).await
}
