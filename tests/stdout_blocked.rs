//! Writing the log never blocks the loop (SPEC §5, §9): with stdout a pipe that nobody
//! reads, peers are still echoed and SIGTERM still ends the server; once the pipe is read
//! again, the records that did not fit are reported as dropped.

mod common;

use common::{SERVER, connect, ping, read_n};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A server whose stdout the test reads only when it chooses to; killed on drop.
struct Quiet {
    child: Child,
    addr: SocketAddr,
    /// Unread after the listen line until a test takes it.
    stdout: Option<BufReader<ChildStdout>>,
}

impl Quiet {
    fn start() -> Quiet {
        let mut child = Command::new(SERVER)
            .args(["--config", "/dev/null"])
            .env_clear()
            .env("SERVER_PORT", "0")
            .env("SERVER_BIND_IP", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn server");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        // Read up to the listen line, then stop reading.
        let mut line = String::new();
        let addr = loop {
            line.clear();
            let n = stdout.read_line(&mut line).expect("read stdout");
            assert!(n > 0, "server exited before listening");
            if let Some(addr) = line
                .split("action: listen | result: success | address: ")
                .nth(1)
            {
                break addr.trim().parse().expect("address");
            }
        };
        Quiet {
            child,
            addr,
            stdout: Some(stdout),
        }
    }

    /// Floods the log: `lines` received messages of 200 bytes, each echoed and logged.
    fn flood(&self, lines: usize) {
        let mut peer = connect(self.addr);
        let line = [b"x".repeat(199), b"\n".to_vec()].concat();
        let mut reader = peer.try_clone().expect("clone");
        let total = lines * line.len();
        let drain = thread::spawn(move || read_n(&mut reader, total));
        for _ in 0..lines {
            peer.write_all(&line).expect("write");
        }
        assert_eq!(drain.join().expect("reader").len(), total);
    }

    /// Waits at most `bound` for the exit; returns the status code.
    fn exit_code_within(&mut self, since: Instant, bound: Duration) -> Option<i32> {
        while since.elapsed() < bound {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            thread::sleep(Duration::from_millis(5));
        }
        panic!("server still running {bound:?} after SIGTERM");
    }

    fn sigterm(&self) -> Instant {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our unreaped child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        Instant::now()
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Far more log than the pipe (64 KiB) and the backlog (1 MiB) hold together.
const FLOOD: usize = 20_000;

#[test]
fn an_unread_stdout_does_not_stop_the_echo_and_drops_are_reported() {
    let mut server = Quiet::start();
    server.flood(FLOOD);
    let started = Instant::now();
    ping(&mut connect(server.addr), b"still echoed\n");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "echo took {took:?}");

    // Reading again: the drop count comes out once the backlog has drained.
    let (found, got) = mpsc::channel();
    let mut stdout = server.stdout.take().expect("stdout not taken yet");
    let reader = thread::spawn(move || {
        let mut line = String::new();
        let mut rest = Vec::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            if line.contains("action: log_dropped | result: fail | records: ") {
                let _ = found.send(line.clone());
            }
            line.clear();
        }
        let _ = stdout.read_to_end(&mut rest);
    });
    // No new event is needed: the server watches stdout while records wait for it.
    let line = got.recv_timeout(common::WAIT).expect("a log_dropped line");
    let records: usize = line
        .rsplit("records: ")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .expect("record count");
    assert!(records > 0 && records <= FLOOD + 10, "{line}");

    let signalled = server.sigterm();
    assert_eq!(
        server.exit_code_within(signalled, Duration::from_secs(2)),
        Some(0)
    );
    reader.join().expect("reader thread");
}

#[test]
fn sigterm_ends_a_server_whose_stdout_is_full() {
    let mut server = Quiet::start();
    server.flood(FLOOD);
    let signalled = server.sigterm();
    // The 500ms default grace plus one second.
    let code = server.exit_code_within(signalled, Duration::from_millis(1500));
    assert_eq!(code, Some(0));
}
