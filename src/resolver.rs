//! Host name lookup that a signal can interrupt. `getaddrinfo` blocks and cannot
//! be cancelled; in a compose network, a name whose container is gone is passed
//! on to upstream DNS servers and may take seconds to fail. So a lookup runs on a
//! short-lived thread of its own and reports through a socket that the reactor
//! watches like any other source.

use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver};
use std::thread;

/// A lookup in progress; readable once its result is there.
pub struct Lookup {
    done: UnixStream,
    result: Receiver<io::Result<SocketAddr>>,
}

impl Lookup {
    /// Starts resolving `address` (`host:port`).
    ///
    /// # Errors
    /// The socket pair or the thread cannot be created.
    pub fn start(address: &str) -> io::Result<Self> {
        let (done, notify) = UnixStream::pair()?;
        done.set_nonblocking(true)?;
        let (sender, result) = mpsc::channel();
        let address = address.to_string();
        // The thread is not joined: if the loop stops first, the result and the
        // thread are simply dropped when the process exits.
        thread::Builder::new()
            .name("resolve".into())
            .spawn(move || {
                let _ = sender.send(resolve(&address));
                let _ = (&notify).write_all(&[1]);
            })?;
        Ok(Lookup { done, result })
    }

    /// The result, once the lookup has finished.
    pub fn result(&self) -> Option<io::Result<SocketAddr>> {
        self.result.try_recv().ok()
    }
}

impl AsFd for Lookup {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.done.as_fd()
    }
}

/// Prefers an IPv4 address: the server binds 0.0.0.0 by default, and `localhost`
/// often lists `::1` first.
fn resolve(address: &str) -> io::Result<SocketAddr> {
    let found: Vec<SocketAddr> = address.to_socket_addrs()?.collect();
    let preferred = found.iter().find(|candidate| candidate.is_ipv4());
    preferred.or(found.first()).copied().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{address} resolves to no address"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::{Events, Interest, Reactor};
    use std::time::{Duration, Instant};

    #[test]
    fn a_finished_lookup_wakes_the_reactor() {
        let mut reactor = Reactor::new(0).expect("reactor");
        let key = reactor
            .insert(
                Lookup::start("localhost:80").expect("start"),
                Interest::READ,
            )
            .expect("insert");
        let mut events = Events::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        reactor.wait(&mut events, Some(deadline)).expect("wait");
        assert_eq!(events.iter().next().map(|event| event.key), Some(key));
        let lookup = reactor.get(key).expect("registered");
        let address = lookup.result().expect("finished").expect("resolved");
        assert_eq!(address.port(), 80);
        assert!(address.ip().is_loopback());
    }
}
