//! Log lines (README "Protocol and logs") matched exactly on the real output: the timestamp
//! and 8-column level, the course's event names and keys, and escaping of control
//! characters.

mod common;
mod models;

use common::{SIGTERM, Server, WAIT, fill_until_blocked, message, ping, read_n, read_until_closed};
use regex::Regex;
use std::io::Write;
use std::time::Duration;

/// Every stdout line: `YYYY-MM-DD HH:MM:SS LEVEL    action: NAME | result: R[ | key: value]*`.
fn assert_all_lines_well_formed(who: &str, lines: &[String]) {
    let line = Regex::new(
        r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]) ([01]\d|2[0-3]):[0-5]\d:[0-5]\d (TRACE   |DEBUG   |INFO    |WARN    |WARNING |ERROR   ) action: [a-z_]+ \| result: (success|fail|in_progress)( \| [a-z_]+: [^|]*)*$",
    )
    .expect("regex");
    assert!(!lines.is_empty(), "{who} logged nothing");
    for l in lines {
        assert!(line.is_match(l), "{who} line not in the log format: {l:?}");
        assert!(
            !message(l).starts_with("action: exit "),
            "{who} names an event `exit`: {l:?}"
        );
    }
}

/// The one line whose event part is exactly `event`.
fn assert_event(who: &str, lines: &[String], event: &str) {
    let n = lines.iter().filter(|l| message(l) == event).count();
    assert_eq!(n, 1, "{who}: lines exactly `{event}`\n{}", lines.join("\n"));
}

#[test]
fn server_and_client_lines_match_the_spec() {
    let mut server = Server::start(&[("SERVER_LISTEN_BACKLOG", "5")]);
    let address = server.addr.to_string();
    let mut client = server.client(&[
        ("CLI_ID", "7"),
        ("CLI_LOOP_AMOUNT", "2"),
        ("CLI_LOOP_PERIOD", "100ms"),
    ]);
    client.expect_success(WAIT);
    server.wait_count("action: receive_message", 2);
    server.signal(SIGTERM);
    server.expect_success(Duration::from_secs(5));

    let lines = server.lines();
    assert_all_lines_well_formed("server", &lines);
    for event in [
        "action: config | result: success | port: 0 | listen_backlog: 5 | logging_level: INFO"
            .to_string(),
        format!("action: listen | result: success | address: {address}"),
        "action: receive_message | result: success | ip: 127.0.0.1 | msg: [CLIENT 7] Message N°1"
            .to_string(),
        "action: receive_message | result: success | ip: 127.0.0.1 | msg: [CLIENT 7] Message N°2"
            .to_string(),
        "action: close_listener | result: success".to_string(),
        "action: close_signal_pipe | result: success".to_string(),
        "action: shutdown | result: success".to_string(),
    ] {
        assert_event("server", &lines, &event);
    }
    let accepts = lines
        .iter()
        .filter(|l| message(l) == "action: accept_connections | result: success | ip: 127.0.0.1")
        .count();
    assert_eq!(accepts, 2, "one accept_connections line per message");
    assert!(
        lines[0].contains("action: config |"),
        "config is the first line: {:?}",
        lines[0]
    );

    let lines = client.lines();
    assert_all_lines_well_formed("client", &lines);
    for event in [
        format!(
            "action: config | result: success | client_id: 7 | server_address: {address} | loop_amount: 2 | loop_period: 100ms | log_level: INFO"
        ),
        "action: receive_message | result: success | client_id: 7 | msg: [CLIENT 7] Message N°1"
            .to_string(),
        "action: receive_message | result: success | client_id: 7 | msg: [CLIENT 7] Message N°2"
            .to_string(),
        "action: loop_finished | result: success | client_id: 7".to_string(),
    ] {
        assert_event("client", &lines, &event);
    }
    assert!(
        lines[0].contains("action: config |"),
        "config is the first line: {:?}",
        lines[0]
    );
    // `°` is U+00B0, two bytes in UTF-8.
    let raw = client.stdout_raw();
    assert!(
        raw.windows(4).any(|w| w == b"N\xc2\xb0\x31"),
        "N° is not U+00B0 in UTF-8"
    );
}

#[test]
fn control_characters_in_a_message_are_escaped() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    // An ESC sequence and a carriage return that would forge a log line on a terminal.
    let evil = b"evil\x1b[31mred\r2030-01-01 00:00:00 INFO     action: forged | result: success\n";
    ping(&mut stream, evil);
    let line =
        server.wait_line("action: receive_message | result: success | ip: 127.0.0.1 | msg: evil");
    let raw = server.stdout_raw();
    assert!(
        !raw.contains(&0x1b),
        "raw ESC in the server's stdout: {line:?}"
    );
    assert!(
        !raw.contains(&b'\r'),
        "raw CR in the server's stdout: {line:?}"
    );
    let msg = line.split("msg: ").nth(1).expect("msg field");
    assert!(
        msg.starts_with("evil\\"),
        "ESC not shown as an escape: {msg:?}"
    );
    assert!(msg.contains("red\\"), "CR not shown as an escape: {msg:?}");
    assert!(
        msg.ends_with("action: forged \\x7c result: success"),
        "rest of the message kept: {msg:?}"
    );
}

#[test]
fn peer_text_cannot_forge_or_disguise_a_record() {
    let server = Server::start(&[]);
    let mut stream = server.connect();
    let messages: [&[u8]; 8] = [
        b"x | result: fail | ip: 6.6.6.6 | msg: y",
        "lines\u{2028}and\u{2029}paragraphs".as_bytes(),
        "bidi \u{202a}\u{202b}\u{202c}\u{202d}\u{202e} \u{2066}\u{2067}\u{2068}\u{2069}".as_bytes(),
        "zero\u{200b}\u{200c}\u{200d}\u{feff}width".as_bytes(),
        b"controls \x1b[2J\r\x07\x00\x7f\t",
        "c1 \u{85}\u{9b}".as_bytes(),
        b"bad \xff\xfe utf8 \\x7c",
        "[CLIENT 1] Message N\u{b0}1".as_bytes(),
    ];
    for message in messages {
        // Echo bytes stay untouched: escaping is for the log only.
        ping(&mut stream, &[message, b"\n"].concat());
    }
    server.wait_count("action: receive_message", messages.len());
    let raw = server.stdout_raw();
    let records: Vec<&[u8]> = raw
        .split(|&b| b == b'\n')
        .filter(|line| line.windows(15).any(|w| w == b"receive_message"))
        .collect();
    assert_eq!(records.len(), messages.len(), "one record per message");
    for (record, sent) in records.into_iter().zip(messages) {
        let record = std::str::from_utf8(record).expect("the log is UTF-8");
        if let Some(c) = record
            .chars()
            .find(|&c| c != '|' && models::forbidden_in_log(c))
        {
            panic!("{c:?} raw in {record:?}");
        }
        let fields: Vec<&str> = message(record).split(" | ").collect();
        assert_eq!(
            fields[..3],
            [
                "action: receive_message",
                "result: success",
                "ip: 127.0.0.1"
            ],
            "{record:?}"
        );
        assert_eq!(fields.len(), 4, "one msg field: {record:?}");
        let msg = fields[3].strip_prefix("msg: ").expect("msg field");
        assert!(!msg.contains('|'), "{msg:?}");
        assert_eq!(
            models::unescape(msg).as_deref(),
            Some(sent),
            "{msg:?} does not decode to what was sent"
        );
    }
}

#[test]
fn client_logs_its_period_back_in_go_syntax() {
    let server = Server::start(&[]);
    let mut client = server.client(&[("CLI_LOOP_PERIOD", "1m30s"), ("CLI_LOOP_AMOUNT", "2")]);
    let line = client.wait_line("action: config | result: success");
    assert!(
        line.contains("| loop_amount: 2 | loop_period: 1m30s |"),
        "config line: {line:?}"
    );
    client.signal(SIGTERM);
    client.expect_success(Duration::from_secs(5));
}

#[test]
fn server_accepts_debug_level() {
    let server = Server::start(&[("LOGGING_LEVEL", "DEBUG")]);
    server.wait_line("action: config | result: success | port: 0 | listen_backlog: ");
    let line = server.wait_line("action: config | result: success");
    assert!(
        line.ends_with("| logging_level: DEBUG"),
        "config line: {line:?}"
    );
}

#[test]
fn server_config_limits_line_matches_the_contract() {
    // The keys beyond the course's, with their defaults, in the documented order.
    let server = Server::start(&[]);
    let line = server.wait_line("action: config_limits |");
    assert_eq!(
        message(&line),
        "action: config_limits | result: success | ip: server | bind_ip: 127.0.0.1 | max_connections: 10000 | max_line_bytes: 65536 | shutdown_grace: 500ms | max_buffered: 33554432 | idle_timeout: 1m0s"
    );
}

#[test]
fn failure_and_shutdown_paths_keep_the_line_format() {
    // Every path that logs something unusual: the connection limit, an over-long line,
    // a drain cut short by the grace. Parsers still need `action: … | result: …`.
    let mut server = Server::start(&[
        ("SERVER_MAX_CONNECTIONS", "1"),
        ("SERVER_MAX_LINE_BYTES", "2048"),
        ("SERVER_SHUTDOWN_GRACE", "200ms"),
    ]);
    let mut first = server.connect();
    ping(&mut first, b"first\n");
    let mut waiting = server.connect();
    waiting.write_all(b"waits\n").expect("write");
    let _ = first.write_all(&[b'x'; 4096]);
    assert!(
        read_until_closed(&mut first).is_empty(),
        "over-long line echoed"
    );
    server.wait_line("action: receive_message | result: fail |");
    let mut hog = waiting;
    assert_eq!(
        read_n(&mut hog, 6),
        b"waits\n",
        "served once the slot freed up"
    );
    fill_until_blocked(&mut hog, 64 << 20);
    server.signal(SIGTERM);
    server.expect_success(Duration::from_secs(5));
    assert_all_lines_well_formed("server", &server.lines());
}
