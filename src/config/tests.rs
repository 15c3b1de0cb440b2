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
        let setting = format!("{key} = {value:?} (from environment variable {key})");
        assert_eq!(error.setting, setting);
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
    assert_eq!(
        error.to_string(),
        "SERVER_SHUTDOWN_GRACE = \"340282366920938463463374607431768211.999us\" \
         (from environment variable SERVER_SHUTDOWN_GRACE): longer than the maximum of 24h0m0s"
    );
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

/// Where a value comes from: the environment over the file over the default, and
/// which file: named by the arguments, else by a variable, else the default path.
mod layers {
    use super::*;
    use std::os::unix::ffi::OsStringExt;
    use std::path::PathBuf;

    fn no_env(_: &str) -> Option<OsString> {
        None
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    /// A config file of this test's own, removed when dropped.
    struct TempIni(PathBuf);

    impl TempIni {
        fn new(name: &str, text: &str) -> Self {
            let path = std::env::temp_dir().join(format!("tp0-{}-{name}.ini", std::process::id()));
            std::fs::write(&path, text).expect("temporary config file");
            TempIni(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().expect("UTF-8 temporary path")
        }
    }

    impl Drop for TempIni {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn server_error(list: &[&str], env: EnvLookup<'_>) -> String {
        ServerConfig::load(&args(list), env)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn env_wins_over_file_and_file_over_default() {
        let file = TempIni::new("layers", "[DEFAULT]\nSERVER_PORT = 1000\n");
        let from_file = ServerConfig::load(&args(&["--config", file.path()]), &no_env);
        assert_eq!(from_file.expect("valid").port, 1000);
        assert_eq!(
            ServerConfig::load(&args(&["--config", file.path()]), &|name| {
                (name == "SERVER_PORT").then(|| OsString::from("2000"))
            })
            .expect("valid")
            .port,
            2000
        );
        // A default path that does not exist means defaults and environment only:
        // no public entry point takes another default path.
        let file = ("SERVER_CONFIG_FILE", "/nonexistent/tp0.ini");
        let layers = Layers::load(&[], file, &SERVER_KEYS, &no_env).expect("may be absent");
        assert_eq!(
            ServerConfig::from_layers(&layers),
            Ok(ServerConfig::default())
        );
    }

    #[test]
    fn errors_name_key_value_and_origin() {
        let error = ServerConfig::from_file_bytes(b"[DEFAULT]\nSERVER_PORT = http\n");
        assert_eq!(
            error.expect_err("refused").to_string(),
            "server_port = \"http\" (from file <bytes>): expected a whole number from 0 to 65535"
        );
    }

    #[test]
    fn non_utf8_environment_values_are_errors() {
        let env =
            |name: &str| (name == "SERVER_PORT").then(|| OsString::from_vec(b"1\xff".to_vec()));
        assert_eq!(
            server_error(&["--config", "/dev/null"], &env),
            "SERVER_PORT = \"1\u{fffd}\" (from environment variable SERVER_PORT): is not valid UTF-8"
        );
    }

    #[test]
    fn unknown_keys_and_unreadable_explicit_files_are_errors() {
        let error = ServerConfig::from_file_bytes(b"[DEFAULT]\nSERVER_PROT = 1\n");
        assert_eq!(
            error.expect_err("typo caught").to_string(),
            "server_prot = \"1\" (from file <bytes>): unknown key (line 2)"
        );
        for (path, reason) in [
            ("/nonexistent/tp0.ini", "does not exist"),
            ("/", "is a directory"),
        ] {
            assert_eq!(
                server_error(&["--config", path], &no_env),
                format!("config file = {path:?} (from command line): {reason}")
            );
        }
    }

    #[test]
    fn the_path_comes_from_args_then_env_then_default() {
        let env =
            |name: &str| (name == "SERVER_CONFIG_FILE").then(|| OsString::from("/from/env.ini"));
        let from_args = "config file = \"/a.ini\" (from command line): does not exist";
        assert_eq!(server_error(&["--config", "/a.ini"], &env), from_args);
        assert_eq!(server_error(&["--config=/a.ini"], &env), from_args);
        assert_eq!(
            server_error(&[], &env),
            "config file = \"/from/env.ini\" (from environment variable SERVER_CONFIG_FILE): \
             does not exist"
        );
        // The default path is read when neither names a file (an empty variable
        // names none); no public entry point takes another default path.
        let default = TempIni::new("default", "[DEFAULT]\nSERVER_PORT = 1000\n");
        let empty = |name: &str| (name == "SERVER_CONFIG_FILE").then(OsString::new);
        for env in [&no_env as EnvLookup<'_>, &empty] {
            let file = ("SERVER_CONFIG_FILE", default.path());
            let layers = Layers::load(&[], file, &SERVER_KEYS, env).expect("readable");
            assert_eq!(
                ServerConfig::from_layers(&layers).expect("valid").port,
                1000
            );
        }
        assert_eq!(
            server_error(&["--config"], &no_env),
            "--config (from command line): expects a path (usage: [--config PATH])"
        );
        assert_eq!(
            server_error(&["-x"], &no_env),
            "argument = \"-x\" (from command line): unknown argument (usage: [--config PATH])"
        );
    }

    #[test]
    fn non_utf8_arguments_are_errors() {
        let args = [
            OsString::from("--config"),
            OsString::from_vec(b"\xff".to_vec()),
        ];
        let error = ServerConfig::load(&args, &no_env).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "argument 2 = \"\u{fffd}\" (from command line): is not valid UTF-8"
        );
    }
}
