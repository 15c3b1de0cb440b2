//! The typed configuration of both programs (SPEC §3, §4), read from an INI file
//! and overridden by environment variables, every value checked before use.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use log::LevelFilter;

use crate::settings::{ConfigError, ConfigPath, EnvLookup, Key, Settings};
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
    pub fn load(args: &[OsString], env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let path = ConfigPath::from_args(args, SERVER_CONFIG_ENV, SERVER_CONFIG_DEFAULT, env)?;
        Self::from_settings(&Settings::load(&path, &SERVER_KEYS, env)?)
    }

    /// Reads the server's configuration from the contents of a config file alone.
    ///
    /// # Errors
    /// The file breaks the INI rules, or has an unknown key or an invalid value.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let settings = Settings::from_bytes(Path::new("<bytes>"), bytes, &SERVER_KEYS, &no_env)?;
        Self::from_settings(&settings)
    }

    fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError> {
        let defaults = ServerConfig::default();
        Ok(ServerConfig {
            port: settings.parse_or(&SERVER_PORT, defaults.port, |v| {
                parse_in_range(v, 0, u16::MAX.into()).map(|n| n as u16)
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
    pub fn load(args: &[OsString], env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let path = ConfigPath::from_args(args, CLIENT_CONFIG_ENV, CLIENT_CONFIG_DEFAULT, env)?;
        Self::from_settings(&Settings::load(&path, &CLIENT_KEYS, env)?)
    }

    /// Reads the client's configuration from the contents of a config file alone.
    ///
    /// # Errors
    /// The file breaks the INI rules, or has an unknown key or an invalid value.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        let settings = Settings::from_bytes(Path::new("<bytes>"), bytes, &CLIENT_KEYS, &no_env)?;
        Self::from_settings(&settings)
    }

    fn from_settings(settings: &Settings<'_>) -> Result<Self, ConfigError> {
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

fn no_env(_: &str) -> Option<OsString> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load<C>(
        env: &[(&str, &str)],
        load: fn(&[OsString], EnvLookup<'_>) -> Result<C, ConfigError>,
    ) -> Result<C, ConfigError> {
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        };
        let args = ["--config", "/dev/null"].map(OsString::from);
        load(&args, &lookup)
    }

    fn load_server(env: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        load(env, ServerConfig::load)
    }

    fn load_client(env: &[(&str, &str)]) -> Result<ClientConfig, ConfigError> {
        load(env, ClientConfig::load)
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
    fn integers_from_the_environment_follow_the_rule() {
        let config = load_server(&[
            ("SERVER_PORT", "  8080 "),
            ("SERVER_MAX_CONNECTIONS", "\t9"),
        ])
        .expect("spaces are trimmed");
        assert_eq!((config.port, config.max_connections), (8080, 9));
        for (key, value) in [
            ("SERVER_PORT", "+80"),
            ("SERVER_PORT", " "),
            ("CLI_LOOP_AMOUNT", "-1"),
        ] {
            assert!(load_server(&[(key, value)]).is_err() || load_client(&[(key, value)]).is_err());
        }
    }

    #[test]
    fn durations_are_bounded() {
        let error = load_client(&[("CLI_LOOP_PERIOD", "25h")]).expect_err("over 24h");
        assert_eq!(
            error.to_string(),
            "CLI_LOOP_PERIOD = \"25h\" (from environment variable CLI_LOOP_PERIOD): longer than the maximum of 24h0m0s"
        );
        let error = load_server(&[(
            "SERVER_SHUTDOWN_GRACE",
            "340282366920938463463374607431768211.999us",
        )])
        .expect_err("overflow");
        assert_eq!(error.key, "SERVER_SHUTDOWN_GRACE");
    }

    #[test]
    fn files_as_bytes_give_values_or_errors() {
        let client =
            ClientConfig::from_file_bytes(b"id = team#7\n[loop]\nperiod = 1s\n").expect("valid");
        assert_eq!(
            (client.id.as_str(), client.loop_period),
            ("team#7", Duration::from_secs(1))
        );
        assert!(
            ServerConfig::from_file_bytes(b"[DEFAULT]\nSERVER_PORT = 1\nserver_port = 2\n")
                .is_err()
        );
    }
}
