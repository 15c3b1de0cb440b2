//! The client resends a message whose attempt failed (README "Client keys", Resending): a
//! reset, an EOF before a complete echo line, a timed-out connect or no echo within the
//! reply bound, and gives the message up within its budget. Against hostile servers (mock
//! servers on loopback) it takes only the first line as the echo and fails at once on
//! another.

mod client_common;
mod common;

use client_common::{Act, Mock, Seen, attempts, full_listener};
use common::{Proc, WAIT, start_client};
use std::time::{Duration, Instant};

const MESSAGE: &str = "[CLIENT 1] Message N°1";
const SUCCESS: &str =
    "action: receive_message | result: success | client_id: 1 | msg: [CLIENT 1] Message N°1";
const RESEND: &str = "action: receive_message | result: in_progress | client_id: 1";
/// README: every message is given up within 20 s of its first attempt.
const BUDGET: Duration = Duration::from_secs(20);

fn message_line() -> Vec<u8> {
    format!("{MESSAGE}\n").into_bytes()
}

/// Runs a client against `mock` and expects exit 1 after it spent its budget:
/// resends first, then one `fail` line for the message, naming `error`.
fn expect_given_up(mock: &Mock, error: &str) -> Proc {
    let started = Instant::now();
    let mut client = start_client(&mock.addr.to_string(), &[]);
    client.expect_failure(BUDGET + WAIT);
    let took = started.elapsed();
    assert!(
        took >= BUDGET - Duration::from_secs(2) && took < BUDGET + Duration::from_secs(8),
        "gave up after {took:?}\n{}",
        client.output()
    );
    let numbers = attempts(&client, RESEND);
    assert!(numbers.len() >= 2, "{}", client.output());
    assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
    let fail = client.wait_line("action: receive_message | result: fail | client_id: 1");
    assert!(
        fail.contains(&format!("msg: {MESSAGE} |"))
            && fail.contains(&format!("| attempts: {} |", numbers.len() + 1))
            && fail.contains(error),
        "{fail}"
    );
    client.assert_no_line(SUCCESS);
    client
}

#[test]
fn a_message_is_resent_until_the_server_echoes_it() {
    let mock = Mock::start(&[Act::ReadThenClose, Act::Hangup, Act::Echo]);
    let mut client = start_client(&mock.addr.to_string(), &[]);
    client.expect_success(WAIT);
    assert_eq!(attempts(&client, RESEND), [1, 2], "{}", client.output());
    assert_eq!(attempts(&client, "result: in_progress"), [1, 2]);
    client.wait_line(SUCCESS);
    let seen = mock.seen();
    assert!(seen.contains(&Seen::Accepted(3)), "{seen:?}");
    assert!(seen.contains(&Seen::Line(3, message_line())), "{seen:?}");
    client.assert_no_line("result: fail");
}

#[test]
fn a_timed_out_connect_is_retried() {
    // The accept queue is full: the first attempt's SYN is dropped until it times out.
    let (listener, queued) = full_listener();
    let address = listener.local_addr().expect("address").to_string();
    let mut client = start_client(&address, &[]);
    client.wait_line("action: connect | result: in_progress | client_id: 1");
    client.wait_line("| attempt: 1 | retry_in: 50ms | error: connection attempt timed out");
    // Now serve: the connection that filled the queue first, then the client's.
    drop(queued);
    let _mock = Mock::on(listener, &[Act::Hangup, Act::Echo]);
    client.expect_success(WAIT);
    client.wait_line(SUCCESS);
}

#[test]
fn an_echo_cut_short_by_eof_is_resent() {
    let partial = message_line()[..10].to_vec();
    let mock = Mock::start(&[Act::Reply(partial), Act::Echo]);
    let mut client = start_client(&mock.addr.to_string(), &[]);
    client.expect_success(WAIT);
    let resend = client.wait_line(RESEND);
    assert!(
        resend.contains("| attempt: 1 |")
            && resend.contains("after 10 bytes, before a complete echo line"),
        "{resend}"
    );
    client.wait_line(SUCCESS);
}

#[test]
fn a_server_gone_silent_costs_one_reply_bound() {
    // A killed server task sends no reset: the client notices by the 3 s reply bound
    // (README) and resends, here to a server that answers.
    let mock = Mock::start(&[Act::Silent, Act::Echo]);
    let mut client = start_client(&mock.addr.to_string(), &[]);
    let (first, _) = mock.wait_line();
    let silent_since = Instant::now();
    let (second, line) = mock.wait_line();
    let took = silent_since.elapsed();
    assert_eq!((first, second, line), (1, 2, message_line()));
    // The bound runs from the connect, a moment before the mock reported the line.
    assert!(took >= Duration::from_millis(2500), "resent after {took:?}");
    client.expect_success(WAIT);
    let resend = client.wait_line(RESEND);
    assert!(
        resend.contains("| attempt: 1 | retry_in: 50ms | error: no complete echo line in time"),
        "{resend}"
    );
    client.wait_line(SUCCESS);
}

#[test]
fn a_server_that_never_answers_is_given_up_within_the_budget() {
    let mock = Mock::start(&[Act::Silent]);
    let client = expect_given_up(&mock, "no complete echo line in time");
    // 3 s per silent attempt: six attempts fit in the budget.
    assert_eq!(attempts(&client, RESEND), [1, 2, 3, 4, 5]);
}

#[test]
fn an_echo_never_completed_is_given_up_within_the_budget() {
    let partial = message_line()[..MESSAGE.len() - 3].to_vec();
    let mock = Mock::start(&[Act::Reply(partial)]);
    expect_given_up(&mock, "before a complete echo line");
}

/// Runs a client against a mock that answers with `act` and expects the first attempt
/// to succeed.
fn expect_accepted_at_once(act: Act) {
    let mock = Mock::start(&[act]);
    let mut client = start_client(&mock.addr.to_string(), &[]);
    client.expect_success(WAIT);
    client.wait_line(SUCCESS);
    client.assert_no_line("in_progress");
}

#[test]
fn an_echo_in_one_byte_pieces_is_accepted() {
    expect_accepted_at_once(Act::EchoByteByByte);
}

#[test]
fn bytes_after_the_echo_line_are_ignored() {
    let extra = b"more\n[CLIENT 1] Message N\xc2\xb02\nand no newline".to_vec();
    expect_accepted_at_once(Act::EchoThen(extra));
}

#[test]
fn a_different_line_fails_at_once_naming_both() {
    let mock = Mock::start(&[Act::Reply(
        b"[CLIENT 1] Message N\xc2\xb09 \x1b[31mred\r\n".to_vec(),
    )]);
    let mut client = start_client(&mock.addr.to_string(), &[]);
    client.expect_failure(WAIT);
    let fail = client.wait_line("action: receive_message | result: fail | client_id: 1");
    assert!(
        fail.contains(&format!("| msg: {MESSAGE} |"))
            && fail.contains(r"| received: [CLIENT 1] Message N°9 \x1b[31mred\r |"),
        "{fail}"
    );
    client.assert_no_line("in_progress");
    assert_eq!(mock.seen().len(), 2, "one connection, one line");
}

#[test]
fn a_reply_longer_than_the_message_without_newline_fails_at_once() {
    let mock = Mock::start(&[Act::Reply(vec![b'x'; 4096])]);
    let mut client = start_client(&mock.addr.to_string(), &[]);
    client.expect_failure(WAIT);
    let fail = client.wait_line("action: receive_message | result: fail | client_id: 1");
    assert!(fail.contains("| received: xxxx"), "{fail}");
    client.assert_no_line("in_progress");
}

#[test]
fn a_server_restarted_under_the_client_loses_no_message() {
    let port = common::free_port().to_string();
    let mut server = common::Server::start(&[("SERVER_PORT", &port)]);
    let mut client = server.client(&[("CLI_LOOP_AMOUNT", "40"), ("CLI_LOOP_PERIOD", "100ms")]);
    // Stopped early on: the client has about 4 s of messages left to send.
    client.wait_line("msg: [CLIENT 1] Message N°3");
    server.signal_and_expect_clean_exit(common::SIGTERM, Duration::from_secs(2));
    // While no server listens, the client keeps resending the message in flight.
    client.wait_line("action: connect | result: in_progress | client_id: 1");
    let restarted = common::Server::start(&[("SERVER_PORT", &port)]);
    client.expect_success(BUDGET + WAIT);
    for n in 1..=40 {
        client.wait_line(&format!(
            "action: receive_message | result: success | client_id: 1 | msg: [CLIENT 1] Message N°{n}"
        ));
    }
    restarted.wait_line("msg: [CLIENT 1] Message N°40");
    client.assert_no_line("result: fail");
}
