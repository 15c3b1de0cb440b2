//! One attempt at a message, in order: resolve the name, connect without blocking,
//! send the message, read until the first line can be judged. Each step that cannot
//! finish at once waits in [`Client::wait`] with the step's deadline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::attempts::{Attempts, CONNECT_TIMEOUT, REPLY_TIMEOUT};
use super::check::{Verdict, check};
use super::resolver::Lookup;
use super::{ATTEMPT, Client, Failure, Halt, Wake};
use crate::escape::Escaped;
use crate::net::{is_transient, tcp_socket};
use crate::reactor::{Interest, Registered};

/// The log's action for a failed lookup or connect.
const CONNECT: &str = "connect";
/// The log's action for a failure after the connect.
const RECEIVE: &str = "receive_message";

/// Why an attempt did not end with the echo.
pub(super) enum Miss {
    /// It failed in the step logged as this action; another attempt may not.
    Retry(&'static str, io::Error),
    /// The client stops.
    Halt(Halt),
}

impl From<Halt> for Miss {
    fn from(halt: Halt) -> Self {
        Miss::Halt(halt)
    }
}

/// A step that ran out of time, as the log names it.
fn timed_out(action: &'static str, why: &str) -> Miss {
    Miss::Retry(action, io::Error::new(io::ErrorKind::TimedOut, why))
}

impl Client {
    /// Makes one attempt at `message`; `Ok` once its echo came back.
    pub(super) fn attempt(&mut self, message: &[u8], attempts: &Attempts) -> Result<(), Miss> {
        let address = self.resolve(attempts)?;
        log::debug!(
            "action: connect | result: in_progress | client_id: {} | attempt: {} | address: {address}",
            self.config.id,
            attempts.number()
        );
        let stream = open_connection(address).map_err(|error| Miss::Retry(CONNECT, error))?;
        let mut socket =
            Registered::new(&self.poller, ATTEMPT, stream, Interest::WRITE).map_err(Halt::from)?;
        let result = self.converse(&mut socket, message, attempts);
        if let Err(Miss::Halt(Halt::Signalled)) = result {
            // Its socket is closed as part of the shutdown (README "Client keys").
            drop(socket);
            log::info!(
                "action: close_connection | result: success | client_id: {}",
                self.config.id
            );
        }
        result
    }

    /// The address for this attempt. The name is resolved at every attempt: a
    /// compose service's name appears in DNS only once its container runs, and a
    /// replica that went away leaves it.
    fn resolve(&mut self, attempts: &Attempts) -> Result<SocketAddr, Miss> {
        if let Ok(address) = self.config.server_address.parse() {
            return Ok(address);
        }
        let failed = |error| Miss::Retry(CONNECT, error);
        let lookup = Lookup::start(&self.config.server_address).map_err(failed)?;
        let lookup =
            Registered::new(&self.poller, ATTEMPT, lookup, Interest::READ).map_err(Halt::from)?;
        let until = attempts.deadline(Instant::now(), CONNECT_TIMEOUT);
        loop {
            if let Some(found) = lookup.get_ref().result() {
                let addresses = found.map_err(failed)?;
                let address = attempts.pick(&addresses).copied();
                return address.ok_or_else(|| failed(io::ErrorKind::NotFound.into()));
            }
            if self.wait(until, "resolving")? == Wake::TimedOut {
                return Err(timed_out(CONNECT, "name lookup timed out"));
            }
        }
    }

    /// Completes the connect, sends `message` and judges the first line back.
    fn converse(
        &mut self,
        socket: &mut Registered<TcpStream>,
        message: &[u8],
        attempts: &Attempts,
    ) -> Result<(), Miss> {
        // A non-blocking connect is done when the socket becomes writable.
        let until = attempts.deadline(Instant::now(), CONNECT_TIMEOUT);
        if self.wait(until, "connecting")? == Wake::TimedOut {
            return Err(timed_out(CONNECT, "connection attempt timed out"));
        }
        if let Some(error) = connect_error(socket.get_ref()) {
            return Err(Miss::Retry(CONNECT, error));
        }
        let failed = |error| Miss::Retry(RECEIVE, error);
        let late = || timed_out(RECEIVE, "no complete echo line in time");
        let until = attempts.deadline(Instant::now(), REPLY_TIMEOUT);
        let mut sent = 0;
        while sent < message.len() {
            match socket.get_ref().write(&message[sent..]) {
                Ok(0) => return Err(failed(io::ErrorKind::WriteZero.into())),
                Ok(written) => sent += written,
                Err(error) if is_transient(&error) => {
                    if self.wait(until, "sending")? == Wake::TimedOut {
                        return Err(late());
                    }
                }
                Err(error) => return Err(failed(error)),
            }
        }
        socket.set_interest(Interest::READ).map_err(Halt::from)?;
        let mut reply = Vec::with_capacity(message.len());
        let mut buf = [0u8; 1024];
        loop {
            match socket.get_ref().read(&mut buf) {
                Ok(0) => {
                    let why = format!(
                        "the server closed the connection after {} bytes, before a complete echo line",
                        reply.len()
                    );
                    return Err(failed(io::Error::new(io::ErrorKind::UnexpectedEof, why)));
                }
                Ok(read) => reply.extend_from_slice(&buf[..read]),
                Err(error) if is_transient(&error) => {
                    if self.wait(until, "receiving")? == Wake::TimedOut {
                        return Err(late());
                    }
                    continue;
                }
                Err(error) => return Err(failed(error)),
            }
            match check(&reply, message) {
                Verdict::Incomplete => {}
                Verdict::Echoed => return Ok(()),
                Verdict::Mismatch(received) => {
                    log::error!(
                        "action: receive_message | result: fail | client_id: {} | msg: {} | received: {} | error: the echo differs from the message",
                        self.config.id,
                        Escaped(message.strip_suffix(b"\n").unwrap_or(message)),
                        Escaped(received)
                    );
                    return Err(Halt::Failed(Failure::WrongEcho).into());
                }
            }
        }
    }
}

/// Starts a non-blocking connect; the socket becomes writable when it is done.
///
/// # Errors
/// The socket cannot be created, or the connect failed at once.
fn open_connection(address: SocketAddr) -> io::Result<TcpStream> {
    let socket = tcp_socket(address)?;
    match socket.connect(&address.into()) {
        Ok(()) => {}
        // std has no stable `ErrorKind` for a connect under way yet.
        Err(error) if error.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(error) if is_transient(&error) => {}
        Err(error) => return Err(error),
    }
    Ok(socket.into())
}

/// Why a non-blocking connect that woke the loop failed, if it did.
fn connect_error(stream: &TcpStream) -> Option<io::Error> {
    match stream.take_error() {
        Ok(Some(error)) | Err(error) => Some(error),
        Ok(None) => stream.peer_addr().err(),
    }
}
