//! One client of the server: reads lines, echoes them byte for byte, and decides
//! from its own state what it waits for next (its reactor interest).
//!
//! Buffers exist only while data is in flight: besides the peer's address text,
//! formatted once at accept, a connection whose reads end on line boundaries and
//! whose writes complete allocates nothing, so ten thousand idle ones cost little
//! more than their sockets.

use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};

use crate::escape::Escaped;
use crate::framing::{self, Framer, LineTooLong};
use crate::reactor::Interest;

/// Output held for a peer past which reading from it stops until it catches up,
/// so a peer that sends and never reads cannot grow the server's memory.
pub const MAX_PENDING_OUTPUT: usize = 256 * 1024;

/// A connection's place in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading lines and echoing them.
    Open,
    /// No more input (the peer's EOF, a protocol error or a shutdown): send what
    /// is pending, then close.
    Draining,
}

/// An accepted socket with its framing and pending output.
pub struct Connection {
    stream: TcpStream,
    /// The peer's IP address as logged, formatted once rather than per line.
    peer: Box<str>,
    framer: Framer,
    /// Echo bytes the socket has not taken yet; `output[sent..]` is still to go.
    output: Vec<u8>,
    sent: usize,
    phase: Phase,
    /// The peer's EOF was read: nothing unread can be left in the socket.
    peer_closed: bool,
}

impl Connection {
    /// Wraps a non-blocking socket accepted from `peer`.
    pub fn new(stream: TcpStream, peer: IpAddr, max_line: usize) -> Self {
        Connection {
            stream,
            peer: peer.to_string().into_boxed_str(),
            framer: Framer::new(max_line),
            output: Vec::new(),
            sent: 0,
            phase: Phase::Open,
            peer_closed: false,
        }
    }

    /// The peer's address, as logged.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Bytes waiting to be written to the peer.
    pub fn pending(&self) -> usize {
        self.output.len() - self.sent
    }

    /// What to wait for: input while open and not held back by unread output,
    /// writability while output is pending.
    pub fn interest(&self) -> Interest {
        let pending = self.pending();
        Interest::new(
            self.phase == Phase::Open && pending < MAX_PENDING_OUTPUT,
            pending > 0,
        )
    }

    /// Whether everything owed to the peer was written and it can be closed.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Draining && self.pending() == 0
    }

    /// Reads once, logs and echoes the complete lines, and returns how many bytes
    /// it read. At most one read and one write: the loop comes back while the
    /// socket stays readable.
    ///
    /// # Errors
    /// The socket failed, or the peer broke the line limit: either way the
    /// connection must be closed, which the caller logs.
    pub fn on_readable(&mut self, scratch: &mut [u8]) -> io::Result<usize> {
        let read = match self.stream.read(scratch) {
            Ok(0) => return self.on_eof().map(|()| 0),
            Ok(read) => read,
            Err(error) if is_transient(&error) => return Ok(0),
            Err(error) => return Err(error),
        };
        let data = &scratch[..read];
        let pushed = self.framer.push(data);
        let joined = pushed.joined.as_deref().unwrap_or_default();
        let lines = &data[pushed.lines];
        // The global maximum is one atomic load; asking the logger would be a call.
        if log::max_level() >= log::Level::Info {
            log_lines(&self.peer, joined);
            log_lines(&self.peer, lines);
        }
        self.send(joined, lines)?;
        match pushed.too_long {
            Some(LineTooLong { limit }) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line longer than {limit} bytes"),
            )),
            None => Ok(read),
        }
    }

    /// Writes pending output as far as the socket takes it.
    ///
    /// # Errors
    /// The socket failed (the peer reset, for instance).
    pub fn on_writable(&mut self) -> io::Result<()> {
        while self.pending() > 0 {
            match self.stream.write(&self.output[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.sent += written,
                Err(error) if is_transient(&error) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
        // Idle connections keep no buffer (see the module comment).
        self.output = Vec::new();
        self.sent = 0;
        Ok(())
    }

    /// Stops reading for a shutdown: lines already in the socket's receive buffer
    /// are still read and echoed, then only pending output remains to be sent.
    /// Returns how many bytes of an unterminated line were dropped.
    ///
    /// # Errors
    /// The socket failed while reading what was left.
    pub fn stop_reading(&mut self, scratch: &mut [u8]) -> io::Result<usize> {
        while self.phase == Phase::Open && self.pending() < MAX_PENDING_OUTPUT {
            if self.on_readable(scratch)? == 0 {
                break;
            }
        }
        self.phase = Phase::Draining;
        Ok(self.framer.take_partial().len())
    }

    /// Sends FIN after the last echo and throws away whatever the peer sent since:
    /// closing with unread input would make the kernel answer with a reset, which
    /// can destroy echoes the peer has not read yet.
    pub fn close(mut self) {
        if self.peer_closed {
            return;
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        let mut discard = [0u8; 4096];
        while matches!(self.stream.read(&mut discard), Ok(n) if n > 0) {}
    }

    /// At EOF the unterminated tail is echoed as it is, then the output drains.
    fn on_eof(&mut self) -> io::Result<()> {
        self.phase = Phase::Draining;
        self.peer_closed = true;
        let tail = self.framer.take_partial();
        if tail.is_empty() {
            return Ok(());
        }
        if log::max_level() >= log::Level::Info {
            log_lines(&self.peer, &tail);
        }
        self.send(&tail, &[])
    }

    /// Echoes `first` then `second`, straight from the caller's buffers when
    /// nothing is queued before them, keeping whatever the socket does not take.
    /// Inlined: a call's register saves cost as much as the rest of the echo path.
    #[inline(always)]
    fn send(&mut self, first: &[u8], second: &[u8]) -> io::Result<()> {
        if first.is_empty() && second.is_empty() {
            return Ok(());
        }
        if self.pending() > 0 {
            self.output.extend_from_slice(first);
            self.output.extend_from_slice(second);
            return self.on_writable();
        }
        let written = match self.write_pair(first, second) {
            Ok(written) if written == first.len() + second.len() => return Ok(()),
            Ok(written) => written,
            Err(error) if is_transient(&error) => 0,
            Err(error) => return Err(error),
        };
        let rest_of_first = first.get(written..).unwrap_or_default();
        let rest_of_second = &second[written.saturating_sub(first.len()).min(second.len())..];
        self.output.clear();
        self.sent = 0;
        self.output.extend_from_slice(rest_of_first);
        self.output.extend_from_slice(rest_of_second);
        Ok(())
    }

    fn write_pair(&mut self, first: &[u8], second: &[u8]) -> io::Result<usize> {
        match (first.is_empty(), second.is_empty()) {
            (true, _) => self.stream.write(second),
            (_, true) => self.stream.write(first),
            _ => self
                .stream
                .write_vectored(&[IoSlice::new(first), IoSlice::new(second)]),
        }
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// Errors after which the same call may simply be tried again later.
pub fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

fn log_lines(peer: &str, run: &[u8]) {
    for line in framing::lines(run) {
        log::info!(
            "action: receive_message | result: success | ip: {peer} | msg: {}",
            Escaped(line)
        );
    }
}
