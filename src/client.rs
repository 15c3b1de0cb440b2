//! The course client as a state machine on the reactor: for each message, connect,
//! send it, read the echo, check it, close, wait the period. A failed attempt is
//! resent after a backoff until the message's budget is spent (`attempts`); a
//! signal wakes the loop in any phase.

mod attempts;
mod echo;
mod exchange;
mod phase;

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

pub use attempts::{BACKOFF_FIRST, BACKOFF_MAX, CONNECT_TIMEOUT, MESSAGE_BUDGET, REPLY_TIMEOUT};

use crate::config::ClientConfig;
use crate::duration;
use crate::escape::Escaped;
use crate::logging;
use crate::reactor::{Interest, Key, Reactor};
use crate::resolver::Lookup;
use crate::signals::SignalPipe;
use attempts::Attempts;
use exchange::{Progress, open_connection};
use phase::{Phase, Step};

/// The signal pipe is registered first and never moves.
const SIGNALS: Key = 0;

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
    /// A message was given up: no echo within its budget, resends included.
    GaveUp,
    /// The server answered with another line.
    WrongEcho,
    /// The poller failed.
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Failure::Io(error)
    }
}

/// The running client.
pub struct Client {
    /// Watches duplicates of the descriptors that the phase and `signals` own, so
    /// each source lives where its state is and needs no lookup by key.
    reactor: Reactor<OwnedFd>,
    signals: SignalPipe,
    config: ClientConfig,
    /// Number of the message in flight, from 1.
    number: u64,
    message: Vec<u8>,
    attempts: Attempts,
    phase: Phase,
}

impl Client {
    /// Prepares the client; nothing is sent before [`Client::run`].
    ///
    /// # Errors
    /// The poller cannot be created or refuses the signal pipe.
    pub fn new(config: ClientConfig, signals: SignalPipe) -> io::Result<Self> {
        let mut reactor = Reactor::new()?;
        let key = reactor.insert(signals.as_fd().try_clone_to_owned()?, Interest::READ)?;
        debug_assert_eq!(key, SIGNALS, "the first source of an empty reactor");
        let now = Instant::now();
        Ok(Client {
            reactor,
            signals,
            config,
            number: 0,
            message: Vec::new(),
            attempts: Attempts::start(now),
            phase: Phase::Waiting { until: now },
        })
    }

    /// Sends every message, or stops at a signal.
    ///
    /// # Errors
    /// A [`Failure`], already logged.
    pub fn run(mut self) -> Result<Outcome, Failure> {
        let outcome = self.serve();
        if outcome.is_ok() {
            // Between messages no socket is open; one cut short is part of a shutdown.
            let had_socket = self.phase.is_connection();
            let closed = self.enter(Phase::Waiting {
                until: Instant::now(),
            });
            if had_socket {
                log::info!(
                    "action: close_connection | result: success | client_id: {}",
                    self.config.id
                );
            }
            drop(self.reactor.remove(SIGNALS));
            log::info!("action: close_signal_pipe | result: success");
            if let Err(error) = closed {
                log::error!("action: shutdown | result: fail | error: {error}");
                logging::flush();
                return Err(Failure::Io(error));
            }
            log::info!("action: shutdown | result: success");
        }
        logging::flush();
        outcome
    }

    fn serve(&mut self) -> Result<Outcome, Failure> {
        let mut ready = Vec::new();
        loop {
            logging::flush();
            self.reactor.turn(Some(self.phase.deadline()), &mut ready)?;
            for event in &ready {
                match event.key {
                    SIGNALS if self.on_signal() => return Ok(Outcome::Stopped),
                    SIGNALS => {}
                    key if self.phase.key() == Some(key) => self.on_source()?,
                    // A source replaced earlier in this turn.
                    _ => {}
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
        // Drained before acting: see the signals module. A byte may come for a
        // signal that an earlier drain already took, and then nothing is new.
        let Some(signal) = self.signals.take().into_iter().next() else {
            return false;
        };
        log::info!(
            "action: shutdown | result: in_progress | client_id: {} | signal: {signal} | phase: {}",
            self.config.id,
            self.phase.name()
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
                self.attempts = Attempts::start(Instant::now());
                self.begin_attempt()?;
            }
            Phase::Backoff { .. } => self.begin_attempt()?,
            Phase::Resolving { .. } | Phase::Connection { .. } => {
                let timeout = io::Error::new(io::ErrorKind::TimedOut, self.phase.timeout());
                self.fail_attempt(timeout)?;
            }
        }
        Ok(None)
    }

    /// Starts an attempt at the message in flight. The name is resolved at every
    /// attempt: a compose service's name appears in DNS only once its container
    /// runs, and a replica that went away leaves it.
    fn begin_attempt(&mut self) -> Result<(), Failure> {
        if let Ok(address) = self.config.server_address.parse::<SocketAddr>() {
            return self.connect_to(address);
        }
        match Lookup::start(&self.config.server_address) {
            Ok(lookup) => {
                let key = self.watch(&lookup, Interest::READ)?;
                let until = self.attempts.deadline(Instant::now(), CONNECT_TIMEOUT);
                Ok(self.enter(Phase::Resolving { key, lookup, until })?)
            }
            Err(error) => self.fail_attempt(error),
        }
    }

    fn connect_to(&mut self, address: SocketAddr) -> Result<(), Failure> {
        log::debug!(
            "action: connect | result: in_progress | client_id: {} | attempt: {} | address: {address}",
            self.config.id,
            self.attempts.number()
        );
        match open_connection(address) {
            Ok(stream) => {
                let step = Step::Connecting;
                let key = self.watch(&stream, step.interest())?;
                let until = self.attempts.deadline(Instant::now(), CONNECT_TIMEOUT);
                let phase = Phase::Connection {
                    key,
                    stream,
                    step,
                    until,
                };
                Ok(self.enter(phase)?)
            }
            Err(error) => self.fail_attempt(error),
        }
    }

    fn on_source(&mut self) -> Result<(), Failure> {
        match self.phase.advance(&self.message) {
            Progress::Pending => Ok(self.rearm()?),
            Progress::Connected => {
                let until = self.attempts.deadline(Instant::now(), REPLY_TIMEOUT);
                self.phase.set_deadline(until);
                // Writable already: the message goes out in this turn.
                self.on_source()
            }
            Progress::Resolved(addresses) => {
                // Each attempt takes the next address: a replica that is gone
                // without a trace is not tried again and again.
                let turn = self.attempts.number() as usize - 1;
                match addresses.iter().cycle().nth(turn) {
                    Some(&address) => self.connect_to(address),
                    None => self.fail_attempt(io::ErrorKind::NotFound.into()),
                }
            }
            Progress::Failed(error) => self.fail_attempt(error),
            Progress::Echoed => {
                log::info!(
                    "action: receive_message | result: success | client_id: {} | msg: {}",
                    self.config.id,
                    Escaped(self.line())
                );
                let until = Instant::now() + self.config.loop_period;
                Ok(self.enter(Phase::Waiting { until })?)
            }
            Progress::Mismatch(received) => {
                log::error!(
                    "action: receive_message | result: fail | client_id: {} | msg: {} | received: {} | error: the echo differs from the message",
                    self.config.id,
                    Escaped(self.line()),
                    Escaped(&received)
                );
                Err(Failure::WrongEcho)
            }
        }
    }

    /// Schedules the next attempt after a failed one, or gives the message up.
    fn fail_attempt(&mut self, error: io::Error) -> Result<(), Failure> {
        let action = self.phase.stage().action();
        let attempt = self.attempts.number();
        let now = Instant::now();
        let error = error.to_string();
        let Some(delay) = self.attempts.retry(now) else {
            log::error!(
                "action: {action} | result: fail | client_id: {} | server_address: {} | msg: {} | attempts: {attempt} | error: {}",
                self.config.id,
                self.config.server_address,
                Escaped(self.line()),
                Escaped(error.as_bytes())
            );
            return Err(Failure::GaveUp);
        };
        log::warn!(
            "action: {action} | result: in_progress | client_id: {} | server_address: {} | msg: {} | attempt: {attempt} | retry_in: {} | error: {}",
            self.config.id,
            self.config.server_address,
            Escaped(self.line()),
            duration::format(delay),
            Escaped(error.as_bytes())
        );
        Ok(self.enter(Phase::Backoff { until: now + delay })?)
    }

    /// The message in flight without its newline, for the log.
    fn line(&self) -> &[u8] {
        self.message.strip_suffix(b"\n").unwrap_or(&self.message)
    }

    /// Registers a duplicate of `source`'s descriptor; the phase keeps the source.
    fn watch(&mut self, source: &impl AsFd, interest: Interest) -> io::Result<Key> {
        let duplicate = source.as_fd().try_clone_to_owned()?;
        self.reactor.insert(duplicate, interest)
    }

    /// Replaces the phase. The old phase's source, unless the new one keeps it, is
    /// unregistered and closed with it.
    fn enter(&mut self, phase: Phase) -> io::Result<()> {
        let old = std::mem::replace(&mut self.phase, phase);
        if let Some(key) = old.key().filter(|&key| self.phase.key() != Some(key)) {
            drop(self.reactor.remove(key));
        }
        drop(old);
        self.rearm()
    }

    /// Gives the phase's source the interest its phase needs; free when unchanged.
    fn rearm(&mut self) -> io::Result<()> {
        match self.phase.watch() {
            Some((key, interest)) => self.reactor.set_interest(key, interest),
            None => Ok(()),
        }
    }
}
