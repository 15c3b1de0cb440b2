//! Start-up and exit of both programs: read the configuration, start the logger,
//! and map failures to the exit codes of README, "Programs".

use std::ffi::OsString;
use std::process::ExitCode;

use log::LevelFilter;

use super::{ConfigError, EnvLookup};
use crate::logging;

/// Done, or shut down gracefully.
pub const SUCCESS: u8 = 0;
/// A runtime failure: unreachable server, echo mismatch, an I/O error of the loop.
pub const FAILURE: u8 = 1;
/// Bad configuration or usage.
pub const USAGE: u8 = 2;

/// Loads the configuration from the command line and the environment, then starts
/// logging at the level `level_of` picks from it; else the exit code to end with,
/// the reason printed on stderr.
pub fn configure<C>(
    program: &str,
    load: impl FnOnce(&[OsString], EnvLookup<'_>) -> Result<C, ConfigError>,
    level_of: impl FnOnce(&C) -> LevelFilter,
) -> Result<C, ExitCode> {
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
    Ok(config)
}

/// Writes what is left of the log and converts `code` for `main`.
pub fn finish(code: u8) -> ExitCode {
    logging::finish();
    ExitCode::from(code)
}
