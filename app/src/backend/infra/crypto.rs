//! The server's secret key and what is derived from it: AEAD encryption of
//! TOTP secrets at rest (XChaCha20-Poly1305) and the HMAC key that backup
//! codes are stored under.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

pub const KEY_FILE: &str = "secret.key";
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read secret key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create secret key file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret key file {path} must hold 32 bytes (raw) or 64 hex characters")]
    Format { path: PathBuf },
    #[error("TWOFOLD_SECRET_KEY must be 64 hex characters (32 bytes)")]
    EnvFormat,
    #[error(
        "with PostgreSQL every instance must use the same secret key: give --secret-key-file FILE or TWOFOLD_SECRET_KEY (64 hex characters); `openssl rand -hex 32` makes one"
    )]
    SharedKeyRequired,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("ciphertext is malformed or was tampered with")]
    Tampered,
}

/// The 32-byte master key. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SecretKey(Zeroizing::new(bytes))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let key = SecretKey::from_bytes(bytes);
        bytes.zeroize();
        key
    }

    /// Reads the key from `explicit` if given, else from `<data_dir>/secret.key`,
    /// creating that file (mode 0600) with a fresh key on first start.
    pub fn load_or_create(explicit: Option<&Path>, data_dir: &Path) -> Result<Self, KeyError> {
        match explicit {
            Some(path) => Self::read(path),
            None => {
                let path = data_dir.join(KEY_FILE);
                if path.exists() {
                    Self::read(&path)
                } else {
                    let key = Self::generate();
                    write_private(&path, key.0.as_slice()).map_err(|source| KeyError::Create {
                        path: path.clone(),
                        source,
                    })?;
                    Ok(key)
                }
            }
        }
    }

    /// The key from `TWOFOLD_SECRET_KEY`: 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let decoded = Zeroizing::new(hex::decode(text.trim()).map_err(|_| KeyError::EnvFormat)?);
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::EnvFormat)?;
        Ok(SecretKey::from_bytes(bytes))
    }

    fn read(path: &Path) -> Result<Self, KeyError> {
        let raw = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        })?);
        let format = || KeyError::Format {
            path: path.to_path_buf(),
        };
        if raw.len() == 32 {
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(&raw);
            return Ok(SecretKey::from_bytes(bytes));
        }
        let text = std::str::from_utf8(&raw).map_err(|_| format())?.trim();
        let decoded = Zeroizing::new(hex::decode(text).map_err(|_| format())?);
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| format())?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// A subkey for one purpose, so the AEAD key and the HMAC key differ.
    fn derive(&self, purpose: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(purpose);
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// Encrypts `plain`, binding it to `context` (e.g. the user id) so a
    /// ciphertext copied to another row does not decrypt.
    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(self.derive(b"twofold/aead/v1").as_slice().into());
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .unwrap_or_else(|_| {
                unreachable!("XChaCha20-Poly1305 encryption of a short secret cannot fail")
            });
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Tampered);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new(self.derive(b"twofold/aead/v1").as_slice().into());
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Tampered)
    }

    /// Keyed hash for values we only ever compare (backup codes): a stolen
    /// database without the key file cannot be brute-forced offline.
    pub fn keyed_hash(&self, purpose: &[u8], value: &[u8]) -> Vec<u8> {
        let key = self.derive(purpose);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(value);
        mac.finalize().into_bytes().to_vec()
    }
}

/// Creates `path` readable by its owner only, failing if it already exists.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"JBSWY3DPEHPK3PXP", b"user:1");
        assert_ne!(&sealed[NONCE_LEN..], b"JBSWY3DPEHPK3PXP");
        assert_eq!(
            key.open(&sealed, b"user:1").map(|p| p.to_vec()),
            Ok(b"JBSWY3DPEHPK3PXP".to_vec())
        );
        // Same plaintext, fresh nonce, different ciphertext.
        assert_ne!(sealed, key.seal(b"JBSWY3DPEHPK3PXP", b"user:1"));
    }

    #[test]
    fn tampering_wrong_context_and_wrong_key_are_detected() {
        let key = SecretKey::generate();
        let sealed = key.seal(b"secret", b"user:1");
        for i in [0, NONCE_LEN, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(
                key.open(&bad, b"user:1").err(),
                Some(CryptoError::Tampered),
                "byte {i}"
            );
        }
        assert!(key.open(&sealed, b"user:2").is_err());
        assert!(SecretKey::generate().open(&sealed, b"user:1").is_err());
        assert!(key.open(&sealed[..10], b"user:1").is_err());
    }

    #[test]
    fn key_file_is_created_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let a = SecretKey::load_or_create(None, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let b = SecretKey::load_or_create(None, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.keyed_hash(b"p", b"v"), b.keyed_hash(b"p", b"v"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn explicit_hex_key_file_and_bad_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("k");
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap_or_else(|e| panic!("{e}"));
        let key = SecretKey::load_or_create(Some(&path), dir.path());
        assert!(key.is_ok());
        assert!(
            !dir.path().join(KEY_FILE).exists(),
            "no generated key when one is given"
        );
        std::fs::write(&path, "too short").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            SecretKey::load_or_create(Some(&path), dir.path()),
            Err(KeyError::Format { .. })
        ));
        let missing = dir.path().join("missing");
        assert!(matches!(
            SecretKey::load_or_create(Some(&missing), dir.path()),
            Err(KeyError::Read { .. })
        ));
    }

    #[test]
    fn keyed_hash_depends_on_key_and_purpose() {
        let k = SecretKey::from_bytes([7; 32]);
        assert_ne!(k.keyed_hash(b"a", b"v"), k.keyed_hash(b"b", b"v"));
        assert_ne!(
            k.keyed_hash(b"a", b"v"),
            SecretKey::from_bytes([8; 32]).keyed_hash(b"a", b"v")
        );
        assert!(!format!("{k:?}").contains('7'));
    }
}
