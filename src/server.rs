//! The echo server: accepts connections, runs each one's state machine, and
//! shuts down gracefully when a signal arrives on the self-pipe.
//!
//! The server owns its sources: the listener, the signal pipe, stdout, the timer
//! and the status socket are fields, each registered with the poller for as long as
//! it lives, and the connections sit in a slab, an event's key being its index
//! plus `FIXED_KEYS`. One loop turn: write the log backlog, sleep until an event or
//! the earliest deadline, dispatch every event by key, then serve the deadlines that
//! passed. An event on a connection is served here and in the connection itself;
//! accepting, the budget, the idle clock and the shutdown have a file each.

mod accept;
mod budget;
mod connection;
mod idle;
mod shutdown;
mod status;
mod timer;

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::rc::Rc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::config::ServerConfig;
use crate::logging;
use crate::net::{tcp_socket, with_context};
use crate::reactor::{Events, Interest, Poller, Registered, level_poller};
use crate::signals::SignalPipe;
use connection::{Closing, Connection, Fate};
use timer::Timer;

/// Size of the one read buffer shared by all connections.
const READ_BUFFER: usize = 64 * 1024;

/// The read size for connections that hold nothing while the budget is spent: at
/// most this much more per connection can be kept beyond the budget.
const SPENT_READ: usize = 4 * 1024;

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
const SIGNALS: usize = 0;
/// The listener's fixed key.
const LISTENER: usize = 1;
/// Stdout's fixed key, registered only when it is a pipe or socket.
const STDOUT: usize = 2;
/// The timer's fixed key: it fires at the earliest deadline.
const TIMER: usize = 3;
/// The status socket's fixed key: health probes, outside the connection cap.
const STATUS: usize = 4;
/// Keys below this are the fixed sources above; a connection's key is its slab
/// index plus this.
const FIXED_KEYS: usize = 5;

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

/// What a connection held before an event, to settle the totals after it.
#[derive(Clone, Copy)]
struct Before {
    held: usize,
    holds_slot: bool,
}

impl Before {
    /// The totals' share of `connection` now.
    #[inline(always)]
    fn of(connection: &Connection) -> Self {
        Before {
            held: connection.held(),
            holds_slot: connection.holds_slot(),
        }
    }
}

/// The running server.
pub struct Server {
    poller: Rc<Poller>,
    /// Dropped as the last step of a shutdown.
    signals: Option<Registered<SignalPipe>>,
    /// Dropped (closed) when a shutdown begins.
    listener: Option<Registered<TcpListener>>,
    /// Health probes (see `status`).
    status_socket: Registered<UnixListener>,
    /// Registered while it is a pipe or socket that works; watched for writability
    /// only while log records wait for it.
    stdout: Option<Registered<io::Stdout>>,
    timer: Timer,
    /// Every connection, lingering ones included: the loop ends when none is left.
    peers: Slab<Connection>,
    max_connections: usize,
    max_line: usize,
    shutdown_grace: Duration,
    idle_timeout: Option<Duration>,
    max_buffered: usize,
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
    scratch: Vec<u8>,
    /// How much of `scratch` one read may fill: less while the budget is spent.
    read_size: usize,
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
    /// Lingering connections (slab index) by the end of their linger, earliest
    /// first: every linger lasts `LINGER`, so appending keeps the order.
    lingers: VecDeque<(Instant, usize)>,
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
        let poller = level_poller()?;
        let signals = Registered::new(&poller, SIGNALS, signals, Interest::READ)?;
        let listener = Registered::new(&poller, LISTENER, listener, Interest::READ)?;
        let status_socket = Registered::new(&poller, STATUS, status, Interest::READ)?;
        let timer = Timer::new(&poller, TIMER)?;
        // A stdout that cannot be watched (closed, not pollable) stays as it was:
        // records are then written as before, or lost, never a reason to stop.
        let stdout = logging::set_nonblocking()
            .unwrap_or(false)
            .then(|| Registered::new(&poller, STDOUT, io::stdout(), Interest::NONE).ok())
            .flatten();
        if stdout.is_none() {
            logging::keep_blocking();
        }
        Ok(Server {
            poller,
            signals: Some(signals),
            listener: Some(listener),
            status_socket,
            stdout,
            timer,
            peers: Slab::new(),
            max_connections: config.max_connections,
            max_line: config.max_line_bytes,
            shutdown_grace: config.shutdown_grace,
            idle_timeout: Some(config.idle_timeout).filter(|idle| !idle.is_zero()),
            max_buffered: config.max_buffered,
            serving: 0,
            buffered: 0,
            budget_spent: false,
            shedding: false,
            unsent: 0,
            cut_with_unsent: 0,
            scratch: vec![0; READ_BUFFER],
            read_size: READ_BUFFER,
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
        // Deadlines move only outside the steady echo (accepts, signals, lingers
        // begun, deadlines served): a turn of nothing else leaves the timer as armed.
        let mut deadlines_moved = true;
        while self.drain_deadline.is_none() || !self.peers.is_empty() {
            self.flush_log();
            if deadlines_moved {
                self.arm_timer()?;
            }
            events.clear();
            self.poller.wait(&mut events, None)?;
            deadlines_moved = false;
            let mut timer_fired = false;
            for event in events.iter() {
                match event.key {
                    SIGNALS => self.on_signal(),
                    LISTENER => self.accept(),
                    STDOUT => self.on_stdout(),
                    TIMER => timer_fired = true,
                    STATUS => self.on_probe(),
                    key => {
                        if self.on_peer(key - FIXED_KEYS, event.readable, event.writable) {
                            continue;
                        }
                    }
                }
                deadlines_moved = true;
            }
            if timer_fired {
                self.timer.clear();
                self.on_deadlines(Instant::now());
            }
        }
        self.log_drain();
        self.close_signal_pipe();
        log::info!("action: shutdown | result: success");
        Ok(())
    }

    /// Serves a readiness event on the connection at `index`; the connection
    /// decides its fate, the totals follow. True for the steady echo, which
    /// changes nothing the server counts.
    fn on_peer(&mut self, index: usize, readable: bool, writable: bool) -> bool {
        // A stale event: the connection was closed earlier in this batch.
        let Some(connection) = self.peers.get_mut(index) else {
            return false;
        };
        let before = Before::of(connection);
        let scratch = &mut self.scratch[..self.read_size];
        match connection.on_ready(readable, writable, scratch, self.tick, self.budget_spent) {
            Fate::Unchanged => true,
            fate => {
                self.account(index, before, fate);
                false
            }
        }
    }

    /// Brings the totals up to date after the connection at `index` changed, and
    /// closes it if that is its fate.
    fn account(&mut self, index: usize, before: Before, fate: Fate) {
        let Some(connection) = self.peers.get(index) else {
            return;
        };
        let held = connection.held();
        self.buffered = (self.buffered + held).saturating_sub(before.held);
        let freed_slot = before.holds_slot && !connection.holds_slot();
        // It began lingering in this step.
        let linger = connection.linger_deadline().filter(|_| before.holds_slot);
        match fate {
            Fate::Close(closing) => self.close(index, closing),
            Fate::Continues | Fate::Unchanged => {
                if let Some(end) = linger {
                    self.lingers.push_back((end, index));
                }
            }
        }
        if freed_slot {
            self.serving -= 1;
            self.update_listener();
        }
        if held != before.held {
            self.held_changed(index);
        }
    }

    /// Unregisters and closes the connection at `index`, settles the totals, logs why.
    fn close(&mut self, index: usize, closing: Closing) {
        let Some(connection) = self.peers.try_remove(index) else {
            return;
        };
        self.buffered -= connection.held();
        if connection.holds_slot() {
            self.serving -= 1;
        }
        let ip = connection.peer();
        let pending = connection.pending();
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
            _ if self.drain_deadline.is_some() => {
                log::info!("action: close_connection | result: success | ip: {ip}");
            }
            _ => log::debug!("action: close_connection | result: success | ip: {ip}"),
        }
        connection.close();
        self.update_listener();
    }

    /// Records of this turn leave before the loop sleeps; stdout is watched only
    /// while some of them wait for it.
    fn flush_log(&mut self) {
        logging::flush();
        if let Some(stdout) = &mut self.stdout {
            let interest = Interest::new(false, logging::backlog() > 0);
            if let Err(error) = stdout.set_interest(interest) {
                // Unwatched, the backlog still leaves at the next turn's flush.
                self.stdout = None;
                log::error!("action: log | result: fail | error: {error}");
            }
        }
    }

    /// Stdout is writable again (the flush before the next wait writes), or it
    /// reported an error or hang-up: with nothing waiting for it, that is the only
    /// event it can have. Level-triggered, a hang-up would wake every wait, so it is
    /// served once: stdout leaves the poller and records are only counted.
    fn on_stdout(&mut self) {
        let Some(stdout) = &self.stdout else {
            return;
        };
        let waits = stdout.interest().writable;
        if waits {
            logging::flush();
        }
        if !waits || logging::is_broken() {
            logging::stdout_gone();
            self.stdout = None;
        }
    }

    /// Sets the timer for the earliest deadline; a system call only when it changed.
    fn arm_timer(&mut self) -> io::Result<()> {
        // Runs every turn: plain comparisons, no iterator.
        let next = earliest(
            earliest(self.drain_deadline, self.accept_retry),
            earliest(self.sweep_at, self.lingers.front().map(|&(end, _)| end)),
        );
        self.timer.set(next)
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
