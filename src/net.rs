//! What the programs share about descriptors: how a socket is made, which errors
//! only mean "not now", and a bounded wait for one descriptor.

use std::io;
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use socket2::{Domain, Protocol, Socket, Type};

/// A non-blocking TCP socket of `address`'s family, neither bound nor connected:
/// the reactor must never block on it.
///
/// # Errors
/// The socket cannot be created (no descriptors left, no such family).
pub fn tcp_socket(address: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Errors after which the same call may simply be tried again later.
pub fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Waits at most `bound` until `fd` is ready for `events` (`PollFlags::IN`,
/// `PollFlags::OUT`); false on timeout or a signal. For the short, blocking waits
/// outside the event loop: the health probe, the last flush of the log.
///
/// # Errors
/// poll(2) itself failed.
pub fn wait_ready(fd: BorrowedFd<'_>, events: PollFlags, bound: Duration) -> io::Result<bool> {
    let mut poll = [PollFd::new(&fd, events)];
    let timeout = Timespec::try_from(bound).ok();
    match rustix::event::poll(&mut poll, timeout.as_ref()) {
        Ok(ready) => Ok(ready == 1 && poll[0].revents().intersects(events)),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// `error` with what it was about, kind kept.
pub fn with_context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}
