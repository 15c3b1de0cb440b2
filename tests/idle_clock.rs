//! The idle timeout counts time (NOTES.md "Idle timeout"): a connection is closed as
//! idle only after `SERVER_IDLE_TIMEOUT` without a byte in or out, and no later than
//! 1.25 times that; lingering neighbours, busy neighbours and hung ones move nothing.

mod common;

use common::{Server, ping, read_to_eof};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// Scheduling slack on a loaded machine, on top of the documented bound.
const SLACK: Duration = Duration::from_millis(250);

/// Reads until EOF and returns when it came, panicking on bytes or a reset.
fn eof_at(stream: &mut TcpStream) -> Instant {
    let got = read_to_eof(stream);
    assert!(got.is_empty(), "unexpected bytes before EOF: {got:?}");
    Instant::now()
}

#[test]
fn lingering_neighbours_do_not_age_quiet_peers() {
    // A quarter of 12 s is longer than a linger (2 s): each linger that ends must not
    // bring an idle sweep forward, or five of them close every quiet peer early.
    let server = Server::start(&[
        ("SERVER_IDLE_TIMEOUT", "12s"),
        ("SERVER_MAX_LINE_BYTES", "16"),
        // A linger's end is a DEBUG line.
        ("LOGGING_LEVEL", "DEBUG"),
    ]);
    let mut quiet: Vec<_> = (0..10).map(|_| server.connect()).collect();
    for (i, peer) in quiet.iter_mut().enumerate() {
        ping(peer, format!("quiet {i}\n").as_bytes());
    }
    // Over-long lines make the server send FIN; these peers never answer it, so each
    // lingers until its bound, the ends 100 ms apart.
    let mut lingering = Vec::new();
    for _ in 0..6 {
        let mut peer = server.connect();
        peer.write_all(&[b'x'; 64]).expect("over-long line");
        let mut buf = [0u8; 1];
        assert_eq!(peer.read(&mut buf).expect("FIN"), 0);
        lingering.push(peer);
        thread::sleep(Duration::from_millis(100));
    }
    server.wait_count("action: close_connection | result: success", 6);
    let quiet_for = Duration::from_secs(1);
    common::assert_nothing_read(&mut quiet[0], quiet_for, "quiet peer closed early");
    server.assert_no_line("action: idle_timeout");
    for (i, peer) in quiet.iter_mut().enumerate() {
        ping(peer, format!("still here {i}\n").as_bytes());
    }
}

#[test]
fn hung_peers_go_in_time_and_periodic_peers_stay() {
    let timeout = Duration::from_secs(2);
    let server = Server::start(&[("SERVER_IDLE_TIMEOUT", "2s")]);
    let hung: Vec<_> = (0..3)
        .map(|i| {
            let mut peer = server.connect();
            ping(&mut peer, format!("hung {i}\n").as_bytes());
            (peer, Instant::now())
        })
        .collect();
    let mut periodic: Vec<_> = (0..10).map(|_| server.connect()).collect();
    let waiters: Vec<_> = hung
        .into_iter()
        .map(|(mut peer, last)| thread::spawn(move || eof_at(&mut peer).duration_since(last)))
        .collect();
    // Every 1.2 s (0.6 of the timeout) for 5 s: each line must come back.
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(5) {
        for (i, peer) in periodic.iter_mut().enumerate() {
            ping(peer, format!("round {round} peer {i}\n").as_bytes());
        }
        round += 1;
        thread::sleep(Duration::from_millis(1200));
    }
    for waiter in waiters {
        let idle = waiter.join().expect("hung peer");
        assert!(
            idle >= timeout && idle <= timeout * 5 / 4 + SLACK,
            "hung peer closed after {idle:?} of silence (timeout {timeout:?})\n{}",
            server.output()
        );
    }
    assert_eq!(
        server.count_lines("action: idle_timeout"),
        3,
        "{}",
        server.output()
    );
}

#[test]
fn a_tiny_timeout_closes_promptly() {
    let server = Server::start(&[("SERVER_IDLE_TIMEOUT", "1ns")]);
    server.wait_line("idle_timeout: 1ns");
    // The first peer is closed and lingers (it never answers the FIN): a linger in
    // progress must not hold back the sweeps the next peer needs.
    let mut first = server.connect();
    eof_at(&mut first);
    let mut peer = server.connect();
    let connected = Instant::now();
    let took = eof_at(&mut peer).duration_since(connected);
    assert!(took < SLACK, "closed {took:?} after connecting");
    server.wait_line("action: idle_timeout | result: success");
}
