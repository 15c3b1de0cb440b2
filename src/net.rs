//! What the programs share about descriptors: how a socket is made, which errors
//! only mean "not now", and a bounded wait for one descriptor.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

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

/// Waits at most `bound` until `fd` is ready for `events` (`libc::POLLIN`,
/// `libc::POLLOUT`); false on timeout or a signal. For the short, blocking waits
/// outside the event loop: the health probe, the last flush of the log.
///
/// # Errors
/// poll(2) itself failed.
pub fn wait_ready(fd: BorrowedFd<'_>, events: libc::c_short, bound: Duration) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let millis = libc::c_int::try_from(bound.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd on the stack, and its count is 1.
    match unsafe { libc::poll(&mut poll, 1, millis) } {
        -1 => {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(error)
            }
        }
        ready => Ok(ready == 1 && poll.revents & events != 0),
    }
}

/// `error` with what it was about, kind kept.
pub fn with_context(error: io::Error, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{what}: {error}"))
}
