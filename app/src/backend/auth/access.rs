//! Who may do what: a signed-in session, the MFA policy's enrolment gate,
//! the admin role, and the re-authentication window for sensitive actions
//! (OWASP MFA cheat sheet, ASVS 7.5.1).

use http::HeaderMap;

use crate::api::{AppError, MfaState, ReauthRequest, ReauthStatus, Role};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::sessions::{self, Live};
use crate::backend::infra::clock::UnixTime;
use crate::backend::policy::{self, Standing};
use crate::backend::{AppState, ClientMeta, UserId, auth::cookies, factors::mfa, internal};

/// How long a proof of password (and factor) keeps sensitive actions open.
pub const REAUTH_WINDOW_S: i64 = 10 * 60;

/// The live session the request carries, with no other check. Only for what
/// an account must always reach: who am I, and enrolment itself.
pub async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Live, AppError> {
    let token = cookies::session_token(headers, state.settings.cookie_domain.as_deref())
        .ok_or(AppError::NotSignedIn)?;
    sessions::find(state, &token, state.clock.now())
        .await?
        .ok_or(AppError::NotSignedIn)
}

/// A signed-in caller allowed to use the app: past its enrolment deadline, an
/// account can do nothing but enrol.
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Live, AppError> {
    let live = signed_in(state, headers).await?;
    match policy::standing_of(&state.pool, live.user, state.clock.now()).await? {
        Standing::EnrolOnly { .. } => Err(AppError::EnrolmentRequired),
        Standing::Free | Standing::Grace { .. } => Ok(live),
    }
}

/// A caller with the admin role; anyone else gets 403.
pub async fn admin(state: &AppState, headers: &HeaderMap) -> Result<Live, AppError> {
    let live = caller(state, headers).await?;
    if role_of(state, live.user).await? != Role::Admin {
        return Err(AppError::Forbidden);
    }
    Ok(live)
}

pub async fn role_of(state: &AppState, user: UserId) -> Result<Role, AppError> {
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_optional(&state.pool)
        .await
        .map_err(|e| internal("reading a role", e))?
        .ok_or(AppError::NotSignedIn)?;
    Role::parse(&role).ok_or_else(|| internal("unknown role in database", &role))
}

fn within(at: Option<UnixTime>, now: UnixTime) -> bool {
    at.is_some_and(|t| now - t < REAUTH_WINDOW_S && t <= now)
}

/// The rule: the password within the window and, with MFA on, a second
/// factor within the window too. The session's age does not matter.
pub fn is_fresh(live: &Live, mfa_on: bool, now: UnixTime) -> bool {
    within(live.password_at, now) && (!mfa_on || within(live.factor_at, now))
}

pub fn password_fresh(live: &Live, now: UnixTime) -> bool {
    within(live.password_at, now)
}

pub fn factor_fresh(live: &Live, now: UnixTime) -> bool {
    within(live.factor_at, now)
}

/// Refuses with `ReauthRequired` unless the session proved itself recently.
pub async fn require_fresh(state: &AppState, live: &Live) -> Result<(), AppError> {
    let now = state.clock.now();
    let mfa_on = mfa::state_of(&state.pool, live.user, now).await? == MfaState::Enabled;
    if is_fresh(live, mfa_on, now) {
        Ok(())
    } else {
        Err(AppError::ReauthRequired)
    }
}

/// `POST /api/auth/reauth`: the password again and, with MFA on, a current
/// TOTP or backup code. Failures count toward the account's lockout.
/// A success also gives the session a new token (ASVS 5.0 7.2.4): the
/// caller must set it as the session cookie.
pub async fn reauthenticate(
    state: &AppState,
    headers: &HeaderMap,
    req: ReauthRequest,
    meta: &ClientMeta,
) -> Result<(ReauthStatus, sessions::NewSession), AppError> {
    // Past an enrolment deadline, re-authentication must stay open: enrolling
    // needs it.
    let live = signed_in(state, headers).await?;
    let now = state.clock.now();
    let mfa_on = mfa::state_of(&state.pool, live.user, now).await? == MfaState::Enabled;
    let code = req.code.filter(|c| !c.trim().is_empty());
    if mfa_on && code.is_none() {
        return Err(AppError::validation(
            "code",
            "Enter a code from your authenticator app, or a backup code.",
        ));
    }
    mfa::check_password(state, live.user, req.password, meta, "re-authentication").await?;
    if let Some(code) = code.filter(|_| mfa_on) {
        mfa::check_factor(
            state,
            live.user,
            mfa::method_of_code(&code),
            &code,
            meta,
            mfa::Asker::Session,
        )
        .await?;
    }
    let proof = if mfa_on {
        sessions::Proof::PasswordAndCode
    } else {
        sessions::Proof::Password
    };
    sessions::mark_proven(&state.pool, live.id, proof, now).await?;
    let token = sessions::rotate(&state.pool, live.id, now).await?;
    audit::record(
        &state.pool,
        Some(live.user),
        EventKind::Reauthenticated,
        now,
        meta,
        if mfa_on {
            "password and code"
        } else {
            "password"
        },
    )
    .await;
    Ok((
        ReauthStatus {
            fresh_until: now + REAUTH_WINDOW_S,
        },
        token,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn live(password_at: Option<i64>, factor_at: Option<i64>) -> Live {
        Live {
            id: 1,
            user: UserId(1),
            password_at,
            factor_at,
        }
    }

    #[test]
    fn window_is_ten_minutes_whatever_the_session_age() {
        let fresh = live(Some(NOW - REAUTH_WINDOW_S + 1), Some(NOW - 5));
        assert!(is_fresh(&fresh, true, NOW));
        let stale = live(Some(NOW - REAUTH_WINDOW_S), Some(NOW));
        assert!(!is_fresh(&stale, false, NOW));
        assert!(!is_fresh(&live(None, None), false, NOW));
    }

    #[test]
    fn with_mfa_on_a_fresh_factor_is_needed_too() {
        // A trusted-device sign-in proves the password only.
        let password_only = live(Some(NOW), None);
        assert!(is_fresh(&password_only, false, NOW));
        assert!(!is_fresh(&password_only, true, NOW));
        let old_factor = live(Some(NOW), Some(NOW - REAUTH_WINDOW_S - 1));
        assert!(!is_fresh(&old_factor, true, NOW));
    }

    #[test]
    fn a_proof_from_the_future_does_not_count() {
        assert!(!is_fresh(&live(Some(NOW + 60), Some(NOW + 60)), true, NOW));
    }
}
