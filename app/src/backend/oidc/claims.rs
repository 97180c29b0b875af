//! What an app learns about the person: the ID token's claims and the
//! userinfo answer, cut to the scopes granted.

use serde::Serialize;
use sqlx::AnyPool;

use crate::api::AppError;
use crate::backend::infra::clock::UnixTime;
use crate::backend::{UserId, internal};

use super::tokens::{Grant, ID_TOKEN_TTL_S};

/// The account as claims see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Stable and opaque: never the email or the row id.
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    pub role: String,
}

/// Gives `user` its `sub` the first time an app signs them in (random,
/// then stable), inside the caller's transaction.
pub async fn ensure_subject(db: &mut sqlx::AnyConnection, user: UserId) -> Result<(), AppError> {
    let fresh = {
        use base64::Engine;
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    sqlx::query(
        "INSERT INTO oidc_subjects (user_id, subject) SELECT id, $1 FROM users WHERE id = $2
         ON CONFLICT DO NOTHING",
    )
    .bind(&fresh)
    .bind(user.0)
    .execute(db)
    .await
    .map_err(|e| internal("giving an account its subject", e))?;
    Ok(())
}

/// The person behind `user` (`None`: the account is gone). Only reads.
pub async fn person(pool: &AnyPool, user: UserId) -> Result<Option<Person>, AppError> {
    let row: Option<(String, String, crate::backend::infra::db::Flag, String)> = sqlx::query_as(
        "SELECT s.subject, u.email, u.email_confirmed_at IS NOT NULL, u.role
         FROM users u JOIN oidc_subjects s ON s.user_id = u.id WHERE u.id = $1",
    )
    .bind(user.0)
    .fetch_optional(pool)
    .await
    .map_err(|e| internal("reading an account for an app", e))?;
    Ok(row.map(|(subject, email, email_verified, role)| Person {
        subject,
        email,
        email_verified: email_verified.0,
        role,
    }))
}

/// The claims the granted scopes open, beside `sub`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ScopedClaims {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

/// `userinfo`, and the identity part of the ID token.
pub fn scoped(person: &Person, grant: &Grant) -> ScopedClaims {
    let email = grant.has_scope("email");
    let profile = grant.has_scope("profile");
    ScopedClaims {
        sub: person.subject.clone(),
        email: email.then(|| person.email.clone()),
        email_verified: email.then_some(person.email_verified),
        // Twofold knows people by their email only: the name is its local
        // part, the username the whole address.
        name: profile.then(|| {
            person
                .email
                .split('@')
                .next()
                .unwrap_or_default()
                .to_string()
        }),
        preferred_username: profile.then(|| person.email.clone()),
        groups: grant
            .has_scope("groups")
            .then(|| vec![person.role.to_ascii_lowercase()]),
    }
}

/// An ID token's claims (OpenID Connect Core 2).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IdToken {
    pub iss: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub auth_time: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub amr: Vec<String>,
    pub acr: String,
    #[serde(flatten)]
    pub who: ScopedClaims,
}

pub fn id_token(issuer: &str, person: &Person, grant: &Grant, now: UnixTime) -> IdToken {
    IdToken {
        iss: issuer.to_string(),
        aud: grant.client_id.clone(),
        exp: now + ID_TOKEN_TTL_S,
        iat: now,
        auth_time: grant.auth_time,
        nonce: grant.nonce.clone(),
        amr: grant.amr.split_whitespace().map(String::from).collect(),
        acr: grant.acr.clone(),
        who: scoped(person, grant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(scopes: &[&str]) -> Grant {
        Grant {
            id: 1,
            client_id: "grafana".into(),
            user: UserId(7),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            nonce: Some("n-0S6_WzA2Mj".into()),
            auth_time: 1_800_000_000,
            amr: "pwd otp mfa".into(),
            acr: "two_factor".into(),
        }
    }

    fn person() -> Person {
        Person {
            subject: "q2mW0pTz".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            role: "Admin".into(),
        }
    }

    #[test]
    fn the_id_token_says_who_when_and_how() {
        let now = 1_800_000_100;
        let t = id_token(
            "https://login.example.com",
            &person(),
            &grant(&["openid", "email", "groups"]),
            now,
        );
        let json = serde_json::to_value(&t).unwrap_or_default();
        assert_eq!(json["iss"], "https://login.example.com");
        assert_eq!(json["sub"], "q2mW0pTz");
        assert_eq!(json["aud"], "grafana");
        assert_eq!(json["exp"], now + ID_TOKEN_TTL_S);
        assert_eq!(json["auth_time"], 1_800_000_000);
        assert_eq!(json["nonce"], "n-0S6_WzA2Mj");
        assert_eq!(json["email"], "ada@example.com");
        assert_eq!(json["email_verified"], true);
        assert_eq!(json["groups"], serde_json::json!(["admin"]));
        assert_eq!(json["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
        assert_eq!(json["acr"], "two_factor");
        // Not asked for: not told.
        assert!(json.get("name").is_none());
        assert!(json.get("preferred_username").is_none());
    }

    #[test]
    fn openid_alone_tells_only_the_subject() {
        let c = scoped(&person(), &grant(&["openid"]));
        let json = serde_json::to_value(&c).unwrap_or_default();
        assert_eq!(json, serde_json::json!({ "sub": "q2mW0pTz" }));
        let p = scoped(&person(), &grant(&["openid", "profile"]));
        assert_eq!(p.name.as_deref(), Some("ada"));
        assert_eq!(p.preferred_username.as_deref(), Some("ada@example.com"));
    }
}
