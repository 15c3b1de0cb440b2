//! Idle connections are closed after SERVER_IDLE_TIMEOUT (NOTES "Idle timeout"), through
//! the close path, so silent sockets cannot hold every slot.

mod common;

use common::{Server, connect, ping, read_to_eof};
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn silent_sockets_give_their_slots_back() {
    let server = Server::start(&[
        ("SERVER_MAX_CONNECTIONS", "4"),
        ("SERVER_IDLE_TIMEOUT", "1s"),
    ]);
    let mut silent: Vec<_> = (0..4).map(|_| server.connect()).collect();
    server.wait_count("action: accept_connections | result: success", 4);
    // Waits in the backlog until an idle slot is freed.
    let started = Instant::now();
    let mut fifth = connect(server.addr);
    fifth.write_all(b"let me in\n").expect("write");
    let echo = common::read_n(&mut fifth, 10);
    let waited = started.elapsed();
    assert_eq!(echo, b"let me in\n");
    assert!(
        waited < Duration::from_secs(3),
        "fifth peer echoed after {waited:?}\n{}",
        server.output()
    );
    server.wait_count("action: idle_timeout | result: success | ip: 127.0.0.1", 4);
    // Each silent peer got a clean EOF, and its FIN ends the server's wait.
    for socket in &mut silent {
        assert!(read_to_eof(socket).is_empty());
    }
    ping(&mut fifth, b"still here\n");
}

#[test]
fn zero_disables_the_idle_timeout() {
    let server = Server::start(&[("SERVER_IDLE_TIMEOUT", "0")]);
    server.wait_line("idle_timeout: 0s");
    let mut quiet = server.connect();
    ping(&mut quiet, b"hi\n");
    common::assert_nothing_read(&mut quiet, Duration::from_millis(1500), "no idle close");
    ping(&mut quiet, b"still open\n");
}
