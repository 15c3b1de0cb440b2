//! The parsers of what others control — log escaping, durations, line framing and
//! config files — in one public place, for property tests and fuzz targets.

pub use crate::config::{ClientConfig, ServerConfig};
pub use crate::duration::{
    MAX as MAX_DURATION, format as format_duration, parse as parse_duration,
};
pub use crate::escape::needs_escape;
pub use crate::framing::{Framer, LineTooLong, Pushed};
pub use crate::sources::ConfigError;

/// Log-safe text for `bytes`, as every record shows peer-controlled text.
pub fn escape(bytes: &[u8]) -> String {
    crate::escape::Escaped(bytes).to_string()
}

/// Reads `bytes` as the contents of a server config file, with no environment.
///
/// # Errors
/// As [`ServerConfig::load`]: INI rules, unknown keys, invalid values.
pub fn server_config(bytes: &[u8]) -> Result<ServerConfig, ConfigError> {
    ServerConfig::from_file_bytes(bytes)
}

/// Reads `bytes` as the contents of a client config file, with no environment.
///
/// # Errors
/// As [`ClientConfig::load`]: INI rules, unknown keys, invalid values.
pub fn client_config(bytes: &[u8]) -> Result<ClientConfig, ConfigError> {
    ClientConfig::from_file_bytes(bytes)
}
