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
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app and the JSON API (runs pending migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations, then exit.
    Migrate(DataArgs),
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
}

#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// File with the 32-byte key that encrypts TOTP secrets (raw or 64 hex
    /// characters). Default: DIR/secret.key, generated (mode 0600) on first start.
    #[arg(long, env = "TWOFOLD_SECRET_KEY_FILE", value_name = "FILE")]
    pub secret_key_file: Option<PathBuf>,

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
}

impl Default for SecurityArgs {
    fn default() -> Self {
        SecurityArgs {
            secret_key_file: None,
            issuer: "Twofold".into(),
            max_failures: 5,
            ip_max_failures: 50,
            failure_window_s: 900,
            smtp_url: None,
            mail_from: "Twofold <twofold@localhost>".into(),
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
    fn bad_addr_is_a_clear_error() {
        let args = ServeArgs {
            addr: "localhost".into(),
            data: DataArgs {
                data_dir: "x".into(),
            },
            security: SecurityArgs::default(),
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
