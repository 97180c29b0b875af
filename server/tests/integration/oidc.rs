//! Single sign-on over HTTP: Twofold as an OpenID Connect provider, checked
//! by an independent relying party (the `openidconnect` crate verifies the
//! ID token against the JWKS: signature, iss, aud, nonce, exp), and every
//! refusal the issue names: wrong redirect URI, missing or wrong PKCE
//! verifier, a reused code, a wrong client secret, an expired code, a
//! two-factor app and a password-only session; racing code exchanges.

use crate::common;

use std::pin::Pin;
use std::sync::Arc;

use app::backend::infra::clock::FixedClock;
use common::twofactor::{T0, answer, challenge, clock_now, enrol};
use common::{PASSWORD, TestServer, burst, json_of, location, query_of, tally};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClientAuthMethod, CoreErrorResponseType, CoreGenderClaim, CoreGrantType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreSubjectIdentifierType, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthorizationCode, Client, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointNotSet, HttpRequest, HttpResponse,
    IdTokenFields, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, ProviderMetadata,
    RedirectUrl, RequestTokenError, RevocationUrl, Scope, StandardErrorResponse,
    StandardTokenResponse, TokenResponse, UserInfoClaims,
};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The secret of the `grafana` client (its hash is in the clients file).
const SECRET: &str = "grafana-secret-0123456789";
const GRAFANA_CB: &str = "https://grafana.example.com/login/generic_oauth";
const CLI_CB: &str = "http://127.0.0.1:8765/callback";

fn clients_file(hash: &str) -> String {
    format!(
        r#"[[clients]]
id = "grafana"
name = "Grafana"
secret = "{hash}"
redirect_uris = ["{GRAFANA_CB}"]
post_logout_redirect_uris = ["https://grafana.example.com/login"]
scopes = ["openid", "profile", "email", "groups", "offline_access"]
policy = "two_factor"
consent = "implicit"

[[clients]]
id = "cli-tool"
public = true
redirect_uris = ["{CLI_CB}"]
policy = "one_factor"
consent = "implicit"

[[clients]]
id = "wiki"
name = "The Wiki"
secret = "{hash}"
redirect_uris = ["https://wiki.example.com/cb"]
policy = "one_factor"
consent = "explicit"
"#
    )
}

async fn server(clock: &FixedClock) -> TestServer {
    let dir = tempfile::tempdir().expect("dir");
    let hash = app::backend::auth::passwords::hash_blocking(
        &app::backend::auth::passwords::Password::new(SECRET.into()),
    )
    .expect("hash");
    let file = dir.path().join("clients.toml");
    std::fs::write(&file, clients_file(&hash.0)).expect("clients");
    let security = twofold_server::config::SecurityArgs {
        oidc_clients: Some(file),
        ..common::security()
    };
    TestServer::start_full(Arc::new(clock.clone()), Some(dir), security).await
}

/// The issuer: the public URL (`http://localhost:PORT` for a loopback
/// listener), as the ID tokens and discovery say it.
fn issuer(s: &TestServer) -> String {
    s.base.replace("127.0.0.1", "localhost")
}

/// A browser that signed in with password and TOTP.
async fn signed_in_with_totp(s: &TestServer, clock: &FixedClock, email: &str) -> reqwest::Client {
    let enrolled = enrol(s, clock, email).await;
    clock.advance(30);
    let c = challenge(s, email).await;
    let r = answer(s, &c, "Totp", &enrolled.secret.code_at(clock_now(clock))).await;
    assert_eq!(r.status(), StatusCode::OK);
    c
}

/// The authorize request, as the browser sends it to Twofold.
fn authorize_url(s: &TestServer, params: &[(&str, &str)]) -> String {
    let query = serde_urlencoded::to_string(params).expect("query");
    s.url(&format!("/oauth2/authorize?{query}"))
}

// A PKCE pair (RFC 7636 Appendix B).
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A code for the public CLI client (PKCE), for `c`'s session.
async fn cli_code(s: &TestServer, c: &reqwest::Client) -> String {
    let r = c
        .get(authorize_url(
            s,
            &[
                ("client_id", "cli-tool"),
                ("redirect_uri", CLI_CB),
                ("response_type", "code"),
                ("scope", "openid email"),
                ("state", "st"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), StatusCode::FOUND);
    let to = location(&r);
    assert!(to.starts_with(CLI_CB), "{to}");
    let q = query_of(&to);
    assert_eq!(q.get("state").map(String::as_str), Some("st"));
    assert_eq!(q.get("iss"), Some(&issuer(s)));
    q.get("code").cloned().expect("code")
}

async fn exchange(s: &TestServer, code: &str, verifier: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CLI_CB),
        ("client_id", "cli-tool"),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    reqwest::Client::new()
        .post(s.url("/oauth2/token"))
        .form(&form)
        .send()
        .await
        .expect("token")
}

async fn signed_in_password_only(s: &TestServer, email: &str) -> reqwest::Client {
    let c = s.client();
    assert_eq!(s.register(&c, email).await.status(), StatusCode::CREATED);
    c
}

#[tokio::test]
async fn discovery_names_every_endpoint_and_the_jwks_a_key() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = s.client();
    let d = json_of(s.get(&c, "/.well-known/openid-configuration").await).await;
    let iss = issuer(&s);
    assert_eq!(d["issuer"], iss.as_str());
    for (field, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("jwks_uri", "/oauth2/jwks"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("end_session_endpoint", "/oauth2/logout"),
    ] {
        assert_eq!(d[field], format!("{iss}{path}"), "{field}");
    }
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    let jwks = json_of(s.get(&c, "/oauth2/jwks").await).await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert!(keys[0]["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(keys[0].get("d").is_none(), "never the private part");
}

// ---- the independent relying party (openidconnect) ----

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct ExtraClaims {
    #[serde(default)]
    groups: Vec<String>,
}
impl AdditionalClaims for ExtraClaims {}

#[derive(Clone, Debug, Deserialize, Serialize)]
struct ExtraMeta {
    revocation_endpoint: Option<String>,
}
impl AdditionalProviderMetadata for ExtraMeta {}

type Metadata = ProviderMetadata<
    ExtraMeta,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResp = StandardTokenResponse<IdFields, CoreTokenType>;
type RpClient<
    HasAuthUrl = EndpointNotSet,
    HasDeviceAuthUrl = EndpointNotSet,
    HasIntrospectionUrl = EndpointNotSet,
    HasRevocationUrl = EndpointNotSet,
    HasTokenUrl = EndpointNotSet,
    HasUserInfoUrl = EndpointNotSet,
> = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResp,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    HasAuthUrl,
    HasDeviceAuthUrl,
    HasIntrospectionUrl,
    HasRevocationUrl,
    HasTokenUrl,
    HasUserInfoUrl,
>;

type HttpFut = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>>>>;

/// The relying party's back channel. oauth2 refuses a plain-http
/// revocation URL, so it is registered as https and sent as http here.
fn back_channel(rq: reqwest::Client) -> impl Fn(HttpRequest) -> HttpFut {
    move |mut req: HttpRequest| -> HttpFut {
        let uri = req.uri().to_string();
        if let Some(rest) = uri.strip_prefix("https://localhost")
            && let Ok(u) = format!("http://localhost{rest}").parse::<openidconnect::http::Uri>()
        {
            *req.uri_mut() = u;
        }
        let rq = rq.clone();
        Box::pin(async move {
            let resp = rq.execute(reqwest::Request::try_from(req)?).await?;
            let (status, headers) = (resp.status(), resp.headers().clone());
            let mut out = openidconnect::http::Response::new(resp.bytes().await?.to_vec());
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok::<HttpResponse, reqwest::Error>(out)
        })
    }
}

#[tokio::test]
async fn an_independent_relying_party_signs_in_refreshes_and_revokes() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let browser = signed_in_with_totp(&s, &clock, "ada@example.com").await;
    let http = back_channel(
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("client"),
    );
    let metadata = Metadata::discover_async(IssuerUrl::new(issuer(&s)).expect("issuer"), &http)
        .await
        .expect("discovery");
    let revocation = metadata
        .additional_metadata()
        .revocation_endpoint
        .clone()
        .expect("revocation_endpoint")
        .replacen("http://", "https://", 1);
    let rp = RpClient::from_provider_metadata(
        metadata,
        ClientId::new("grafana".into()),
        Some(ClientSecret::new(SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(GRAFANA_CB.into()).expect("redirect"))
    .set_revocation_url(RevocationUrl::new(revocation).expect("revocation"));

    let (pkce, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("groups".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(pkce)
        .url();
    // The browser holds its session on 127.0.0.1; the same server.
    let to_browser = auth_url.as_str().replace("localhost", "127.0.0.1");
    let r = browser.get(&to_browser).send().await.expect("authorize");
    assert_eq!(r.status(), StatusCode::FOUND);
    let back = location(&r);
    assert!(back.starts_with(GRAFANA_CB), "{back}");
    let q = query_of(&back);
    assert_eq!(q.get("state"), Some(csrf.secret()));
    assert_eq!(q.get("iss"), Some(&issuer(&s)), "RFC 9207");
    let code = AuthorizationCode::new(q.get("code").cloned().expect("code"));

    let tokens: TokenResp = rp
        .exchange_code(code)
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("tokens");
    let id_token = tokens.id_token().expect("id_token");
    let checker = rp.id_token_verifier();
    let claims = id_token.claims(&checker, &nonce).expect("a valid ID token");
    assert_eq!(
        *id_token.signing_alg().expect("alg"),
        CoreJwsSigningAlgorithm::EcdsaP256Sha256
    );
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert_eq!(claims.email_verified(), Some(true));
    assert_eq!(claims.additional_claims().groups, vec!["user".to_string()]);
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .into_iter()
        .flatten()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(amr, vec!["pwd", "otp", "mfa"]);
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("two_factor")
    );
    let sub = claims.subject().clone();
    assert!(!sub.as_str().contains('@'), "sub is never the email");
    assert_ne!(sub.as_str(), "1");

    let info: UserInfoClaims<ExtraClaims, CoreGenderClaim> = rp
        .user_info(tokens.access_token().clone(), Some(sub.clone()))
        .expect("userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));

    // Refresh: a new pair; the old refresh token is spent.
    let first = tokens.refresh_token().expect("refresh_token").clone();
    let refreshed: TokenResp = rp
        .exchange_refresh_token(&first)
        .expect("token endpoint")
        .request_async(&http)
        .await
        .expect("refreshed");
    let idt = refreshed.id_token().expect("a new id_token");
    assert_eq!(
        idt.claims(&checker, |_: Option<&Nonce>| Ok(()))
            .expect("valid")
            .subject(),
        &sub
    );
    let second = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(second.secret(), first.secret());
    // Reusing the first one: refused, and the whole grant goes with it.
    let reuse = rp
        .exchange_refresh_token(&first)
        .expect("token endpoint")
        .request_async(&http)
        .await;
    assert!(
        matches!(&reuse, Err(RequestTokenError::ServerResponse(e)) if *e.error() == CoreErrorResponseType::InvalidGrant),
        "{reuse:?}"
    );
    let after = rp
        .exchange_refresh_token(&second)
        .expect("token endpoint")
        .request_async(&http)
        .await;
    assert!(after.is_err(), "the rotated token died with its grant");
    let r = reqwest::Client::new()
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(refreshed.access_token().secret())
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A new sign-in, then revocation (RFC 7009) of its refresh token.
    let (pkce, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(pkce)
        .url();
    let r = browser
        .get(auth_url.as_str().replace("localhost", "127.0.0.1"))
        .send()
        .await
        .expect("authorize");
    let code = query_of(&location(&r)).get("code").cloned().expect("code");
    let tokens: TokenResp = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("tokens");
    let refresh = tokens.refresh_token().expect("refresh").clone();
    rp.revoke_token(CoreRevocableToken::from(refresh.clone()))
        .expect("revocation endpoint")
        .request_async(&http)
        .await
        .expect("revoked");
    assert!(
        rp.exchange_refresh_token(&refresh)
            .expect("token endpoint")
            .request_async(&http)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn bad_redirect_uris_never_redirect() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "bo@example.com").await;
    for (client, uri) in [
        ("cli-tool", "http://127.0.0.1:8765/callback/evil"),
        ("cli-tool", "https://evil.example.net/callback"),
        ("unknown", CLI_CB),
    ] {
        let r = c
            .get(authorize_url(
                &s,
                &[
                    ("client_id", client),
                    ("redirect_uri", uri),
                    ("response_type", "code"),
                    ("scope", "openid"),
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "S256"),
                ],
            ))
            .send()
            .await
            .expect("authorize");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{client} {uri}");
        assert!(r.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn pkce_is_required_for_public_clients_and_checked() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "cy@example.com").await;
    // No challenge: the app is told, at its own redirect URI.
    let r = c
        .get(authorize_url(
            &s,
            &[
                ("client_id", "cli-tool"),
                ("redirect_uri", CLI_CB),
                ("response_type", "code"),
                ("scope", "openid"),
                ("state", "x"),
            ],
        ))
        .send()
        .await
        .expect("authorize");
    let q = query_of(&location(&r));
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert_eq!(q.get("state").map(String::as_str), Some("x"));
    // The plain method is refused too.
    let r = c
        .get(authorize_url(
            &s,
            &[
                ("client_id", "cli-tool"),
                ("redirect_uri", CLI_CB),
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
        ))
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        query_of(&location(&r)).get("error").map(String::as_str),
        Some("invalid_request")
    );

    // Missing and wrong verifiers: invalid_grant, and the code is spent.
    let code = cli_code(&s, &c).await;
    let r = exchange(&s, &code, None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let code = cli_code(&s, &c).await;
    let r = exchange(
        &s,
        &code,
        Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    let r = exchange(&s, &code, Some(VERIFIER)).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "a refused code stays spent"
    );
    // The right one works.
    let code = cli_code(&s, &c).await;
    let r = exchange(&s, &code, Some(VERIFIER)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json_of(r).await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access asked"
    );
}

#[tokio::test]
async fn a_reused_code_revokes_what_it_issued_and_an_old_one_is_refused() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "di@example.com").await;
    let code = cli_code(&s, &c).await;
    let r = exchange(&s, &code, Some(VERIFIER)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let access = json_of(r).await["access_token"]
        .as_str()
        .expect("access")
        .to_string();
    let userinfo = || {
        reqwest::Client::new()
            .get(s.url("/oauth2/userinfo"))
            .bearer_auth(&access)
            .send()
    };
    assert_eq!(userinfo().await.expect("ui").status(), StatusCode::OK);
    let r = exchange(&s, &code, Some(VERIFIER)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(r).await["error"], "invalid_grant");
    assert_eq!(
        userinfo().await.expect("ui").status(),
        StatusCode::UNAUTHORIZED,
        "the first exchange's token is revoked"
    );
    // A code is good for 60 seconds.
    let code = cli_code(&s, &c).await;
    clock.advance(61);
    let r = exchange(&s, &code, Some(VERIFIER)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn racing_exchanges_of_one_code_give_one_set_of_tokens() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "ed@example.com").await;
    let code = cli_code(&s, &c).await;
    let http = reqwest::Client::new();
    let url = s.url("/oauth2/token");
    let statuses = burst(32, |_| {
        http.post(&url).form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CLI_CB),
            ("client_id", "cli-tool"),
            ("code_verifier", VERIFIER),
        ])
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(
        tally(&statuses, StatusCode::BAD_REQUEST),
        31,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_and_limited() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let http = reqwest::Client::new();
    let r = http
        .post(s.url("/oauth2/token"))
        .basic_auth("grafana", Some("not-the-secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("www-authenticate").is_some());
    assert_eq!(json_of(r).await["error"], "invalid_client");
    // A burst of guesses from one address: at most its budget is checked.
    let url = s.url("/oauth2/token");
    let statuses = burst(60, |i| {
        http.post(&url).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", "grafana"),
            ("client_secret", &format!("guess-{i}")),
        ])
    })
    .await;
    assert_eq!(tally(&statuses, StatusCode::OK), 0);
    assert!(
        tally(&statuses, StatusCode::TOO_MANY_REQUESTS) >= 10,
        "{statuses:?}"
    );
    // From this address even the right secret waits for the window now;
    // the client itself is not locked (anyone could lock it out otherwise).
    let r = http
        .post(s.url("/oauth2/token"))
        .basic_auth("grafana", Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn a_two_factor_app_sends_a_password_only_session_to_enrol_first() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "fi@example.com").await;
    let params = [
        ("client_id", "grafana"),
        ("redirect_uri", GRAFANA_CB),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s1"),
    ];
    let r = c
        .get(authorize_url(&s, &params))
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), StatusCode::FOUND);
    let to = location(&r);
    assert!(to.starts_with("/account/two-factor?rd="), "{to}");
    // `prompt=none` cannot show that page: the app is told instead.
    let mut silent = params.to_vec();
    silent.push(("prompt", "none"));
    let r = c
        .get(authorize_url(&s, &silent))
        .send()
        .await
        .expect("authorize");
    let q = query_of(&location(&r));
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("interaction_required")
    );
    // Nobody signed in: to the sign-in page, which comes back here.
    let r = s
        .client()
        .get(authorize_url(&s, &params))
        .send()
        .await
        .expect("authorize");
    let to = location(&r);
    assert!(to.starts_with("/login?rd="), "{to}");
    let rd = query_of(&format!("http://x{to}"))
        .get("rd")
        .cloned()
        .unwrap_or_default();
    assert!(
        rd.starts_with(&format!("{}/oauth2/authorize?", issuer(&s))),
        "{rd}"
    );
    let r = s
        .client()
        .get(authorize_url(&s, &silent))
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        query_of(&location(&r)).get("error").map(String::as_str),
        Some("login_required")
    );
}

#[tokio::test]
async fn prompt_login_asks_for_the_password_again_then_comes_back() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "gu@example.com").await;
    let params = [
        ("client_id", "cli-tool"),
        ("redirect_uri", CLI_CB),
        ("response_type", "code"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("prompt", "login"),
    ];
    clock.advance(5);
    let r = c
        .get(authorize_url(&s, &params))
        .send()
        .await
        .expect("authorize");
    let to = location(&r);
    assert!(to.starts_with("/reauth?rd="), "{to}");
    let rd = query_of(&format!("http://x{to}"))
        .get("rd")
        .cloned()
        .expect("rd");
    assert!(!rd.contains("prompt=login"), "{rd}");
    // Coming back without the new proof asks again.
    let back = rd.replace("localhost", "127.0.0.1");
    let r = c.get(&back).send().await.expect("authorize");
    assert!(location(&r).starts_with("/reauth?rd="));
    // With it: a code.
    let r = s
        .post(&c, "/api/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.get(&back).send().await.expect("authorize");
    assert!(location(&r).starts_with(CLI_CB), "{}", location(&r));
}

#[tokio::test]
async fn consent_is_asked_once_remembered_and_revocable() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "ha@example.com").await;
    let params = [
        ("client_id", "wiki"),
        ("redirect_uri", "https://wiki.example.com/cb"),
        ("response_type", "code"),
        ("scope", "openid email offline_access"),
        ("state", "w"),
    ];
    let r = c
        .get(authorize_url(&s, &params))
        .send()
        .await
        .expect("authorize");
    let to = location(&r);
    assert!(to.starts_with("/consent?"), "{to}");
    let query = to.trim_start_matches("/consent?").to_string();
    let info = json_of(s.get(&c, &format!("/api/oauth2/consent?{query}")).await).await;
    assert_eq!(info["client_name"], "The Wiki");
    assert_eq!(info["scopes"], json!(["email", "offline_access"]));
    // Refused: the app hears access_denied.
    let r = s
        .post(
            &c,
            "/api/oauth2/consent",
            json!({"query": query, "allow": false}),
        )
        .await;
    let refused = json_of(r).await["redirect"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        query_of(&refused).get("error").map(String::as_str),
        Some("access_denied")
    );
    // Allowed: back to the request, which now gives a code.
    let r = s
        .post(
            &c,
            "/api/oauth2/consent",
            json!({"query": query, "allow": true}),
        )
        .await;
    let next = json_of(r).await["redirect"]
        .as_str()
        .unwrap_or_default()
        .replace("localhost", "127.0.0.1");
    let r = c.get(&next).send().await.expect("authorize");
    let code = query_of(&location(&r)).get("code").cloned().expect("code");
    let r = reqwest::Client::new()
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://wiki.example.com/cb"),
            ("client_id", "wiki"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::OK);
    let refresh = json_of(r).await["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    // Remembered: the next request goes straight back.
    let r = c
        .get(authorize_url(&s, &params))
        .send()
        .await
        .expect("authorize");
    assert!(location(&r).starts_with("https://wiki.example.com/cb?code="));
    // "Apps you signed in to" lists it; revoking ends its refresh token.
    let apps = json_of(s.get(&c, "/api/account/apps").await).await;
    assert_eq!(apps[0]["name"], "The Wiki");
    assert_eq!(apps[0]["signed_in"], true);
    let r = s
        .post(&c, "/api/account/apps/revoke", json!({"client_id": "wiki"}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = reqwest::Client::new()
        .post(s.url("/oauth2/token"))
        .basic_auth("wiki", Some(SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = c
        .get(authorize_url(&s, &params))
        .send()
        .await
        .expect("authorize");
    assert!(location(&r).starts_with("/consent?"), "asked again");
}

#[tokio::test]
async fn sign_out_everywhere_and_logout_end_app_sessions() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "io@example.com").await;
    let code = cli_code(&s, &c).await;
    let r = exchange(&s, &code, Some(VERIFIER)).await;
    let body = json_of(r).await;
    let id_token = body["id_token"].as_str().expect("id_token").to_string();
    let access = body["access_token"].as_str().expect("access").to_string();
    // RP-initiated logout with the hint: the session ends, back to the app
    // only at a listed address.
    let r = c
        .get(s.url(&format!(
            "/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri={}",
            "https%3A%2F%2Fevil.example.net%2F"
        )))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::OK,
        "not signed out"
    );
    let r = c
        .get(s.url(&format!("/oauth2/logout?id_token_hint={id_token}")))
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        s.get(&c, "/api/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Sign out everywhere: the app's tokens end too.
    let c = s.client();
    assert_eq!(
        s.login(&c, "io@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let r = s
        .post(&c, "/api/auth/logout-all", json!({"keep_current": false}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = reqwest::Client::new()
        .get(s.url("/oauth2/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_rotated_key_stays_published_until_its_tokens_expire() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let key = s.secret_key();
    let old = json_of(s.get(&s.client(), "/oauth2/jwks").await).await["keys"][0]["kid"].clone();
    let state = s
        .state(std::sync::Arc::new(clock.clone()), &common::security())
        .await;
    let new = app::backend::oidc::keys::rotate(&state.writer, &key, clock_now(&clock))
        .await
        .expect("rotate");
    let keys = json_of(s.get(&s.client(), "/oauth2/jwks").await).await;
    let kids: Vec<&str> = keys["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&new.as_str()) && kids.contains(&old.as_str().unwrap_or_default()));
    // New tokens are signed with the new key.
    let c = signed_in_password_only(&s, "jo@example.com").await;
    let code = cli_code(&s, &c).await;
    let body = json_of(exchange(&s, &code, Some(VERIFIER)).await).await;
    let header = body["id_token"]
        .as_str()
        .unwrap_or_default()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    use base64::Engine;
    let header: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(header["kid"], new.as_str());
    assert_eq!(header["alg"], "ES256");
    // After an ID token's lifetime, the old key is gone.
    clock.advance(app::backend::oidc::tokens::ID_TOKEN_TTL_S + 1);
    let keys = json_of(s.get(&s.client(), "/oauth2/jwks").await).await;
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn access_tokens_last_ten_minutes_and_refresh_tokens_thirty_days() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "ka@example.com").await;
    let userinfo = |token: String| {
        let url = s.url("/oauth2/userinfo");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("userinfo")
                .status()
        }
    };
    let refresh = |token: String| {
        let url = s.url("/oauth2/token");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", "cli-tool"),
                ])
                .send()
                .await
                .expect("token");
            (r.status(), json_of(r).await)
        }
    };
    // A public client with offline_access.
    let r = c
        .get(authorize_url(
            &s,
            &[
                ("client_id", "cli-tool"),
                ("redirect_uri", CLI_CB),
                ("response_type", "code"),
                ("scope", "openid offline_access"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ))
        .send()
        .await
        .expect("authorize");
    let code = query_of(&location(&r)).get("code").cloned().expect("code");
    let body = json_of(exchange(&s, &code, Some(VERIFIER)).await).await;
    assert_eq!(body["expires_in"], app::backend::oidc::tokens::ACCESS_TTL_S);
    let access = body["access_token"].as_str().expect("access").to_string();
    let first = body["refresh_token"].as_str().expect("refresh").to_string();
    clock.advance(app::backend::oidc::tokens::ACCESS_TTL_S - 1);
    assert_eq!(userinfo(access.clone()).await, StatusCode::OK);
    clock.advance(2);
    assert_eq!(userinfo(access).await, StatusCode::UNAUTHORIZED);
    // The refresh token still works, and its successor lives 30 days.
    let (status, body) = refresh(first).await;
    assert_eq!(status, StatusCode::OK);
    let next = body["refresh_token"].as_str().expect("rotated").to_string();
    clock.advance(app::backend::oidc::tokens::REFRESH_TTL_S + 1);
    let (status, body) = refresh(next).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_posted_request_works_and_a_forged_fresh_sign_in_mark_is_refused() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "lu@example.com").await;
    let params = [
        ("client_id", "cli-tool"),
        ("redirect_uri", CLI_CB),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "p"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    // OpenID Connect Core 3.1.2.1: POST as well as GET.
    let r = c
        .post(s.url("/oauth2/authorize"))
        .form(&params)
        .send()
        .await
        .expect("authorize");
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(query_of(&location(&r)).contains_key("code"));
    // A mark of "signed in again after..." set in the future by someone
    // else would send the person round the sign-in forever: refused.
    let mut forged = params.to_vec();
    let later = (T0 + 3600).to_string();
    forged.push(("auth_after", later.as_str()));
    let r = c
        .get(authorize_url(&s, &forged))
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        query_of(&location(&r)).get("error").map(String::as_str),
        Some("invalid_request")
    );
    // A loopback IP redirect may come back on another port (RFC 8252).
    let mut other_port = params.to_vec();
    other_port[1] = ("redirect_uri", "http://127.0.0.1:50123/callback");
    let r = c
        .get(authorize_url(&s, &other_port))
        .send()
        .await
        .expect("authorize");
    assert!(location(&r).starts_with("http://127.0.0.1:50123/callback?code="));
}

#[tokio::test]
async fn racing_refreshes_of_one_token_give_one_new_pair_then_end_the_grant() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "mo@example.com").await;
    let r = c
        .get(authorize_url(
            &s,
            &[
                ("client_id", "cli-tool"),
                ("redirect_uri", CLI_CB),
                ("response_type", "code"),
                ("scope", "openid offline_access"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        ))
        .send()
        .await
        .expect("authorize");
    let code = query_of(&location(&r)).get("code").cloned().expect("code");
    let body = json_of(exchange(&s, &code, Some(VERIFIER)).await).await;
    let refresh = body["refresh_token"].as_str().expect("refresh").to_string();
    let http = reqwest::Client::new();
    let url = s.url("/oauth2/token");
    let statuses = burst(32, |_| {
        http.post(&url).form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
            ("client_id", "cli-tool"),
        ])
    })
    .await;
    // One spends it; every other use is reuse, which revokes the grant.
    assert_eq!(tally(&statuses, StatusCode::OK), 1, "{statuses:?}");
    assert_eq!(
        tally(&statuses, StatusCode::BAD_REQUEST),
        31,
        "{statuses:?}"
    );
    let apps = json_of(s.get(&c, "/api/account/apps").await).await;
    assert_eq!(apps, json!([]), "the grant is revoked");
}

#[tokio::test]
async fn the_admin_page_lists_the_clients_and_the_latest_sign_ins() {
    let clock = FixedClock::new(T0);
    let s = server(&clock).await;
    let c = signed_in_password_only(&s, "ne@example.com").await;
    let code = cli_code(&s, &c).await;
    assert_eq!(
        exchange(&s, &code, Some(VERIFIER)).await.status(),
        StatusCode::OK
    );
    // Not for everyone.
    assert_eq!(
        s.get(&c, "/api/admin/oidc").await.status(),
        StatusCode::FORBIDDEN
    );
    let admin = s.admin("root@example.com").await;
    let view = json_of(s.get(&admin, "/api/admin/oidc").await).await;
    let ids: Vec<&str> = view["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["grafana", "cli-tool", "wiki"]);
    assert_eq!(view["clients"][1]["public"], true);
    assert_eq!(view["clients"][0]["policy"], "two_factor");
    assert_eq!(view["recent"][0]["client_id"], "cli-tool");
    assert_eq!(view["recent"][0]["email"], "ne@example.com");
    assert_eq!(view["recent"][0]["amr"], "pwd");
    assert!(
        view.get("clients").is_some() && !view.to_string().contains("argon2"),
        "never the secret hashes"
    );
}
