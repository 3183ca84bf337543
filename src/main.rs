use std::process::ExitCode;

use clap::Parser as _;
use gatehouse::{
    cli::{self, Cli, Command},
    config::{self, Settings},
    telemetry,
};

#[actix_web::main]
async fn main() -> ExitCode {
    // `.env` may set RUST_LOG and any setting, so it is read before logging starts and before clap
    // reads the environment.
    let dotenv = config::load_dotenv();
    telemetry::init_logging();
    let cli = Cli::parse();
    if let Err(error) = dotenv {
        log::error!("configuration error: {error}");
        return ExitCode::FAILURE;
    }
    // A healthcheck needs only the address: it must not need the secret, nor create a key file.
    if let Some(Command::Healthcheck) = cli.command {
        return match cli::healthcheck(cli.settings.bind_addr()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                log::error!("unhealthy: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    let settings = match Settings::from_args(cli.settings.clone()) {
        Ok(settings) => settings,
        Err(error) => {
            log::error!("configuration error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match cli::run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            log::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
