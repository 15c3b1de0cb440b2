//! Running out of file descriptors (EMFILE) must neither crash the server nor make
//! it spin on a listener that stays readable; once descriptors free up, the
//! connections that waited in the backlog are served.

mod common;

use std::io::Write;
use std::thread;
use std::time::Duration;

use common::{Proc, SERVER, Server, TempFile, cpu_ticks, read_n};

/// Descriptors for the server: stdio, poller, its timer and notifier, the signal
/// pipe pair, the listener and the status socket leave room for about six connections.
const FD_LIMIT: &str = "16";
const CONNECTIONS: usize = 14;

#[test]
fn emfile_pauses_accepting_without_spinning_and_recovers() {
    let config = TempFile::new("server.ini", "");
    let path = config.path().to_string();
    // `ulimit` applies to the shell, which then becomes the server.
    let script = format!("ulimit -n {FD_LIMIT} && exec \"$0\" --config \"$1\"");
    let env = [
        ("SERVER_PORT", "0"),
        ("SERVER_BIND_IP", "127.0.0.1"),
        ("SERVER_LISTEN_BACKLOG", "64"),
        ("LOGGING_LEVEL", "INFO"),
    ];
    let mut server = Server::attach(Proc::spawn(
        "/bin/sh",
        &["-c", &script, SERVER, &path],
        &env,
        vec![config],
    ));

    let mut streams: Vec<_> = (0..CONNECTIONS).map(|_| server.connect()).collect();
    for (i, stream) in streams.iter_mut().enumerate() {
        stream
            .write_all(format!("hello {i:02}\n").as_bytes())
            .expect("write");
    }
    let refused = server.wait_line("action: accept_connections | result: fail");
    assert!(refused.contains("Too many open files"), "{refused}");

    // Spinning on the listener would burn a whole CPU: ~100 ticks a second.
    let before = cpu_ticks(server.pid());
    thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(server.pid()) - before;
    assert!(
        spent <= 5,
        "server used {spent} ticks in 1 s while out of descriptors"
    );
    // One line a second at most, with a count, not one per back-off (10 a second).
    let failures = server.count_lines("action: accept_connections | result: fail");
    assert!(
        failures <= 2,
        "{failures} accept failure lines in about 1 s\n{}",
        server.output()
    );

    // The first connections were accepted and echo; closing them frees descriptors
    // for the ones that waited in the backlog.
    let waiting = streams.split_off(CONNECTIONS / 2);
    for (i, mut stream) in streams.into_iter().enumerate() {
        assert_eq!(read_n(&mut stream, 9), format!("hello {i:02}\n").as_bytes());
    }
    for (i, mut stream) in waiting.into_iter().enumerate() {
        let expected = format!("hello {:02}\n", i + CONNECTIONS / 2);
        assert_eq!(read_n(&mut stream, 9), expected.as_bytes());
        drop(stream);
    }
    server.signal(common::SIGTERM);
    assert!(
        server.expect_exit(common::WAIT).success(),
        "{}",
        server.output()
    );
}
