use std::process::ExitCode;
use std::sync::Arc;

use app::backend::infra::clock::SystemClock;
use clap::Parser;
use twofold_server::cli::{self, CliError};
use twofold_server::client_ip::TrustedProxies;
use twofold_server::config::{AccessCommand, AdminCommand, Cli, Command, OidcCommand, UserCommand};
use twofold_server::startup::{self, StartupError};
use twofold_server::{RouterOptions, observability};

/// Startup problems are the operator's to fix: one line, exit code 2.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    observability::init_logs(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("twofold: error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("twofold: error: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let done = match cli.command {
        Command::Migrate(args) => {
            startup::open_database(&args).await?;
            let target = args.target().map_err(StartupError::from)?;
            format!("migrations applied to {}", target.redacted())
        }
        Command::MigrateData(args) => cli::migrate_data(&args).await?,
        Command::Admin(AdminCommand::Create(args)) => cli::admin_create(&args).await?,
        Command::User(UserCommand::ResetMfa(args)) => cli::reset_mfa(&args).await?,
        Command::User(UserCommand::Unlock(args)) => cli::unlock(&args).await?,
        Command::User(UserCommand::Add(args)) => cli::user_add(&args).await?,
        Command::Backup(args) => cli::backup(&args).await?,
        Command::Access(AccessCommand::Check(args)) => cli::access_check(&args).await?,
        Command::Oidc(OidcCommand::NewSecret(args)) => cli::oidc_new_secret(&args).await?,
        Command::Oidc(OidcCommand::RotateKey(args)) => cli::oidc_rotate_key(&args).await?,
        Command::Serve(args) => {
            let addr = args.socket_addr()?;
            let metrics_addr = match &args.ops.metrics_addr {
                Some(a) => Some(
                    a.parse::<std::net::SocketAddr>()
                        .map_err(|_| StartupError::BadMetricsAddr(a.clone()))?,
                ),
                None => None,
            };
            let options = RouterOptions {
                metrics: args.ops.metrics && metrics_addr.is_none(),
                trusted_proxies: TrustedProxies::parse(&args.ops.trusted_proxies)
                    .map_err(StartupError::from)?,
            };
            let state =
                startup::build_state(&args.data, addr, Arc::new(SystemClock), &args.security)
                    .await?;
            let listener = startup::bind(addr).await?;
            let metrics = match metrics_addr {
                Some(m) => Some(startup::bind(m).await?),
                None => None,
            };
            let database = args.data.target().map_err(StartupError::from)?;
            tracing::info!(database = %database.redacted(), "listening on http://{addr}");
            if let Some(m) = metrics_addr {
                tracing::info!("metrics on http://{m}/metrics");
            }
            startup::serve(listener, metrics, state, &options)
                .await
                .map_err(|e| StartupError::Other(e.to_string()))?;
            return Ok(());
        }
    };
    println!("twofold: {done}");
    Ok(())
}
