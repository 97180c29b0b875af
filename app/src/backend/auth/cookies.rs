//! The cookies: reading them from a request, writing Set-Cookie values.
//!
//! Over HTTPS every cookie is named with the `__Host-` prefix, so the browser
//! only accepts it when it is Secure, host-only (no Domain) and for Path=/:
//! a sibling subdomain cannot plant or overwrite it. Over plain HTTP (local
//! use) the names have no prefix, which browsers would refuse there.

use http::HeaderMap;
use http::header::COOKIE;

use crate::backend::auth::sessions::{NewSession, SessionToken};

pub const SESSION_COOKIE: &str = "twofold_session";
const HOST_PREFIX: &str = "__Host-";

/// The cookie's name as sent over https or http.
pub fn name(base: &str, secure: bool) -> String {
    if secure {
        format!("{HOST_PREFIX}{base}")
    } else {
        base.to_string()
    }
}

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

/// Over https only the `__Host-` cookie counts: one without the prefix may
/// have been planted by a subdomain.
fn read_token(headers: &HeaderMap, base: &str) -> Option<SessionToken> {
    read(headers, &name(base, is_https(headers))).map(SessionToken::from_cookie)
}

/// The session cookie's name. With a cookie domain (shared by the apps
/// under it) it cannot be `__Host-`, which forbids a domain: over https it
/// is `__Secure-` (set only by a secure page, but by any host under the
/// domain: the documented trade-off of single sign-on across subdomains).
fn session_name(secure: bool, domain: Option<&str>) -> String {
    match (secure, domain) {
        (true, Some(_)) => format!("__Secure-{SESSION_COOKIE}"),
        _ => name(SESSION_COOKIE, secure),
    }
}

/// `domain` is `--cookie-domain`, if set.
pub fn session_token(headers: &HeaderMap, domain: Option<&str>) -> Option<SessionToken> {
    session_token_over(headers, is_https(headers), domain)
}

/// The session cookie of a request a proxy forwards: `https` is the scheme
/// of the original URL (the proxy may not say it in `X-Forwarded-Proto`).
pub fn session_token_over(
    headers: &HeaderMap,
    https: bool,
    domain: Option<&str>,
) -> Option<SessionToken> {
    read(headers, &session_name(https, domain)).map(SessionToken::from_cookie)
}

pub fn device_token(headers: &HeaderMap) -> Option<SessionToken> {
    read_token(headers, crate::backend::factors::devices::DEVICE_COOKIE)
}

pub fn challenge_token(headers: &HeaderMap) -> Option<SessionToken> {
    read_token(headers, crate::backend::auth::challenges::CHALLENGE_COOKIE)
}

/// The WebAuthn ceremony cookie (see `passkeys::ceremonies`).
pub fn passkey_token(headers: &HeaderMap) -> Option<SessionToken> {
    read_token(headers, crate::backend::factors::passkeys::CEREMONY_COOKIE)
}

/// The WebAuthn ceremony cookie: sent to the API only, gone after 5 minutes
/// (the ceremony's own expiry holds either way).
pub fn passkey_set_cookie(token: &SessionToken, secure: bool) -> String {
    cookie(
        crate::backend::factors::passkeys::CEREMONY_COOKIE,
        token.expose(),
        "/api",
        Some(crate::backend::factors::passkeys::ceremonies::CEREMONY_TTL_S),
        secure,
    )
}

pub fn passkey_clear_cookie(secure: bool) -> String {
    cookie(
        crate::backend::factors::passkeys::CEREMONY_COOKIE,
        "",
        "/api",
        Some(0),
        secure,
    )
}

/// `name=value` with HttpOnly (scripts cannot read it) and SameSite=Lax (other
/// sites cannot post with it). Over https: `__Host-`, Secure and Path=/; over
/// http the cookie is limited to `http_path`.
fn cookie(base: &str, value: &str, http_path: &str, max_age: Option<i64>, secure: bool) -> String {
    let path = if secure { "/" } else { http_path };
    let mut c = format!(
        "{}={value}; Path={path}; HttpOnly; SameSite=Lax",
        name(base, secure)
    );
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// A session without "remember me" gets a browser-session cookie; the
/// server-side expiry holds either way.
pub fn session_set_cookie(session: &NewSession, secure: bool, domain: Option<&str>) -> String {
    let max_age = session.persistent.then_some(session.ttl_s);
    session_cookie(session.token.expose(), max_age, secure, domain)
}

pub fn session_clear_cookie(secure: bool, domain: Option<&str>) -> String {
    session_cookie("", Some(0), secure, domain)
}

fn session_cookie(value: &str, max_age: Option<i64>, secure: bool, domain: Option<&str>) -> String {
    match domain {
        None => cookie(SESSION_COOKIE, value, "/", max_age, secure),
        Some(domain) => {
            let mut c = format!(
                "{}={value}; Domain={domain}; Path=/; HttpOnly; SameSite=Lax",
                session_name(secure, Some(domain))
            );
            if let Some(age) = max_age {
                c.push_str(&format!("; Max-Age={age}"));
            }
            if secure {
                c.push_str("; Secure");
            }
            c
        }
    }
}

/// The sign-in challenge cookie: only sent to the API, gone after 5 minutes.
pub fn challenge_set_cookie(token: &SessionToken, secure: bool) -> String {
    cookie(
        crate::backend::auth::challenges::CHALLENGE_COOKIE,
        token.expose(),
        "/api/auth",
        Some(crate::backend::auth::challenges::CHALLENGE_TTL_S),
        secure,
    )
}

pub fn challenge_clear_cookie(secure: bool) -> String {
    cookie(
        crate::backend::auth::challenges::CHALLENGE_COOKIE,
        "",
        "/api/auth",
        Some(0),
        secure,
    )
}

/// The trusted-device cookie: 30 days, sent to the API only.
pub fn device_set_cookie(token: &SessionToken, secure: bool) -> String {
    cookie(
        crate::backend::factors::devices::DEVICE_COOKIE,
        token.expose(),
        "/api",
        Some(crate::backend::factors::devices::DEVICE_TTL_S),
        secure,
    )
}

/// Whether the client reached us over https, as a TLS-terminating proxy in
/// front of us reports it. It decides `Secure` and the `__Host-` names; a
/// forged header can only make the client's own cookies stricter.
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
        assert!(session_token(&h, None).is_none());
    }

    #[test]
    fn over_https_only_the_host_prefixed_cookie_counts() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-proto", HeaderValue::from_static("https"));
        h.append(COOKIE, HeaderValue::from_static("twofold_session=planted"));
        assert!(session_token(&h, None).is_none());
        h.append(
            COOKIE,
            HeaderValue::from_static("__Host-twofold_session=real"),
        );
        assert_eq!(
            session_token(&h, None).map(|t| t.expose().to_string()),
            Some("real".into())
        );
    }

    #[test]
    fn set_cookie_flags() {
        let s = NewSession {
            user: crate::backend::UserId(1),
            token: SessionToken::from_cookie("t"),
            ttl_s: 100,
            persistent: true,
        };
        let c = session_set_cookie(&s, true, None);
        assert!(c.starts_with("__Host-twofold_session=t; Path=/;"), "{c}");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"));
        assert!(c.contains("Max-Age=100") && c.ends_with("; Secure"));
        assert!(!c.contains("Domain"));
        let s = NewSession {
            persistent: false,
            ..s
        };
        let c = session_set_cookie(&s, false, None);
        assert!(c.starts_with("twofold_session=t;"));
        assert!(!c.contains("Max-Age") && !c.contains("Secure"));
    }

    #[test]
    fn a_cookie_domain_shares_the_session_under_it() {
        let s = NewSession {
            user: crate::backend::UserId(1),
            token: SessionToken::from_cookie("t"),
            ttl_s: 100,
            persistent: false,
        };
        let c = session_set_cookie(&s, true, Some("example.com"));
        assert!(
            c.starts_with("__Secure-twofold_session=t; Domain=example.com; Path=/;"),
            "{c}"
        );
        assert!(c.contains("HttpOnly") && c.ends_with("; Secure"), "{c}");
        let mut h = HeaderMap::new();
        h.append("x-forwarded-proto", HeaderValue::from_static("https"));
        h.append(
            COOKIE,
            HeaderValue::from_static(
                "__Host-twofold_session=host; __Secure-twofold_session=shared",
            ),
        );
        assert_eq!(
            session_token(&h, Some("example.com")).map(|t| t.expose().to_string()),
            Some("shared".into())
        );
        assert_eq!(
            session_token(&h, None).map(|t| t.expose().to_string()),
            Some("host".into())
        );
        let plain = session_set_cookie(&s, false, Some("example.com"));
        assert!(
            plain.starts_with("twofold_session=t; Domain=example.com;"),
            "{plain}"
        );
        assert!(session_clear_cookie(true, Some("example.com")).contains("Max-Age=0"));
    }

    #[test]
    fn prefixed_cookies_always_have_path_root() {
        let t = SessionToken::from_cookie("t");
        for c in [
            challenge_set_cookie(&t, true),
            device_set_cookie(&t, true),
            challenge_clear_cookie(true),
        ] {
            assert!(c.starts_with("__Host-") && c.contains("; Path=/;"), "{c}");
            assert!(c.ends_with("; Secure"), "{c}");
        }
        assert!(challenge_set_cookie(&t, false).contains("Path=/api/auth"));
    }
}
