//! The typed configuration of both programs (README, "Programs" and its key tables):
//! the INI file (`file`), overridden by the environment (`layers`), every value
//! checked by the rule of its kind (`values`, `duration`) before use.

pub mod duration;
mod file;
mod layers;
pub mod startup;
mod values;

use std::ffi::OsString;
use std::net::IpAddr;
use std::time::Duration;

use log::LevelFilter;

use file::DEFAULT;
pub use layers::{ConfigError, EnvLookup};
use layers::{KeyNames, Layers};
use values::{parse_address, parse_duration, parse_host, parse_id, parse_in_range, parse_level};

/// The server's settings (README, "Server keys").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// TCP port to listen on; 0 lets the system pick one (the `listen` line shows it).
    pub port: u16,
    /// The name clients use to reach the server; shown at start, not used for binding.
    pub ip: String,
    /// The address to bind.
    pub bind_ip: IpAddr,
    /// Passed to listen(2).
    pub listen_backlog: i32,
    /// Records below this level are not written.
    pub logging_level: LevelFilter,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Longest accepted line, newline excluded; never above `max_buffered`.
    pub max_line_bytes: usize,
    /// Upper bound of the drain at shutdown, against peers that never read.
    pub shutdown_grace: Duration,
    /// Bytes held for all peers together (pending echoes and partial lines).
    pub max_buffered: usize,
    /// A connection with no byte in or out for this long is closed; zero never.
    pub idle_timeout: Duration,
}

/// In the order of the fields, as `from_layers` takes them apart.
const SERVER_KEYS: [KeyNames; 10] = [
    (DEFAULT, "server_port", "SERVER_PORT"),
    (DEFAULT, "server_ip", "SERVER_IP"),
    (DEFAULT, "server_bind_ip", "SERVER_BIND_IP"),
    (DEFAULT, "server_listen_backlog", "SERVER_LISTEN_BACKLOG"),
    (DEFAULT, "logging_level", "LOGGING_LEVEL"),
    (DEFAULT, "server_max_connections", "SERVER_MAX_CONNECTIONS"),
    (DEFAULT, "server_max_line_bytes", "SERVER_MAX_LINE_BYTES"),
    (DEFAULT, "server_shutdown_grace", "SERVER_SHUTDOWN_GRACE"),
    (DEFAULT, "server_max_buffered", "SERVER_MAX_BUFFERED"),
    (DEFAULT, "server_idle_timeout", "SERVER_IDLE_TIMEOUT"),
];

impl ServerConfig {
    /// Reads the server's configuration from `args`, the file they name and `env`.
    pub fn load(args: &[OsString], env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let file = ("SERVER_CONFIG_FILE", "etc/server.ini");
        Self::from_layers(&Layers::load(args, file, &SERVER_KEYS, env)?)
    }

    /// The server's configuration from the contents of a config file alone.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let layers = Layers::from_bytes("<bytes>", bytes, &SERVER_KEYS, &|_| None)?;
        Self::from_layers(&layers)
    }

    /// The typed configuration from the environment over the file over the
    /// built-in defaults, which are written here only.
    fn from_layers(layers: &Layers<'_>) -> Result<Self, ConfigError> {
        let [port, ip, bind, backlog, level, ..] = &SERVER_KEYS;
        let [.., connections, line, grace, budget, idle] = &SERVER_KEYS;
        // Each range fits the field's type, so the casts below never cut.
        let int = |key, default, low, high| {
            layers.parse_or(key, default, |v| parse_in_range(v, low, high))
        };
        let config = ServerConfig {
            port: int(port, 12345, 0, u16::MAX.into())? as u16,
            ip: layers.parse_or(ip, "server".into(), parse_host)?,
            bind_ip: layers.parse_or(bind, IpAddr::from([0, 0, 0, 0]), |v| {
                v.parse()
                    .map_err(|_| "expected an IPv4 or IPv6 address such as 0.0.0.0".into())
            })?,
            listen_backlog: int(backlog, 5, 1, 65_535)? as i32,
            logging_level: layers.parse_or(level, LevelFilter::Info, parse_level)?,
            max_connections: int(connections, 10_000, 1, 1_000_000)? as usize,
            max_line_bytes: int(line, 64 * 1024, 1, 16 * 1024 * 1024)? as usize,
            shutdown_grace: layers.parse_or(grace, Duration::from_millis(500), |v| {
                parse_duration(v, Duration::from_secs(3600))
            })?,
            max_buffered: int(budget, 32 * 1024 * 1024, 64 * 1024, 1 << 40)? as usize,
            idle_timeout: layers.parse_or(idle, Duration::from_secs(60), duration::parse)?,
        };
        // A line the limit admits but the budget cannot hold would never be echoed.
        if config.max_line_bytes > config.max_buffered {
            let held = layers.blame(budget, config.max_buffered, String::new())?;
            let reason = format!(
                "a line this long cannot be held within {}; lower the line limit or raise the budget",
                held.setting
            );
            return Err(layers.blame(line, config.max_line_bytes, reason)?);
        }
        Ok(config)
    }
}

/// The client's settings (README, "Client keys").
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

/// In the order of the fields, as `from_layers` takes them apart.
const CLIENT_KEYS: [KeyNames; 5] = [
    (DEFAULT, "id", "CLI_ID"),
    ("server", "address", "CLI_SERVER_ADDRESS"),
    ("loop", "amount", "CLI_LOOP_AMOUNT"),
    ("loop", "period", "CLI_LOOP_PERIOD"),
    ("log", "level", "CLI_LOG_LEVEL"),
];

impl ClientConfig {
    /// Reads the client's configuration from `args`, the file they name and `env`.
    pub fn load(args: &[OsString], env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let file = ("CLI_CONFIG_FILE", "etc/client.ini");
        Self::from_layers(&Layers::load(args, file, &CLIENT_KEYS, env)?)
    }

    /// The client's configuration from the contents of a config file alone.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let layers = Layers::from_bytes("<bytes>", bytes, &CLIENT_KEYS, &|_| None)?;
        Self::from_layers(&layers)
    }

    /// As [`ServerConfig::from_layers`].
    fn from_layers(layers: &Layers<'_>) -> Result<Self, ConfigError> {
        let [id, address, amount, period, level] = &CLIENT_KEYS;
        Ok(ClientConfig {
            id: layers.parse_or(id, "1".into(), parse_id)?,
            server_address: layers.parse_or(address, "server:12345".into(), parse_address)?,
            loop_amount: layers.parse_or(amount, 5, |v| parse_in_range(v, 0, u32::MAX.into()))?,
            loop_period: layers.parse_or(period, Duration::from_secs(5), duration::parse)?,
            log_level: layers.parse_or(level, LevelFilter::Info, parse_level)?,
        })
    }
}

// The built-in defaults are written once, in the `from_layers` above; these lists
// of them are what the tests expect of an empty file and no environment.
#[cfg(test)]
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

#[cfg(test)]
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

#[cfg(test)]
mod tests;
