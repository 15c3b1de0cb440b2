//! `client [--config PATH]`: the course client. Exit codes: 0 when every message
//! was echoed or a signal stopped it, 1 on a runtime failure, 2 on bad
//! configuration.

use std::process::ExitCode;

use tp0::client::{Client, Failure};
use tp0::config::ClientConfig;
use tp0::signals::SignalPipe;
use tp0::{duration, exit, logging};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match ClientConfig::load(&args, &|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("client: configuration error: {error}");
            return ExitCode::from(exit::USAGE);
        }
    };
    if let Err(error) = logging::init(config.log_level) {
        eprintln!("client: cannot start logging: {error}");
        return ExitCode::from(exit::FAILURE);
    }
    log::info!(
        "action: config | result: success | client_id: {} | server_address: {} | loop_amount: {} | loop_period: {} | log_level: {}",
        config.id,
        config.server_address,
        config.loop_amount,
        duration::format(config.loop_period),
        config.log_level
    );
    let id = config.id.clone();
    let result = SignalPipe::install().and_then(|signals| Client::new(config, signals));
    let code = match result {
        Ok(client) => match client.run() {
            Ok(_) => exit::SUCCESS,
            Err(Failure::Io(error)) => {
                log::error!("action: client | result: fail | client_id: {id} | error: {error}");
                exit::FAILURE
            }
            // Logged where it happened, with its details.
            Err(Failure::Unreachable | Failure::BadEcho) => exit::FAILURE,
        },
        Err(error) => {
            log::error!("action: client | result: fail | client_id: {id} | error: {error}");
            exit::FAILURE
        }
    };
    logging::flush();
    ExitCode::from(code)
}
