//! The status socket: each probe that connects gets one status line written by the
//! loop itself, then the close. Probes take no client slot and are not logged:
//! orchestrators ask every few seconds.

use std::io::Write;

use super::Server;
use crate::health::Status;

/// Probes answered in one loop turn at most: the socket is reachable only from
/// inside the namespace, but a burst of them must not delay the clients' echoes.
const PROBES_PER_TURN: usize = 16;

impl Server {
    /// Answers the probes waiting on the status socket.
    pub(super) fn on_probe(&mut self) {
        let line = self.status().line();
        for _ in 0..PROBES_PER_TURN {
            let Ok((mut probe, _)) = self.status_socket.get_ref().accept() else {
                // Would block (all answered) or a failure that costs one probe only.
                return;
            };
            // A fresh socket's buffer always takes one short line; a probe that left
            // already costs nothing more than the failed write.
            let _ = probe
                .set_nonblocking(true)
                .and_then(|()| probe.write_all(line.as_bytes()));
        }
    }

    fn status(&self) -> Status {
        Status {
            connections: self.serving,
            max_connections: self.max_connections,
            accepting: self.accepting(),
            draining: self.drain_deadline.is_some(),
        }
    }
}
