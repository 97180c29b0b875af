//! Phones as a second factor: codes by text message (SMS), the weakest
//! factor after email (SIM swaps, interception), offered because people ask
//! for it. A number is added with a texted 6-digit code; at the sign-in
//! challenge "Text me a code" sends one. Codes: 6 digits, 10 minutes, one
//! live code a purpose (a new one replaces it), 5 tries, keyed-hashed.
//!
//! Texts cost money, so sends are limited before anything is sent, in one
//! statement (racing requests cannot slip past): 3 an hour per account,
//! [`SENDS_PER_ADDRESS_HOUR`] per client address, `--sms-daily-cap` for the
//! whole server (SMS pumping fraud).

use phonenumber::{Mode, PhoneNumber};
use subtle::ConstantTimeEq;

use crate::api::{AppError, BackupCodes, MfaState, PhoneStarted, SmsCodeSent};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::access;
use crate::backend::auth::rate_limit;
use crate::backend::auth::sessions::Live;
use crate::backend::factors::one_time_codes::{self, Channel, new_code};
use crate::backend::factors::{mfa, named};
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::crypto::SecretKey;
use crate::backend::infra::db;
use crate::backend::{AppState, ClientMeta, UserId, internal};

pub use one_time_codes::{CODE_TTL_S, TRIES_PER_CODE};
pub const SENDS_PER_HOUR: i64 = 3;
pub const SENDS_PER_ADDRESS_HOUR: i64 = 10;

/// A number as typed, checked and in E.164 (`+447911123456`). Only full
/// international numbers: Twofold has no home country to guess from.
pub fn parse(raw: &str) -> Result<String, AppError> {
    let bad = || {
        AppError::validation(
            "phone",
            "Enter the full number with its country code, like +44 7911 123456.",
        )
    };
    let raw = raw.trim();
    // Digits and the usual separators only: the parser would skip other
    // characters, and a number with letters or quotes in it is a typo.
    let typed_like_a_number = raw
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
    if !raw.starts_with('+') || raw.len() > 32 || !typed_like_a_number {
        return Err(bad());
    }
    let number: PhoneNumber = phonenumber::parse(None, raw).map_err(|_| bad())?;
    if !phonenumber::is_valid(&number) {
        return Err(bad());
    }
    Ok(number.format().mode(Mode::E164).to_string())
}

/// A number as pages, mails and logs show it: the country code and the last
/// three digits, the rest hidden (`+44 •••• ••• 456`).
pub fn mask(e164: &str) -> String {
    let (country, national) = match phonenumber::parse(None, e164) {
        Ok(n) => (
            n.code().value().to_string(),
            n.national().value().to_string(),
        ),
        Err(_) => (
            String::new(),
            e164.chars().filter(char::is_ascii_digit).collect(),
        ),
    };
    let hidden = national.chars().count().saturating_sub(3);
    let last: String = national.chars().skip(hidden).collect();
    // Bullets in a group of four, then threes: the shape of a number,
    // none of its digits.
    let mut groups = Vec::new();
    let mut left = hidden;
    let mut size = 4;
    while left > 0 {
        let n = left.min(size);
        groups.push("•".repeat(n));
        left -= n;
        size = 3;
    }
    groups.push(last);
    format!("+{country} {}", groups.join(" "))
}

fn hash(key: &SecretKey, user: UserId, code: &str) -> Vec<u8> {
    one_time_codes::hash(key, Channel::Sms, user, code)
}

/// Whether texts can be used at all: a provider is set and the policy
/// allows phones.
pub async fn allowed(state: &AppState) -> Result<bool, AppError> {
    if !state.settings.sms.is_on() {
        return Ok(false);
    }
    Ok(crate::backend::policy::load(&state.pool).await?.allow_sms)
}

pub fn not_allowed() -> AppError {
    AppError::validation(
        "method",
        "Text messages are not available here. Use another method.",
    )
}

/// The account's phones (E.164), most recently used first.
pub async fn phones_of(state: &AppState, user: UserId) -> Result<Vec<String>, AppError> {
    sqlx::query_scalar(
        "SELECT p.phone FROM phone_factors p JOIN factors f ON f.id = p.factor_id
         WHERE f.user_id = $1 ORDER BY COALESCE(f.last_used_at, f.created_at) DESC, f.id",
    )
    .bind(user.0)
    .fetch_all(&state.pool)
    .await
    .map_err(|e| internal("reading phones", e))
}

/// Whether `user` can get sign-in codes by text now.
pub async fn offered(state: &AppState, user: UserId) -> Result<bool, AppError> {
    Ok(allowed(state).await? && !phones_of(state, user).await?.is_empty())
}

/// Counts one text against every limit, or refuses with how long to wait.
/// One statement decides, so N racing requests cannot get more through.
async fn reserve_send(
    state: &AppState,
    user: UserId,
    meta: &ClientMeta,
    now: UnixTime,
) -> Result<i64, AppError> {
    let address = meta
        .ip
        .as_deref()
        .map(rate_limit::address_bucket)
        .unwrap_or_else(|| "unknown".into());
    let mut tx = db::begin_write(&state.writer).await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO sms_sends (user_id, address, at) SELECT $1, $2, $3
         WHERE (SELECT COUNT(*) FROM sms_sends WHERE user_id = $1 AND at > $3 - 3600) < $4
           AND (SELECT COUNT(*) FROM sms_sends WHERE address = $2 AND at > $3 - 3600) < $5
           AND (SELECT COUNT(*) FROM sms_sends WHERE at > $3 - 86400) < $6
         RETURNING id",
    )
    .bind(user.0)
    .bind(&address)
    .bind(now)
    .bind(SENDS_PER_HOUR)
    .bind(SENDS_PER_ADDRESS_HOUR)
    .bind(state.settings.sms_daily_cap)
    .fetch_optional(tx.conn()?)
    .await
    .map_err(|e| internal("counting a text", e))?;
    if let Some(id) = id {
        tx.commit().await?;
        return Ok(id);
    }
    // Refused: wait until the oldest send of each full budget leaves it.
    let mut wait = 1;
    for (query, max, window) in [
        (
            sqlx::query_scalar(
                "SELECT at FROM sms_sends WHERE user_id = $1 AND at > $2
                 ORDER BY at DESC LIMIT 1 OFFSET $3",
            )
            .bind(user.0),
            SENDS_PER_HOUR,
            3600,
        ),
        (
            sqlx::query_scalar(
                "SELECT at FROM sms_sends WHERE address = $1 AND at > $2
                 ORDER BY at DESC LIMIT 1 OFFSET $3",
            )
            .bind(address.clone()),
            SENDS_PER_ADDRESS_HOUR,
            3600,
        ),
        (
            sqlx::query_scalar(
                "SELECT at FROM sms_sends WHERE $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET $3",
            )
            .bind(true),
            state.settings.sms_daily_cap,
            86_400,
        ),
    ] {
        let oldest_counted: Option<i64> = query
            .bind(now - window)
            .bind((max - 1).max(0))
            .fetch_optional(tx.conn()?)
            .await
            .map_err(|e| internal("reading text sends", e))?;
        if let Some(at) = oldest_counted {
            wait = wait.max(at + window - now);
        }
    }
    Err(AppError::TooManyAttempts {
        retry_after_s: u64::try_from(wait.max(1)).unwrap_or(1),
    })
}

/// A text that did not go out costs nothing: its count is given back, so a
/// provider's outage does not use up the person's hourly texts.
async fn refund(state: &AppState, send: i64) -> Result<(), AppError> {
    sqlx::query("DELETE FROM sms_sends WHERE id = $1")
        .bind(send)
        .execute(state.writer.pool())
        .await
        .map_err(|e| internal("giving back a text", e))?;
    Ok(())
}

/// Sends `text` to `phone` under the limits; the caller has stored the code.
async fn send_counted(
    state: &AppState,
    send: i64,
    phone: &str,
    text: &str,
) -> Result<(), AppError> {
    if state.settings.sms.send(phone, text).await.is_err() {
        refund(state, send).await?;
        return Err(AppError::SmsNotSent);
    }
    Ok(())
}

/// `POST /api/mfa/phone/start {phone, name}`: texts a code to a number to
/// add. Needs the password within the re-authentication window (and a
/// factor, when MFA is on), like adding an authenticator app.
pub async fn start(
    state: &AppState,
    live: &Live,
    phone: &str,
    name: &str,
    meta: &ClientMeta,
) -> Result<PhoneStarted, AppError> {
    let now = state.clock.now();
    let user = live.user;
    if !allowed(state).await? {
        return Err(not_allowed());
    }
    // Bad input first: it must not cost a text.
    let phone = parse(phone)?;
    let name = named::clean_name(name)?;
    if !access::password_fresh(live, now) {
        return Err(AppError::ReauthRequired);
    }
    let adding = mfa::state_of(&state.pool, user, now).await? == MfaState::Enabled;
    if adding && !access::is_fresh(live, true, now) {
        return Err(AppError::ReauthRequired);
    }
    if phones_of(state, user).await?.contains(&phone) {
        return Err(AppError::Conflict {
            message: "This number is already one of your factors.".into(),
        });
    }
    let send = reserve_send(state, user, meta, now).await?;
    let code = new_code();
    sqlx::query(
        "INSERT INTO phone_enrolments (user_id, phone, name, code_hash, expires_at, attempts)
         VALUES ($1, $2, $3, $4, $5, 0)
         ON CONFLICT (user_id) DO UPDATE SET phone = excluded.phone, name = excluded.name,
         code_hash = excluded.code_hash, expires_at = excluded.expires_at, attempts = 0",
    )
    .bind(user.0)
    .bind(&phone)
    .bind(&name)
    .bind(hash(&state.settings.key, user, &code))
    .bind(now + CODE_TTL_S)
    .execute(&state.pool)
    .await
    .map_err(|e| internal("storing a phone to confirm", e))?;
    let text = format!(
        "{code} is your {} code to add this phone. Do not share it.",
        state.settings.issuer
    );
    send_counted(state, send, &phone, &text).await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::SmsCodeSent,
        now,
        meta,
        &format!("to add {}", mask(&phone)),
    )
    .await;
    Ok(PhoneStarted {
        phone: mask(&phone),
        expires_in_s: CODE_TTL_S as u64,
    })
}

/// `POST /api/mfa/phone/confirm {code}`: the texted code adds the phone as
/// a factor. The first factor turns MFA on and makes backup codes.
pub async fn confirm(
    state: &AppState,
    live: &Live,
    code: &str,
    meta: &ClientMeta,
) -> Result<BackupCodes, AppError> {
    let now = state.clock.now();
    let user = live.user;
    if !allowed(state).await? {
        return Err(not_allowed());
    }
    let code = crate::backend::factors::totp::parse_code(code)
        .ok_or_else(|| AppError::validation("code", "Enter the 6-digit code from the text."))?;
    let scopes = mfa::with_address(rate_limit::Scope::SessionFactor(user.0), meta);
    let mut tx = db::begin_write(&state.writer).await?;
    let attempt = rate_limit::reserve_in(&mut tx, &state.settings.limits, &scopes, now).await?;
    // The try is counted in the statement that reads the code: racing
    // guesses cannot take more than 5.
    let pending: Option<(Vec<u8>, String, String)> = sqlx::query_as(
        "UPDATE phone_enrolments SET attempts = attempts + 1
         WHERE user_id = $1 AND attempts < $2 AND expires_at > $3
         RETURNING code_hash, phone, name",
    )
    .bind(user.0)
    .bind(TRIES_PER_CODE)
    .bind(now)
    .fetch_optional(tx.conn()?)
    .await
    .map_err(|e| internal("reading a phone to confirm", e))?;
    let Some((stored, phone, name)) = pending else {
        tx.commit().await?;
        return Err(AppError::Conflict {
            message: "There is no phone waiting for a code (or the code expired); start again."
                .into(),
        });
    };
    if !bool::from(hash(&state.settings.key, user, &code).ct_eq(&stored)) {
        let failure = attempt.failed();
        audit::record_later(
            &mut tx.later,
            Some(user),
            EventKind::FactorFailed,
            now,
            meta,
            "phone setup code wrong",
        );
        tx.commit().await?;
        mfa::announce_failure(state, user, failure, meta).await?;
        return Err(AppError::InvalidCode);
    }
    sqlx::query("DELETE FROM phone_enrolments WHERE user_id = $1")
        .bind(user.0)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("taking the phone to confirm", e))?;
    let was: String = sqlx::query_scalar("SELECT mfa_state FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_one(tx.conn()?)
        .await
        .map_err(|e| internal("reading MFA state", e))?;
    let turned_on = was != MfaState::Enabled.as_str();
    let factor: i64 = sqlx::query_scalar(
        "INSERT INTO factors (user_id, kind, name, created_at, last_used_at)
         VALUES ($1, 'Phone', $2, $3, $4) RETURNING id",
    )
    .bind(user.0)
    .bind(&name)
    .bind(now)
    .bind(now)
    .fetch_one(tx.conn()?)
    .await
    .map_err(|e| internal("adding a factor", e))?;
    sqlx::query("INSERT INTO phone_factors (factor_id, phone) VALUES ($1, $2)")
        .bind(factor)
        .bind(&phone)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("storing a phone", e))?;
    let codes = if turned_on {
        mfa::turn_on_in(tx.conn()?, &state.settings.key, user).await?
    } else {
        Vec::new()
    };
    attempt.succeeded_in(&mut tx);
    let detail = format!("Phone: {name} ({})", mask(&phone));
    audit::record_later(
        &mut tx.later,
        Some(user),
        EventKind::FactorAdded,
        now,
        meta,
        &detail,
    );
    tx.commit().await?;
    crate::backend::auth::sessions::mark_factor(
        &state.pool,
        live.id,
        crate::backend::auth::sessions::Proof::PasswordAndCode,
        now,
    )
    .await?;
    let alert = if turned_on {
        Alert::FactorAdded { name }
    } else {
        Alert::OneFactorAdded { name }
    };
    alerts::send(state, user, alert, meta).await?;
    Ok(BackupCodes {
        mfa: MfaState::Enabled,
        backup_codes: codes,
    })
}

/// Texts a sign-in code to the account's phone (the most recently used one),
/// replacing any earlier code.
pub async fn send_sign_in_code(
    state: &AppState,
    user: UserId,
    meta: &ClientMeta,
) -> Result<SmsCodeSent, AppError> {
    let now = state.clock.now();
    if !allowed(state).await? {
        return Err(not_allowed());
    }
    let phone = phones_of(state, user)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            AppError::validation("method", "This account has no phone. Use another method.")
        })?;
    let send = reserve_send(state, user, meta, now).await?;
    let mut conn = state
        .writer
        .pool()
        .acquire()
        .await
        .map_err(|e| internal("acquire", e))?;
    let code =
        one_time_codes::replace(&mut conn, &state.settings.key, Channel::Sms, user, now).await?;
    drop(conn);
    let text = format!(
        "{code} is your {} sign-in code. Do not share it: nobody from {} will ask for it.",
        state.settings.issuer, state.settings.issuer
    );
    send_counted(state, send, &phone, &text).await?;
    audit::record(
        &state.pool,
        Some(user),
        EventKind::SmsCodeSent,
        now,
        meta,
        &format!("sign-in code to {}", mask(&phone)),
    )
    .await;
    Ok(SmsCodeSent {
        phone: mask(&phone),
        expires_in_s: CODE_TTL_S as u64,
    })
}

/// Checks a texted sign-in code inside the caller's write transaction (see
/// [`one_time_codes::take`]); the phone it went to is marked used.
pub async fn verify(
    tx: &mut crate::backend::infra::db::WriteTx,
    key: &SecretKey,
    user: UserId,
    code: &str,
    now: UnixTime,
) -> Result<bool, AppError> {
    if !one_time_codes::take(tx, key, Channel::Sms, user, code, now).await? {
        return Ok(false);
    }
    tx.execute(
        "marking a phone used",
        "UPDATE factors SET last_used_at = $1 WHERE id = (SELECT f.id FROM factors f
         JOIN phone_factors p ON p.factor_id = f.id WHERE f.user_id = $2
         ORDER BY COALESCE(f.last_used_at, f.created_at) DESC, f.id LIMIT 1)",
        &[now.into(), user.0.into()],
    )
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_checked_and_kept_in_e164() {
        assert_eq!(
            parse(" +44 7911 123456 ").ok().as_deref(),
            Some("+447911123456")
        );
        assert_eq!(
            parse("+1 (201) 555-0123").ok().as_deref(),
            Some("+12015550123")
        );
        for bad in [
            "07700 900123",
            "+44 12",
            "+999 123456789",
            "",
            "+44 7911 123456'; --",
            "hello",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_keep_the_country_code_and_the_last_three_digits() {
        assert_eq!(mask("+447911123456"), "+44 •••• ••• 456");
        assert_eq!(mask("+12015550123"), "+1 •••• ••• 123");
        assert_eq!(mask("+33612345678"), "+33 •••• •• 678");
    }

    #[test]
    fn codes_are_six_digits_and_bound_to_their_user() {
        let code = new_code();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        let key = SecretKey::from_bytes([4; 32]);
        assert_ne!(
            hash(&key, UserId(1), "123456"),
            hash(&key, UserId(2), "123456")
        );
    }
}
