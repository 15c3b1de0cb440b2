//! Server shutdown (NOTES "Signals and shutdown"): SIGTERM/SIGINT stop accepting, deliver
//! every echo already owed, close each connection cleanly and exit 0, bounded by
//! SERVER_SHUTDOWN_GRACE; a second signal cuts the drain short.

mod common;
mod models;

use common::{SIGINT, SIGTERM, Server, fill_until_blocked, message, ping, read_to_eof};
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// Checks the shutdown lines: listener first, then `conns` lines starting with `close`
/// (one per connection), the signal pipe, and `shutdown` last of all.
fn assert_shutdown_logged(server: &Server, conns: usize, close: &str) {
    let lines = server.lines();
    let events: Vec<&str> = lines.iter().map(|l| message(l)).collect();
    let listener = events
        .iter()
        .position(|e| *e == "action: close_listener | result: success")
        .unwrap_or_else(|| panic!("no close_listener line\n{}", server.output()));
    let closes: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].starts_with("action: close_connection |"))
        .collect();
    assert!(
        closes.iter().all(|&i| i > listener),
        "close_connection before close_listener"
    );
    let matching = closes
        .iter()
        .filter(|&&i| events[i].starts_with(close))
        .count();
    assert_eq!(
        (closes.len(), matching),
        (conns, conns),
        "close_connection lines (all, starting with `{close}`)\n{}",
        server.output()
    );
    let pipe = events
        .iter()
        .position(|e| *e == "action: close_signal_pipe | result: success")
        .unwrap_or_else(|| panic!("no close_signal_pipe line\n{}", server.output()));
    assert!(
        closes.iter().all(|&i| i < pipe),
        "close_signal_pipe before a close_connection"
    );
    assert_eq!(
        events.last().copied(),
        Some("action: shutdown | result: success"),
        "last line\n{}",
        server.output()
    );
}

/// A server with a 10s grace that has begun its drain after SIGTERM (it logged the closed
/// listener): its one peer has not read anything it wrote (the returned count), so the
/// server still owes it those bytes. A narrow peer: what is owed waits in the server, and
/// what it logged as received stays within the log backlog, whatever this test's reader
/// of it lags on a loaded machine.
fn draining_server() -> (Server, TcpStream, usize) {
    let mut server = Server::start(&[("SERVER_SHUTDOWN_GRACE", "10s")]);
    let mut peer = common::narrow_peer(server.addr);
    let written = fill_until_blocked(&mut peer, 64 << 20);
    server.signal(SIGTERM);
    server.wait_line("action: close_listener | result: success");
    (server, peer, written)
}

/// Every connection was flushed and closed in good order.
const CLOSED_OK: &str = "action: close_connection | result: success | ip: 127.0.0.1";

#[test]
fn sigterm_delivers_every_unread_echo_then_eof() {
    const CONNS: usize = 100;
    let mut server = Server::start(&[("SERVER_LISTEN_BACKLOG", "128")]);
    let mut conns: Vec<TcpStream> = (0..CONNS).map(|_| server.connect()).collect();
    let expected: Vec<String> = (0..CONNS)
        .map(|i| (1..=3).map(|n| format!("conn {i} line {n}\n")).collect())
        .collect();
    for (conn, lines) in conns.iter_mut().zip(&expected) {
        conn.write_all(lines.as_bytes()).expect("write lines");
    }
    // Signal only once the server has read every line: those echoes are owed.
    server.wait_count("action: receive_message | result: success", 3 * CONNS);

    server.signal_and_expect_clean_exit(SIGTERM, Duration::from_secs(1));

    for (i, (conn, lines)) in conns.iter_mut().zip(&expected).enumerate() {
        let got = read_to_eof(conn);
        assert_eq!(String::from_utf8_lossy(&got), *lines, "connection {i}");
    }
    assert_shutdown_logged(&server, CONNS, CLOSED_OK);
}

#[test]
fn sigterm_on_idle_server_exits_0_at_once() {
    let mut server = Server::start(&[]);
    let mut quiet = server.connect();
    ping(&mut quiet, b"hi\n");
    // A well-behaved peer answers the server's FIN with its own: no wait for the grace.
    let peer = thread::spawn(move || {
        let rest = read_to_eof(&mut quiet);
        drop(quiet);
        rest
    });
    server.signal_and_expect_clean_exit(SIGTERM, Duration::from_millis(500));
    assert!(
        peer.join().expect("peer thread").is_empty(),
        "an idle connection gets a clean EOF"
    );
    assert_shutdown_logged(&server, 1, CLOSED_OK);
}

#[test]
fn sigint_shuts_down_like_sigterm() {
    let mut server = Server::start(&[]);
    server.signal_and_expect_clean_exit(SIGINT, Duration::from_millis(500));
    assert_shutdown_logged(&server, 0, CLOSED_OK);
}

#[test]
fn second_signal_forces_exit_during_a_long_drain() {
    let (mut server, _hog, written) = draining_server();
    assert!(
        server.try_wait().is_none(),
        "exited before the 10s grace with {written} bytes owed to a peer\n{}",
        server.output()
    );
    // Draining, not accepting: the listener is closed.
    let refused = TcpStream::connect_timeout(&server.addr, Duration::from_secs(2));
    assert!(
        matches!(&refused, Err(e) if e.kind() == ErrorKind::ConnectionRefused),
        "connect during the drain: {refused:?}"
    );

    let signalled = Instant::now();
    server.signal(SIGINT);
    let status = server.expect_exit(Duration::from_secs(5));
    let took = server.exit_delay(signalled);
    assert!(
        took < Duration::from_secs(1),
        "second signal to exit took {took:?}"
    );
    // A forced close is still a shutdown the process asked for: exit 0
    // (NOTES "Signals and shutdown").
    assert_eq!(status.code(), Some(0), "exit status\n{}", server.output());
    server.wait_line("action: shutdown | result: in_progress | signal: SIGINT | forced: true");
    assert_shutdown_logged(&server, 1, "action: close_connection | result: ");
}

#[test]
fn grace_bounds_the_drain_against_a_peer_that_never_reads() {
    let mut server = Server::start(&[]);
    server.wait_line("shutdown_grace: 500ms");
    let mut hog = server.connect();
    fill_until_blocked(&mut hog, 64 << 20);
    // The 500ms grace plus slack for a loaded machine.
    server.signal_and_expect_clean_exit(SIGTERM, Duration::from_millis(1200));
    // Output was dropped: the server may say so with `fail`, but must log the close.
    assert_shutdown_logged(&server, 1, "action: close_connection | result: ");
}

/// What the server logged as received from its peers (`receive_message | result:
/// success`), each `msg` decoded (README "Protocol and logs") and ended by its newline
/// again: the bytes it owes as echoes, in order.
fn logged_as_received(server: &Server) -> Vec<u8> {
    const RECEIVED: &str = "action: receive_message | result: success | ip: 127.0.0.1 | msg: ";
    // Without every record, the echoes owed cannot be known exactly.
    assert_eq!(
        server.dropped_records(),
        0,
        "log records dropped\n{}",
        server.output()
    );
    let mut owed = Vec::new();
    for line in server.lines() {
        if let Some(msg) = message(&line).strip_prefix(RECEIVED) {
            let decoded = models::unescape(msg)
                .unwrap_or_else(|| panic!("undecodable msg field in {line:?}"));
            owed.extend_from_slice(&decoded);
            owed.push(b'\n');
        }
    }
    owed
}

#[test]
fn drain_ends_as_soon_as_the_peer_has_read_everything() {
    let (mut server, mut late, written) = draining_server();
    // The peer finally reads: everything owed, then the server's FIN (a reset fails here).
    let got = read_to_eof(&mut late);
    // Ours ends the server's wait.
    late.shutdown(std::net::Shutdown::Write).expect("send FIN");
    let read_done = Instant::now();
    // Nothing is owed any more: the server must not sit out the rest of its 10 s grace.
    server.expect_clean_exit_within(read_done, Duration::from_secs(1));

    // The echo is exactly what the server logged as received, in order: not one line
    // lost or repeated by the drain. An unterminated tail is dropped, not logged.
    let owed = logged_as_received(&server);
    assert!(
        !owed.is_empty() && owed.len() <= written,
        "{} bytes logged as received of {written} written\n{}",
        owed.len(),
        server.output()
    );
    if got != owed {
        let same = got.iter().zip(&owed).take_while(|(a, b)| a == b).count();
        panic!(
            "echoed {} bytes, logged {} as received; they part at byte {same} (line {})\n{}",
            got.len(),
            owed.len(),
            got[..same].iter().filter(|&&b| b == b'\n').count(),
            server.output()
        );
    }
    let chunk = common::pattern();
    for (i, piece) in got.chunks(chunk.len()).enumerate() {
        assert!(piece == &chunk[..piece.len()], "echo differs in chunk {i}");
    }
}
