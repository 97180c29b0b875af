//! The account's factors as its owner sees them: each listed with its name
//! and last use, renamed at any time, removed on its own (inside the
//! re-authentication window). Removing the last one turns MFA off, as
//! turning it off does.

use sqlx::AnyPool;

use crate::api::{AppError, FactorInfo, FactorKind, MfaState};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::access;
use crate::backend::factors::mfa;
use crate::backend::infra::db;
use crate::backend::{AppState, ClientMeta, UserId, internal};

/// Longest name a factor may have, in characters.
pub const MAX_NAME_CHARS: usize = 64;

fn kind_of(stored: &str) -> Result<FactorKind, AppError> {
    match stored {
        "Totp" => Ok(FactorKind::Totp),
        "Passkey" => Ok(FactorKind::Passkey),
        "Phone" => Ok(FactorKind::Phone),
        other => Err(internal("unknown factor kind", other)),
    }
}

/// A name as typed, trimmed; refused when empty, too long or holding
/// control characters (it is shown in pages and mails).
pub fn clean_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::validation("name", "Give the factor a name."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::validation(
            "name",
            "A factor's name has at most 64 characters.",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::validation(
            "name",
            "A factor's name cannot hold line breaks or control characters.",
        ));
    }
    Ok(name.to_string())
}

/// The user's factors, oldest first.
pub async fn list(pool: &AnyPool, user: UserId) -> Result<Vec<FactorInfo>, AppError> {
    type Row = (
        i64,
        String,
        String,
        i64,
        Option<i64>,
        Option<crate::backend::infra::db::Flag>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT f.id, f.kind, f.name, f.created_at, f.last_used_at, p.backup_eligible, ph.phone
         FROM factors f LEFT JOIN passkey_factors p ON p.factor_id = f.id
         LEFT JOIN phone_factors ph ON ph.factor_id = f.id
         WHERE f.user_id = $1 ORDER BY f.id",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("listing factors", e))?;
    rows.into_iter()
        .map(
            |(id, kind, name, created_at, last_used_at, synced, phone)| {
                Ok(FactorInfo {
                    id,
                    kind: kind_of(&kind)?,
                    name,
                    created_at,
                    last_used_at,
                    synced: synced.map(|s| s.0),
                    phone: phone.as_deref().map(crate::backend::factors::phones::mask),
                })
            },
        )
        .collect()
}

/// [`list`] for the signed-in caller of a request (the account page).
pub async fn list_for_request(
    state: &AppState,
    headers: &http::HeaderMap,
) -> Result<Vec<FactorInfo>, AppError> {
    let live = access::caller(state, headers).await?;
    list(&state.pool, live.user).await
}

/// Renames one of the user's own factors; another account's id is not found.
pub async fn rename(
    state: &AppState,
    user: UserId,
    id: i64,
    name: &str,
    meta: &ClientMeta,
) -> Result<FactorInfo, AppError> {
    let name = clean_name(name)?;
    let done = sqlx::query("UPDATE factors SET name = $1 WHERE id = $2 AND user_id = $3")
        .bind(&name)
        .bind(id)
        .bind(user.0)
        .execute(state.writer.pool())
        .await
        .map_err(|e| internal("renaming a factor", e))?;
    if done.rows_affected() != 1 {
        return Err(AppError::NotFound);
    }
    let now = state.clock.now();
    audit::record(
        &state.pool,
        Some(user),
        EventKind::FactorRenamed,
        now,
        meta,
        &name,
    )
    .await;
    list(&state.pool, user)
        .await?
        .into_iter()
        .find(|f| f.id == id)
        .ok_or(AppError::NotFound)
}

/// Removes one of the user's own factors and says what MFA is now. The last
/// one takes everything second-factor with it (backup codes, trusted
/// devices), unless the MFA policy requires it for this account.
pub async fn remove(
    state: &AppState,
    user: UserId,
    id: i64,
    meta: &ClientMeta,
) -> Result<MfaState, AppError> {
    let now = state.clock.now();
    let mut tx = db::begin_write(&state.writer).await?;
    let removed: Option<String> =
        sqlx::query_scalar("DELETE FROM factors WHERE id = $1 AND user_id = $2 RETURNING name")
            .bind(id)
            .bind(user.0)
            .fetch_optional(tx.conn()?)
            .await
            .map_err(|e| internal("removing a factor", e))?;
    let Some(name) = removed else {
        return Err(AppError::NotFound);
    };
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM factors WHERE user_id = $1")
        .bind(user.0)
        .fetch_one(tx.conn()?)
        .await
        .map_err(|e| internal("counting factors", e))?;
    let mfa_after = if left == 0 {
        // The write lock is held: the policy and role read here cannot change
        // before the commit.
        if mfa::required_for(state, user).await? {
            // Rolled back as it is dropped.
            return Err(AppError::Conflict {
                message: "Your organisation requires two-factor authentication: add another \
                          factor before removing your last one."
                    .into(),
            });
        }
        mfa::remove_factors(tx.conn()?, user).await?;
        MfaState::Disabled
    } else {
        MfaState::Enabled
    };
    // The audit rows are kept or rolled back with the removal itself.
    audit::record_later(
        &mut tx.later,
        Some(user),
        EventKind::FactorRemoved,
        now,
        meta,
        &name,
    );
    if mfa_after == MfaState::Disabled {
        audit::record_later(
            &mut tx.later,
            Some(user),
            EventKind::MfaDisabled,
            now,
            meta,
            "last factor removed",
        );
    }
    tx.commit().await?;
    let alert = match mfa_after {
        MfaState::Disabled => Alert::FactorRemoved,
        _ => Alert::OneFactorRemoved { name },
    };
    alerts::send(state, user, alert, meta).await?;
    Ok(mfa_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  Pixel 8 ").ok(), Some("Pixel 8".to_string()));
        assert!(clean_name("   ").is_err());
        assert!(clean_name(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(clean_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(clean_name("two\nlines").is_err());
        // Characters, not bytes: 64 accented letters fit.
        assert!(clean_name(&"é".repeat(MAX_NAME_CHARS)).is_ok());
    }
}
