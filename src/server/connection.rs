//! One client of the server: its states, every transition between them, and the
//! echo path. Lines are read, echoed byte for byte and closed without losing an
//! echo; after each event the connection says what becomes of it ([`Fate`]) and
//! derives from its own state what it waits for next (its poller interest).
//!
//! Buffers exist only while data is in flight: a connection whose reads end on line
//! boundaries and whose writes complete allocates nothing, so ten thousand idle
//! ones cost little more than their sockets.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::escape::Escaped;
use crate::framing::{self, Framer, LineTooLong};
use crate::net::is_transient;
use crate::reactor::{Interest, Registered};

/// Output held for a peer past which reading from it stops until it catches up:
/// one read's worth, so the echo of a read never waits behind more than another.
pub const MAX_PENDING_OUTPUT: usize = 64 * 1024;

/// How long a connection that sent its FIN waits for the peer's before it is closed
/// anyway. Echoes still in flight are only at risk if the peer sends after that.
pub const LINGER: Duration = Duration::from_secs(2);

/// A connection's place in its life; each phase only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading lines and echoing them.
    Open,
    /// No more lines are taken (the peer's EOF, an over-long line, the idle timeout
    /// or a shutdown): write what is owed; input is read and thrown away.
    Draining,
    /// Everything owed was written and FIN sent: read and discard until the peer's
    /// EOF, so that closing sends no reset. [`LINGER`] bounds the wait.
    Lingering,
    /// The peer's EOF came after our last byte: nothing is left to do but close.
    Finished,
}

/// Why a connection cannot go on as it was.
#[derive(Debug)]
pub enum Fault {
    /// The socket failed: the connection is gone.
    Io(io::Error),
    /// The peer broke the line limit: the lines before were echoed, the connection
    /// now drains and closes.
    LineTooLong(LineTooLong),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Io(error) => error.fmt(f),
            Fault::LineTooLong(LineTooLong { limit }) => {
                write!(f, "line longer than {limit} bytes")
            }
        }
    }
}

impl From<io::Error> for Fault {
    fn from(error: io::Error) -> Self {
        Fault::Io(error)
    }
}

/// Why a connection is being closed, for its log line.
#[derive(Debug)]
pub enum Closing {
    /// The close path finished: every echo written, FIN sent, the peer's EOF read.
    Done,
    /// The socket failed.
    Failed(Fault),
    /// A bound (a linger, the shutdown grace, a second signal, the idle timeout)
    /// stopped the wait.
    Cut(&'static str),
}

/// What becomes of a connection after an event: decided here, from its state, so
/// the server only keeps its totals and closes what is to be closed.
#[derive(Debug)]
pub enum Fate {
    /// Open and holding nothing, before and after: nothing the server counts moved.
    Unchanged,
    /// It goes on, with the interest its state now derives.
    Continues,
    /// It is to be closed now.
    Close(Closing),
}

/// An accepted socket with its framing and pending output.
pub struct Connection {
    socket: Registered<TcpStream>,
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
    /// Takes over a non-blocking socket accepted from `peer` at sweep tick `tick`,
    /// registered for reading.
    pub fn new(socket: Registered<TcpStream>, peer: IpAddr, max_line: usize, tick: u32) -> Self {
        Connection {
            socket,
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
            Phase::Finished => Interest::NONE,
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

    /// Serves a readiness event: reads (echoing what it can), writes what is owed,
    /// then decides what becomes of the connection. `scratch` is the read buffer,
    /// `tick` the sweep count, `budget_spent` the server's memory budget state.
    #[inline(always)]
    pub fn on_ready(
        &mut self,
        readable: bool,
        writable: bool,
        scratch: &mut [u8],
        tick: u32,
        budget_spent: bool,
    ) -> Fate {
        let was_quiet = self.is_quiet();
        let interest = self.socket.interest();
        let mut step = Ok(());
        // With no interest registered only an error or a hang-up wakes a socket, and
        // level triggering repeats it until served: reading tells which it was.
        if readable && (interest.readable || interest == Interest::NONE) {
            step = self.on_readable(scratch, tick).map(drop);
        }
        // An error or hang-up is reported as both readable and writable.
        if step.is_ok() && writable && self.pending() > 0 {
            step = self.on_writable(tick).map(drop);
        }
        // The steady echo: its interest and what it holds are as they were.
        if was_quiet && step.is_ok() && self.is_quiet() {
            return Fate::Unchanged;
        }
        self.settle(step, budget_spent)
    }

    /// Applies a change of the server's budget state to what it waits for.
    ///
    /// # Errors
    /// The poller refused the change.
    pub fn follow_budget(&mut self, budget_spent: bool) -> io::Result<()> {
        self.socket.set_interest(self.interest(budget_spent))
    }

    /// Ends the input because the server sheds it or stops: what is owed is still
    /// written, an unterminated line is dropped.
    pub fn end_input(&mut self, budget_spent: bool) -> Fate {
        let step = self.finish_input().map(drop);
        self.settle(step, budget_spent)
    }

    /// The idle timeout: like [`Connection::end_input`], with a log line that
    /// says what it dropped and what it still owes.
    pub fn time_out(&mut self, budget_spent: bool) -> Fate {
        let pending = self.pending();
        let step = self.finish_input();
        let dropped = *step.as_ref().unwrap_or(&0);
        log::info!(
            "action: idle_timeout | result: success | ip: {} | pending: {pending} | dropped: {dropped}",
            self.peer,
        );
        self.settle(step.map(drop), budget_spent)
    }

    /// Stops reading for a shutdown: lines already in the socket's receive buffer
    /// are still read and echoed, as far as the output bound allows and while what
    /// it holds has grown by less than `room` (the budget left), then the input
    /// ends.
    pub fn stop_reading(
        &mut self,
        scratch: &mut [u8],
        tick: u32,
        room: usize,
        budget_spent: bool,
    ) -> Fate {
        let limit = self.held().saturating_add(room);
        let mut step = Ok(());
        while self.phase == Phase::Open && self.pending() < MAX_PENDING_OUTPUT {
            // A read can add at most its size to what is held (plus the growth of a
            // buffer), so it is cut to what the budget has left.
            let size = limit.saturating_sub(self.held()).min(scratch.len());
            if size == 0 {
                break;
            }
            match self.on_readable(&mut scratch[..size], tick) {
                Ok(0) => break,
                Ok(_) => {}
                Err(fault) => {
                    step = Err(fault);
                    break;
                }
            }
        }
        if step.is_ok() {
            step = match self.finish_input() {
                Ok(0) => Ok(()),
                Ok(dropped) => {
                    log::warn!(
                        "action: receive_message | result: fail | ip: {} | error: shutdown dropped {dropped} bytes of an unterminated line",
                        self.peer
                    );
                    Ok(())
                }
                Err(fault) => Err(fault),
            };
        }
        self.settle(step, budget_spent)
    }

    /// Closes the socket. A reset would destroy echoes the peer has not read, and
    /// the kernel sends one when unread input is left: what arrived is read first.
    pub fn close(self) {
        let mut discard = [0u8; 4096];
        let mut stream = self.socket.get_ref();
        // Bounded: a peer that never stops sending must not hold the loop.
        for _ in 0..16 {
            if self.peer_closed || !matches!(stream.read(&mut discard), Ok(n) if n > 0) {
                break;
            }
        }
    }

    /// The one step after any change: an over-long line ends the input, a failure
    /// or a finished close path closes, anything else waits for what its state
    /// derives.
    fn settle(&mut self, step: Result<(), Fault>, budget_spent: bool) -> Fate {
        let step = match step {
            Err(Fault::LineTooLong(error)) => {
                log::warn!(
                    "action: receive_message | result: fail | ip: {} | error: line longer than {} bytes",
                    self.peer,
                    error.limit
                );
                self.finish_input().map(drop)
            }
            other => other,
        };
        if let Err(fault) = step {
            return Fate::Close(Closing::Failed(fault));
        }
        if self.phase == Phase::Finished {
            return Fate::Close(Closing::Done);
        }
        match self.follow_budget(budget_spent) {
            Ok(()) => Fate::Continues,
            Err(error) => Fate::Close(Closing::Failed(error.into())),
        }
    }

    /// Reads once into `scratch` and returns how many bytes it read. While open,
    /// the complete lines are logged and echoed (at most one read and one write:
    /// the loop comes back while the socket stays readable); later, input is
    /// discarded.
    ///
    /// # Errors
    /// The socket failed, or the peer broke the line limit (settling logs it and
    /// ends the input).
    fn on_readable(&mut self, scratch: &mut [u8], tick: u32) -> Result<usize, Fault> {
        let read = match self.socket.get_ref().read(scratch) {
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
            log_lines(&self.peer, joined);
            log_lines(&self.peer, lines);
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
    fn on_writable(&mut self, tick: u32) -> Result<usize, Fault> {
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
    fn finish_input(&mut self) -> Result<usize, Fault> {
        if self.phase != Phase::Open {
            return Ok(0);
        }
        self.phase = Phase::Draining;
        let dropped = self.framer.take_partial().len();
        self.advance()?;
        Ok(dropped)
    }

    /// At EOF the unterminated tail is echoed as it is, then the output drains.
    fn on_eof(&mut self) -> Result<(), Fault> {
        self.peer_closed = true;
        if self.phase == Phase::Open {
            self.phase = Phase::Draining;
            let tail = self.framer.take_partial();
            if !tail.is_empty() && log::max_level() >= log::Level::Info {
                log_lines(&self.peer, &tail);
            }
            self.send(&tail, &[])?;
        }
        self.advance()
    }

    /// Moves to the next phase once the current one has nothing left to do.
    fn advance(&mut self) -> Result<(), Fault> {
        if self.phase == Phase::Draining && self.pending() == 0 {
            self.phase = if self.peer_closed {
                Phase::Finished
            } else {
                self.socket.get_ref().shutdown(Shutdown::Write)?;
                // A phase change, not the echo path: one clock read per connection.
                self.lingering_since = Some(Instant::now());
                Phase::Lingering
            };
        }
        if matches!(self.phase, Phase::Lingering) && self.peer_closed {
            self.phase = Phase::Finished;
        }
        Ok(())
    }

    /// Writes pending output until the socket would block or nothing is left.
    fn flush_output(&mut self) -> io::Result<()> {
        while self.pending() > 0 {
            match self.socket.get_ref().write(&self.output[self.sent..]) {
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
            return self.flush_output();
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

    fn write_pair(&self, first: &[u8], second: &[u8]) -> io::Result<usize> {
        match (first.is_empty(), second.is_empty()) {
            (true, _) => self.socket.get_ref().write(second),
            (_, true) => self.socket.get_ref().write(first),
            _ => self
                .socket
                .get_ref()
                .write_vectored(&[IoSlice::new(first), IoSlice::new(second)]),
        }
    }
}

/// Logs each line of `run` (complete lines, or an unterminated tail) for `peer`.
fn log_lines(peer: &str, run: &[u8]) {
    for line in framing::lines(run) {
        log::info!(
            "action: receive_message | result: success | ip: {peer} | msg: {}",
            Escaped(line)
        );
    }
}

#[cfg(test)]
mod tests;
