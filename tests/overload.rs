//! Overload sheds the hoarders, not the good peers (NOTES.md "The memory budget"):
//! when unterminated lines spend `SERVER_MAX_BUFFERED`, the largest are dropped with
//! their connections' input, so a line in several segments still gets through.

mod common;

use common::{Server, WAIT, read_n};
use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// Waits, bounded, until the server logged one of `needles`.
fn wait_any(server: &Server, needles: &[&str]) {
    let deadline = Instant::now() + WAIT;
    while !needles.iter().any(|n| server.count_lines(n) > 0) {
        assert!(
            Instant::now() < deadline,
            "none of {needles:?} logged\n{}",
            server.output()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `line` in `segments` pieces 10 ms apart and returns how long its echo took
/// from the first piece.
fn echo_in_segments(peer: &mut TcpStream, line: &[u8], segments: usize) -> Duration {
    let started = Instant::now();
    for piece in line.chunks(line.len().div_ceil(segments)) {
        peer.write_all(piece).expect("segment");
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(read_n(peer, line.len()), line, "echo");
    started.elapsed()
}

#[test]
fn hoarders_are_shed_and_a_line_in_segments_is_echoed_within_a_second() {
    let server = Server::start(&[("SERVER_LISTEN_BACKLOG", "1024")]);
    // 520 × 65,000 bytes is more than the default 32 MiB budget.
    let hoard = vec![b'h'; 65_000];
    let mut hoarders = Vec::new();
    for _ in 0..520 {
        let mut peer = server.connect();
        peer.write_all(&hoard).expect("unterminated line");
        hoarders.push(peer);
    }
    wait_any(
        &server,
        &[
            "action: shed_connection",
            "action: memory_budget | result: fail",
        ],
    );
    let mut good = server.connect();
    let line: Vec<u8> = (0..4096)
        .map(|i| b'a' + (i % 26) as u8)
        .chain([b'\n'])
        .collect();
    let took = echo_in_segments(&mut good, &line, 4);
    assert!(
        took < Duration::from_secs(1),
        "echo after {took:?}\n{}",
        server.output()
    );
    let shed = server.wait_line("action: shed_connection | result: success | ip: 127.0.0.1");
    // Held bytes are counted by capacity: 65,000 if the line came in one read, up to
    // the 65,536-byte line limit if its buffer grew on the way (NOTES "The memory budget").
    let partial: usize = shed
        .split(" | ")
        .find_map(|field| field.strip_prefix("partial: "))
        .and_then(|bytes| bytes.parse().ok())
        .unwrap_or_else(|| panic!("no partial bytes in {shed}"));
    assert!((65_000..=65_536).contains(&partial), "{shed}");
}

#[test]
fn the_smallest_budget_echoes_a_line_at_the_line_limit() {
    // The budget equals the line limit (65,536, the default): other peers holding most
    // of it are shed to make room for the one line that needs all of it.
    let server = Server::start(&[
        ("SERVER_MAX_BUFFERED", "65536"),
        ("SERVER_MAX_LINE_BYTES", "65536"),
        ("SERVER_IDLE_TIMEOUT", "0"),
    ]);
    let mut others: Vec<_> = (0..2).map(|_| server.connect()).collect();
    for peer in &mut others {
        peer.write_all(&[b'o'; 30_000]).expect("unterminated line");
    }
    let mut good = server.connect();
    let line: Vec<u8> = (0..65_536)
        .map(|i| b'a' + (i % 26) as u8)
        .chain([b'\n'])
        .collect();
    let took = echo_in_segments(&mut good, &line, 8);
    assert!(took < Duration::from_secs(2), "echo after {took:?}");
    server.wait_line("action: shed_connection | result: success");
}
