//! Where a setting comes from: an environment variable wins over the INI file,
//! which wins over the built-in default. Every value keeps its origin, so an error
//! can name the key, the value and the place to fix it.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::config_file::{self, ReadError, Sections, qualified};

/// Where a value was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable of this name.
    Env(String),
    /// The INI file at this path.
    File(PathBuf),
    /// The command line.
    Args,
    /// The built-in default (the config file path when none is named).
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Env(name) => write!(out, "environment variable {name}"),
            Origin::File(path) => write!(out, "file {}", path.display()),
            Origin::Args => out.write_str("command line"),
            Origin::Default => out.write_str("built-in default"),
        }
    }
}

/// A configuration or usage error, worded for the person who has to fix it.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (or option) at fault.
    pub key: String,
    /// The offending value, when there is one.
    pub value: Option<String>,
    /// Where the key or value was found.
    pub origin: Origin,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(out, "{} = {value:?} (from {})", self.key, self.origin)?,
            None => write!(out, "{} (from {})", self.key, self.origin)?,
        }
        write!(out, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Text from the OS (an argument, an environment value) as UTF-8, or the error
/// that names it: the programs take no value that they could not log or compare.
fn utf8(text: &OsStr, key: &str, origin: &Origin) -> Result<String, ConfigError> {
    text.to_str()
        .map(str::to_string)
        .ok_or_else(|| ConfigError {
            key: key.to_string(),
            value: Some(text.to_string_lossy().into_owned()),
            origin: origin.clone(),
            reason: "is not valid UTF-8".into(),
        })
}

/// One value with its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The text as written.
    pub value: String,
    /// Where it was written.
    pub origin: Origin,
}

/// Reads the environment (as `std::env::var_os`); a function so tests can pass a map.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// A key of the file, its section (lower case, as configparser stores them) and
/// the environment variable that overrides it.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// Section in the INI file; `default` holds keys written before any section.
    pub section: &'static str,
    /// Key in that section, lower case.
    pub name: &'static str,
    /// The environment variable of the same meaning.
    pub env: &'static str,
}

impl Key {
    /// The key `name` in `section` of the file, overridden by the variable `env`.
    pub const fn new(section: &'static str, name: &'static str, env: &'static str) -> Self {
        Key { section, name, env }
    }
}

/// The INI file (if any) and the environment, queried by [`Key`].
pub struct Sources<'a> {
    file: Option<(PathBuf, Sections)>,
    env: EnvLookup<'a>,
}

/// Which config file to read, and whether it must exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigPath {
    /// The path to read.
    pub path: PathBuf,
    /// Given explicitly (command line or environment): then it must be readable.
    pub explicit: Option<Origin>,
}

impl ConfigPath {
    /// Picks the config file from `--config PATH` (or `--config=PATH`), else the
    /// environment variable `env_name`, else `default`.
    ///
    /// # Errors
    /// Unknown or non-UTF-8 arguments, or `--config` without a path.
    pub fn from_args(
        args: &[OsString],
        env_name: &str,
        default: &str,
        env: EnvLookup<'_>,
    ) -> Result<Self, ConfigError> {
        let usage = |key: &str, value: Option<&String>, reason: &str| ConfigError {
            key: key.to_string(),
            value: value.cloned(),
            origin: Origin::Args,
            reason: format!("{reason} (usage: [--config PATH])"),
        };
        let args = args
            .iter()
            .enumerate()
            .map(|(n, arg)| utf8(arg, &format!("argument {}", n + 1), &Origin::Args))
            .collect::<Result<Vec<_>, _>>()?;
        let mut chosen = None;
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            if arg == "--config" {
                let path = rest
                    .next()
                    .ok_or_else(|| usage("--config", None, "expects a path"))?;
                chosen = Some(path.clone());
            } else if let Some(path) = arg.strip_prefix("--config=") {
                chosen = Some(path.to_string());
            } else {
                return Err(usage("argument", Some(arg), "unknown argument"));
            }
        }
        if let Some(path) = chosen {
            return Ok(ConfigPath {
                path: path.into(),
                explicit: Some(Origin::Args),
            });
        }
        if let Some(path) = env(env_name).filter(|path| !path.is_empty()) {
            let origin = Origin::Env(env_name.to_string());
            return Ok(ConfigPath {
                path: utf8(&path, env_name, &origin)?.into(),
                explicit: Some(origin),
            });
        }
        Ok(ConfigPath {
            path: default.into(),
            explicit: None,
        })
    }
}

impl<'a> Sources<'a> {
    /// Reads the file named by `config` and checks that it holds only `known` keys.
    /// A missing default file means "defaults and environment only".
    ///
    /// # Errors
    /// An explicit file that cannot be read, a path that is not a file (a
    /// directory, FIFO or socket), a file over 1 MiB or that breaks the INI rules
    /// of [`config_file::parse`].
    pub fn load(
        config: &ConfigPath,
        known: &[Key],
        env: EnvLookup<'a>,
    ) -> Result<Self, ConfigError> {
        let bytes = match config_file::read(&config.path) {
            Ok(bytes) => bytes,
            Err(ReadError::NotFound) if config.explicit.is_none() => {
                return Ok(Sources { file: None, env });
            }
            Err(error) => {
                let reason = match error {
                    ReadError::NotFound => "does not exist".to_string(),
                    ReadError::Refused(reason) => reason,
                };
                return Err(ConfigError {
                    key: "config file".into(),
                    value: Some(config.path.display().to_string()),
                    origin: config.explicit.clone().unwrap_or(Origin::Default),
                    reason,
                });
            }
        };
        Self::from_bytes(&config.path, &bytes, known, env)
    }

    /// The settings of a file at `path` whose contents are `bytes`.
    ///
    /// # Errors
    /// The text breaks the INI rules of [`config_file::parse`].
    pub fn from_bytes(
        path: &Path,
        bytes: &[u8],
        known: &[Key],
        env: EnvLookup<'a>,
    ) -> Result<Self, ConfigError> {
        let names: Vec<(&str, &str)> = known.iter().map(|key| (key.section, key.name)).collect();
        let sections = config_file::parse(bytes, &names).map_err(|error| ConfigError {
            key: error.place,
            value: error.value,
            origin: Origin::File(path.to_path_buf()),
            reason: error.reason,
        })?;
        Ok(Sources {
            file: Some((path.to_path_buf(), sections)),
            env,
        })
    }

    /// The value of `key`: from the environment if set there, else from the file.
    ///
    /// # Errors
    /// The environment value is not UTF-8.
    pub fn get(&self, key: &Key) -> Result<Option<Setting>, ConfigError> {
        if let Some(value) = (self.env)(key.env) {
            let origin = Origin::Env(key.env.to_string());
            return Ok(Some(Setting {
                value: utf8(&value, key.env, &origin)?,
                origin,
            }));
        }
        let Some((path, sections)) = self.file.as_ref() else {
            return Ok(None);
        };
        let value = sections
            .get(key.section)
            .and_then(|keys| keys.get(key.name))
            .cloned()
            .flatten();
        Ok(value.map(|value| Setting {
            value,
            origin: Origin::File(path.clone()),
        }))
    }

    /// Parses `key` with `parse`, or returns `default` when it is set nowhere.
    ///
    /// # Errors
    /// The value does not parse; the error names key, value and origin.
    pub fn parse_or<T>(
        &self,
        key: &Key,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let Some(setting) = self.get(key)? else {
            return Ok(default);
        };
        parse(setting.value.trim()).map_err(|reason| {
            let name = match &setting.origin {
                Origin::Env(name) => name.clone(),
                _ => qualified(key.section, key.name),
            };
            ConfigError {
                key: name,
                value: Some(setting.value.clone()),
                origin: setting.origin,
                reason,
            }
        })
    }
}

#[cfg(test)]
mod tests;
