//! Who the passkeys are for: the relying party, from `--public-url`. Its
//! host is the RP ID every credential is bound to, so it cannot change later
//! without everyone registering their keys again.

use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

use crate::api::AppError;

/// The configured relying party, or why passkeys cannot work here.
pub struct RelyingParty {
    inner: Result<Webauthn, String>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Ok(w) => write!(f, "RelyingParty({:?})", w.get_allowed_origins()),
            Err(problem) => write!(f, "RelyingParty(unavailable: {problem})"),
        }
    }
}

impl RelyingParty {
    /// `public_url` is the origin people use (scheme, host, port); `name` is
    /// shown by some authenticators next to the account.
    pub fn new(public_url: &str, name: &str) -> Self {
        RelyingParty {
            inner: build(public_url, name),
        }
    }

    /// Why passkeys are off, in one line for the operator.
    pub fn problem(&self) -> Option<&str> {
        self.inner.as_ref().err().map(String::as_str)
    }

    pub fn get(&self) -> Result<&Webauthn, AppError> {
        self.inner.as_ref().map_err(|problem| AppError::Conflict {
            message: format!("Passkeys cannot be used on this server: {problem}"),
        })
    }
}

fn build(public_url: &str, name: &str) -> Result<Webauthn, String> {
    let origin = Url::parse(public_url).map_err(|e| format!("--public-url {public_url}: {e}"))?;
    // WebAuthn binds credentials to a domain name; an address is not one.
    let rp_id = match (origin.domain(), origin.host_str()) {
        (Some(domain), _) => domain.to_string(),
        (None, Some(_)) => {
            return Err(format!(
                "--public-url {public_url} is an IP address, which cannot be a passkey's relying party ID; use a host name (http://localhost:PORT locally)"
            ));
        }
        (None, None) => return Err(format!("--public-url {public_url} has no host")),
    };
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.rp_name(name).build())
        .map_err(|e| format!("--public-url {public_url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_name_is_a_relying_party() {
        for url in [
            "http://localhost:3000",
            "https://auth.example.com",
            "https://example.com:8443",
        ] {
            let rp = RelyingParty::new(url, "Twofold");
            assert!(rp.problem().is_none(), "{url}: {:?}", rp.problem());
            assert!(rp.get().is_ok());
        }
    }

    #[test]
    fn an_address_is_refused_in_one_line() {
        for url in [
            "http://127.0.0.1:3000",
            "http://[::1]:3000",
            "https://10.0.0.5",
        ] {
            let rp = RelyingParty::new(url, "Twofold");
            let problem = rp.problem().unwrap_or_default().to_string();
            assert!(problem.contains("IP address"), "{url}: {problem}");
            assert!(!problem.contains('\n'));
            assert!(matches!(rp.get(), Err(AppError::Conflict { .. })));
        }
    }
}
