//! Shared helpers for the black-box tests: start the real `server` and `client` binaries
//! with a clean environment, capture their output, find the server's port, signal them,
//! and talk to the server over loopback. Every wait here is bounded.
#![allow(dead_code)] // each test file uses a different subset

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const SIGTERM: libc::c_int = libc::SIGTERM;
pub const SIGINT: libc::c_int = libc::SIGINT;

pub const SERVER: &str = env!("CARGO_BIN_EXE_server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_client");

/// Default bound of every wait: generous for a loaded 2-core machine, short enough to fail fast.
pub const WAIT: Duration = Duration::from_secs(10);

/// A file in cargo's scratch directory, removed on drop.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn new(name: &str, contents: &str) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Tests run in parallel processes: the pid keeps names apart.
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{}-{n}-{name}", std::process::id()));
        fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("temp path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// What a reader thread has collected from one pipe so far.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    closed: bool,
    /// Once a complete line holds this, the reader stops reading until [`Pipe::resume`].
    hold_after: Option<String>,
}

/// One child pipe, drained by its own thread so the child never blocks on a full pipe.
#[derive(Clone, Default)]
struct Pipe(Arc<(Mutex<Captured>, Condvar)>);

impl Pipe {
    /// Drains `source`; with `hold_after`, stops once a line with that text was read (the
    /// writer's pipe then fills) until [`Pipe::resume`].
    fn start(mut source: impl Read + Send + 'static, hold_after: Option<&str>) -> Pipe {
        let pipe = Pipe::default();
        pipe.0.0.lock().expect("capture lock").hold_after = hold_after.map(str::to_string);
        let sink = pipe.clone();
        thread::spawn(move || {
            let mut buf = [0; 16 * 1024];
            loop {
                let n = match source.read(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => other.unwrap_or(0),
                };
                let (lock, cond) = &*sink.0;
                let mut captured = lock.lock().expect("capture lock");
                captured.bytes.extend_from_slice(&buf[..n]);
                captured.closed = n == 0;
                cond.notify_all();
                if n == 0 {
                    return;
                }
                while captured.hold_after.as_ref().is_some_and(|needle| {
                    complete_lines(&captured.bytes)
                        .iter()
                        .any(|l| l.contains(needle.as_str()))
                }) {
                    captured = cond.wait(captured).expect("capture lock");
                }
            }
        });
        pipe
    }

    fn resume(&self) {
        let (lock, cond) = &*self.0;
        lock.lock().expect("capture lock").hold_after = None;
        cond.notify_all();
    }

    fn bytes(&self) -> Vec<u8> {
        self.0.0.lock().expect("capture lock").bytes.clone()
    }

    /// Waits until `done(bytes, closed)` holds or `timeout` passes; tells whether it held.
    fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&[u8], bool) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cond) = &*self.0;
        let mut captured = lock.lock().expect("capture lock");
        loop {
            if done(&captured.bytes, captured.closed) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            captured = cond
                .wait_timeout(captured, deadline - now)
                .expect("capture lock")
                .0;
        }
    }
}

/// Complete (newline-terminated) lines of `bytes`, decoded lossily.
pub fn complete_lines(bytes: &[u8]) -> Vec<String> {
    let mut lines: Vec<String> = bytes
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    lines.pop(); // what follows the last newline is not a complete line yet
    lines
}

/// The first 10 and last 30 lines of `bytes`, each cut to 200 characters.
fn abridge(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let cut = |l: &&str| -> String {
        let short: String = l.chars().take(200).collect();
        format!("{short}\n")
    };
    if lines.len() <= 40 {
        return lines.iter().map(cut).collect();
    }
    let mut out: String = lines[..10].iter().map(cut).collect();
    out.push_str(&format!("[... {} lines ...]\n", lines.len() - 40));
    out.extend(lines[lines.len() - 30..].iter().map(cut));
    out
}

/// The event part of a log line (`action: ...`), without timestamp and level.
pub fn message(line: &str) -> &str {
    line.find("action: ").map_or(line, |i| &line[i..])
}

/// A child process that cannot outlive its test: killed and reaped on drop, and killed
/// by the kernel if the test process dies first (a nextest timeout skips every `Drop`).
/// For a child whose stdio a test wires itself; [`Proc`] adds captured output on top.
pub struct KillOnDrop {
    child: Child,
    /// The exit status, and when `try_wait` first saw it: timing asserts must not include
    /// what happens after the exit (draining pipes, for one).
    exit: Option<(ExitStatus, Instant)>,
}

impl KillOnDrop {
    /// Spawns `command` as a child that dies with this test.
    pub fn spawn(command: &mut Command) -> KillOnDrop {
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent. It makes
        // the kernel kill the child if this test is killed, which skips our Drop: no
        // orphaned server or client may outlive its test.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        KillOnDrop {
            child: command.spawn().expect("spawn binary"),
            exit: None,
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits in i32")
    }

    /// Sends `sig` to this child only (never to the test process).
    pub fn signal(&mut self, sig: libc::c_int) {
        assert!(self.try_wait().is_none(), "signal to a child that exited");
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child,
        // not yet reaped, so it cannot have been reused by another process.
        let rc = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            let status = self.child.try_wait().expect("try_wait on child");
            self.exit = status.map(|status| (status, Instant::now()));
        }
        self.exit.map(|(status, _)| status)
    }

    /// When the exit was first seen, if it was.
    pub fn exited_at(&self) -> Option<Instant> {
        self.exit.map(|(_, at)| at)
    }

    /// Waits at most `timeout` for the exit, polling every 2 ms.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// The child's stdout, if it was piped and not taken yet.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's stderr, if it was piped and not taken yet.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A child process of this test with captured stdout and stderr; killed on drop.
pub struct Proc {
    /// First field: dropped (killed) before the files it may still read.
    child: KillOnDrop,
    stdout: Pipe,
    stderr: Pipe,
    /// Config files the child may still read: kept as long as the child.
    _files: Vec<TempFile>,
}

impl Proc {
    /// Starts `program` with exactly `env` (nothing inherited, so the developer's
    /// SERVER_* / CLI_* variables cannot leak in).
    pub fn spawn(program: &str, args: &[&str], env: &[(&str, &str)], files: Vec<TempFile>) -> Proc {
        Proc::spawn_holding(program, args, env, files, None)
    }

    /// Like [`Proc::spawn`]; with `hold_after`, stdout is read only up to that text until
    /// [`Proc::resume_stdout`] (or the exit), so the child's stdout pipe fills.
    pub fn spawn_holding(
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
        files: Vec<TempFile>,
        hold_after: Option<&str>,
    ) -> Proc {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = KillOnDrop::spawn(&mut cmd);
        let stdout = Pipe::start(child.take_stdout().expect("stdout is piped"), hold_after);
        let stderr = Pipe::start(child.take_stderr().expect("stderr is piped"), None);
        Proc {
            child,
            stdout,
            stderr,
            _files: files,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// Sends `sig` to this child only (never to the test process).
    pub fn signal(&mut self, sig: libc::c_int) {
        assert!(
            self.try_wait().is_none(),
            "signal to a child that already exited\n{}",
            self.output()
        );
        self.child.signal(sig);
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait()
    }

    /// Time from `since` to the moment the exit was seen (polled every 2 ms).
    pub fn exit_delay(&self, since: Instant) -> Duration {
        self.child.exited_at().expect("child has exited") - since
    }

    /// Waits at most `timeout` for the child to exit; then waits (bounded) for its pipes.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = self.child.wait_exit(timeout)?;
        // A grandchild could hold the pipes open; do not wait for it forever.
        self.stdout.resume();
        self.stdout.wait_until(WAIT, |_, closed| closed);
        self.stderr.wait_until(WAIT, |_, closed| closed);
        Some(status)
    }

    pub fn expect_exit(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_exit(timeout) {
            Some(status) => status,
            None => panic!("child did not exit within {timeout:?}\n{}", self.output()),
        }
    }

    /// Waits at most `timeout` for the child to exit and expects status 0.
    pub fn expect_success(&mut self, timeout: Duration) {
        let status = self.expect_exit(timeout);
        assert!(
            status.success(),
            "exit status {status:?}\n{}",
            self.output()
        );
    }

    /// Waits at most `timeout` for the child to exit and expects exit code `code`.
    pub fn expect_exit_code(&mut self, timeout: Duration, code: i32) {
        let status = self.expect_exit(timeout);
        assert_eq!(
            status.code(),
            Some(code),
            "exit status {status:?}\n{}",
            self.output()
        );
    }

    /// Expects exit 1 within `timeout`, with the failure logged as a `| result: fail` line.
    pub fn expect_failure(&mut self, timeout: Duration) {
        self.expect_exit_code(timeout, 1);
        assert!(
            self.lines().iter().any(|l| l.contains("| result: fail")),
            "no fail line\n{}",
            self.output()
        );
    }

    /// Expects exit 0 seen less than `bound` after `since`. The wait itself is longer than
    /// any bound, so a slow exit fails here with its delay rather than as a timeout.
    pub fn expect_clean_exit_within(&mut self, since: Instant, bound: Duration) {
        self.expect_success(Duration::from_secs(5));
        let took = self.exit_delay(since);
        assert!(
            took < bound,
            "exit took {took:?}, over the {bound:?} bound\n{}",
            self.output()
        );
    }

    /// Sends `sig` and expects exit 0 less than `bound` after it.
    pub fn signal_and_expect_clean_exit(&mut self, sig: libc::c_int, bound: Duration) {
        let signalled = Instant::now();
        self.signal(sig);
        self.expect_clean_exit_within(signalled, bound);
    }

    /// Reads stdout again after [`Proc::spawn_holding`].
    pub fn resume_stdout(&self) {
        self.stdout.resume();
    }

    pub fn stdout_raw(&self) -> Vec<u8> {
        self.stdout.bytes()
    }

    /// Complete stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        complete_lines(&self.stdout.bytes())
    }

    /// Stdout and stderr, abridged for failure messages (a flood of echo logs would bury
    /// the lines that matter).
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            abridge(&self.stdout.bytes()),
            abridge(&self.stderr.bytes())
        )
    }

    /// Stdout and stderr in full, for checks on what a message names.
    pub fn full_output(&self) -> String {
        let mut all = String::from_utf8_lossy(&self.stdout.bytes()).into_owned();
        all.push_str(&String::from_utf8_lossy(&self.stderr.bytes()));
        all
    }

    /// Waits for `count` stdout lines containing `needle`; returns them.
    pub fn wait_count(&self, needle: &str, count: usize) -> Vec<String> {
        let found = |bytes: &[u8]| -> Vec<String> {
            complete_lines(bytes)
                .into_iter()
                .filter(|l| l.contains(needle))
                .collect()
        };
        let ok = self
            .stdout
            .wait_until(WAIT, |bytes, _| found(bytes).len() >= count);
        let lines = found(&self.stdout.bytes());
        assert!(
            ok,
            "expected {count} lines containing {needle:?}, got {}\n{}",
            lines.len(),
            self.output()
        );
        lines
    }

    /// Expects no stdout line so far to contain `needle` (all of them, not the abridged
    /// output, which could hide one).
    pub fn assert_no_line(&self, needle: &str) {
        let lines = self.lines();
        let found = lines.iter().find(|l| l.contains(needle));
        assert!(
            found.is_none(),
            "unexpected line containing {needle:?}: {found:?}\n{}",
            self.output()
        );
    }

    /// How many stdout lines so far contain `needle`.
    pub fn count_lines(&self, needle: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(needle)).count()
    }

    /// Log records the server reported dropped (its stdout reader fell behind), in total.
    pub fn dropped_records(&self) -> usize {
        let lines = self.lines();
        let counts = lines.iter().filter_map(|l| {
            l.split("action: log_dropped | result: fail | records: ")
                .nth(1)
        });
        counts
            .map(|n| n.trim().parse::<usize>().expect("record count"))
            .sum()
    }

    /// Waits for a stdout line containing `needle`; returns the first such line.
    pub fn wait_line(&self, needle: &str) -> String {
        self.wait_count(needle, 1).swap_remove(0)
    }
}

/// The server's line that names the address it listens on.
const LISTEN: &str = "action: listen | result: success | address: ";

/// A running server on 127.0.0.1 and an ephemeral port (unless `SERVER_PORT` is given).
pub struct Server {
    pub proc: Proc,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the server from an empty config file plus `env` (which wins over the defaults
    /// below), and waits for its `listen` line to learn the real port.
    pub fn start(env: &[(&str, &str)]) -> Server {
        Server::start_with_config("", false, env)
    }

    /// Like [`Server::start`], with `contents` as the config file, named by `--config`
    /// or, if `via_env`, by `SERVER_CONFIG_FILE`.
    pub fn start_with_config(contents: &str, via_env: bool, env: &[(&str, &str)]) -> Server {
        Server::launch(contents, via_env, env, None)
    }

    /// Like [`Server::start`], but its stdout is left unread after the `listen` line until
    /// [`Proc::resume_stdout`]: the log backs up in the pipe.
    pub fn start_with_stdout_unread(env: &[(&str, &str)]) -> Server {
        Server::launch("", false, env, Some(LISTEN))
    }

    fn launch(
        contents: &str,
        via_env: bool,
        env: &[(&str, &str)],
        hold_after: Option<&str>,
    ) -> Server {
        let mut defaults = vec![
            ("SERVER_PORT", "0"),
            ("SERVER_BIND_IP", "127.0.0.1"),
            ("LOGGING_LEVEL", "INFO"),
        ];
        // Keys the file sets are left to it (the env would win).
        defaults.retain(|(key, _)| !contents.contains(key));
        let file = ConfigFile {
            contents,
            via_env: via_env.then_some("SERVER_CONFIG_FILE"),
        };
        let proc = file.spawn(SERVER, &[&defaults, env].concat(), hold_after);
        Server::attach(proc)
    }

    /// A server started some other way (e.g. through a shell that sets limits): waits for
    /// its `listen` line to learn the real port.
    pub fn attach(proc: Proc) -> Server {
        let line = proc.wait_line(LISTEN);
        let addr = line
            .rsplit("address: ")
            .next()
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("no address in listen line {line:?}"));
        Server { proc, addr }
    }

    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Starts a client against this server; see [`start_client`].
    pub fn client(&self, env: &[(&str, &str)]) -> Proc {
        start_client(&self.addr.to_string(), env)
    }
}

impl Deref for Server {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

/// Starts a client against `address` from an empty config file; `env` wins over the
/// defaults (id 1, one message, 10ms period).
pub fn start_client(address: &str, env: &[(&str, &str)]) -> Proc {
    start_client_with_config(
        "",
        false,
        &[&[("CLI_SERVER_ADDRESS", address)], env].concat(),
    )
}

/// Like [`start_client`], with `contents` as the config file, named by `--config` or, if
/// `via_env`, by `CLI_CONFIG_FILE`; the address comes from `env` or the file.
pub fn start_client_with_config(contents: &str, via_env: bool, env: &[(&str, &str)]) -> Proc {
    let mut defaults = vec![
        ("CLI_ID", "1"),
        ("CLI_LOOP_AMOUNT", "1"),
        ("CLI_LOOP_PERIOD", "10ms"),
        ("CLI_LOG_LEVEL", "INFO"),
    ];
    // Keys the file sets are left to it (the env would win): `CLI_LOOP_PERIOD` is the
    // file's `period =`.
    defaults.retain(|(key, _)| {
        let name = key.rsplit('_').next().unwrap_or(key).to_lowercase();
        !contents.contains(&format!("{name} ="))
    });
    let file = ConfigFile {
        contents,
        via_env: via_env.then_some("CLI_CONFIG_FILE"),
    };
    file.spawn(CLIENT, &[&defaults, env].concat(), None)
}

/// A config file for a program: named by `--config`, or by the variable in `via_env`.
struct ConfigFile<'a> {
    contents: &'a str,
    via_env: Option<&'static str>,
}

impl ConfigFile<'_> {
    /// Starts `program` with this file and `env`; see [`Proc::spawn_holding`].
    fn spawn(&self, program: &str, env: &[(&str, &str)], hold_after: Option<&str>) -> Proc {
        let config = TempFile::new("config.ini", self.contents);
        let path = config.path().to_string();
        let mut env = env.to_vec();
        let args = match self.via_env {
            Some(var) => {
                env.push((var, &path));
                vec![]
            }
            None => vec!["--config", path.as_str()],
        };
        Proc::spawn_holding(program, &args, &env, vec![config], hold_after)
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Connects with Nagle off (small writes go out at once) and bounded reads and writes.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect to server");
    stream.set_nodelay(true).expect("nodelay");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream.set_write_timeout(Some(WAIT)).expect("write timeout");
    stream
}

/// Expects no byte to arrive on `stream` for `quiet` (panicking with `what` and whatever
/// came instead), then restores the usual read timeout.
pub fn assert_nothing_read(stream: &mut TcpStream, quiet: Duration, what: &str) {
    stream.set_read_timeout(Some(quiet)).expect("read timeout");
    let mut buf = [0; 64];
    match stream.read(&mut buf) {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        Ok(n) => panic!(
            "{what}: got {n} bytes {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) => panic!("{what}: got {e:?}"),
    }
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
}

pub fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .expect("read the expected echo in time");
    buf
}

/// Writes `line` and expects exactly it back.
pub fn ping(stream: &mut TcpStream, line: &[u8]) {
    stream.write_all(line).expect("write line");
    assert_eq!(
        read_n(stream, line.len()),
        line,
        "echo of {:?}",
        String::from_utf8_lossy(line)
    );
}

/// Reads until a clean EOF (a reset or a timeout fails the test).
pub fn read_to_eof(stream: &mut TcpStream) -> Vec<u8> {
    read_to_close(stream, false, Duration::ZERO)
}

/// Like [`read_to_eof`], as a slow reader that pauses `pace` after each read, so the
/// server's output backs up while the peer goes on sending.
pub fn read_to_eof_paced(stream: &mut TcpStream, pace: Duration) -> Vec<u8> {
    read_to_close(stream, false, pace)
}

/// Reads until the server closed the connection, by EOF or by reset.
pub fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    read_to_close(stream, true, Duration::ZERO)
}

fn read_to_close(stream: &mut TcpStream, reset_ok: bool, pace: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if reset_ok && e.kind() == io::ErrorKind::ConnectionReset => return got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "connection not closed cleanly in time ({e}); got {} bytes",
                got.len()
            ),
        }
        if !pace.is_zero() {
            thread::sleep(pace);
        }
    }
}

/// 64 KiB of 1 KiB lines; byte `i` of a long stream is `pattern[i % len]`.
pub fn pattern() -> Vec<u8> {
    let mut chunk = Vec::with_capacity(64 * 1024);
    for i in 0..64 {
        let head = format!("line {i:04} ");
        chunk.extend_from_slice(head.as_bytes());
        chunk.extend((0..1023 - head.len()).map(|j| b'a' + (j % 26) as u8));
        chunk.push(b'\n');
    }
    chunk
}

/// Writes the pattern without reading until a write has stalled for 300 ms (the server
/// stopped taking more) or `limit` bytes went out; returns how many bytes were written.
pub fn fill_until_blocked(stream: &mut TcpStream, limit: usize) -> usize {
    let chunk = pattern();
    stream
        .set_write_timeout(Some(Duration::from_millis(300)))
        .expect("write timeout");
    let mut written = 0;
    while written < limit {
        let at = written % chunk.len();
        let end = chunk.len().min(at + limit - written);
        match stream.write(&chunk[at..end]) {
            Ok(n) => written += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("write failed after {written} bytes: {e}"),
        }
    }
    stream.set_write_timeout(Some(WAIT)).expect("write timeout");
    written
}

/// User + system CPU time of `pid`, in clock ticks (fields 14 and 15 of /proc/PID/stat).
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The command name may contain spaces: fields are counted after its closing paren.
    let rest = &stat[stat.rfind(')').expect("comm field") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields[i].parse::<u64>().expect("numeric stat field");
    field(11) + field(12)
}

/// A `kB` field of /proc/PID/status, such as `VmRSS` or `VmHWM`.
pub fn status_kib(pid: i32, key: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

/// Times any thread of `pid` went to sleep and was woken (voluntary context switches):
/// a loop that polls with a short timeout shows up here even when it uses no CPU ticks.
pub fn wakeups(pid: i32) -> u64 {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    tasks
        .map(|task| {
            let path = task.expect("task entry").path().join("status");
            let status = fs::read_to_string(path).expect("read task status");
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .expect("voluntary_ctxt_switches in task status")
        })
        .sum()
}

/// Time the threads of `pid` spent runnable but waiting for a CPU (the run delay, second
/// field of each task's `schedstat`): what a loaded machine adds to a wall-clock time.
pub fn cpu_wait(pid: i32) -> Duration {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    // A thread that ended meanwhile has no file left to read: it waits no more.
    tasks
        .filter_map(|task| run_delay(&task.ok()?.path().join("schedstat")))
        .sum()
}

/// Like [`cpu_wait`], for the calling thread.
pub fn own_cpu_wait() -> Duration {
    run_delay(Path::new("/proc/thread-self/schedstat")).expect("read /proc/thread-self/schedstat")
}

fn run_delay(schedstat: &Path) -> Option<Duration> {
    let text = fs::read_to_string(schedstat).ok()?;
    let ns = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// A server on 127.0.0.1 at WARN (so a flood's receive lines do not bury the lines a
/// test waits for), with `env` on top, and its first connection: the port is fixed
/// beforehand and learnt to be open by connecting, as nothing is logged at WARN.
pub fn quiet_server(env: &[(&str, &str)]) -> (Proc, SocketAddr, TcpStream) {
    let port = free_port().to_string();
    let config = TempFile::new("server.ini", "");
    let path = config.path().to_string();
    let mut all = vec![
        ("SERVER_PORT", port.as_str()),
        ("SERVER_BIND_IP", "127.0.0.1"),
        ("LOGGING_LEVEL", "WARN"),
    ];
    all.extend_from_slice(env);
    let server = Proc::spawn(SERVER, &["--config", &path], &all, vec![config]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let started = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(first) => return (server, addr, first),
            Err(_) if started.elapsed() < WAIT => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("server not listening on {addr}: {e}\n{}", server.output()),
        }
    }
}

/// A non-blocking peer with a 4 KiB receive buffer and a `send_buffer`, so that
/// echoes and a flood back up in the server rather than in this test's kernel.
pub fn small_window_peer(addr: SocketAddr, send_buffer: usize) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    socket.set_send_buffer_size(send_buffer).expect("SO_SNDBUF");
    socket.connect(&addr.into()).expect("connect");
    socket.set_nonblocking(true).expect("non-blocking");
    socket.into()
}

/// A blocking peer with 1 KiB segments and a 4 KiB receive window, so that what the server
/// owes it waits in the server rather than in the kernel. The kernel sizes the server's
/// send buffer by the segment size: toward loopback's 64 KiB segments it takes megabytes
/// at once (a slow reader then drains them with no write from the server, which sees it
/// idle); toward this peer, a small part of that.
pub fn narrow_peer(addr: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mss: libc::c_int = 1024;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes at the pointer, which points at
    // `mss`, alive through the call; the descriptor is the socket just made.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MAXSEG,
            (&raw const mss).cast(),
            libc::socklen_t::try_from(size_of::<libc::c_int>()).expect("socklen"),
        )
    };
    assert_eq!(rc, 0, "TCP_MAXSEG: {}", io::Error::last_os_error());
    socket.connect(&addr.into()).expect("connect");
    let stream = TcpStream::from(socket);
    stream.set_nodelay(true).expect("nodelay");
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream.set_write_timeout(Some(WAIT)).expect("write timeout");
    stream
}
