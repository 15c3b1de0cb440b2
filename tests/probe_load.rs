//! Liveness is not capacity (NOTES.md "Health check and probes"): with 10,000
//! connections open (the cap), two peers flooding without reading and the memory
//! budget spent, `server --health-check` still passes within 1 s, every time.

mod common;

use common::{Proc, SERVER, WAIT};
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 10_000;
const FLOODERS: usize = 2;

#[test]
fn the_probe_passes_at_the_cap_under_a_flood_with_the_budget_spent() {
    let (server, addr, first) = common::quiet_server(&[
        ("SERVER_MAX_BUFFERED", "65536"),
        ("SERVER_LISTEN_BACKLOG", "1024"),
    ]);
    let port = addr.port().to_string();
    let mut flooders = vec![first];
    flooders.extend((1..FLOODERS).map(|_| TcpStream::connect(addr).expect("connect")));
    let stop = Arc::new(AtomicBool::new(false));
    let flooding = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let flood = common::pattern();
            for peer in &mut flooders {
                peer.set_nonblocking(true).expect("non-blocking");
            }
            while !stop.load(Ordering::Relaxed) {
                for peer in &mut flooders {
                    match peer.write(&flood) {
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => panic!("flooder: {e}"),
                    }
                }
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let idle: Vec<TcpStream> = (FLOODERS..CONNECTIONS)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    server.wait_line("at SERVER_MAX_CONNECTIONS");
    server.wait_line("action: memory_budget | result: fail");

    let mut times = Vec::new();
    for _ in 0..10 {
        let begun = Instant::now();
        let mut probe = Proc::spawn(
            SERVER,
            &["--health-check"],
            &[
                ("SERVER_PORT", port.as_str()),
                ("SERVER_BIND_IP", "127.0.0.1"),
            ],
            vec![],
        );
        let status = probe.expect_exit(WAIT);
        let took = probe.exit_delay(begun);
        assert!(status.success(), "probe failed: {}", probe.full_output());
        times.push(took);
    }
    stop.store(true, Ordering::Relaxed);
    flooding.join().expect("flooder thread");
    times.sort();
    let worst = times[times.len() - 1];
    assert!(
        worst < Duration::from_secs(1),
        "probe round trips {times:?} at {CONNECTIONS} connections"
    );
    drop(idle);
}
