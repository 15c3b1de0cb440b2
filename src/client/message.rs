//! One message's attempts: start one (resolve, connect), act on what its source
//! reported, and after a failure resend or give the message up, each step logged.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use super::attempts::{CONNECT_TIMEOUT, REPLY_TIMEOUT};
use super::exchange::{Progress, open_connection};
use super::phase::{Phase, Step};
use super::{Client, Failure};
use crate::duration;
use crate::escape::Escaped;
use crate::reactor::Interest;
use crate::resolver::Lookup;

impl Client {
    /// Starts an attempt at the message in flight. The name is resolved at every
    /// attempt: a compose service's name appears in DNS only once its container
    /// runs, and a replica that went away leaves it.
    pub(super) fn begin_attempt(&mut self) -> Result<(), Failure> {
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

    /// Acts on a wake-up of the phase's source.
    pub(super) fn on_source(&mut self) -> Result<(), Failure> {
        match self.phase.advance(&self.message) {
            Progress::Pending => Ok(self.rearm()?),
            Progress::Connected => {
                let until = self.attempts.deadline(Instant::now(), REPLY_TIMEOUT);
                self.phase.set_deadline(until);
                // Writable already: the message goes out in this turn.
                self.on_source()
            }
            Progress::Resolved(addresses) => match self.attempts.pick(&addresses) {
                Some(&address) => self.connect_to(address),
                None => self.fail_attempt(io::ErrorKind::NotFound.into()),
            },
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
    pub(super) fn fail_attempt(&mut self, error: io::Error) -> Result<(), Failure> {
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
}
