//! Operator commands: create an admin, reset a user's MFA, lift a lockout,
//! back up the database. They work on the data directory directly, so they
//! run on the server's machine (with the server up or down) and need no
//! admin session: shell access is the credential.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use app::api::AppError;
use app::backend::admin::{self, Actor, AdminCreated};
use app::backend::infra::clock::SystemClock;
use app::backend::{AppState, ClientMeta, infra::db};

use crate::config::{AdminCreateArgs, BackupArgs, EmailArgs};
use crate::startup::{self, StartupError};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Startup(#[from] StartupError),
    /// The API's message is written for people; it fits here too.
    #[error("{0}")]
    App(#[from] AppError),
    #[error("{0}")]
    Backup(#[from] db::BackupError),
    #[error("cannot read the password: {0}")]
    Password(std::io::Error),
    #[error("the two passwords differ")]
    PasswordMismatch,
    #[error("no account with the email {0}")]
    NoSuchAccount(String),
    #[error("no database in {0}; start the server or run `twofold migrate` first")]
    NoDatabase(String),
    #[error("--url '{0}' is not an absolute http(s) URL, e.g. https://app.example.com/path")]
    BadUrl(String),
    #[error("{0}")]
    MigrateData(#[from] crate::migrate_data::MigrateDataError),
}

/// The state the commands share with the server: same key, same mailer.
async fn state(args: &EmailArgs) -> Result<AppState, CliError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    Ok(startup::build_state(&args.data, addr, Arc::new(SystemClock), &args.security).await?)
}

/// Alerts go out in the background; a command waits for them before exiting.
async fn finish(state: &AppState) {
    state.settings.mailer.drain(Duration::from_secs(30)).await;
}

fn operator_meta() -> ClientMeta {
    ClientMeta {
        ip: None,
        user_agent: Some("twofold command line".into()),
    }
}

pub async fn admin_create(create: &AdminCreateArgs) -> Result<String, CliError> {
    let args = &create.target;
    let state = state(args).await?;
    let email = app::backend::auth::validation::normalize_email(&args.email)?;
    let exists = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users WHERE email = $1")
        .bind(&email)
        .fetch_one(&state.pool)
        .await
        .map_err(|e| app::backend::internal("looking up the account", e))?
        > 0;
    // Promoting keeps the account's password, so none is asked for.
    let password = if exists { None } else { Some(read_password()?) };
    let done = admin::create_admin(&state, &args.email, password, create.promote_existing).await?;
    finish(&state).await;
    Ok(match done {
        AdminCreated::Created => format!("created admin {}", args.email.trim()),
        AdminCreated::Promoted => format!(
            "promoted the existing account {email} (created by whoever signed up with it) to admin"
        ),
        AdminCreated::AlreadyAdmin => format!("{} was already an admin", args.email.trim()),
    })
}

/// On a terminal: asked twice without echo. Otherwise: the first line of
/// standard input (for scripts: `echo "$PW" | twofold admin create ...`).
fn read_password() -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password for the new admin: ")
            .map_err(CliError::Password)?;
        let again =
            rpassword::prompt_password("Same password again: ").map_err(CliError::Password)?;
        if first != again {
            return Err(CliError::PasswordMismatch);
        }
        return Ok(first);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(CliError::Password)?;
    let _ = std::io::stderr().flush();
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn not_found_as_no_account(e: AppError, email: &str) -> CliError {
    match e {
        AppError::NotFound => CliError::NoSuchAccount(email.trim().to_string()),
        other => CliError::App(other),
    }
}

pub async fn reset_mfa(args: &EmailArgs) -> Result<String, CliError> {
    let state = state(args).await?;
    admin::reset_mfa(&state, &args.email, &Actor::Operator, &operator_meta())
        .await
        .map_err(|e| not_found_as_no_account(e, &args.email))?;
    finish(&state).await;
    Ok(format!(
        "two-factor authentication of {} is reset to Disabled; they were emailed",
        args.email.trim()
    ))
}

pub async fn unlock(args: &EmailArgs) -> Result<String, CliError> {
    let state = state(args).await?;
    admin::unlock(&state, &args.email, &Actor::Operator, &operator_meta())
        .await
        .map_err(|e| not_found_as_no_account(e, &args.email))?;
    finish(&state).await;
    Ok(format!("{} can sign in again", args.email.trim()))
}

/// `twofold user add --email E`: the account, and a mailed link to choose
/// its password (printed too, for an operator without mail set up).
pub async fn user_add(args: &EmailArgs) -> Result<String, CliError> {
    let state = state(args).await?;
    let email = app::backend::auth::validation::normalize_email(&args.email)?;
    let link = admin::invite(&state, &email, &Actor::Operator, &operator_meta()).await?;
    finish(&state).await;
    Ok(format!(
        "added {email}; they were mailed a link to choose a password (valid 7 days): {link}"
    ))
}

/// The existing database, opened as is (never migrated: a command that only
/// reads must not change the live schema). A missing SQLite file is an error
/// rather than a new empty database.
async fn existing_database(data: &crate::config::DataArgs) -> Result<sqlx::AnyPool, CliError> {
    let target = data.target().map_err(StartupError::from)?;
    if let db::Target::Sqlite(file) = &target
        && !file.is_file()
    {
        return Err(CliError::NoDatabase(data.data_dir.display().to_string()));
    }
    Ok(db::open(&target).await.map_err(StartupError::from)?)
}

pub async fn backup(args: &BackupArgs) -> Result<String, CliError> {
    let target = args.data.target().map_err(StartupError::from)?;
    if target.is_postgres() {
        return Err(db::BackupError::Postgres.into());
    }
    let pool = existing_database(&args.data).await?;
    db::backup_to(&pool, &args.to).await?;
    pool.close().await;
    Ok(format!(
        "backed up {} to {}; keep the key file ({}) safe separately: without it the TOTP secrets cannot be read",
        target.redacted(),
        args.to.display(),
        key_hint(&args.data.data_dir)
    ))
}

fn key_hint(data_dir: &Path) -> String {
    data_dir.join("secret.key").display().to_string()
}

/// `twofold access check --url URL [--email E] [--method M]`: the rule that
/// matches and what it decides, in words.
pub async fn access_check(args: &crate::config::AccessCheckArgs) -> Result<String, CliError> {
    use app::backend::authz::{Asked, Policy};
    let rules = startup::load_access_rules(Some(&args.access_rules))?;
    let asked =
        Asked::new(&args.url, &args.method).ok_or_else(|| CliError::BadUrl(args.url.clone()))?;
    let who = match &args.email {
        Some(email) => {
            let email = app::backend::auth::validation::normalize_email(email)?;
            let pool = existing_database(&args.data).await?;
            let role: Option<String> =
                sqlx::query_scalar("SELECT role FROM users WHERE email = $1")
                    .bind(&email)
                    .fetch_optional(&pool)
                    .await
                    .map_err(|e| app::backend::internal("reading a role", e))?;
            let role = role
                .as_deref()
                .and_then(app::api::Role::parse)
                .ok_or_else(|| CliError::NoSuchAccount(email.clone()))?;
            Some((email, role))
        }
        None => None,
    };
    let verdict = app::backend::authz::decide(
        &rules,
        &asked,
        who.as_ref().map(|(email, role)| (email.as_str(), *role)),
    );
    let matched = match verdict.line {
        Some(line) => format!("the rule at line {line} matches"),
        None => "no rule matches: the default_policy applies".to_string(),
    };
    let as_whom = match &who {
        Some((email, role)) => format!("{email} ({})", role.as_str()),
        None => "someone not signed in".to_string(),
    };
    let means = match verdict.policy {
        Policy::Bypass => "let through, signed in or not",
        Policy::OneFactor => "let through with any Twofold session, else sent to sign in",
        Policy::TwoFactor => {
            "let through with a session made with a second factor or a passkey, else sent to sign in (or to set up two-factor authentication)"
        }
        Policy::Deny => "refused (403)",
    };
    Ok(format!(
        "{} {} as {as_whom}: {matched}, policy {}: {means}",
        asked.method,
        asked.url,
        verdict.policy.as_str()
    ))
}

/// `twofold oidc new-secret`: a random secret for the app, and the hash for
/// the clients file (the file never holds the secret itself).
pub async fn oidc_new_secret(args: &crate::config::NewSecretArgs) -> Result<String, CliError> {
    use base64::Engine;
    use rand::RngCore;
    let secret = if args.stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(CliError::Password)?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.len() < 16 {
            return Err(CliError::App(AppError::validation(
                "secret",
                "A client secret needs at least 16 characters.",
            )));
        }
        line
    } else {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        // URL-safe characters only: apps put the secret in a Basic header.
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let pool = app::backend::auth::passwords::HashPool::new(1);
    let hash = app::backend::auth::passwords::hash(
        &pool,
        app::backend::auth::passwords::Password::new(secret.clone()),
    )
    .await?;
    Ok(format!(
        "new client secret\n\nsecret (for the app's settings, shown once):\n{secret}\n\n\
         hash (for the clients file):\nsecret = \"{}\"",
        hash.0
    ))
}

/// `twofold oidc rotate-key`: a new ID-token signing key; the old one stays
/// published until its tokens expire.
pub async fn oidc_rotate_key(args: &crate::config::RotateKeyArgs) -> Result<String, CliError> {
    let target = args.data.target().map_err(StartupError::from)?;
    existing_database(&args.data).await?.close().await;
    let key = startup::secret_key(&args.security, &target, &args.data.data_dir)?;
    startup::open_database(&args.data).await?.close().await;
    let writer = app::backend::infra::db::open_writer(&target)
        .await
        .map_err(StartupError::from)?;
    let now = app::backend::infra::clock::Clock::now(&SystemClock);
    let kid = app::backend::oidc::keys::rotate(&writer, &key, now).await?;
    Ok(format!(
        "new ID-token signing key {kid}; the previous key stays published for {} minutes",
        app::backend::oidc::tokens::ID_TOKEN_TTL_S / 60
    ))
}

/// `twofold migrate-data --from sqlite://... --to postgres://...`.
pub async fn migrate_data(args: &crate::config::MigrateDataArgs) -> Result<String, CliError> {
    let copied = crate::migrate_data::run(&args.from, &args.to).await?;
    let counts: Vec<String> = [
        "users",
        "factors",
        "backup_codes",
        "sessions",
        "security_events",
    ]
    .iter()
    .map(|t| format!("{t} {}", copied.of(t)))
    .collect();
    Ok(format!(
        "copied {} rows in {} tables to {} and checked every table's count ({}); start each \
         instance with --database-url and the same key file the SQLite installation used \
         (--secret-key-file DATA_DIR/secret.key), or the authenticator secrets cannot be read",
        copied.rows(),
        copied.tables.len(),
        db::redact(&args.to),
        counts.join(", ")
    ))
}
