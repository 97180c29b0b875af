//! Security alerts by email: whenever something changes on an account, or
//! looks like an attack, its owner hears of it, with when, from where and
//! what to do if it was not them. Each alert sent is in the audit trail.

use crate::api::AppError;
use crate::api::display::{device_label, format_utc};
use crate::backend::audit::{self, EventKind};
use crate::backend::{AppState, ClientMeta, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    /// The first factor: MFA is on. `name` is the factor's.
    FactorAdded {
        name: String,
    },
    /// Another factor beside those the account has.
    OneFactorAdded {
        name: String,
    },
    /// A passkey's signature counter went backwards: it may have been copied.
    PossibleClonedKey {
        name: String,
    },
    /// The last factor went: MFA is off.
    FactorRemoved,
    /// One of several factors went; the others remain.
    OneFactorRemoved {
        name: String,
    },
    BackupCodeUsed {
        left: u32,
    },
    BackupCodesRegenerated,
    DeviceTrusted {
        label: String,
    },
    LockedOut,
    ReusedCode,
    PasswordChanged,
    MfaReset,
    /// Someone tried to create an account with this address.
    SignUpAttempt,
    /// An admin's two-factor authentication was reset (mailed to every admin).
    AdminMfaReset {
        target: String,
    },
    /// The password was reset from a link sent by mail.
    PasswordReset,
    /// A recovery was cancelled (by the owner's link or an admin).
    RecoveryCancelled,
    /// A recovery finished: every factor was removed.
    RecoveryCompleted,
}

impl Alert {
    pub fn name(&self) -> &'static str {
        match self {
            Alert::FactorAdded { .. } => "FactorAdded",
            Alert::OneFactorAdded { .. } => "OneFactorAdded",
            Alert::PossibleClonedKey { .. } => "PossibleClonedKey",
            Alert::FactorRemoved => "FactorRemoved",
            Alert::OneFactorRemoved { .. } => "OneFactorRemoved",
            Alert::BackupCodeUsed { .. } => "BackupCodeUsed",
            Alert::BackupCodesRegenerated => "BackupCodesRegenerated",
            Alert::DeviceTrusted { .. } => "DeviceTrusted",
            Alert::LockedOut => "LockedOut",
            Alert::ReusedCode => "ReusedCode",
            Alert::PasswordChanged => "PasswordChanged",
            Alert::MfaReset => "MfaReset",
            Alert::SignUpAttempt => "SignUpAttempt",
            Alert::AdminMfaReset { .. } => "AdminMfaReset",
            Alert::PasswordReset => "PasswordReset",
            Alert::RecoveryCancelled => "RecoveryCancelled",
            Alert::RecoveryCompleted => "RecoveryCompleted",
        }
    }

    pub fn subject(&self) -> &'static str {
        match self {
            Alert::FactorAdded { .. } => "Two-factor authentication was turned on",
            Alert::OneFactorAdded { .. } => "A second factor was added to your account",
            Alert::PossibleClonedKey { .. } => "A passkey was refused: it may have been copied",
            Alert::FactorRemoved => "Two-factor authentication was turned off",
            Alert::OneFactorRemoved { .. } => "A second factor was removed from your account",
            Alert::BackupCodeUsed { .. } => "A backup code was used to sign in",
            Alert::BackupCodesRegenerated => "New backup codes were made",
            Alert::DeviceTrusted { .. } => "A new device is trusted to skip codes",
            Alert::LockedOut => "Sign-in locked after failed attempts",
            Alert::ReusedCode => "An authenticator code was used twice",
            Alert::PasswordChanged => "Your password was changed",
            Alert::MfaReset => "Two-factor authentication was reset by an administrator",
            Alert::SignUpAttempt => "Someone tried to sign up with your address",
            Alert::AdminMfaReset { .. } => "An administrator's two-factor authentication was reset",
            Alert::PasswordReset => "Your password was reset",
            Alert::RecoveryCancelled => "The recovery of your account was cancelled",
            Alert::RecoveryCompleted => {
                "Your account was recovered: its second factors were removed"
            }
        }
    }

    /// The message body: what happened, when, from where, what to do.
    pub fn text(&self, when: i64, meta: &ClientMeta) -> String {
        let what = match self {
            Alert::FactorAdded { name } => format!("Two-factor authentication was turned on for your Twofold account, with \"{name}\" as the second factor."),
            Alert::OneFactorAdded { name } => format!("\"{name}\" was added as a second factor for your Twofold account. Your other factors still work."),
            Alert::PossibleClonedKey { name } => format!("The passkey or security key \"{name}\" answered with a signature counter lower than before, so it was refused. This can mean the key was copied. If you did not expect this, remove it from your account and sign out everywhere."),
            Alert::FactorRemoved => "Two-factor authentication was turned off for your Twofold account. Signing in now needs only the password.".to_string(),
            Alert::OneFactorRemoved { name } => format!("The second factor \"{name}\" was removed from your Twofold account. Your other factors still work."),
            Alert::BackupCodeUsed { left } => format!("One of your backup codes was used to sign in to your Twofold account. It has been replaced; {left} unused codes remain from your set."),
            Alert::BackupCodesRegenerated => "A new set of backup codes was made for your Twofold account. The old codes no longer work.".to_string(),
            Alert::DeviceTrusted { label } => format!("{label} is now trusted to sign in to your Twofold account with the password alone, for 30 days."),
            Alert::LockedOut => "Several wrong passwords or codes were tried on your Twofold account, so signing in is locked for 15 minutes.".to_string(),
            Alert::ReusedCode => "An authenticator code that had already been used was tried again on your Twofold account. Someone may have seen or phished your code.".to_string(),
            Alert::PasswordChanged => "The password of your Twofold account was changed. Every other session was signed out and every trusted device forgotten.".to_string(),
            Alert::SignUpAttempt => "Someone tried to create a Twofold account with your email address. You already have one, so nothing was created. If it was you, sign in instead (or ask for help if you forgot your password).".to_string(),
            Alert::AdminMfaReset { target } => format!("The two-factor authentication of administrator {target} was reset. Every administrator is told, because an administrator's account can change everyone's."),
            Alert::PasswordReset => "The password of your Twofold account was reset with a link sent to this address. Every session was signed out and every trusted device forgotten.".to_string(),
            Alert::RecoveryCancelled => "The recovery of your Twofold account (for someone who lost every second factor) was cancelled, and every session was signed out. Whoever started it knows your password: change it now.".to_string(),
            Alert::RecoveryCompleted => "The recovery of your Twofold account finished after its waiting time: every second factor (authenticator apps, passkeys, phones, backup codes, trusted devices) was removed, and new ones are being set up.".to_string(),
            Alert::MfaReset => "An administrator reset two-factor authentication on your Twofold account: your authenticator app, backup codes and trusted devices no longer work. Set up two-factor authentication again after you sign in.".to_string(),
        };
        format!(
            "{what}\n\nWhen: {}\nFrom: {}\nBrowser: {}\n\nIf this was you, there is nothing to do.\n\n\
             If it was not you: change your password, sign out of all other sessions and forget \
             trusted devices on your account security page, and make new backup codes.",
            format_utc(when),
            meta.ip.as_deref().unwrap_or("unknown address"),
            device_label(meta.user_agent.as_deref()),
        )
    }
}

/// Mails `alert` to the account's address (in the background) and records
/// that it was sent.
pub async fn send(
    state: &AppState,
    user: UserId,
    alert: Alert,
    meta: &ClientMeta,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let email = crate::backend::auth::accounts::email_of(&state.pool, user).await?;
    state
        .settings
        .mailer
        .send_later(&email, alert.subject(), alert.text(now, meta));
    audit::record(
        &state.pool,
        Some(user),
        EventKind::AlertSent,
        now,
        meta,
        alert.name(),
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_says_when_where_and_what_to_do() {
        let meta = ClientMeta {
            ip: Some("192.0.2.7".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36".into()),
        };
        for alert in [
            Alert::FactorAdded {
                name: "Laptop".into(),
            },
            Alert::OneFactorAdded {
                name: "YubiKey".into(),
            },
            Alert::PossibleClonedKey {
                name: "YubiKey".into(),
            },
            Alert::FactorRemoved,
            Alert::BackupCodeUsed { left: 3 },
            Alert::BackupCodesRegenerated,
            Alert::DeviceTrusted {
                label: "Chrome on Linux".into(),
            },
            Alert::LockedOut,
            Alert::ReusedCode,
            Alert::PasswordChanged,
            Alert::MfaReset,
            Alert::PasswordReset,
            Alert::RecoveryCancelled,
            Alert::RecoveryCompleted,
        ] {
            let text = alert.text(1_800_000_000, &meta);
            assert!(text.contains("2027-01-15 08:00 UTC"), "{text}");
            assert!(text.contains("192.0.2.7") && text.contains("Chrome on Linux"));
            assert!(text.contains("If it was not you"));
            assert!(!alert.subject().is_empty());
        }
        assert!(
            Alert::BackupCodeUsed { left: 3 }
                .text(0, &meta)
                .contains("3 unused codes")
        );
    }
}
