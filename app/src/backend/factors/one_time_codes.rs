//! Codes sent to the person (by email, by text message): 6 digits from the
//! OS CSPRNG, one live code per account and channel (a new one replaces
//! it), valid 10 minutes, at most 5 tries, stored as keyed hashes bound to
//! the account, single use. The rules are the same whatever carries the
//! code, so they live here once.

use rand::Rng;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;

use crate::api::AppError;
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::crypto::SecretKey;
use crate::backend::{UserId, internal};

pub const CODE_TTL_S: i64 = 10 * 60;
pub const TRIES_PER_CODE: i64 = 5;

/// Where a code goes: each channel has its own table (same shape) and its
/// own hash purpose, so a code by email never answers for a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Sms,
}

impl Channel {
    fn purpose(self) -> &'static [u8] {
        match self {
            Channel::Email => b"twofold/email-codes/v1",
            Channel::Sms => b"twofold/sms-codes/v1",
        }
    }

    // Table names come from this closed list, never from input.
    fn table(self) -> &'static str {
        match self {
            Channel::Email => "email_codes",
            Channel::Sms => "sms_codes",
        }
    }
}

pub fn new_code() -> String {
    format!("{:06}", OsRng.gen_range(0..1_000_000u32))
}

pub fn hash(key: &SecretKey, channel: Channel, user: UserId, code: &str) -> Vec<u8> {
    key.keyed_hash(channel.purpose(), format!("{}:{code}", user.0).as_bytes())
}

/// Stores a new code for `user` on `channel`, replacing any live one (and
/// its count of tries), and returns it for the message.
pub async fn replace(
    conn: &mut sqlx::AnyConnection,
    key: &SecretKey,
    channel: Channel,
    user: UserId,
    now: UnixTime,
) -> Result<String, AppError> {
    let code = new_code();
    sqlx::query(&format!(
        "INSERT INTO {} (user_id, code_hash, expires_at, attempts) VALUES ($1, $2, $3, 0)
         ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash,
         expires_at = excluded.expires_at, attempts = 0",
        channel.table()
    ))
    .bind(user.0)
    .bind(hash(key, channel, user, &code))
    .bind(now + CODE_TTL_S)
    .execute(conn)
    .await
    .map_err(|e| internal("storing a one-time code", e))?;
    Ok(code)
}

/// Checks a typed code. Each try is counted before the comparison, in the
/// same statement that refuses expired codes and codes with 5 tries, so
/// racing guesses cannot exceed the tries; a match is consumed atomically
/// (racing requests with the right code: one wins).
pub async fn take(
    tx: &mut crate::backend::infra::db::WriteTx,
    key: &SecretKey,
    channel: Channel,
    user: UserId,
    code: &str,
    now: UnixTime,
) -> Result<bool, AppError> {
    let table = channel.table();
    let stored: Option<(Vec<u8>,)> = tx
        .row(
            "counting a code try",
            &format!(
                "UPDATE {table} SET attempts = attempts + 1
                 WHERE user_id = $1 AND attempts < $2 AND expires_at > $3 RETURNING code_hash"
            ),
            &[user.0.into(), TRIES_PER_CODE.into(), now.into()],
        )
        .await?;
    let Some((stored,)) = stored else {
        return Ok(false);
    };
    if !bool::from(hash(key, channel, user, code).ct_eq(&stored)) {
        return Ok(false);
    }
    let used = tx
        .execute(
            "using a code",
            &format!("DELETE FROM {table} WHERE user_id = $1 AND code_hash = $2"),
            &[user.0.into(), stored.into()],
        )
        .await?;
    Ok(used == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_bound_to_their_user_and_channel() {
        let code = new_code();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        let key = SecretKey::from_bytes([3; 32]);
        let email = |u| hash(&key, Channel::Email, UserId(u), "123456");
        assert_ne!(email(1), email(2));
        assert_ne!(email(1), hash(&key, Channel::Sms, UserId(1), "123456"));
    }
}
