//! Config input that someone else controls (README, "Rules for config files, arguments and
//! values"; NOTES, "Hostile input"): paths that are not files, oversized files, non-UTF-8
//! arguments and environment values, and the INI rules of Python's configparser, all
//! through the real binaries.

mod common;

use common::{CLIENT, Proc, SERVER, TempFile};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(5);

/// A path in cargo's scratch directory, unique to this process and `name`.
fn scratch(name: &str) -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Runs `program` with `args`, expects exit 2 within [`BOUND`] and a message that
/// names every one of `needles`.
fn assert_refused(program: &str, args: &[&str], env: &[(&str, &str)], needles: &[&str]) {
    let mut proc = Proc::spawn(program, args, env, Vec::new());
    let status = proc.wait_exit(BOUND);
    let output = proc.full_output();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{args:?}: not refused within {BOUND:?}\n{output}"
    );
    for needle in needles {
        assert!(
            output.contains(needle),
            "{args:?}: {needle:?} not named\n{output}"
        );
    }
}

#[test]
fn a_directory_fifo_or_socket_is_refused_at_once() {
    let fifo = scratch("config.fifo");
    let path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    let socket_path = scratch("config.sock");
    let _socket = UnixListener::bind(&socket_path).expect("bind unix socket");
    let dir = env!("CARGO_TARGET_TMPDIR");
    for (path, what) in [
        (fifo.to_str().expect("UTF-8"), "FIFO"),
        (socket_path.to_str().expect("UTF-8"), "socket"),
        (dir, "directory"),
    ] {
        assert_refused(SERVER, &["--config", path], &[], &[path, what]);
        assert_refused(CLIENT, &[], &[("CLI_CONFIG_FILE", path)], &[path, what]);
    }
    let _ = std::fs::remove_file(fifo);
    let _ = std::fs::remove_file(socket_path);
}

#[test]
fn endless_or_oversized_files_are_refused() {
    assert_refused(
        SERVER,
        &["--config", "/dev/zero"],
        &[],
        &["/dev/zero", "1 MiB"],
    );
    let big = TempFile::new("big.ini", &format!("# {}\n", "x".repeat(1024 * 1024)));
    assert_refused(
        CLIENT,
        &["--config", big.path()],
        &[],
        &[big.path(), "1 MiB"],
    );
}

#[test]
fn dev_null_is_an_empty_config() {
    let env = [("SERVER_PORT", "0"), ("SERVER_BIND_IP", "127.0.0.1")];
    let server = Proc::spawn(SERVER, &["--config", "/dev/null"], &env, Vec::new());
    server.wait_line("action: listen | result: success | address: 127.0.0.1:");
}

#[test]
fn bom_crlf_whole_line_comments_and_values_with_hashes() {
    let file = TempFile::new(
        "client.ini",
        "\u{feff}# a comment\r\n; another\r\nid = team#7\r\n[server]\r\naddress = 127.0.0.1:9 ; not a comment\r\n",
    );
    // The address is not valid with its `; not a comment`: proof that it was kept.
    assert_refused(
        CLIENT,
        &["--config", file.path()],
        &[],
        &["127.0.0.1:9 ; not a comment"],
    );
    let file = TempFile::new(
        "client.ini",
        "\u{feff}# a comment\r\nid = team#7\r\n[loop]\r\namount = 0\r\n",
    );
    let env = [("CLI_SERVER_ADDRESS", "127.0.0.1:9")];
    let mut client = Proc::spawn(CLIENT, &["--config", file.path()], &env, vec![]);
    client.wait_line("action: config | result: success | client_id: team#7 |");
    client.expect_success(BOUND);
}

/// Runs `program` with raw OS strings and expects exit 2 naming `needle`.
fn assert_refused_raw(program: &str, args: &[&OsStr], env: &[(&str, &OsStr)], needle: &str) {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .env("SERVER_PORT", "0")
        .env("SERVER_BIND_IP", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("spawn");
    let pid = child.id();
    let (done, outcome) = mpsc::channel();
    thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(output) = outcome.recv_timeout(BOUND) else {
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        panic!("{args:?}: did not exit within {BOUND:?}");
    };
    let output = output.expect("wait");
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{args:?}: {:?}\n{text}",
        output.status
    );
    assert!(text.contains(needle), "{needle:?} not named\n{text}");
}

#[test]
fn non_utf8_arguments_and_environment_values_are_refused() {
    let bad = OsStr::from_bytes(b"LOUD\xff");
    let config = OsStr::new("--config");
    let null = OsStr::new("/dev/null");
    assert_refused_raw(SERVER, &[config, bad], &[], "argument 2");
    assert_refused_raw(CLIENT, &[bad], &[], "argument 1");
    assert_refused_raw(
        SERVER,
        &[config, null],
        &[("LOGGING_LEVEL", bad)],
        "LOGGING_LEVEL",
    );
    assert_refused_raw(
        SERVER,
        &[],
        &[("SERVER_CONFIG_FILE", bad)],
        "SERVER_CONFIG_FILE",
    );
    assert_refused_raw(CLIENT, &[config, null], &[("CLI_ID", bad)], "CLI_ID");
}
