//! Everything between parsing the flags and accepting connections: the data
//! directory, the database, the app state, the listener, graceful shutdown.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use app::backend::auth::rate_limit::Limits;
use app::backend::infra::clock::Clock;
use app::backend::infra::crypto::SecretKey;
use app::backend::infra::direct::Reads;
use app::backend::infra::mail::Mailer;
use app::backend::infra::sms::{SmsConfig, SmsSender};
use app::backend::{AppState, Settings, Shared, auth::passwords, infra::db};

use app::backend::auth::signup::SignupMode;
use app::backend::authz::AccessRules;
use app::backend::factors::passkeys::RelyingParty;
use app::backend::oidc::Clients;

use crate::config::{DataArgs, SecurityArgs, SignupArg};
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("--addr '{0}' is not a valid address; expected IP:PORT, e.g. 127.0.0.1:3000")]
    BadAddr(String),
    #[error("cannot use data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("{0}")]
    Db(#[from] db::DbError),
    #[error("{0}")]
    Key(#[from] app::backend::infra::crypto::KeyError),
    #[error("{0}")]
    Mail(#[from] app::backend::infra::mail::MailError),
    #[error("--issuer must be 1 to 64 characters without ':'")]
    BadIssuer,
    #[error("--metrics-addr '{0}' is not a valid address; expected IP:PORT, e.g. 127.0.0.1:9100")]
    BadMetricsAddr(String),
    #[error("{0}")]
    Proxies(#[from] crate::client_ip::BadRange),
    #[error(
        "--public-url '{0}' must be http(s)://HOST[:PORT] with no path, e.g. https://login.example.com"
    )]
    BadPublicUrl(String),
    #[error(
        "--public-url is required when listening on {0}: give the address people use to reach Twofold, e.g. https://login.example.com"
    )]
    PublicUrlRequired(SocketAddr),
    #[error(
        "--cookie-domain '{domain}' must be a domain the public URL's host ({host}) is in, e.g. example.com for login.example.com"
    )]
    BadCookieDomain { domain: String, host: String },
    #[error("--access-rules {path}: {reason}")]
    AccessRulesFile { path: PathBuf, reason: String },
    #[error("--oidc-clients {path}: {reason}")]
    OidcClientsFile { path: PathBuf, reason: String },
    #[error("startup failed: {0}")]
    Other(String),
}

pub const DB_FILE: &str = "twofold.db";

/// Creates the data directory if needed and proves it is writable, so a bad
/// directory is reported as such instead of as a database error.
pub fn prepare_data_dir(dir: &Path) -> Result<(), StartupError> {
    let fail = |reason: String| StartupError::DataDir {
        path: dir.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let probe = dir.join(".twofold-write-test");
    std::fs::write(&probe, b"ok").map_err(|e| fail(format!("not writable ({e})")))?;
    std::fs::remove_file(&probe).map_err(|e| fail(format!("not writable ({e})")))?;
    Ok(())
}

/// Opens the database and runs migrations; any failure stops startup.
pub async fn open_database(data: &DataArgs) -> Result<sqlx::AnyPool, StartupError> {
    let target = data.target()?;
    prepare_data_dir(&data.data_dir)?;
    let pool = db::open(&target).await?;
    db::migrate(&pool).await?;
    Ok(pool)
}

/// The key that seals TOTP secrets and keys the code hashes. On SQLite it
/// may live beside the database (made on first start); instances sharing a
/// PostgreSQL database must share it, so there it must be given.
pub fn secret_key(
    security: &SecurityArgs,
    target: &db::Target,
    data_dir: &Path,
) -> Result<SecretKey, StartupError> {
    use app::backend::infra::crypto::KeyError;
    let hex = security
        .secret_key_hex
        .clone()
        .or_else(|| std::env::var("TWOFOLD_SECRET_KEY").ok())
        .filter(|h| !h.trim().is_empty());
    let key = match (&security.secret_key_file, hex) {
        (Some(file), _) => SecretKey::load_or_create(Some(file), data_dir)?,
        (None, Some(hex)) => SecretKey::from_hex(&hex)?,
        (None, None) if target.is_postgres() => return Err(KeyError::SharedKeyRequired.into()),
        (None, None) => SecretKey::load_or_create(None, data_dir)?,
    };
    Ok(key)
}

/// Leptos settings fixed at build time, so the binary needs no Cargo.toml or
/// environment at run time.
pub fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("twofold")
        .site_root("target/site")
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build()
}

pub async fn build_state(
    data: &DataArgs,
    addr: SocketAddr,
    clock: Arc<dyn Clock>,
    security: &SecurityArgs,
) -> Result<AppState, StartupError> {
    let issuer = security.issuer.trim().to_string();
    if issuer.is_empty() || issuer.len() > 64 || issuer.contains(':') {
        return Err(StartupError::BadIssuer);
    }
    let data_dir = data.data_dir.as_path();
    let target = data.target()?;
    prepare_data_dir(data_dir)?;
    let key = secret_key(security, &target, data_dir)?;
    let pool = open_database(data).await?;
    let writer = db::open_writer(&target).await?;
    let direct_reads =
        match &target {
            db::Target::Sqlite(path) => Some(Arc::new(Reads::new(path).map_err(|e| {
                StartupError::Other(format!("cannot open {}: {e}", path.display()))
            })?)),
            db::Target::Postgres(_) => None,
        };
    let mailer = match &security.smtp_url {
        Some(url) => {
            let ca = match &security.smtp_ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    app::backend::infra::mail::MailError::BadCa(format!("{}: {e}", path.display()))
                })?),
                None => None,
            };
            Mailer::smtp(url, &security.mail_from, smtp_credentials(), ca.as_deref())?
        }
        None => Mailer::outbox(&data_dir.join("outbox"), &security.mail_from)?,
    };
    let log_links = security.smtp_url.is_none();
    let public_url = public_url(security.public_url.as_deref(), addr)?;
    let access_rules = load_access_rules(security.access_rules.as_deref())?;
    let oidc_clients = load_oidc_clients(security.oidc_clients.as_deref())?;
    // The first ID-token signing key is made on first start.
    app::backend::oidc::keys::ensure(&writer, &key, clock.now())
        .await
        .map_err(|e| StartupError::Other(format!("cannot make the ID-token signing key: {e}")))?;
    let cookie_domain = cookie_domain(security.cookie_domain.as_deref(), &public_url)?;
    let passkeys = RelyingParty::new(&public_url, &issuer);
    if let Some(problem) = passkeys.problem() {
        tracing::warn!("passkeys are off: {problem}");
    }
    let sms = sms_sender(security, data_dir)?;
    let settings = Settings {
        key,
        sms,
        sms_daily_cap: i64::from(security.sms_daily_cap),
        recovery_delay_s: i64::from(security.recovery_delay_h.max(1)) * 3600,
        limits: Limits {
            account_max: security.max_failures.max(1),
            ip_max: security.ip_max_failures.max(1),
            window_s: i64::from(security.failure_window_s.max(1)),
            signup_per_hour: security.signup_per_hour.max(1),
            streak_cap: security.max_failures_in_a_row.clamp(1, 100),
        },
        issuer,
        mailer,
        signup: match security.signup {
            SignupArg::Confirm => SignupMode::Confirm,
            SignupArg::Open => SignupMode::Open,
            SignupArg::Closed => SignupMode::Closed,
        },
        passkeys,
        access_rules,
        oidc_clients,
        cookie_domain,
        public_url,
        session_idle_s: i64::try_from(security.session_idle_timeout).unwrap_or(i64::MAX / 4),
        log_links,
    };

    Ok(AppState::new(Shared {
        pool,
        writer,
        direct_reads,
        clock,
        leptos_options: leptos_options(addr),
        dummy_hash: passwords::dummy_hash(),
        hash_pool: passwords::HashPool::per_core(),
        settings: Arc::new(settings),
        metrics: Arc::new(app::backend::infra::metrics::Metrics::new()),
        denials: Arc::new(app::backend::authz::Denials::default()),
    }))
}

/// `--sms-provider` and its settings; credentials only from the environment.
fn sms_sender(security: &SecurityArgs, data_dir: &Path) -> Result<SmsSender, StartupError> {
    use crate::config::SmsProviderArg;
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let (account_sid, auth_token) = security.twilio_credentials.clone().unwrap_or_else(|| {
        (
            env("TWOFOLD_TWILIO_ACCOUNT_SID"),
            env("TWOFOLD_TWILIO_AUTH_TOKEN"),
        )
    });
    let config = match security.sms_provider {
        None => SmsConfig::Off,
        Some(SmsProviderArg::Outbox) => SmsConfig::Outbox(data_dir.join("sms-outbox")),
        Some(SmsProviderArg::Twilio) => SmsConfig::Twilio {
            api_url: security.twilio_api_url.clone(),
            account_sid,
            auth_token,
            from: security.sms_from.clone().unwrap_or_default(),
        },
        Some(SmsProviderArg::Webhook) => SmsConfig::Webhook {
            url: security.sms_webhook_url.clone().unwrap_or_default(),
        },
    };
    SmsSender::new(config).map_err(|e| StartupError::Other(e.to_string()))
}

/// `--cookie-domain`, lower case without a leading dot; it must contain the
/// public URL's host, or browsers would never send the cookie back to
/// Twofold itself.
pub fn cookie_domain(
    given: Option<&str>,
    public_url: &str,
) -> Result<Option<String>, StartupError> {
    let Some(raw) = given.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    let domain = raw.trim_start_matches('.').to_ascii_lowercase();
    let host = public_url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', ':']).next())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let valid = domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && (host == domain || host.ends_with(&format!(".{domain}")));
    if valid {
        Ok(Some(domain))
    } else {
        Err(StartupError::BadCookieDomain {
            domain: raw.to_string(),
            host,
        })
    }
}

/// `--access-rules FILE`, checked whole; none: deny every proxied request.
pub fn load_access_rules(path: Option<&Path>) -> Result<AccessRules, StartupError> {
    let Some(path) = path else {
        return Ok(AccessRules::default());
    };
    let text = std::fs::read_to_string(path).map_err(|e| StartupError::AccessRulesFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    AccessRules::parse(&text).map_err(|e| StartupError::AccessRulesFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// `--oidc-clients FILE`, checked whole; none: no app may sign people in.
pub fn load_oidc_clients(path: Option<&Path>) -> Result<Clients, StartupError> {
    let Some(path) = path else {
        return Ok(Clients::default());
    };
    let fail = |reason: String| StartupError::OidcClientsFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    Clients::parse(&text).map_err(|e| fail(e.to_string()))
}

/// `--public-url`, checked and without a trailing slash; by default
/// `http://localhost:PORT` on a loopback address (commands, which listen on
/// no port, assume the default port 3000).
pub fn public_url(given: Option<&str>, addr: SocketAddr) -> Result<String, StartupError> {
    match given.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            let host = rest.map(|r| r.split('/').next().unwrap_or_default());
            match (rest, host) {
                (Some(rest), Some(host))
                    if !host.is_empty()
                        && !rest.contains(['?', '#', ' '])
                        && rest.trim_end_matches('/') == host =>
                {
                    Ok(url.trim_end_matches('/').to_string())
                }
                _ => Err(StartupError::BadPublicUrl(url.to_string())),
            }
        }
        None if addr.ip().is_loopback() => {
            let port = if addr.port() == 0 { 3000 } else { addr.port() };
            Ok(format!("http://localhost:{port}"))
        }
        None => Err(StartupError::PublicUrlRequired(addr)),
    }
}

/// SMTP credentials come from the environment only, so they never show in
/// a process listing.
fn smtp_credentials() -> Option<(String, String)> {
    let user = std::env::var("TWOFOLD_SMTP_USERNAME").ok()?;
    let password = std::env::var("TWOFOLD_SMTP_PASSWORD").unwrap_or_default();
    Some((user, password))
}

pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| StartupError::Bind {
            addr,
            reason: e.to_string(),
        })
}

/// Serves until ctrl-c or SIGTERM, then lets in-flight requests finish and
/// queued mail go out. With a `metrics` listener, `/metrics` is served there.
pub async fn serve(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    state: AppState,
    options: &crate::RouterOptions,
) -> std::io::Result<()> {
    let app = crate::router_with(state.clone(), options);
    app::backend::infra::housekeeping::spawn(state.clone());
    if let Some(metrics) = metrics {
        let router = crate::metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, router).await {
                tracing::error!("the metrics listener stopped: {e}");
            }
        });
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    state
        .settings
        .mailer
        .drain(std::time::Duration::from_secs(10))
        .await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for ctrl-c: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
