use std::process::ExitCode;

use clap::Parser as _;
use gatehouse::{cli::Cli, config::Settings, telemetry};

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // `.env` may set RUST_LOG, so it is read before logging starts.
    let _ = dotenvy::dotenv();
    telemetry::init_logging();
    // A healthcheck needs only the address: it must not need the secret, nor create a key file.
    if let Some(gatehouse::cli::Command::Healthcheck) = cli.command {
        let bind_addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
        return match gatehouse::cli::healthcheck(&bind_addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                log::error!("unhealthy: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            log::error!("configuration error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match gatehouse::cli::run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
