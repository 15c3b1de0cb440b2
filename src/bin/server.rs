//! `server [--config PATH]`: the echo server. Exit codes: 0 after a graceful
//! shutdown, 1 on a runtime failure, 2 on bad configuration.
//! `server --health-check [--config PATH]`: is the running server's loop alive;
//! `server --ready-check [--config PATH]`: does it take clients (see `tp0::health`).

use std::process::ExitCode;

use tp0::config::ServerConfig;
use tp0::health::{self, Check};
use tp0::server::{self, Server};
use tp0::signals::SignalPipe;
use tp0::{duration, startup};

fn main() -> ExitCode {
    match std::env::args_os().nth(1) {
        Some(arg) if arg == "--health-check" => {
            return ExitCode::from(health::run_from_args(Check::Live));
        }
        Some(arg) if arg == "--ready-check" => {
            return ExitCode::from(health::run_from_args(Check::Ready));
        }
        _ => {}
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
    let code = match signals.and_then(|signals| start(&config, signals)) {
        Ok(()) => startup::SUCCESS,
        Err(error) => {
            log::error!("action: server | result: fail | error: {error}");
            startup::FAILURE
        }
    };
    startup::finish(code)
}

fn start(config: &ServerConfig, signals: SignalPipe) -> std::io::Result<()> {
    let listener = server::bind(config)?;
    let address = listener.local_addr()?;
    log::info!("action: listen | result: success | address: {address}");
    let status = health::listen(config.bind_ip, address.port())?;
    Server::new(listener, status, signals, config)?.run()
}
