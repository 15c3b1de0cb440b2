//! Accepting: bounded per loop turn, paused at the connection cap and after errors
//! such as EMFILE.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::connection::Connection;
use super::{ACCEPT_BACKOFF, ACCEPT_ERROR_LOG_PERIOD, ACCEPTS_PER_TURN, FIXED_KEYS, Server};
use crate::net::is_transient;
use crate::reactor::{Interest, Registered};

impl Server {
    /// Accepts what the backlog holds, up to the cap and `ACCEPTS_PER_TURN`.
    pub(super) fn accept(&mut self) {
        for _ in 0..ACCEPTS_PER_TURN {
            if self.serving >= self.max_connections {
                break;
            }
            let Some(listener) = &self.listener else {
                return;
            };
            let (stream, peer) = match listener.get_ref().accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error)
                    if is_transient(&error) || error.kind() == io::ErrorKind::ConnectionAborted =>
                {
                    continue;
                }
                Err(error) => {
                    // EMFILE and friends: the pending connection stays in the
                    // backlog; try again after a pause instead of spinning on it.
                    let now = Instant::now();
                    self.log_accept_error(now, &error);
                    self.accept_retry = Some(now + ACCEPT_BACKOFF);
                    self.update_listener();
                    return;
                }
            };
            if let Err(error) = self.register(stream, peer) {
                log::error!(
                    "action: accept_connections | result: fail | ip: {} | error: {error}",
                    peer.ip()
                );
            }
        }
        if self.serving >= self.max_connections {
            log::warn!(
                "action: accept_connections | result: in_progress | connections: {} | error: at SERVER_MAX_CONNECTIONS, new connections wait in the backlog",
                self.serving
            );
            self.update_listener();
        }
    }

    fn register(&mut self, stream: TcpStream, peer: SocketAddr) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        // Each echo is one write: sending it at once beats Nagle's coalescing.
        stream.set_nodelay(true)?;
        let slot = self.peers.vacant_entry();
        let socket = Registered::new(
            &self.poller,
            FIXED_KEYS + slot.key(),
            stream,
            Interest::READ,
        )?;
        slot.insert(Connection::new(socket, peer.ip(), self.max_line, self.tick));
        self.serving += 1;
        if self.sweep_at.is_none() {
            // The first connection starts the sweeps; one clock read per accept at most.
            self.sweep_at = self.idle_sweep_after(Instant::now());
        }
        log::info!(
            "action: accept_connections | result: success | ip: {}",
            peer.ip()
        );
        Ok(())
    }

    /// Logs an accept failure unless one was logged less than a period ago; the
    /// next line counts the failures in between.
    fn log_accept_error(&mut self, now: Instant, error: &io::Error) {
        self.accept_errors += 1;
        if self
            .accept_errors_logged
            .is_some_and(|at| now < at + ACCEPT_ERROR_LOG_PERIOD)
        {
            return;
        }
        log::error!(
            "action: accept_connections | result: fail | failures: {} | error: {error}",
            self.accept_errors
        );
        self.accept_errors = 0;
        self.accept_errors_logged = Some(now);
    }

    /// Whether new clients are taken now: listening, below the cap, not backing off.
    pub(super) fn accepting(&self) -> bool {
        self.listener.is_some()
            && self.serving < self.max_connections
            && self.accept_retry.is_none()
    }

    /// Accepts only while below the connection cap and not backing off.
    pub(super) fn update_listener(&mut self) {
        let interest = if self.accepting() {
            Interest::READ
        } else {
            Interest::NONE
        };
        let Some(listener) = &mut self.listener else {
            return;
        };
        if let Err(error) = listener.set_interest(interest) {
            log::error!("action: accept_connections | result: fail | error: {error}");
        }
    }
}
