//! The typed configuration of both programs (SPEC §3, §4), read from an INI file
//! and overridden by environment variables, every value checked before use.

use std::net::IpAddr;
use std::time::Duration;

use log::LevelFilter;

use crate::duration;
use crate::settings::{ConfigError, ConfigPath, EnvLookup, Key, Settings};

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

const fn server_key(name: &'static str, env: &'static str) -> Key {
    Key {
        section: "default",
        name,
        env,
    }
}

const SERVER_PORT: Key = server_key("server_port", "SERVER_PORT");
const SERVER_IP: Key = server_key("server_ip", "SERVER_IP");
const SERVER_BIND_IP: Key = server_key("server_bind_ip", "SERVER_BIND_IP");
const SERVER_LISTEN_BACKLOG: Key = server_key("server_listen_backlog", "SERVER_LISTEN_BACKLOG");
const LOGGING_LEVEL: Key = server_key("logging_level", "LOGGING_LEVEL");
const SERVER_MAX_CONNECTIONS: Key = server_key("server_max_connections", "SERVER_MAX_CONNECTIONS");
const SERVER_MAX_LINE_BYTES: Key = server_key("server_max_line_bytes", "SERVER_MAX_LINE_BYTES");
const SERVER_SHUTDOWN_GRACE: Key = server_key("server_shutdown_grace", "SERVER_SHUTDOWN_GRACE");
const SERVER_MAX_BUFFERED: Key = server_key("server_max_buffered", "SERVER_MAX_BUFFERED");
const SERVER_IDLE_TIMEOUT: Key = server_key("server_idle_timeout", "SERVER_IDLE_TIMEOUT");

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
    pub fn load(args: &[String], env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let path = ConfigPath::from_args(args, SERVER_CONFIG_ENV, SERVER_CONFIG_DEFAULT, env)?;
        let settings = Settings::load(&path, &SERVER_KEYS, env)?;
        let defaults = ServerConfig::default();
        Ok(ServerConfig {
            port: settings.parse_or(&SERVER_PORT, defaults.port, |v| {
                v.parse()
                    .map_err(|_| "expected a port number from 0 to 65535".into())
            })?,
            ip: settings.parse_or(&SERVER_IP, defaults.ip, parse_host)?,
            bind_ip: settings.parse_or(&SERVER_BIND_IP, defaults.bind_ip, |v| {
                v.parse()
                    .map_err(|_| "expected an IPv4 or IPv6 address such as 0.0.0.0".into())
            })?,
            listen_backlog: settings.parse_or(
                &SERVER_LISTEN_BACKLOG,
                defaults.listen_backlog,
                |v| parse_in_range(v, 1, 65_535).map(|n| n as i32),
            )?,
            logging_level: settings.parse_or(
                &LOGGING_LEVEL,
                defaults.logging_level,
                parse_level,
            )?,
            max_connections: settings.parse_or(
                &SERVER_MAX_CONNECTIONS,
                defaults.max_connections,
                |v| parse_in_range(v, 1, 1_000_000).map(|n| n as usize),
            )?,
            max_line_bytes: settings.parse_or(
                &SERVER_MAX_LINE_BYTES,
                defaults.max_line_bytes,
                |v| parse_in_range(v, 1, 16 * 1024 * 1024).map(|n| n as usize),
            )?,
            shutdown_grace: settings.parse_or(
                &SERVER_SHUTDOWN_GRACE,
                defaults.shutdown_grace,
                |v| parse_duration(v, Duration::from_secs(3600)),
            )?,
            max_buffered: settings.parse_or(&SERVER_MAX_BUFFERED, defaults.max_buffered, |v| {
                parse_in_range(v, 64 * 1024, 1 << 40).map(|n| n as usize)
            })?,
            idle_timeout: settings.parse_or(&SERVER_IDLE_TIMEOUT, defaults.idle_timeout, |v| {
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

const CLI_ID: Key = Key {
    section: "default",
    name: "id",
    env: "CLI_ID",
};
const CLI_SERVER_ADDRESS: Key = Key {
    section: "server",
    name: "address",
    env: "CLI_SERVER_ADDRESS",
};
const CLI_LOOP_AMOUNT: Key = Key {
    section: "loop",
    name: "amount",
    env: "CLI_LOOP_AMOUNT",
};
const CLI_LOOP_PERIOD: Key = Key {
    section: "loop",
    name: "period",
    env: "CLI_LOOP_PERIOD",
};
const CLI_LOG_LEVEL: Key = Key {
    section: "log",
    name: "level",
    env: "CLI_LOG_LEVEL",
};

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
    pub fn load(args: &[String], env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let path = ConfigPath::from_args(args, CLIENT_CONFIG_ENV, CLIENT_CONFIG_DEFAULT, env)?;
        let settings = Settings::load(&path, &CLIENT_KEYS, env)?;
        let defaults = ClientConfig::default();
        Ok(ClientConfig {
            id: settings.parse_or(&CLI_ID, defaults.id, parse_id)?,
            server_address: settings.parse_or(
                &CLI_SERVER_ADDRESS,
                defaults.server_address,
                parse_address,
            )?,
            loop_amount: settings.parse_or(&CLI_LOOP_AMOUNT, defaults.loop_amount, |v| {
                parse_in_range(v, 0, u32::MAX.into())
            })?,
            loop_period: settings.parse_or(&CLI_LOOP_PERIOD, defaults.loop_period, |v| {
                parse_duration(v, Duration::from_secs(24 * 3600))
            })?,
            log_level: settings.parse_or(&CLI_LOG_LEVEL, defaults.log_level, parse_level)?,
        })
    }
}

fn parse_in_range(text: &str, low: u64, high: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (low..=high).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {low} to {high}")),
    }
}

fn parse_duration(text: &str, most: Duration) -> Result<Duration, String> {
    let value = duration::parse(text)?;
    if value > most {
        return Err(format!(
            "longer than the maximum of {}",
            duration::format(most)
        ));
    }
    Ok(value)
}

/// Accepts the level names of the course's Python (`WARNING`, `CRITICAL`) and Go
/// (`warn`, `fatal`) programs, in any case.
fn parse_level(text: &str) -> Result<LevelFilter, String> {
    match text.to_ascii_uppercase().as_str() {
        "TRACE" => Ok(LevelFilter::Trace),
        "DEBUG" => Ok(LevelFilter::Debug),
        "INFO" => Ok(LevelFilter::Info),
        "WARN" | "WARNING" => Ok(LevelFilter::Warn),
        "ERROR" | "CRITICAL" | "FATAL" => Ok(LevelFilter::Error),
        "OFF" => Ok(LevelFilter::Off),
        _ => Err("expected one of TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL, OFF".into()),
    }
}

/// A client id goes into every message: it must not break the line or the log.
fn parse_id(text: &str) -> Result<String, String> {
    let printable = text.chars().all(|c| !c.is_control() && !c.is_whitespace());
    if text.is_empty() || text.len() > 64 || !printable {
        return Err("expected 1 to 64 printable characters without spaces".into());
    }
    Ok(text.to_string())
}

fn parse_host(text: &str) -> Result<String, String> {
    let valid = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if text.is_empty() || text.len() > 253 || !valid {
        return Err("expected a host name or IP address".into());
    }
    Ok(text.to_string())
}

/// `host:port` or `[v6]:port`, checked here so a typo fails at start, not at the
/// first connection.
fn parse_address(text: &str) -> Result<String, String> {
    let expected = || "expected host:port, e.g. server:12345".to_string();
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let host = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    if host.contains(':') && !text.starts_with('[') {
        return Err("write IPv6 addresses in brackets, e.g. [::1]:12345".into());
    }
    parse_host(host).map_err(|_| expected())?;
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(text.to_string()),
        _ => Err("expected a port from 1 to 65535 after the colon".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_server(env: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let args = vec!["--config".to_string(), "/dev/null".to_string()];
        ServerConfig::load(&args, &lookup)
    }

    fn load_client(env: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let args = vec!["--config".to_string(), "/dev/null".to_string()];
        ClientConfig::load(&args, &lookup)
    }

    #[test]
    fn empty_file_means_defaults() {
        assert_eq!(load_server(&[]), Ok(ServerConfig::default()));
        assert_eq!(load_client(&[]), Ok(ClientConfig::default()));
    }

    #[test]
    fn env_overrides_are_typed() {
        let config = load_server(&[
            ("SERVER_PORT", "0"),
            ("SERVER_BIND_IP", "127.0.0.1"),
            ("LOGGING_LEVEL", "warning"),
            ("SERVER_SHUTDOWN_GRACE", "250ms"),
        ])
        .expect("valid");
        assert_eq!(config.port, 0);
        assert_eq!(config.bind_ip, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(config.logging_level, LevelFilter::Warn);
        assert_eq!(config.shutdown_grace, Duration::from_millis(250));

        let client = load_client(&[("CLI_LOOP_PERIOD", "100ms"), ("CLI_ID", "7")]).expect("valid");
        assert_eq!(
            (client.id.as_str(), client.loop_period),
            ("7", Duration::from_millis(100))
        );
    }

    #[test]
    fn bad_values_name_key_value_and_variable() {
        let cases: [(&str, &str); 6] = [
            ("SERVER_PORT", "70000"),
            ("SERVER_LISTEN_BACKLOG", "-1"),
            ("LOGGING_LEVEL", "LOUD"),
            ("SERVER_SHUTDOWN_GRACE", "5"),
            ("SERVER_MAX_LINE_BYTES", "0"),
            ("SERVER_BIND_IP", "server"),
        ];
        for (key, value) in cases {
            let error = load_server(&[(key, value)]).expect_err(key);
            let text = error.to_string();
            assert!(
                text.starts_with(&format!(
                    "{key} = {value:?} (from environment variable {key})"
                )),
                "{text}"
            );
        }
        for (key, value) in [
            ("CLI_SERVER_ADDRESS", "server"),
            ("CLI_LOOP_AMOUNT", "x"),
            ("CLI_ID", "a b"),
        ] {
            let error = load_client(&[(key, value)]).expect_err(key);
            assert_eq!(
                (error.key.as_str(), error.value.as_deref()),
                (key, Some(value))
            );
        }
    }

    #[test]
    fn addresses_are_checked() {
        assert!(parse_address("server:12345").is_ok());
        assert!(parse_address("[::1]:80").is_ok());
        for bad in [
            "server",
            ":80",
            "server:0",
            "server:http",
            "::1:80",
            "a b:1",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
