//! The session cookie: reading it from a request, writing Set-Cookie values.

use http::HeaderMap;
use http::header::COOKIE;

use super::sessions::{NewSession, SessionToken};

pub const SESSION_COOKIE: &str = "twofold_session";

/// The value of cookie `name`, if the request carries it.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

pub fn session_token(headers: &HeaderMap) -> Option<SessionToken> {
    read(headers, SESSION_COOKIE).map(SessionToken::from_cookie)
}

/// HttpOnly so scripts cannot read it, SameSite=Lax so other sites cannot post
/// with it, Secure when the page is served over https. A session without
/// "remember me" gets a browser-session cookie; the server-side expiry holds
/// either way.
pub fn session_set_cookie(session: &NewSession, secure: bool) -> String {
    let mut c = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax",
        session.token.expose()
    );
    if session.persistent {
        c.push_str(&format!("; Max-Age={}", session.ttl_s));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The sign-in challenge cookie: only sent to the API, gone after 5 minutes.
pub fn challenge_set_cookie(token: &SessionToken, secure: bool) -> String {
    let mut c = format!(
        "{}={}; Path=/api/auth; HttpOnly; SameSite=Lax; Max-Age={}",
        super::challenges::CHALLENGE_COOKIE,
        token.expose(),
        super::challenges::CHALLENGE_TTL_S
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

pub fn challenge_clear_cookie(secure: bool) -> String {
    let mut c = format!(
        "{}=; Path=/api/auth; HttpOnly; SameSite=Lax; Max-Age=0",
        super::challenges::CHALLENGE_COOKIE
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The trusted-device cookie: 30 days, sent to the API only.
pub fn device_set_cookie(token: &SessionToken, secure: bool) -> String {
    let mut c = format!(
        "{}={}; Path=/api; HttpOnly; SameSite=Lax; Max-Age={}",
        super::devices::DEVICE_COOKIE,
        token.expose(),
        super::devices::DEVICE_TTL_S
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

pub fn device_token(headers: &HeaderMap) -> Option<SessionToken> {
    read(headers, super::devices::DEVICE_COOKIE).map(SessionToken::from_cookie)
}

pub fn challenge_token(headers: &HeaderMap) -> Option<SessionToken> {
    read(headers, super::challenges::CHALLENGE_COOKIE).map(SessionToken::from_cookie)
}

pub fn session_clear_cookie(secure: bool) -> String {
    let mut c = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// Whether the client reached us over https, as a TLS-terminating proxy in
/// front of us reports it. Only ever used to add `Secure`, so a forged header
/// can make a cookie stricter, never weaker.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_the_named_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; twofold_session=tok; b=2"),
        );
        assert_eq!(read(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(read(&h, "b"), Some("2"));
        assert_eq!(read(&h, "missing"), None);
    }

    #[test]
    fn empty_cookie_counts_as_absent() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("twofold_session="));
        assert!(session_token(&h).is_none());
    }

    #[test]
    fn set_cookie_flags() {
        let s = NewSession {
            user: crate::backend::UserId(1),
            token: SessionToken::from_cookie("t"),
            ttl_s: 100,
            persistent: true,
        };
        let c = session_set_cookie(&s, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"));
        assert!(c.contains("Max-Age=100") && c.ends_with("; Secure"));
        let s = NewSession {
            persistent: false,
            ..s
        };
        let c = session_set_cookie(&s, false);
        assert!(!c.contains("Max-Age") && !c.contains("Secure"));
    }
}
