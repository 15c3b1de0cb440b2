//! The I/O of one attempt: open a non-blocking connection, and on each wake-up of
//! its source advance the phase (resolve, connect, send, receive) as far as the
//! socket allows, reporting what happened for the client to act on.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::echo::{self, Verdict};
use super::phase::{Phase, Step};
use crate::net::{is_transient, tcp_socket};

/// What a wake-up did to the attempt in flight.
#[derive(Debug)]
pub enum Progress {
    /// Nothing to act on yet; the step may have advanced.
    Pending,
    /// The name resolved to these addresses (never none).
    Resolved(Vec<SocketAddr>),
    /// The connect completed: the reply bound starts, and the socket is writable.
    Connected,
    /// This attempt failed; another one may not.
    Failed(io::Error),
    /// The first line received is the message.
    Echoed,
    /// The first line received (without its `\n`) is something else.
    Mismatch(Vec<u8>),
}

impl Phase {
    /// Advances the phase after its source woke the loop, for `message`.
    pub fn advance(&mut self, message: &[u8]) -> Progress {
        match self {
            Phase::Resolving { lookup, .. } => match lookup.result() {
                Some(Ok(addresses)) => Progress::Resolved(addresses),
                Some(Err(error)) => Progress::Failed(error),
                None => Progress::Pending,
            },
            Phase::Connection { stream, step, .. } => advance(stream, step, message),
            Phase::Waiting { .. } | Phase::Backoff { .. } => Progress::Pending,
        }
    }
}

fn advance(stream: &mut TcpStream, step: &mut Step, message: &[u8]) -> Progress {
    match step {
        Step::Connecting => match connect_error(stream) {
            Some(error) => Progress::Failed(error),
            None => {
                *step = Step::Sending { sent: 0 };
                Progress::Connected
            }
        },
        Step::Sending { sent } => match send(stream, &message[*sent..]) {
            Ok(written) if *sent + written == message.len() => {
                *step = Step::Receiving {
                    reply: Vec::with_capacity(message.len()),
                };
                Progress::Pending
            }
            Ok(written) => {
                *sent += written;
                Progress::Pending
            }
            Err(error) => Progress::Failed(error),
        },
        Step::Receiving { reply } => receive(stream, reply, message),
    }
}

/// Writes as much of `rest` as the socket takes; returns how much that was.
fn send(stream: &mut TcpStream, rest: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < rest.len() {
        match stream.write(&rest[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(error) if is_transient(&error) => break,
            Err(error) => return Err(error),
        }
    }
    Ok(written)
}

/// Reads what has arrived until the echo can be judged or the socket is empty.
fn receive(stream: &mut TcpStream, reply: &mut Vec<u8>, message: &[u8]) -> Progress {
    let mut buf = [0u8; 1024];
    loop {
        let read = match stream.read(&mut buf) {
            Ok(read) => read,
            Err(error) if is_transient(&error) => return Progress::Pending,
            Err(error) => return Progress::Failed(error),
        };
        if read == 0 {
            return Progress::Failed(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the server closed the connection after {} bytes, before a complete echo line",
                    reply.len()
                ),
            ));
        }
        reply.extend_from_slice(&buf[..read]);
        match echo::check(reply, message) {
            Verdict::Incomplete => {}
            Verdict::Echoed => return Progress::Echoed,
            Verdict::Mismatch(line) => return Progress::Mismatch(line.to_vec()),
        }
    }
}

/// EINPROGRESS on Linux: a non-blocking connect has started. std has no stable
/// `ErrorKind` for it yet.
const EINPROGRESS: i32 = 115;

/// Starts a non-blocking connect; the socket becomes writable when it is done.
///
/// # Errors
/// The socket cannot be created, or the connect failed at once.
pub fn open_connection(address: SocketAddr) -> io::Result<TcpStream> {
    let socket = tcp_socket(address)?;
    match socket.connect(&address.into()) {
        Ok(()) => {}
        Err(error) if error.raw_os_error() == Some(EINPROGRESS) => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Instant;

    const MESSAGE: &[u8] = b"[CLIENT 1] Message N\xc2\xb01\n";
    const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

    /// A connected phase in `step` and the server's end of its socket.
    fn connected(step: Step) -> (Phase, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let stream = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        stream.set_nonblocking(true).expect("non-blocking");
        let (server, _) = listener.accept().expect("accept");
        let until = Instant::now();
        (
            Phase::Connection {
                key: 1,
                stream,
                step,
                until,
            },
            server,
        )
    }

    fn step(phase: &Phase) -> &Step {
        match phase {
            Phase::Connection { step, .. } => step,
            _ => panic!("not a connection"),
        }
    }

    #[test]
    fn a_completed_connect_starts_sending_and_a_sent_message_waits_for_its_echo() {
        let (mut phase, mut server) = connected(Step::Connecting);
        assert!(matches!(phase.advance(MESSAGE), Progress::Connected));
        assert_eq!(step(&phase), &Step::Sending { sent: 0 });
        assert!(matches!(phase.advance(MESSAGE), Progress::Pending));
        assert!(matches!(step(&phase), Step::Receiving { .. }));
        let mut got = vec![0; MESSAGE.len()];
        server.read_exact(&mut got).expect("message");
        assert_eq!(got, MESSAGE);
    }

    #[test]
    fn an_eof_before_a_complete_line_fails_the_attempt() {
        let receiving = Step::Receiving { reply: Vec::new() };
        let (mut phase, mut server) = connected(receiving);
        server.write_all(&MESSAGE[..5]).expect("write");
        drop(server);
        // Blocking with a bound, so the bytes and the EOF are waited for.
        if let Phase::Connection { stream, .. } = &phase {
            stream.set_nonblocking(false).expect("blocking");
            stream.set_read_timeout(Some(WAIT)).expect("timeout");
        }
        match phase.advance(MESSAGE) {
            Progress::Failed(error) => {
                assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
                assert!(error.to_string().contains("after 5 bytes"), "{error}");
            }
            other => panic!("expected a failed attempt, got {other:?}"),
        }
    }
}
