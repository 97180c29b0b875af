//! The one error type of the API. Its `Display` text is the safe, human message a
//! person sees; details for operators go to the log where the error is made,
//! never into this type.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("The email or password is not right.")]
    InvalidCredentials,
    #[error("That code is not right.")]
    InvalidCode,
    #[error("That code was already used. Wait for the next one.")]
    CodeAlreadyUsed,
    #[error("Too many attempts. Try again in {}.", human_wait(*retry_after_s))]
    TooManyAttempts { retry_after_s: u64 },
    #[error(
        "Too many failed attempts in a row. The account's owner was emailed a link to unlock it; an administrator can unlock it too."
    )]
    AccountLocked,
    #[error("The sign-in took too long. Please sign in again.")]
    ChallengeExpired,
    #[error("You are not signed in.")]
    NotSignedIn,
    #[error("This request is not allowed.")]
    Forbidden,
    #[error("{message}")]
    Validation { field: String, message: String },
    #[error("An account with this email already exists.")]
    EmailTaken,
    #[error("{message}")]
    BadRequest { message: String },
    #[error("The request body is too large.")]
    PayloadTooLarge,
    #[error("Not found.")]
    NotFound,
    #[error("{message}")]
    Conflict { message: String },
    #[error("Confirm it is you: enter your password (and a code) again to continue.")]
    ReauthRequired,
    #[error("Sign-up is closed here: ask an administrator for an invitation.")]
    SignUpClosed,
    #[error("Two-factor authentication is required for your account. Set it up to continue.")]
    EnrolmentRequired,
    /// A passkey or security key's answer was refused (wrong origin, bad
    /// signature, unknown key...); `message` says what to do.
    #[error("{message}")]
    PasskeyRefused { message: String },
    /// The SMS provider did not take the text (after retries).
    #[error("We could not send the text message. Try again later, or use another method.")]
    SmsNotSent,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
}

/// "2 minutes", "45 seconds": the wait a locked-out person is told.
pub fn human_wait(secs: u64) -> String {
    if secs >= 120 {
        format!("{} minutes", secs.div_ceil(60))
    } else if secs == 1 {
        "1 second".to_string()
    } else {
        format!("{secs} seconds")
    }
}

impl AppError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with. The one place that decides it.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Validation { .. }
            | AppError::BadRequest { .. }
            | AppError::InvalidCode
            | AppError::PasskeyRefused { .. } => 400,
            AppError::InvalidCredentials | AppError::NotSignedIn | AppError::ChallengeExpired => {
                401
            }
            AppError::Forbidden
            | AppError::ReauthRequired
            | AppError::EnrolmentRequired
            | AppError::SignUpClosed => 403,
            AppError::NotFound => 404,
            AppError::EmailTaken | AppError::CodeAlreadyUsed | AppError::Conflict { .. } => 409,
            AppError::PayloadTooLarge => 413,
            AppError::TooManyAttempts { .. } | AppError::AccountLocked => 429,
            AppError::Internal => 500,
            AppError::SmsNotSent => 502,
        }
    }

    /// The variant name, used as `error` in the JSON body.
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::InvalidCredentials => "InvalidCredentials",
            AppError::InvalidCode => "InvalidCode",
            AppError::CodeAlreadyUsed => "CodeAlreadyUsed",
            AppError::TooManyAttempts { .. } => "TooManyAttempts",
            AppError::AccountLocked => "AccountLocked",
            AppError::ChallengeExpired => "ChallengeExpired",
            AppError::NotSignedIn => "NotSignedIn",
            AppError::Forbidden => "Forbidden",
            AppError::Validation { .. } => "Validation",
            AppError::EmailTaken => "EmailTaken",
            AppError::BadRequest { .. } => "BadRequest",
            AppError::PayloadTooLarge => "PayloadTooLarge",
            AppError::NotFound => "NotFound",
            AppError::Conflict { .. } => "Conflict",
            AppError::ReauthRequired => "ReauthRequired",
            AppError::EnrolmentRequired => "EnrolmentRequired",
            AppError::SignUpClosed => "SignUpClosed",
            AppError::PasskeyRefused { .. } => "PasskeyRefused",
            AppError::SmsNotSent => "SmsNotSent",
            AppError::Internal => "Internal",
        }
    }

    pub fn to_body(&self) -> ErrorBody {
        ErrorBody {
            error: self.kind().to_string(),
            message: self.to_string(),
            field: match self {
                AppError::Validation { field, .. } => Some(field.clone()),
                _ => None,
            },
            retry_after_s: match self {
                AppError::TooManyAttempts { retry_after_s } => Some(*retry_after_s),
                _ => None,
            },
        }
    }
}

/// The JSON body of every error response:
/// `{"error": "<kind>", "message": "...", "field"?: "...", "retry_after_s"?: n}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
}

impl From<ErrorBody> for AppError {
    /// Rebuilds the error on the client from a response body.
    fn from(b: ErrorBody) -> Self {
        match b.error.as_str() {
            "InvalidCredentials" => AppError::InvalidCredentials,
            "InvalidCode" => AppError::InvalidCode,
            "CodeAlreadyUsed" => AppError::CodeAlreadyUsed,
            "TooManyAttempts" => AppError::TooManyAttempts {
                retry_after_s: b.retry_after_s.unwrap_or(60),
            },
            "AccountLocked" => AppError::AccountLocked,
            "ChallengeExpired" => AppError::ChallengeExpired,
            "NotSignedIn" => AppError::NotSignedIn,
            "Forbidden" => AppError::Forbidden,
            "Validation" => AppError::Validation {
                field: b.field.unwrap_or_default(),
                message: b.message,
            },
            "EmailTaken" => AppError::EmailTaken,
            "PayloadTooLarge" => AppError::PayloadTooLarge,
            "NotFound" => AppError::NotFound,
            "BadRequest" => AppError::BadRequest { message: b.message },
            "Conflict" => AppError::Conflict { message: b.message },
            "ReauthRequired" => AppError::ReauthRequired,
            "EnrolmentRequired" => AppError::EnrolmentRequired,
            "SignUpClosed" => AppError::SignUpClosed,
            "PasskeyRefused" => AppError::PasskeyRefused { message: b.message },
            "SmsNotSent" => AppError::SmsNotSent,
            _ => AppError::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<AppError> {
        vec![
            AppError::InvalidCredentials,
            AppError::InvalidCode,
            AppError::CodeAlreadyUsed,
            AppError::TooManyAttempts { retry_after_s: 90 },
            AppError::AccountLocked,
            AppError::ChallengeExpired,
            AppError::NotSignedIn,
            AppError::Forbidden,
            AppError::validation("email", "Enter an email address."),
            AppError::EmailTaken,
            AppError::BadRequest {
                message: "bad json".into(),
            },
            AppError::PayloadTooLarge,
            AppError::NotFound,
            AppError::PasskeyRefused {
                message: "refused".into(),
            },
            AppError::Conflict {
                message: "already on".into(),
            },
            AppError::ReauthRequired,
            AppError::EnrolmentRequired,
            AppError::SignUpClosed,
            AppError::Internal,
        ]
    }

    #[test]
    fn statuses_follow_the_spec() {
        assert_eq!(AppError::validation("x", "y").status(), 400);
        assert_eq!(AppError::InvalidCredentials.status(), 401);
        assert_eq!(AppError::NotSignedIn.status(), 401);
        assert_eq!(AppError::Forbidden.status(), 403);
        assert_eq!(AppError::EmailTaken.status(), 409);
        assert_eq!(AppError::CodeAlreadyUsed.status(), 409);
        assert_eq!(AppError::TooManyAttempts { retry_after_s: 1 }.status(), 429);
        assert_eq!(AppError::Internal.status(), 500);
        for e in all() {
            assert!((400..600).contains(&e.status()), "{e:?}");
        }
    }

    #[test]
    fn body_round_trips_through_json() {
        for e in all() {
            let json = serde_json::to_string(&e.to_body()).unwrap_or_default();
            let body: ErrorBody = serde_json::from_str(&json).unwrap_or_else(|_| ErrorBody {
                error: String::new(),
                message: String::new(),
                field: None,
                retry_after_s: None,
            });
            assert_eq!(body.error, e.kind());
            assert_eq!(AppError::from(body), e);
        }
    }

    #[test]
    fn internal_message_reveals_nothing() {
        let body = AppError::Internal.to_body();
        assert_eq!(body.error, "Internal");
        assert!(!body.message.to_lowercase().contains("sql"));
    }

    #[test]
    fn waits_read_naturally() {
        assert_eq!(human_wait(1), "1 second");
        assert_eq!(human_wait(45), "45 seconds");
        assert_eq!(human_wait(900), "15 minutes");
        assert_eq!(human_wait(121), "3 minutes");
    }
}

impl AppError {
    /// The error a page shows after a form posted without JavaScript was
    /// redirected back with `?error=<kind>&field=<field>`. Only the kind and
    /// field travel in the URL, so a crafted link cannot put words on the page.
    pub fn from_redirect(kind: &str, field: Option<&str>) -> Option<AppError> {
        let field = field.unwrap_or_default();
        let message = match (kind, field) {
            ("Validation", "email") => "Enter a valid email address, like name@example.com.",
            ("Validation", "password") => {
                "Use at least 12 characters, and not one of the most common passwords."
            }
            ("Validation", "token") => {
                "This link is not valid any more: it was used already or it expired."
            }
            ("Validation", "method") => {
                "Your account has two-factor authentication: answer with one of your factors too."
            }
            ("Validation", "code") => "Check the code and try again.",
            ("Validation", _) => "Check the form and try again.",
            _ => "",
        };
        let body = ErrorBody {
            error: kind.to_string(),
            message: message.to_string(),
            field: Some(field.to_string()).filter(|f| !f.is_empty()),
            retry_after_s: None,
        };
        match AppError::from(body) {
            // An unknown kind is a crafted or stale link: show nothing.
            AppError::Internal if kind != "Internal" => None,
            // BadRequest messages are not fixed; keep them generic.
            AppError::BadRequest { .. } | AppError::Conflict { .. } => Some(AppError::BadRequest {
                message: "The request could not be read. Please try again.".into(),
            }),
            e => Some(e),
        }
    }
}

#[cfg(test)]
mod redirect_tests {
    use super::*;

    #[test]
    fn redirect_errors_use_fixed_messages() {
        assert_eq!(
            AppError::from_redirect("InvalidCredentials", None),
            Some(AppError::InvalidCredentials)
        );
        let e = AppError::from_redirect("Validation", Some("password"));
        assert!(matches!(e, Some(AppError::Validation { ref field, .. }) if field == "password"));
        assert!(e.map(|e| e.to_string()).unwrap_or_default().contains("12"));
        assert_eq!(AppError::from_redirect("<script>", None), None);
        assert_eq!(
            AppError::from_redirect("Internal", None),
            Some(AppError::Internal)
        );
    }
}
