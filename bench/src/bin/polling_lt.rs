//! Baseline: the smallest level-triggered loop on the `polling` crate, to tell the
//! crate's own cost per wait from the product server's. One read per readable
//! event, complete lines written straight back; no logging, no signals, no limits.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use polling::{Event, Events, PollMode, Poller};
use tp0_bench::{Echo, LineEcho, addr_from_args};

const LISTENER: usize = 0;

struct Peer {
    stream: TcpStream,
    lines: LineEcho,
    /// Echo bytes the socket did not take yet.
    pending: Vec<u8>,
    /// Registered for writability (pending output) rather than readability.
    writing: bool,
}

fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind(addr_from_args())?;
    listener.set_nonblocking(true)?;
    let poller = Poller::new()?;
    // SAFETY: the listener lives until the end of `main`, after the poller's last use.
    unsafe { poller.add_with_mode(&listener, Event::readable(LISTENER), PollMode::Level)? };
    let mut peers: HashMap<usize, Peer> = HashMap::new();
    let mut next_key = LISTENER + 1;
    let mut events = Events::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        events.clear();
        poller.wait(&mut events, None)?;
        for event in events.iter() {
            if event.key == LISTENER {
                while let Ok((stream, _)) = listener.accept() {
                    stream.set_nonblocking(true)?;
                    // SAFETY: every peer is deleted from the poller before it is dropped.
                    unsafe {
                        poller.add_with_mode(&stream, Event::readable(next_key), PollMode::Level)?
                    };
                    let peer = Peer {
                        stream,
                        lines: LineEcho::default(),
                        pending: Vec::new(),
                        writing: false,
                    };
                    peers.insert(next_key, peer);
                    next_key += 1;
                }
                continue;
            }
            let Some(peer) = peers.get_mut(&event.key) else {
                continue;
            };
            if serve(peer, &mut buf, event).is_err() {
                let _ = poller.delete(&peer.stream);
                peers.remove(&event.key);
                continue;
            }
            // Interest changes only when the need does, as in the product server.
            let writing = !peer.pending.is_empty();
            if writing != peer.writing {
                peer.writing = writing;
                let interest = Event::new(event.key, !writing, writing);
                poller.modify_with_mode(&peer.stream, interest, PollMode::Level)?;
            }
        }
    }
}

/// Reads once and echoes; `Err` means the connection is over.
fn serve(peer: &mut Peer, buf: &mut [u8], event: Event) -> Result<(), ()> {
    if event.writable && !peer.pending.is_empty() {
        let pending = std::mem::take(&mut peer.pending);
        return write_some(&mut peer.stream, &mut peer.pending, &pending);
    }
    let read = match peer.stream.read(buf) {
        Ok(0) => return Err(()),
        Ok(read) => read,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
        Err(_) => return Err(()),
    };
    let (stream, pending) = (&mut peer.stream, &mut peer.pending);
    match peer.lines.push(&buf[..read]) {
        Echo::Borrowed([]) => Ok(()),
        Echo::Borrowed(lines) => write_some(stream, pending, lines),
        Echo::Owned(lines) => write_some(stream, pending, &lines),
    }
}

fn write_some(stream: &mut TcpStream, pending: &mut Vec<u8>, bytes: &[u8]) -> Result<(), ()> {
    match stream.write(bytes) {
        Ok(written) => pending.extend_from_slice(&bytes[written..]),
        Err(e) if e.kind() == ErrorKind::WouldBlock => pending.extend_from_slice(bytes),
        Err(_) => return Err(()),
    }
    Ok(())
}
