//! Password hashing with argon2id (OWASP parameters), always on the blocking
//! thread pool so a sign-in never stalls the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use zeroize::Zeroizing;

use crate::api::AppError;

/// A password as typed. Zeroized on drop, never printed.
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(s: String) -> Self {
        Password(Zeroizing::new(s))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A PHC-format argon2id hash as stored in `users.password_hash`.
#[derive(Clone)]
pub struct PasswordHashString(pub String);

impl std::fmt::Debug for PasswordHashString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHashString(<redacted>)")
    }
}

/// OWASP Password Storage Cheat Sheet: argon2id, m = 19 MiB, t = 2, p = 1.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes on the current thread. Call through [`hash`] from async code.
pub fn hash_blocking(password: &Password) -> Result<PasswordHashString, AppError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| PasswordHashString(h.to_string()))
        .map_err(|e| super::internal("hashing a password", e))
}

/// Verifies on the current thread; a malformed stored hash counts as a mismatch
/// (and is logged), never as a success.
pub fn verify_blocking(password: &Password, hash: &PasswordHashString) -> bool {
    match PasswordHash::new(&hash.0) {
        Ok(parsed) => hasher()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!("stored password hash does not parse: {e}");
            false
        }
    }
}

pub async fn hash(password: Password) -> Result<PasswordHashString, AppError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| super::internal("joining the hashing task", e))?
}

pub async fn verify(password: Password, hash: PasswordHashString) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || verify_blocking(&password, &hash))
        .await
        .map_err(|e| super::internal("joining the verify task", e))
}

/// A hash of a random password, verified against when the email is unknown so
/// that unknown and known accounts take the same time to answer.
pub fn dummy_hash() -> Result<PasswordHashString, AppError> {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    hash_blocking(&Password::new(hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_blocking(&Password::new("tuba-lantern-orbit-42".into()));
        let Ok(h) = h else { panic!("hashing failed") };
        assert!(
            h.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            h.0
        );
        assert!(verify_blocking(
            &Password::new("tuba-lantern-orbit-42".into()),
            &h
        ));
        assert!(!verify_blocking(
            &Password::new("tuba-lantern-orbit-43".into()),
            &h
        ));
    }

    #[test]
    fn malformed_hash_never_verifies() {
        let bogus = PasswordHashString("not a hash".into());
        assert!(!verify_blocking(&Password::new("anything".into()), &bogus));
    }

    #[test]
    fn debug_redacts() {
        let p = Password::new("hunter2hunter2".into());
        assert!(!format!("{p:?}").contains("hunter2"));
        let h = PasswordHashString("$argon2id$secret".into());
        assert!(!format!("{h:?}").contains("argon2id"));
    }
}
