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

/// The INI file (if any) and the environment, queried by [`Key`].
pub struct Settings<'a> {
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

impl<'a> Settings<'a> {
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
                return Ok(Settings { file: None, env });
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
        Ok(Settings {
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
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    const PORT: Key = Key {
        section: "default",
        name: "server_port",
        env: "SERVER_PORT",
    };

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    fn from_text<'a>(text: &str, env: EnvLookup<'a>) -> Result<Settings<'a>, ConfigError> {
        Settings::from_bytes(Path::new("test.ini"), text.as_bytes(), &[PORT], env)
    }

    fn number(text: &str) -> Result<u16, String> {
        text.parse().map_err(|_| "not a number".into())
    }

    #[test]
    fn env_wins_over_file_and_file_over_default() {
        let from_file = from_text("[DEFAULT]\nSERVER_PORT = 1000\n", &no_env).expect("load");
        assert_eq!(from_file.parse_or(&PORT, 5, number), Ok(1000));

        let env = |name: &str| (name == "SERVER_PORT").then(|| OsString::from("2000"));
        let from_env = from_text("[DEFAULT]\nSERVER_PORT = 1000\n", &env).expect("load");
        let setting = from_env.get(&PORT).expect("UTF-8").expect("set");
        assert_eq!(setting.value, "2000");
        assert_eq!(setting.origin, Origin::Env("SERVER_PORT".into()));

        let missing = ConfigPath {
            path: "/nonexistent/tp0.ini".into(),
            explicit: None,
        };
        let defaults =
            Settings::load(&missing, &[PORT], &no_env).expect("default path may be absent");
        assert_eq!(defaults.parse_or(&PORT, 5u16, number), Ok(5));
    }

    #[test]
    fn errors_name_key_value_and_origin() {
        let settings = from_text("[DEFAULT]\nSERVER_PORT = http\n", &no_env).expect("load");
        let error = settings
            .parse_or(&PORT, 0u16, number)
            .expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "server_port = \"http\" (from file test.ini): not a number"
        );
    }

    #[test]
    fn non_utf8_environment_values_are_errors() {
        let env =
            |name: &str| (name == "SERVER_PORT").then(|| OsString::from_vec(b"1\xff".to_vec()));
        let settings = from_text("", &env).expect("load");
        let error = settings
            .parse_or(&PORT, 0u16, number)
            .expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "SERVER_PORT = \"1\u{fffd}\" (from environment variable SERVER_PORT): is not valid UTF-8"
        );
    }

    #[test]
    fn unknown_keys_and_unreadable_explicit_files_are_errors() {
        let error = from_text("[DEFAULT]\nSERVER_PROT = 1\n", &no_env)
            .err()
            .expect("typo caught");
        assert_eq!(error.key, "server_prot");
        assert_eq!(error.reason, "unknown key (line 2)");

        for (path, reason) in [
            ("/nonexistent/tp0.ini", "does not exist"),
            ("/", "is a directory"),
        ] {
            let explicit = ConfigPath {
                path: path.into(),
                explicit: Some(Origin::Args),
            };
            let error = Settings::load(&explicit, &[PORT], &no_env)
                .err()
                .expect("must fail");
            assert_eq!(
                (error.key.as_str(), error.reason.as_str()),
                ("config file", reason)
            );
        }
    }

    #[test]
    fn the_path_comes_from_args_then_env_then_default() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        let env = |name: &str| (name == "CFG").then(|| OsString::from("/from/env.ini"));
        let chosen = ConfigPath::from_args(&args(&["--config", "/a.ini"]), "CFG", "d.ini", &env);
        assert_eq!(chosen.expect("ok").path, PathBuf::from("/a.ini"));
        let chosen = ConfigPath::from_args(&args(&[]), "CFG", "d.ini", &env).expect("ok");
        assert_eq!(chosen.explicit, Some(Origin::Env("CFG".into())));
        let chosen = ConfigPath::from_args(&args(&[]), "CFG", "d.ini", &no_env).expect("ok");
        assert_eq!(
            (chosen.path, chosen.explicit),
            (PathBuf::from("d.ini"), None)
        );
        assert!(ConfigPath::from_args(&args(&["--config"]), "CFG", "d.ini", &no_env).is_err());
        assert!(ConfigPath::from_args(&args(&["-x"]), "CFG", "d.ini", &no_env).is_err());
    }

    #[test]
    fn non_utf8_arguments_are_errors() {
        let args = [
            OsString::from("--config"),
            OsString::from_vec(b"\xff".to_vec()),
        ];
        let error = ConfigPath::from_args(&args, "CFG", "d.ini", &no_env).expect_err("refused");
        assert_eq!(
            (error.key.as_str(), error.origin, error.reason.as_str()),
            ("argument 2", Origin::Args, "is not valid UTF-8")
        );
    }
}
