//! Telling the account's owner from a stranger, so a stranger's failures
//! cannot lock the owner out (what GitHub and Google do): a request is the
//! owner's when it carries a valid trusted-device cookie for the account, or
//! comes from an address (IPv4, or an IPv6 /64) that signed in to the account
//! within the last 30 days. The owner then draws from a budget of its own.

use crate::api::AppError;
use crate::backend::auth::rate_limit::address_bucket;
use crate::backend::auth::sessions::SessionToken;
use crate::backend::infra::clock::UnixTime;
use crate::backend::{AppState, ClientMeta, UserId, factors::devices};

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
    state: &AppState,
    user: UserId,
    meta: &ClientMeta,
    now: UnixTime,
) -> Result<bool, AppError> {
    let Some(ip) = &meta.ip else {
        return Ok(false);
    };
    let found: Option<(i64,)> = state
        .read_row(
            "reading sign-in addresses",
            "SELECT 1 FROM known_addresses
             WHERE user_id = $1 AND address = $2 AND last_success_at > $3",
            &[
                user.0.into(),
                address_bucket(ip).into(),
                (now - KNOWN_FOR_S).into(),
            ],
        )
        .await?;
    Ok(found.is_some())
}

/// The rule for password sign-in: a trusted device of this account, or a
/// known address.
pub async fn is_owner(
    state: &AppState,
    user: UserId,
    device: Option<&SessionToken>,
    meta: &ClientMeta,
    now: UnixTime,
) -> Result<bool, AppError> {
    if let Some(token) = device
        && devices::is_live(&state.pool, user, token, now).await?
    {
        return Ok(true);
    }
    known_address(state, user, meta, now).await
}
