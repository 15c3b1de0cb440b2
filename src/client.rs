//! The course client as a state machine on the reactor: for each message, connect,
//! send it, read the echo, check it, close, wait the period. A failed attempt is
//! resent after a backoff until the message's budget is spent (`attempts`,
//! `message`); a signal wakes the loop in any phase.

mod attempts;
mod echo;
mod exchange;
mod message;
mod phase;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use crate::config::ClientConfig;
use crate::logging;
use crate::reactor::{Events, Interest, Key, Reactor};
use crate::signals::SignalPipe;
use attempts::Attempts;
use phase::Phase;

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
        let mut reactor = Reactor::new(SIGNALS + 1)?;
        reactor.insert_at(
            SIGNALS,
            signals.as_fd().try_clone_to_owned()?,
            Interest::READ,
        )?;
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
            let now = Instant::now();
            let last = std::mem::replace(&mut self.phase, Phase::Waiting { until: now });
            let had_socket = last.is_connection();
            self.release(last);
            if had_socket {
                log::info!(
                    "action: close_connection | result: success | client_id: {}",
                    self.config.id
                );
            }
            drop(self.reactor.remove(SIGNALS));
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

    /// Registers a duplicate of `source`'s descriptor; the phase keeps the source.
    fn watch(&mut self, source: &impl AsFd, interest: Interest) -> io::Result<Key> {
        let duplicate = source.as_fd().try_clone_to_owned()?;
        self.reactor.insert(duplicate, interest)
    }

    /// Replaces the phase. The old phase's source, unless the new one keeps it, is
    /// unregistered and closed with it.
    fn enter(&mut self, phase: Phase) -> io::Result<()> {
        let old = std::mem::replace(&mut self.phase, phase);
        self.release(old);
        self.rearm()
    }

    /// Closes a phase that was left, with its source unless the current phase
    /// kept it.
    fn release(&mut self, old: Phase) {
        if let Some(key) = old.key().filter(|&key| self.phase.key() != Some(key)) {
            drop(self.reactor.remove(key));
        }
    }

    /// Gives the phase's source the interest its phase needs; free when unchanged.
    fn rearm(&mut self) -> io::Result<()> {
        match self.phase.watch() {
            Some((key, interest)) => self.reactor.set_interest(key, interest),
            None => Ok(()),
        }
    }
}
