//! The echo server: accepts connections, runs each one's state machine, and
//! shuts down gracefully when a signal arrives on the self-pipe.
//!
//! Shutdown, in order: close the listener; read and echo what connections have
//! already received; flush every pending echo and close each connection once it
//! is flushed; close the signal pipe; exit 0. `SERVER_SHUTDOWN_GRACE` bounds the
//! flush against peers that never read, and a second signal cuts it short.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::ServerConfig;
use crate::connection::{Connection, is_transient};
use crate::duration;
use crate::logging;
use crate::reactor::{Interest, Key, Reactor, Ready};
use crate::signals::SignalPipe;

/// Size of the one read buffer shared by all connections.
const READ_BUFFER: usize = 64 * 1024;

/// How long accepting pauses after an error such as EMFILE, so that the listener,
/// still readable, does not spin the loop while no descriptor is free.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Everything the server's poller watches.
enum Source {
    Listener(TcpListener),
    Signals(SignalPipe),
    Peer(Connection),
}

impl AsFd for Source {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Source::Listener(listener) => listener.as_fd(),
            Source::Signals(pipe) => pipe.as_fd(),
            Source::Peer(connection) => connection.as_fd(),
        }
    }
}

/// Why a connection is being closed, for its log line.
enum Closing {
    /// Everything owed was sent (after the peer's EOF, or during a shutdown).
    Done,
    /// The socket failed or the peer broke the protocol.
    Failed(io::Error),
    /// The shutdown stopped waiting for this peer.
    Cut(&'static str),
}

/// Binds the listening socket with the configured backlog, non-blocking.
///
/// # Errors
/// The address cannot be bound (in use, not local, no permission).
pub fn bind(config: &ServerConfig) -> io::Result<TcpListener> {
    let address = SocketAddr::new(config.bind_ip, config.port);
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // A restarted server must not wait for the old connections' TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(config.listen_backlog)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// The running server.
pub struct Server {
    reactor: Reactor<Source>,
    listener: Option<Key>,
    signals: Option<Key>,
    max_connections: usize,
    max_line: usize,
    shutdown_grace: Duration,
    connections: usize,
    scratch: Vec<u8>,
    /// Set once a shutdown began: when the drain must end.
    drain_deadline: Option<Instant>,
    /// Set while accepting is paused after an accept error.
    accept_retry: Option<Instant>,
}

impl Server {
    /// Takes over a bound listener and the signal pipe.
    ///
    /// # Errors
    /// The poller cannot be created or refuses the two sources.
    pub fn new(
        listener: TcpListener,
        signals: SignalPipe,
        config: &ServerConfig,
    ) -> io::Result<Self> {
        let mut reactor = Reactor::new()?;
        let signals = reactor.insert(Source::Signals(signals), Interest::READ)?;
        let listener = reactor.insert(Source::Listener(listener), Interest::READ)?;
        Ok(Server {
            reactor,
            listener: Some(listener),
            signals: Some(signals),
            max_connections: config.max_connections,
            max_line: config.max_line_bytes,
            shutdown_grace: config.shutdown_grace,
            connections: 0,
            scratch: vec![0; READ_BUFFER],
            drain_deadline: None,
            accept_retry: None,
        })
    }

    /// Serves until a signal asks to stop and the drain is over.
    ///
    /// # Errors
    /// The poller itself failed; connections' errors only close them.
    pub fn run(mut self) -> io::Result<()> {
        let mut ready = Vec::new();
        while self.drain_deadline.is_none() || self.connections > 0 {
            // Records of this turn reach stdout before the loop sleeps.
            logging::flush();
            let deadline = earliest(self.drain_deadline, self.accept_retry);
            self.reactor.turn(deadline, &mut ready)?;
            for event in ready.drain(..) {
                self.dispatch(event);
            }
            if self.drain_deadline.is_some() || self.accept_retry.is_some() {
                self.on_timers(Instant::now());
            }
        }
        self.close_signal_pipe();
        log::info!("action: shutdown | result: success");
        logging::flush();
        Ok(())
    }

    fn dispatch(&mut self, event: Ready) {
        // The two fixed sources are known by key: no slab lookup to tell them apart.
        if Some(event.key) == self.listener {
            self.accept();
        } else if Some(event.key) == self.signals {
            self.on_signal();
        } else {
            self.on_peer(event);
        }
    }

    fn on_timers(&mut self, now: Instant) {
        if self.accept_retry.is_some_and(|at| at <= now) {
            self.accept_retry = None;
            self.update_listener();
        }
        if self.drain_deadline.is_some_and(|at| at <= now) {
            self.cut_all("shutdown grace expired");
        }
    }

    fn accept(&mut self) {
        let Some(key) = self.listener else { return };
        while self.connections < self.max_connections {
            let Some(Source::Listener(listener)) = self.reactor.get(key) else {
                return;
            };
            let (stream, peer) = match listener.accept() {
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
                    log::error!("action: accept_connections | result: fail | error: {error}");
                    self.accept_retry = Some(Instant::now() + ACCEPT_BACKOFF);
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
        log::warn!(
            "action: accept_connections | result: in_progress | connections: {} | error: at SERVER_MAX_CONNECTIONS, new connections wait in the backlog",
            self.connections
        );
        self.update_listener();
    }

    fn register(&mut self, stream: std::net::TcpStream, peer: SocketAddr) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        // Each echo is one write: sending it at once beats Nagle's coalescing.
        stream.set_nodelay(true)?;
        let connection = Connection::new(stream, peer.ip(), self.max_line);
        self.reactor
            .insert(Source::Peer(connection), Interest::READ)?;
        self.connections += 1;
        log::info!(
            "action: accept_connections | result: success | ip: {}",
            peer.ip()
        );
        Ok(())
    }

    /// Accepts only while below the connection cap and not backing off.
    fn update_listener(&mut self) {
        let Some(key) = self.listener else { return };
        let accepting = self.connections < self.max_connections && self.accept_retry.is_none();
        let interest = if accepting {
            Interest::READ
        } else {
            Interest::NONE
        };
        if let Err(error) = self.reactor.set_interest(key, interest) {
            log::error!("action: accept_connections | result: fail | error: {error}");
        }
    }

    fn on_peer(&mut self, event: Ready) {
        let Some(Source::Peer(connection)) = self.reactor.get_mut(event.key) else {
            return;
        };
        let mut outcome = Ok(0);
        if event.readable && connection.interest().readable {
            outcome = connection.on_readable(&mut self.scratch);
        }
        // An error or hang-up is reported as both readable and writable.
        if outcome.is_ok() && connection.pending() > 0 && event.writable {
            outcome = connection.on_writable().map(|()| 0);
        }
        let interest = connection.interest();
        match outcome {
            Err(error) => self.close(event.key, Closing::Failed(error)),
            Ok(_) if connection.is_finished() => self.close(event.key, Closing::Done),
            Ok(_) => {
                if let Err(error) = self.reactor.set_interest(event.key, interest) {
                    self.close(event.key, Closing::Failed(error));
                }
            }
        }
    }

    fn on_signal(&mut self) {
        let Some(key) = self.signals else { return };
        let Some(Source::Signals(pipe)) = self.reactor.get_mut(key) else {
            return;
        };
        // Drained before acting: see the signals module.
        for signal in pipe.take() {
            if self.drain_deadline.is_none() {
                self.begin_shutdown(signal);
            } else {
                log::info!(
                    "action: shutdown | result: in_progress | signal: {signal} | forced: true"
                );
                self.cut_all("second signal");
            }
        }
    }

    fn begin_shutdown(&mut self, signal: &str) {
        log::info!(
            "action: shutdown | result: in_progress | signal: {signal} | connections: {} | grace: {}",
            self.connections,
            duration::format(self.shutdown_grace)
        );
        self.drain_deadline = Some(Instant::now() + self.shutdown_grace);
        if let Some(key) = self.listener.take() {
            drop(self.reactor.remove(key));
            log::info!("action: close_listener | result: success");
        }
        for key in self.peer_keys() {
            let Some(Source::Peer(connection)) = self.reactor.get_mut(key) else {
                continue;
            };
            match connection.stop_reading(&mut self.scratch) {
                Err(error) => self.close(key, Closing::Failed(error)),
                Ok(dropped) => {
                    if dropped > 0 {
                        log::warn!(
                            "action: receive_message | result: fail | ip: {} | error: shutdown dropped {dropped} bytes of an unterminated line",
                            connection.peer()
                        );
                    }
                    if connection.is_finished() {
                        self.close(key, Closing::Done);
                    } else {
                        let interest = connection.interest();
                        if let Err(error) = self.reactor.set_interest(key, interest) {
                            self.close(key, Closing::Failed(error));
                        }
                    }
                }
            }
        }
    }

    fn cut_all(&mut self, why: &'static str) {
        for key in self.peer_keys() {
            self.close(key, Closing::Cut(why));
        }
    }

    fn peer_keys(&self) -> Vec<Key> {
        let keys = self.reactor.keys().into_iter();
        keys.filter(|&key| matches!(self.reactor.get(key), Some(Source::Peer(_))))
            .collect()
    }

    fn close(&mut self, key: Key, closing: Closing) {
        let Some(Source::Peer(connection)) = self.reactor.remove(key) else {
            return;
        };
        self.connections -= 1;
        let ip = connection.peer();
        let pending = connection.pending();
        let shutting_down = self.drain_deadline.is_some();
        match closing {
            Closing::Done if shutting_down => {
                log::info!("action: close_connection | result: success | ip: {ip}");
            }
            Closing::Done => log::debug!("action: close_connection | result: success | ip: {ip}"),
            Closing::Failed(error) if error.kind() == io::ErrorKind::InvalidData => {
                log::warn!("action: receive_message | result: fail | ip: {ip} | error: {error}");
                log::info!("action: close_connection | result: success | ip: {ip}");
            }
            Closing::Failed(error) => {
                log::warn!("action: close_connection | result: fail | ip: {ip} | error: {error}");
            }
            Closing::Cut(_) if pending == 0 => {
                log::info!("action: close_connection | result: success | ip: {ip}");
            }
            Closing::Cut(why) => log::warn!(
                "action: close_connection | result: fail | ip: {ip} | error: {why} with {pending} bytes unsent"
            ),
        }
        connection.close();
        self.update_listener();
    }

    fn close_signal_pipe(&mut self) {
        if let Some(key) = self.signals.take() {
            drop(self.reactor.remove(key));
            log::info!("action: close_signal_pipe | result: success");
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
