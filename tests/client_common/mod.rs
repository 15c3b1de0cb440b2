//! Helpers for the client's (and the health check's) tests: a scripted fake server, a listener that drops
//! SYNs, and the attempt numbers of the client's log lines.
//!
//! Each connection the mock accepts gets the next act of its script (the last one
//! repeats), and every accept and every line read is reported on a channel, so a
//! test waits on the event itself. The accept loop blocks in `accept` and ends with
//! the test process; reads are bounded by `WAIT`.
#![allow(dead_code)] // each test file uses a different subset

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::common::Proc;

/// Bound of every wait on the mock.
const WAIT: Duration = Duration::from_secs(10);

/// What the mock does with one connection.
#[derive(Clone, Debug)]
pub enum Act {
    /// Close at once, without reading.
    Hangup,
    /// Write these bytes at once, without reading, then close.
    Greet(Vec<u8>),
    /// Read the line, then close without answering.
    ReadThenClose,
    /// Read the line, echo it, close.
    Echo,
    /// Read the line, echo it one byte per write, close.
    EchoByteByByte,
    /// Read the line, echo it followed by these bytes, close.
    EchoThen(Vec<u8>),
    /// Read the line, answer these bytes instead, close.
    Reply(Vec<u8>),
    /// Read the line and never answer; the connection stays open.
    Silent,
}

/// What the mock saw, numbered by connection from 1.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    Accepted(usize),
    Line(usize, Vec<u8>),
}

pub struct Mock {
    pub addr: SocketAddr,
    seen: Receiver<Seen>,
}

impl Mock {
    /// A mock on a fresh loopback port.
    pub fn start(script: &[Act]) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock server");
        Mock::on(listener, script)
    }

    /// A mock serving `listener`, which may already hold queued connections.
    pub fn on(listener: TcpListener, script: &[Act]) -> Mock {
        assert!(!script.is_empty(), "a script needs at least one act");
        let addr = listener.local_addr().expect("mock address");
        let script = script.to_vec();
        let (report, seen) = mpsc::channel();
        thread::spawn(move || serve(&listener, &script, &report));
        Mock { addr, seen }
    }

    /// Waits for the next line the mock read; returns its connection and bytes.
    pub fn wait_line(&self) -> (usize, Vec<u8>) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(Seen::Line(n, line)) => return (n, line),
                Ok(Seen::Accepted(_)) => {}
                Err(error) => panic!("the mock read no line within {WAIT:?}: {error}"),
            }
        }
    }

    /// Everything the mock saw so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.try_iter().collect()
    }
}

fn serve(listener: &TcpListener, script: &[Act], report: &Sender<Seen>) {
    // Connections that must stay open, held until the test process ends.
    let mut held = Vec::new();
    for n in 1.. {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        if report.send(Seen::Accepted(n)).is_err() {
            return;
        }
        let act = &script[(n - 1).min(script.len() - 1)];
        if let Ok(Some(stream)) = perform(act, stream, n, report) {
            held.push(stream);
        }
    }
}

/// Performs `act` on connection `n`; hands back a connection to keep open.
fn perform(
    act: &Act,
    stream: TcpStream,
    n: usize,
    report: &Sender<Seen>,
) -> io::Result<Option<TcpStream>> {
    match act {
        Act::Hangup => return Ok(None),
        Act::Greet(bytes) => {
            let mut stream = stream;
            stream.write_all(bytes)?;
            return Ok(None);
        }
        _ => {}
    }
    stream.set_read_timeout(Some(WAIT))?;
    stream.set_write_timeout(Some(WAIT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    let mut stream = reader.into_inner();
    let _ = report.send(Seen::Line(n, line.clone()));
    match act {
        Act::Hangup | Act::Greet(_) | Act::ReadThenClose => {}
        Act::Echo => stream.write_all(&line)?,
        Act::EchoByteByByte => {
            for byte in &line {
                stream.write_all(std::slice::from_ref(byte))?;
                // Pacing, so that the bytes travel in separate segments.
                thread::sleep(Duration::from_millis(2));
            }
        }
        Act::EchoThen(extra) => {
            line.extend_from_slice(extra);
            stream.write_all(&line)?;
        }
        Act::Reply(reply) => stream.write_all(reply)?,
        Act::Silent => return Ok(Some(stream)),
    }
    Ok(None)
}

/// A loopback listener whose accept queue is full, so the kernel drops new SYNs
/// and a connect to it hangs until its own timeout. Returns the connections that
/// fill the queue (keep them) with it.
pub fn full_listener() -> (TcpListener, Vec<TcpStream>) {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    socket.bind(&any.into()).expect("bind");
    // Backlog 0: Linux queues one connection, then drops SYNs.
    socket.listen(0).expect("listen");
    let listener: TcpListener = socket.into();
    let addr = listener.local_addr().expect("address");
    let mut queued = Vec::new();
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(stream) => queued.push(stream),
            Err(error) if error.kind() == io::ErrorKind::TimedOut => return (listener, queued),
            Err(error) => panic!("filling the accept queue: {error}"),
        }
    }
    panic!("the accept queue never filled");
}

/// The attempt numbers of the client's lines that contain `needle`, in order.
pub fn attempts(client: &Proc, needle: &str) -> Vec<u32> {
    let lines = client.lines();
    let matching = lines.iter().filter(|line| line.contains(needle));
    matching
        .map(|line| {
            let field = line.split(" | ").find_map(|f| f.strip_prefix("attempt: "));
            field
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no attempt number in {line:?}"))
        })
        .collect()
}
