//! Input rules for accounts: email syntax and normalisation, password strength.
//! Pure functions, unit-tested here.
//!
//! The common-password list (`common_passwords.txt`, ASVS 5.0 6.2.4) is the
//! 30 000 most frequent passwords of the Xato corpus, in frequency order, as
//! shipped in the `passwords` frequency list of the `zxcvbn` crate 2.2.2 (MIT
//! licence, Copyright (c) 2016 Joshua Holmer), lowercased, followed by about a
//! hundred long ones chosen for this project (keyboard walks, `summer2024!!`,
//! `twofold12345`, ...). One password a line, no header. This module is in the
//! server build only (`backend` is behind the `ssr` feature), so the list never
//! reaches the WASM bundle.

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::api::AppError;

pub const PASSWORD_MIN_CHARS: usize = 12;
/// Argon2 copes with long input, but nobody types 256 characters; a cap keeps
/// hashing cost bounded.
pub const PASSWORD_MAX_CHARS: usize = 256;
const EMAIL_MAX: usize = 254;

/// The most common passwords, lowercase, one a line. Short ones matter too:
/// a password is also compared with its spaces removed (`pass word 12`).
const COMMON_PASSWORDS_TXT: &str = include_str!("common_passwords.txt");

/// The list parsed once, on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS_TXT
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// The service's own name: a password built on it is guessed early (ASVS 5.0
/// 6.2.11).
const SERVICE_NAME: &str = "twofold";

/// Trims and lowercases an email address and checks its syntax (ASCII only,
/// one `@`, a dotted domain). Lowercasing the whole address makes
/// `Ana@Example.com` and `ana@example.com` one account.
pub fn normalize_email(raw: &str) -> Result<String, AppError> {
    let email = raw.trim().to_ascii_lowercase();
    let invalid = |m: &str| Err(AppError::validation("email", m));
    if email.is_empty() {
        return invalid("Enter your email address.");
    }
    if email.len() > EMAIL_MAX {
        return invalid("That email address is too long.");
    }
    if !email.is_ascii() {
        return invalid("Use an email address with plain letters (no accents or symbols).");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return invalid("An email address needs an @, like name@example.com.");
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    if !local_ok || !domain_ok {
        return invalid("That does not look like an email address, like name@example.com.");
    }
    Ok(email)
}

/// Refuses passwords that are short, absurdly long, common, or built on the
/// email address or the service's name, and says why.
pub fn check_password(password: &str, email: &str) -> Result<(), AppError> {
    let invalid = |m: String| Err(AppError::validation("password", m));
    let chars = password.chars().count();
    if chars < PASSWORD_MIN_CHARS {
        return invalid(format!(
            "Use at least {PASSWORD_MIN_CHARS} characters; a short sentence is easy to remember."
        ));
    }
    if chars > PASSWORD_MAX_CHARS {
        return invalid(format!("Use at most {PASSWORD_MAX_CHARS} characters."));
    }
    let lowered = password.to_lowercase();
    let compact: String = lowered.chars().filter(|c| !c.is_whitespace()).collect();
    if is_common(&lowered) || is_common(&compact) {
        return invalid(
            "This password is one of the most common ones and is guessed first by attackers; choose another."
                .to_string(),
        );
    }
    if lowered
        .chars()
        .all(|c| c == lowered.chars().next().unwrap_or(' '))
    {
        return invalid(
            "A password of one repeated character is guessed at once; choose another.".to_string(),
        );
    }
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if lowered == email || (local.chars().count() >= 4 && lowered == local) {
        return invalid("Your password must not be your email address.".to_string());
    }
    if !email.is_empty() && lowered.contains(email.as_str()) {
        return invalid("Your password must not contain your email address.".to_string());
    }
    if local.chars().count() >= 4 && lowered.contains(local) {
        return invalid(
            "Your password must not contain the part of your email address before the @; choose another."
                .to_string(),
        );
    }
    if lowered.contains(SERVICE_NAME) {
        return invalid(
            "Your password must not contain the name of this service, Twofold; choose another."
                .to_string(),
        );
    }
    Ok(())
}

/// Whether this lowercase password is on the common-password list.
fn is_common(lowered: &str) -> bool {
    COMMON_PASSWORDS.contains(lowered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<impl std::fmt::Debug, AppError>) -> Option<String> {
        match r {
            Err(AppError::Validation { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            normalize_email("  Ana.Lopez+mfa@Example.ORG ")
                .ok()
                .as_deref(),
            Some("ana.lopez+mfa@example.org")
        );
        assert_eq!(
            normalize_email("x@sub.domain.io").ok().as_deref(),
            Some("x@sub.domain.io")
        );
    }

    #[test]
    fn bad_emails_are_refused_on_the_email_field() {
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a@b..com",
            "a@-b.com",
            "a b@c.com",
            ".a@b.com",
            "a..b@c.com",
            "a@b.c",
            "a@b.c0m",
            "josé@example.com",
            "a@exa_mple.com",
            "'; DROP TABLE users; --@x.com",
        ] {
            assert_eq!(
                field_of(normalize_email(bad)).as_deref(),
                Some("email"),
                "{bad:?}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(normalize_email(&long).is_err());
    }

    #[test]
    fn short_passwords_are_refused_with_the_reason() {
        let r = check_password("eleven-char", "a@b.co");
        match r {
            Err(AppError::Validation { field, message }) => {
                assert_eq!(field, "password");
                assert!(message.contains("12"), "{message}");
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // 11 characters, 22 bytes: still too short.
        assert!(check_password("ééééééééééé", "a@b.co").is_err());
        assert!(check_password("éléphant rose!", "a@b.co").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_whatever_the_case() {
        for p in [
            "password1234",
            "Password1234",
            "QWERTY123456",
            "correcthorsebatterystaple",
        ] {
            assert_eq!(
                field_of(check_password(p, "a@b.co")).as_deref(),
                Some("password"),
                "{p}"
            );
        }
    }

    #[test]
    fn repeated_and_email_passwords_are_refused() {
        assert!(check_password("zzzzzzzzzzzzzzzz", "a@b.co").is_err());
        assert!(check_password("someone@example.com", "someone@example.com").is_err());
        assert!(check_password("alongername1", "alongername1@example.com").is_err());
    }

    #[test]
    fn good_passwords_pass() {
        assert!(check_password("tuba-lantern-orbit-42", "a@b.co").is_ok());
        assert!(check_password("my cat likes tea at noon", "a@b.co").is_ok());
    }

    #[test]
    fn very_long_passwords_are_refused() {
        assert!(check_password(&"ab".repeat(200), "a@b.co").is_err());
    }

    #[test]
    fn the_common_list_has_at_least_ten_thousand_lowercase_entries() {
        let count = COMMON_PASSWORDS.len();
        assert!(count >= 10_000, "only {count} entries");
        for entry in COMMON_PASSWORDS.iter() {
            assert_eq!(*entry, entry.to_lowercase(), "{entry}");
            assert!(!entry.chars().any(char::is_whitespace), "{entry:?}");
        }
        for entry in ["password", "123456", "qwerty123456", "1qaz2wsx3edc"] {
            assert!(COMMON_PASSWORDS.contains(entry), "{entry}");
        }
    }

    #[test]
    fn long_common_passwords_from_the_list_are_refused() {
        // All three come from the Xato list, not from the project's own additions.
        for p in ["1qaz2wsx3edc", "Whosyourdaddy", "LEAVEMEALONE"] {
            match check_password(p, "a@b.co") {
                Err(AppError::Validation { field, message }) => {
                    assert_eq!(field, "password");
                    assert!(message.contains("most common"), "{message}");
                }
                other => panic!("{p}: expected a validation error, got {other:?}"),
            }
        }
    }

    #[test]
    fn common_passwords_are_refused_with_spaces_removed() {
        // "password12" alone is too short for the length rule.
        assert_eq!(
            field_of(check_password("pass word 12", "a@b.co")).as_deref(),
            Some("password")
        );
        assert_eq!(
            field_of(check_password("qwerty 123456", "a@b.co")).as_deref(),
            Some("password")
        );
    }

    #[test]
    fn passwords_containing_the_email_name_are_refused() {
        for p in [
            "Marguerite-2024-!!",
            "my name is marguerite ok",
            "xMARGUERITEx77",
        ] {
            match check_password(p, "Marguerite@Example.com") {
                Err(AppError::Validation { field, message }) => {
                    assert_eq!(field, "password");
                    assert!(message.contains("before the @"), "{p}: {message}");
                }
                other => panic!("{p}: expected a validation error, got {other:?}"),
            }
        }
        assert!(check_password("my sister ana@example.com", "ana@example.com").is_err());
        // A local part under four characters is too short to judge by.
        assert!(check_password("banana bread at dusk", "ana@example.com").is_ok());
    }

    #[test]
    fn passwords_containing_the_service_name_are_refused() {
        for p in ["Twofold rocks 2024", "my-TWOFOLD-login!", "xx twofold xx"] {
            match check_password(p, "a@b.co") {
                Err(AppError::Validation { field, message }) => {
                    assert_eq!(field, "password");
                    assert!(message.contains("Twofold"), "{p}: {message}");
                }
                other => panic!("{p}: expected a validation error, got {other:?}"),
            }
        }
    }

    #[test]
    fn strong_passphrases_pass() {
        for p in [
            "tuba lantern orbit 42",
            "quartz meadow ferry 77",
            "velvet harbor compass 58",
            "zebra-canyon-secret-991",
            "Gx7#plume-vortex-Kiln-93",
        ] {
            assert!(check_password(p, "marguerite@example.com").is_ok(), "{p}");
        }
    }
}
