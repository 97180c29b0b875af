//! Small presentation rules shared by server and browser: dates, device
//! labels and event names as people read them.

/// `2026-11-22 14:05 UTC` from unix seconds (civil-from-days, no time crate).
pub fn format_utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// "Chrome on Linux", "Firefox on Windows", "curl": a label a person can
/// recognise, from a User-Agent header. Unknown parts say so.
pub fn device_label(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.filter(|u| !u.trim().is_empty()) else {
        return "Unknown device".to_string();
    };
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("HeadlessChrome/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if let Some(tool) = ["curl", "Wget", "python-requests", "reqwest"]
        .iter()
        .find(|t| ua.starts_with(*t))
    {
        return (*tool).to_string();
    } else {
        "Unknown browser"
    };
    let os = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        return browser.to_string();
    };
    format!("{browser} on {os}")
}

/// What a security event kind means, in words.
pub fn event_text(kind: &str) -> &'static str {
    match kind {
        "Registered" => "Account created",
        "LoginSucceeded" => "Signed in",
        "LoginFailed" => "Failed sign-in (wrong password)",
        "LoggedOut" => "Signed out",
        "LoggedOutEverywhere" => "Signed out of other sessions",
        "SessionRevoked" => "A session was ended",
        "ChallengeIssued" => "Password accepted, second factor asked",
        "FactorSucceeded" => "Second factor accepted",
        "FactorFailed" => "Wrong second factor",
        "MfaSetupStarted" => "Authenticator setup started",
        "MfaSetupConfirmed" => "Two-factor authentication turned on",
        "MfaSetupCancelled" => "Authenticator setup cancelled",
        "MfaDisabled" => "Two-factor authentication turned off",
        "BackupCodesRegenerated" => "New backup codes made",
        "BackupCodeUsed" => "Backup code used",
        "LockedOut" => "Too many attempts: sign-in locked for a while",
        "DeviceTrusted" => "Device trusted for 30 days",
        "DeviceRevoked" => "Trusted device removed",
        "EmailCodeSent" => "Sign-in code sent by email",
        "AlertSent" => "Security alert emailed to you",
        "PasswordChanged" => "Password changed",
        "PasswordFailed" => "Wrong password when confirming an action",
        "FactorRenamed" => "Second factor renamed",
        "FactorRemoved" => "Second factor removed",
        "FactorAdded" => "Second factor added",
        "PossibleClonedKey" => "Passkey refused: it may have been copied",
        "AppSignIn" => "Signed in to an app",
        "AppTokensIssued" => "App given access",
        "AppRefused" => "App refused",
        "AppRevoked" => "App access revoked",
        "AppConsented" => "App allowed",
        "SmsCodeSent" => "Code sent by text message",
        "PasswordResetRequested" => "Password reset link requested",
        "PasswordReset" => "Password reset",
        "RecoveryStarted" => "Account recovery started",
        "RecoveryCancelled" => "Account recovery cancelled",
        "RecoveryApproved" => "Account recovery approved by an administrator",
        "RecoveryCompleted" => "Account recovered: factors removed",
        "Reauthenticated" => "Confirmed it was you for a sensitive action",
        "PolicyChanged" => "Two-factor policy changed",
        "MfaReset" => "Two-factor authentication reset by an administrator",
        "AccountUnlocked" => "Sign-in lock lifted",
        "RoleChanged" => "Role changed",
        "AdminAction" => "Administrator action",
        _ => "Security event",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(1_800_000_000), "2027-01-15 08:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_795_305_599), "2026-11-21 23:59 UTC");
    }

    #[test]
    fn device_labels() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(device_label(Some(chrome)), "Chrome on Linux");
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0";
        assert_eq!(device_label(Some(firefox)), "Firefox on Windows");
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device_label(Some(safari)), "Safari on iOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36 Edg/130.0";
        assert_eq!(device_label(Some(edge)), "Edge on Windows");
        assert_eq!(device_label(Some("curl/8.5.0")), "curl");
        assert_eq!(device_label(None), "Unknown device");
        assert_eq!(device_label(Some("")), "Unknown device");
        assert_eq!(device_label(Some("something odd")), "Unknown browser");
    }

    #[test]
    fn every_recorded_kind_has_words() {
        for kind in [
            "Registered",
            "LoginSucceeded",
            "MfaDisabled",
            "LockedOut",
            "SessionRevoked",
        ] {
            assert_ne!(event_text(kind), "Security event", "{kind}");
        }
    }
}
