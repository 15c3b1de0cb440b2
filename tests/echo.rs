//! Echo protocol (README "Protocol and logs"): every complete line comes back byte for byte
//! and in order, however the bytes are split or coalesced, and an unterminated tail is
//! echoed at EOF.

mod common;

use common::{Server, assert_nothing_read, pattern, ping, read_n, read_to_eof};
use std::io::Write;
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

#[test]
fn one_line_is_echoed() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    ping(&mut stream, b"hello\n");
}

#[test]
fn many_lines_on_one_connection_come_back_in_order() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    // Ping-pong first, then pipelined: written all before reading any.
    for i in 0..50 {
        ping(&mut stream, format!("ping {i}\n").as_bytes());
    }
    let lines: String = (0..200).map(|i| format!("pipelined {i}\n")).collect();
    for line in lines.split_inclusive('\n') {
        stream.write_all(line.as_bytes()).expect("write line");
    }
    assert_eq!(read_n(&mut stream, lines.len()), lines.as_bytes());
}

#[test]
fn lines_split_byte_by_byte_are_reassembled() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    let data = b"split across many writes\nand a second one\n";
    for byte in data {
        stream.write_all(&[*byte]).expect("write one byte");
        // With Nagle off, a pause makes each byte its own segment and its own read.
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(read_n(&mut stream, data.len()), data);
}

#[test]
fn a_partial_line_is_not_echoed_before_its_newline() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"incompl").expect("write");
    assert_nothing_read(
        &mut stream,
        Duration::from_millis(300),
        "expected nothing before the newline",
    );
    stream.write_all(b"ete\n").expect("write");
    assert_eq!(read_n(&mut stream, 11), b"incomplete\n");
}

#[test]
fn many_lines_coalesced_in_one_write() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    let lines: String = (0..5000).map(|i| format!("coalesced line {i}\n")).collect();
    stream.write_all(lines.as_bytes()).expect("one big write");
    assert_eq!(read_n(&mut stream, lines.len()), lines.as_bytes());
}

#[test]
fn unterminated_tail_is_echoed_at_eof() {
    let server = Server::start(&[]);
    for data in [&b"abc"[..], b"one\ntwo", b"done\n", b""] {
        let mut stream = server.connect();
        stream.write_all(data).expect("write");
        stream.shutdown(Shutdown::Write).expect("send EOF");
        assert_eq!(
            read_to_eof(&mut stream),
            data,
            "for {:?}",
            String::from_utf8_lossy(data)
        );
    }
}

#[test]
fn control_bytes_and_invalid_utf8_are_echoed_verbatim() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    let data: &[u8] = b"cr\r\nnul\0inside\n\xff\xfe\xc3(\n\x1b[2J\x1b]0;title\x07\n\n\r\n\t\x7f\n";
    stream.write_all(data).expect("write");
    assert_eq!(read_n(&mut stream, data.len()), data);
}

#[test]
fn large_burst_survives_partial_writes() {
    const TOTAL: usize = 8 << 20;
    let server = Server::start(&[]);
    let mut stream = server.connect();
    let mut writer = stream.try_clone().expect("clone stream");
    // One thread writes 8 MiB while this one reads: the server's writes must be partial
    // many times over, and no byte may be lost, duplicated or reordered.
    let sender = thread::spawn(move || {
        let chunk = pattern();
        for _ in 0..TOTAL / chunk.len() {
            writer.write_all(&chunk).expect("write burst");
        }
        writer.shutdown(Shutdown::Write).expect("send EOF");
    });
    let echoed = read_to_eof(&mut stream);
    sender.join().expect("writer thread");
    assert_eq!(echoed.len(), TOTAL, "echoed byte count");
    let chunk = pattern();
    for (i, piece) in echoed.chunks(chunk.len()).enumerate() {
        assert!(
            piece == chunk,
            "echo differs in chunk {i} (offset {})",
            i * chunk.len()
        );
    }
}
