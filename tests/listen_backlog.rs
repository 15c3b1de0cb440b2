//! `SERVER_LISTEN_BACKLOG` reaches listen(2): for a listening socket, `ss` shows
//! the backlog in its Send-Q column.

mod common;

use std::process::Command;

use common::Server;

#[test]
fn the_configured_backlog_is_passed_to_listen() {
    for backlog in ["7", "300"] {
        let server = Server::start(&[("SERVER_LISTEN_BACKLOG", backlog)]);
        let filter = format!("sport = :{}", server.addr.port());
        let output = Command::new("ss")
            .args(["-ltnH", &filter])
            .output()
            .expect("run ss (iproute2)");
        let listing = String::from_utf8_lossy(&output.stdout);
        let send_q = listing.split_whitespace().nth(2);
        assert_eq!(send_q, Some(backlog), "ss -ltn shows {listing:?}");
    }
}
