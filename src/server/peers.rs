//! Events on connections: the one settle step after each, the memory budget, the
//! idle sweep, and closing.
//!
//! Budget: `buffered` sums what every connection holds (pending echoes and partial
//! lines). Past `SERVER_MAX_BUFFERED`, the largest unterminated lines other than the
//! one that just grew are shed (their input ends, the line is dropped). If echoes
//! still hold the budget, connections that hold output stop being read until the sum
//! falls to three quarters of it; the others still are, with reads cut to
//! `SPENT_READ`, so an echo that goes straight through is served at once and one
//! that does not adds little.

use std::time::Instant;

use super::{Server, Source};
use crate::connection::{Connection, Fault, Phase, Step};
use crate::reactor::{Interest, Key};

/// The read size for connections that hold nothing while the budget is spent: at
/// most this much more per connection can be kept beyond the budget.
const SPENT_READ: usize = 4 * 1024;

/// Shedding stops once the bytes held are back to this fraction of the budget: a
/// little below it, so that the next few reads do not each pay another pass.
const SHED_TARGET: (usize, usize) = (7, 8);

/// Sweeps per idle timeout: a connection is closed after between 4 and 5 sweep
/// intervals without progress, i.e. 1 to 1.25 times `SERVER_IDLE_TIMEOUT`.
const IDLE_SWEEPS: u32 = 4;

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
    /// The totals' share of `connection` now.
    #[inline(always)]
    pub(super) fn of(connection: &Connection) -> Self {
        Before {
            held: connection.held(),
            holds_slot: connection.holds_slot(),
        }
    }
}

impl Server {
    /// Serves a readiness event on the connection under `key`, then settles it.
    pub(super) fn on_peer(&mut self, key: Key, readable: bool, writable: bool) {
        let spent = self.budget_spent;
        let tick = self.tick;
        // A stale event: the key was closed earlier in this batch.
        // SAFETY: only the connection's methods run; none replaces or closes its socket.
        let Some(Source::Peer(connection)) = (unsafe { self.reactor.get_mut(key) }) else {
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
            step = connection.on_readable(&mut self.scratch[..size], tick);
        }
        // An error or hang-up is reported as both readable and writable.
        if step.is_ok() && writable && connection.pending() > 0 {
            step = connection.on_writable(tick);
        }
        // The steady echo: quiet before and after (open, holding nothing), so its
        // interest, the totals and its slot are as they were; nothing to settle.
        if before.held == 0 && step.is_ok() && connection.is_quiet() {
            return;
        }
        self.settle(key, before, step);
    }

    /// The one step after any event on a connection: a failure closes it, an
    /// over-long line ends its input, a finished one closes, any other gets the
    /// interest its state derives; the totals follow what it now holds.
    pub(super) fn settle(&mut self, key: Key, before: Before, step: Step) {
        // SAFETY: only the connection's methods run; none replaces or closes its socket.
        let Some(Source::Peer(connection)) = (unsafe { self.reactor.get_mut(key) }) else {
            return;
        };
        let step = match step {
            Err(Fault::LineTooLong(error)) => {
                log::warn!(
                    "action: receive_message | result: fail | ip: {} | error: line longer than {} bytes",
                    connection.peer(),
                    error.limit
                );
                connection.finish_input().map(drop)
            }
            other => other.map(drop),
        };
        let held = connection.held();
        self.buffered = (self.buffered + held).saturating_sub(before.held);
        let freed_slot = before.holds_slot && !connection.holds_slot();
        let linger = connection.linger_deadline().filter(|_| before.holds_slot);
        let finished = connection.phase() == Phase::Closed;
        let interest = connection.interest(self.budget_spent);
        match step {
            Err(fault) => self.close(key, Closing::Failed(fault)),
            Ok(()) if finished => self.close(key, Closing::Done),
            Ok(()) => {
                if let Err(error) = self.reactor.set_interest(key, interest) {
                    self.close(key, Closing::Failed(error.into()));
                } else if let Some(end) = linger {
                    // It began lingering in this step.
                    self.lingers.push_back((end, key));
                }
            }
        }
        if freed_slot {
            self.serving -= 1;
            self.update_listener();
        }
        if held != before.held {
            if self.buffered > self.max_buffered && !self.shedding {
                self.shedding = true;
                self.shed_hoarders(key);
                self.shedding = false;
            }
            self.check_budget();
        }
    }

    /// Over the budget: ends the input of the connections holding the largest
    /// unterminated lines, `keep` (the one that just grew) excepted, until the sum
    /// is back to `SHED_TARGET` of the budget or no other line is left to shed.
    fn shed_hoarders(&mut self, keep: Key) {
        let target = self.max_buffered / SHED_TARGET.1 * SHED_TARGET.0;
        let mut hoarders: Vec<(usize, Key)> = self
            .peer_keys()
            .into_iter()
            .filter(|&key| key != keep)
            .filter_map(|key| match self.reactor.get(key) {
                Some(Source::Peer(c)) if c.phase() == Phase::Open && c.partial_held() > 0 => {
                    Some((c.partial_held(), key))
                }
                _ => None,
            })
            .collect();
        hoarders.sort_unstable_by(|a, b| b.cmp(a));
        for (partial, key) in hoarders {
            if self.buffered <= target {
                break;
            }
            // SAFETY: only the connection's methods run; none replaces or closes its socket.
            let Some(Source::Peer(connection)) = (unsafe { self.reactor.get_mut(key) }) else {
                continue;
            };
            if connection.phase() != Phase::Open {
                continue;
            }
            log::warn!(
                "action: shed_connection | result: success | ip: {} | partial: {partial} | buffered: {} | max_buffered: {}",
                connection.peer(),
                self.buffered,
                self.max_buffered
            );
            let before = Before::of(connection);
            let step = connection.finish_input().map(|_| 0);
            self.settle(key, before, step);
        }
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

    /// The idle sweep after one at `now`, if there is an idle timeout.
    pub(super) fn idle_sweep_after(&self, now: Instant) -> Option<Instant> {
        self.idle_timeout.map(|idle| now + idle / IDLE_SWEEPS)
    }

    /// Closes the lingering connections whose linger ran out by `now`.
    pub(super) fn end_lingers(&mut self, now: Instant) {
        while let Some(&(end, key)) = self.lingers.front() {
            if end > now {
                break;
            }
            self.lingers.pop_front();
            // The key may have been closed and reused since: only a connection whose
            // own linger is over is cut.
            let over = match self.reactor.get(key) {
                Some(Source::Peer(connection)) => connection
                    .linger_deadline()
                    .is_some_and(|own| own <= now && connection.phase() == Phase::Lingering),
                _ => false,
            };
            if over {
                self.close(key, Closing::Cut("no FIN from the peer in time"));
            }
        }
    }

    /// Ends the input of connections idle for too long (they go through the close
    /// path) and sets the next sweep, one interval on: the sweeps keep their own
    /// pace whatever else happens, so a connection's idle ticks measure time.
    pub(super) fn sweep(&mut self, now: Instant) {
        self.tick = self.tick.wrapping_add(1);
        let mut watched = false;
        for key in self.peer_keys() {
            // SAFETY: only the connection's methods run; none replaces or closes its
            // socket (closing goes through `Server::close`, which removes it first).
            let Some(Source::Peer(connection)) = (unsafe { self.reactor.get_mut(key) }) else {
                continue;
            };
            let idle = connection.idle_ticks(self.tick) > IDLE_SWEEPS;
            match connection.phase() {
                Phase::Draining if idle => {
                    self.close(
                        key,
                        Closing::Cut("peer read nothing for SERVER_IDLE_TIMEOUT"),
                    );
                }
                Phase::Open if idle => {
                    let before = Before::of(connection);
                    let pending = connection.pending();
                    let step = connection.finish_input();
                    let dropped = *step.as_ref().unwrap_or(&0);
                    log::info!(
                        "action: idle_timeout | result: success | ip: {} | pending: {pending} | dropped: {dropped}",
                        connection.peer(),
                    );
                    self.settle(key, before, step.map(|_| 0));
                }
                Phase::Open | Phase::Draining => watched = true,
                Phase::Lingering | Phase::Closed => {}
            }
        }
        self.sweep_at = if watched {
            self.idle_sweep_after(now)
        } else {
            None
        };
    }

    /// Keys of every registered connection, a copy so closing while iterating is safe.
    pub(super) fn peer_keys(&self) -> Vec<Key> {
        let keys = self.reactor.keys().into_iter();
        keys.filter(|&key| matches!(self.reactor.get(key), Some(Source::Peer(_))))
            .collect()
    }

    /// Unregisters and closes the connection under `key`, settles the totals, logs why.
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
        if pending > 0 {
            self.unsent += pending;
            self.cut_with_unsent += 1;
        }
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
