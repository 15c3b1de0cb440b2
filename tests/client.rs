//! The client (README "Client keys", NOTES "The client"): one connection per message,
//! checks each echo, retries a server that starts late, and shuts down at once on SIGTERM
//! in every phase: waiting its period, backing off, connecting, and waiting for an echo.

mod client_common;
mod common;

use client_common::{Act, Mock, attempts, full_listener};
use common::{Proc, SIGTERM, Server, WAIT, free_port, start_client};
use std::time::Duration;

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
    client.assert_no_line("in_progress");
}

#[test]
fn client_started_before_the_server_retries_with_backoff_and_succeeds() {
    let port = free_port().to_string();
    let mut client = start_client(&format!("127.0.0.1:{port}"), &[]);
    let retry = "action: connect | result: in_progress | client_id: 1";
    client.wait_line(&format!("{retry} | server_address: 127.0.0.1:{port}"));
    let server = Server::start(&[("SERVER_PORT", &port)]);
    client.expect_success(WAIT);
    client.wait_line(
        "action: receive_message | result: success | client_id: 1 | msg: [CLIENT 1] Message N°1",
    );
    server.wait_line("msg: [CLIENT 1] Message N°1");
    // Attempts 1, 2, … each refused, each logged with the backoff before the next.
    let numbers = attempts(&client, retry);
    let expected: Vec<u32> = (1..=numbers.len() as u32).collect();
    assert_eq!(numbers, expected, "{}", client.output());
    let backoffs = ["50ms", "100ms", "200ms", "400ms", "800ms", "1s"];
    let lines = client.lines();
    let retries = lines.iter().filter(|line| line.contains(retry));
    for (line, attempt) in retries.zip(numbers) {
        let expected = backoffs[(attempt as usize - 1).min(backoffs.len() - 1)];
        assert!(
            line.contains(&format!("| retry_in: {expected} |")),
            "attempt {attempt} should wait {expected}: {line}"
        );
    }
}

#[test]
fn client_without_a_server_fails_with_exit_1_within_its_budget() {
    let port = free_port();
    let started = std::time::Instant::now();
    let mut client = start_client(&format!("127.0.0.1:{port}"), &[]);
    client.expect_failure(Duration::from_secs(40));
    let took = started.elapsed();
    // README: a message is given up within 20 s; the last backoff is at most 1 s.
    assert!(
        (Duration::from_secs(19)..Duration::from_secs(28)).contains(&took),
        "gave up after {took:?}"
    );
    // Refused at once: only the backoffs (50 ms doubling to 1 s) use the budget, which
    // leaves room for 23 attempts after the first, fewer on a slow machine.
    let numbers = attempts(&client, "action: connect | result: in_progress");
    assert!((15..=23).contains(&numbers.len()), "{}", client.output());
    assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
    let fail = client
        .wait_line("action: connect | result: fail | client_id: 1 | server_address: 127.0.0.1");
    assert!(
        fail.contains("msg: [CLIENT 1] Message N°1 |")
            && fail.contains(&format!("| attempts: {} | error: ", numbers.len() + 1)),
        "{fail}"
    );
}

/// SIGTERM to `client`, which must log its shutdown from `phase` and exit 0 well
/// under a second, with the shutdown line last.
fn assert_prompt_shutdown(client: &mut Proc, phase: &str) {
    client.signal_and_expect_clean_exit(SIGTERM, Duration::from_millis(500));
    client.wait_line(&format!(
        "action: shutdown | result: in_progress | client_id: 1 | signal: SIGTERM | phase: {phase}"
    ));
    client.wait_line("action: close_signal_pipe | result: success");
    let lines = client.lines();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.ends_with("action: shutdown | result: success")),
        "last line is not the shutdown line\n{}",
        client.output()
    );
}

fn closed_a_socket(client: &Proc) -> bool {
    let lines = client.lines();
    lines
        .iter()
        .any(|line| line.contains("action: close_connection | result: success | client_id: 1"))
}

#[test]
fn client_sigterm_while_waiting_its_period() {
    let server = Server::start(&[]);
    let mut client = server.client(&[("CLI_LOOP_AMOUNT", "5"), ("CLI_LOOP_PERIOD", "10s")]);
    client.wait_line(
        "action: receive_message | result: success | client_id: 1 | msg: [CLIENT 1] Message N°1",
    );
    assert_prompt_shutdown(&mut client, "waiting");
    assert!(!closed_a_socket(&client), "{}", client.output());
}

#[test]
fn client_sigterm_while_backing_off() {
    // Nobody listens: every connect is refused. After attempt 6 the backoff is 1 s.
    let mut client = start_client(&format!("127.0.0.1:{}", free_port()), &[]);
    client.wait_line("action: connect | result: in_progress | client_id: 1");
    client.wait_line("| attempt: 6 | retry_in: 1s |");
    assert_prompt_shutdown(&mut client, "backoff");
    assert!(!closed_a_socket(&client), "{}", client.output());
}

#[test]
fn client_sigterm_while_connecting() {
    // A full accept queue drops the client's SYN: its connect hangs for 2 s.
    let (listener, _queued) = full_listener();
    let address = listener.local_addr().expect("address").to_string();
    let mut client = start_client(&address, &[("CLI_LOG_LEVEL", "DEBUG")]);
    client.wait_line(&format!(
        "action: connect | result: in_progress | client_id: 1 | attempt: 1 | address: {address}"
    ));
    assert_prompt_shutdown(&mut client, "connecting");
    assert!(closed_a_socket(&client), "{}", client.output());
}

#[test]
fn client_sigterm_while_waiting_for_the_echo() {
    let mock = Mock::start(&[Act::Silent]);
    let mut client = start_client(&mock.addr.to_string(), &[]);
    // The mock has the whole line: the client sent it and waits for the echo.
    let (_, line) = mock.wait_line();
    assert_eq!(line, "[CLIENT 1] Message N°1\n".as_bytes());
    assert_prompt_shutdown(&mut client, "receiving");
    // Its socket was open: the client says it closed it (README "Protocol and logs").
    assert!(closed_a_socket(&client), "{}", client.output());
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
