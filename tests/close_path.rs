//! Closing never destroys an echo owed (NOTES "Closing without a reset"): on shutdown and
//! after an over-long line, a peer that has not read yet still gets the echo of every line
//! the server logged as received, then a clean EOF — never a reset.

mod common;

use common::{SIGTERM, Server, WAIT, read_to_eof, read_to_eof_paced};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Line `n` of the peer's stream: 1 KiB, numbered, ending in a newline.
fn line(n: usize) -> Vec<u8> {
    let mut line = format!("line {n:08} ").into_bytes();
    line.resize(1023, b'a' + (n % 26) as u8);
    line.push(b'\n');
    line
}

#[test]
fn sigterm_while_the_peer_still_sends_delivers_every_logged_echo_then_eof() {
    const BEFORE_SIGNAL: usize = 2000;
    let mut server = Server::start(&[("SERVER_SHUTDOWN_GRACE", "5s")]);
    let mut reader = server.connect();
    let mut writer = reader.try_clone().expect("clone socket");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writing = Arc::clone(&stop);
    // Pipelines numbered lines until the reader has seen EOF, then sends its own FIN.
    let sender = thread::spawn(move || {
        let mut n = 0;
        while !stop_writing.load(Ordering::Relaxed) {
            if writer.write_all(&line(n)).is_err() {
                break;
            }
            n += 1;
        }
        let _ = writer.shutdown(Shutdown::Write);
        n
    });
    // The signal comes once the server has echoed (so received) that many lines.
    let (progress, echoes_seen) = mpsc::channel();
    let receiver = thread::spawn(move || {
        let mut echoed = vec![0; BEFORE_SIGNAL * 1024];
        reader.read_exact(&mut echoed).expect("first echoes");
        progress.send(()).expect("main thread waits");
        echoed.extend(read_to_eof_paced(&mut reader, Duration::from_millis(1)));
        echoed
    });
    echoes_seen
        .recv_timeout(WAIT)
        .expect("echoes before the signal");
    let signalled = Instant::now();
    server.signal(SIGTERM);
    let echoed = receiver.join().expect("reader thread");
    stop.store(true, Ordering::Relaxed);
    let sent = sender.join().expect("sender thread");
    server.expect_clean_exit_within(signalled, Duration::from_secs(5));

    assert_eq!(echoed.len() % 1024, 0, "echo ends inside a line");
    let echoed_lines = echoed.len() / 1024;
    for (n, got) in echoed.chunks(1024).enumerate() {
        assert!(got == line(n), "echo of line {n} differs");
    }
    // Every line logged as received was echoed, and nothing else (records the test's
    // stdout reader was too slow for are counted by the server, not lost silently).
    let (logged, dropped) = (
        server.count_lines("action: receive_message | result: success"),
        server.dropped_records(),
    );
    assert!(
        logged <= echoed_lines && echoed_lines <= logged + dropped && echoed_lines <= sent,
        "{echoed_lines} lines echoed, {logged} logged as received, {dropped} records dropped, {sent} sent\n{}",
        server.output()
    );
    server.wait_line("action: close_connection | result: success | ip: 127.0.0.1");
}

#[test]
fn an_overlong_line_keeps_the_echoes_of_the_lines_before_it() {
    const VALID: usize = 8935;
    let server = Server::start(&[("SERVER_MAX_LINE_BYTES", "100")]);
    let mut peer = server.connect();
    let mut stream = Vec::new();
    for n in 0..VALID {
        stream.extend_from_slice(format!("valid {n:06}\n").as_bytes());
    }
    let valid_len = stream.len();
    stream.extend_from_slice(&[b'x'; 200]);
    // Bytes after the bad line sit unread in the server's socket when it closes.
    stream.extend_from_slice(b"\nafter the bad line\n");
    let mut writer = peer.try_clone().expect("clone socket");
    let sender = thread::spawn(move || writer.write_all(&stream));
    // Nothing is read until the server has refused the line.
    server.wait_line("action: receive_message | result: fail | ip: 127.0.0.1 | error: line longer than 100 bytes");
    let echoed = read_to_eof(&mut peer);
    sender.join().expect("sender thread").expect("send all");
    assert_eq!(echoed.len(), valid_len, "echoed bytes");
    let expected: Vec<String> = (0..VALID).map(|n| format!("valid {n:06}")).collect();
    let got: Vec<&str> = std::str::from_utf8(&echoed)
        .expect("UTF-8 echo")
        .lines()
        .collect();
    assert!(got == expected, "the echoes differ from the valid lines");
    assert_eq!(
        server.count_lines("action: receive_message | result: success"),
        VALID
    );
    // The server waits for our FIN, then closes; it still serves others.
    peer.shutdown(Shutdown::Write).expect("send FIN");
    common::ping(&mut server.connect(), b"still serving\n");
}
