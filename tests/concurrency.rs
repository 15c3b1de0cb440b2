//! Many connections at once on the single-threaded reactor: 500 peers whose partial lines
//! interleave still each get their own lines back, in order, within a bounded time.

mod common;

use common::{Server, read_n};
use std::io::Write;
use std::time::{Duration, Instant};

#[test]
fn five_hundred_connections_with_interleaved_lines() {
    const CONNS: usize = 500;
    const ROUNDS: usize = 4;
    // A backlog that holds the burst of connects, so none waits for a SYN retry.
    let server = Server::start(&[("SERVER_LISTEN_BACKLOG", "512")]);
    let started = Instant::now();
    let mut conns: Vec<_> = (0..CONNS).map(|_| server.connect()).collect();
    for round in 0..ROUNDS {
        // First half of a line on every connection, then every second half: each
        // connection's framing state must stay its own.
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.write_all(format!("conn {i} round {round} ").as_bytes())
                .expect("write head");
        }
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.write_all(format!("tail {i}\n").as_bytes())
                .expect("write tail");
        }
    }
    for (i, conn) in conns.iter_mut().enumerate() {
        let expected: String = (0..ROUNDS)
            .map(|r| format!("conn {i} round {r} tail {i}\n"))
            .collect();
        assert_eq!(
            String::from_utf8_lossy(&read_n(conn, expected.len())),
            expected,
            "connection {i}"
        );
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "500 connections took {elapsed:?}"
    );
    server.wait_count(
        "action: accept_connections | result: success | ip: 127.0.0.1",
        CONNS,
    );
}
