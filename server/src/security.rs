//! Security layers around every response: headers (CSP with a per-request
//! nonce, frame denial, nosniff, no-referrer, no-store) and the refusal of
//! state-changing requests from other sites.

use app::api::{AppError, paths};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HOST, ORIGIN, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Method};
use rand::RngCore;
use rand::rngs::OsRng;

/// The nonce that lets the page's own hydration script run under the CSP.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

fn new_nonce() -> CspNonce {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    CspNonce(URL_SAFE_NO_PAD.encode(bytes))
}

pub fn content_security_policy(nonce: &CspNonce) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        nonce.0
    )
}

/// Hands the request's nonce to Leptos so the scripts it writes carry it.
/// Runs inside page rendering, where the request parts are in context.
pub fn provide_csp_nonce() {
    use leptos::prelude::{provide_context, use_context};
    if let Some(nonce) =
        use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<CspNonce>().cloned())
    {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
}

/// Adds the security headers to every response. Static assets may be cached
/// (but revalidated); everything else is `no-store`, because pages and API
/// answers can show account data.
pub async fn headers(mut req: Request, next: Next) -> Response {
    let nonce = new_nonce();
    req.extensions_mut().insert(nonce.clone());
    let is_asset = crate::assets::is_asset_path(req.uri().path());
    let mut resp = next.run(req).await;
    let cacheable = is_asset && resp.status().is_success();
    let h = resp.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&nonce)) {
        h.insert(CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        http::header::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    let cache = if cacheable { "no-cache" } else { "no-store" };
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// Refuses POST/PUT/PATCH/DELETE that another site sent. Browsers say where a
/// request comes from in `Sec-Fetch-Site` and `Origin`; scripts (curl) send
/// neither and are allowed. Cookies are SameSite=Lax as well.
pub async fn refuse_cross_origin(req: Request, next: Next) -> Response {
    // A proxy's forward-auth question carries the protected app's request
    // headers (its Origin among them) and changes nothing: it is answered
    // only to listed proxies instead.
    let proxied = req.uri().path().starts_with("/api/authz/");
    // The token, revocation and userinfo endpoints take no cookie (the app
    // proves itself with its credentials or a bearer token); an app may
    // POST an authorization request, which only ever redirects (and a
    // cross-site POST carries no SameSite=Lax cookie anyway).
    let oauth = matches!(
        req.uri().path(),
        paths::OAUTH2_TOKEN
            | paths::OAUTH2_REVOKE
            | paths::OAUTH2_USERINFO
            | paths::OAUTH2_AUTHORIZE
    );
    let safe =
        proxied || oauth || matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && is_cross_origin(req.headers()) {
        tracing::warn!(path = %req.uri().path(), "refused a cross-origin request");
        return AppError::Forbidden.into_response();
    }
    next.run(req).await
}

pub fn is_cross_origin(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|v| v == "cross-site" || v == "same-site") {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    if origin == "null" {
        // With `Referrer-Policy: no-referrer`, browsers send `Origin: null` on
        // their own form posts; Fetch Metadata then vouches for them. A null
        // origin without it (sandboxed frames, old browsers) is refused.
        return fetch_site != Some("same-origin");
    }
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    origin_host(origin) != host.map(|h| h.to_ascii_lowercase())
}

/// `https://Example.com:8443` -> `example.com:8443`; `null` and junk -> None.
fn origin_host(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    if rest.is_empty() || rest.contains('/') {
        return None;
    }
    Some(rest.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_and_scripts_pass() {
        assert!(!is_cross_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ])));
        assert!(!is_cross_origin(&headers(&[
            ("host", "example.com"),
            ("origin", "https://Example.com")
        ])));
        assert!(!is_cross_origin(&headers(&[("host", "127.0.0.1:3000")])));
        assert!(!is_cross_origin(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
    }

    #[test]
    fn other_sites_are_refused() {
        assert!(is_cross_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://evil.example")
        ])));
        assert!(is_cross_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "null")
        ])));
        assert!(is_cross_origin(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3001")
        ])));
        assert!(is_cross_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:3000"
        )])));
        assert!(is_cross_origin(&headers(&[(
            "sec-fetch-site",
            "cross-site"
        )])));
    }

    #[test]
    fn csp_is_tight() {
        let csp = content_security_policy(&CspNonce("abc".into()));
        assert!(csp.contains("default-src 'self'"));
        assert!(csp.contains("'nonce-abc'") && csp.contains("'wasm-unsafe-eval'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
    }
}
