//! No busy waiting (NOTES "The log backlog", last paragraph): an idle server and a client
//! waiting out its period sleep in the poller, so they burn no CPU time and are not even
//! woken up.

mod common;

use common::{Server, cpu_ticks, ping, start_client, wakeups};
use std::thread;
use std::time::Duration;

/// CPU ticks (usually 10 ms each) that `pid` uses over two seconds, and its wake-ups.
fn usage_over_two_seconds(pid: i32) -> (u64, u64) {
    let (ticks, woken) = (cpu_ticks(pid), wakeups(pid));
    thread::sleep(Duration::from_secs(2));
    (cpu_ticks(pid) - ticks, wakeups(pid) - woken)
}

#[test]
fn idle_server_uses_no_cpu() {
    let server = Server::start(&[]);
    // An open, quiet connection too: its registration must not cause wake-ups either.
    let mut quiet = server.connect();
    ping(&mut quiet, b"hello\n");
    // Its log line is the last thing the server does for the echo.
    server.wait_line("msg: hello");
    let (used, woken) = usage_over_two_seconds(server.pid());
    assert!(used <= 1, "idle server used {used} ticks of CPU in 2 s");
    assert!(woken <= 2, "idle server woke up {woken} times in 2 s");
}

#[test]
fn a_hundred_idle_connections_cost_no_wakeups() {
    // The idle timeout is one deadline for all of them, not a timer per connection.
    let server = Server::start(&[
        ("SERVER_IDLE_TIMEOUT", "30s"),
        ("SERVER_LISTEN_BACKLOG", "128"),
    ]);
    let mut quiet: Vec<_> = (0..100).map(|_| server.connect()).collect();
    for (i, conn) in quiet.iter_mut().enumerate() {
        ping(conn, format!("conn {i}\n").as_bytes());
    }
    server.wait_count("action: receive_message | result: success", 100);
    let (used, woken) = usage_over_two_seconds(server.pid());
    assert!(
        used <= 1,
        "server with 100 idle connections used {used} ticks in 2 s"
    );
    assert!(
        woken <= 2,
        "server with 100 idle connections woke up {woken} times in 2 s"
    );
}

#[test]
fn client_waiting_its_period_uses_no_cpu() {
    let server = Server::start(&[]);
    let address = server.addr.to_string();
    let client = start_client(
        &address,
        &[
            ("CLI_LOOP_AMOUNT", "2"),
            ("CLI_LOOP_PERIOD", "10s"),
            ("CLI_LOG_LEVEL", "DEBUG"),
        ],
    );
    // Written right before the client sleeps: the wait of its period has begun.
    client.wait_line("action: wait_period | result: in_progress | client_id: 1 | period: 10s");
    let (used, woken) = usage_over_two_seconds(client.pid());
    assert!(
        used <= 1,
        "client waiting its period used {used} ticks of CPU in 2 s"
    );
    assert!(
        woken <= 2,
        "client waiting its period woke up {woken} times in 2 s"
    );
}
