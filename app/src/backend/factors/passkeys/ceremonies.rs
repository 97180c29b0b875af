//! WebAuthn ceremonies in progress. The challenge and what the server expects
//! back stay in a row of their own; the browser holds only a random token
//! naming it, in an HttpOnly cookie. A ceremony is used once (taken inside
//! the transaction that acts on it) and lives 5 minutes.

use crate::api::AppError;
use crate::backend::auth::sessions::SessionToken;
use crate::backend::infra::clock::UnixTime;
use crate::backend::{UserId, internal};

pub const CEREMONY_TTL_S: i64 = 5 * 60;
pub const CEREMONY_COOKIE: &str = "twofold_webauthn";

/// Ceremonies one client address may have open at once: each sign-in page
/// opens one (for the autofill), an office behind one address opens many;
/// nobody anonymous may fill the database with them.
pub const LIVE_PER_ADDRESS: i64 = 100;

/// What a ceremony is for; a ceremony of one kind never completes another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Adding a passkey to the signed-in account.
    Register,
    /// Signing in with a passkey alone.
    SignIn,
    /// A passkey as the second factor at the sign-in challenge.
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "Register",
            Purpose::SignIn => "SignIn",
            Purpose::SecondFactor => "SecondFactor",
        }
    }
}

/// Stores a new ceremony; its token goes into the cookie. Refused with 429
/// when the address already has [`LIVE_PER_ADDRESS`] open, decided in the
/// insert itself so racing requests cannot open more.
pub async fn open(
    db: impl sqlx::Executor<'_, Database = sqlx::Any>,
    purpose: Purpose,
    user: Option<UserId>,
    state: &str,
    address: Option<&str>,
    now: UnixTime,
) -> Result<SessionToken, AppError> {
    let token = SessionToken::generate();
    let done = sqlx::query(
        "INSERT INTO webauthn_ceremonies (token_hash, purpose, user_id, state, address, expires_at)
         SELECT $1, $2, $3, $4, $5, $6
         WHERE $5 IS NULL OR (SELECT COUNT(*) FROM webauthn_ceremonies
                              WHERE address = $5 AND expires_at > $7) < $8",
    )
    .bind(token.hash())
    .bind(purpose.as_str())
    .bind(user.map(|u| u.0))
    .bind(state)
    .bind(address)
    .bind(now + CEREMONY_TTL_S)
    .bind(now)
    .bind(LIVE_PER_ADDRESS)
    .execute(db)
    .await
    .map_err(|e| internal("storing a WebAuthn ceremony", e))?;
    if done.rows_affected() != 1 {
        return Err(AppError::TooManyAttempts {
            retry_after_s: CEREMONY_TTL_S as u64,
        });
    }
    Ok(token)
}

/// A live ceremony: who it is for and its state.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub user: Option<UserId>,
    pub state: String,
}

/// Reads the live ceremony of `purpose` a token names, without using it up.
pub async fn peek(
    db: impl sqlx::Executor<'_, Database = sqlx::Any>,
    token: &SessionToken,
    purpose: Purpose,
    now: UnixTime,
) -> Result<Option<Ceremony>, AppError> {
    let row: Option<(Option<i64>, String)> = sqlx::query_as(
        "SELECT user_id, state FROM webauthn_ceremonies
         WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3",
    )
    .bind(token.hash())
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(db)
    .await
    .map_err(|e| internal("reading a WebAuthn ceremony", e))?;
    Ok(row.map(|(user, state)| Ceremony {
        user: user.map(UserId),
        state,
    }))
}

/// Uses the ceremony up: `true` for exactly one caller, however many race.
/// Called inside the transaction that acts on the ceremony's answer, so a
/// refused answer spends the challenge too.
pub async fn take(
    tx: &mut crate::backend::infra::db::WriteTx,
    token: &SessionToken,
    purpose: Purpose,
    now: UnixTime,
) -> Result<bool, AppError> {
    let done = tx
        .execute(
            "using a WebAuthn ceremony",
            "DELETE FROM webauthn_ceremonies
             WHERE token_hash = $1 AND purpose = $2 AND expires_at > $3",
            &[token.hash().into(), purpose.as_str().into(), now.into()],
        )
        .await?;
    Ok(done == 1)
}
