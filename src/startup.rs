//! Start-up and exit of both programs: read the configuration, start the logger,
//! and map failures to the exit codes of SPEC §6.

use std::ffi::OsString;
use std::io;
use std::process::ExitCode;

use log::LevelFilter;

use crate::logging;
use crate::signals::SignalPipe;
use crate::sources::{ConfigError, EnvLookup};

/// Done, or shut down gracefully.
pub const SUCCESS: u8 = 0;
/// A runtime failure: unreachable server, echo mismatch, an I/O error of the loop.
pub const FAILURE: u8 = 1;
/// Bad configuration or usage.
pub const USAGE: u8 = 2;

/// Installs the signal handlers, loads the configuration from the command line and
/// the environment, then starts logging at the level `level_of` picks from it. A
/// failed install is handed back, to be logged as a runtime failure.
///
/// # Errors
/// The exit code to end with; the reason was printed on stderr.
pub fn prepare<C>(
    program: &str,
    load: impl FnOnce(&[OsString], EnvLookup<'_>) -> Result<C, ConfigError>,
    level_of: impl FnOnce(&C) -> LevelFilter,
) -> Result<(C, io::Result<SignalPipe>), ExitCode> {
    // First of all: a SIGTERM before the handlers exist would be lost (as PID 1) or
    // kill the process without a word.
    let signals = SignalPipe::install();
    // `args_os`/`var_os`: `args` and `var` panic or hide non-UTF-8 text, which the
    // loader refuses with a message instead.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let config = load(&args, &|name| std::env::var_os(name)).map_err(|error| {
        eprintln!("{program}: configuration error: {error}");
        ExitCode::from(USAGE)
    })?;
    logging::init(level_of(&config)).map_err(|error| {
        eprintln!("{program}: cannot start logging: {error}");
        ExitCode::from(FAILURE)
    })?;
    Ok((config, signals))
}

/// Writes what is left of the log and converts `code` for `main`.
pub fn finish(code: u8) -> ExitCode {
    logging::finish();
    ExitCode::from(code)
}
