//! Backpressure (README "Protocol and logs", NOTES "The memory budget"): a peer that sends
//! without reading must not grow the server's memory; once it reads again, everything it
//! sent comes back intact.

mod common;

use common::{Server, fill_until_blocked, pattern, ping, read_to_eof, status_kib};
use std::net::Shutdown;

#[test]
fn peer_that_never_reads_leaves_server_memory_bounded() {
    const LIMIT: usize = 64 << 20;
    let server = Server::start(&[]);
    let mut hog = server.connect();
    let written = fill_until_blocked(&mut hog, LIMIT);
    let (rss, hwm) = (
        status_kib(server.pid(), "VmRSS"),
        status_kib(server.pid(), "VmHWM"),
    );
    assert!(
        written < LIMIT,
        "the server read all 64 MiB from a peer that never reads"
    );
    assert!(
        rss < 32 * 1024,
        "server VmRSS {rss} kB while the peer is blocked ({written} bytes sent)"
    );
    assert!(
        hwm < 32 * 1024,
        "server VmHWM {hwm} kB while the peer is blocked ({written} bytes sent)"
    );

    // The stalled connection must not stall anyone else.
    let mut other = server.connect();
    ping(&mut other, b"not stuck\n");

    // Reading again resumes the flow: every byte sent comes back, the tail at EOF.
    hog.shutdown(Shutdown::Write).expect("send EOF");
    let echoed = read_to_eof(&mut hog);
    assert_eq!(
        echoed.len(),
        written,
        "echoed byte count after the peer resumed reading"
    );
    let chunk = pattern();
    for (i, piece) in echoed.chunks(chunk.len()).enumerate() {
        assert!(piece == &chunk[..piece.len()], "echo differs in chunk {i}");
    }
}
