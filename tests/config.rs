//! Configuration errors (README, "Programs", the key tables and "Rules for config files,
//! arguments and values"): each bad value makes the program exit 2 with a message naming
//! the key, the value and where it came from (the file or the env).

mod common;

use common::{CLIENT, Proc, SERVER, Server, TempFile, start_client_with_config};
use std::panic;
use std::time::Duration;

/// Where the bad setting is put.
#[derive(Clone, Copy)]
enum Placement<'a> {
    /// A config file with these contents; the message must name the file's path.
    File(&'a str),
    /// An environment variable (key, value); the message must say it came from the env.
    Env(&'a str, &'a str),
}

/// A bad setting: its name for failure messages, where it is put, what the message names.
type Case<'a> = (&'a str, Placement<'a>, &'a [&'a str]);

/// Checks every case with [`assert_config_error`]; one failure does not hide the others,
/// and each case's own panic (printed above the final one) says what went wrong.
fn assert_config_errors(program: &str, cases: &[Case]) {
    let failed: Vec<&str> = cases
        .iter()
        .filter(|(case, source, needles)| {
            panic::catch_unwind(|| assert_config_error(program, case, *source, needles)).is_err()
        })
        .map(|(case, ..)| *case)
        .collect();
    assert!(failed.is_empty(), "failed cases: {failed:?}");
}

/// Runs `program` with `source` on top of otherwise valid settings and checks that it
/// exits 2 and that its output (stdout + stderr) names every one of `needles`.
fn assert_config_error(program: &str, case: &str, source: Placement, needles: &[&str]) {
    let text = match source {
        Placement::File(text) => text,
        Placement::Env(..) => "",
    };
    let file = TempFile::new("bad.ini", text);
    let path = file.path().to_string();
    let valid = if program == SERVER {
        [("SERVER_PORT", "0"), ("SERVER_BIND_IP", "127.0.0.1")]
    } else {
        [
            ("CLI_SERVER_ADDRESS", "127.0.0.1:9"),
            ("CLI_LOOP_PERIOD", "10ms"),
        ]
    };
    // The env wins over the file: leave the keys the file sets to the file.
    let lower_text = text.to_lowercase();
    let mut env: Vec<(&str, &str)> = valid
        .into_iter()
        .filter(|(key, _)| !lower_text.contains(&key.to_lowercase()))
        .collect();
    if let Placement::Env(key, value) = source {
        env.push((key, value));
    }
    let mut proc = Proc::spawn(program, &["--config", &path], &env, vec![file]);
    let timeout = Duration::from_secs(5);
    let status = proc
        .wait_exit(timeout)
        .unwrap_or_else(|| panic!("{case}: did not exit within {timeout:?}\n{}", proc.output()));
    let output = proc.full_output();
    assert_eq!(
        status.code(),
        Some(2),
        "{case}: exit status {status:?}\n{output}"
    );
    let lower = output.to_lowercase();
    let mut wanted: Vec<&str> = needles.to_vec();
    match source {
        Placement::File(_) => wanted.push(&path),
        Placement::Env(..) => wanted.push("env"),
    }
    for needle in wanted {
        // configparser lowercases keys read from a file, so names match in any case.
        assert!(
            lower.contains(&needle.to_lowercase()),
            "{case}: message does not name {needle:?}\n{output}"
        );
    }
}

/// Runs `program` with `args` and `env` and expects exit 2 naming `needle`.
fn assert_usage_error(program: &str, args: &[&str], env: &[(&str, &str)], needle: &str) {
    let mut proc = Proc::spawn(program, args, env, Vec::new());
    proc.expect_exit_code(Duration::from_secs(5), 2);
    assert!(
        proc.full_output().contains(needle),
        "message does not name {needle:?}\n{}",
        proc.output()
    );
}

#[test]
fn server_rejects_bad_settings() {
    assert_config_errors(
        SERVER,
        &[
            (
                "bad port from env",
                Placement::Env("SERVER_PORT", "abc"),
                &["SERVER_PORT", "abc"],
            ),
            (
                "out-of-range port from file",
                Placement::File("[DEFAULT]\nSERVER_PORT = 70000\n"),
                &["SERVER_PORT", "70000"],
            ),
            (
                "bad backlog",
                Placement::Env("SERVER_LISTEN_BACKLOG", "lots"),
                &["SERVER_LISTEN_BACKLOG", "lots"],
            ),
            (
                "bad level from env",
                Placement::Env("LOGGING_LEVEL", "LOUD"),
                &["LOGGING_LEVEL", "LOUD"],
            ),
            (
                "bad level from file",
                Placement::File("[DEFAULT]\nLOGGING_LEVEL = LOUD\n"),
                &["LOGGING_LEVEL", "LOUD"],
            ),
            (
                "bad duration",
                Placement::Env("SERVER_SHUTDOWN_GRACE", "soon"),
                &["SERVER_SHUTDOWN_GRACE", "soon"],
            ),
            (
                // Go's syntax: only "0" may go without a unit.
                "duration without unit",
                Placement::Env("SERVER_SHUTDOWN_GRACE", "500"),
                &["SERVER_SHUTDOWN_GRACE", "500"],
            ),
            (
                "bad max line",
                Placement::Env("SERVER_MAX_LINE_BYTES", "big"),
                &["SERVER_MAX_LINE_BYTES", "big"],
            ),
            (
                "bad max connections",
                Placement::Env("SERVER_MAX_CONNECTIONS", "none"),
                &["SERVER_MAX_CONNECTIONS", "none"],
            ),
            (
                "unknown key in file",
                Placement::File("[DEFAULT]\nSERVER_PORT = 0\nSERVER_PROT = 1234\n"),
                &["SERVER_PROT"],
            ),
            (
                "signed port",
                Placement::Env("SERVER_PORT", "+80"),
                &["SERVER_PORT", "+80", "sign"],
            ),
            (
                "empty integer",
                Placement::File("[DEFAULT]\nSERVER_MAX_CONNECTIONS =\n"),
                &["server_max_connections", "empty"],
            ),
            (
                // README: durations take no sign, though Go's take one.
                "signed duration",
                Placement::Env("SERVER_SHUTDOWN_GRACE", "+1s"),
                &["SERVER_SHUTDOWN_GRACE", "+1s", "sign"],
            ),
            (
                "duration overflow",
                Placement::Env(
                    "SERVER_SHUTDOWN_GRACE",
                    "340282366920938463463374607431768211.999us",
                ),
                &[
                    "SERVER_SHUTDOWN_GRACE",
                    "340282366920938463463374607431768211.999us",
                ],
            ),
            (
                "duplicated key",
                Placement::File("[DEFAULT]\nSERVER_PORT = 0\nserver_port = 1\n"),
                &["server_port", "twice"],
            ),
            (
                "duplicated section",
                Placement::File("[DEFAULT]\nSERVER_PORT = 0\n[DEFAULT]\n"),
                &["[DEFAULT]", "twice"],
            ),
            (
                "unknown empty section",
                Placement::File("[DEFAULT]\nSERVER_PORT = 0\n[extra]\n"),
                &["[extra]", "unknown section"],
            ),
            (
                "no inline comments",
                Placement::File("[DEFAULT]\nSERVER_PORT = 0 # the port\n"),
                &["server_port", "0 # the port"],
            ),
        ],
    );
}

#[test]
fn server_unreadable_explicit_config() {
    let path = "/nonexistent/tp0/server.ini";
    assert_usage_error(SERVER, &["--config", path], &[], path);
}

#[test]
fn server_unreadable_config_from_env() {
    let path = "/nonexistent/tp0/from-env.ini";
    assert_usage_error(SERVER, &[], &[("SERVER_CONFIG_FILE", path)], path);
}

#[test]
fn server_unknown_argument() {
    assert_usage_error(
        SERVER,
        &["--frobnicate"],
        &[("SERVER_PORT", "0")],
        "--frobnicate",
    );
}

#[test]
fn client_rejects_bad_settings() {
    assert_config_errors(
        CLIENT,
        &[
            (
                "bad amount from env",
                Placement::Env("CLI_LOOP_AMOUNT", "many"),
                &["CLI_LOOP_AMOUNT", "many"],
            ),
            (
                "negative amount",
                Placement::Env("CLI_LOOP_AMOUNT", "-3"),
                &["CLI_LOOP_AMOUNT", "-3"],
            ),
            (
                "bad amount from file",
                Placement::File("id = 1\n[loop]\namount = many\nperiod = 10ms\n"),
                &["amount", "many"],
            ),
            (
                "bad period",
                Placement::Env("CLI_LOOP_PERIOD", "soon"),
                &["CLI_LOOP_PERIOD", "soon"],
            ),
            (
                "bad id",
                Placement::Env("CLI_ID", "two words"),
                &["CLI_ID", "two words"],
            ),
            (
                "bad address",
                Placement::Env("CLI_SERVER_ADDRESS", "no-port-here"),
                &["CLI_SERVER_ADDRESS", "no-port-here"],
            ),
            (
                "bad log level",
                Placement::Env("CLI_LOG_LEVEL", "LOUD"),
                &["CLI_LOG_LEVEL", "LOUD"],
            ),
            (
                "period over the bound",
                Placement::Env("CLI_LOOP_PERIOD", "25h"),
                &["CLI_LOOP_PERIOD", "25h", "24h0m0s"],
            ),
            (
                "id with a bar",
                Placement::Env("CLI_ID", "a|b"),
                &["CLI_ID", "a|b"],
            ),
        ],
    );
}

#[test]
fn client_unreadable_explicit_config() {
    let path = "/nonexistent/tp0/client.ini";
    assert_usage_error(CLIENT, &["--config", path], &[], path);
}

#[test]
fn client_unreadable_config_from_env() {
    let path = "/nonexistent/tp0/client-env.ini";
    assert_usage_error(CLIENT, &[], &[("CLI_CONFIG_FILE", path)], path);
}

#[test]
fn server_env_wins_over_file_and_file_over_defaults() {
    let file = "[DEFAULT]\nSERVER_LISTEN_BACKLOG = 7\nLOGGING_LEVEL = DEBUG\nSERVER_MAX_LINE_BYTES = 4096\n";
    let server = Server::start_with_config(file, false, &[("LOGGING_LEVEL", "INFO")]);
    server.wait_line(
        "action: config | result: success | port: 0 | listen_backlog: 7 | logging_level: INFO",
    );
    server.wait_line("| max_connections: 10000 | max_line_bytes: 4096 | shutdown_grace: 500ms");
}

#[test]
fn server_config_file_named_by_env() {
    let file = "[DEFAULT]\nSERVER_LISTEN_BACKLOG = 9\n";
    let server = Server::start_with_config(file, true, &[]);
    server.wait_line("action: config | result: success | port: 0 | listen_backlog: 9 |");
}

#[test]
fn client_env_wins_over_file_and_file_over_defaults() {
    let file = "id = 3\n[loop]\namount = 0\nperiod = 250ms\n[log]\nlevel = DEBUG\n";
    let env = [
        ("CLI_ID", "9"),
        ("CLI_SERVER_ADDRESS", "127.0.0.1:9"),
        ("CLI_LOG_LEVEL", "INFO"),
    ];
    let mut client = start_client_with_config(file, false, &env);
    let line = client.wait_line("action: config | result: success");
    assert!(
        line.ends_with("| client_id: 9 | server_address: 127.0.0.1:9 | loop_amount: 0 | loop_period: 250ms | log_level: INFO"),
        "config line: {line:?}"
    );
    // Zero messages: nothing to send, nothing to connect to.
    client.expect_success(Duration::from_secs(5));
}

#[test]
fn client_config_file_named_by_env() {
    let file = "id = 5\n[loop]\namount = 0\n";
    let env = [("CLI_SERVER_ADDRESS", "127.0.0.1:9")];
    let mut client = start_client_with_config(file, true, &env);
    client.wait_line("action: config | result: success | client_id: 5 |");
    client.expect_success(Duration::from_secs(5));
}

#[test]
fn server_binds_all_interfaces_by_default() {
    // No SERVER_BIND_IP: the default is every interface; loopback still reaches it.
    let config = TempFile::new("server.ini", "");
    let env = [("SERVER_PORT", "0")];
    let server = Proc::spawn(SERVER, &["--config", config.path()], &env, Vec::new());
    let line = server.wait_line("action: listen | result: success | address: ");
    let port = line
        .split("address: 0.0.0.0:")
        .nth(1)
        .unwrap_or_else(|| panic!("not bound to 0.0.0.0: {line:?}"));
    let addr = format!("127.0.0.1:{port}").parse().expect("port");
    common::ping(&mut common::connect(addr), b"via loopback\n");
}

/// The budget must be able to hold one whole line (README, "Server keys"): a line limit
/// beyond the budget is refused naming both keys, their values and where each came from;
/// the smallest budget with the default line limit, and a line limit equal to the
/// budget, still start.
#[test]
fn server_refuses_a_line_limit_beyond_the_budget() {
    let mut env = vec![
        ("SERVER_PORT", "0"),
        ("SERVER_BIND_IP", "127.0.0.1"),
        ("SERVER_MAX_BUFFERED", "65536"),
        ("SERVER_MAX_LINE_BYTES", "1048576"),
    ];
    let mut proc = Proc::spawn(SERVER, &["--config", "/dev/null"], &env, Vec::new());
    proc.expect_exit_code(Duration::from_secs(5), 2);
    let output = proc.full_output();
    for needle in [
        "SERVER_MAX_LINE_BYTES = \"1048576\" (from environment variable SERVER_MAX_LINE_BYTES)",
        "SERVER_MAX_BUFFERED = \"65536\" (from environment variable SERVER_MAX_BUFFERED)",
    ] {
        assert!(output.contains(needle), "{needle:?} not named\n{output}");
    }

    let file = TempFile::new("budget.ini", "[DEFAULT]\nSERVER_MAX_LINE_BYTES = 65537\n");
    env.truncate(3);
    let mut proc = Proc::spawn(SERVER, &["--config", file.path()], &env, Vec::new());
    proc.expect_exit_code(Duration::from_secs(5), 2);
    let output = proc.full_output();
    for needle in [
        format!(
            "server_max_line_bytes = \"65537\" (from file {})",
            file.path()
        ),
        "SERVER_MAX_BUFFERED = \"65536\" (from environment variable SERVER_MAX_BUFFERED)".into(),
    ] {
        assert!(output.contains(&needle), "{needle:?} not named\n{output}");
    }

    for line_limit in [None, Some("65536")] {
        let mut env = env.clone();
        env.extend(line_limit.map(|limit| ("SERVER_MAX_LINE_BYTES", limit)));
        let server = Proc::spawn(SERVER, &["--config", "/dev/null"], &env, Vec::new());
        server.wait_line("| max_line_bytes: 65536 | shutdown_grace: 500ms | max_buffered: 65536 |");
    }
}
