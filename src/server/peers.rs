//! Events on connections: the one settle step after each, the memory budget, the
//! idle sweep, and closing.
//!
//! Budget: `buffered` sums what every connection holds (pending echoes and partial
//! lines). Past `SERVER_MAX_BUFFERED`, connections that hold anything stop being
//! read until the sum falls to three quarters of it; connections that hold nothing
//! still are, with reads cut to `SPENT_READ`, so an echo that goes straight through
//! is served at once and one that does not adds little.

use std::time::Instant;

use super::{Server, Source};
use crate::connection::{Connection, Fault, Phase, Step};
use crate::reactor::{Interest, Key};

/// The read size for connections that hold nothing while the budget is spent: at
/// most this much more per connection can be kept beyond the budget.
const SPENT_READ: usize = 4 * 1024;

/// Least time between two sweeps, so that deadlines spread over time cost one
/// pass over the connections per interval, not one per connection.
const SWEEP_GAP: std::time::Duration = std::time::Duration::from_millis(50);

/// Why a connection is being closed now, for its log line.
pub(super) enum Closing {
    /// The close path finished: every echo written, FIN sent, the peer's EOF read.
    Done,
    /// The socket failed.
    Failed(Fault),
    /// A bound (a linger, the shutdown grace, a second signal) stopped the wait.
    Cut(&'static str),
}

/// What a connection held before a handler ran, to settle the totals after it.
#[derive(Clone, Copy)]
pub(super) struct Before {
    held: usize,
    holds_slot: bool,
}

impl Before {
    pub(super) fn of(connection: &Connection) -> Self {
        Before {
            held: connection.held(),
            holds_slot: connection.holds_slot(),
        }
    }
}

impl Server {
    pub(super) fn on_peer(&mut self, key: Key, readable: bool, writable: bool) {
        let spent = self.budget_spent;
        let now = self.now;
        // A stale event: the key was closed earlier in this batch.
        let Some(Source::Peer(connection)) = self.reactor.get_mut(key) else {
            return;
        };
        let before = Before::of(connection);
        let interest = connection.interest(spent);
        let mut step: Step = Ok(0);
        // With no interest registered only an error or a hang-up wakes a socket, and
        // level triggering repeats it until served: reading tells which it was.
        if readable && (interest.readable || interest == Interest::NONE) {
            let size = if spent {
                SPENT_READ
            } else {
                self.scratch.len()
            };
            step = connection.on_readable(&mut self.scratch[..size], now);
        }
        // An error or hang-up is reported as both readable and writable.
        if step.is_ok() && writable && connection.pending() > 0 {
            step = connection.on_writable(now);
        }
        self.settle(key, before, step);
    }

    /// The one step after any event on a connection: a failure closes it, an
    /// over-long line ends its input, a finished one closes, any other gets the
    /// interest its state derives; the totals follow what it now holds.
    pub(super) fn settle(&mut self, key: Key, before: Before, step: Step) {
        let now = self.now;
        let Some(Source::Peer(connection)) = self.reactor.get_mut(key) else {
            return;
        };
        let step = match step {
            Err(Fault::LineTooLong(error)) => {
                log::warn!(
                    "action: receive_message | result: fail | ip: {} | error: line longer than {} bytes",
                    connection.peer(),
                    error.limit
                );
                connection.finish_input(now).map(drop)
            }
            other => other.map(drop),
        };
        self.buffered = (self.buffered + connection.held()).saturating_sub(before.held);
        let freed_slot = before.holds_slot && !connection.holds_slot();
        let deadline = connection.deadline(self.idle_timeout);
        let finished = connection.phase() == Phase::Closed;
        let interest = connection.interest(self.budget_spent);
        match step {
            Err(fault) => self.close(key, Closing::Failed(fault)),
            Ok(()) if finished => self.close(key, Closing::Done),
            Ok(()) => {
                if let Err(error) = self.reactor.set_interest(key, interest) {
                    self.close(key, Closing::Failed(error.into()));
                } else {
                    self.wake_sweep_by(deadline);
                }
            }
        }
        if freed_slot {
            self.serving -= 1;
            self.update_listener();
        }
        self.check_budget();
    }

    /// Applies the budget's state once it crosses a threshold: every connection's
    /// interest depends on it.
    fn check_budget(&mut self) {
        let spent = if self.budget_spent {
            self.buffered > self.max_buffered / 4 * 3
        } else {
            self.buffered >= self.max_buffered
        };
        if spent == self.budget_spent {
            return;
        }
        self.budget_spent = spent;
        log::warn!(
            "action: memory_budget | result: {} | buffered: {} | max_buffered: {}",
            if spent { "fail" } else { "success" },
            self.buffered,
            self.max_buffered
        );
        for key in self.peer_keys() {
            if let Some(Source::Peer(connection)) = self.reactor.get(key) {
                let interest = connection.interest(spent);
                if let Err(error) = self.reactor.set_interest(key, interest) {
                    self.close(key, Closing::Failed(error.into()));
                }
            }
        }
    }

    /// Makes the next sweep come no later than `deadline`.
    pub(super) fn wake_sweep_by(&mut self, deadline: Option<Instant>) {
        if let Some(deadline) = deadline {
            if self.sweep_at.is_none_or(|at| deadline < at) {
                self.sweep_at = Some(deadline);
            }
        }
    }

    /// Ends the input of connections idle for too long (they go through the close
    /// path) and closes those whose linger ran out; then finds the next deadline.
    pub(super) fn sweep(&mut self) {
        let now = self.now;
        let mut next: Option<Instant> = None;
        for key in self.peer_keys() {
            let Some(Source::Peer(connection)) = self.reactor.get_mut(key) else {
                continue;
            };
            let Some(deadline) = connection.deadline(self.idle_timeout) else {
                continue;
            };
            if deadline > now {
                next = Some(next.map_or(deadline, |next| next.min(deadline)));
                continue;
            }
            match connection.phase() {
                Phase::Open => {}
                Phase::Draining => {
                    self.close(
                        key,
                        Closing::Cut("peer read nothing for SERVER_IDLE_TIMEOUT"),
                    );
                    continue;
                }
                _ => {
                    self.close(key, Closing::Cut("no FIN from the peer in time"));
                    continue;
                }
            }
            log::info!(
                "action: idle_timeout | result: success | ip: {} | pending: {}",
                connection.peer(),
                connection.pending()
            );
            let before = Before::of(connection);
            let step = connection.finish_input(now);
            self.settle(key, before, step);
        }
        // Settling may have asked for an earlier sweep: keep the earliest.
        let asked = self.sweep_at.filter(|&at| at > now);
        self.sweep_at = [asked, next.map(|next| next.max(now + SWEEP_GAP))]
            .into_iter()
            .flatten()
            .min();
    }

    pub(super) fn peer_keys(&self) -> Vec<Key> {
        let keys = self.reactor.keys().into_iter();
        keys.filter(|&key| matches!(self.reactor.get(key), Some(Source::Peer(_))))
            .collect()
    }

    pub(super) fn close(&mut self, key: Key, closing: Closing) {
        let Some(Source::Peer(connection)) = self.reactor.remove(key) else {
            return;
        };
        self.connections -= 1;
        self.buffered -= connection.held();
        if connection.holds_slot() {
            self.serving -= 1;
        }
        let ip = connection.peer();
        let pending = connection.pending();
        let shutting_down = self.drain_deadline.is_some();
        match closing {
            Closing::Failed(error) => {
                log::warn!("action: close_connection | result: fail | ip: {ip} | error: {error}");
            }
            Closing::Cut(why) if pending > 0 => log::warn!(
                "action: close_connection | result: fail | ip: {ip} | error: {why} with {pending} bytes unsent"
            ),
            // Shutdown lists every connection closed; otherwise closes are routine.
            _ if shutting_down => {
                log::info!("action: close_connection | result: success | ip: {ip}");
            }
            _ => log::debug!("action: close_connection | result: success | ip: {ip}"),
        }
        connection.close();
        self.update_listener();
    }
}
