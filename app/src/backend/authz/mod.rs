//! Guarding other apps: a reverse proxy asks, for each request to an app
//! behind it, whether it may pass (forward-auth). The access rules say what
//! the request needs; the browser's Twofold session says what it has.
//! Nothing is cached: a session revoked a moment ago is refused at once.

pub mod rules;

pub use rules::{AccessRules, Policy, Resource, RulesError, Subject, Verdict};

use http::HeaderMap;

use crate::api::{AppError, MfaState, Role};
use crate::backend::auth::{cookies, sessions};
use crate::backend::factors::mfa;
use crate::backend::{AppState, internal};

/// The request a proxy asks about.
#[derive(Debug, Clone)]
pub struct Asked {
    /// The original URL, as the browser asked for it.
    pub url: url::Url,
    /// Its HTTP method, upper case.
    pub method: String,
}

impl Asked {
    /// From the parts a proxy forwards; `None` when they do not make an
    /// absolute http(s) URL.
    pub fn new(url: &str, method: &str) -> Option<Self> {
        let url = url::Url::parse(url).ok()?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return None;
        }
        Some(Asked {
            url,
            method: method.trim().to_ascii_uppercase(),
        })
    }

    fn https(&self) -> bool {
        self.url.scheme() == "https"
    }
}

/// Who the request is from, for the headers the app reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub email: String,
    pub role: Role,
}

/// The answer for the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Let it through; with the person's identity when signed in.
    Allow(Option<Identity>),
    /// Send the browser here first (the sign-in page, or the enrolment
    /// wizard for a `two_factor` rule and an account without MFA).
    Redirect(String),
    /// Refused by a rule.
    Deny,
}

/// The latest refusals, for the admin page: kept in memory (a flood of
/// refused requests must not become a flood of writes), per instance.
#[derive(Debug, Default)]
pub struct Denials {
    latest: std::sync::Mutex<std::collections::VecDeque<crate::api::AccessDenial>>,
}

/// Refusals kept.
pub const DENIALS_KEPT: usize = 50;

impl Denials {
    fn record(&self, denial: crate::api::AccessDenial) {
        if let Ok(mut latest) = self.latest.lock() {
            if latest.len() == DENIALS_KEPT {
                latest.pop_back();
            }
            latest.push_front(denial);
        }
    }

    /// Newest first.
    pub fn latest(&self) -> Vec<crate::api::AccessDenial> {
        self.latest
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The rules and the latest refusals (`GET /api/admin/access`).
pub fn overview(state: &AppState) -> crate::api::AccessOverview {
    let rules = &state.settings.access_rules;
    crate::api::AccessOverview {
        default_policy: rules.default_policy.as_str().to_string(),
        rules: rules.rules.iter().map(rules::Rule::info).collect(),
        denials: state.denials.latest(),
    }
}

/// The decision for one proxied request; `ip` is the browser's address as
/// the proxy reports it (for the record of refusals).
pub async fn check(
    state: &AppState,
    headers: &HeaderMap,
    asked: &Asked,
    ip: Option<String>,
) -> Result<Answer, AppError> {
    let now = state.clock.now();
    let found = match cookies::session_token_over(
        headers,
        asked.https(),
        state.settings.cookie_domain.as_deref(),
    ) {
        Some(token) => sessions::find_with_identity(state, &token, now).await?,
        None => None,
    };
    let (live, identity) = match found {
        Some((live, email, role)) => {
            let role = Role::parse(&role).ok_or_else(|| internal("unknown role", &role))?;
            (Some(live), Some(Identity { email, role }))
        }
        None => (None, None),
    };
    let who = identity.as_ref().map(|i| (i.email.as_str(), i.role));
    let verdict = decide(&state.settings.access_rules, asked, who);
    let sign_in = || Answer::Redirect(sign_in_url(state, asked));
    if verdict.policy == Policy::Deny {
        state.denials.record(crate::api::AccessDenial {
            at: now,
            method: asked.method.clone(),
            url: asked.url.to_string(),
            user: identity.map(|i| i.email),
            ip,
            line: verdict.line.and_then(|l| u32::try_from(l).ok()),
        });
        return Ok(Answer::Deny);
    }
    Ok(match (verdict.policy, live) {
        (Policy::Deny, _) => Answer::Deny,
        (Policy::Bypass, _) => Answer::Allow(identity),
        (Policy::OneFactor, Some(_)) => Answer::Allow(identity),
        (Policy::TwoFactor, Some(live)) if live.factor_at.is_some() => Answer::Allow(identity),
        (Policy::TwoFactor, Some(live)) => {
            if mfa::state_of(&state.pool, live.user, now).await? == MfaState::Enabled {
                // Signed in without a code (a trusted device, or before MFA
                // was on): prove a factor in this session, then back. A new
                // sign-in could skip the code again on a trusted device.
                Answer::Redirect(format!(
                    "{}/reauth?rd={}",
                    state.settings.public_url,
                    crate::api::client::encode_query(asked.url.as_str())
                ))
            } else {
                Answer::Redirect(format!(
                    "{}/account/two-factor?rd={}",
                    state.settings.public_url,
                    crate::api::client::encode_query(asked.url.as_str())
                ))
            }
        }
        (Policy::OneFactor | Policy::TwoFactor, None) => sign_in(),
    })
}

/// What the rules say about `asked` for `who` (email and role, when signed
/// in).
pub fn decide(rules: &AccessRules, asked: &Asked, who: Option<(&str, Role)>) -> Verdict {
    let host = asked
        .url
        .host_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let resource = Resource {
        host: &host,
        path: asked.url.path(),
        method: &asked.method,
    };
    let subject = who.map(|(email, role)| Subject { email, role });
    rules.decide(&resource, subject.as_ref())
}

/// `PUBLIC_URL/login?rd=<the original URL>`.
pub fn sign_in_url(state: &AppState, asked: &Asked) -> String {
    format!(
        "{}/login?rd={}",
        state.settings.public_url,
        crate::api::client::encode_query(asked.url.as_str())
    )
}

/// [`safe_return`] with the server's settings.
pub fn return_to(state: &AppState, rd: Option<&str>) -> Option<String> {
    let settings = &state.settings;
    safe_return(
        rd?,
        &settings.public_url,
        settings.cookie_domain.as_deref(),
        &settings.access_rules,
    )
}

/// Where a sign-in may send the browser back to (`rd`): only an absolute
/// http(s) URL whose host is Twofold's own, the cookie domain or under it,
/// or a domain the access rules name; and plain http only on localhost.
/// Anything else (another site, `//evil`, `javascript:`, a look-alike such
/// as `example.com.evil.net`, user-info tricks) is ignored: no open redirect.
pub fn safe_return(
    rd: &str,
    public_url: &str,
    cookie_domain: Option<&str>,
    rules: &AccessRules,
) -> Option<String> {
    let rd = rd.trim();
    // Only absolute URLs, spelled plainly: a relative or scheme-relative
    // one, or one with backslashes or control characters, is refused
    // before any parser can be lenient about it.
    if !(rd.starts_with("https://") || rd.starts_with("http://"))
        || rd
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return None;
    }
    let url = url::Url::parse(rd).ok()?;
    if !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = url.host_str()?.to_ascii_lowercase();
    // Loopback names (RFC 6761: `*.localhost` too) may use plain http.
    let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
        || host.ends_with(".localhost");
    if url.scheme() != "https" && !local {
        return None;
    }
    let own = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    let under_cookie_domain = cookie_domain.is_some_and(|d| {
        let d = d.trim_start_matches('.').to_ascii_lowercase();
        host == d || host.ends_with(&format!(".{d}"))
    });
    let allowed =
        own.as_deref() == Some(host.as_str()) || under_cookie_domain || rules.covers_host(&host);
    allowed.then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AccessRules {
        AccessRules::parse("[[rules]]\ndomain = \"*.apps.test\"\npolicy = \"one_factor\"\n")
            .expect("rules")
    }

    fn check(rd: &str) -> Option<String> {
        safe_return(
            rd,
            "https://login.example.com",
            Some("example.com"),
            &rules(),
        )
    }

    #[test]
    fn rd_goes_back_only_to_our_domains() {
        for ok in [
            "https://app.example.com/dash?x=1",
            "https://example.com/",
            "https://login.example.com/account",
            "https://wiki.apps.test/page",
        ] {
            assert!(check(ok).is_some(), "{ok}");
        }
        // Plain http only for a local Twofold.
        let local = safe_return(
            "http://localhost:8080/",
            "http://localhost:3000",
            None,
            &rules(),
        );
        assert_eq!(local.as_deref(), Some("http://localhost:8080/"));
    }

    #[test]
    fn rd_never_opens_a_redirect() {
        for bad in [
            "//evil.net",
            "/\\evil.net",
            "https://example.com.evil.net/",
            "https://evilexample.com/",
            "https://example.com@evil.net/",
            "https://user:pw@app.example.com/",
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:text/html,hi",
            "https:\\\\evil.net",
            "https://evil.net\\@app.example.com",
            "%2F%2Fevil.net",
            "https%3A%2F%2Fevil.net",
            "http://app.example.com/",
            "https://apps.test/",
            " https://evil.net",
            "https://evil.net/\nhttps://app.example.com",
            "",
        ] {
            assert_eq!(check(bad), None, "{bad}");
        }
    }

    #[test]
    fn without_a_cookie_domain_only_own_and_rule_hosts() {
        let r = rules();
        assert!(
            safe_return(
                "https://app.example.com/",
                "https://login.example.com",
                None,
                &r
            )
            .is_none()
        );
        assert!(
            safe_return(
                "https://login.example.com/x",
                "https://login.example.com",
                None,
                &r
            )
            .is_some()
        );
        assert!(
            safe_return(
                "https://a.apps.test/",
                "https://login.example.com",
                None,
                &r
            )
            .is_some()
        );
    }
}
