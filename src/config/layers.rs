//! Where a setting comes from: an environment variable wins over the INI file,
//! which wins over the built-in default (README, "Programs"). Every value keeps its
//! origin, so an error names the key, the value and the place to fix it.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::Path;

use super::file::{self, Sections, qualified};

/// A configuration or usage error, worded for the person who has to fix it.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (or option) at fault as that person wrote it, its value when there
    /// is one, and where it was found: `key = "value" (from origin)`.
    pub setting: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, value: Option<&str>, origin: &str, reason: String) -> Self {
        let setting = match value {
            Some(value) => format!("{key} = {value:?} (from {origin})"),
            None => format!("{key} (from {origin})"),
        };
        ConfigError { setting, reason }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(out, "{}: {}", self.setting, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// The origin of the config file path when none is named, and of unset keys.
const BUILT_IN: &str = "built-in default";

/// Text from the OS (an argument, an environment value) as UTF-8, or the error
/// that names it: the programs take no value that they could not log or compare.
fn utf8(text: &OsStr, key: &str, origin: &str) -> Result<String, ConfigError> {
    let lossy = text.to_string_lossy();
    let error = || ConfigError::new(key, Some(&lossy), origin, "is not valid UTF-8".into());
    text.to_str().map(str::to_string).ok_or_else(error)
}

/// Reads the environment (as `std::env::var_os`); a function so tests can pass a map.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// A setting's names: its section and key in the file (lower case, as the crate
/// gives them), and the environment variable that overrides it.
pub type KeyNames = (&'static str, &'static str, &'static str);

/// Where a key is looked up: the environment, then the INI file (if any).
pub struct Layers<'a> {
    file: Option<(Sections, String)>,
    env: EnvLookup<'a>,
}

impl<'a> Layers<'a> {
    /// The file named by `--config PATH` (or `--config=PATH`), else by the
    /// variable of `file`, else at its default path, holding only `known` keys,
    /// under `env`. A named file must exist; a missing default one means "defaults
    /// and environment only". Unknown or non-UTF-8 arguments are errors.
    pub fn load(
        args: &[OsString],
        (variable, default_path): (&str, &str),
        known: &[KeyNames],
        env: EnvLookup<'a>,
    ) -> Result<Self, ConfigError> {
        let usage = |key: &str, value: Option<&str>, reason: &str| {
            let reason = format!("{reason} (usage: [--config PATH])");
            ConfigError::new(key, value, "command line", reason)
        };
        let args = (1..)
            .zip(args)
            .map(|(n, arg)| utf8(arg, &format!("argument {n}"), "command line"))
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
        let (path, explicit) = match (chosen, env(variable).filter(|path| !path.is_empty())) {
            (Some(path), _) => (path.to_string(), Some("command line".to_string())),
            (None, Some(path)) => {
                let origin = format!("environment variable {variable}");
                (utf8(&path, variable, &origin)?, Some(origin))
            }
            (None, None) => (default_path.to_string(), None),
        };
        let origin = explicit.as_deref().unwrap_or(BUILT_IN);
        let refused = |reason| ConfigError::new("config file", Some(&path), origin, reason);
        match file::read(Path::new(&path)).map_err(refused)? {
            Some(bytes) => Self::from_bytes(&path, &bytes, known, env),
            None if explicit.is_none() => Ok(Layers { file: None, env }),
            None => Err(refused("does not exist".into())),
        }
    }

    /// A file at `path` whose contents are `bytes`, holding only `known` keys, under `env`.
    pub fn from_bytes(
        path: &str,
        bytes: &[u8],
        known: &[KeyNames],
        env: EnvLookup<'a>,
    ) -> Result<Self, ConfigError> {
        let origin = format!("file {path}");
        let file = Some((file::parse(bytes, known, &origin)?, origin));
        Ok(Layers { file, env })
    }

    /// The value of `key` and the error about it that lacks only its reason: from
    /// the environment if set there (a non-UTF-8 value is an error), else from the
    /// file, the key named as the person wrote it.
    fn get(&self, key: &KeyNames) -> Result<Option<(String, ConfigError)>, ConfigError> {
        let &(section, name, variable) = key;
        let found = |name: &str, value: String, origin: &str| {
            let error = ConfigError::new(name, Some(&value), origin, String::new());
            (value, error)
        };
        if let Some(value) = (self.env)(variable) {
            let origin = format!("environment variable {variable}");
            let value = utf8(&value, variable, &origin)?;
            return Ok(Some(found(variable, value, &origin)));
        }
        Ok(self.file.as_ref().and_then(|(sections, origin)| {
            let value = sections.get(section)?.get(name)?.clone()?;
            Some(found(&qualified(section, name), value, origin))
        }))
    }

    /// `key` (trimmed) through `parse`, or `default` when it is set nowhere; the
    /// error names key, value and origin.
    pub fn parse_or<T>(
        &self,
        key: &KeyNames,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let Some((value, error)) = self.get(key)? else {
            return Ok(default);
        };
        parse(value.trim()).map_err(|reason| ConfigError { reason, ..error })
    }

    /// The error against `key` for a `reason` about its value (as set, or `default`
    /// when set nowhere), for rules that join two keys.
    pub fn blame(
        &self,
        key: &KeyNames,
        default: impl fmt::Display,
        reason: String,
    ) -> Result<ConfigError, ConfigError> {
        let error = match self.get(key)? {
            Some((_, error)) => error,
            None => ConfigError::new(key.2, Some(&default.to_string()), BUILT_IN, String::new()),
        };
        Ok(ConfigError { reason, ..error })
    }
}
