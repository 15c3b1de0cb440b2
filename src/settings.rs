//! Where a setting comes from: an environment variable wins over the INI file,
//! which wins over the built-in default. Every value keeps its origin, so an error
//! can name the key, the value and the place to fix it.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::PathBuf;

use configparser::ini::Ini;

/// Where a value was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable of this name.
    Env(String),
    /// The INI file at this path.
    File(PathBuf),
    /// The command line.
    Args,
}

impl fmt::Display for Origin {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Env(name) => write!(out, "environment variable {name}"),
            Origin::File(path) => write!(out, "file {}", path.display()),
            Origin::Args => out.write_str("command line"),
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

/// One value with its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The text as written.
    pub value: String,
    /// Where it was written.
    pub origin: Origin,
}

/// Reads the environment; a function so tests can pass a map.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

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

/// An INI file as configparser reads it: section → key → value (if any).
type Sections = HashMap<String, HashMap<String, Option<String>>>;

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
    /// Unknown arguments, or `--config` without a path.
    pub fn from_args(
        args: &[String],
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
            return Ok(ConfigPath {
                path: path.into(),
                explicit: Some(Origin::Env(env_name.to_string())),
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
    /// An explicit file that cannot be read, a file that does not parse, an
    /// unknown section or key, a key without a value.
    pub fn load(
        config: &ConfigPath,
        known: &[Key],
        env: EnvLookup<'a>,
    ) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(&config.path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound && config.explicit.is_none() => {
                return Ok(Settings { file: None, env });
            }
            Err(error) => {
                return Err(ConfigError {
                    key: "config file".into(),
                    value: Some(config.path.display().to_string()),
                    origin: config.explicit.clone().unwrap_or(Origin::Args),
                    reason: format!("cannot be read: {error}"),
                });
            }
        };
        let file_error = |key: String, value: Option<String>, reason: String| ConfigError {
            key,
            value,
            origin: Origin::File(config.path.clone()),
            reason,
        };
        let mut ini = Ini::new();
        let sections = ini
            .read(text)
            .map_err(|reason| file_error("INI syntax".into(), None, reason))?;
        for (section, keys) in &sections {
            for (name, value) in keys {
                let Some(key) = known
                    .iter()
                    .find(|key| key.section == section && key.name == name)
                else {
                    let place = qualified(section, name);
                    return Err(file_error(place, value.clone(), "unknown key".into()));
                };
                if value.is_none() {
                    let place = qualified(key.section, key.name);
                    return Err(file_error(
                        place,
                        None,
                        "has no value (write key = value)".into(),
                    ));
                }
            }
        }
        Ok(Settings {
            file: Some((config.path.clone(), sections)),
            env,
        })
    }

    /// The value of `key`: from the environment if set there, else from the file.
    pub fn get(&self, key: &Key) -> Option<Setting> {
        if let Some(value) = (self.env)(key.env) {
            return Some(Setting {
                value,
                origin: Origin::Env(key.env.to_string()),
            });
        }
        let (path, sections) = self.file.as_ref()?;
        let value = sections.get(key.section)?.get(key.name)?.clone()?;
        Some(Setting {
            value,
            origin: Origin::File(path.clone()),
        })
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
        let Some(setting) = self.get(key) else {
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

/// How a key is shown in messages: `[server] address`, or just the key when it is
/// in the default section.
fn qualified(section: &str, name: &str) -> String {
    if section == "default" {
        name.to_string()
    } else {
        format!("[{section}] {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: Key = Key {
        section: "default",
        name: "server_port",
        env: "SERVER_PORT",
    };

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn file_with(text: &str) -> (tempdir::Dir, ConfigPath) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("test.ini");
        std::fs::write(&path, text).expect("write temp file");
        let config = ConfigPath {
            path,
            explicit: Some(Origin::Args),
        };
        (dir, config)
    }

    mod tempdir {
        use std::path::PathBuf;
        use std::sync::atomic::{AtomicUsize, Ordering};

        pub struct Dir(pub PathBuf);

        impl Dir {
            pub fn new() -> Self {
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let unique = NEXT.fetch_add(1, Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("tp0-settings-{}-{unique}", std::process::id()));
                std::fs::create_dir_all(&path).expect("create temp dir");
                Dir(path)
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn env_wins_over_file_and_file_over_default() {
        let (_dir, config) = file_with("[DEFAULT]\nSERVER_PORT = 1000\n");
        let from_file = Settings::load(&config, &[PORT], &no_env).expect("load");
        assert_eq!(
            from_file.parse_or(&PORT, 5, |v| v.parse().map_err(|_| String::new())),
            Ok(1000)
        );

        let env = |name: &str| (name == "SERVER_PORT").then(|| "2000".to_string());
        let from_env = Settings::load(&config, &[PORT], &env).expect("load");
        let setting = from_env.get(&PORT).expect("set");
        assert_eq!(setting.value, "2000");
        assert_eq!(setting.origin, Origin::Env("SERVER_PORT".into()));

        let missing = ConfigPath {
            path: "/nonexistent/tp0.ini".into(),
            explicit: None,
        };
        let defaults =
            Settings::load(&missing, &[PORT], &no_env).expect("default path may be absent");
        assert_eq!(
            defaults.parse_or(&PORT, 5u16, |_| Err("unused".into())),
            Ok(5)
        );
    }

    #[test]
    fn errors_name_key_value_and_origin() {
        let (_dir, config) = file_with("[DEFAULT]\nSERVER_PORT = http\n");
        let settings = Settings::load(&config, &[PORT], &no_env).expect("load");
        let error = settings
            .parse_or(&PORT, 0u16, |_| Err("not a port".into()))
            .expect_err("must fail");
        let text = error.to_string();
        assert!(
            text.starts_with("server_port = \"http\" (from file "),
            "{text}"
        );
        assert!(text.ends_with(": not a port"), "{text}");
    }

    #[test]
    fn unknown_keys_and_unreadable_explicit_files_are_errors() {
        let (_dir, config) = file_with("[DEFAULT]\nSERVER_PROT = 1\n");
        let error = Settings::load(&config, &[PORT], &no_env)
            .err()
            .expect("typo caught");
        assert_eq!(error.key, "server_prot");
        assert_eq!(error.reason, "unknown key");

        let absent = ConfigPath {
            path: "/nonexistent/tp0.ini".into(),
            explicit: Some(Origin::Args),
        };
        let error = Settings::load(&absent, &[PORT], &no_env)
            .err()
            .expect("must fail");
        assert_eq!(error.key, "config file");
    }

    #[test]
    fn the_path_comes_from_args_then_env_then_default() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let env = |name: &str| (name == "CFG").then(|| "/from/env.ini".to_string());
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
}
