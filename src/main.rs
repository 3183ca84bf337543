use std::process::ExitCode;

use clap::Parser as _;
use gatehouse::{cli::Cli, config::Settings, telemetry};

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // `.env` may set RUST_LOG, so it is read before logging starts.
    let _ = dotenvy::dotenv();
    telemetry::init_logging();
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
