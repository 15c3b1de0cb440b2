//! The connection's rules pinned on a real loopback pair: which interest each state
//! derives, and the close path (echo what is owed, FIN, wait for the peer's EOF).

use super::*;
use crate::reactor::level_poller;
use std::io::Write;
use std::net::TcpListener;

/// A server-side connection and the peer's end, both on loopback.
fn pair(max_line: usize) -> (Connection, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let peer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (stream, from) = listener.accept().expect("accept");
    stream.set_nonblocking(true).expect("non-blocking");
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let poller = level_poller().expect("poller");
    let socket = Registered::new(&poller, 0, stream, Interest::READ).expect("register");
    (Connection::new(socket, from.ip(), max_line, 0), peer)
}

/// Calls `on_readable` until it reads something or the connection closes; the
/// socket is non-blocking, so bytes still in flight on loopback are waited for.
fn read_at(connection: &mut Connection, scratch: &mut [u8], tick: u32) -> Result<usize, Fault> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let step = connection.on_readable(scratch, tick);
        if !matches!(step, Ok(0)) || connection.phase() == Phase::Finished {
            return step;
        }
        assert!(Instant::now() < deadline, "nothing to read in time");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn peer_reads_to_eof(peer: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    peer.read_to_end(&mut got).expect("clean EOF");
    got
}

#[test]
fn interest_follows_the_state() {
    let (mut connection, mut peer) = pair(100);
    assert_eq!(connection.interest(false), Interest::READ);
    assert_eq!(connection.interest(true), Interest::READ, "holds nothing");
    peer.write_all(b"partial").expect("write");
    let mut scratch = [0u8; 64];
    read_at(&mut connection, &mut scratch, 0).expect("read");
    assert!(connection.held() > 0);
    assert_eq!(connection.interest(false), Interest::READ);
    assert_eq!(
        connection.interest(true),
        Interest::READ,
        "a partial line is read on: its newline frees it"
    );
    connection.output = Vec::with_capacity(16);
    assert_eq!(
        connection.interest(true),
        Interest::NONE,
        "holds output, budget spent"
    );
    connection.output = Vec::new();
    connection.finish_input().expect("FIN");
    assert!(matches!(connection.phase(), Phase::Lingering));
    assert_eq!(
        connection.interest(true),
        Interest::READ,
        "discards until EOF"
    );
    assert!(
        connection.linger_deadline().is_some(),
        "the linger is bounded"
    );
}

#[test]
fn unread_output_stops_reading() {
    let (mut connection, _peer) = pair(usize::MAX);
    connection.output = vec![b'x'; MAX_PENDING_OUTPUT];
    assert_eq!(connection.interest(false), Interest::WRITE);
    connection.sent = 1;
    assert_eq!(connection.interest(false), Interest::new(true, true));
}

#[test]
fn eof_echoes_the_tail_then_closes() {
    let (mut connection, mut peer) = pair(100);
    peer.write_all(b"one\ntail").expect("write");
    peer.shutdown(Shutdown::Write).expect("FIN");
    let mut scratch = [0u8; 64];
    while connection.phase() != Phase::Finished {
        read_at(&mut connection, &mut scratch, 0).expect("read");
    }
    assert_eq!(connection.pending(), 0);
    connection.close();
    assert_eq!(peer_reads_to_eof(&mut peer), b"one\ntail");
}

#[test]
fn an_overlong_line_drains_what_is_owed_then_lingers_until_eof() {
    let (mut connection, mut peer) = pair(4);
    peer.write_all(b"ok\ntoolong\nlost\n").expect("write");
    let mut scratch = [0u8; 64];
    let step = read_at(&mut connection, &mut scratch, 0);
    assert!(matches!(step, Err(Fault::LineTooLong(_))), "{step:?}");
    connection.finish_input().expect("FIN");
    assert!(matches!(connection.phase(), Phase::Lingering));
    let mut echo = [0u8; 3];
    peer.read_exact(&mut echo).expect("echo before FIN");
    assert_eq!(&echo, b"ok\n");
    assert!(
        peer_reads_to_eof(&mut peer).is_empty(),
        "FIN after the echo"
    );
    // More input is thrown away; the peer's EOF ends the linger.
    peer.write_all(b"more\n").expect("write after FIN");
    peer.shutdown(Shutdown::Write).expect("FIN");
    while connection.phase() != Phase::Finished {
        read_at(&mut connection, &mut scratch, 0).expect("discard");
    }
}

#[test]
fn progress_restarts_the_idle_count_only_while_open() {
    let (mut connection, mut peer) = pair(100);
    assert_eq!(connection.idle_ticks(3), 3);
    peer.write_all(b"hi\n").expect("write");
    let mut scratch = [0u8; 64];
    read_at(&mut connection, &mut scratch, 3).expect("read");
    assert_eq!(connection.idle_ticks(5), 2, "a line came in at tick 3");
    connection.finish_input().expect("FIN");
    peer.write_all(b"discarded\n").expect("write");
    let _ = read_at(&mut connection, &mut scratch, 0);
    assert_eq!(
        connection.idle_ticks(5),
        2,
        "discarded input is no progress"
    );
}
