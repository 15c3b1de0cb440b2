//! `server --health-check` and `server --ready-check` (NOTES.md "Health check and
//! probes"): the loop itself answers on the status socket, outside the connection
//! cap. Liveness passes at the cap and fails within the bound when the loop is
//! stopped; readiness fails at the cap; a port the probe cannot know is a usage error.

mod common;

use common::{Proc, SERVER, Server, TempFile, WAIT};
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

/// Runs `flag` (`--health-check`, `--ready-check`) against loopback `port`; returns
/// its exit code, how long it took, and the probe's process for its output.
fn run_probe(flag: &str, port: u16, extra_env: &[(&str, &str)]) -> (i32, Duration, Proc) {
    let port = port.to_string();
    let mut env = vec![
        ("SERVER_PORT", port.as_str()),
        ("SERVER_BIND_IP", "127.0.0.1"),
    ];
    env.extend_from_slice(extra_env);
    let config = TempFile::new("health.ini", "");
    let path = config.path().to_string();
    let started = Instant::now();
    let mut probe = Proc::spawn(SERVER, &[flag, "--config", &path], &env, vec![config]);
    let status = probe.expect_exit(WAIT);
    let took = probe.exit_delay(started);
    (status.code().unwrap_or(-1), took, probe)
}

#[test]
fn a_live_server_is_healthy_and_ready_and_the_probe_takes_no_slot() {
    let server = Server::start(&[("SERVER_MAX_CONNECTIONS", "2")]);
    let mut peer = server.connect();
    common::ping(&mut peer, b"first\n");
    for flag in ["--health-check", "--ready-check"] {
        let (code, took, probe) = run_probe(flag, server.addr.port(), &[]);
        assert_eq!(code, 0, "{flag}: {}", probe.full_output());
        assert!(took < Duration::from_secs(1), "{flag} took {took:?}");
        assert!(probe.full_output().is_empty(), "silent on success");
    }
    // The second client slot is still free, and probes leave no log line.
    common::ping(&mut server.connect(), b"after the probes\n");
    common::ping(&mut peer, b"still here\n");
    server.wait_line("msg: still here");
    assert_eq!(
        server.count_lines("action: accept_connections | result: success"),
        2,
        "{}",
        server.output()
    );
}

#[test]
fn at_the_cap_it_is_alive_but_not_ready() {
    let server = Server::start(&[("SERVER_MAX_CONNECTIONS", "4")]);
    let held: Vec<_> = (0..4).map(|_| server.connect()).collect();
    server.wait_line("at SERVER_MAX_CONNECTIONS");
    let (code, took, live) = run_probe("--health-check", server.addr.port(), &[]);
    assert_eq!(code, 0, "{}", live.full_output());
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let (code, _, ready) = run_probe("--ready-check", server.addr.port(), &[]);
    assert_eq!(code, 1, "{}", ready.full_output());
    assert!(
        ready
            .full_output()
            .contains("not ready: not accepting (4 of 4 connections)"),
        "{}",
        ready.full_output()
    );
    drop(held);
}

#[test]
fn a_stopped_loop_fails_within_the_bound() {
    let mut server = Server::start(&[]);
    server.signal(libc::SIGSTOP);
    let (code, took, probe) = run_probe("--health-check", server.addr.port(), &[]);
    server.signal(libc::SIGCONT);
    assert_eq!(code, 1, "{}", probe.full_output());
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        probe.full_output().contains("no answer within"),
        "{}",
        probe.full_output()
    );
    let (code, _, probe) = run_probe("--health-check", server.addr.port(), &[]);
    assert_eq!(code, 0, "running again: {}", probe.full_output());
}

#[test]
fn no_server_is_unhealthy() {
    let (code, took, probe) = run_probe("--health-check", common::free_port(), &[]);
    assert_eq!(code, 1, "{}", probe.full_output());
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(probe.full_output().contains("server --health-check"));
}

#[test]
fn something_else_on_the_status_socket_is_unhealthy() {
    use std::os::linux::net::SocketAddrExt;
    let port = common::free_port();
    let name = tp0::health::socket_name("127.0.0.1".parse().expect("ip"), port);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name.as_bytes()[1..])
        .expect("abstract name");
    let other = UnixListener::bind_addr(&addr).expect("bind the name");
    let answer = std::thread::spawn(move || {
        let (mut stream, _) = other.accept().expect("the probe connected");
        stream.write_all(b"hello\n").expect("write");
    });
    let (code, _, probe) = run_probe("--health-check", port, &[]);
    answer.join().expect("other server");
    assert_eq!(code, 1, "{}", probe.full_output());
    assert!(
        probe.full_output().contains("not a status line"),
        "{}",
        probe.full_output()
    );
}

#[test]
fn a_port_the_probe_cannot_know_is_a_usage_error() {
    let (code, _, probe) = run_probe("--health-check", 0, &[]);
    assert_eq!(code, 2, "{}", probe.full_output());
    assert!(
        probe.full_output().contains("SERVER_PORT is 0"),
        "{}",
        probe.full_output()
    );
}

#[test]
fn bad_config_is_a_usage_error() {
    let (code, _, probe) = run_probe("--ready-check", 1, &[("SERVER_PORT", "99999")]);
    assert_eq!(code, 2, "{}", probe.full_output());
    assert!(probe.full_output().contains("SERVER_PORT"));
}
