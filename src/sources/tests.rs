//! Unit tests of the value sources: precedence, origins, config file paths.

use super::*;
use std::os::unix::ffi::OsStringExt;

const PORT: Key = Key::new("default", "server_port", "SERVER_PORT");

fn no_env(_: &str) -> Option<OsString> {
    None
}

fn from_text<'a>(text: &str, env: EnvLookup<'a>) -> Result<Sources<'a>, ConfigError> {
    Sources::from_bytes(Path::new("test.ini"), text.as_bytes(), &[PORT], env)
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
    let defaults = Sources::load(&missing, &[PORT], &no_env).expect("default path may be absent");
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
    let env = |name: &str| (name == "SERVER_PORT").then(|| OsString::from_vec(b"1\xff".to_vec()));
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
        let error = Sources::load(&explicit, &[PORT], &no_env)
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
