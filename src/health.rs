//! The health path: `server --health-check` (liveness: the loop answers) and
//! `server --ready-check` (readiness: it answers and accepts clients), asked over a
//! Linux abstract Unix socket that the server's own loop serves beside its clients.
//!
//! Why this path (NOTES.md "Health check and probes"): an abstract socket lives in
//! the network namespace, so only processes in the container (or pod) reach it; it
//! needs no file system, so it works under a read-only root; it does not count
//! against `SERVER_MAX_CONNECTIONS`, so a full server still answers; and only the
//! loop writes the status line, so a stopped loop fails the probe even though the
//! kernel still completes the connect.

use std::ffi::OsString;
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use rustix::event::PollFlags;
use socket2::{Domain, SockAddr, Socket, Type};

use crate::config::ServerConfig;
use crate::net::{is_transient, wait_ready, with_context};
use crate::startup;

/// The whole probe, connect to answer, stays within this bound (Docker's and
/// Kubernetes' probe timeouts are set to 1 s or more).
pub const BOUND: Duration = Duration::from_millis(900);

/// The first word of every status line: what answers is our server's loop.
const GREETING: &str = "tp0-server";

/// Connections a stopped loop lets queue before further probes are refused.
const BACKLOG: i32 = 16;

/// What a probe asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The loop runs and answers.
    Live,
    /// It answers and takes new clients (not at the cap, not draining).
    Ready,
}

/// The server's state as its status line tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Connections that count against the cap.
    pub connections: usize,
    /// `SERVER_MAX_CONNECTIONS`.
    pub max_connections: usize,
    /// The listener takes new clients now.
    pub accepting: bool,
    /// A shutdown is in progress.
    pub draining: bool,
}

impl Status {
    /// The one line the loop writes to each probe.
    pub fn line(&self) -> String {
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        format!(
            "{GREETING} | alive: yes | accepting: {} | connections: {} | max_connections: {} | draining: {}\n",
            yes_no(self.accepting),
            self.connections,
            self.max_connections,
            yes_no(self.draining)
        )
    }
}

/// The abstract socket's name for a server bound to `bind_ip` and `port`: a second
/// server in the same namespace on another port gets its own.
pub fn socket_name(bind_ip: IpAddr, port: u16) -> String {
    format!("\0{GREETING}@{bind_ip}:{port}")
}

/// Binds the status socket of a server bound to `bind_ip` and `port`, non-blocking.
///
/// # Errors
/// The name is taken (another server with the same address in this namespace) or
/// no descriptor is left.
pub fn listen(bind_ip: IpAddr, port: u16) -> io::Result<UnixListener> {
    let name = socket_name(bind_ip, port);
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket
        .bind(&SockAddr::unix(&name)?)
        .map_err(|error| with_context(error, &format!("status socket @{}", &name[1..])))?;
    socket.listen(BACKLOG)?;
    Ok(UnixListener::from(OwnedFd::from(socket)))
}

/// Runs the probe `check` for the configuration named by the arguments after the
/// flag (`--config PATH`) and the environment; prints the reason of a failure on
/// stderr. Returns the exit code: 0 passed, 1 failed, 2 bad configuration
/// (non-UTF-8 arguments included, as for the server itself).
pub fn run_from_args(check: Check) -> u8 {
    let flag = match check {
        Check::Live => "--health-check",
        Check::Ready => "--ready-check",
    };
    let args: Vec<OsString> = std::env::args_os().skip(2).collect();
    let config = match ServerConfig::load(&args, &|name| std::env::var_os(name)) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("server {flag}: configuration error: {error}");
            return startup::USAGE;
        }
    };
    if config.port == 0 {
        eprintln!(
            "server {flag}: SERVER_PORT is 0 (a port the system picks): the probe cannot know it; set SERVER_PORT"
        );
        return startup::USAGE;
    }
    let name = socket_name(config.bind_ip, config.port);
    match probe(&name, BOUND).and_then(|status| judge(check, status)) {
        Ok(()) => startup::SUCCESS,
        Err(error) => {
            eprintln!("server {flag}: @{}: {error}", &name[1..]);
            startup::FAILURE
        }
    }
}

fn judge(check: Check, status: Status) -> io::Result<()> {
    if check == Check::Ready && !status.accepting {
        let why = if status.draining {
            "shutting down"
        } else {
            "not accepting"
        };
        return Err(io::Error::other(format!(
            "alive but not ready: {why} ({} of {} connections)",
            status.connections, status.max_connections
        )));
    }
    Ok(())
}

/// Asks the server behind the abstract socket `name` for its status line, all
/// within `bound`.
///
/// # Errors
/// No server (refused), a loop that does not answer in time (a full backlog
/// included), or an answer that is not our status line.
pub fn probe(name: &str, bound: Duration) -> io::Result<Status> {
    let deadline = Instant::now() + bound;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    // Non-blocking: a stopped loop's full backlog must fail the connect, not hang it.
    socket.set_nonblocking(true)?;
    match socket.connect(&SockAddr::unix(name)?) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
            return Err(no_answer(bound));
        }
        Err(error) => return Err(error),
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    let mut stream = UnixStream::from(OwnedFd::from(socket));
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !wait_ready(stream.as_fd(), PollFlags::IN, left)? {
            return Err(no_answer(bound));
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(error) if is_transient(&error) => {}
            Err(error) => return Err(error),
        }
        if answer.contains(&b'\n') || answer.len() > 1024 {
            break;
        }
    }
    parse(&answer).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "not a status line: {:?}",
                String::from_utf8_lossy(&answer[..answer.len().min(80)])
            ),
        )
    })
}

/// Reads a status line back; `None` unless it is one.
pub fn parse(answer: &[u8]) -> Option<Status> {
    let line = std::str::from_utf8(answer).ok()?.strip_suffix('\n')?;
    let mut fields = line.split(" | ");
    if fields.next()? != GREETING {
        return None;
    }
    let mut status = Status {
        connections: 0,
        max_connections: 0,
        accepting: false,
        draining: false,
    };
    let mut alive = false;
    for field in fields {
        let (key, value) = field.split_once(": ")?;
        match key {
            "alive" => alive = value == "yes",
            "accepting" => status.accepting = value == "yes",
            "connections" => status.connections = value.parse().ok()?,
            "max_connections" => status.max_connections = value.parse().ok()?,
            "draining" => status.draining = value == "yes",
            _ => {}
        }
    }
    alive.then_some(status)
}

fn no_answer(bound: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "no answer within {} ms: the server's loop does not run",
            bound.as_millis()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_reads_back() {
        let status = Status {
            connections: 4,
            max_connections: 4,
            accepting: false,
            draining: false,
        };
        assert_eq!(parse(status.line().as_bytes()), Some(status));
        assert_eq!(parse(b"hello\n"), None);
        assert_eq!(parse(b"tp0-server | alive: yes"), None, "no newline");
    }
}
