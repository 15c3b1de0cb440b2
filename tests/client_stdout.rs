//! The client's stdout never keeps it from stopping or makes it spin (README "Client
//! keys": SIGTERM stops it at once in any phase; NOTES "The client"): with stdout a pipe
//! that nobody reads and that its log has filled, SIGTERM still ends it with exit 0
//! within a second, as `docker stop` needs before it sends SIGKILL; a reader that left
//! costs no CPU.

mod common;

use common::{CLIENT, KillOnDrop, SIGTERM, Server, TempFile, WAIT, cpu_ticks, wakeups};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The longest id the client accepts: every log line of it is over 200 bytes.
const ID: &str = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQR";

/// A pipe as small as the kernel makes one (a page): the read end, which this test never
/// reads, and the write end, to become the client's stdout; and its capacity.
fn small_pipe() -> (File, OwnedFd, usize) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two new descriptors into the array it is given, which has room
    // for exactly two; each is owned by one `File`/`OwnedFd` below and nowhere else.
    let (read, write) = unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
        (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    // SAFETY: fcntl on a descriptor that `read` keeps open; no memory is passed.
    let capacity = unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    let capacity = usize::try_from(capacity).expect("F_SETPIPE_SZ");
    (read, write, capacity)
}

/// Bytes waiting in the pipe whose read end is `read`.
fn unread(read: &File) -> usize {
    let mut bytes: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the pointer, which points at `bytes`.
    let rc = unsafe { libc::ioctl(read.as_raw_fd(), libc::FIONREAD, &mut bytes) };
    assert_eq!(rc, 0, "FIONREAD");
    usize::try_from(bytes).expect("byte count")
}

/// The client with its config file, killed if the test ends before it exits.
struct Client(KillOnDrop, #[allow(dead_code)] TempFile);

impl Client {
    /// Starts a client of `server` with `env` and `stdout` as its stdout.
    fn start(server: &Server, env: &[(&str, &str)], stdout: OwnedFd) -> Client {
        let config = TempFile::new("client.ini", "");
        let mut command = Command::new(CLIENT);
        command
            .args(["--config", config.path()])
            .env_clear()
            .env("CLI_SERVER_ADDRESS", server.addr.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::inherit());
        Client(KillOnDrop::spawn(&mut command), config)
    }

    fn pid(&self) -> i32 {
        self.0.pid()
    }

    /// Sends SIGTERM; returns the exit status and how long the exit took.
    fn terminate(&mut self) -> (ExitStatus, Duration) {
        let signalled = Instant::now();
        self.0.signal(SIGTERM);
        let status = self
            .0
            .wait_exit(Duration::from_secs(5))
            .expect("the client ignored SIGTERM for 5 s");
        let seen = self.0.exited_at().expect("the exit was seen");
        (status, seen - signalled)
    }
}

#[test]
fn sigterm_ends_a_client_whose_stdout_is_full() {
    let server = Server::start(&[]);
    let (read_end, stdout, capacity) = small_pipe();
    let env = [
        ("CLI_ID", ID),
        ("CLI_LOOP_AMOUNT", "100000"),
        ("CLI_LOOP_PERIOD", "1ms"),
        ("CLI_LOG_LEVEL", "INFO"),
    ];
    let mut client = Client::start(&server, &env, stdout);
    // Each message is logged (over 200 bytes) before the next one is sent: once the
    // server has this one, the client has logged three times what the pipe holds.
    let filled = 3 * capacity / 200 + 2;
    server.wait_line(&format!("msg: [CLIENT {ID}] Message N°{filled}"));

    let (status, took) = client.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
    // Nobody read the pipe: it was full, up to less than one log line.
    let left = unread(&read_end);
    assert!(
        left + 300 > capacity,
        "{left} of {capacity} bytes in the pipe"
    );
}

#[test]
fn a_stdout_whose_reader_left_costs_a_waiting_client_no_cpu() {
    let server = Server::start(&[]);
    let (read_end, stdout, _) = small_pipe();
    let env = [
        ("CLI_LOOP_AMOUNT", "2"),
        ("CLI_LOOP_PERIOD", "10s"),
        ("CLI_LOG_LEVEL", "DEBUG"),
    ];
    let mut client = Client::start(&server, &env, stdout);
    // The reader leaves once the client logged that it waits its period.
    let (left, gone) = mpsc::channel();
    thread::spawn(move || {
        let lines = BufReader::new(read_end).lines();
        for line in lines.map_while(Result::ok) {
            if line.contains("action: wait_period | result: in_progress") {
                break;
            }
        }
        let _ = left.send(());
    });
    gone.recv_timeout(WAIT)
        .expect("the client began to wait its period");

    // Level-triggered, the pipe's error would wake every wait from now on.
    let (ticks, woken) = (cpu_ticks(client.pid()), wakeups(client.pid()));
    thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(client.pid()) - ticks;
    let woken = wakeups(client.pid()) - woken;
    assert!(used <= 1, "the client used {used} ticks of CPU in 2 s");
    assert!(woken <= 3, "the client woke up {woken} times in 2 s");
    let (status, took) = client.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(1), "exit took {took:?}");
}
