//! Limits: SERVER_MAX_LINE_BYTES (README "Server keys"), where a line longer than the limit
//! costs only its own connection; SERVER_MAX_CONNECTIONS (README), past which new peers
//! wait in the backlog, without the server spinning, until a connection closes.

mod common;

use common::{Server, assert_nothing_read, ping, read_n, read_until_closed, wakeups};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const MAX: &str = "1024";

/// A server at the `MAX` line limit, and a connection to it.
fn limited_server() -> (Server, TcpStream) {
    let server = Server::start(&[("SERVER_MAX_LINE_BYTES", MAX)]);
    let stream = server.connect();
    (server, stream)
}

/// Sends `bytes` and expects the server to close the connection without echoing any of
/// them back, and to log why (a crash would close it too); `what` names them in the
/// failure message.
fn assert_closed_without_echo(server: &Server, stream: &mut TcpStream, bytes: &[u8], what: &str) {
    // The server may close while this is in flight; what matters is what comes back.
    let _ = stream.write_all(bytes);
    let rest = read_until_closed(stream);
    assert!(rest.is_empty(), "got {} bytes of {what} back", rest.len());
    server.wait_line("action: receive_message | result: fail | ip: 127.0.0.1 | error: ");
}

#[test]
fn over_long_line_closes_only_its_connection() {
    let (server, mut before) = limited_server();
    ping(&mut before, b"opened before\n");

    let mut offender = server.connect();
    ping(&mut offender, b"a fine line first\n");
    let mut long = vec![b'x'; 2000];
    long.push(b'\n');
    assert_closed_without_echo(&server, &mut offender, &long, "the over-long line");

    ping(&mut before, b"still served\n");
    let mut after = server.connect();
    ping(&mut after, b"opened after\n");
}

#[test]
fn line_of_exactly_the_limit_is_echoed() {
    let (_server, mut stream) = limited_server();
    // The limit counts the bytes before the newline.
    let mut line = vec![b'y'; 1024];
    line.push(b'\n');
    ping(&mut stream, &line);
}

#[test]
fn line_one_byte_over_the_limit_is_refused() {
    let (server, mut stream) = limited_server();
    let mut line = vec![b'z'; 1025];
    line.push(b'\n');
    assert_closed_without_echo(&server, &mut stream, &line, "a 1025-byte line");
}

#[test]
fn over_long_line_is_cut_off_before_its_newline_arrives() {
    let (server, mut stream) = limited_server();
    // No newline ever: the server must not wait (and buffer) for one.
    assert_closed_without_echo(&server, &mut stream, &[b'w'; 4096], "an over-long line");
}

#[test]
fn max_connections_makes_extra_peers_wait_in_the_backlog() {
    let server = Server::start(&[("SERVER_MAX_CONNECTIONS", "2")]);
    let mut first = server.connect();
    let mut second = server.connect();
    ping(&mut first, b"one\n");
    ping(&mut second, b"two\n");

    // The kernel completes the handshake; the server must leave it in the backlog.
    let mut third = server.connect();
    third.write_all(b"three\n").expect("write");
    let woken = wakeups(server.pid());
    assert_nothing_read(
        &mut third,
        Duration::from_millis(500),
        "a third connection was served at max 2",
    );
    // A listener that stays readable must not make the loop spin.
    let woken = wakeups(server.pid()) - woken;
    assert!(
        woken <= 2,
        "server at its connection limit woke up {woken} times in 0.5 s"
    );

    drop(first);
    assert_eq!(
        read_n(&mut third, 6),
        b"three\n",
        "served once a slot freed up"
    );
    ping(&mut second, b"still two\n");
}
