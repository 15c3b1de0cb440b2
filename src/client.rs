//! The course client as straight-line code: for each message, resolve, connect, send,
//! read one line, check it, wait the period; a failed attempt is resent after a backoff
//! (`attempts`). Every wait is `Client::wait`, which also watches the signal pipe and
//! stdout, so a signal stops the client anywhere (README "Client keys", NOTES "The client").

mod attempts;
mod check;
mod exchange;
mod resolver;

use std::io;
use std::rc::Rc;
use std::time::Instant;

use crate::config::ClientConfig;
use crate::escape::Escaped;
use crate::reactor::{Events, Interest, Poller, Registered, level_poller};
use crate::signals::SignalPipe;
use crate::{duration, logging};
use attempts::Attempts;

/// Poller keys; the attempt's is its lookup's or its socket's, one at a time.
const SIGNALS: usize = 0;
const STDOUT: usize = 1;
const ATTEMPT: usize = 2;

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

/// Why the sequence ends before its last message (logged already).
enum Halt {
    Signalled,
    Failed(Failure),
}

impl From<io::Error> for Halt {
    fn from(error: io::Error) -> Self {
        Halt::Failed(Failure::Io(error))
    }
}

/// What ended a [`Client::wait`] that no signal ended: the attempt's lookup or
/// socket is ready for its interest, or the deadline passed first.
enum Wake {
    Ready,
    TimedOut,
}

impl Wake {
    /// `Ready`, or the attempt failed as `action` because its deadline passed (`why`).
    fn or_late(self, action: &'static str, why: &str) -> Result<(), exchange::Miss> {
        match self {
            Wake::Ready => Ok(()),
            Wake::TimedOut => {
                let late = io::Error::new(io::ErrorKind::TimedOut, why);
                Err(exchange::Miss::Retry(action, late))
            }
        }
    }
}

/// The running client; the attempt in flight holds its own lookup or socket.
pub struct Client {
    poller: Rc<Poller>,
    signals: Registered<SignalPipe>,
    /// Watched while log records wait for it, when `logging` made it non-blocking (a
    /// pipe or socket): a reader that stops reading cannot make the client deaf.
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
        // A terminal or a file stays blocking, as for the server (NOTES "The log backlog").
        let watched = logging::set_nonblocking().unwrap_or(false);
        let stdout =
            watched.then(|| Registered::new(&poller, STDOUT, io::stdout(), Interest::NONE));
        Ok(Client {
            poller,
            signals,
            stdout: stdout.transpose()?,
            config,
            events: Events::new(),
        })
    }

    /// Sends every message, or stops at a signal; both end well (exit 0).
    ///
    /// # Errors
    /// A [`Failure`], already logged.
    pub fn run(mut self) -> Result<(), Failure> {
        let outcome = match self.send_all() {
            Ok(()) | Err(Halt::Signalled) => Ok(()),
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
        let (id, server) = (self.config.id.clone(), self.config.server_address.clone());
        let mut attempts = Attempts::start(Instant::now());
        loop {
            let (action, error) = match self.attempt(message, &attempts) {
                Ok(()) => return Ok(()),
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

    /// Sleeps until the attempt's source (if any) is ready, `until` passes, or a signal
    /// asks for shutdown, logged with `phase`; log records leave before it sleeps.
    fn wait(&mut self, until: Instant, phase: &str) -> Result<Wake, Halt> {
        loop {
            logging::flush();
            if let Some(stdout) = &mut self.stdout {
                stdout.set_interest(Interest::new(false, logging::backlog() > 0))?;
            }
            self.events.clear();
            self.poller.wait_deadline(&mut self.events, until)?;
            let woke = |key| self.events.iter().any(|event| event.key == key);
            let (signalled, ready) = (woke(SIGNALS), woke(ATTEMPT));
            // Stdout is never read: "readable" is the error or hang-up of a reader that
            // left, which would wake every wait until it is unregistered.
            if self.events.iter().any(|e| e.key == STDOUT && e.readable) {
                self.stdout = None;
            }
            // Drained before acting: see the signals module. A byte may come for a
            // signal that an earlier drain already took, and then nothing is new.
            let taken = signalled.then(|| self.signals.get_ref().take());
            if let Some(signal) = taken.unwrap_or_default().first() {
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
}
