//! `server --health-check` (SPEC §10): exit 0 against a live server with one INFO line
//! for the probe, exit 1 within about a second against a closed port, a listener whose
//! loop never answers, or something that is not our server; exit 2 on bad config.

mod client_common;
mod common;

use client_common::{Act, Mock, Seen};
use common::{Proc, SERVER, Server, TempFile, WAIT, free_port, message};
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Runs the probe against loopback `port`, returns its exit code and how long it took.
fn health_check(port: u16, extra_env: &[(&str, &str)]) -> (i32, Duration, Proc) {
    let port = port.to_string();
    let mut env = vec![("SERVER_PORT", port.as_str())];
    env.extend_from_slice(extra_env);
    let config = TempFile::new("health.ini", "");
    let path = config.path().to_string();
    let started = Instant::now();
    let mut probe = Proc::spawn(
        SERVER,
        &["--health-check", "--config", &path],
        &env,
        vec![config],
    );
    let status = probe.expect_exit(WAIT);
    let took = probe.exit_delay(started);
    (status.code().unwrap_or(-1), took, probe)
}

#[test]
fn live_server_is_healthy_and_logs_the_probe_as_one_info_line() {
    let server = Server::start(&[]);
    let accepts_before = server
        .lines()
        .iter()
        .filter(|l| message(l).starts_with("action: accept_connections"))
        .count();
    let (code, took, probe) = health_check(server.addr.port(), &[]);
    assert_eq!(code, 0, "probe output: {}", probe.full_output());
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        probe.lines().is_empty(),
        "the probe prints nothing on success"
    );
    server.wait_count(
        "action: accept_connections | result: success | ip: 127.0.0.1",
        accepts_before + 1,
    );
    // A later echo orders the log: every line of the probe is written by then.
    let mut peer = server.connect();
    common::ping(&mut peer, b"after probe\n");
    server.wait_line("msg: after probe");
    let lines = server.lines();
    let probe_lines: Vec<&String> = lines
        .iter()
        .skip_while(|l| !message(l).starts_with("action: accept_connections"))
        .take_while(|l| !l.contains("msg: after probe"))
        .filter(|l| !l.contains(" DEBUG "))
        .collect();
    assert_eq!(
        probe_lines.len(),
        2,
        "one accept line for the probe, one for the later peer:\n{}",
        server.output()
    );
    assert!(
        !lines.iter().any(|l| l.contains("result: fail")),
        "{}",
        server.output()
    );
}

#[test]
fn closed_port_is_unhealthy() {
    let (code, took, probe) = health_check(free_port(), &[]);
    assert_eq!(code, 1, "{}", probe.full_output());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(probe.full_output().contains("server --health-check"));
}

#[test]
fn listener_whose_loop_never_answers_is_unhealthy_within_the_bound() {
    // The kernel completes the handshake into the backlog; nobody ever accepts.
    let stuck = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = stuck.local_addr().expect("addr").port();
    let (code, took, probe) = health_check(port, &[]);
    assert_eq!(code, 1, "{}", probe.full_output());
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(2),
        "took {took:?}"
    );
    assert!(
        probe.full_output().contains("no answer within"),
        "{}",
        probe.full_output()
    );
}

#[test]
fn something_else_on_the_port_is_unhealthy() {
    let other = Mock::start(&[Act::Greet(b"hello\n".to_vec())]);
    let (code, _, probe) = health_check(other.addr.port(), &[]);
    assert_eq!(code, 1, "{}", probe.full_output());
    assert!(probe.full_output().contains("unexpected bytes"));
    assert!(
        other.seen().contains(&Seen::Accepted(1)),
        "the probe never connected"
    );
}

#[test]
fn bad_config_is_a_usage_error() {
    let (code, _, probe) = health_check(1, &[("SERVER_PORT", "99999")]);
    assert_eq!(code, 2, "{}", probe.full_output());
    assert!(probe.full_output().contains("SERVER_PORT"));
}

#[test]
fn loopback_follows_the_bind_address() {
    use std::net::IpAddr;
    use tp0::health::loopback_for;
    let cases = [
        ("0.0.0.0", "127.0.0.1"),
        ("::", "::1"),
        ("10.1.2.3", "10.1.2.3"),
    ];
    for (bind, want) in cases {
        let bind: IpAddr = bind.parse().expect("ip");
        assert_eq!(loopback_for(bind).to_string(), want);
    }
}
