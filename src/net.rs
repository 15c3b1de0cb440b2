//! What the server and the client share about sockets: how one is made, and which
//! errors only mean "not now".

use std::io;
use std::net::SocketAddr;

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
