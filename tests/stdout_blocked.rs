//! Writing the log never blocks the loop (NOTES "The log backlog"): with stdout a pipe that
//! nobody reads, peers are still echoed and SIGTERM still ends the server; once the pipe is
//! read again, the records that did not fit are reported as dropped.

mod common;

use common::{SIGTERM, Server, connect, ping, read_n};
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

/// Floods the log: `lines` received messages of 200 bytes, each echoed and logged.
fn flood(server: &Server, lines: usize) {
    let mut peer = connect(server.addr);
    let line = [b"x".repeat(199), b"\n".to_vec()].concat();
    let mut reader = peer.try_clone().expect("clone");
    let total = lines * line.len();
    let drain = thread::spawn(move || read_n(&mut reader, total));
    for _ in 0..lines {
        peer.write_all(&line).expect("write");
    }
    assert_eq!(drain.join().expect("reader").len(), total);
}

/// Nothing past the `listen` line was read: the flood's records are in the pipe or dropped.
fn assert_stdout_unread(server: &Server) {
    let lines = server.lines();
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("action: listen | result: success")),
        "stdout was read past the listen line\n{}",
        server.output()
    );
}

/// Far more log than the pipe (64 KiB) and the backlog (1 MiB) hold together.
const FLOOD: usize = 20_000;

#[test]
fn an_unread_stdout_does_not_stop_the_echo_and_drops_are_reported() {
    let mut server = Server::start_with_stdout_unread(&[]);
    flood(&server, FLOOD);
    assert_stdout_unread(&server);
    let started = Instant::now();
    ping(&mut connect(server.addr), b"still echoed\n");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "echo took {took:?}");

    // Reading again: the drop count comes out once the backlog has drained. No new
    // event is needed: the server watches stdout while records wait for it.
    server.resume_stdout();
    let line = server.wait_line("action: log_dropped | result: fail | records: ");
    let records: usize = line
        .rsplit("records: ")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .expect("record count");
    assert!(records > 0 && records <= FLOOD + 10, "{line}");

    server.signal_and_expect_clean_exit(SIGTERM, Duration::from_secs(2));
}

#[test]
fn sigterm_ends_a_server_whose_stdout_is_full() {
    let mut server = Server::start_with_stdout_unread(&[]);
    flood(&server, FLOOD);
    assert_stdout_unread(&server);
    // The 500ms default grace plus one second.
    server.signal_and_expect_clean_exit(SIGTERM, Duration::from_millis(1500));
}
