//! Unit tests of the typed configuration (defaults, environment overrides, errors)
//! and of its layers (precedence, origins, config file paths).

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
        ServerConfig::from_file_bytes(b"[DEFAULT]\nSERVER_PORT = 1\nserver_port = 2\n").is_err()
    );
}

#[test]
fn the_line_limit_must_fit_in_the_budget() {
    let error = load_server(&[
        ("SERVER_MAX_LINE_BYTES", "65537"),
        ("SERVER_MAX_BUFFERED", "65536"),
    ])
    .expect_err("a line of 65537 bytes cannot be held in 65536");
    assert_eq!(
        error.to_string(),
        "SERVER_MAX_LINE_BYTES = \"65537\" (from environment variable SERVER_MAX_LINE_BYTES): \
         a line this long cannot be held within \
         SERVER_MAX_BUFFERED = \"65536\" (from environment variable SERVER_MAX_BUFFERED); \
         lower the line limit or raise the budget"
    );
    let smallest = load_server(&[("SERVER_MAX_BUFFERED", "65536")]).expect("default line fits");
    assert_eq!(
        (smallest.max_line_bytes, smallest.max_buffered),
        (65536, 65536)
    );
}

/// Where a value comes from: the environment over the file over the default.
mod layers {
    use crate::config::layers::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    use std::path::{Path, PathBuf};

    const PORT: ConfigKey = ConfigKey::new("default", "server_port", "SERVER_PORT");

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    fn from_text<'a>(text: &str, env: EnvLookup<'a>) -> Result<Layers<'a>, ConfigError> {
        Layers::from_bytes(Path::new("test.ini"), text.as_bytes(), &[PORT], env)
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
            Layers::load(&missing, &[PORT], &no_env).expect("default path may be absent");
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
            let error = Layers::load(&explicit, &[PORT], &no_env)
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
