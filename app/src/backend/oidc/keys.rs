//! The keys that sign ID tokens (ES256, P-256). Made on first start, kept
//! sealed with the server's secret key like TOTP secrets, published at the
//! JWKS endpoint by `kid`. Rotation (`twofold oidc rotate-key`) retires the
//! signing key but keeps it published until every token it signed expired.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use sha2::{Digest, Sha256};
use sqlx::AnyPool;

use crate::api::AppError;
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::crypto::SecretKey;
use crate::backend::internal;

use super::tokens::ID_TOKEN_TTL_S;

const SEAL_CONTEXT: &[u8] = b"twofold/oidc-signing-key";

/// The key that signs now.
pub struct SigningKey {
    pub kid: String,
    encoding: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    /// A signed JWT of `claims`.
    pub fn sign<T: serde::Serialize>(&self, claims: &T) -> Result<String, AppError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| internal("signing an ID token", e))
    }
}

/// A new P-256 key: its PKCS#8 document and public JWK.
fn generate() -> Result<(String, Vec<u8>, serde_json::Value), AppError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| internal("generating a signing key", e))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|e| internal("reading a new signing key", e))?;
    // Uncompressed point: 0x04, then x and y (32 bytes each).
    let point = pair.public_key().as_ref();
    if point.len() != 65 {
        return Err(internal("a signing key's public point", point.len()));
    }
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(point)[..12]);
    let jwk = serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        "use": "sig",
        "alg": "ES256",
        "kid": kid,
    });
    Ok((kid, pkcs8.as_ref().to_vec(), jwk))
}

async fn insert(
    conn: &mut sqlx::AnyConnection,
    key: &SecretKey,
    now: UnixTime,
) -> Result<String, AppError> {
    let (kid, pkcs8, jwk) = generate()?;
    sqlx::query(
        "INSERT INTO oidc_keys (kid, private_enc, public_jwk, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&kid)
    .bind(key.seal(&pkcs8, SEAL_CONTEXT))
    .bind(jwk.to_string())
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| internal("storing a signing key", e))?;
    Ok(kid)
}

/// Makes the first key when there is none (first start). In a write
/// transaction, so instances starting together make one key between them.
pub async fn ensure(
    pool: &crate::backend::infra::db::Writer,
    key: &SecretKey,
    now: UnixTime,
) -> Result<(), AppError> {
    let mut tx = crate::backend::infra::db::begin_write(pool).await?;
    let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_keys WHERE retired_at IS NULL")
        .fetch_one(tx.conn()?)
        .await
        .map_err(|e| internal("counting signing keys", e))?;
    if live == 0 {
        insert(tx.conn()?, key, now).await?;
    }
    tx.commit().await
}

/// Retires the signing key (still published for as long as an ID token it
/// signed may live) and makes a new one; answers the new `kid`.
pub async fn rotate(
    pool: &crate::backend::infra::db::Writer,
    key: &SecretKey,
    now: UnixTime,
) -> Result<String, AppError> {
    let mut tx = crate::backend::infra::db::begin_write(pool).await?;
    sqlx::query(
        "UPDATE oidc_keys SET retired_at = $1, publish_until = $2 WHERE retired_at IS NULL",
    )
    .bind(now)
    .bind(now + ID_TOKEN_TTL_S)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("retiring a signing key", e))?;
    let kid = insert(tx.conn()?, key, now).await?;
    tx.commit().await?;
    Ok(kid)
}

/// The newest unretired key (made now if there is none).
pub async fn current(
    pool: &crate::backend::infra::db::Writer,
    key: &SecretKey,
    now: UnixTime,
) -> Result<SigningKey, AppError> {
    let found: Option<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT kid, private_enc FROM oidc_keys WHERE retired_at IS NULL
         ORDER BY created_at DESC, kid LIMIT 1",
    )
    .fetch_optional(pool.pool())
    .await
    .map_err(|e| internal("reading the signing key", e))?;
    let (kid, sealed) = match found {
        Some(found) => found,
        None => {
            ensure(pool, key, now).await?;
            return Box::pin(current(pool, key, now)).await;
        }
    };
    let pkcs8 = key
        .open(&sealed, SEAL_CONTEXT)
        .map_err(|e| internal("opening the signing key", e))?;
    Ok(SigningKey {
        kid,
        encoding: jsonwebtoken::EncodingKey::from_ec_der(&pkcs8),
    })
}

/// The public keys to publish: every unretired key and every retired one
/// whose tokens may still be alive.
pub async fn published(pool: &AnyPool, now: UnixTime) -> Result<Vec<serde_json::Value>, AppError> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT public_jwk FROM oidc_keys WHERE retired_at IS NULL OR publish_until > $1
         ORDER BY created_at DESC, kid",
    )
    .bind(now)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("listing signing keys", e))?;
    rows.iter()
        .map(|j| serde_json::from_str(j).map_err(|e| internal("a stored public key", e)))
        .collect()
}

/// The published key named `kid`, to check a token Twofold signed (the
/// `id_token_hint` of a logout).
pub async fn decoding_key(
    pool: &AnyPool,
    kid: &str,
    now: UnixTime,
) -> Result<Option<jsonwebtoken::DecodingKey>, AppError> {
    let keys = published(pool, now).await?;
    let Some(jwk) = keys.iter().find(|k| k["kid"] == kid) else {
        return Ok(None);
    };
    let (Some(x), Some(y)) = (jwk["x"].as_str(), jwk["y"].as_str()) else {
        return Ok(None);
    };
    Ok(jsonwebtoken::DecodingKey::from_ec_components(x, y).ok())
}
