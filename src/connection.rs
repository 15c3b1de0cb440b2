//! One client of the server: reads lines, echoes them byte for byte, closes
//! without losing an echo, and derives from its own state what it waits for next
//! (its reactor interest).
//!
//! Buffers exist only while data is in flight: a connection whose reads end on line
//! boundaries and whose writes complete allocates nothing, so ten thousand idle
//! ones cost little more than their sockets.

use std::io::Read;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use crate::framing::Framer;
use crate::net::is_transient;
use crate::reactor::Interest;

mod echo;
mod fault;
mod phase;
pub use fault::{Fault, Step};
pub use phase::Phase;

/// Output held for a peer past which reading from it stops until it catches up:
/// one read's worth, so the echo of a read never waits behind more than another.
pub const MAX_PENDING_OUTPUT: usize = 64 * 1024;

/// How long a connection that sent its FIN waits for the peer's before it is closed
/// anyway. Echoes still in flight are only at risk if the peer sends after that.
pub const LINGER: Duration = Duration::from_secs(2);

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
    /// The server's sweep tick when a line byte last came in or an echo byte went
    /// out: the idle timeout counts sweeps, so the echo path never reads the clock.
    last_tick: u32,
    /// When FIN went out, once lingering: [`LINGER`] counts from here.
    lingering_since: Option<Instant>,
}

impl Connection {
    /// Wraps a non-blocking socket accepted from `peer` at sweep tick `tick`.
    pub fn new(stream: TcpStream, peer: IpAddr, max_line: usize, tick: u32) -> Self {
        Connection {
            stream,
            peer: peer.to_string().into_boxed_str(),
            framer: Framer::new(max_line),
            output: Vec::new(),
            sent: 0,
            phase: Phase::Open,
            peer_closed: false,
            last_tick: tick,
            lingering_since: None,
        }
    }

    /// The peer's address, as logged.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Where the connection is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Bytes waiting to be written to the peer.
    pub fn pending(&self) -> usize {
        self.output.len() - self.sent
    }

    /// Bytes of memory held for the peer: pending output and a partial line.
    pub fn held(&self) -> usize {
        self.output.capacity() + self.framer.held()
    }

    /// Bytes held for an unterminated line: what shedding a hoarder frees.
    pub fn partial_held(&self) -> usize {
        self.framer.held()
    }

    /// Open and holding no memory: its interest is plain [`Interest::READ`].
    pub fn is_quiet(&self) -> bool {
        self.phase == Phase::Open && self.held() == 0
    }

    /// Whether the connection counts against the connection cap: a lingering one
    /// only waits, bounded, for the peer's FIN.
    pub fn holds_slot(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Draining)
    }

    /// What to wait for. Open: input unless held back by unread output or, when
    /// `budget_spent`, by any output it holds (a partial line is still read: its
    /// newline frees it, and the server sheds hoarders to make room); writability
    /// while output is pending. Later phases read only to discard, until the peer's EOF.
    pub fn interest(&self, budget_spent: bool) -> Interest {
        let pending = self.pending();
        match self.phase {
            Phase::Open => Interest::new(
                pending < MAX_PENDING_OUTPUT && !(budget_spent && self.output.capacity() > 0),
                pending > 0,
            ),
            Phase::Draining => Interest::new(!self.peer_closed, pending > 0),
            Phase::Lingering => Interest::READ,
            Phase::Closed => Interest::NONE,
        }
    }

    /// Sweeps since the last progress (a byte in while open, a byte out).
    pub fn idle_ticks(&self, tick: u32) -> u32 {
        tick.wrapping_sub(self.last_tick)
    }

    /// When lingering ends at the latest: [`LINGER`] after FIN went out.
    pub fn linger_deadline(&self) -> Option<Instant> {
        self.lingering_since.map(|since| since + LINGER)
    }

    /// Reads once into `scratch` and returns how many bytes it read. While open,
    /// the complete lines are logged and echoed (at most one read and one write:
    /// the loop comes back while the socket stays readable); later, input is
    /// discarded.
    ///
    /// # Errors
    /// The socket failed, or the peer broke the line limit (the caller logs it and
    /// calls [`Connection::finish_input`]).
    pub fn on_readable(&mut self, scratch: &mut [u8], tick: u32) -> Step {
        let read = match self.stream.read(scratch) {
            Ok(0) => {
                self.on_eof()?;
                return Ok(0);
            }
            Ok(read) => read,
            Err(error) if is_transient(&error) => return Ok(0),
            Err(error) => return Err(error.into()),
        };
        if self.phase != Phase::Open {
            return Ok(read);
        }
        self.last_tick = tick;
        let data = &scratch[..read];
        let pushed = self.framer.push(data);
        let joined = pushed.joined.as_deref().unwrap_or_default();
        let lines = &data[pushed.lines];
        // The global maximum is one atomic load; asking the logger would be a call.
        if log::max_level() >= log::Level::Info {
            echo::log_lines(&self.peer, joined);
            echo::log_lines(&self.peer, lines);
        }
        self.send(joined, lines)?;
        match pushed.too_long {
            Some(error) => Err(Fault::LineTooLong(error)),
            None => Ok(read),
        }
    }

    /// Writes pending output as far as the socket takes it; once nothing is owed
    /// after the input ended, sends FIN. Returns how many bytes it wrote.
    ///
    /// # Errors
    /// The socket failed (the peer reset, for instance).
    pub fn on_writable(&mut self, tick: u32) -> Step {
        let before = self.sent;
        let flushed = self.flush_output();
        if self.sent > before {
            self.last_tick = tick;
        }
        flushed?;
        self.advance()?;
        Ok(self.sent.saturating_sub(before))
    }

    /// Ends the input: no line after this is echoed, what is owed still is. Returns
    /// how many bytes of an unterminated line were dropped.
    ///
    /// # Errors
    /// Sending FIN failed.
    pub fn finish_input(&mut self) -> Result<usize, Fault> {
        if self.phase != Phase::Open {
            return Ok(0);
        }
        self.phase = Phase::Draining;
        let dropped = self.framer.take_partial().len();
        self.advance()?;
        Ok(dropped)
    }

    /// Stops reading for a shutdown: lines already in the socket's receive buffer
    /// are still read and echoed, as far as the output bound allows and while what
    /// it holds has grown by less than `room` (the budget left), then the input
    /// ends. Returns how many bytes of an unterminated line were dropped.
    ///
    /// # Errors
    /// The socket failed, or the peer broke the line limit, while reading what was
    /// left.
    pub fn stop_reading(
        &mut self,
        scratch: &mut [u8],
        tick: u32,
        room: usize,
    ) -> Result<usize, Fault> {
        let limit = self.held().saturating_add(room);
        while self.phase == Phase::Open && self.pending() < MAX_PENDING_OUTPUT {
            // A read can add at most its size to what is held (plus the growth of a
            // buffer), so it is cut to what the budget has left.
            let size = limit.saturating_sub(self.held()).min(scratch.len());
            if size == 0 || self.on_readable(&mut scratch[..size], tick)? == 0 {
                break;
            }
        }
        self.finish_input()
    }

    /// Closes the socket. A reset would destroy echoes the peer has not read, and
    /// the kernel sends one when unread input is left: what arrived is read first.
    pub fn close(mut self) {
        let mut discard = [0u8; 4096];
        // Bounded: a peer that never stops sending must not hold the loop.
        for _ in 0..16 {
            if self.peer_closed || !matches!(self.stream.read(&mut discard), Ok(n) if n > 0) {
                break;
            }
        }
    }

    /// At EOF the unterminated tail is echoed as it is, then the output drains.
    fn on_eof(&mut self) -> Result<(), Fault> {
        self.peer_closed = true;
        if self.phase == Phase::Open {
            self.phase = Phase::Draining;
            let tail = self.framer.take_partial();
            if !tail.is_empty() && log::max_level() >= log::Level::Info {
                echo::log_lines(&self.peer, &tail);
            }
            self.send(&tail, &[])?;
        }
        self.advance()
    }

    /// Moves to the next phase once the current one has nothing left to do.
    fn advance(&mut self) -> Result<(), Fault> {
        if self.phase == Phase::Draining && self.pending() == 0 {
            self.phase = if self.peer_closed {
                Phase::Closed
            } else {
                self.stream.shutdown(Shutdown::Write)?;
                // A phase change, not the echo path: one clock read per connection.
                self.lingering_since = Some(Instant::now());
                Phase::Lingering
            };
        }
        if matches!(self.phase, Phase::Lingering) && self.peer_closed {
            self.phase = Phase::Closed;
        }
        Ok(())
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

#[cfg(test)]
mod tests;
