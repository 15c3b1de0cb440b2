//! The client (SPEC §4, §6): one connection per message, checks each echo, survives a
//! server that starts late, fails with exit 1 when it cannot succeed, and shuts down at
//! once on SIGTERM whatever it is doing.

mod common;

use common::{SIGTERM, Server, WAIT, free_port, start_client};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

/// A one-shot fake server: accepts one connection, reads one line, answers `reply` (or
/// nothing, holding the connection open for a while). Bounded: gives up after `WAIT`.
fn mock_server(reply: Option<&'static [u8]>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock server");
    let addr = listener.local_addr().expect("mock address");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    thread::spawn(move || {
        let deadline = Instant::now() + WAIT;
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
                Err(_) => return,
            }
        };
        stream.set_nonblocking(false).expect("blocking stream");
        stream.set_read_timeout(Some(WAIT)).expect("read timeout");
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        let _ = reader.read_until(b'\n', &mut line);
        let mut stream = reader.into_inner();
        match reply {
            Some(reply) => {
                let _ = stream.write_all(reply);
            }
            None => thread::sleep(WAIT),
        }
    });
    addr
}

#[test]
fn client_sends_each_message_on_its_own_connection() {
    let server = Server::start(&[]);
    let mut client = server.client(&[("CLI_LOOP_AMOUNT", "3"), ("CLI_LOOP_PERIOD", "50ms")]);
    client.expect_success(WAIT);
    for n in 1..=3 {
        let msg = format!("msg: [CLIENT 1] Message N°{n}");
        client.wait_line(&format!(
            "action: receive_message | result: success | client_id: 1 | {msg}"
        ));
        server.wait_line(&format!(
            "action: receive_message | result: success | ip: 127.0.0.1 | {msg}"
        ));
    }
    client.wait_line("action: loop_finished | result: success | client_id: 1");
    server.wait_count("action: accept_connections | result: success", 3);
}

#[test]
fn client_started_before_the_server_retries_and_succeeds() {
    let port = free_port().to_string();
    let mut client = start_client(&format!("127.0.0.1:{port}"), &[]);
    thread::sleep(Duration::from_millis(300));
    let server = Server::start(&[("SERVER_PORT", &port)]);
    client.expect_success(WAIT);
    client.wait_line(
        "action: receive_message | result: success | client_id: 1 | msg: [CLIENT 1] Message N°1",
    );
    server.wait_line("msg: [CLIENT 1] Message N°1");
}

#[test]
fn client_without_a_server_fails_with_exit_1() {
    let port = free_port();
    let started = Instant::now();
    let mut client = start_client(&format!("127.0.0.1:{port}"), &[]);
    client.expect_failure(Duration::from_secs(20));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "gave up only after {took:?}"
    );
}

#[test]
fn client_fails_with_exit_1_on_a_wrong_echo() {
    let addr = mock_server(Some(b"something else\n"));
    let mut client = start_client(&addr.to_string(), &[]);
    client.expect_failure(WAIT);
}

#[test]
fn client_fails_with_exit_1_when_the_server_hangs_up_without_echo() {
    let addr = mock_server(Some(b""));
    let mut client = start_client(&addr.to_string(), &[]);
    client.expect_exit_code(WAIT, 1);
}

/// SIGTERM to `client`, which must log its shutdown and exit 0 well under a second.
fn assert_prompt_shutdown(client: &mut common::Proc) {
    client.signal_and_expect_clean_exit(SIGTERM, Duration::from_millis(500));
    let lines = client.lines();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.ends_with("action: shutdown | result: success")),
        "last line is not the shutdown line\n{}",
        client.output()
    );
}

#[test]
fn client_sigterm_while_waiting_its_period() {
    let server = Server::start(&[]);
    let mut client = server.client(&[("CLI_LOOP_AMOUNT", "5"), ("CLI_LOOP_PERIOD", "10s")]);
    client.wait_line(
        "action: receive_message | result: success | client_id: 1 | msg: [CLIENT 1] Message N°1",
    );
    assert_prompt_shutdown(&mut client);
}

#[test]
fn client_sigterm_while_connecting() {
    // Nobody listens: the client is in its connect/backoff loop.
    let mut client = start_client(&format!("127.0.0.1:{}", free_port()), &[]);
    client.wait_line("action: config | result: success");
    thread::sleep(Duration::from_millis(300));
    assert_prompt_shutdown(&mut client);
}

#[test]
fn client_sigterm_while_reading() {
    // The mock reads the message and never answers: the client is waiting for its echo.
    let addr = mock_server(None);
    let mut client = start_client(&addr.to_string(), &[]);
    client.wait_line("action: config | result: success");
    thread::sleep(Duration::from_millis(300));
    assert_prompt_shutdown(&mut client);
    // Its socket was open: the client says it closed it (SPEC §5).
    client.wait_line("action: close_connection | result: success");
}

#[test]
fn client_resolves_a_host_name() {
    let server = Server::start(&[]);
    let address = format!("localhost:{}", server.addr.port());
    let mut client = start_client(&address, &[("CLI_LOOP_AMOUNT", "2")]);
    client.expect_success(WAIT);
    let echoed = client
        .lines()
        .into_iter()
        .filter(|line| line.contains("action: receive_message | result: success"))
        .count();
    assert_eq!(echoed, 2, "{}", client.output());
}
