//! The idle clock and the lingers: the two deadlines connections have of their own.
//!
//! Idle means time: sweeps run every `SERVER_IDLE_TIMEOUT / 4` on their own fixed
//! schedule and each advances the tick that connections stamp their progress with,
//! so nothing else (a linger, a peer, the load) moves them. Lingers have a queue of
//! their own. NOTES "Idle timeout" says why.

use std::time::Instant;

use super::connection::{Closing, Phase};
use super::{Before, Server};

/// Sweeps per idle timeout: a connection is closed after between 4 and 5 sweep
/// intervals without progress, i.e. 1 to 1.25 times `SERVER_IDLE_TIMEOUT`.
const IDLE_SWEEPS: u32 = 4;

impl Server {
    /// The idle sweep after one at `now`, if there is an idle timeout.
    pub(super) fn idle_sweep_after(&self, now: Instant) -> Option<Instant> {
        self.idle_timeout.map(|idle| now + idle / IDLE_SWEEPS)
    }

    /// Closes the lingering connections whose linger ran out by `now`.
    pub(super) fn end_lingers(&mut self, now: Instant) {
        while let Some(&(end, index)) = self.lingers.front() {
            if end > now {
                break;
            }
            self.lingers.pop_front();
            // The slot may have been closed and reused since: only a connection
            // whose own linger is over is cut.
            let over = self.peers.get(index).is_some_and(|connection| {
                connection.phase() == Phase::Lingering
                    && connection.linger_deadline().is_some_and(|own| own <= now)
            });
            if over {
                self.close(index, Closing::Cut("no FIN from the peer in time"));
            }
        }
    }

    /// Ends the input of connections idle for too long (they go through the close
    /// path) and sets the next sweep, one interval on: the sweeps keep their own
    /// pace whatever else happens, so a connection's idle ticks measure time.
    pub(super) fn sweep(&mut self, now: Instant) {
        self.tick = self.tick.wrapping_add(1);
        let mut watched = false;
        let mut idle = Vec::new();
        for (index, connection) in &self.peers {
            match connection.phase() {
                Phase::Open | Phase::Draining if connection.idle_ticks(self.tick) > IDLE_SWEEPS => {
                    idle.push(index);
                }
                Phase::Open | Phase::Draining => watched = true,
                Phase::Lingering | Phase::Finished => {}
            }
        }
        for index in idle {
            let spent = self.budget_spent;
            let Some(connection) = self.peers.get_mut(index) else {
                continue;
            };
            if connection.phase() == Phase::Draining {
                self.close(
                    index,
                    Closing::Cut("peer read nothing for SERVER_IDLE_TIMEOUT"),
                );
            } else {
                let before = Before::of(connection);
                let fate = connection.time_out(spent);
                self.account(index, before, fate);
                // Draining now, it still has its echoes to write: the sweeps go on.
                watched |= self.peers.get(index).is_some_and(|c| c.holds_slot());
            }
        }
        self.sweep_at = if watched {
            self.idle_sweep_after(now)
        } else {
            None
        };
    }
}
