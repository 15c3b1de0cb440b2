//! The memory budget over all connections.
//!
//! `buffered` sums what every connection holds (pending echoes and partial lines).
//! Past `SERVER_MAX_BUFFERED`, the largest unterminated lines other than the one
//! that just grew are shed (their input ends, the line is dropped). If echoes still
//! hold the budget, connections that hold output stop being read until the sum
//! falls to three quarters of it; the others still are, with reads cut to
//! `SPENT_READ`, so an echo that goes straight through is served at once and one
//! that does not adds little. NOTES "The memory budget" says why.

use super::connection::{Closing, Phase};
use super::{Before, READ_BUFFER, SPENT_READ, Server};

/// Shedding stops once the bytes held are back to this fraction of the budget: a
/// little below it, so that the next few reads do not each pay another pass.
const SHED_TARGET: (usize, usize) = (7, 8);

impl Server {
    /// What the connection at `grown` holds changed: shed hoarders if that put the
    /// sum over the budget, and apply the budget's state if it crossed a threshold.
    pub(super) fn held_changed(&mut self, grown: usize) {
        if self.buffered > self.max_buffered && !self.shedding {
            self.shedding = true;
            self.shed_hoarders(grown);
            self.shedding = false;
        }
        self.check_budget();
    }

    /// Over the budget: ends the input of the connections holding the largest
    /// unterminated lines, `keep` (the one that just grew) excepted, until the sum
    /// is back to `SHED_TARGET` of the budget. Nothing is shed when all those lines
    /// together could not bring it back there.
    fn shed_hoarders(&mut self, keep: usize) {
        let target = self.max_buffered / SHED_TARGET.1 * SHED_TARGET.0;
        let mut hoarders: Vec<(usize, usize)> = self
            .peers
            .iter()
            .filter(|&(index, c)| index != keep && c.phase() == Phase::Open)
            .filter(|(_, c)| c.partial_held() > 0)
            .map(|(index, c)| (c.partial_held(), index))
            .collect();
        // When echoes that peers do not read are what holds the budget, shedding lines
        // would cost those peers their input and free too little: they are paused
        // instead (NOTES "The memory budget").
        let sheddable: usize = hoarders.iter().map(|&(partial, _)| partial).sum();
        if self.buffered.saturating_sub(sheddable) > target {
            return;
        }
        hoarders.sort_unstable_by(|a, b| b.cmp(a));
        for (partial, index) in hoarders {
            if self.buffered <= target {
                break;
            }
            let spent = self.budget_spent;
            let Some(connection) = self.peers.get_mut(index) else {
                continue;
            };
            log::warn!(
                "action: shed_connection | result: success | ip: {} | partial: {partial} | buffered: {} | max_buffered: {}",
                connection.peer(),
                self.buffered,
                self.max_buffered
            );
            let before = Before::of(connection);
            let fate = connection.end_input(spent);
            self.account(index, before, fate);
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
        self.read_size = if spent { SPENT_READ } else { READ_BUFFER };
        log::warn!(
            "action: memory_budget | result: {} | buffered: {} | max_buffered: {}",
            if spent { "fail" } else { "success" },
            self.buffered,
            self.max_buffered
        );
        let mut failed = Vec::new();
        for (index, connection) in &mut self.peers {
            if let Err(error) = connection.follow_budget(spent) {
                failed.push((index, error));
            }
        }
        for (index, error) in failed {
            self.close(index, Closing::Failed(error.into()));
        }
    }
}
