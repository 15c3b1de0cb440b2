//! The budget holds through the drain (NOTES.md "The memory budget"): with a
//! thousand peers that flood and never read, the server's memory grows by at most
//! `SERVER_MAX_BUFFERED` plus 16 MiB from start to exit, SIGTERM included, and the
//! drain reports what it owed and what it could not deliver.

mod common;

use common::{SIGTERM, WAIT, status_kib};
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// A small budget makes the bound sharp: the drain of the same load without it
/// holds 64 KiB of echo per peer, 64 MiB for a thousand.
const BUDGET: u64 = 4 << 20;
const FLOODERS: usize = 1000;

/// A flooder whose echoes back up in the server rather than in this test's kernel.
fn flooder(addr: SocketAddr) -> TcpStream {
    common::small_window_peer(addr, 64 * 1024)
}

/// Writes until the socket would block; returns whether anything went.
fn push(peer: &mut TcpStream, data: &[u8]) -> bool {
    let mut moved = false;
    loop {
        match peer.write(data) {
            Ok(_) => moved = true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return moved,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Cut by the server: it owes this peer nothing more.
            Err(_) => return moved,
        }
    }
}

#[test]
fn the_drain_of_a_thousand_flooders_stays_within_the_budget() {
    let budget = BUDGET.to_string();
    let (mut server, addr, first) = common::quiet_server(&[
        ("SERVER_MAX_BUFFERED", budget.as_str()),
        ("SERVER_LISTEN_BACKLOG", "1024"),
        ("SERVER_SHUTDOWN_GRACE", "1s"),
    ]);
    drop(first);
    let pid = server.pid();
    let baseline = status_kib(pid, "VmRSS");
    let flood = common::pattern();
    let mut peers: Vec<TcpStream> = (0..FLOODERS).map(|_| flooder(addr)).collect();
    // Rounds until nothing moves: the server has stopped reading every peer.
    let deadline = Instant::now() + WAIT;
    let mut still = 0;
    while still < 3 && Instant::now() < deadline {
        let mut moved = false;
        for peer in &mut peers {
            moved |= push(peer, &flood);
        }
        still = if moved { 0 } else { still + 1 };
        thread::sleep(Duration::from_millis(50));
    }
    server.wait_line("action: memory_budget | result: fail");
    let started = Instant::now();
    server.signal(SIGTERM);
    // The peak of the resident set, sampled until the process is gone.
    let mut peak: u64 = 0;
    while let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
        match hwm {
            Some(kib) => peak = kib,
            None => break, // a zombie: its memory is gone
        }
        if server.try_wait().is_some() || started.elapsed() > WAIT {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let status = server.expect_exit(WAIT);
    assert!(status.success(), "{}", server.output());
    let grown = peak.saturating_sub(baseline);
    assert!(
        grown <= (BUDGET + (16 << 20)) / 1024,
        "server memory grew by {grown} kB through the drain (baseline {baseline} kB)\n{}",
        server.output()
    );
    // Nobody reads: what was owed when the grace ran out is reported as unsent.
    let outcome = server.wait_line("action: drain | result: fail | unsent: ");
    assert!(outcome.contains("connections_cut: "), "{outcome}");
    drop(peers);
}
