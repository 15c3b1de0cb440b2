//! Shutdown, in order: close the listener; read and echo what connections have
//! already received; flush every pending echo, send FIN and wait for each peer's
//! EOF before closing; close the signal pipe; exit 0. `SERVER_SHUTDOWN_GRACE`
//! bounds the drain against peers that never read or never close, and a signal
//! read in a later loop turn cuts it short.

use std::time::Instant;

use super::connection::Closing;
use super::{Before, Server};
use crate::duration;

impl Server {
    /// The first signal begins the drain, a signal in a later turn cuts it short.
    pub(super) fn on_signal(&mut self) {
        let Some(pipe) = &self.signals else {
            return;
        };
        // Drained before acting: see the signals module. Everything read in one
        // turn is one request (Ctrl-C in a shell sends SIGINT, a supervisor may add
        // SIGTERM at the same moment); only a later turn's signal forces.
        let signals = pipe.get_ref().take().join(",");
        if signals.is_empty() {
            return;
        }
        if self.drain_deadline.is_none() {
            self.begin_shutdown(&signals);
        } else {
            log::info!("action: shutdown | result: in_progress | signal: {signals} | forced: true");
            self.cut_all("second signal");
        }
    }

    fn begin_shutdown(&mut self, signals: &str) {
        log::info!(
            "action: shutdown | result: in_progress | signal: {signals} | connections: {} | grace: {}",
            self.peers.len(),
            duration::format(self.shutdown_grace)
        );
        self.drain_deadline = Some(Instant::now() + self.shutdown_grace);
        self.listener = None;
        log::info!("action: close_listener | result: success");
        // By slot, not by iterator: settling may close the connection it is on.
        for index in 0..self.peers.capacity() {
            // The budget holds through the drain: what is left of it is all that
            // reading the lines already received may add.
            let room = self.max_buffered.saturating_sub(self.buffered);
            let (spent, tick) = (self.budget_spent, self.tick);
            let Some(connection) = self.peers.get_mut(index) else {
                continue;
            };
            let before = Before::of(connection);
            let fate = connection.stop_reading(&mut self.scratch, tick, room, spent);
            self.account(index, before, fate);
        }
        let owed: usize = self.peers.iter().map(|(_, c)| c.pending()).sum();
        log::info!(
            "action: drain | result: in_progress | connections: {} | owed: {owed} | buffered: {} | max_buffered: {}",
            self.peers.len(),
            self.buffered,
            self.max_buffered
        );
    }

    /// The drain's outcome, before the last lines of a shutdown.
    pub(super) fn log_drain(&self) {
        if self.unsent == 0 {
            log::info!("action: drain | result: success | unsent: 0");
        } else {
            log::warn!(
                "action: drain | result: fail | unsent: {} | connections_cut: {}",
                self.unsent,
                self.cut_with_unsent
            );
        }
    }

    /// Closes every connection now, for `why`, unsent echoes included.
    pub(super) fn cut_all(&mut self, why: &'static str) {
        for index in 0..self.peers.capacity() {
            self.close(index, Closing::Cut(why));
        }
    }

    /// The last step of a shutdown: the pipe and its handlers go, and it is logged.
    pub(super) fn close_signal_pipe(&mut self) {
        self.signals = None;
        log::info!("action: close_signal_pipe | result: success");
    }
}
