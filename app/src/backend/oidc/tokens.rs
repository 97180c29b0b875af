//! Grants, codes and tokens. A grant is one sign-in to one app; its code
//! and every token issued from it hang off it, so revoking the grant ends
//! them all. Codes and tokens are random; only their SHA-256 is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use sqlx::AnyPool;

use crate::api::AppError;
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::db;
use crate::backend::{UserId, internal};

use super::pkce;

/// An authorization code lives a minute (RFC 9700: short-lived).
pub const CODE_TTL_S: i64 = 60;
pub const ACCESS_TTL_S: i64 = 10 * 60;
pub const REFRESH_TTL_S: i64 = 30 * 24 * 60 * 60;
pub const ID_TOKEN_TTL_S: i64 = 10 * 60;

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// One sign-in to one app, as its tokens describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: i64,
    pub client_id: String,
    pub user: UserId,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub auth_time: UnixTime,
    /// RFC 8176 values, separated by spaces.
    pub amr: String,
    pub acr: String,
}

impl Grant {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

type GrantRow = (
    i64,
    String,
    i64,
    String,
    Option<String>,
    i64,
    String,
    String,
);

const GRANT_COLUMNS: &str =
    "g.id, g.client_id, g.user_id, g.scopes, g.nonce, g.auth_time, g.amr, g.acr";

fn grant_of(row: GrantRow) -> Grant {
    let (id, client_id, user, scopes, nonce, auth_time, amr, acr) = row;
    Grant {
        id,
        client_id,
        user: UserId(user),
        scopes: scopes.split_whitespace().map(String::from).collect(),
        nonce,
        auth_time,
        amr,
        acr,
    }
}

/// What a new code is for.
#[derive(Debug, Clone)]
pub struct NewCode<'a> {
    pub client_id: &'a str,
    pub user: UserId,
    pub scopes: &'a [String],
    pub nonce: Option<&'a str>,
    pub auth_time: UnixTime,
    pub amr: &'a str,
    pub acr: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: Option<&'a str>,
}

/// A new grant and its code (one transaction); answers the code.
pub async fn issue_code(
    pool: &crate::backend::infra::db::Writer,
    new: &NewCode<'_>,
    now: UnixTime,
) -> Result<String, AppError> {
    let code = random_token();
    let mut tx = db::begin_write(pool).await?;
    super::claims::ensure_subject(tx.conn()?, new.user).await?;
    let grant: i64 = sqlx::query_scalar(
        "INSERT INTO oidc_grants (client_id, user_id, scopes, nonce, auth_time, amr, acr, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(new.client_id)
    .bind(new.user.0)
    .bind(new.scopes.join(" "))
    .bind(new.nonce)
    .bind(new.auth_time)
    .bind(new.amr)
    .bind(new.acr)
    .bind(now)
    .fetch_one(tx.conn()?)
    .await
    .map_err(|e| internal("recording a grant", e))?;
    sqlx::query(
        "INSERT INTO oidc_codes (code_hash, grant_id, redirect_uri, code_challenge, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash(&code))
    .bind(grant)
    .bind(new.redirect_uri)
    .bind(new.code_challenge)
    .bind(now + CODE_TTL_S)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("recording a code", e))?;
    tx.commit().await?;
    Ok(code)
}

/// Why a code or refresh token was refused (`invalid_grant`, with a reason
/// for the app's developer and the audit trail).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("the code is unknown or expired")]
    UnknownCode,
    #[error("the code was already used: every token issued with it is revoked")]
    ReusedCode { user: UserId },
    #[error("the code was issued to another client")]
    WrongClient { user: UserId },
    #[error("redirect_uri differs from the authorization request's")]
    WrongRedirect { user: UserId },
    #[error("code_verifier is missing or does not match the code_challenge")]
    WrongVerifier { user: UserId },
    #[error("the refresh token is unknown, expired or revoked")]
    UnknownRefresh,
    #[error("the refresh token was already used: the whole grant is revoked")]
    ReusedRefresh { user: UserId },
}

impl GrantError {
    /// The account concerned, when known (for its audit trail).
    pub fn user(&self) -> Option<UserId> {
        match self {
            GrantError::UnknownCode | GrantError::UnknownRefresh => None,
            GrantError::ReusedCode { user }
            | GrantError::WrongClient { user }
            | GrantError::WrongRedirect { user }
            | GrantError::WrongVerifier { user }
            | GrantError::ReusedRefresh { user } => Some(*user),
        }
    }
}

/// Tokens for a grant.
#[derive(Debug, Clone)]
pub struct Issued {
    pub grant: Grant,
    pub access_token: String,
    /// Only when the app asked for `offline_access`.
    pub refresh_token: Option<String>,
}

fn add_tokens(tx: &mut db::WriteTx, grant: &Grant, now: UnixTime) -> (String, Option<String>) {
    let access = random_token();
    let refresh = grant.has_scope("offline_access").then(random_token);
    let mut new = vec![(&access, "access", ACCESS_TTL_S)];
    if let Some(refresh) = &refresh {
        new.push((refresh, "refresh", REFRESH_TTL_S));
    }
    for (token, kind, ttl) in new {
        tx.later
            .add("INSERT INTO oidc_tokens (token_hash, grant_id, kind, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(hash(token))
            .bind(grant.id)
            .bind(kind.to_string())
            .bind(now + ttl);
    }
    (access, refresh)
}

async fn revoke_grant_in(tx: &mut db::WriteTx, grant: i64, now: UnixTime) -> Result<(), AppError> {
    sqlx::query("UPDATE oidc_grants SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
        .bind(now)
        .bind(grant)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("revoking a grant", e))?;
    sqlx::query("DELETE FROM oidc_tokens WHERE grant_id = $1")
        .bind(grant)
        .execute(tx.conn()?)
        .await
        .map_err(|e| internal("revoking a grant's tokens", e))?;
    Ok(())
}

async fn live_grant(tx: &mut db::WriteTx, grant: i64) -> Result<Option<Grant>, AppError> {
    let row: Option<GrantRow> = sqlx::query_as(&format!(
        "SELECT {GRANT_COLUMNS} FROM oidc_grants g WHERE g.id = $1 AND g.revoked_at IS NULL"
    ))
    .bind(grant)
    .fetch_optional(tx.conn()?)
    .await
    .map_err(|e| internal("reading a grant", e))?;
    Ok(row.map(grant_of))
}

/// Exchanges a code for tokens. The code is spent by one atomic UPDATE, so
/// of many racing requests exactly one gets tokens; a code used twice
/// revokes what it issued (RFC 9700 4.5.3). A refused check spends it too.
pub async fn redeem_code(
    pool: &crate::backend::infra::db::Writer,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
    now: UnixTime,
) -> Result<Result<Issued, GrantError>, AppError> {
    let mut tx = db::begin_write(pool).await?;
    let spent: Option<(i64, String, Option<String>)> = sqlx::query_as(
        "UPDATE oidc_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING grant_id, redirect_uri, code_challenge",
    )
    .bind(now)
    .bind(hash(code))
    .bind(now)
    .fetch_optional(tx.conn()?)
    .await
    .map_err(|e| internal("spending a code", e))?;
    let Some((grant_id, bound_uri, challenge)) = spent else {
        let used: Option<(i64, i64)> = sqlx::query_as(
            "SELECT c.grant_id, g.user_id FROM oidc_codes c JOIN oidc_grants g ON g.id = c.grant_id
             WHERE c.code_hash = $1 AND c.used_at IS NOT NULL",
        )
        .bind(hash(code))
        .fetch_optional(tx.conn()?)
        .await
        .map_err(|e| internal("looking up a spent code", e))?;
        let Some((grant_id, user)) = used else {
            return Ok(Err(GrantError::UnknownCode));
        };
        revoke_grant_in(&mut tx, grant_id, now).await?;
        tx.commit().await?;
        return Ok(Err(GrantError::ReusedCode { user: UserId(user) }));
    };
    let Some(grant) = live_grant(&mut tx, grant_id).await? else {
        tx.commit().await?;
        return Ok(Err(GrantError::UnknownCode));
    };
    let user = grant.user;
    let refusal = if grant.client_id != client_id {
        Some(GrantError::WrongClient { user })
    } else if bound_uri != redirect_uri {
        Some(GrantError::WrongRedirect { user })
    } else {
        match (challenge.as_deref(), verifier) {
            (Some(challenge), Some(verifier)) if pkce::verify(challenge, verifier) => None,
            // No challenge was sent: a verifier now is a downgrade attempt.
            (None, None) => None,
            _ => Some(GrantError::WrongVerifier { user }),
        }
    };
    if let Some(refusal) = refusal {
        // The code stays spent, and what it could have opened is closed.
        revoke_grant_in(&mut tx, grant_id, now).await?;
        tx.commit().await?;
        return Ok(Err(refusal));
    }
    let (access_token, refresh_token) = add_tokens(&mut tx, &grant, now);
    tx.commit().await?;
    Ok(Ok(Issued {
        grant,
        access_token,
        refresh_token,
    }))
}

/// A new access and refresh token for a refresh token, which is spent: a
/// refresh token used twice has leaked, and its whole grant is revoked.
pub async fn refresh(
    pool: &crate::backend::infra::db::Writer,
    client_id: &str,
    refresh_token: &str,
    now: UnixTime,
) -> Result<Result<Issued, GrantError>, AppError> {
    let mut tx = db::begin_write(pool).await?;
    let spent: Option<i64> = sqlx::query_scalar(
        "UPDATE oidc_tokens SET used_at = $1
         WHERE token_hash = $2 AND kind = 'refresh' AND used_at IS NULL AND expires_at > $3
         RETURNING grant_id",
    )
    .bind(now)
    .bind(hash(refresh_token))
    .bind(now)
    .fetch_optional(tx.conn()?)
    .await
    .map_err(|e| internal("spending a refresh token", e))?;
    let Some(grant_id) = spent else {
        let used: Option<(i64, i64, String)> = sqlx::query_as(
            "SELECT t.grant_id, g.user_id, g.client_id FROM oidc_tokens t
             JOIN oidc_grants g ON g.id = t.grant_id
             WHERE t.token_hash = $1 AND t.kind = 'refresh' AND t.used_at IS NOT NULL",
        )
        .bind(hash(refresh_token))
        .fetch_optional(tx.conn()?)
        .await
        .map_err(|e| internal("looking up a spent refresh token", e))?;
        return match used {
            Some((grant_id, user, owner)) if owner == client_id => {
                revoke_grant_in(&mut tx, grant_id, now).await?;
                tx.commit().await?;
                Ok(Err(GrantError::ReusedRefresh { user: UserId(user) }))
            }
            _ => Ok(Err(GrantError::UnknownRefresh)),
        };
    };
    let grant = match live_grant(&mut tx, grant_id).await? {
        Some(grant) if grant.client_id == client_id => grant,
        // Another client's token: left as it was (rolled back).
        _ => return Ok(Err(GrantError::UnknownRefresh)),
    };
    let (access_token, refresh_token) = add_tokens(&mut tx, &grant, now);
    tx.commit().await?;
    Ok(Ok(Issued {
        grant,
        access_token,
        refresh_token,
    }))
}

/// The grant a live access token belongs to (`userinfo`).
pub async fn grant_of_access_token(
    pool: &AnyPool,
    token: &str,
    now: UnixTime,
) -> Result<Option<Grant>, AppError> {
    let row: Option<GrantRow> = sqlx::query_as(&format!(
        "SELECT {GRANT_COLUMNS} FROM oidc_tokens t JOIN oidc_grants g ON g.id = t.grant_id
         WHERE t.token_hash = $1 AND t.kind = 'access' AND t.expires_at > $2 AND g.revoked_at IS NULL"
    ))
    .bind(hash(token))
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(|e| internal("looking up an access token", e))?;
    Ok(row.map(grant_of))
}

/// RFC 7009: revokes a token of `client_id`'s. A refresh token takes its
/// whole grant with it; an access token goes alone. Unknown tokens (or
/// another client's) are not an error: the answer must not tell.
pub async fn revoke(
    pool: &crate::backend::infra::db::Writer,
    client_id: &str,
    token: &str,
    now: UnixTime,
) -> Result<Option<UserId>, AppError> {
    let mut tx = db::begin_write(pool).await?;
    let found: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT t.grant_id, t.kind, g.user_id FROM oidc_tokens t JOIN oidc_grants g ON g.id = t.grant_id
         WHERE t.token_hash = $1 AND g.client_id = $2",
    )
    .bind(hash(token))
    .bind(client_id)
    .fetch_optional(tx.conn()?)
    .await
    .map_err(|e| internal("looking up a token to revoke", e))?;
    let Some((grant, kind, user)) = found else {
        return Ok(None);
    };
    if kind == "refresh" {
        revoke_grant_in(&mut tx, grant, now).await?;
    } else {
        sqlx::query("DELETE FROM oidc_tokens WHERE token_hash = $1")
            .bind(hash(token))
            .execute(tx.conn()?)
            .await
            .map_err(|e| internal("revoking an access token", e))?;
    }
    tx.commit().await?;
    Ok(Some(UserId(user)))
}

/// Ends every app sign-in of `user` (or only `client_id`'s): sign-out
/// everywhere, a password change, an admin reset, "Apps you signed in to".
/// Answers how many grants were live.
pub async fn revoke_all(
    db: &mut sqlx::AnyConnection,
    user: UserId,
    client_id: Option<&str>,
    now: UnixTime,
) -> Result<u64, AppError> {
    sqlx::query(
        "DELETE FROM oidc_tokens WHERE grant_id IN
         (SELECT id FROM oidc_grants WHERE user_id = $1 AND ($2 IS NULL OR client_id = $2))",
    )
    .bind(user.0)
    .bind(client_id)
    .execute(&mut *db)
    .await
    .map_err(|e| internal("revoking app tokens", e))?;
    let done = sqlx::query(
        "UPDATE oidc_grants SET revoked_at = $3
         WHERE user_id = $1 AND ($2 IS NULL OR client_id = $2) AND revoked_at IS NULL",
    )
    .bind(user.0)
    .bind(client_id)
    .bind(now)
    .execute(&mut *db)
    .await
    .map_err(|e| internal("revoking app sign-ins", e))?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).map(|b| b.len()).ok(), Some(32));
        assert_eq!(hash(&a).len(), 32);
        assert_ne!(hash(&a), a.as_bytes());
    }
}
