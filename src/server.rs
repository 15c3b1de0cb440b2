//! The echo server: accepts connections, runs each one's state machine, and
//! shuts down gracefully when a signal arrives on the self-pipe.
//!
//! One loop turn: write the log backlog, sleep until an event or the earliest
//! deadline, dispatch every event by key, then serve the deadlines that passed.
//! Connections are handled in `peers`, the shutdown in `shutdown`.

mod accept;
mod peers;
mod shutdown;
mod status;

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use crate::config::ServerConfig;
use crate::connection::Connection;
use crate::logging;
use crate::net::{tcp_socket, with_context};
use crate::reactor::{Events, Interest, Key, Reactor};
use crate::signals::SignalPipe;
use crate::timer::Timer;

/// Size of the one read buffer shared by all connections.
const READ_BUFFER: usize = 64 * 1024;

/// How long accepting pauses after an error such as EMFILE, so that the listener,
/// still readable, does not spin the loop while no descriptor is free.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accept failures are logged at most once per this period, with a count: a
/// descriptor shortage that lasts would otherwise write a line per back-off.
const ACCEPT_ERROR_LOG_PERIOD: Duration = Duration::from_secs(1);

/// Connections accepted in one loop turn at most: a burst of connects then waits
/// in the backlog a turn or two instead of delaying every live peer's echo.
const ACCEPTS_PER_TURN: usize = 64;

/// The self-pipe's fixed key.
const SIGNALS: Key = 0;
/// The listener's fixed key.
const LISTENER: Key = 1;
/// Stdout's fixed key, registered only when it is a pipe or socket.
const STDOUT: Key = 2;
/// The timer's fixed key: it fires at the earliest deadline.
const TIMER: Key = 3;
/// The status socket's fixed key: health probes, outside the connection cap.
const STATUS: Key = 4;
/// Keys below this are the fixed sources above; peers get the rest.
const FIXED_KEYS: Key = 5;

/// Everything the server's poller watches.
enum Source {
    Listener(TcpListener),
    Signals(SignalPipe),
    Stdout(io::Stdout),
    Timer(Timer),
    Status(UnixListener),
    Peer(Connection),
}

impl AsFd for Source {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Source::Listener(listener) => listener.as_fd(),
            Source::Signals(pipe) => pipe.as_fd(),
            Source::Stdout(stdout) => stdout.as_fd(),
            Source::Timer(timer) => timer.as_fd(),
            Source::Status(listener) => listener.as_fd(),
            Source::Peer(connection) => connection.as_fd(),
        }
    }
}

/// Binds the listening socket with the configured backlog, non-blocking.
///
/// # Errors
/// The address cannot be bound (in use, not local, no permission).
pub fn bind(config: &ServerConfig) -> io::Result<TcpListener> {
    let address = SocketAddr::new(config.bind_ip, config.port);
    let bound = || -> io::Result<TcpListener> {
        let socket = tcp_socket(address)?;
        // A restarted server must not wait for the old connections' TIME_WAIT.
        socket.set_reuse_address(true)?;
        socket.bind(&address.into())?;
        socket.listen(config.listen_backlog)?;
        Ok(socket.into())
    };
    bound().map_err(|error| {
        with_context(
            error,
            &format!("cannot listen on {address} (SERVER_BIND_IP, SERVER_PORT)"),
        )
    })
}

/// The running server.
pub struct Server {
    reactor: Reactor<Source>,
    max_connections: usize,
    max_line: usize,
    shutdown_grace: Duration,
    idle_timeout: Option<Duration>,
    max_buffered: usize,
    /// Connections registered, lingering ones included: the loop ends at zero.
    connections: usize,
    /// Connections that count against `max_connections` (not lingering).
    serving: usize,
    /// Bytes held for all peers together (see `Connection::held`).
    buffered: usize,
    /// Set while `buffered` is over the budget, until it falls well below.
    budget_spent: bool,
    /// Set while hoarders are being shed, so that settling one does not start
    /// another pass.
    shedding: bool,
    /// Echo bytes thrown away by cutting connections: the drain reports them.
    unsent: usize,
    /// Connections cut with echo bytes still owed.
    cut_with_unsent: usize,
    /// The listener is still registered (no shutdown yet).
    listening: bool,
    /// Stdout is registered and watched while log records wait for it.
    stdout_watched: bool,
    /// Records waited for stdout at the last flush: it is watched for writability.
    stdout_waits: bool,
    scratch: Vec<u8>,
    /// Counts idle sweeps, which run on their own fixed schedule: a connection's
    /// progress is stamped with it, so the echo path reads no clock.
    tick: u32,
    /// Set once a shutdown began: when the drain must end.
    drain_deadline: Option<Instant>,
    /// Set while accepting is paused after an accept error.
    accept_retry: Option<Instant>,
    /// When an accept failure was last logged, and how many failed since.
    accept_errors_logged: Option<Instant>,
    accept_errors: u64,
    /// The next idle sweep; none without connections to watch. Nothing else moves
    /// it: a sweep advances `tick`, so an early one would age every connection.
    sweep_at: Option<Instant>,
    /// Lingering connections by the end of their linger, earliest first: every
    /// linger lasts `LINGER`, so appending keeps the order.
    lingers: VecDeque<(Instant, Key)>,
}

impl Server {
    /// Takes over a bound listener, its status socket (see `tp0::health`) and the
    /// signal pipe.
    ///
    /// # Errors
    /// The poller cannot be created or refuses the fixed sources.
    pub fn new(
        listener: TcpListener,
        status: UnixListener,
        signals: SignalPipe,
        config: &ServerConfig,
    ) -> io::Result<Self> {
        let mut reactor = Reactor::new(FIXED_KEYS)?;
        reactor.insert_at(SIGNALS, Source::Signals(signals), Interest::READ)?;
        reactor.insert_at(LISTENER, Source::Listener(listener), Interest::READ)?;
        reactor.insert_at(STATUS, Source::Status(status), Interest::READ)?;
        reactor.insert_at(TIMER, Source::Timer(Timer::new()?), Interest::READ)?;
        // A stdout that cannot be watched (closed, not pollable) stays as it was:
        // records are then written as before, or lost, never a reason to stop.
        let stdout_watched = logging::set_nonblocking().unwrap_or(false)
            && reactor
                .insert_at(STDOUT, Source::Stdout(io::stdout()), Interest::NONE)
                .is_ok();
        if !stdout_watched {
            logging::finish();
        }
        Ok(Server {
            reactor,
            max_connections: config.max_connections,
            max_line: config.max_line_bytes,
            shutdown_grace: config.shutdown_grace,
            idle_timeout: Some(config.idle_timeout).filter(|idle| !idle.is_zero()),
            max_buffered: config.max_buffered,
            connections: 0,
            serving: 0,
            buffered: 0,
            budget_spent: false,
            shedding: false,
            unsent: 0,
            cut_with_unsent: 0,
            listening: true,
            stdout_watched,
            stdout_waits: false,
            scratch: vec![0; READ_BUFFER],
            tick: 0,
            drain_deadline: None,
            accept_retry: None,
            accept_errors_logged: None,
            accept_errors: 0,
            sweep_at: None,
            lingers: VecDeque::new(),
        })
    }

    /// Serves until a signal asks to stop and the drain is over.
    ///
    /// # Errors
    /// The poller itself failed; connections' errors only close them.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::new();
        while self.drain_deadline.is_none() || self.connections > 0 {
            self.flush_log();
            self.arm_timer()?;
            events.clear();
            self.reactor.wait(&mut events, None)?;
            let mut timer_fired = false;
            for event in events.iter() {
                match event.key {
                    SIGNALS => self.on_signal(),
                    LISTENER => self.accept(),
                    STDOUT => self.on_stdout(),
                    TIMER => timer_fired = true,
                    STATUS => self.on_probe(),
                    key => self.on_peer(key, event.readable, event.writable),
                }
            }
            if timer_fired {
                // SAFETY: only the timer's own method runs; it keeps its descriptor.
                if let Some(Source::Timer(timer)) = unsafe { self.reactor.get_mut(TIMER) } {
                    timer.clear();
                }
                self.on_deadlines(Instant::now());
            }
        }
        self.log_drain();
        self.close_signal_pipe();
        log::info!("action: shutdown | result: success");
        Ok(())
    }

    /// Records of this turn leave before the loop sleeps; stdout is watched only
    /// while some of them wait for it.
    fn flush_log(&mut self) {
        logging::flush();
        if self.stdout_watched {
            self.stdout_waits = logging::backlog() > 0;
            let interest = Interest::new(false, self.stdout_waits);
            if let Err(error) = self.reactor.set_interest(STDOUT, interest) {
                // Unwatched, the backlog still leaves at the next turn's flush.
                self.unwatch_stdout();
                log::error!("action: log | result: fail | error: {error}");
            }
        }
    }

    /// Stdout is writable again (the flush before the next wait writes), or it
    /// reported an error or hang-up: with nothing waiting for it, that is the only
    /// event it can have. Level-triggered, a hang-up would wake every wait, so it is
    /// served once: stdout leaves the poller and records are only counted.
    fn on_stdout(&mut self) {
        if self.stdout_waits {
            logging::flush();
        }
        if !self.stdout_waits || logging::is_broken() {
            logging::stdout_gone();
            self.unwatch_stdout();
        }
    }

    fn unwatch_stdout(&mut self) {
        self.stdout_watched = false;
        self.stdout_waits = false;
        drop(self.reactor.remove(STDOUT));
    }

    /// Sets the timer for the earliest deadline; a system call only when it changed.
    fn arm_timer(&mut self) -> io::Result<()> {
        // Runs every turn: plain comparisons, no iterator.
        let next = earliest(
            earliest(self.drain_deadline, self.accept_retry),
            earliest(self.sweep_at, self.lingers.front().map(|&(end, _)| end)),
        );
        // SAFETY: only the timer's own method runs; it keeps its descriptor.
        match unsafe { self.reactor.get_mut(TIMER) } {
            Some(Source::Timer(timer)) => timer.set(next),
            _ => Ok(()),
        }
    }

    fn on_deadlines(&mut self, now: Instant) {
        if self.accept_retry.is_some_and(|at| at <= now) {
            self.accept_retry = None;
            self.update_listener();
        }
        if self.drain_deadline.is_some_and(|at| at <= now) {
            self.cut_all("shutdown grace expired");
        }
        if self.lingers.front().is_some_and(|&(end, _)| end <= now) {
            self.end_lingers(now);
        }
        if self.sweep_at.is_some_and(|at| at <= now) {
            self.sweep(now);
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
