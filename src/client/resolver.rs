//! Host name lookup that a signal can interrupt: `getaddrinfo` blocks, cannot be
//! cancelled and may take seconds to fail, so it runs on a short-lived thread that
//! reports through a socket the client watches. Every address is handed back (Swarm's
//! `dnsrr` replicas), so that each attempt can take the next one.

use std::io::{self, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver};
use std::thread;

/// A lookup in progress; readable once its result is there.
pub struct Lookup {
    done: UnixStream,
    result: Receiver<io::Result<Vec<SocketAddr>>>,
}

impl Lookup {
    /// Starts resolving `address` (`host:port`); fails if the socket pair or the
    /// thread cannot be created.
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

    /// The addresses found (never none), once the lookup has finished.
    pub fn result(&self) -> Option<io::Result<Vec<SocketAddr>>> {
        self.result.try_recv().ok()
    }
}

impl AsFd for Lookup {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.done.as_fd()
    }
}

/// IPv4 addresses first: the server binds 0.0.0.0 by default, and `localhost`
/// often lists `::1` first.
fn resolve(address: &str) -> io::Result<Vec<SocketAddr>> {
    let mut found: Vec<SocketAddr> = address.to_socket_addrs()?.collect();
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{address} resolves to no address"),
        ));
    }
    // Stable: the resolver's order is kept within each family.
    found.sort_by_key(|candidate| !candidate.is_ipv4());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::{Events, Interest, Registered, level_poller};
    use std::time::{Duration, Instant};

    #[test]
    fn a_finished_lookup_wakes_the_poller() {
        let poller = level_poller().expect("poller");
        let lookup = Lookup::start("localhost:80").expect("start");
        let lookup = Registered::new(&poller, 9, lookup, Interest::READ).expect("register");
        let mut events = Events::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        poller.wait_deadline(&mut events, deadline).expect("wait");
        assert_eq!(events.iter().next().map(|event| event.key), Some(9));
        let addresses = lookup
            .get_ref()
            .result()
            .expect("finished")
            .expect("resolved");
        assert!(addresses[0].is_ipv4(), "{addresses:?}");
        for address in addresses {
            assert_eq!(address.port(), 80);
            assert!(address.ip().is_loopback());
        }
    }
}
