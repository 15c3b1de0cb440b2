//! The course client as straight-line code: for each message, resolve, connect, send,
//! read one line, check it, wait the period; a failed attempt is resent after a backoff
//! until the message's budget is spent (`attempts`). Every wait goes through
//! [`Client::wait`], which also watches the signal pipe and stdout, so a signal stops
//! the client wherever it is (README "Client keys", NOTES "The client").

mod attempts;
mod check;
mod exchange;
mod resolver;

use std::io;
use std::rc::Rc;
use std::time::Instant;

use crate::config::ClientConfig;
use crate::duration;
use crate::escape::Escaped;
use crate::logging;
use crate::reactor::{Events, Interest, Poller, Registered, level_poller};
use crate::signals::SignalPipe;
use attempts::Attempts;

/// Poller keys: the client watches at most these three descriptors at once, the
/// last one being the lookup or the socket of the attempt in flight.
const SIGNALS: usize = 0;
const STDOUT: usize = 1;
const ATTEMPT: usize = 2;

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

/// Why the sequence ends before its last message: a signal, or a failure (logged).
enum Halt {
    Signalled,
    Failed(Failure),
}

impl From<io::Error> for Halt {
    fn from(error: io::Error) -> Self {
        Halt::Failed(Failure::Io(error))
    }
}

/// What ended a [`Client::wait`] that no signal ended.
#[derive(Debug, PartialEq, Eq)]
enum Wake {
    /// The attempt's lookup or socket is ready for its interest.
    Ready,
    /// The deadline passed first.
    TimedOut,
}

/// The running client: the poller and the descriptors it watches besides the
/// attempt in flight, which `exchange` holds itself.
pub struct Client {
    poller: Rc<Poller>,
    signals: Registered<SignalPipe>,
    /// Watched for writability while log records wait for it, when `logging` made it
    /// non-blocking (a pipe or socket): then a reader that stops reading cannot make
    /// the client deaf to signals.
    stdout: Option<Registered<io::Stdout>>,
    config: ClientConfig,
    events: Events,
}

impl Client {
    /// Prepares the client; nothing is sent before [`Client::run`].
    ///
    /// # Errors
    /// The poller cannot be created or refuses the signal pipe.
    pub fn new(config: ClientConfig, signals: SignalPipe) -> io::Result<Self> {
        let poller = level_poller()?;
        let signals = Registered::new(&poller, SIGNALS, signals, Interest::READ)?;
        // A stdout that cannot be watched (a terminal, a file, closed) stays blocking.
        let watched = logging::set_nonblocking().unwrap_or(false);
        let stdout = watched
            .then(|| Registered::new(&poller, STDOUT, io::stdout(), Interest::NONE).ok())
            .flatten();
        if watched && stdout.is_none() {
            logging::finish();
        }
        Ok(Client {
            poller,
            signals,
            stdout,
            config,
            events: Events::new(),
        })
    }

    /// Sends every message, or stops at a signal.
    ///
    /// # Errors
    /// A [`Failure`], already logged.
    pub fn run(mut self) -> Result<Outcome, Failure> {
        let outcome = match self.send_all() {
            Ok(()) => Ok(Outcome::Finished),
            Err(Halt::Signalled) => Ok(Outcome::Stopped),
            Err(Halt::Failed(failure)) => Err(failure),
        };
        if outcome.is_ok() {
            drop(self.signals);
            log::info!("action: close_signal_pipe | result: success");
            log::info!("action: shutdown | result: success");
        }
        logging::flush();
        outcome
    }

    fn send_all(&mut self) -> Result<(), Halt> {
        // A signal that came during start-up stops the client before it sends.
        self.wait(Instant::now(), "waiting")?;
        let id = self.config.id.clone();
        for number in 1..=self.config.loop_amount {
            let message = format!("[CLIENT {id}] Message N°{number}\n").into_bytes();
            self.deliver(&message)?;
            let period = self.config.loop_period;
            log::debug!(
                "action: wait_period | result: in_progress | client_id: {id} | period: {}",
                duration::format(period)
            );
            self.wait(Instant::now() + period, "waiting")?;
        }
        log::info!("action: loop_finished | result: success | client_id: {id}");
        Ok(())
    }

    /// Sends `message` until it is echoed: after a failed attempt, waits its backoff
    /// and resends, until the message's budget is spent.
    fn deliver(&mut self, message: &[u8]) -> Result<(), Halt> {
        let line = Escaped(message.strip_suffix(b"\n").unwrap_or(message));
        let id = &self.config.id.clone();
        let server = &self.config.server_address.clone();
        let mut attempts = Attempts::start(Instant::now());
        loop {
            let (action, error) = match self.attempt(message, &attempts) {
                Ok(()) => {
                    log::info!(
                        "action: receive_message | result: success | client_id: {id} | msg: {line}"
                    );
                    return Ok(());
                }
                Err(exchange::Miss::Retry(action, error)) => (action, error.to_string()),
                Err(exchange::Miss::Halt(halt)) => return Err(halt),
            };
            let error = Escaped(error.as_bytes());
            let attempt = attempts.number();
            let now = Instant::now();
            let Some(delay) = attempts.retry(now) else {
                log::error!(
                    "action: {action} | result: fail | client_id: {id} | server_address: {server} | msg: {line} | attempts: {attempt} | error: {error}"
                );
                return Err(Halt::Failed(Failure::GaveUp));
            };
            log::warn!(
                "action: {action} | result: in_progress | client_id: {id} | server_address: {server} | msg: {line} | attempt: {attempt} | retry_in: {} | error: {error}",
                duration::format(delay)
            );
            self.wait(now + delay, "backoff")?;
        }
    }

    /// Sleeps until the attempt's source (if one is registered under [`ATTEMPT`]) is
    /// ready, `until` passes, or a signal asks for shutdown; `phase` names where the
    /// client is in the shutdown line. Log records leave before it sleeps.
    ///
    /// # Errors
    /// [`Halt::Signalled`] (logged), or the poller failed.
    fn wait(&mut self, until: Instant, phase: &str) -> Result<Wake, Halt> {
        loop {
            logging::flush();
            if let Some(stdout) = &mut self.stdout {
                stdout.set_interest(Interest::new(false, logging::backlog() > 0))?;
            }
            self.events.clear();
            self.poller.wait_deadline(&mut self.events, until)?;
            let (mut signalled, mut ready, mut stdout_gone) = (false, false, false);
            for event in self.events.iter() {
                match event.key {
                    SIGNALS => signalled = true,
                    ATTEMPT => ready = true,
                    // Never read: "readable" is the error or hang-up of a reader that
                    // left, reported at every wait until it is unregistered.
                    STDOUT => stdout_gone |= event.readable,
                    _ => {}
                }
            }
            if stdout_gone {
                self.stdout = None;
            }
            // Drained before acting: see the signals module. A byte may come for a
            // signal that an earlier drain already took, and then nothing is new.
            if let Some(signal) = signalled.then(|| self.take_signal()).flatten() {
                log::info!(
                    "action: shutdown | result: in_progress | client_id: {} | signal: {signal} | phase: {phase}",
                    self.config.id
                );
                return Err(Halt::Signalled);
            }
            if ready {
                return Ok(Wake::Ready);
            }
            if Instant::now() >= until {
                return Ok(Wake::TimedOut);
            }
        }
    }

    fn take_signal(&self) -> Option<&'static str> {
        self.signals.get_ref().take().into_iter().next()
    }
}
