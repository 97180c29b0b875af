//! Second factors: authenticator apps (TOTP), backup and email codes,
//! trusted devices, and the rules that check any of them (`mfa`).

pub mod backup_codes;
pub mod devices;
pub mod email_codes;
pub mod mfa;
pub mod totp;
