//! `client [--config PATH]`: the course client. Exit codes: 0 when every message
//! was echoed or a signal stopped it, 1 on a runtime failure, 2 on bad
//! configuration.

use std::process::ExitCode;

use tp0::client::{Client, Failure};
use tp0::config::ClientConfig;
use tp0::signals::SignalPipe;
use tp0::{duration, startup};

fn main() -> ExitCode {
    // First of all: a SIGTERM before the handlers exist would be lost (as PID 1).
    let signals = SignalPipe::install();
    let config = match startup::configure("client", ClientConfig::load, |c| c.log_level) {
        Ok(config) => config,
        Err(code) => return code,
    };
    log::info!(
        "action: config | result: success | client_id: {} | server_address: {} | loop_amount: {} | loop_period: {} | log_level: {}",
        config.id,
        config.server_address,
        config.loop_amount,
        duration::format(config.loop_period),
        config.log_level
    );
    let id = config.id.clone();
    let outcome = signals
        .and_then(|signals| Client::new(config, signals))
        .map_err(Failure::Io)
        .and_then(Client::run);
    let code = match outcome {
        Ok(_) => startup::SUCCESS,
        Err(Failure::Io(error)) => {
            log::error!("action: client | result: fail | client_id: {id} | error: {error}");
            startup::FAILURE
        }
        // Logged where it happened, with its details.
        Err(Failure::GaveUp | Failure::WrongEcho) => startup::FAILURE,
    };
    startup::finish(code)
}
