//! Second factors: authenticator apps (TOTP), passkeys and security keys
//! (WebAuthn), backup and email codes,
//! trusted devices, the rules that check any of them (`mfa`), and the
//! account's list of named factors (`named`).

pub mod backup_codes;
pub mod devices;
pub mod email_codes;
pub mod mfa;
pub mod named;
pub mod one_time_codes;
pub mod passkeys;
pub mod phones;
pub mod totp;
