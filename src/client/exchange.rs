//! One attempt at a message, in order: resolve the name, connect without blocking,
//! send the message, read until the first line can be judged. Each step that cannot
//! finish at once waits in [`Client::wait`] with the step's deadline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::attempts::{Attempts, CONNECT_TIMEOUT, REPLY_TIMEOUT};
use super::check::{Verdict, check};
use super::resolver::Lookup;
use super::{ATTEMPT, Client, Failure, Halt};
use crate::escape::Escaped;
use crate::net::{is_transient, tcp_socket};
use crate::reactor::{Interest, Registered};

/// The log's actions for a failed lookup or connect, and for a failure after it.
const CONNECT: &str = "connect";
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

impl Client {
    /// Makes one attempt at `message`; `Ok` once its echo came back (logged).
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
            self.wait(until, "resolving")?
                .or_late(CONNECT, "name lookup timed out")?;
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
        self.wait(until, "connecting")?
            .or_late(CONNECT, "connection attempt timed out")?;
        let stream = socket.get_ref();
        let error = stream.take_error().unwrap_or_else(Some);
        if let Some(error) = error.or_else(|| stream.peer_addr().err()) {
            return Err(Miss::Retry(CONNECT, error));
        }
        let until = attempts.deadline(Instant::now(), REPLY_TIMEOUT);
        let mut sent = 0;
        while sent < message.len() {
            let rest = &message[sent..];
            match self.unblocked(until, "sending", || socket.get_ref().write(rest))? {
                0 => return Err(Miss::Retry(RECEIVE, io::ErrorKind::WriteZero.into())),
                written => sent += written,
            }
        }
        socket.set_interest(Interest::READ).map_err(Halt::from)?;
        let (mut reply, mut buf) = (Vec::with_capacity(message.len()), [0u8; 1024]);
        let line = Escaped(message.strip_suffix(b"\n").unwrap_or(message));
        loop {
            let read = self.unblocked(until, "receiving", || socket.get_ref().read(&mut buf))?;
            if read == 0 {
                let why = format!(
                    "the server closed the connection after {} bytes, before a complete echo line",
                    reply.len()
                );
                let eof = io::Error::new(io::ErrorKind::UnexpectedEof, why);
                return Err(Miss::Retry(RECEIVE, eof));
            }
            reply.extend_from_slice(&buf[..read]);
            let id = &self.config.id;
            match check(&reply, message) {
                Verdict::Incomplete => {}
                Verdict::Echoed => {
                    log::info!(
                        "action: receive_message | result: success | client_id: {id} | msg: {line}"
                    );
                    return Ok(());
                }
                Verdict::Mismatch(received) => {
                    log::error!(
                        "action: receive_message | result: fail | client_id: {id} | msg: {line} | received: {} | error: the echo differs from the message",
                        Escaped(received)
                    );
                    return Err(Halt::Failed(Failure::WrongEcho).into());
                }
            }
        }
    }

    /// Runs `io` on the socket until it does not block, waiting up to `until`.
    fn unblocked(
        &mut self,
        until: Instant,
        phase: &str,
        mut io: impl FnMut() -> io::Result<usize>,
    ) -> Result<usize, Miss> {
        loop {
            match io() {
                Err(error) if is_transient(&error) => {}
                done => return done.map_err(|error| Miss::Retry(RECEIVE, error)),
            }
            self.wait(until, phase)?
                .or_late(RECEIVE, "no complete echo line in time")?;
        }
    }
}

/// Starts a non-blocking connect; the socket becomes writable when it is done.
fn open_connection(address: SocketAddr) -> io::Result<TcpStream> {
    let socket = tcp_socket(address)?;
    match socket.connect(&address.into()) {
        // std has no stable `ErrorKind` for a connect under way yet.
        Err(error) if error.raw_os_error() != Some(libc::EINPROGRESS) => Err(error),
        _ => Ok(socket.into()),
    }
}
