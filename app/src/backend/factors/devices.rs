//! Trusted devices: after a second factor with "trust this device", a
//! separate long-lived cookie lets the right password alone sign in on that
//! browser for 30 days. Never enough for step-up checks (disable MFA,
//! regenerate codes), which always ask for a code.

use sqlx::AnyPool;

use crate::api::display::device_label;
use crate::api::{AppError, TrustedDevice};
use crate::backend::auth::sessions::SessionToken;
use crate::backend::infra::clock::UnixTime;
use crate::backend::{ClientMeta, UserId, internal};

pub const DEVICE_TTL_S: i64 = 30 * 24 * 60 * 60;
pub const DEVICE_COOKIE: &str = "twofold_device";

/// Remembers this browser for `user`; the token goes into the device cookie.
pub async fn trust(
    pool: &AnyPool,
    user: UserId,
    now: UnixTime,
    meta: &ClientMeta,
) -> Result<(SessionToken, String), AppError> {
    let token = SessionToken::generate();
    let label = device_label(meta.user_agent.as_deref());
    sqlx::query(
        "INSERT INTO trusted_devices (token_hash, user_id, label, ip, created_at, expires_at, last_used_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token.hash())
    .bind(user.0)
    .bind(&label)
    .bind(meta.ip.as_deref())
    .bind(now)
    .bind(now + DEVICE_TTL_S)
    .bind(now)
    .execute(pool)
    .await
    .map_err(|e| internal("trusting a device", e))?;
    Ok((token, label))
}

/// Whether `token` is a live trusted device of `user`; marks it used.
pub async fn is_trusted(
    pool: &AnyPool,
    user: UserId,
    token: &SessionToken,
    now: UnixTime,
) -> Result<bool, AppError> {
    let done = sqlx::query(
        "UPDATE trusted_devices SET last_used_at = $1
         WHERE token_hash = $2 AND user_id = $3 AND expires_at > $4",
    )
    .bind(now)
    .bind(token.hash())
    .bind(user.0)
    .bind(now)
    .execute(pool)
    .await
    .map_err(|e| internal("checking a trusted device", e))?;
    Ok(done.rows_affected() == 1)
}

/// Whether `token` is a live trusted device of `user` (a read: see
/// `owners::is_owner`).
pub async fn is_live(
    pool: &AnyPool,
    user: UserId,
    token: &SessionToken,
    now: UnixTime,
) -> Result<bool, AppError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM trusted_devices WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3",
    )
    .bind(token.hash())
    .bind(user.0)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(|e| internal("checking a trusted device", e))?;
    Ok(found.is_some())
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: i64,
    token_hash: Vec<u8>,
    label: String,
    ip: Option<String>,
    created_at: i64,
    expires_at: i64,
    last_used_at: i64,
}

pub async fn list(
    pool: &AnyPool,
    user: UserId,
    current: Option<&SessionToken>,
    now: UnixTime,
) -> Result<Vec<TrustedDevice>, AppError> {
    let rows: Vec<DeviceRow> = sqlx::query_as(
        "SELECT id, token_hash, label, ip, created_at, expires_at, last_used_at FROM trusted_devices
         WHERE user_id = $1 AND expires_at > $2 ORDER BY last_used_at DESC, id DESC",
    )
    .bind(user.0)
    .bind(now)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("listing trusted devices", e))?;
    let mine = current.map(SessionToken::hash);
    Ok(rows
        .into_iter()
        .map(|r| TrustedDevice {
            id: r.id,
            label: r.label,
            ip: r.ip,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            current: mine.as_ref() == Some(&r.token_hash),
        })
        .collect())
}

pub async fn count(pool: &AnyPool, user: UserId, now: UnixTime) -> Result<u32, AppError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM trusted_devices WHERE user_id = $1 AND expires_at > $2",
    )
    .bind(user.0)
    .bind(now)
    .fetch_one(pool)
    .await
    .map_err(|e| internal("counting trusted devices", e))?;
    Ok(u32::try_from(n).unwrap_or(0))
}

/// Forgets one device (`Some(id)`) or all of them; returns how many.
pub async fn revoke(
    conn: &mut sqlx::AnyConnection,
    user: UserId,
    id: Option<i64>,
) -> Result<u32, AppError> {
    let done = match id {
        Some(id) => sqlx::query("DELETE FROM trusted_devices WHERE user_id = $1 AND id = $2")
            .bind(user.0)
            .bind(id),
        None => sqlx::query("DELETE FROM trusted_devices WHERE user_id = $1").bind(user.0),
    }
    .execute(&mut *conn)
    .await
    .map_err(|e| internal("revoking trusted devices", e))?;
    if id.is_none() {
        // Addresses vouch for the owner like devices do (`owners`): after a
        // password change or a reset, an intruder's address must not.
        sqlx::query("DELETE FROM known_addresses WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("forgetting sign-in addresses", e))?;
    }
    Ok(u32::try_from(done.rows_affected()).unwrap_or(u32::MAX))
}
