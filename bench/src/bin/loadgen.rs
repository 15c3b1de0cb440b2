//! Load generator of `make bench`: drives many connections to a line-echo server from one
//! level-triggered epoll loop (no thread per connection), verifies every echoed byte, records
//! the latency of every message, and prints one JSON object per run on stdout.
//!
//! Modes: `batch` (each connection writes `--depth` lines in one write and waits for all of
//! them: depth 1 is ping-pong), `connect` (a new connection per message, `--conns` of them at
//! once, as the course client does) and `hold` (open `--conns` connections, echo one line on
//! each, print a ready line, hold them until stdin closes or `--duration` passes).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Batch,
    Connect,
    Hold,
}

struct Args {
    addr: SocketAddrV4,
    mode: Mode,
    conns: usize,
    size: usize,
    depth: usize,
    warmup: Duration,
    duration: Duration,
    /// Fixed number of messages instead of a timed window (for callgrind/strace differencing).
    msgs: Option<u64>,
    server_pid: Option<i32>,
    /// Connects in flight at once: more would overflow small accept queues and stall on SYN
    /// retransmits instead of measuring the server.
    connect_burst: usize,
    setup_timeout: Duration,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "loadgen: {msg}\nusage: loadgen --addr IP:PORT [--mode batch|connect|hold] [--conns N] \
         [--size BYTES] [--depth N] [--warmup S] [--duration S] [--msgs N] [--server-pid PID] \
         [--connect-burst N] [--setup-timeout S]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = Args {
        addr: SocketAddrV4::new([127, 0, 0, 1].into(), 0),
        mode: Mode::Batch,
        conns: 1,
        size: 64,
        depth: 1,
        warmup: Duration::from_millis(300),
        duration: Duration::from_millis(1500),
        msgs: None,
        server_pid: None,
        connect_burst: 256,
        setup_timeout: Duration::from_secs(30),
    };
    let mut it = std::env::args().skip(1);
    while let Some(key) = it.next() {
        let val = it
            .next()
            .unwrap_or_else(|| usage(&format!("{key} needs a value")));
        let bad = || -> ! { usage(&format!("bad value {val:?} for {key}")) };
        let secs = |v: &str| v.parse::<f64>().ok().map(Duration::from_secs_f64);
        match key.as_str() {
            "--addr" => args.addr = val.parse().unwrap_or_else(|_| bad()),
            "--mode" => {
                args.mode = match val.as_str() {
                    "batch" => Mode::Batch,
                    "connect" => Mode::Connect,
                    "hold" => Mode::Hold,
                    _ => bad(),
                }
            }
            "--conns" => args.conns = val.parse().unwrap_or_else(|_| bad()),
            "--size" => args.size = val.parse().unwrap_or_else(|_| bad()),
            "--depth" => args.depth = val.parse().unwrap_or_else(|_| bad()),
            "--warmup" => args.warmup = secs(&val).unwrap_or_else(|| bad()),
            "--duration" => args.duration = secs(&val).unwrap_or_else(|| bad()),
            "--msgs" => args.msgs = Some(val.parse().unwrap_or_else(|_| bad())),
            "--server-pid" => args.server_pid = Some(val.parse().unwrap_or_else(|_| bad())),
            "--connect-burst" => args.connect_burst = val.parse().unwrap_or_else(|_| bad()),
            "--setup-timeout" => args.setup_timeout = secs(&val).unwrap_or_else(|| bad()),
            _ => usage(&format!("unknown option {key}")),
        }
    }
    if args.addr.port() == 0 || args.conns == 0 || args.depth == 0 || args.size < 16 {
        usage("need --addr with a port, --conns >= 1, --depth >= 1, --size >= 16");
    }
    args
}

/// CPU time (ns) consumed so far by process `pid`, all threads, dead ones included.
///
/// Reads the process CPU-time clock of another process (Linux's `clock_getcpuclockid`
/// encoding), the same nanosecond counter as the first field of `/proc/PID/schedstat`
/// but summed over the whole thread group, so multi-threaded baselines are measured too.
fn process_cpu_ns(pid: i32) -> Option<u64> {
    // MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) from the kernel's posix-timers.h.
    let clock = ((!(pid as u32)) << 3) as libc::clockid_t | 2;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only fills it in.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Starts a non-blocking connect; the caller waits for writability, then checks SO_ERROR.
fn start_connect(addr: SocketAddrV4) -> io::Result<TcpStream> {
    let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket(2) call; the fd is owned by the TcpStream right below.
    let fd = unsafe { libc::socket(libc::AF_INET, flags, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh socket that nothing else owns.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    stream.set_nodelay(true)?;
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `sin` is a valid sockaddr_in of length `len` for the duration of the call.
    let rc = unsafe { libc::connect(fd, (&sin as *const libc::sockaddr_in).cast(), len) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(err);
        }
    }
    Ok(stream)
}

/// Minimal owner of an epoll instance (level-triggered; the key is the connection slot).
struct Epoll {
    fd: RawFd,
}

impl Epoll {
    fn new() -> io::Result<Self> {
        // SAFETY: plain epoll_create1(2).
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll { fd })
    }

    fn ctl(&self, op: i32, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: key };
        // SAFETY: `ev` is valid for the call; the kernel copies it.
        if unsafe { libc::epoll_ctl(self.fd, op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        // SAFETY: `events` is a writable buffer of `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(
                self.fd,
                events.as_mut_ptr(),
                events.len() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(err)
            };
        }
        Ok(n as usize)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the epoll fd.
        unsafe { libc::close(self.fd) };
    }
}

const STDIN_KEY: u64 = u64::MAX;

/// One client connection and what it still expects back.
struct Conn {
    stream: TcpStream,
    connecting: bool,
    /// Bytes sent (or queued) but not yet echoed back: the echo must match them exactly.
    expect: VecDeque<u8>,
    /// Bytes queued for sending that the socket did not take yet.
    out: Vec<u8>,
    /// Send time of each outstanding line, oldest first.
    sent_at: VecDeque<Instant>,
    /// Whether EPOLLOUT is currently part of the interest (only while `out` or a connect is pending).
    wants_out: bool,
    /// Completed at least one message: the connection counts as established.
    warm: bool,
    id: u64,
    seq: u64,
    /// Connect start, for the latency of `connect` mode.
    opened_at: Instant,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Setup,
    Warmup,
    Measure,
    Done,
}

struct Gen {
    args: Args,
    epoll: Epoll,
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    next_id: u64,
    opened: usize,
    connecting: usize,
    warm: usize,
    phase: Phase,
    /// Messages completed inside the measured window, and their latencies.
    done_msgs: u64,
    total_msgs: u64,
    started_msgs: u64,
    latencies: Vec<u64>,
    errors: u64,
    closed_by_peer: u64,
    first_error: Option<String>,
    buf: Vec<u8>,
}

impl Gen {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }

    /// The bytes of message `seq` on connection `id`: unique, so that a reply from the wrong
    /// connection or in the wrong order cannot pass the comparison.
    fn line(id: u64, seq: u64, size: usize, out: &mut Vec<u8>) {
        let start = out.len();
        let _ = write!(out, "c{id} m{seq} ");
        let filled = out.len() - start;
        out.extend((filled..size - 1).map(|i| b'a' + ((i as u64 + seq) % 26) as u8));
        out.push(b'\n');
        out.truncate(start + size);
        out[start + size - 1] = b'\n';
    }

    /// Starts one connection; false when that failed (counted as an error).
    fn open(&mut self) -> bool {
        let stream = match start_connect(self.args.addr) {
            Ok(s) => s,
            Err(e) => {
                self.error(format!("connect: {e}"));
                self.opened += 1;
                return false;
            }
        };
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let events = (libc::EPOLLIN | libc::EPOLLOUT) as u32;
        if let Err(e) = self
            .epoll
            .ctl(libc::EPOLL_CTL_ADD, stream.as_raw_fd(), events, slot as u64)
        {
            self.error(format!("epoll add: {e}"));
            self.free.push(slot);
            self.opened += 1;
            return false;
        }
        self.slots[slot] = Some(Conn {
            stream,
            connecting: true,
            expect: VecDeque::new(),
            out: Vec::new(),
            sent_at: VecDeque::new(),
            wants_out: true,
            warm: false,
            id: self.next_id,
            seq: 0,
            opened_at: Instant::now(),
        });
        self.next_id += 1;
        self.opened += 1;
        self.connecting += 1;
        true
    }

    fn close(&mut self, slot: usize) {
        if let Some(conn) = self.slots[slot].take() {
            let _ = self
                .epoll
                .ctl(libc::EPOLL_CTL_DEL, conn.stream.as_raw_fd(), 0, 0);
            if conn.connecting {
                self.connecting -= 1;
            }
            if conn.warm && self.args.mode != Mode::Connect {
                self.warm -= 1;
            }
            self.free.push(slot);
        }
    }

    /// Keeps enough connects in flight: all `--conns` once, or, in `connect` mode, a
    /// replacement for each finished connection.
    fn top_up(&mut self) {
        let live = self.slots.len() - self.free.len();
        let want = match self.args.mode {
            Mode::Connect if self.phase < Phase::Done && !self.count_reached() => self.args.conns,
            Mode::Connect => 0,
            _ => self.args.conns - self.opened.min(self.args.conns) + live,
        };
        let mut live = live;
        while live < want && self.connecting < self.args.connect_burst {
            if self.args.mode != Mode::Connect && self.opened >= self.args.conns {
                break;
            }
            if !self.open() {
                break; // e.g. out of ports or fds: retried on the next turn, not in a spin
            }
            live = self.slots.len() - self.free.len();
        }
    }

    fn count_reached(&self) -> bool {
        self.args.msgs.is_some_and(|m| self.started_msgs >= m)
    }

    /// Queues the next batch of lines on `slot` and tries to write it at once.
    fn send_batch(&mut self, slot: usize) {
        let depth = match self.args.mode {
            Mode::Batch => self.args.depth,
            _ => 1,
        };
        let Some(conn) = self.slots[slot].as_mut() else {
            return;
        };
        let now = Instant::now();
        let start = conn.out.len();
        for _ in 0..depth {
            if self.args.msgs.is_some_and(|m| self.started_msgs >= m) {
                break;
            }
            Self::line(conn.id, conn.seq, self.args.size, &mut conn.out);
            conn.seq += 1;
            conn.sent_at.push_back(now);
            self.started_msgs += 1;
        }
        conn.expect.extend(&conn.out[start..]);
        self.flush(slot);
    }

    /// Writes queued output; arms EPOLLOUT only while some is left.
    fn flush(&mut self, slot: usize) {
        let Some(conn) = self.slots[slot].as_mut() else {
            return;
        };
        let mut failed = None;
        while !conn.out.is_empty() {
            match conn.stream.write(&conn.out) {
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(format!("write: {e}"));
                    break;
                }
            }
        }
        let wants_out = !conn.out.is_empty();
        if wants_out != conn.wants_out {
            conn.wants_out = wants_out;
            let events = libc::EPOLLIN as u32 | if wants_out { libc::EPOLLOUT as u32 } else { 0 };
            let fd = conn.stream.as_raw_fd();
            if let Err(e) = self.epoll.ctl(libc::EPOLL_CTL_MOD, fd, events, slot as u64) {
                failed = Some(format!("epoll mod: {e}"));
            }
        }
        if let Some(what) = failed {
            self.error(what);
            self.close(slot);
        }
    }

    fn on_event(&mut self, slot: usize, events: u32) {
        let Some(conn) = self.slots[slot].as_mut() else {
            return;
        };
        if conn.connecting {
            if events & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
                return;
            }
            conn.connecting = false;
            self.connecting -= 1;
            match conn.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    self.error(format!("connect: {e}"));
                    self.close(slot);
                    return;
                }
            }
            self.send_batch(slot);
            return;
        }
        if events & libc::EPOLLOUT as u32 != 0 {
            self.flush(slot);
        }
        if events & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
            self.on_readable(slot);
        }
    }

    /// Reads what the server echoed, checks it byte for byte, and completes messages.
    fn on_readable(&mut self, slot: usize) {
        let size = self.args.size;
        let mut buf = std::mem::take(&mut self.buf);
        let outcome = (|| -> Result<(), String> {
            let Some(conn) = self.slots[slot].as_mut() else {
                return Ok(());
            };
            let n = match conn.stream.read(&mut buf) {
                Ok(0) => return Err("eof".into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
                Err(e) => return Err(format!("read: {e}")),
            };
            if n > conn.expect.len() {
                return Err(format!(
                    "{} unexpected bytes from the server",
                    n - conn.expect.len()
                ));
            }
            // Message boundaries: every `size` bytes of the expected stream complete one line.
            let before = conn.expect.len();
            let (a, b) = conn.expect.as_slices();
            let ok = if n <= a.len() {
                a[..n] == buf[..n]
            } else {
                a == &buf[..a.len()] && b[..n - a.len()] == buf[a.len()..n]
            };
            if !ok {
                return Err(format!("echo mismatch on connection {}", conn.id));
            }
            conn.expect.drain(..n);
            let completed = before / size - conn.expect.len().div_ceil(size);
            let now = Instant::now();
            for _ in 0..completed {
                let sent = conn.sent_at.pop_front().expect("one send time per line");
                if self.phase == Phase::Measure {
                    self.latencies.push((now - sent).as_nanos() as u64);
                    self.done_msgs += 1;
                }
                self.total_msgs += 1;
            }
            Ok(())
        })();
        self.buf = buf;
        if let Err(what) = outcome {
            // Held connections closed by the server (its shutdown) are expected, not errors.
            if self.args.mode == Mode::Hold && self.phase >= Phase::Measure {
                self.closed_by_peer += 1;
            } else {
                self.error(what);
            }
            self.close(slot);
            return;
        }
        let Some(conn) = self.slots[slot].as_mut() else {
            return;
        };
        if !conn.sent_at.is_empty() {
            return;
        }
        // The whole batch came back: count the connection as established, then go on.
        let first = !conn.warm;
        conn.warm = true;
        match self.args.mode {
            Mode::Batch => {
                if first {
                    self.warm += 1;
                }
                if self.phase < Phase::Done {
                    self.send_batch(slot);
                }
            }
            Mode::Hold => {
                if first {
                    self.warm += 1;
                }
            }
            Mode::Connect => {
                let latency = conn.opened_at.elapsed().as_nanos() as u64;
                // The message latency of the course client's pattern includes the connect.
                if self.phase == Phase::Measure {
                    if let Some(last) = self.latencies.last_mut() {
                        *last = latency;
                    }
                }
                self.close(slot);
            }
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

fn run(args: Args) -> io::Result<i32> {
    let mut g = Gen {
        epoll: Epoll::new()?,
        slots: Vec::with_capacity(args.conns),
        free: Vec::new(),
        next_id: 0,
        opened: 0,
        connecting: 0,
        warm: 0,
        phase: Phase::Setup,
        done_msgs: 0,
        total_msgs: 0,
        started_msgs: 0,
        latencies: Vec::with_capacity(1 << 20),
        errors: 0,
        closed_by_peer: 0,
        first_error: None,
        buf: vec![0; 64 * 1024],
        args,
    };
    let mode = g.args.mode;
    let setup_deadline = Instant::now() + g.args.setup_timeout;
    // A fixed message count or the connect mode needs no set-up phase: measure from the start.
    let mut phase_end = Instant::now();
    if g.args.msgs.is_some() || mode == Mode::Connect {
        g.phase = Phase::Measure;
        phase_end += if g.args.msgs.is_some() {
            g.args.setup_timeout
        } else {
            g.args.duration
        };
    }
    let cpu_start = |g: &Gen| g.args.server_pid.and_then(process_cpu_ns);
    let mut server_cpu0 = cpu_start(&g);
    // Our own CPU too: with both pinned to one CPU it tells where the window's time went.
    let mut gen_cpu0 = process_cpu_ns(std::process::id() as i32);
    let mut t0 = Instant::now();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut stdin_open = false;
    let mut ready_printed = false;

    loop {
        g.top_up();
        let now = Instant::now();
        match g.phase {
            Phase::Setup => {
                let all_warm = g.warm == g.args.conns;
                if all_warm || (g.opened >= g.args.conns && g.slots.len() == g.free.len()) {
                    if mode == Mode::Hold && !ready_printed {
                        println!(
                            "{{\"ready\": true, \"connected\": {}, \"errors\": {}}}",
                            g.warm, g.errors
                        );
                        io::stdout().flush()?;
                        ready_printed = true;
                        // Hold until the driver closes our stdin (or the duration passes).
                        g.epoll
                            .ctl(libc::EPOLL_CTL_ADD, 0, libc::EPOLLIN as u32, STDIN_KEY)?;
                        stdin_open = true;
                        g.phase = Phase::Measure;
                        phase_end = now + g.args.duration;
                    } else if mode == Mode::Batch {
                        g.phase = Phase::Warmup;
                        phase_end = now + g.args.warmup;
                    }
                } else if now >= setup_deadline {
                    g.error(format!(
                        "set-up timeout: {} of {} connections established",
                        g.warm, g.args.conns
                    ));
                    g.phase = Phase::Done;
                }
            }
            Phase::Warmup if now >= phase_end => {
                g.phase = Phase::Measure;
                phase_end = now + g.args.duration;
                server_cpu0 = cpu_start(&g);
                gen_cpu0 = process_cpu_ns(std::process::id() as i32);
                t0 = Instant::now();
            }
            Phase::Measure => {
                let counted_out = g.args.msgs.is_some_and(|m| g.total_msgs >= m);
                let live = g.slots.len() - g.free.len();
                if now >= phase_end
                    || counted_out
                    || (mode == Mode::Hold && (!stdin_open || live == 0))
                {
                    g.phase = Phase::Done;
                }
            }
            _ => {}
        }
        if g.phase == Phase::Done {
            break;
        }
        let timeout = match g.phase {
            Phase::Setup => setup_deadline,
            _ => phase_end,
        }
        .saturating_duration_since(now);
        let timeout_ms = timeout.as_millis().min(1000) as i32 + 1;
        let n = g.epoll.wait(&mut events, timeout_ms)?;
        for ev in &events[..n] {
            let (key, bits) = (ev.u64, ev.events);
            if key == STDIN_KEY {
                let mut b = [0u8; 256];
                // SAFETY: reading into a local buffer from fd 0.
                let r = unsafe { libc::read(0, b.as_mut_ptr().cast(), b.len()) };
                if r <= 0 {
                    stdin_open = false;
                    let _ = g.epoll.ctl(libc::EPOLL_CTL_DEL, 0, 0, 0);
                }
                continue;
            }
            g.on_event(key as usize, bits);
        }
    }

    let secs = t0.elapsed().as_secs_f64();
    let server_cpu = match (server_cpu0, cpu_start(&g)) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let gen_cpu = match (gen_cpu0, process_cpu_ns(std::process::id() as i32)) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    g.latencies.sort_unstable();
    let msgs = g.done_msgs;
    let cpu_json = match server_cpu {
        Some(ns) => format!("{ns}"),
        None => "null".into(),
    };
    let first_error = g.first_error.clone().unwrap_or_default().replace('"', "'");
    println!(
        "{{\"mode\": \"{:?}\", \"conns\": {}, \"size\": {}, \"depth\": {}, \"msgs\": {}, \
         \"secs\": {:.4}, \"msgs_per_s\": {:.1}, \"p50_us\": {:.2}, \"p99_us\": {:.2}, \
         \"server_cpu_ns\": {}, \"loadgen_cpu_ns\": {}, \"connected\": {}, \"closed_by_peer\": {}, \"errors\": {}, \
         \"first_error\": \"{}\"}}",
        mode,
        g.args.conns,
        g.args.size,
        g.args.depth,
        msgs,
        secs,
        msgs as f64 / secs.max(1e-9),
        percentile(&g.latencies, 0.50),
        percentile(&g.latencies, 0.99),
        cpu_json,
        gen_cpu,
        g.warm,
        g.closed_by_peer,
        g.errors,
        first_error,
    );
    Ok(if g.errors == 0 { 0 } else { 1 })
}

fn main() {
    let args = parse_args();
    match run(args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_the_asked_size_and_differ() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        Gen::line(3, 7, 64, &mut a);
        Gen::line(3, 8, 64, &mut b);
        assert_eq!(a.len(), 64);
        assert_eq!(a.iter().filter(|&&c| c == b'\n').count(), 1);
        assert_eq!(a.last(), Some(&b'\n'));
        assert_ne!(a, b);
        // A header longer than the line is cut, and the line still ends in a newline.
        let mut c = Vec::new();
        Gen::line(123_456_789, 987_654_321, 16, &mut c);
        assert_eq!((c.len(), c[15]), (16, b'\n'));
    }

    #[test]
    fn percentiles_of_sorted_latencies() {
        let ns: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&ns, 0.5), 51.0);
        assert_eq!(percentile(&ns, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
