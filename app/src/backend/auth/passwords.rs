//! Password hashing with argon2id (OWASP parameters), always on the blocking
//! thread pool so a sign-in never stalls the async runtime.

use std::cell::RefCell;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;

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
fn owasp_params() -> Params {
    Params::new(19 * 1024, 2, 1, Some(32)).unwrap_or_default()
}

thread_local! {
    /// This thread's argon2 working memory, allocated once and reused. Letting
    /// argon2 allocate and free 19 MiB per hash made glibc raise its mmap
    /// threshold and keep the freed blocks: RSS grew by hundreds of MB after
    /// a burst of sign-ins. Kept, it stays at threads x 19 MiB.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn compute(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    blocks_needed: usize,
) -> Result<(), argon2::Error> {
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < blocks_needed {
            blocks.resize(blocks_needed, Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut blocks[..blocks_needed])
    })
}

/// Hashes on the current thread. Call through [`hash`] from async code.
pub fn hash_blocking(password: &Password) -> Result<PasswordHashString, AppError> {
    let fail = |e: &dyn std::fmt::Display| crate::backend::internal("hashing a password", e);
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_buf)
        .map_err(|e| fail(&e))?;
    let params = owasp_params();
    let mut out = Zeroizing::new([0u8; 32]);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    compute(
        &argon,
        password.expose().as_bytes(),
        salt_bytes,
        out.as_mut_slice(),
        params.block_count(),
    )
    .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(out.as_slice()).map_err(|e| fail(&e))?),
    };
    Ok(PasswordHashString(phc.to_string()))
}

/// Verifies on the current thread; a malformed or foreign stored hash counts
/// as a mismatch (and is logged), never as a success. Compared in constant time.
pub fn verify_blocking(password: &Password, hash: &PasswordHashString) -> bool {
    match verify_inner(password, hash) {
        Ok(ok) => ok,
        Err(e) => {
            tracing::error!("stored password hash cannot be checked: {e}");
            false
        }
    }
}

fn verify_inner(password: &Password, hash: &PasswordHashString) -> Result<bool, String> {
    let parsed = PasswordHash::new(&hash.0).map_err(|e| e.to_string())?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Err(format!("not argon2id: {}", parsed.algorithm));
    }
    let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let expected = parsed.hash.ok_or("no hash")?;
    let mut salt_buf = [0u8; 64];
    let salt = parsed
        .salt
        .ok_or("no salt")?
        .decode_b64(&mut salt_buf)
        .map_err(|e| e.to_string())?;
    let argon = Argon2::new(Algorithm::Argon2id, version, params.clone());
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    compute(
        &argon,
        password.expose().as_bytes(),
        salt,
        &mut out,
        params.block_count(),
    )
    .map_err(|e| e.to_string())?;
    Ok(bool::from(expected.as_bytes().ct_eq(&out)))
}

type Job = Box<dyn FnOnce() + Send>;

/// A few threads that do all argon2 work, one per core. Each hash takes a
/// whole core and 19 MiB: more at once only adds latency, and hashing on
/// tokio's many blocking threads left each thread's allocator holding its
/// own 19 MiB (hundreds of MB after a burst of sign-ins). Here memory stays
/// near threads x 19 MiB and requests wait their turn.
#[derive(Clone, Debug)]
pub struct HashPool {
    jobs: tokio::sync::mpsc::Sender<Job>,
}

impl HashPool {
    pub fn new(threads: usize) -> Self {
        let (jobs, rx) = tokio::sync::mpsc::channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is only held while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(mut rx) => rx.blocking_recv(),
                            Err(_) => None,
                        };
                        match job {
                            Some(job) => job(),
                            // Every sender is gone: the app state was dropped.
                            None => break,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start a hashing thread: {e}");
            }
        }
        HashPool { jobs }
    }

    /// One thread per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs
            .send(job)
            .await
            .map_err(|e| crate::backend::internal("queueing a hashing job", e))?;
        result
            .await
            .map_err(|e| crate::backend::internal("waiting for a hashing job", e))
    }
}

pub async fn hash(pool: &HashPool, password: Password) -> Result<PasswordHashString, AppError> {
    pool.run(move || hash_blocking(&password)).await?
}

pub async fn verify(
    pool: &HashPool,
    password: Password,
    hash: PasswordHashString,
) -> Result<bool, AppError> {
    pool.run(move || verify_blocking(&password, &hash)).await
}

/// Verified against when the email is unknown, so that unknown and known
/// accounts take the same time to answer. Only its parameters matter (the
/// same work as a real hash; a test keeps them equal): an unknown email fails
/// whatever the comparison says. A constant saves a hash at every start.
pub fn dummy_hash() -> PasswordHashString {
    PasswordHashString(
        "$argon2id$v=19$m=19456,t=2,p=1$rKfILsTvNjBY9+jYW+gd6w$rUfRtMpb0LItfrB1gAh1RUy/wfM0ys+aczoN+tSSz1k"
            .to_string(),
    )
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
    fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_blocking(&Password::new("tuba-lantern-orbit-42".into())).unwrap();
        let parsed = PasswordHash::new(&ours.0).unwrap();
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, owasp_params());
        assert!(
            standard
                .verify_password(b"tuba-lantern-orbit-42", &parsed)
                .is_ok()
        );
        assert!(
            standard
                .verify_password(b"tuba-lantern-orbit-43", &parsed)
                .is_err()
        );
        let salt = SaltString::generate(&mut OsRng);
        let theirs = standard
            .hash_password(b"another password!", &salt)
            .unwrap()
            .to_string();
        let theirs = PasswordHashString(theirs);
        assert!(verify_blocking(
            &Password::new("another password!".into()),
            &theirs
        ));
        assert!(!verify_blocking(
            &Password::new("another password?".into()),
            &theirs
        ));
    }

    #[test]
    fn argon2i_hashes_are_refused() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::generate(&mut OsRng);
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, owasp_params());
        let h = argon2i
            .hash_password(b"password12345", &salt)
            .unwrap()
            .to_string();
        assert!(!verify_blocking(
            &Password::new("password12345".into()),
            &PasswordHashString(h)
        ));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let dummy = dummy_hash();
        let dummy = PasswordHash::new(&dummy.0).unwrap();
        let real = hash_blocking(&Password::new("tuba-lantern-orbit-42".into())).unwrap();
        let real = PasswordHash::new(&real.0).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
    }

    #[test]
    fn malformed_hash_never_verifies() {
        let bogus = PasswordHashString("not a hash".into());
        assert!(!verify_blocking(&Password::new("anything".into()), &bogus));
    }

    #[tokio::test]
    async fn the_pool_hashes_and_verifies_off_the_runtime() {
        let pool = HashPool::new(2);
        let h = hash(&pool, Password::new("tuba-lantern-orbit-42".into())).await;
        let Ok(h) = h else { panic!("hashing failed") };
        let ok = verify(
            &pool,
            Password::new("tuba-lantern-orbit-42".into()),
            h.clone(),
        )
        .await;
        assert_eq!(ok.ok(), Some(true));
        let bad = verify(&pool, Password::new("nope".into()), h).await;
        assert_eq!(bad.ok(), Some(false));
    }

    #[test]
    fn debug_redacts() {
        let p = Password::new("hunter2hunter2".into());
        assert!(!format!("{p:?}").contains("hunter2"));
        let h = PasswordHashString("$argon2id$secret".into());
        assert!(!format!("{h:?}").contains("argon2id"));
    }
}
