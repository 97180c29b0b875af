//! Browser sessions: a random 256-bit token in a cookie, only its SHA-256 in
//! the database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use sqlx::AnyPool;

use crate::api::display::device_label;
use crate::api::{AppError, SessionInfo};
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::crypto::SecretKey;
use crate::backend::{AppState, ClientMeta, UserId, internal};

pub const SESSION_TTL_S: i64 = 24 * 60 * 60;
/// The default idle timeout (`--session-idle-timeout`).
pub const DEFAULT_IDLE_S: i64 = 12 * 60 * 60;
pub const REMEMBER_ME_TTL_S: i64 = 30 * 24 * 60 * 60;

/// The session token as the browser holds it. Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        SessionToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn from_cookie(value: &str) -> Self {
        SessionToken(value.to_string())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database stores and looks up.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// A new session and how long its cookie should live.
#[derive(Debug)]
pub struct NewSession {
    pub user: UserId,
    pub token: SessionToken,
    pub ttl_s: i64,
    /// Whether the cookie should outlive the browser (remember me).
    pub persistent: bool,
}

/// What a session's holder proved when it began (or last re-proved), in
/// RFC 8176 terms: OpenID Connect apps are told it as `amr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The password alone; a trusted device skips the code but proves
    /// nothing in this session.
    Password,
    /// The password and a one-time code (authenticator app, backup code,
    /// emailed code).
    PasswordAndCode,
    /// The password and a passkey or security key (`synced`: a passkey kept
    /// in a cloud keychain, a software key in RFC 8176's words).
    PasswordAndKey { synced: bool },
    /// A passkey with user verification alone: two factors in one.
    Key { synced: bool },
}

impl Proof {
    /// Whether a second factor was proven.
    pub fn two_factor(self) -> bool {
        self != Proof::Password
    }

    /// The RFC 8176 `amr` values, separated by spaces.
    pub fn amr(self) -> &'static str {
        match self {
            Proof::Password => "pwd",
            Proof::PasswordAndCode => "pwd otp mfa",
            Proof::PasswordAndKey { synced: true } => "pwd swk mfa",
            Proof::PasswordAndKey { synced: false } => "pwd hwk mfa",
            Proof::Key { synced: true } => "swk mfa",
            Proof::Key { synced: false } => "hwk mfa",
        }
    }
}

/// A remember-me session lasts 30 days, but still ends after a week unused.
pub const REMEMBER_ME_IDLE_S: i64 = 7 * 24 * 60 * 60;

/// Starts a session after `proof` (a password, perhaps with a second
/// factor; or a passkey alone). Its address is remembered as one the owner
/// signs in from.
pub async fn create(
    state: &crate::backend::AppState,
    user: UserId,
    remember_me: bool,
    proof: Proof,
    now: UnixTime,
    meta: &ClientMeta,
) -> Result<NewSession, AppError> {
    let mut tx = crate::backend::infra::db::begin_write(&state.writer).await?;
    let session = create_in(&mut tx, state, user, remember_me, proof, now, meta);
    tx.commit().await?;
    Ok(session)
}

/// [`create`] inside the caller's write transaction.
pub fn create_in(
    tx: &mut crate::backend::infra::db::WriteTx,
    state: &crate::backend::AppState,
    user: UserId,
    remember_me: bool,
    proof: Proof,
    now: UnixTime,
    meta: &ClientMeta,
) -> NewSession {
    let token = SessionToken::generate();
    let (ttl_s, idle_s) = if remember_me {
        (REMEMBER_ME_TTL_S, REMEMBER_ME_IDLE_S)
    } else {
        (SESSION_TTL_S, state.settings.session_idle_s)
    };
    // Nothing reads the new row inside the transaction: it waits with the
    // other deferred writes (the token is random, so the insert cannot
    // conflict).
    tx.later
        .add(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at, ip,
             user_agent, password_at, factor_at, idle_timeout_s, amr)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(token.hash())
        .bind(user.0)
        .bind(now)
        .bind(now + ttl_s)
        .bind(now)
        .bind(meta.ip.clone())
        .bind(meta.user_agent.clone())
        .bind(now)
        .bind(proof.two_factor().then_some(now))
        .bind(idle_s)
        .bind(proof.amr().to_string());
    crate::backend::auth::owners::remember(&mut tx.later, user, meta, now);
    NewSession {
        user,
        token,
        ttl_s,
        persistent: remember_me,
    }
}

/// A new token for the session (after re-authentication, ASVS 7.2.4): a
/// token seen before the proof opens nothing after it. The cookie keeps the
/// session's kind and expiry.
pub async fn rotate(pool: &AnyPool, id: i64, now: UnixTime) -> Result<NewSession, AppError> {
    let token = SessionToken::generate();
    let (user, created_at, expires_at): (i64, i64, i64) = sqlx::query_as(
        "UPDATE sessions SET token_hash = $1, replacement_code_enc = NULL WHERE id = $2
         RETURNING user_id, created_at, expires_at",
    )
    .bind(token.hash())
    .bind(id)
    .fetch_one(pool)
    .await
    .map_err(|e| internal("rotating a session token", e))?;
    Ok(NewSession {
        user: UserId(user),
        token,
        ttl_s: (expires_at - now).max(0),
        persistent: expires_at - created_at > SESSION_TTL_S,
    })
}

/// SQL condition for "not idle for longer than its timeout": parameter 3 is
/// now, 4 the default idle timeout for sessions made before it was stored
/// (both queries using it bind two parameters before).
const NOT_IDLE: &str = "last_seen_at > $3 - COALESCE(idle_timeout_s, $4)";

/// "Last seen" is refreshed at most this often, so reads stay reads.
const LAST_SEEN_GRANULARITY_S: i64 = 60;

/// A live session as the request's cookie names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub id: i64,
    pub user: UserId,
    /// Last time this session proved the password, and a second factor.
    pub password_at: Option<UnixTime>,
    pub factor_at: Option<UnixTime>,
}

/// The live session holding `token`, or `None` when it is unknown or expired.
pub async fn find(
    state: &AppState,
    token: &SessionToken,
    now: UnixTime,
) -> Result<Option<Live>, AppError> {
    let found = find_with_identity(state, token, now).await?;
    Ok(found.map(|(live, _, _)| live))
}

async fn refresh_last_seen(
    pool: &AnyPool,
    id: i64,
    last_seen: UnixTime,
    now: UnixTime,
) -> Result<(), AppError> {
    if now - last_seen >= LAST_SEEN_GRANULARITY_S {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(pool)
            .await
            .map_err(|e| internal("refreshing last seen", e))?;
    }
    Ok(())
}

/// [`find`] and who the session is (email, stored role) in one query: the
/// forward-auth check asks on every request of every protected app, so on
/// SQLite this read goes straight into the file (`infra::direct`).
pub async fn find_with_identity(
    state: &AppState,
    token: &SessionToken,
    now: UnixTime,
) -> Result<Option<(Live, String, String)>, AppError> {
    type Row = (i64, i64, i64, Option<i64>, Option<i64>, String, String);
    let sql = format!(
        "SELECT s.id, s.user_id, s.last_seen_at, s.password_at, s.factor_at, u.email, u.role
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.{NOT_IDLE}"
    );
    let context = "looking up a session";
    let idle = state.settings.session_idle_s;
    let args = [token.hash().into(), now.into(), now.into(), idle.into()];
    let row: Option<Row> = state.read_row(context, &sql, &args).await?;
    let Some((id, user, last_seen, password_at, factor_at, email, role)) = row else {
        return Ok(None);
    };
    refresh_last_seen(&state.pool, id, last_seen, now).await?;
    let live = Live {
        id,
        user: UserId(user),
        password_at,
        factor_at,
    };
    Ok(Some((live, email, role)))
}

/// Records a second factor proven in the session without the password
/// again (confirming a new authenticator is such a proof): `proof` says
/// which (the password was proven when the session began).
pub async fn mark_factor(
    pool: &AnyPool,
    id: i64,
    proof: Proof,
    now: UnixTime,
) -> Result<(), AppError> {
    sqlx::query("UPDATE sessions SET factor_at = $1, amr = $2 WHERE id = $3")
        .bind(now)
        .bind(proof.amr())
        .bind(id)
        .execute(pool)
        .await
        .map_err(|e| internal("recording a proven factor", e))?;
    Ok(())
}

/// Records a fresh proof in the session: the password, and a factor if given.
pub async fn mark_proven(
    pool: &AnyPool,
    id: i64,
    proof: Proof,
    now: UnixTime,
) -> Result<(), AppError> {
    // A password alone keeps what the session proved before (its factor).
    sqlx::query(
        "UPDATE sessions SET password_at = $1,
         factor_at = CASE WHEN $2 THEN $3 ELSE factor_at END,
         amr = CASE WHEN $4 THEN $5 ELSE amr END
         WHERE id = $6",
    )
    .bind(now)
    .bind(proof.two_factor())
    .bind(now)
    .bind(proof.two_factor())
    .bind(proof.amr())
    .bind(id)
    .execute(pool)
    .await
    .map_err(|e| internal("recording re-authentication", e))?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: i64,
    token_hash: Vec<u8>,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: i64,
    last_seen_at: i64,
}

/// The user's live sessions, most recently used first; `current` marks the
/// one holding `token`.
pub async fn list(
    pool: &AnyPool,
    user: UserId,
    token: &SessionToken,
    now: UnixTime,
    default_idle_s: i64,
) -> Result<Vec<SessionInfo>, AppError> {
    let rows: Vec<SessionRow> = sqlx::query_as(&format!(
        "SELECT id, token_hash, ip, user_agent, created_at, last_seen_at FROM sessions
         WHERE user_id = $1 AND expires_at > $2 AND {NOT_IDLE}
         ORDER BY last_seen_at DESC, id DESC"
    ))
    .bind(user.0)
    .bind(now)
    .bind(now)
    .bind(default_idle_s)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("listing sessions", e))?;
    let mine = token.hash();
    Ok(rows
        .into_iter()
        .map(|r| SessionInfo {
            id: r.id,
            device: device_label(r.user_agent.as_deref()),
            ip: r.ip,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            current: r.token_hash == mine,
        })
        .collect())
}

/// Ends one of the user's sessions; `false` if it is not theirs or gone.
pub async fn revoke(pool: &AnyPool, user: UserId, id: i64) -> Result<bool, AppError> {
    let done = sqlx::query("DELETE FROM sessions WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user.0)
        .execute(pool)
        .await
        .map_err(|e| internal("revoking a session", e))?;
    Ok(done.rows_affected() == 1)
}

/// Ends every session of the user, except the one holding `keep` if given.
pub async fn revoke_all(
    db: &mut sqlx::AnyConnection,
    user: UserId,
    keep: Option<&SessionToken>,
) -> Result<u32, AppError> {
    let done =
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2")
            .bind(user.0)
            .bind(keep.map(SessionToken::hash))
            .execute(db)
            .await
            .map_err(|e| internal("revoking sessions", e))?;
    Ok(u32::try_from(done.rows_affected()).unwrap_or(u32::MAX))
}

fn replacement_context(session_token: &SessionToken) -> Vec<u8> {
    let mut c = b"twofold/replacement-code/".to_vec();
    c.extend_from_slice(&session_token.hash());
    c
}

/// Keeps a replacement backup code for the session to show once.
pub async fn hold_replacement_code(
    pool: &AnyPool,
    key: &SecretKey,
    token: &SessionToken,
    code: &str,
) -> Result<(), AppError> {
    sqlx::query("UPDATE sessions SET replacement_code_enc = $1 WHERE token_hash = $2")
        .bind(key.seal(code.as_bytes(), &replacement_context(token)))
        .bind(token.hash())
        .execute(pool)
        .await
        .map_err(|e| internal("holding a replacement code", e))?;
    Ok(())
}

/// Hands out the held replacement code, once: only the caller whose UPDATE
/// clears the very value it read gets it.
pub async fn take_replacement_code(
    pool: &AnyPool,
    key: &SecretKey,
    token: &SessionToken,
) -> Result<Option<String>, AppError> {
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT replacement_code_enc FROM sessions WHERE token_hash = $1")
            .bind(token.hash())
            .fetch_optional(pool)
            .await
            .map_err(|e| internal("reading a replacement code", e))?
            .flatten();
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let cleared = sqlx::query(
        "UPDATE sessions SET replacement_code_enc = NULL
         WHERE token_hash = $1 AND replacement_code_enc = $2",
    )
    .bind(token.hash())
    .bind(&sealed)
    .execute(pool)
    .await
    .map_err(|e| internal("clearing a replacement code", e))?;
    if cleared.rows_affected() != 1 {
        return Ok(None);
    }
    let plain = key
        .open(&sealed, &replacement_context(token))
        .map_err(|e| internal("opening a replacement code", e))?;
    Ok(Some(String::from_utf8_lossy(&plain).into_owned()))
}

/// Deletes the session row; a token that is already gone is fine.
pub async fn delete(pool: &AnyPool, token: &SessionToken) -> Result<Option<UserId>, AppError> {
    let row: Option<(i64,)> =
        sqlx::query_as("DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id")
            .bind(token.hash())
            .fetch_optional(pool)
            .await
            .map_err(|e| internal("deleting a session", e))?;
    Ok(row.map(|(id,)| UserId(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_distinct() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a, b);
        let raw = URL_SAFE_NO_PAD.decode(a.expose()).unwrap_or_default();
        assert_eq!(raw.len(), 32);
    }

    #[test]
    fn stored_hash_is_sha256_of_the_cookie_value() {
        let t = SessionToken::from_cookie("abc");
        assert_eq!(
            hex::encode(t.hash()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(t.hash(), SessionToken::from_cookie("abd").hash());
    }

    #[test]
    fn debug_redacts_the_token() {
        let t = SessionToken::from_cookie("very-secret-token");
        assert!(!format!("{t:?}").contains("very-secret"));
    }
}
