use std::process::ExitCode;
use std::sync::Arc;

use app::backend::clock::SystemClock;
use clap::Parser;
use twofold_server::config::{Cli, Command};
use twofold_server::startup::{self, StartupError};

/// Startup problems are the operator's to fix: one line, exit code 2.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
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

async fn run(cli: Cli) -> Result<(), StartupError> {
    match cli.command {
        Command::Migrate(args) => {
            startup::open_database(&args.data_dir).await?;
            eprintln!("twofold: migrations applied in {}", args.data_dir.display());
            Ok(())
        }
        Command::Serve(args) => {
            let addr = args.socket_addr()?;
            let state = startup::build_state(
                &args.data.data_dir,
                addr,
                Arc::new(SystemClock),
                &args.security,
            )
            .await?;
            let listener = startup::bind(addr).await?;
            tracing::info!("listening on http://{addr}");
            startup::serve(listener, state)
                .await
                .map_err(|e| StartupError::Other(e.to_string()))
        }
    }
}
