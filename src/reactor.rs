//! The event loop's core on one `polling::Poller`: [`Registered`], a descriptor
//! registered for as long as the value lives. The caller owns its sources (the server
//! its listener and connections, the client its socket), so reaching one needs no
//! lookup; the one exception to safe code is handing a descriptor to the poller.
//! Interest is level-triggered and changed only when a source's needs change.
//!
//! Level-triggered, because oneshot interest would cost an `epoll_ctl` after every
//! event; the price is that a source must never keep an interest it will not serve,
//! or every `wait` returns at once. Callers derive interest from state to ensure it.

use polling::{Event, PollMode};
pub use polling::{Events, Poller};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;

/// What a source wants to be woken for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Wake when reading would not block (or the peer closed, or an error is pending).
    pub readable: bool,
    /// Wake when writing would not block.
    pub writable: bool,
}

impl Interest {
    /// Registered but asleep: nothing wakes the source except an error or hang-up.
    pub const NONE: Interest = Interest::new(false, false);
    /// Wake for input.
    pub const READ: Interest = Interest::new(true, false);
    /// Wake when output can proceed.
    pub const WRITE: Interest = Interest::new(false, true);

    /// An interest from its two halves.
    pub const fn new(readable: bool, writable: bool) -> Self {
        Interest { readable, writable }
    }
}

/// A poller for [`Registered`] sources, to be shared by all of them.
///
/// # Errors
/// The poller cannot be created (no file descriptors left), or the platform has no
/// level-triggered mode.
pub fn level_poller() -> io::Result<Rc<Poller>> {
    let poller = Poller::new()?;
    if !poller.supports_level() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the poller has no level-triggered mode on this platform",
        ));
    }
    Ok(Rc::new(poller))
}

/// A descriptor registered with the poller for as long as this value lives: made
/// by [`Registered::new`], deleted from the poller when dropped. It hands out only
/// `&T` (std implements `Read` and `Write` for `&TcpStream`, `&UnixStream`, `&File`),
/// so nothing can close or replace the descriptor while the poller watches it.
pub struct Registered<T: AsFd> {
    poller: Rc<Poller>,
    key: usize,
    io: T,
    /// Last interest given to the poller, so an unchanged one costs no system call.
    interest: Interest,
}

impl<T: AsFd> Registered<T> {
    /// Registers `io` under `key` (not `usize::MAX`, which `polling` keeps), which
    /// its events then carry; the caller keeps keys apart.
    ///
    /// `T` must answer `as_fd` with the same descriptor for as long as it lives, as
    /// every owner of one descriptor in std does.
    ///
    /// # Errors
    /// The poller refused the descriptor (e.g. already registered); `io` is dropped.
    pub fn new(poller: &Rc<Poller>, key: usize, io: T, interest: Interest) -> io::Result<Self> {
        let event = Event::new(key, interest.readable, interest.writable);
        // SAFETY: `polling` requires the descriptor to be deleted before it is
        // closed. It belongs to `io`, which this value owns and lends only as `&T`,
        // so it stays open until `drop` below has deleted it.
        unsafe { poller.add_with_mode(io.as_fd().as_raw_fd(), event, PollMode::Level)? };
        Ok(Registered {
            poller: Rc::clone(poller),
            key,
            io,
            interest,
        })
    }

    /// The registered source, to read from, write to or ask.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    /// What the source is woken for now.
    pub fn interest(&self) -> Interest {
        self.interest
    }

    /// Changes what the source is woken for; free when unchanged.
    ///
    /// # Errors
    /// The poller refused the change.
    pub fn set_interest(&mut self, interest: Interest) -> io::Result<()> {
        if self.interest != interest {
            let event = Event::new(self.key, interest.readable, interest.writable);
            self.poller
                .modify_with_mode(&self.io, event, PollMode::Level)?;
            self.interest = interest;
        }
        Ok(())
    }
}

impl<T: AsFd> Drop for Registered<T> {
    fn drop(&mut self) {
        // Deleting can only fail for a descriptor the poller does not know, which
        // `new` rules out; the source is safe to drop either way.
        let _ = self.poller.delete(&self.io);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().expect("socket pair")
    }

    /// Waits at most 20 ms and returns the keys of the events that came.
    fn keys_ready(poller: &Poller) -> Vec<usize> {
        let mut events = Events::new();
        let soon = Instant::now() + Duration::from_millis(20);
        poller.wait_deadline(&mut events, soon).expect("wait");
        events.iter().map(|event| event.key).collect()
    }

    #[test]
    fn a_registered_source_reports_until_served_and_sleeps_without_interest() {
        let poller = level_poller().expect("poller");
        let (ours, mut theirs) = pair();
        let mut ours = Registered::new(&poller, 7, ours, Interest::READ).expect("register");
        theirs.write_all(b"x").expect("write");
        // Level-triggered: the unread byte wakes every wait, not only the first.
        assert_eq!(keys_ready(&poller), [7]);
        assert_eq!(keys_ready(&poller), [7]);
        ours.set_interest(Interest::NONE).expect("modify");
        assert!(keys_ready(&poller).is_empty());
        let mut byte = [0];
        ours.get_ref().read_exact(&mut byte).expect("read");
        ours.set_interest(Interest::WRITE).expect("modify");
        assert_eq!(keys_ready(&poller), [7]);
    }

    #[test]
    fn an_unchanged_interest_costs_no_system_call() {
        let poller = level_poller().expect("poller");
        let (ours, _theirs) = pair();
        let mut ours = Registered::new(&poller, 1, ours, Interest::READ).expect("register");
        // Behind its back: from now on any epoll_ctl on it fails with ENOENT.
        poller.delete(ours.get_ref()).expect("delete");
        ours.set_interest(Interest::READ)
            .expect("no call, so no error");
        assert!(ours.set_interest(Interest::WRITE).is_err());
    }

    #[test]
    fn dropping_a_registration_deletes_it_from_the_poller() {
        let poller = level_poller().expect("poller");
        let (ours, mut theirs) = pair();
        let first = Registered::new(&poller, 3, &ours, Interest::READ).expect("register");
        assert!(Registered::new(&poller, 4, &ours, Interest::READ).is_err());
        drop(first);
        theirs.write_all(b"x").expect("write");
        assert!(keys_ready(&poller).is_empty(), "no event after the drop");
        let again = Registered::new(&poller, 5, &ours, Interest::READ).expect("register");
        assert_eq!(keys_ready(&poller), [5]);
        drop(again);
    }
}
