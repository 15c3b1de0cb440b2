//! The two programs from start to exit code, so that the binaries are one call
//! each and the library exports nothing else they need. Exit codes (SPEC §6):
//! 0 done or shut down gracefully, 1 a runtime failure, 2 bad configuration.

use std::io;
use std::process::ExitCode;

use crate::client::{Client, Failure};
use crate::config::{ClientConfig, ServerConfig};
use crate::server::{self, Server};
use crate::signals::SignalPipe;
use crate::{duration, health, startup};

/// `server [--config PATH]`: the echo server; `server --health-check [--config
/// PATH]`: probes a running one (see [`health`]).
pub fn server() -> ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "--health-check")
    {
        return ExitCode::from(health::run_from_args());
    }
    // First of all: a SIGTERM before the handlers exist would be lost (as PID 1) or
    // kill the process without a word.
    let signals = SignalPipe::install();
    let config = match startup::configure("server", ServerConfig::load, |c| c.logging_level) {
        Ok(config) => config,
        Err(code) => return code,
    };
    log::info!(
        "action: config | result: success | port: {} | listen_backlog: {} | logging_level: {}",
        config.port,
        config.listen_backlog,
        config.logging_level
    );
    log::info!(
        "action: config_limits | result: success | ip: {} | bind_ip: {} | max_connections: {} | max_line_bytes: {} | shutdown_grace: {} | max_buffered: {} | idle_timeout: {}",
        config.ip,
        config.bind_ip,
        config.max_connections,
        config.max_line_bytes,
        duration::format(config.shutdown_grace),
        config.max_buffered,
        duration::format(config.idle_timeout)
    );
    let code = match signals.and_then(|signals| serve(&config, signals)) {
        Ok(()) => startup::SUCCESS,
        Err(error) => {
            log::error!("action: server | result: fail | error: {error}");
            startup::FAILURE
        }
    };
    startup::finish(code)
}

fn serve(config: &ServerConfig, signals: SignalPipe) -> io::Result<()> {
    let listener = server::bind(config)?;
    log::info!(
        "action: listen | result: success | address: {}",
        listener.local_addr()?
    );
    Server::new(listener, signals, config)?.run()
}

/// `client [--config PATH]`: the course client. Exit 0 also when a signal
/// stopped it.
pub fn client() -> ExitCode {
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
