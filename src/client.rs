//! The course client as a state machine on the reactor: for each message,
//! connect (retrying with a bounded backoff), send it, read the echo, check it,
//! close, wait the period. A signal wakes it in any state.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::ClientConfig;
use crate::connection::is_transient;
use crate::escape::Escaped;
use crate::logging;
use crate::reactor::{Events, Interest, Key, Reactor};
use crate::resolver::Lookup;
use crate::signals::SignalPipe;

/// Connection attempts per message before the server counts as unreachable.
pub const CONNECT_ATTEMPTS: u32 = 10;
/// Wait before the second attempt; it doubles up to [`BACKOFF_MAX`] (about 5.5 s
/// over all attempts: long enough for a server container that starts late).
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Bound of one connection attempt, against a host that drops SYNs silently.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound of one name lookup, against DNS servers that do not answer.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound of the wait for an echo, against a server that accepts and never answers.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// How the client ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every message was echoed.
    Finished,
    /// A signal stopped it.
    Stopped,
}

/// What makes the client fail (exit 1). Each variant has been logged already.
#[derive(Debug)]
pub enum Failure {
    /// No connection after all attempts.
    Unreachable,
    /// The server answered something else, or nothing.
    BadEcho,
    /// The poller failed.
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Io(error)
    }
}

enum Source {
    Signals(SignalPipe),
    Lookup(Lookup),
    Server(TcpStream),
}

impl AsFd for Source {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Source::Signals(pipe) => pipe.as_fd(),
            Source::Lookup(lookup) => lookup.as_fd(),
            Source::Server(stream) => stream.as_fd(),
        }
    }
}

/// Where the current message is; each phase that waits has a deadline.
enum Phase {
    Resolving { attempt: u32, until: Instant },
    Connecting { attempt: u32, until: Instant },
    Sending { sent: usize, until: Instant },
    Receiving { reply: Vec<u8>, until: Instant },
    Backoff { attempt: u32, until: Instant },
    Waiting { until: Instant },
}

impl Phase {
    fn deadline(&self) -> Instant {
        match *self {
            Phase::Resolving { until, .. }
            | Phase::Connecting { until, .. }
            | Phase::Sending { until, .. }
            | Phase::Receiving { until, .. }
            | Phase::Backoff { until, .. }
            | Phase::Waiting { until } => until,
        }
    }
}

/// The running client.
pub struct Client {
    reactor: Reactor<Source>,
    signals: Key,
    server: Option<Key>,
    config: ClientConfig,
    /// Number of the message in flight, from 1.
    number: u64,
    message: Vec<u8>,
    phase: Phase,
}

impl Client {
    /// Prepares the client; nothing is sent before [`Client::run`].
    ///
    /// # Errors
    /// The poller cannot be created or refuses the signal pipe.
    pub fn new(config: ClientConfig, signals: SignalPipe) -> io::Result<Self> {
        let mut reactor = Reactor::new(0)?;
        let signals = reactor.insert(Source::Signals(signals), Interest::READ)?;
        Ok(Client {
            reactor,
            signals,
            server: None,
            config,
            number: 0,
            message: Vec::new(),
            phase: Phase::Waiting {
                until: Instant::now(),
            },
        })
    }

    /// Sends every message, or stops at a signal.
    ///
    /// # Errors
    /// A [`Failure`], already logged.
    pub fn run(mut self) -> Result<Outcome, Failure> {
        let outcome = self.serve();
        // Between messages no socket is open; one cut short is part of a shutdown.
        if self.close_server() && outcome.is_ok() {
            log::info!(
                "action: close_connection | result: success | client_id: {}",
                self.config.id
            );
        }
        if outcome.is_ok() {
            drop(self.reactor.remove(self.signals));
            log::info!("action: close_signal_pipe | result: success");
            log::info!("action: shutdown | result: success");
        }
        logging::flush();
        outcome
    }

    fn serve(&mut self) -> Result<Outcome, Failure> {
        let mut events = Events::new();
        loop {
            logging::flush();
            events.clear();
            self.reactor
                .wait(&mut events, Some(self.phase.deadline()))?;
            for event in events.iter() {
                if event.key == self.signals {
                    if self.on_signal() {
                        return Ok(Outcome::Stopped);
                    }
                } else if Some(event.key) == self.server {
                    self.on_server(event)?;
                }
            }
            if Instant::now() >= self.phase.deadline() {
                if let Some(outcome) = self.on_deadline()? {
                    return Ok(outcome);
                }
            }
        }
    }

    /// Returns whether a shutdown was asked for.
    fn on_signal(&mut self) -> bool {
        let Some(Source::Signals(pipe)) = self.reactor.get_mut(self.signals) else {
            return false;
        };
        // Drained before acting: see the signals module.
        let Some(signal) = pipe.take().into_iter().next() else {
            return false;
        };
        log::info!(
            "action: shutdown | result: in_progress | client_id: {} | signal: {signal}",
            self.config.id
        );
        true
    }

    fn on_deadline(&mut self) -> Result<Option<Outcome>, Failure> {
        match self.phase {
            Phase::Waiting { .. } => {
                if self.number >= self.config.loop_amount {
                    log::info!(
                        "action: loop_finished | result: success | client_id: {}",
                        self.config.id
                    );
                    return Ok(Some(Outcome::Finished));
                }
                self.number += 1;
                self.message =
                    format!("[CLIENT {}] Message N°{}\n", self.config.id, self.number).into_bytes();
                self.connect(1)?;
            }
            Phase::Backoff { attempt, .. } => self.connect(attempt)?,
            Phase::Resolving { attempt, .. } => {
                self.close_server();
                let timeout = io::Error::new(io::ErrorKind::TimedOut, "name lookup timed out");
                self.retry(attempt, timeout)?;
            }
            Phase::Connecting { attempt, .. } => {
                self.close_server();
                let timeout =
                    io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out");
                self.retry(attempt, timeout)?;
            }
            Phase::Sending { .. } | Phase::Receiving { .. } => {
                return Err(self.bad_echo(&format!(
                    "no echo within {}",
                    crate::duration::format(REPLY_TIMEOUT)
                )));
            }
        }
        Ok(None)
    }

    /// Starts attempt number `attempt` to connect for the current message. The
    /// name is resolved at every attempt: a compose service's name appears in DNS
    /// only once its container runs.
    fn connect(&mut self, attempt: u32) -> Result<(), Failure> {
        if let Ok(address) = self.config.server_address.parse::<SocketAddr>() {
            return self.connect_to(address, attempt);
        }
        match Lookup::start(&self.config.server_address) {
            Ok(lookup) => {
                let until = Instant::now() + RESOLVE_TIMEOUT;
                let phase = Phase::Resolving { attempt, until };
                self.watch(Source::Lookup(lookup), Interest::READ, phase)
            }
            Err(error) => self.retry(attempt, error),
        }
    }

    fn connect_to(&mut self, address: SocketAddr, attempt: u32) -> Result<(), Failure> {
        match open_connection(address) {
            Ok(stream) => {
                let until = Instant::now() + CONNECT_TIMEOUT;
                let phase = Phase::Connecting { attempt, until };
                self.watch(Source::Server(stream), Interest::WRITE, phase)
            }
            Err(error) => self.retry(attempt, error),
        }
    }

    /// Registers what the message in flight waits on next, and enters its phase.
    fn watch(&mut self, source: Source, interest: Interest, phase: Phase) -> Result<(), Failure> {
        self.server = Some(self.reactor.insert(source, interest)?);
        self.phase = phase;
        Ok(())
    }

    /// Schedules the next attempt after a failed one, or gives up.
    fn retry(&mut self, attempt: u32, error: io::Error) -> Result<(), Failure> {
        if attempt >= CONNECT_ATTEMPTS {
            log::error!(
                "action: connect | result: fail | client_id: {} | server_address: {} | attempts: {attempt} | error: {error}",
                self.config.id,
                self.config.server_address
            );
            return Err(Failure::Unreachable);
        }
        let delay = BACKOFF_FIRST
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(BACKOFF_MAX);
        log::warn!(
            "action: connect | result: in_progress | client_id: {} | server_address: {} | attempt: {attempt} | retry_in: {} | error: {error}",
            self.config.id,
            self.config.server_address,
            crate::duration::format(delay)
        );
        self.phase = Phase::Backoff {
            attempt: attempt + 1,
            until: Instant::now() + delay,
        };
        Ok(())
    }

    fn on_server(&mut self, event: polling::Event) -> Result<(), Failure> {
        let Some(key) = self.server else {
            return Ok(());
        };
        let stream = match (self.reactor.get_mut(key), &self.phase) {
            (Some(Source::Server(stream)), _) => stream,
            (Some(Source::Lookup(lookup)), &Phase::Resolving { attempt, .. }) => {
                let Some(result) = lookup.result() else {
                    return Ok(());
                };
                self.close_server();
                return match result {
                    Ok(address) => self.connect_to(address, attempt),
                    Err(error) => self.retry(attempt, error),
                };
            }
            _ => return Ok(()),
        };
        match &mut self.phase {
            Phase::Connecting { attempt, .. } => {
                let attempt = *attempt;
                if !event.writable && !event.readable {
                    return Ok(());
                }
                if let Some(error) = connect_error(stream) {
                    self.close_server();
                    return self.retry(attempt, error);
                }
                self.phase = Phase::Sending {
                    sent: 0,
                    until: Instant::now() + REPLY_TIMEOUT,
                };
                self.send()
            }
            Phase::Sending { .. } => self.send(),
            Phase::Receiving { .. } => self.receive(),
            Phase::Resolving { .. } | Phase::Backoff { .. } | Phase::Waiting { .. } => Ok(()),
        }
    }

    fn send(&mut self) -> Result<(), Failure> {
        let Some(key) = self.server else {
            return Ok(());
        };
        let (Some(Source::Server(stream)), Phase::Sending { sent, until }) =
            (self.reactor.get_mut(key), &mut self.phase)
        else {
            return Ok(());
        };
        while *sent < self.message.len() {
            match stream.write(&self.message[*sent..]) {
                Ok(written) => *sent += written,
                Err(error) if is_transient(&error) => return Ok(()),
                Err(error) => return Err(self.bad_echo(&format!("sending failed: {error}"))),
            }
        }
        let until = *until;
        self.phase = Phase::Receiving {
            reply: Vec::with_capacity(self.message.len()),
            until,
        };
        self.reactor.set_interest(key, Interest::READ)?;
        Ok(())
    }

    fn receive(&mut self) -> Result<(), Failure> {
        let Some(key) = self.server else {
            return Ok(());
        };
        let (Some(Source::Server(stream)), Phase::Receiving { reply, .. }) =
            (self.reactor.get_mut(key), &mut self.phase)
        else {
            return Ok(());
        };
        let mut buffer = [0u8; 1024];
        let read = match stream.read(&mut buffer) {
            Ok(read) => read,
            Err(error) if is_transient(&error) => return Ok(()),
            Err(error) => return Err(self.bad_echo(&format!("receiving failed: {error}"))),
        };
        reply.extend_from_slice(&buffer[..read]);
        let line_end = reply.iter().position(|&b| b == b'\n');
        let reply = std::mem::take(reply);
        match line_end {
            Some(end) if reply[..=end] == self.message[..] => {
                self.close_server();
                log::info!(
                    "action: receive_message | result: success | client_id: {} | msg: {}",
                    self.config.id,
                    Escaped(&reply[..end])
                );
                self.phase = Phase::Waiting {
                    until: Instant::now() + self.config.loop_period,
                };
                Ok(())
            }
            Some(end) => Err(self.bad_echo(&format!(
                "echo mismatch, received: {}",
                Escaped(&reply[..end])
            ))),
            None if read == 0 => {
                Err(self.bad_echo("the server closed the connection before echoing"))
            }
            None if reply.len() >= self.message.len() => {
                Err(self.bad_echo(&format!("echo mismatch, received: {}", Escaped(&reply))))
            }
            None => {
                if let Phase::Receiving { reply: kept, .. } = &mut self.phase {
                    *kept = reply;
                }
                Ok(())
            }
        }
    }

    fn bad_echo(&mut self, why: &str) -> Failure {
        let sent = self.message.strip_suffix(b"\n").unwrap_or(&self.message);
        log::error!(
            "action: receive_message | result: fail | client_id: {} | msg: {} | error: {why}",
            self.config.id,
            Escaped(sent)
        );
        Failure::BadEcho
    }

    /// Closes the lookup or socket of the message in flight; returns whether a
    /// socket was closed.
    fn close_server(&mut self) -> bool {
        let Some(key) = self.server.take() else {
            return false;
        };
        matches!(self.reactor.remove(key), Some(Source::Server(_)))
    }
}

/// EINPROGRESS on Linux: a non-blocking connect has started. std has no stable
/// `ErrorKind` for it yet.
const EINPROGRESS: i32 = 115;

/// Why a non-blocking connect failed, if it did.
fn connect_error(stream: &TcpStream) -> Option<io::Error> {
    match stream.take_error() {
        Ok(Some(error)) | Err(error) => Some(error),
        Ok(None) => stream.peer_addr().err(),
    }
}

/// Starts a non-blocking connect; the reactor reports writable when it is done.
fn open_connection(address: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    match socket.connect(&address.into()) {
        Ok(()) => {}
        Err(error) if error.raw_os_error() == Some(EINPROGRESS) => {}
        Err(error) if is_transient(&error) => {}
        Err(error) => return Err(error),
    }
    Ok(socket.into())
}
