//! Shutdown, in order: close the listener; read and echo what connections have
//! already received; flush every pending echo, send FIN and wait for each peer's
//! EOF before closing; close the signal pipe; exit 0. `SERVER_SHUTDOWN_GRACE`
//! bounds the drain against peers that never read or never close, and a signal
//! read in a later loop turn cuts it short.

use super::peers::{Before, Closing};
use std::time::Instant;

use super::{LISTENER, SIGNALS, Server, Source};
use crate::duration;
use crate::reactor::Key;

impl Server {
    /// The first signal begins the drain, a signal in a later turn cuts it short.
    pub(super) fn on_signal(&mut self) {
        // SAFETY: only the pipe's own method runs; it keeps its descriptor.
        let Some(Source::Signals(pipe)) = (unsafe { self.reactor.get_mut(SIGNALS) }) else {
            return;
        };
        // Drained before acting: see the signals module. Everything read in one
        // turn is one request (Ctrl-C in a shell sends SIGINT, a supervisor may add
        // SIGTERM at the same moment); only a later turn's signal forces.
        let signals = pipe.take().join(",");
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
            self.connections,
            duration::format(self.shutdown_grace)
        );
        self.drain_deadline = Some(Instant::now() + self.shutdown_grace);
        self.listening = false;
        drop(self.reactor.remove(LISTENER));
        log::info!("action: close_listener | result: success");
        for key in self.peer_keys() {
            // The budget holds through the drain: what is left of it is all that
            // reading the lines already received may add.
            let room = self.max_buffered.saturating_sub(self.buffered);
            // SAFETY: only the connection's methods run; none replaces or closes its socket.
            let Some(Source::Peer(connection)) = (unsafe { self.reactor.get_mut(key) }) else {
                continue;
            };
            let before = Before::of(connection);
            let step = connection.stop_reading(&mut self.scratch, self.tick, room);
            if let Ok(dropped) = step {
                if dropped > 0 {
                    log::warn!(
                        "action: receive_message | result: fail | ip: {} | error: shutdown dropped {dropped} bytes of an unterminated line",
                        connection.peer()
                    );
                }
            }
            self.settle(key, before, step.map(|_| 0));
        }
        let owed: usize = self
            .peer_keys()
            .into_iter()
            .map(|key| self.pending_of(key))
            .sum();
        log::info!(
            "action: drain | result: in_progress | connections: {} | owed: {owed} | buffered: {} | max_buffered: {}",
            self.connections,
            self.buffered,
            self.max_buffered
        );
    }

    /// Bytes still owed to the peer under `key`.
    fn pending_of(&self, key: Key) -> usize {
        match self.reactor.get(key) {
            Some(Source::Peer(connection)) => connection.pending(),
            _ => 0,
        }
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
        for key in self.peer_keys() {
            self.close(key, Closing::Cut(why));
        }
    }

    /// The last step of a shutdown: the pipe and its handlers go, and it is logged.
    pub(super) fn close_signal_pipe(&mut self) {
        drop(self.reactor.remove(SIGNALS));
        log::info!("action: close_signal_pipe | result: success");
    }
}
