//! Unit tests of the typed configuration: defaults, environment overrides, errors.

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
