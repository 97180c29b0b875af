//! The apps that may sign people in through Twofold (`--oidc-clients`),
//! checked whole at start: a bad file stops the server with its line.

use serde::Deserialize;

use crate::backend::auth::passwords::PasswordHashString;
use crate::backend::authz::rules::line_of;

/// Scopes Twofold knows. `openid` is required; `profile`, `email` and
/// `groups` add claims; `offline_access` adds a refresh token.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "groups", "offline_access"];

/// A bad clients file: where, and what is wrong, in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("OpenID Connect clients, line {line}: {message}")]
pub struct ClientsError {
    pub line: usize,
    pub message: String,
}

/// What a session needs before the app may learn who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientPolicy {
    OneFactor,
    #[default]
    TwoFactor,
}

impl ClientPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientPolicy::OneFactor => "one_factor",
            ClientPolicy::TwoFactor => "two_factor",
        }
    }
}

/// Whether people are asked before an app first learns about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    #[default]
    Explicit,
    /// First-party apps: no consent page.
    Implicit,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(default)]
    clients: Vec<toml::Spanned<ClientText>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientText {
    id: String,
    name: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    public: bool,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    scopes: Option<Vec<String>>,
    #[serde(default)]
    policy: ClientPolicy,
    #[serde(default)]
    consent: Consent,
}

/// One app, as the file describes it.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// Shown on the consent page and the account page.
    pub name: String,
    /// Argon2id hash of the secret; `None` for a public client (PKCE only).
    pub secret_hash: Option<PasswordHashString>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may ask for (always with `openid`).
    pub scopes: Vec<String>,
    pub policy: ClientPolicy,
    pub consent: Consent,
    pub line: usize,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Exactly one of the listed URIs, character for character (RFC 9700
    /// 2.1: no patterns, no prefix matches, no normalisation).
    ///
    /// One exception, RFC 8252 7.3: a native app listening on a loopback
    /// IP address gets a port from its system at run time, so for
    /// `http://127.0.0.1` and `http://[::1]` the port may differ.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|u| u == uri || same_but_loopback_port(u, uri))
    }

    pub fn allows_logout_redirect(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|u| u == uri)
    }

    /// The requested scopes this client may have, in Twofold's order.
    pub fn granted_scopes(&self, requested: &str) -> Vec<String> {
        let asked: Vec<&str> = requested.split_whitespace().collect();
        self.scopes
            .iter()
            .filter(|s| asked.contains(&s.as_str()))
            .cloned()
            .collect()
    }

    pub fn info(&self) -> crate::api::OidcClientInfo {
        crate::api::OidcClientInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            public: self.is_public(),
            redirect_uris: self.redirect_uris.clone(),
            scopes: self.scopes.clone(),
            policy: self.policy.as_str().to_string(),
            consent: self.consent == Consent::Explicit,
        }
    }
}

/// Every client, by id.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    list: Vec<Client>,
}

impl Clients {
    pub fn parse(text: &str) -> Result<Self, ClientsError> {
        let file: FileText = toml::from_str(text).map_err(|e| ClientsError {
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            message: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
        })?;
        let mut list: Vec<Client> = Vec::with_capacity(file.clients.len());
        for spanned in file.clients {
            let line = line_of(text, spanned.span().start);
            let client = check_client(spanned.into_inner(), line)?;
            if list.iter().any(|c| c.id == client.id) {
                return Err(ClientsError {
                    line,
                    message: format!("the id '{}' is used twice", client.id),
                });
            }
            list.push(client);
        }
        Ok(Clients { list })
    }

    pub fn get(&self, id: &str) -> Option<&Client> {
        self.list.iter().find(|c| c.id == id)
    }

    pub fn all(&self) -> &[Client] {
        &self.list
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

fn check_client(c: ClientText, line: usize) -> Result<Client, ClientsError> {
    let fail = |message: String| ClientsError { line, message };
    let id = c.id.trim().to_string();
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
    {
        return Err(fail(format!(
            "the id '{id}' must be 1-64 letters, digits, '-', '_' or '.'"
        )));
    }
    let secret_hash = match (c.secret, c.public) {
        (Some(_), true) => {
            return Err(fail(format!(
                "client '{id}' has a secret and public = true: a public client has no secret"
            )));
        }
        (None, false) => {
            return Err(fail(format!(
                "client '{id}' needs a secret (an argon2id hash: `twofold oidc new-secret` prints one) or public = true"
            )));
        }
        (None, true) => None,
        (Some(secret), false) => {
            let secret = secret.trim().to_string();
            let parsed = argon2::password_hash::PasswordHash::new(&secret);
            if !matches!(parsed, Ok(ref h) if h.algorithm == argon2::ARGON2ID_IDENT && h.hash.is_some())
            {
                return Err(fail(format!(
                    "client '{id}': secret must be an argon2id hash, never the secret itself (`twofold oidc new-secret` prints both)"
                )));
            }
            Some(PasswordHashString(secret))
        }
    };
    if c.redirect_uris.is_empty() {
        return Err(fail(format!(
            "client '{id}' needs at least one redirect_uris entry"
        )));
    }
    for uri in c.redirect_uris.iter().chain(&c.post_logout_redirect_uris) {
        check_redirect_uri(uri).map_err(|why| fail(format!("client '{id}': '{uri}' {why}")))?;
    }
    let scopes = match c.scopes {
        None => SCOPES.iter().map(|s| s.to_string()).collect(),
        Some(scopes) => {
            if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
                return Err(fail(format!(
                    "client '{id}': unknown scope '{unknown}' (known: {})",
                    SCOPES.join(", ")
                )));
            }
            if !scopes.iter().any(|s| s == "openid") {
                return Err(fail(format!("client '{id}': scopes must include 'openid'")));
            }
            // Twofold's order, without repeats.
            SCOPES
                .iter()
                .filter(|s| scopes.iter().any(|x| x == *s))
                .map(|s| s.to_string())
                .collect()
        }
    };
    let name = c
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.clone());
    Ok(Client {
        id,
        name,
        secret_hash,
        redirect_uris: c.redirect_uris,
        post_logout_redirect_uris: c.post_logout_redirect_uris,
        scopes,
        policy: c.policy,
        consent: c.consent,
        line,
    })
}

fn same_but_loopback_port(registered: &str, given: &str) -> bool {
    let (Ok(mut a), Ok(mut b)) = (url::Url::parse(registered), url::Url::parse(given)) else {
        return false;
    };
    let loopback = matches!(a.host_str(), Some("127.0.0.1" | "[::1]"));
    if a.scheme() != "http" || !loopback {
        return false;
    }
    if a.set_port(None).is_err() || b.set_port(None).is_err() {
        return false;
    }
    a == b
}

/// A redirect URI must be absolute, without a fragment, and https, except
/// on the loopback interface (native apps and local tests, RFC 8252 7.3).
fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    let parsed = url::Url::parse(uri).map_err(|_| "is not an absolute URL")?;
    if parsed.fragment().is_some() {
        return Err("must not have a #fragment");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry user:password@");
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]")
        || host.ends_with(".localhost");
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("must be https (plain http only on localhost)"),
        _ => Err("must be an https URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$rKfILsTvNjBY9+jYW+gd6w$rUfRtMpb0LItfrB1gAh1RUy/wfM0ys+aczoN+tSSz1k";

    fn file(body: &str) -> String {
        format!("[[clients]]\nid = \"grafana\"\n{body}\n")
    }

    #[test]
    fn a_full_client_parses_with_defaults() {
        let text = file(&format!(
            "secret = \"{HASH}\"\nredirect_uris = [\"https://grafana.example.com/login/generic_oauth\"]"
        ));
        let clients = Clients::parse(&text).expect("parses");
        let c = clients.get("grafana").expect("client");
        assert_eq!(c.name, "grafana");
        assert_eq!(c.policy, ClientPolicy::TwoFactor);
        assert_eq!(c.consent, Consent::Explicit);
        assert_eq!(c.scopes, SCOPES.map(String::from).to_vec());
        assert!(!c.is_public());
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let text = file("public = true\nredirect_uris = [\"https://app.example.com/cb\"]");
        let clients = Clients::parse(&text).expect("parses");
        let c = clients.get("grafana").expect("client");
        assert!(c.allows_redirect("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/c",
            "https://APP.example.com/cb",
            "https://app.example.com/cb#x",
            "http://app.example.com/cb",
            "https://app.example.com.evil.net/cb",
        ] {
            assert!(!c.allows_redirect(other), "{other}");
        }
    }

    #[test]
    fn a_loopback_ip_redirect_may_use_any_port() {
        let text = file(
            "public = true\nredirect_uris = [\"http://127.0.0.1:8765/cb\", \"http://localhost:9000/cb\"]",
        );
        let clients = Clients::parse(&text).expect("parses");
        let c = clients.get("grafana").expect("client");
        assert!(c.allows_redirect("http://127.0.0.1:51234/cb"));
        assert!(c.allows_redirect("http://127.0.0.1/cb"));
        assert!(!c.allows_redirect("http://127.0.0.1:51234/cb2"));
        assert!(!c.allows_redirect("https://127.0.0.1:51234/cb"));
        assert!(!c.allows_redirect("http://127.0.0.2:8765/cb"));
        // A name is not an IP literal: exact only.
        assert!(!c.allows_redirect("http://localhost:9001/cb"));
        assert!(c.allows_redirect("http://localhost:9000/cb"));
    }

    #[test]
    fn scopes_are_cut_to_what_the_client_may_have() {
        let text = file(
            "public = true\nredirect_uris = [\"http://127.0.0.1:8765/cb\"]\nscopes = [\"openid\", \"email\"]",
        );
        let clients = Clients::parse(&text).expect("parses");
        let c = clients.get("grafana").expect("client");
        assert_eq!(
            c.granted_scopes("email profile openid admin"),
            vec!["openid", "email"]
        );
    }

    #[test]
    fn bad_files_name_the_line_and_the_problem() {
        let cases = [
            (
                file("redirect_uris = [\"https://a.example/cb\"]"),
                "needs a secret",
            ),
            (
                file("secret = \"hunter2\"\nredirect_uris = [\"https://a.example/cb\"]"),
                "argon2id hash",
            ),
            (
                file(&format!(
                    "secret = \"{HASH}\"\npublic = true\nredirect_uris = [\"https://a.example/cb\"]"
                )),
                "public client has no secret",
            ),
            (file("public = true\nredirect_uris = []"), "at least one"),
            (
                file("public = true\nredirect_uris = [\"http://a.example/cb\"]"),
                "must be https",
            ),
            (
                file("public = true\nredirect_uris = [\"https://a.example/cb#x\"]"),
                "fragment",
            ),
            (
                file(
                    "public = true\nredirect_uris = [\"https://a.example/cb\"]\nscopes = [\"email\"]",
                ),
                "must include 'openid'",
            ),
            (
                file(
                    "public = true\nredirect_uris = [\"https://a.example/cb\"]\nscopes = [\"openid\", \"admin\"]",
                ),
                "unknown scope",
            ),
            (
                file(
                    "public = true\nredirect_uris = [\"https://a.example/cb\"]\npolicy = \"three_factor\"",
                ),
                "unknown variant",
            ),
            (
                file("public = true\nredirect_uris = [\"https://a.example/cb\"]\ncolour = \"red\""),
                "unknown field",
            ),
        ];
        for (text, expected) in cases {
            let err = Clients::parse(&text).expect_err(expected);
            assert!(err.message.contains(expected), "{expected}: {err}");
            assert!(err.line >= 1 && err.line <= 5, "{err}");
        }
        let twice = format!(
            "{}{}",
            file("public = true\nredirect_uris = [\"https://a.example/cb\"]"),
            file("public = true\nredirect_uris = [\"https://a.example/cb\"]")
        );
        let err = Clients::parse(&twice).expect_err("duplicate");
        assert_eq!(err.line, 5);
        assert!(err.message.contains("used twice"));
    }
}
