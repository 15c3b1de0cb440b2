//! Where a setting comes from: an environment variable wins over the INI file,
//! which wins over the built-in default (README, "Programs"). Every value keeps its
//! origin, so an error names the key, the value and the place to fix it.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use super::file::{self, Sections, qualified};

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
    /// The key (or option) at fault, as that person wrote it.
    pub key: String,
    /// The offending value, when there is one.
    pub value: Option<String>,
    /// Where the key or value was found.
    pub origin: Origin,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, value: Option<String>, origin: Origin, reason: String) -> Self {
        let key = key.to_string();
        ConfigError {
            key,
            value,
            origin,
            reason,
        }
    }

    /// `key = "value" (from origin)`: the setting at fault, without the reason.
    pub fn setting(&self) -> String {
        match &self.value {
            Some(value) => format!("{} = {value:?} (from {})", self.key, self.origin),
            None => format!("{} (from {})", self.key, self.origin),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(out, "{}: {}", self.setting(), self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Text from the OS (an argument, an environment value) as UTF-8, or the error
/// that names it: the programs take no value that they could not log or compare.
fn utf8(text: &OsStr, key: &str, origin: &Origin) -> Result<String, ConfigError> {
    let lossy = || Some(text.to_string_lossy().into_owned());
    let error = || ConfigError::new(key, lossy(), origin.clone(), "is not valid UTF-8".into());
    text.to_str().map(str::to_string).ok_or_else(error)
}

/// One value as written, and where.
pub struct Setting {
    pub value: String,
    pub origin: Origin,
}

/// Reads the environment (as `std::env::var_os`); a function so tests can pass a map.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// A setting's two names: its key in a section of the file (lower case, as the
/// crate gives them), and the environment variable that overrides it.
pub struct ConfigKey {
    pub section: &'static str,
    pub name: &'static str,
    pub env: &'static str,
}

impl ConfigKey {
    pub const fn new(section: &'static str, name: &'static str, env: &'static str) -> Self {
        ConfigKey { section, name, env }
    }
}

/// Which config file to read; one named explicitly (with its origin) must exist.
#[derive(Debug)]
pub struct ConfigPath {
    pub path: PathBuf,
    pub explicit: Option<Origin>,
}

impl ConfigPath {
    /// The file named by `--config PATH` (or `--config=PATH`), else by the variable
    /// `env_name`, else `default`. Unknown or non-UTF-8 arguments are errors.
    pub fn from_args(
        args: &[OsString],
        env_name: &str,
        default: &str,
        env: EnvLookup<'_>,
    ) -> Result<Self, ConfigError> {
        let usage = |key: &str, value: Option<&String>, reason: &str| {
            let reason = format!("{reason} (usage: [--config PATH])");
            ConfigError::new(key, value.cloned(), Origin::Args, reason)
        };
        let args = (1..)
            .zip(args)
            .map(|(n, arg)| utf8(arg, &format!("argument {n}"), &Origin::Args))
            .collect::<Result<Vec<_>, _>>()?;
        let (mut chosen, mut rest) = (None, args.iter());
        while let Some(arg) = rest.next() {
            let path = match arg.strip_prefix("--config=") {
                Some(path) => Some(path),
                None if arg == "--config" => rest.next().map(String::as_str),
                None => return Err(usage("argument", Some(arg), "unknown argument")),
            };
            chosen = Some(path.ok_or_else(|| usage(arg, None, "expects a path"))?);
        }
        let (path, explicit) = match (chosen, env(env_name).filter(|path| !path.is_empty())) {
            (Some(path), _) => (path.to_string(), Some(Origin::Args)),
            (None, Some(path)) => {
                let origin = Origin::Env(env_name.to_string());
                (utf8(&path, env_name, &origin)?, Some(origin))
            }
            (None, None) => (default.to_string(), None),
        };
        let path = path.into();
        Ok(ConfigPath { path, explicit })
    }
}

/// Where a key is looked up: the environment, then the INI file (if any).
pub struct Layers<'a> {
    file: Option<(PathBuf, Sections)>,
    env: EnvLookup<'a>,
}

impl<'a> Layers<'a> {
    /// The file named by `config` (only `known` keys in it) under `env`; a missing
    /// default file means "defaults and environment only".
    pub fn load(
        config: &ConfigPath,
        known: &[ConfigKey],
        env: EnvLookup<'a>,
    ) -> Result<Self, ConfigError> {
        let refused = |reason: String| {
            let path = Some(config.path.display().to_string());
            let origin = config.explicit.clone().unwrap_or(Origin::Default);
            ConfigError::new("config file", path, origin, reason)
        };
        match file::read(&config.path).map_err(refused)? {
            Some(bytes) => Self::from_bytes(&config.path, &bytes, known, env),
            None if config.explicit.is_none() => Ok(Layers { file: None, env }),
            None => Err(refused("does not exist".into())),
        }
    }

    /// A file at `path` whose contents are `bytes`, under `env`.
    pub fn from_bytes(
        path: &Path,
        bytes: &[u8],
        known: &[ConfigKey],
        env: EnvLookup<'a>,
    ) -> Result<Self, ConfigError> {
        let names: Vec<_> = known.iter().map(|key| (key.section, key.name)).collect();
        let file = Some((path.to_path_buf(), file::parse(bytes, &names, path)?));
        Ok(Layers { file, env })
    }

    /// The value of `key`: from the environment if set there, else from the file.
    /// A non-UTF-8 environment value is an error.
    pub fn get(&self, key: &ConfigKey) -> Result<Option<Setting>, ConfigError> {
        if let Some(value) = (self.env)(key.env) {
            let origin = Origin::Env(key.env.to_string());
            let value = utf8(&value, key.env, &origin)?;
            return Ok(Some(Setting { value, origin }));
        }
        Ok(self.file.as_ref().and_then(|(path, sections)| {
            let value = sections.get(key.section)?.get(key.name)?.clone()?;
            let origin = Origin::File(path.clone());
            Some(Setting { value, origin })
        }))
    }

    /// `key` (trimmed) through `parse`, or `default` when it is set nowhere; the
    /// error names key, value and origin.
    pub fn parse_or<T>(
        &self,
        key: &ConfigKey,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let Some(setting) = self.get(key)? else {
            return Ok(default);
        };
        parse(setting.value.trim()).map_err(|reason| blame(key, setting, reason))
    }

    /// The error against `key` for a `reason` about its value (as set, or `default`
    /// when set nowhere), for rules that join two keys.
    pub fn blame(
        &self,
        key: &ConfigKey,
        default: impl fmt::Display,
        reason: String,
    ) -> Result<ConfigError, ConfigError> {
        let (value, origin) = (default.to_string(), Origin::Default);
        let setting = self.get(key)?.unwrap_or(Setting { value, origin });
        Ok(blame(key, setting, reason))
    }
}

/// The error about `key` set to `setting`, naming the key as the person wrote it.
fn blame(key: &ConfigKey, setting: Setting, reason: String) -> ConfigError {
    let name = match &setting.origin {
        Origin::File(_) => &qualified(key.section, key.name),
        _ => key.env,
    };
    ConfigError::new(name, Some(setting.value), setting.origin, reason)
}
