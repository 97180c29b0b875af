//! Backup codes: 10 per set, 70 bits each from the OS CSPRNG, shown once as
//! `xxxx-xxxx-xxxx-xx`, stored only as keyed hashes, consumed atomically.

use rand::Rng;
use rand::rngs::OsRng;
use sqlx::AnyPool;

use crate::api::AppError;
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::crypto::SecretKey;
use crate::backend::{UserId, internal};

pub const CODES_PER_SET: usize = 10;
/// 14 symbols of 5 bits: 70 bits of entropy.
pub const CODE_SYMBOLS: usize = 14;
/// Crockford's base32: no i, l, o or u, so nothing reads as something else.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const HASH_PURPOSE: &[u8] = b"twofold/backup-codes/v1";

/// A backup code as shown to its owner, once.
pub struct BackupCode(String);

impl std::fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupCode(<redacted>)")
    }
}

impl BackupCode {
    pub fn generate() -> Self {
        let mut rng = OsRng;
        let raw: String = (0..CODE_SYMBOLS)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        BackupCode(raw)
    }

    /// `xxxx-xxxx-xxxx-xx`.
    pub fn grouped(&self) -> String {
        self.0
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    fn normalized(&self) -> &str {
        &self.0
    }
}

/// What a person typed, made comparable: case, spaces and dashes ignored, and
/// the look-alikes Crockford maps (o -> 0, i/l -> 1) folded. `None` when it
/// cannot be a backup code.
pub fn normalize(input: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_SYMBOLS);
    for c in input.chars() {
        match c.to_ascii_lowercase() {
            ' ' | '-' | '\t' => continue,
            'o' => out.push('0'),
            'i' | 'l' => out.push('1'),
            c if c.is_ascii() && ALPHABET.contains(&(c as u8)) => out.push(c),
            _ => return None,
        }
    }
    (out.len() == CODE_SYMBOLS).then_some(out)
}

pub fn hash(key: &SecretKey, normalized: &str) -> Vec<u8> {
    key.keyed_hash(HASH_PURPOSE, normalized.as_bytes())
}

/// Replaces the user's whole set with a new one and returns it for display.
pub async fn replace_set(
    conn: &mut sqlx::AnyConnection,
    key: &SecretKey,
    user: UserId,
) -> Result<Vec<String>, AppError> {
    sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
        .bind(user.0)
        .execute(&mut *conn)
        .await
        .map_err(|e| internal("deleting backup codes", e))?;
    let mut shown = Vec::with_capacity(CODES_PER_SET);
    for _ in 0..CODES_PER_SET {
        let code = BackupCode::generate();
        sqlx::query("INSERT INTO backup_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user.0)
            .bind(hash(key, code.normalized()))
            .execute(&mut *conn)
            .await
            .map_err(|e| internal("storing a backup code", e))?;
        shown.push(code.grouped());
    }
    Ok(shown)
}

/// Adds one new code to the user's set (replacing one just used) and
/// returns it for display.
pub async fn add_one(pool: &AnyPool, key: &SecretKey, user: UserId) -> Result<String, AppError> {
    let code = BackupCode::generate();
    sqlx::query("INSERT INTO backup_codes (user_id, code_hash) VALUES ($1, $2)")
        .bind(user.0)
        .bind(hash(key, code.normalized()))
        .execute(pool)
        .await
        .map_err(|e| internal("storing a replacement backup code", e))?;
    Ok(code.grouped())
}

/// Uses up one code. Of any number of racing requests with the same code,
/// exactly one sees `true`: the UPDATE only matches while `used_at` is NULL.
pub async fn consume(
    tx: &mut crate::backend::infra::db::WriteTx,
    key: &SecretKey,
    user: UserId,
    normalized: &str,
    now: UnixTime,
) -> Result<bool, AppError> {
    let done = tx
        .execute(
            "consuming a backup code",
            "UPDATE backup_codes SET used_at = $1
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
            &[now.into(), user.0.into(), hash(key, normalized).into()],
        )
        .await?;
    Ok(done == 1)
}

/// [`remaining`] inside a write transaction.
pub async fn remaining_in(
    tx: &mut crate::backend::infra::db::WriteTx,
    user: UserId,
) -> Result<u32, AppError> {
    let (n,): (i64,) = tx
        .row("counting backup codes", REMAINING, &[user.0.into()])
        .await?
        .unwrap_or((0,));
    Ok(u32::try_from(n).unwrap_or(0))
}

const REMAINING: &str = "SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL";

pub async fn remaining(
    db: impl sqlx::Executor<'_, Database = sqlx::Any>,
    user: UserId,
) -> Result<u32, AppError> {
    let n: i64 = sqlx::query_scalar(REMAINING)
        .bind(user.0)
        .fetch_one(db)
        .await
        .map_err(|e| internal("counting backup codes", e))?;
    Ok(u32::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn format_is_grouped_and_from_the_alphabet() {
        let code = BackupCode::generate();
        let shown = code.grouped();
        assert_eq!(shown.len(), 17);
        let groups: Vec<&str> = shown.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [4, 4, 4, 2]
        );
        assert!(
            shown
                .chars()
                .all(|c| c == '-' || ALPHABET.contains(&(c as u8)))
        );
    }

    #[test]
    fn entropy_is_at_least_64_bits() {
        let bits = (CODE_SYMBOLS as f64) * (ALPHABET.len() as f64).log2();
        assert!(bits >= 64.0, "{bits}");
        let distinct: HashSet<String> = (0..2000)
            .map(|_| BackupCode::generate().grouped())
            .collect();
        assert_eq!(distinct.len(), 2000);
        // Every symbol shows up: the generator uses the whole alphabet.
        let seen: HashSet<char> = distinct.iter().flat_map(|c| c.chars()).collect();
        assert_eq!(seen.len(), 33); // 32 symbols and the dash
    }

    #[test]
    fn parsing_ignores_case_spaces_dashes_and_folds_lookalikes() {
        let code = BackupCode::generate();
        let shown = code.grouped();
        assert_eq!(normalize(&shown).as_deref(), Some(code.normalized()));
        assert_eq!(
            normalize(&shown.to_uppercase()).as_deref(),
            Some(code.normalized())
        );
        assert_eq!(
            normalize(&shown.replace('-', " ")).as_deref(),
            Some(code.normalized())
        );
        assert_eq!(
            normalize("abcd-efgh-jkmn-pq").as_deref(),
            Some("abcdefghjkmnpq")
        );
        assert_eq!(
            normalize("OOOO-IIII-LLLL-00").as_deref(),
            Some("00001111111100")
        );
        for bad in [
            "",
            "abcd",
            "abcd-efgh-jkmn-pqr",
            "abcd-efgh-jkmn-p!",
            "äbcd-efgh-jkmn-pq",
            "123456",
        ] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn hashes_are_keyed() {
        let a = SecretKey::from_bytes([1; 32]);
        let b = SecretKey::from_bytes([2; 32]);
        assert_ne!(hash(&a, "abcdefghjkmnpq"), hash(&b, "abcdefghjkmnpq"));
        assert_eq!(hash(&a, "abcdefghjkmnpq"), hash(&a, "abcdefghjkmnpq"));
    }
}
