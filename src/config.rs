//! The typed configuration of both programs (SPEC §3, §4), read from an INI file
//! and overridden by environment variables, every value checked before use.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use log::LevelFilter;

use crate::sources::{ConfigError, ConfigPath, EnvLookup, Key, Sources};
use crate::values::{
    parse_address, parse_duration, parse_host, parse_id, parse_in_range, parse_level,
};

/// The server's settings, with the built-in defaults of [`ServerConfig::default`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// TCP port to listen on; 0 lets the system pick one (the `listen` line shows it).
    pub port: u16,
    /// The name clients use to reach the server (the course's `SERVER_IP`); shown
    /// at start, not used for binding.
    pub ip: String,
    /// The address to bind; all interfaces by default.
    pub bind_ip: IpAddr,
    /// Passed to listen(2).
    pub listen_backlog: i32,
    /// Records below this level are not written.
    pub logging_level: LevelFilter,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Longest accepted line, newline excluded.
    pub max_line_bytes: usize,
    /// Upper bound of the drain at shutdown, against peers that never read.
    pub shutdown_grace: Duration,
    /// Bytes held for all peers together (pending echoes and partial lines).
    pub max_buffered: usize,
    /// A connection with no byte in or out for this long is closed; zero never.
    pub idle_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 12345,
            ip: "server".into(),
            bind_ip: IpAddr::from([0, 0, 0, 0]),
            listen_backlog: 5,
            logging_level: LevelFilter::Info,
            max_connections: 10_000,
            max_line_bytes: 64 * 1024,
            shutdown_grace: Duration::from_millis(500),
            max_buffered: 32 * 1024 * 1024,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

const SERVER_PORT: Key = Key::new("default", "server_port", "SERVER_PORT");
const SERVER_IP: Key = Key::new("default", "server_ip", "SERVER_IP");
const SERVER_BIND_IP: Key = Key::new("default", "server_bind_ip", "SERVER_BIND_IP");
const SERVER_LISTEN_BACKLOG: Key =
    Key::new("default", "server_listen_backlog", "SERVER_LISTEN_BACKLOG");
const LOGGING_LEVEL: Key = Key::new("default", "logging_level", "LOGGING_LEVEL");
const SERVER_MAX_CONNECTIONS: Key = Key::new(
    "default",
    "server_max_connections",
    "SERVER_MAX_CONNECTIONS",
);
const SERVER_MAX_LINE_BYTES: Key =
    Key::new("default", "server_max_line_bytes", "SERVER_MAX_LINE_BYTES");
const SERVER_SHUTDOWN_GRACE: Key =
    Key::new("default", "server_shutdown_grace", "SERVER_SHUTDOWN_GRACE");
const SERVER_MAX_BUFFERED: Key = Key::new("default", "server_max_buffered", "SERVER_MAX_BUFFERED");
const SERVER_IDLE_TIMEOUT: Key = Key::new("default", "server_idle_timeout", "SERVER_IDLE_TIMEOUT");

const SERVER_KEYS: [Key; 10] = [
    SERVER_PORT,
    SERVER_IP,
    SERVER_BIND_IP,
    SERVER_LISTEN_BACKLOG,
    LOGGING_LEVEL,
    SERVER_MAX_CONNECTIONS,
    SERVER_MAX_LINE_BYTES,
    SERVER_SHUTDOWN_GRACE,
    SERVER_MAX_BUFFERED,
    SERVER_IDLE_TIMEOUT,
];

/// The environment variable that names the server's config file.
pub const SERVER_CONFIG_ENV: &str = "SERVER_CONFIG_FILE";
/// The server's config file when none is named.
pub const SERVER_CONFIG_DEFAULT: &str = "etc/server.ini";

impl ServerConfig {
    /// Reads the server's configuration from `args`, the file they name and `env`.
    ///
    /// # Errors
    /// Bad usage, an unreadable explicit file, an unknown key or an invalid value.
    pub fn load(args: &[OsString], env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        load(args, env)
    }

    /// Reads the server's configuration from the contents of a config file alone.
    ///
    /// # Errors
    /// The file breaks the INI rules, or has an unknown key or an invalid value.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        from_file_bytes(bytes)
    }
}

impl Program for ServerConfig {
    const KEYS: &'static [Key] = &SERVER_KEYS;
    const FILE_ENV: &'static str = SERVER_CONFIG_ENV;
    const FILE_DEFAULT: &'static str = SERVER_CONFIG_DEFAULT;

    fn from_sources(sources: &Sources<'_>) -> Result<Self, ConfigError> {
        let defaults = ServerConfig::default();
        Ok(ServerConfig {
            port: sources.parse_or(&SERVER_PORT, defaults.port, |v| {
                parse_in_range(v, 0, u16::MAX.into()).map(|n| n as u16)
            })?,
            ip: sources.parse_or(&SERVER_IP, defaults.ip, parse_host)?,
            bind_ip: sources.parse_or(&SERVER_BIND_IP, defaults.bind_ip, |v| {
                v.parse()
                    .map_err(|_| "expected an IPv4 or IPv6 address such as 0.0.0.0".into())
            })?,
            listen_backlog: sources.parse_or(
                &SERVER_LISTEN_BACKLOG,
                defaults.listen_backlog,
                |v| parse_in_range(v, 1, 65_535).map(|n| n as i32),
            )?,
            logging_level: sources.parse_or(&LOGGING_LEVEL, defaults.logging_level, parse_level)?,
            max_connections: sources.parse_or(
                &SERVER_MAX_CONNECTIONS,
                defaults.max_connections,
                |v| parse_in_range(v, 1, 1_000_000).map(|n| n as usize),
            )?,
            max_line_bytes: sources.parse_or(
                &SERVER_MAX_LINE_BYTES,
                defaults.max_line_bytes,
                |v| parse_in_range(v, 1, 16 * 1024 * 1024).map(|n| n as usize),
            )?,
            shutdown_grace: sources.parse_or(
                &SERVER_SHUTDOWN_GRACE,
                defaults.shutdown_grace,
                |v| parse_duration(v, Duration::from_secs(3600)),
            )?,
            max_buffered: sources.parse_or(&SERVER_MAX_BUFFERED, defaults.max_buffered, |v| {
                parse_in_range(v, 64 * 1024, 1 << 40).map(|n| n as usize)
            })?,
            idle_timeout: sources.parse_or(&SERVER_IDLE_TIMEOUT, defaults.idle_timeout, |v| {
                parse_duration(v, Duration::from_secs(24 * 3600))
            })?,
        })
    }
}

/// The client's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Shown in every message and log line.
    pub id: String,
    /// `host:port` of the server, resolved at every connection.
    pub server_address: String,
    /// Messages to send.
    pub loop_amount: u64,
    /// Wait after each message.
    pub loop_period: Duration,
    /// Records below this level are not written.
    pub log_level: LevelFilter,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            id: "1".into(),
            server_address: "server:12345".into(),
            loop_amount: 5,
            loop_period: Duration::from_secs(5),
            log_level: LevelFilter::Info,
        }
    }
}

const CLI_ID: Key = Key::new("default", "id", "CLI_ID");
const CLI_SERVER_ADDRESS: Key = Key::new("server", "address", "CLI_SERVER_ADDRESS");
const CLI_LOOP_AMOUNT: Key = Key::new("loop", "amount", "CLI_LOOP_AMOUNT");
const CLI_LOOP_PERIOD: Key = Key::new("loop", "period", "CLI_LOOP_PERIOD");
const CLI_LOG_LEVEL: Key = Key::new("log", "level", "CLI_LOG_LEVEL");

const CLIENT_KEYS: [Key; 5] = [
    CLI_ID,
    CLI_SERVER_ADDRESS,
    CLI_LOOP_AMOUNT,
    CLI_LOOP_PERIOD,
    CLI_LOG_LEVEL,
];

/// The environment variable that names the client's config file.
pub const CLIENT_CONFIG_ENV: &str = "CLI_CONFIG_FILE";
/// The client's config file when none is named.
pub const CLIENT_CONFIG_DEFAULT: &str = "etc/client.ini";

impl ClientConfig {
    /// Reads the client's configuration from `args`, the file they name and `env`.
    ///
    /// # Errors
    /// Bad usage, an unreadable explicit file, an unknown key or an invalid value.
    pub fn load(args: &[OsString], env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        load(args, env)
    }

    /// Reads the client's configuration from the contents of a config file alone.
    ///
    /// # Errors
    /// The file breaks the INI rules, or has an unknown key or an invalid value.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        from_file_bytes(bytes)
    }
}

impl Program for ClientConfig {
    const KEYS: &'static [Key] = &CLIENT_KEYS;
    const FILE_ENV: &'static str = CLIENT_CONFIG_ENV;
    const FILE_DEFAULT: &'static str = CLIENT_CONFIG_DEFAULT;

    fn from_sources(sources: &Sources<'_>) -> Result<Self, ConfigError> {
        let defaults = ClientConfig::default();
        Ok(ClientConfig {
            id: sources.parse_or(&CLI_ID, defaults.id, parse_id)?,
            server_address: sources.parse_or(
                &CLI_SERVER_ADDRESS,
                defaults.server_address,
                parse_address,
            )?,
            loop_amount: sources.parse_or(&CLI_LOOP_AMOUNT, defaults.loop_amount, |v| {
                parse_in_range(v, 0, u32::MAX.into())
            })?,
            loop_period: sources.parse_or(&CLI_LOOP_PERIOD, defaults.loop_period, |v| {
                parse_duration(v, Duration::from_secs(24 * 3600))
            })?,
            log_level: sources.parse_or(&CLI_LOG_LEVEL, defaults.log_level, parse_level)?,
        })
    }
}

/// One program's configuration: its keys, where its file is, how its values are
/// read. Both programs load through the same two functions below.
trait Program: Sized {
    /// Every key the file may hold.
    const KEYS: &'static [Key];
    /// The environment variable that names the config file.
    const FILE_ENV: &'static str;
    /// The config file when none is named.
    const FILE_DEFAULT: &'static str;

    /// The typed configuration from the layered sources.
    fn from_sources(sources: &Sources<'_>) -> Result<Self, ConfigError>;
}

fn load<C: Program>(args: &[OsString], env: EnvLookup<'_>) -> Result<C, ConfigError> {
    let path = ConfigPath::from_args(args, C::FILE_ENV, C::FILE_DEFAULT, env)?;
    C::from_sources(&Sources::load(&path, C::KEYS, env)?)
}

fn from_file_bytes<C: Program>(bytes: &[u8]) -> Result<C, ConfigError> {
    let sources = Sources::from_bytes(Path::new("<bytes>"), bytes, C::KEYS, &no_env)?;
    C::from_sources(&sources)
}

fn no_env(_: &str) -> Option<OsString> {
    None
}

#[cfg(test)]
mod tests;
