//! Command line and environment configuration, parsed once in `main`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "twofold",
    version,
    about = "Twofold: self-hosted sign-in with two-factor authentication.",
    long_about = "Twofold: self-hosted sign-in with two-factor authentication.\n\n\
                  One binary serves the web app and its JSON API and keeps its data in a \
                  SQLite file in the data directory. Every flag can also be set by the \
                  environment variable named beside it."
)]
pub struct Cli {
    /// Log format on stderr: `text` for people, `json` (one object per line)
    /// for log collectors. Secrets are never logged in either.
    #[arg(
        long,
        env = "TWOFOLD_LOG_FORMAT",
        default_value = "text",
        value_enum,
        global = true
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app and the JSON API (runs pending migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations, then exit.
    Migrate(DataArgs),
    /// Copy an installation from its SQLite file to an empty PostgreSQL
    /// database (accounts, factors, codes, sessions, audit trail), then
    /// compare the row counts.
    MigrateData(MigrateDataArgs),
    /// Administrators: `admin create --email E`.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Help a user: `user reset-mfa --email E`, `user unlock --email E`.
    #[command(subcommand)]
    User(UserCommand),
    /// Write a consistent copy of the database to a new file, safe while
    /// the server runs.
    Backup(BackupArgs),
    /// Forward-auth rules: `access check --url URL [--email E]` says which
    /// rule matches a request and what it decides.
    #[command(subcommand)]
    Access(AccessCommand),
    /// Single sign-on: `oidc new-secret` prints a client secret and the hash
    /// for the clients file; `oidc rotate-key` replaces the ID-token signing
    /// key.
    #[command(subcommand)]
    Oidc(OidcCommand),
}

// Parsed once per run: the size of the arguments does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum OidcCommand {
    /// Print a new random client secret (for the app's settings) and its
    /// argon2id hash (for the clients file's `secret`).
    NewSecret(NewSecretArgs),
    /// Make a new ID-token signing key. The old one stays published at the
    /// JWKS endpoint until every token it signed has expired.
    RotateKey(RotateKeyArgs),
}

#[derive(Debug, Clone, Args)]
pub struct NewSecretArgs {
    /// Hash a secret you already have (one line on standard input) instead
    /// of making one.
    #[arg(long)]
    pub stdin: bool,
}

#[derive(Debug, Clone, Args)]
pub struct RotateKeyArgs {
    #[command(flatten)]
    pub data: DataArgs,

    #[command(flatten)]
    pub security: SecurityArgs,
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Which access rule matches a request, and what it decides, for
    /// debugging a rules file.
    Check(AccessCheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AccessCheckArgs {
    /// The request's full URL, e.g. https://grafana.example.com/admin.
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Decide as this account (its role from the database); without it, as
    /// someone not signed in.
    #[arg(long, value_name = "EMAIL")]
    pub email: Option<String>,

    /// The request's method.
    #[arg(long, default_value = "GET", value_name = "METHOD")]
    pub method: String,

    /// The rules file to check.
    #[arg(long, env = "TWOFOLD_ACCESS_RULES", value_name = "FILE")]
    pub access_rules: PathBuf,

    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin account. The password is asked for on a terminal, or
    /// read as one line from standard input. An existing account is made an
    /// admin only with --promote-existing.
    Create(AdminCreateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AdminCreateArgs {
    #[command(flatten)]
    pub target: EmailArgs,

    /// Make the existing account with this email an admin (its password
    /// stays). Without it, an existing account is refused: whoever signed up
    /// with the address first must not become admin by accident.
    #[arg(long)]
    pub promote_existing: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Turn off a user's two-factor authentication when they lost every
    /// factor: secret, backup codes and trusted devices are removed; the user
    /// gets an email and the audit trail records it.
    ResetMfa(EmailArgs),
    /// Lift a user's sign-in lockout.
    Unlock(EmailArgs),
    /// Add someone: the account is made and a link to choose a password is
    /// mailed (and printed). Uses --public-url for the link.
    Add(EmailArgs),
}

#[derive(Debug, Clone, Args)]
pub struct EmailArgs {
    /// The account's email address.
    #[arg(long, value_name = "EMAIL")]
    pub email: String,

    #[command(flatten)]
    pub data: DataArgs,

    #[command(flatten)]
    pub security: SecurityArgs,
}

#[derive(Debug, Clone, Args)]
pub struct MigrateDataArgs {
    /// The installation to copy: sqlite://PATH (e.g. sqlite://./data/twofold.db).
    /// Brought to the current schema first, as starting the server would.
    #[arg(long, value_name = "URL")]
    pub from: String,

    /// The PostgreSQL database to copy into: postgres://USER:PASSWORD@HOST/DB.
    /// It must hold no accounts.
    #[arg(long, value_name = "URL")]
    pub to: String,
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// The new file to write; it must not exist yet.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,

    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Directory holding the database (twofold.db); created if missing.
    #[arg(
        long,
        env = "TWOFOLD_DATA_DIR",
        default_value = "./data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,

    /// The database: `sqlite://PATH` (default DIR/twofold.db) or
    /// `postgres://USER:PASSWORD@HOST[:PORT]/DATABASE` for several instances
    /// sharing one (`?sslmode=require` for TLS). The password is never
    /// logged. With PostgreSQL, --secret-key-file (or TWOFOLD_SECRET_KEY) is
    /// required, so every instance has the same key.
    #[arg(long, env = "TWOFOLD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

impl DataArgs {
    /// The data directory with its SQLite file (tests, benchmarks).
    pub fn dir(data_dir: &std::path::Path) -> Self {
        DataArgs {
            data_dir: data_dir.to_path_buf(),
            database_url: None,
        }
    }

    pub fn target(
        &self,
    ) -> Result<app::backend::infra::db::Target, app::backend::infra::db::DbError> {
        app::backend::infra::db::Target::parse(self.database_url.as_deref(), &self.data_dir)
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address and port to listen on, e.g. 127.0.0.1:3000 or 0.0.0.0:8080.
    #[arg(
        long,
        env = "TWOFOLD_ADDR",
        default_value = "127.0.0.1:3000",
        value_name = "IP:PORT"
    )]
    pub addr: String,

    #[command(flatten)]
    pub data: DataArgs,

    #[command(flatten)]
    pub security: SecurityArgs,

    #[command(flatten)]
    pub ops: OpsArgs,
}

/// Running behind other parts: metrics, proxies.
#[derive(Debug, Clone, Default, Args)]
pub struct OpsArgs {
    /// Serve Prometheus metrics at /metrics on the main address.
    #[arg(long, env = "TWOFOLD_METRICS")]
    pub metrics: bool,

    /// Serve /metrics on this separate address instead (e.g. 127.0.0.1:9100),
    /// so it need not be reachable from the internet.
    #[arg(long, env = "TWOFOLD_METRICS_ADDR", value_name = "IP:PORT")]
    pub metrics_addr: Option<String>,

    /// Reverse proxies whose X-Forwarded-For is believed, comma-separated IPs
    /// or CIDR ranges (e.g. 127.0.0.1,10.0.0.0/8). From any other peer the
    /// header is ignored, so clients cannot fake their address.
    #[arg(
        long,
        env = "TWOFOLD_TRUSTED_PROXIES",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// File with the 32-byte key that encrypts TOTP secrets (raw or 64 hex
    /// characters). Default: DIR/secret.key, generated (mode 0600) on first start.
    #[arg(long, env = "TWOFOLD_SECRET_KEY_FILE", value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// The key as 64 hex characters, from TWOFOLD_SECRET_KEY only (a flag
    /// would show it in the process list); read at start-up when this is
    /// unset.
    #[arg(skip)]
    pub secret_key_hex: Option<String>,

    /// Issuer name shown in authenticator apps.
    #[arg(
        long,
        env = "TWOFOLD_ISSUER",
        default_value = "Twofold",
        value_name = "NAME"
    )]
    pub issuer: String,

    /// Failed password or second-factor attempts per account before it is locked
    /// for the rest of the window.
    #[arg(
        long,
        env = "TWOFOLD_MAX_FAILURES",
        default_value_t = 5,
        value_name = "N"
    )]
    pub max_failures: u32,

    /// Failed attempts in a row (across windows) per account and kind of
    /// proof before only an emailed unlock link or an admin opens it again
    /// (NIST SP 800-63B-4 allows at most 100). A success resets it.
    #[arg(
        long,
        env = "TWOFOLD_MAX_FAILURES_IN_A_ROW",
        default_value_t = 100,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=100)
    )]
    pub max_failures_in_a_row: u32,

    /// Failed attempts per client address before it is locked for the window.
    #[arg(
        long,
        env = "TWOFOLD_IP_MAX_FAILURES",
        default_value_t = 50,
        value_name = "N"
    )]
    pub ip_max_failures: u32,

    /// Send mail over SMTP: smtp://HOST:PORT (plain), smtp://HOST:587?tls=required
    /// (STARTTLS) or smtps://HOST:465 (TLS). Credentials: TWOFOLD_SMTP_USERNAME and
    /// TWOFOLD_SMTP_PASSWORD. Without it, mail is written to DIR/outbox/ as .eml files.
    #[arg(long, env = "TWOFOLD_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,

    /// CA certificate(s) in PEM to trust for the SMTP server's TLS, besides
    /// the public roots (for a mail server with a private CA).
    #[arg(long, env = "TWOFOLD_SMTP_CA_FILE", value_name = "FILE")]
    pub smtp_ca_file: Option<PathBuf>,

    /// Sender of Twofold's mail.
    #[arg(
        long,
        env = "TWOFOLD_MAIL_FROM",
        default_value = "Twofold <twofold@localhost>",
        value_name = "ADDRESS"
    )]
    pub mail_from: String,

    /// Length of the failure-counting window, in seconds.
    #[arg(
        long,
        env = "TWOFOLD_FAILURE_WINDOW_S",
        default_value_t = 900,
        value_name = "SECONDS"
    )]
    pub failure_window_s: u32,

    /// Who may create an account: `confirm` (a mailed link finishes sign-up;
    /// taken addresses are not revealed), `open` (at once; reveals taken
    /// addresses: for closed networks and trying it out) or `closed` (only
    /// admins add people: `twofold user add`, or Invite on the admin page).
    #[arg(
        long,
        env = "TWOFOLD_SIGNUP",
        default_value = "confirm",
        value_enum,
        value_name = "MODE"
    )]
    pub signup: SignupArg,

    /// The address people use to reach Twofold, e.g. https://login.example.com:
    /// the base of links in mail. Default http://localhost:PORT when
    /// listening on a loopback address; required otherwise.
    #[arg(long, env = "TWOFOLD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// A session unused this long ends: seconds, or with a unit (30m, 12h,
    /// 2d). "Keep me signed in" sessions last 30 days but end after 7 idle days.
    #[arg(
        long,
        env = "TWOFOLD_SESSION_IDLE_TIMEOUT",
        default_value = "12h",
        value_name = "DURATION",
        value_parser = parse_duration
    )]
    pub session_idle_timeout: u64,

    /// Sign-ups per client address per hour (each costs a password hash).
    #[arg(
        long,
        env = "TWOFOLD_SIGNUP_PER_HOUR",
        default_value_t = 20,
        value_name = "N"
    )]
    pub signup_per_hour: u32,

    /// TOML file with the access rules for the apps behind forward-auth
    /// (/api/authz/*): ordered rules, first match wins. Without it every
    /// proxied request is denied. Checked at start: a bad file stops the
    /// server with the line and the problem.
    #[arg(long, env = "TWOFOLD_ACCESS_RULES", value_name = "FILE")]
    pub access_rules: Option<PathBuf>,

    /// Share the session cookie with every host under this domain (e.g.
    /// example.com), so one sign-in covers every app behind forward-auth.
    /// The public URL's host must be under it. Trade-off: the cookie can no
    /// longer be __Host- (any host under the domain could set one).
    #[arg(long, env = "TWOFOLD_COOKIE_DOMAIN", value_name = "DOMAIN")]
    pub cookie_domain: Option<String>,

    /// TOML file listing the apps that sign people in through Twofold over
    /// OpenID Connect (id, secret hash, redirect URIs, policy, consent).
    /// Checked at start: a bad file stops the server with the line and the
    /// problem. Without it, no app can use single sign-on.
    #[arg(long, env = "TWOFOLD_OIDC_CLIENTS", value_name = "FILE")]
    pub oidc_clients: Option<PathBuf>,

    /// Send text messages (phone as a second factor): `twilio` (Twilio's REST
    /// API; TWOFOLD_TWILIO_ACCOUNT_SID and TWOFOLD_TWILIO_AUTH_TOKEN from the
    /// environment, --sms-from), `webhook` (POST {to, body} as JSON to
    /// --sms-webhook-url) or `outbox` (files in DIR/sms-outbox/, for trying
    /// it out). Off when unset.
    #[arg(
        long,
        env = "TWOFOLD_SMS_PROVIDER",
        value_enum,
        value_name = "PROVIDER"
    )]
    pub sms_provider: Option<SmsProviderArg>,

    /// The number texts come from (E.164, e.g. +15005550006), for Twilio.
    #[arg(long, env = "TWOFOLD_SMS_FROM", value_name = "NUMBER")]
    pub sms_from: Option<String>,

    /// Twilio's API base URL; change it for a Twilio-compatible gateway.
    #[arg(
        long,
        env = "TWOFOLD_TWILIO_API_URL",
        default_value = app::backend::infra::sms::TWILIO_API,
        value_name = "URL"
    )]
    pub twilio_api_url: String,

    /// Where `--sms-provider webhook` posts each text.
    #[arg(long, env = "TWOFOLD_SMS_WEBHOOK_URL", value_name = "URL")]
    pub sms_webhook_url: Option<String>,

    /// Texts the whole server may send in 24 hours (a bill's ceiling against
    /// SMS pumping).
    #[arg(
        long,
        env = "TWOFOLD_SMS_DAILY_CAP",
        default_value_t = 500,
        value_name = "N"
    )]
    pub sms_daily_cap: u32,

    /// Hours a recovery by someone who lost every factor waits before it
    /// can finish, so the real owner can cancel it from the alert mail.
    #[arg(
        long,
        env = "TWOFOLD_RECOVERY_DELAY_H",
        default_value_t = 72,
        value_name = "HOURS"
    )]
    pub recovery_delay_h: u32,

    /// Twilio's account SID and auth token: only from the environment
    /// (TWOFOLD_TWILIO_ACCOUNT_SID, TWOFOLD_TWILIO_AUTH_TOKEN), never a flag
    /// that `ps` would show. Read at startup when not set here.
    #[arg(skip)]
    pub twilio_credentials: Option<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmsProviderArg {
    Twilio,
    Webhook,
    Outbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SignupArg {
    #[default]
    Confirm,
    Open,
    Closed,
}

/// `90`, `90s`, `30m`, `12h`, `2d`: seconds.
pub fn parse_duration(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration; use e.g. 3600, 30m, 12h or 2d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{raw}': the unit must be s, m, h or d")),
    };
    match n.checked_mul(scale) {
        Some(secs) if secs > 0 => Ok(secs),
        _ => Err(format!("'{raw}' must be more than 0 and reasonable")),
    }
}

impl Default for SecurityArgs {
    fn default() -> Self {
        SecurityArgs {
            secret_key_file: None,
            secret_key_hex: None,
            issuer: "Twofold".into(),
            max_failures: 5,
            max_failures_in_a_row: 100,
            ip_max_failures: 50,
            failure_window_s: 900,
            smtp_url: None,
            smtp_ca_file: None,
            mail_from: "Twofold <twofold@localhost>".into(),
            signup: SignupArg::Confirm,
            public_url: None,
            session_idle_timeout: 12 * 3600,
            signup_per_hour: 20,
            access_rules: None,
            cookie_domain: None,
            oidc_clients: None,
            sms_provider: None,
            sms_from: None,
            twilio_api_url: app::backend::infra::sms::TWILIO_API.into(),
            sms_webhook_url: None,
            sms_daily_cap: 500,
            recovery_delay_h: 72,
            twilio_credentials: None,
        }
    }
}

impl ServeArgs {
    /// Parsed here rather than by clap so a bad value is one clear line.
    pub fn socket_addr(&self) -> Result<SocketAddr, crate::startup::StartupError> {
        self.addr
            .parse()
            .map_err(|_| crate::startup::StartupError::BadAddr(self.addr.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_readme() {
        let cli = Cli::try_parse_from(["twofold", "serve"]);
        let Ok(Cli {
            command: Command::Serve(args),
            ..
        }) = cli
        else {
            panic!("serve should parse");
        };
        // The environment may set these in CI; only check when it does not.
        if std::env::var_os("TWOFOLD_ADDR").is_none() {
            assert_eq!(args.addr, "127.0.0.1:3000");
        }
        if std::env::var_os("TWOFOLD_DATA_DIR").is_none() {
            assert_eq!(args.data.data_dir, PathBuf::from("./data"));
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(parse_duration("3600"), Ok(3600));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("12x").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn bad_addr_is_a_clear_error() {
        let args = ServeArgs {
            addr: "localhost".into(),
            data: DataArgs::dir(std::path::Path::new("x")),
            security: SecurityArgs::default(),
            ops: OpsArgs::default(),
        };
        let err = args
            .socket_addr()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("localhost") && err.contains("IP:PORT"),
            "{err}"
        );
    }
}
