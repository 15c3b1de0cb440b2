//! Signals read in one loop turn are one shutdown request (NOTES "Signals and shutdown"):
//! SIGINT and SIGTERM back to back (Ctrl-C while a supervisor stops the process) drain
//! gracefully instead of forcing a cut.

mod common;

use common::{SIGINT, SIGTERM, Server, fill_until_blocked, pattern, read_to_eof};
use std::time::{Duration, Instant};

#[test]
fn sigint_and_sigterm_together_drain_every_echo_and_exit_0() {
    let mut server = Server::start(&[("SERVER_SHUTDOWN_GRACE", "10s")]);
    let mut peer = server.connect();
    // The peer has read nothing: the server owes it every byte.
    let written = fill_until_blocked(&mut peer, 64 << 20);
    // Stopped, the server takes both deliveries before its loop runs again: they
    // arrive in one turn, deterministically.
    server.signal(libc::SIGSTOP);
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our unreaped child.
    let (a, b) = unsafe {
        (
            libc::kill(server.pid(), SIGINT),
            libc::kill(server.pid(), SIGTERM),
        )
    };
    assert_eq!((a, b), (0, 0), "kill");
    let signalled = Instant::now();
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::kill(server.pid(), libc::SIGCONT) },
        0,
        "kill"
    );
    server.wait_line("action: shutdown | result: in_progress | signal: ");
    let echoed = read_to_eof(&mut peer);
    drop(peer);
    server.expect_clean_exit_within(signalled, Duration::from_secs(10));
    // Every line the server logged as received is echoed (lines still unread in its
    // socket at the signal are not owed); records it could not write are counted.
    let logged = server.count_lines("action: receive_message | result: success");
    let dropped = server.dropped_records();
    let chunk = pattern();
    assert!(
        echoed.len() % 1024 == 0 && echoed.len() <= written,
        "{} echoed",
        echoed.len()
    );
    assert!(
        logged * 1024 <= echoed.len() && echoed.len() <= (logged + dropped) * 1024,
        "{} bytes echoed for {logged} lines logged ({dropped} records dropped)",
        echoed.len()
    );
    for (i, piece) in echoed.chunks(chunk.len()).enumerate() {
        assert!(piece == &chunk[..piece.len()], "echo differs in chunk {i}");
    }
    server.assert_no_line("forced: true");
    server.wait_line("action: close_connection | result: success | ip: 127.0.0.1");
}
