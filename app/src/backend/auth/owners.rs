//! Telling the account's owner from a stranger, so a stranger's failures
//! cannot lock the owner out (what GitHub and Google do): a request is the
//! owner's when it carries a valid trusted-device cookie for the account, or
//! comes from an address (IPv4, or an IPv6 /64) that signed in to the account
//! within the last 30 days. The owner then draws from a budget of its own.

use sqlx::AnyPool;

use crate::api::AppError;
use crate::backend::auth::rate_limit::address_bucket;
use crate::backend::auth::sessions::SessionToken;
use crate::backend::infra::clock::UnixTime;
use crate::backend::{ClientMeta, UserId, factors::devices, internal};

/// How long a successful sign-in vouches for its address.
pub const KNOWN_FOR_S: i64 = 30 * 24 * 60 * 60;

/// Remembers the address of a successful sign-in.
pub fn remember(
    batch: &mut crate::backend::infra::db::Batch,
    user: UserId,
    meta: &ClientMeta,
    now: UnixTime,
) {
    let Some(ip) = &meta.ip else {
        return;
    };
    batch
        .add(
            "INSERT INTO known_addresses (user_id, address, last_success_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, address) DO UPDATE SET last_success_at = excluded.last_success_at",
        )
        .bind(user.0)
        .bind(address_bucket(ip))
        .bind(now);
}

/// Whether the request's address signed in to `user` within 30 days.
pub async fn known_address(
    pool: &AnyPool,
    user: UserId,
    meta: &ClientMeta,
    now: UnixTime,
) -> Result<bool, AppError> {
    let Some(ip) = &meta.ip else {
        return Ok(false);
    };
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM known_addresses WHERE user_id = $1 AND address = $2 AND last_success_at > $3",
    )
    .bind(user.0)
    .bind(address_bucket(ip))
    .bind(now - KNOWN_FOR_S)
    .fetch_optional(pool)
    .await
    .map_err(|e| internal("reading sign-in addresses", e))?;
    Ok(found.is_some())
}

/// The rule for password sign-in: a trusted device of this account, or a
/// known address.
pub async fn is_owner(
    pool: &AnyPool,
    user: UserId,
    device: Option<&SessionToken>,
    meta: &ClientMeta,
    now: UnixTime,
) -> Result<bool, AppError> {
    if let Some(token) = device
        && devices::is_live(pool, user, token, now).await?
    {
        return Ok(true);
    }
    known_address(pool, user, meta, now).await
}
