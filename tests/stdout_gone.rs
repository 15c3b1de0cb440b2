//! Stdout's reader leaves (a crashed log shipper, `| head`): the error or hang-up is
//! served once (NOTES.md "The log backlog"). The server then uses no CPU without
//! peers, keeps echoing, counts the records it can no longer write, reports them on
//! stderr at exit, and exits 0 on SIGTERM.

mod common;

use common::{KillOnDrop, SIGTERM, WAIT, connect, cpu_ticks, free_port, ping};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

#[test]
fn a_reader_that_leaves_costs_log_records_not_a_core() {
    let port = free_port().to_string();
    // Not a `Proc`: this test must hold the read end of stdout itself, to close it.
    let mut server = KillOnDrop::spawn(
        Command::new(common::SERVER)
            .env_clear()
            .envs([
                ("SERVER_PORT", port.as_str()),
                ("SERVER_BIND_IP", "127.0.0.1"),
                ("LOGGING_LEVEL", "INFO"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let pid = server.pid();
    let mut stdout = BufReader::new(server.take_stdout().expect("stdout"));
    let mut line = String::new();
    while !line.contains("action: listen") {
        line.clear();
        assert!(
            stdout.read_line(&mut line).expect("log line") > 0,
            "no listen line"
        );
    }
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let mut peer = connect(addr);
    ping(&mut peer, b"before\n");
    // The reader leaves: the pipe's write end now reports an error on every wait.
    drop(stdout);
    ping(&mut peer, b"after the reader left\n");
    drop(peer);
    // The server has seen the error by the time a fresh peer is echoed.
    ping(&mut connect(addr), b"no peer after this\n");

    let before = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    assert!(used <= 10, "server used {used} ticks in 2 s with no peer");

    let mut late = TcpStream::connect(addr).expect("connect");
    late.set_read_timeout(Some(WAIT)).expect("timeout");
    ping(&mut late, b"still echoing\n");
    drop(late);

    server.signal(SIGTERM);
    let status = server.wait_exit(WAIT).expect("no exit after SIGTERM");
    let mut stderr = String::new();
    server
        .take_stderr()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(status.success(), "{status:?}, stderr: {stderr}");
    assert!(
        stderr.contains("records dropped") && stderr.contains("closed by its reader"),
        "stderr: {stderr}"
    );
}
