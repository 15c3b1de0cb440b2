//! A port that cannot be bound ends the server with exit 1 and a line that names the
//! address and port it tried, so the operator sees which setting to change.

mod common;

use common::{Proc, SERVER, TempFile, WAIT};
use std::net::TcpListener;

#[test]
fn a_port_in_use_is_named_in_the_failure() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let config = TempFile::new("server.ini", "");
    let path = config.path().to_string();
    let env = [
        ("SERVER_PORT", port.as_str()),
        ("SERVER_BIND_IP", "127.0.0.1"),
    ];
    let mut server = Proc::spawn(SERVER, &["--config", &path], &env, vec![config]);
    server.expect_exit_code(WAIT, 1);
    let failure = server.wait_line("action: server | result: fail");
    assert!(
        failure.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{failure}"
    );
}
