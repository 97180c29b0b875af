//! Passkeys and security keys (WebAuthn, through webauthn-rs): adding one to
//! the account, and checking an assertion for the sign-in paths (passkey
//! alone, or as the second factor). Every ceremony's state stays on the
//! server ([`ceremonies`]); origin, RP ID, challenge, signature and user
//! verification are checked by webauthn-rs, the signature counter against
//! the stored one here, atomically.

pub mod ceremonies;
mod relying_party;

pub use ceremonies::{CEREMONY_COOKIE, Purpose};
pub use relying_party::RelyingParty;

use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Uuid, WebauthnError,
};

use crate::api::{
    AppError, FactorInfo, FactorKind, MfaState, PasskeyAdded, PasskeyRegisterRequest,
};
use crate::backend::alerts::{self, Alert};
use crate::backend::audit::{self, EventKind};
use crate::backend::auth::sessions::{Live, SessionToken};
use crate::backend::factors::named;
use crate::backend::infra::clock::UnixTime;
use crate::backend::infra::db;
use crate::backend::{AppState, ClientMeta, UserId, internal};

/// What the browser gets to start a ceremony, and the token for its cookie.
#[derive(Debug)]
pub struct Started {
    /// `{"publicKey": {...}}`, the WebAuthn Level 3 JSON form.
    pub options: serde_json::Value,
    pub token: SessionToken,
}

/// The options as the browser's `PublicKeyCredential.parse*OptionsFromJSON`
/// takes them: `{"publicKey": ...}` without nulls (a null is not a valid
/// value for the optional members) and without webauthn-rs's `mediation`
/// (the page decides between the button and autofill).
fn options_json(value: &impl Serialize) -> Result<serde_json::Value, AppError> {
    let mut json =
        serde_json::to_value(value).map_err(|e| internal("writing WebAuthn options", e))?;
    strip_nulls(&mut json);
    if let Some(map) = json.as_object_mut() {
        map.remove("mediation");
    }
    Ok(json)
}

fn strip_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn refused(message: &str) -> AppError {
    AppError::PasskeyRefused {
        message: message.to_string(),
    }
}

/// The refusal of a key whose signature counter went backwards.
pub fn cloned_key_error() -> AppError {
    refused(
        "This passkey or security key was refused: it answered as if it had been copied. Use another method, and remove it from your account if you do not know why.",
    )
}

/// Why webauthn-rs refused an answer, in words for the person (the details
/// go to the log).
fn refusal(e: &WebauthnError) -> AppError {
    tracing::info!("passkey refused: {e:?}");
    match e {
        WebauthnError::CredentialPossibleCompromise => cloned_key_error(),
        WebauthnError::UserNotVerified => refused(
            "Your passkey did not verify it is you (PIN, fingerprint or face). Try again and confirm on the device.",
        ),
        WebauthnError::InvalidRPOrigin | WebauthnError::InvalidRPIDHash => {
            refused("This passkey answered for another site. Use a passkey made for this address.")
        }
        _ => refused(
            "The passkey or security key could not be verified. Try again, or use another method.",
        ),
    }
}

fn bad_credential(e: impl std::fmt::Display) -> AppError {
    AppError::validation(
        "credential",
        format!("The browser's passkey answer is not readable: {e}"),
    )
}

/// The opaque WebAuthn user handle of the account, made on first use.
async fn user_handle(state: &AppState, user: UserId) -> Result<Uuid, AppError> {
    let fresh = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO webauthn_users (user_id, handle) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(user.0)
    .bind(fresh.as_bytes().as_slice())
    .execute(state.writer.pool())
    .await
    .map_err(|e| internal("storing a user handle", e))?;
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT handle FROM webauthn_users WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(state.writer.pool())
            .await
            .map_err(|e| internal("reading a user handle", e))?;
    Uuid::from_slice(&stored).map_err(|e| internal("a stored user handle", e))
}

/// The account a user handle names, if any.
async fn user_of_handle(pool: &AnyPool, handle: &Uuid) -> Result<Option<UserId>, AppError> {
    let user: Option<i64> =
        sqlx::query_scalar("SELECT user_id FROM webauthn_users WHERE handle = $1")
            .bind(handle.as_bytes().as_slice())
            .fetch_optional(pool)
            .await
            .map_err(|e| internal("finding a user handle", e))?;
    Ok(user.map(UserId))
}

/// A stored passkey of the account.
#[derive(Debug, Clone)]
struct StoredKey {
    factor: i64,
    name: String,
    key: Passkey,
}

async fn keys_of(pool: &AnyPool, user: UserId) -> Result<Vec<StoredKey>, AppError> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT f.id, f.name, p.credential FROM factors f
         JOIN passkey_factors p ON p.factor_id = f.id WHERE f.user_id = $1 ORDER BY f.id",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await
    .map_err(|e| internal("reading passkeys", e))?;
    rows.into_iter()
        .map(|(factor, name, json)| {
            let key = serde_json::from_str(&json).map_err(|e| internal("a stored passkey", e))?;
            Ok(StoredKey { factor, name, key })
        })
        .collect()
}

/// Whether the account holds at least one passkey (then the sign-in
/// challenge offers it).
pub async fn has_any(pool: &AnyPool, user: UserId) -> Result<bool, AppError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM factors WHERE user_id = $1 AND kind = 'Passkey')",
    )
    .bind(user.0)
    .fetch_one(pool)
    .await
    .map_err(|e| internal("looking for passkeys", e))
}

/// A registration in progress: the name asked for and webauthn-rs's state.
#[derive(Serialize, Deserialize)]
struct Registering {
    name: String,
    registration: PasskeyRegistration,
}

/// `POST /api/webauthn/register/start`: options for
/// `navigator.credentials.create`. Needs the re-authentication window (a
/// stolen session alone cannot bind the thief's key). The account's keys are
/// excluded, so one key is not added twice; a discoverable credential (a
/// real passkey) is preferred, user verification required.
pub async fn register_start(
    state: &AppState,
    live: &Live,
    name: &str,
    meta: &ClientMeta,
) -> Result<Started, AppError> {
    let name = if name.trim().is_empty() {
        DEFAULT_NAME.to_string()
    } else {
        named::clean_name(name)?
    };
    let rp = state.settings.passkeys.get()?;
    crate::backend::auth::access::require_fresh(state, live).await?;
    let user = live.user;
    let email = crate::backend::auth::accounts::email_of(&state.pool, user).await?;
    let handle = user_handle(state, user).await?;
    let exclude = keys_of(&state.pool, user)
        .await?
        .iter()
        .map(|k| k.key.cred_id().clone())
        .collect();
    let (options, registration) = rp
        .start_passkey_registration(handle, &email, &email, Some(exclude))
        .map_err(|e| internal("starting a passkey registration", e))?;
    let mut options = options_json(&options)?;
    // webauthn-rs asks for no resident key, to spare security keys' slots;
    // Twofold wants passkeys that sign in without a password, so it asks
    // for one where the authenticator can keep it.
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(|s| s.as_object_mut())
    {
        selection.insert("residentKey".into(), "preferred".into());
        selection.insert("requireResidentKey".into(), false.into());
    }
    let saved = Registering { name, registration };
    let token = open_ceremony(state, Purpose::Register, Some(user), &saved, meta).await?;
    Ok(Started { options, token })
}

/// Keeps webauthn-rs's state of a ceremony on the server (see
/// [`ceremonies`]); the token names it in the browser's cookie.
async fn open_ceremony(
    state: &AppState,
    purpose: Purpose,
    user: Option<UserId>,
    saved: &impl Serialize,
    meta: &ClientMeta,
) -> Result<SessionToken, AppError> {
    let saved =
        serde_json::to_string(saved).map_err(|e| internal("saving a WebAuthn ceremony", e))?;
    let address = address(meta);
    let now = state.clock.now();
    ceremonies::open(
        state.writer.pool(),
        purpose,
        user,
        &saved,
        address.as_deref(),
        now,
    )
    .await
}

/// The name a passkey gets when its owner gives none.
pub const DEFAULT_NAME: &str = "Passkey";

fn address(meta: &ClientMeta) -> Option<String> {
    meta.ip
        .as_deref()
        .map(crate::backend::auth::rate_limit::address_bucket)
}

/// `POST /api/webauthn/register/finish`: checks the browser's answer against
/// the ceremony and stores the key as a factor. The first factor of an
/// account turns MFA on and comes with 10 backup codes, as the TOTP wizard.
pub async fn register_finish(
    state: &AppState,
    live: &Live,
    token: Option<SessionToken>,
    req: PasskeyRegisterRequest,
    meta: &ClientMeta,
) -> Result<PasskeyAdded, AppError> {
    let now = state.clock.now();
    let user = live.user;
    let rp = state.settings.passkeys.get()?;
    // Bad input is refused before anything is spent.
    let answer: RegisterPublicKeyCredential =
        serde_json::from_value(req.credential).map_err(bad_credential)?;
    let given_name = if req.name.trim().is_empty() {
        None
    } else {
        Some(named::clean_name(&req.name)?)
    };
    let token = token.ok_or(AppError::ChallengeExpired)?;
    let ceremony = ceremonies::peek(&state.pool, &token, Purpose::Register, now)
        .await?
        .filter(|c| c.user == Some(user))
        .ok_or(AppError::ChallengeExpired)?;
    let saved: Registering =
        serde_json::from_str(&ceremony.state).map_err(|e| internal("a saved registration", e))?;
    let checked = rp.finish_passkey_registration(&answer, &saved.registration);
    let name = given_name.unwrap_or(saved.name);

    let mut tx = db::begin_write(&state.writer).await?;
    if !ceremonies::take(&mut tx, &token, Purpose::Register, now).await? {
        return Err(AppError::ChallengeExpired);
    }
    let key = match checked {
        Ok(key) => key,
        Err(e) => {
            // The ceremony stays spent: a refused answer cannot be retried.
            tx.commit().await?;
            return Err(refusal(&e));
        }
    };
    let internals = Credential::from(key.clone());
    let stored = serde_json::to_string(&key).map_err(|e| internal("writing a passkey", e))?;
    let was: String = sqlx::query_scalar("SELECT mfa_state FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_one(tx.conn()?)
        .await
        .map_err(|e| internal("reading MFA state", e))?;
    let turned_on = was != MfaState::Enabled.as_str();
    let factor: i64 = sqlx::query_scalar(
        "INSERT INTO factors (user_id, kind, name, created_at) VALUES ($1, 'Passkey', $2, $3)
         RETURNING id",
    )
    .bind(user.0)
    .bind(&name)
    .bind(now)
    .fetch_one(tx.conn()?)
    .await
    .map_err(|e| internal("adding a factor", e))?;
    let inserted = sqlx::query(
        "INSERT INTO passkey_factors
         (factor_id, credential_id, credential, sign_count, backup_eligible, backed_up)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (credential_id) DO NOTHING",
    )
    .bind(factor)
    .bind(key.cred_id().as_ref())
    .bind(&stored)
    .bind(i64::from(internals.counter))
    .bind(internals.backup_eligible)
    .bind(internals.backup_state)
    .execute(tx.conn()?)
    .await
    .map_err(|e| internal("storing a passkey", e))?;
    if inserted.rows_affected() != 1 {
        // Rolled back as it is dropped (the ceremony with it: try again with
        // another key).
        return Err(AppError::Conflict {
            message: "This passkey or security key is already registered.".into(),
        });
    }
    let codes = if turned_on {
        crate::backend::factors::mfa::turn_on_in(tx.conn()?, &state.settings.key, user).await?
    } else {
        Vec::new()
    };
    let detail = format!("Passkey: {name}");
    audit::record_later(
        &mut tx.later,
        Some(user),
        EventKind::FactorAdded,
        now,
        meta,
        &detail,
    );
    if turned_on {
        audit::record_later(
            &mut tx.later,
            Some(user),
            EventKind::MfaSetupConfirmed,
            now,
            meta,
            "passkey",
        );
    }
    tx.commit().await?;
    // Making the key proved it is in the person's hands: the session counts
    // as having a fresh factor, as after confirming an authenticator app.
    let proof = crate::backend::auth::sessions::Proof::PasswordAndKey {
        synced: internals.backup_eligible,
    };
    crate::backend::auth::sessions::mark_factor(&state.pool, live.id, proof, now).await?;
    let alert = if turned_on {
        Alert::FactorAdded { name: name.clone() }
    } else {
        Alert::OneFactorAdded { name: name.clone() }
    };
    alerts::send(state, user, alert, meta).await?;
    Ok(PasskeyAdded {
        factor: FactorInfo {
            id: factor,
            kind: FactorKind::Passkey,
            name,
            created_at: now,
            last_used_at: None,
            synced: Some(internals.backup_eligible),
            phone: None,
        },
        mfa: MfaState::Enabled,
        backup_codes: codes,
    })
}

/// `POST /api/webauthn/login/start`: options for a discoverable credential
/// (the authenticator says whose it is), user verification required.
pub async fn sign_in_start(state: &AppState, meta: &ClientMeta) -> Result<Started, AppError> {
    let rp = state.settings.passkeys.get()?;
    let (options, auth) = rp
        .start_discoverable_authentication()
        .map_err(|e| internal("starting a passkey sign-in", e))?;
    let token = open_ceremony(state, Purpose::SignIn, None, &auth, meta).await?;
    Ok(Started {
        options: options_json(&options)?,
        token,
    })
}

/// `POST /api/auth/second-factor/passkey/start`: options naming the keys of
/// the account whose sign-in challenge this is.
pub async fn second_factor_start(
    state: &AppState,
    user: UserId,
    meta: &ClientMeta,
) -> Result<Started, AppError> {
    let rp = state.settings.passkeys.get()?;
    let keys: Vec<Passkey> = keys_of(&state.pool, user)
        .await?
        .into_iter()
        .map(|k| k.key)
        .collect();
    if keys.is_empty() {
        return Err(AppError::Conflict {
            message: "This account has no passkey. Use another method.".into(),
        });
    }
    let (options, auth) = rp
        .start_passkey_authentication(&keys)
        .map_err(|e| internal("starting a passkey check", e))?;
    let token = open_ceremony(state, Purpose::SecondFactor, Some(user), &auth, meta).await?;
    Ok(Started {
        options: options_json(&options)?,
        token,
    })
}

/// An assertion checked by webauthn-rs (reads and CPU, no writes): which
/// key answered and what to store; or why it was refused.
#[derive(Debug)]
pub struct Assertion {
    pub token: SessionToken,
    pub purpose: Purpose,
    /// The name of the account's key that answered, when it is one.
    pub key_name: Option<String>,
    pub outcome: Result<Accepted, AppError>,
}

impl Assertion {
    /// The key that answered is a synced passkey (kept in a cloud keychain).
    pub fn synced(&self) -> bool {
        self.outcome.as_ref().is_ok_and(|a| a.backed_up)
    }
}

/// The name of the stored key `answer` comes from.
fn name_of(keys: &[StoredKey], answer: &PublicKeyCredential) -> Option<String> {
    let id: &[u8] = answer.raw_id.as_ref();
    keys.iter()
        .find(|k| AsRef::<[u8]>::as_ref(k.key.cred_id()) == id)
        .map(|k| k.name.clone())
}

#[derive(Debug)]
pub struct Accepted {
    pub factor: i64,
    pub name: String,
    counter: u32,
    backed_up: bool,
    credential: String,
}

fn parse_assertion(credential: serde_json::Value) -> Result<PublicKeyCredential, AppError> {
    serde_json::from_value(credential).map_err(bad_credential)
}

/// Checks a second-factor answer for `user` against the ceremony `token`
/// names. `Err` only for input that changes nothing (unreadable JSON, no
/// live ceremony); a refused assertion is an `Ok(Assertion)` whose outcome
/// is the refusal, so it is counted.
pub async fn check_for_user(
    state: &AppState,
    user: UserId,
    token: Option<SessionToken>,
    credential: Option<serde_json::Value>,
    now: UnixTime,
) -> Result<Assertion, AppError> {
    let credential = credential
        .ok_or_else(|| AppError::validation("credential", "Use your passkey to answer."))?;
    let answer = parse_assertion(credential)?;
    let token = token.ok_or(AppError::ChallengeExpired)?;
    let purpose = Purpose::SecondFactor;
    let ceremony = ceremonies::peek(&state.pool, &token, purpose, now)
        .await?
        .filter(|c| c.user == Some(user))
        .ok_or(AppError::ChallengeExpired)?;
    let rp = state.settings.passkeys.get()?;
    let saved: PasskeyAuthentication =
        serde_json::from_str(&ceremony.state).map_err(|e| internal("a saved passkey check", e))?;
    let keys = keys_of(&state.pool, user).await?;
    let key_name = name_of(&keys, &answer);
    let outcome = match rp.finish_passkey_authentication(&answer, &saved) {
        Ok(result) => accepted(keys, &result),
        Err(e) => Err(refusal(&e)),
    };
    Ok(Assertion {
        token,
        purpose,
        key_name,
        outcome,
    })
}

/// Checks a passkey sign-in answer. The authenticator names the account (its
/// user handle); `None` when it names none of ours.
pub async fn check_discoverable(
    state: &AppState,
    token: Option<SessionToken>,
    credential: serde_json::Value,
    now: UnixTime,
) -> Result<(Option<UserId>, Assertion), AppError> {
    let answer = parse_assertion(credential)?;
    let token = token.ok_or(AppError::ChallengeExpired)?;
    let purpose = Purpose::SignIn;
    let ceremony = ceremonies::peek(&state.pool, &token, purpose, now)
        .await?
        .ok_or(AppError::ChallengeExpired)?;
    let rp = state.settings.passkeys.get()?;
    let saved: DiscoverableAuthentication =
        serde_json::from_str(&ceremony.state).map_err(|e| internal("a saved sign-in", e))?;
    let unknown = || {
        refused(
            "This passkey is not registered here. Sign in with your password, or use another passkey.",
        )
    };
    let user = match rp.identify_discoverable_authentication(&answer) {
        Ok((handle, _)) => user_of_handle(&state.pool, &handle).await?,
        Err(_) => None,
    };
    let mut key_name = None;
    let outcome = match user {
        None => Err(unknown()),
        Some(user) => {
            let keys = keys_of(&state.pool, user).await?;
            key_name = name_of(&keys, &answer);
            let allowed: Vec<DiscoverableKey> =
                keys.iter().map(|k| DiscoverableKey::from(&k.key)).collect();
            // Only this account's keys are allowed: a key of another account
            // presented with this account's handle fails here.
            match rp.finish_discoverable_authentication(&answer, saved, &allowed) {
                Ok(result) => accepted(keys, &result),
                Err(WebauthnError::CredentialNotFound) => Err(unknown()),
                Err(e) => Err(refusal(&e)),
            }
        }
    };
    Ok((
        user,
        Assertion {
            token,
            purpose,
            key_name,
            outcome,
        },
    ))
}

fn accepted(
    keys: Vec<StoredKey>,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<Accepted, AppError> {
    let mut stored = keys
        .into_iter()
        .find(|k| k.key.cred_id() == result.cred_id())
        .ok_or_else(|| refused("This passkey is not registered to this account."))?;
    if !result.user_verified() {
        return Err(refusal(&WebauthnError::UserNotVerified));
    }
    stored.key.update_credential(result);
    let credential =
        serde_json::to_string(&stored.key).map_err(|e| internal("writing a passkey", e))?;
    Ok(Accepted {
        factor: stored.factor,
        name: stored.name,
        counter: result.counter(),
        backed_up: result.backup_state(),
        credential,
    })
}

/// Inside the caller's write transaction: spends the ceremony (a refused
/// answer spends it too) and, for an accepted one, moves the key's counter
/// forward. `Ok(Err(_))` is a refusal to count; `Err` means roll back.
/// A counter that does not move forward is a refusal: two answers signed
/// with the same counter (or an older one) mean a copied key.
pub async fn accept_in(
    tx: &mut db::WriteTx,
    assertion: &Assertion,
    user: UserId,
    meta: &ClientMeta,
    now: UnixTime,
) -> Result<Result<i64, AppError>, AppError> {
    if !ceremonies::take(tx, &assertion.token, assertion.purpose, now).await? {
        return Err(AppError::ChallengeExpired);
    }
    let accepted = match &assertion.outcome {
        Ok(accepted) => accepted,
        Err(e) => return Ok(Err(refused_in(tx, assertion, user, meta, now, e.clone()))),
    };
    // A key without a counter always says 0; one with a counter must go up.
    let moved = tx
        .execute(
            "updating a passkey counter",
            "UPDATE passkey_factors SET sign_count = $1, credential = $2, backed_up = $3
             WHERE factor_id = $4 AND (sign_count < $1 OR (sign_count = 0 AND $1 = 0))",
            &[
                i64::from(accepted.counter).into(),
                accepted.credential.clone().into(),
                accepted.backed_up.into(),
                accepted.factor.into(),
            ],
        )
        .await?;
    if moved != 1 {
        let error = cloned_key_error();
        return Ok(Err(refused_in(tx, assertion, user, meta, now, error)));
    }
    tx.later
        .add("UPDATE factors SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(accepted.factor);
    Ok(Ok(accepted.factor))
}

/// A refused answer, inside the transaction: a possibly copied key (by
/// webauthn-rs's counter check or ours) is recorded as such.
fn refused_in(
    tx: &mut db::WriteTx,
    assertion: &Assertion,
    user: UserId,
    meta: &ClientMeta,
    now: UnixTime,
    error: AppError,
) -> AppError {
    if error == cloned_key_error() {
        let detail = assertion.key_name.as_deref().unwrap_or("a passkey");
        audit::record_later(
            &mut tx.later,
            Some(user),
            EventKind::PossibleClonedKey,
            now,
            meta,
            detail,
        );
    }
    error
}

/// After a refusal is committed: a possibly copied key is mailed about.
pub async fn announce_refusal(
    state: &AppState,
    user: UserId,
    key_name: Option<String>,
    error: &AppError,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    if *error != cloned_key_error() {
        return Ok(());
    }
    let name = key_name.unwrap_or_else(|| "one of your passkeys".to_string());
    alerts::send(state, user, Alert::PossibleClonedKey { name }, meta).await
}
