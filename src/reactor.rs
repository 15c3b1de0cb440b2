//! The event loop's core on one `polling::Poller`: [`Registered`], a descriptor
//! registered for as long as the value lives (the caller owns it), and `Reactor`, the
//! older form that keeps its sources in a slab, which the server still uses. Interest
//! is level-triggered and changed only when a source's needs change.
//!
//! Level-triggered, because oneshot interest would cost an `epoll_ctl` after every
//! event; the price is that a source must never keep an interest it will not serve,
//! or every `wait` returns at once. Callers derive interest from state to ensure it.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::Instant;

use polling::{Event, PollMode};
pub use polling::{Events, Poller};

/// Identifies a source for as long as it is registered.
pub type Key = usize;

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

struct Slot<S> {
    source: S,
    /// Last interest given to the poller, so an unchanged one costs no system call.
    interest: Interest,
}

/// A poller together with the sources registered in it.
///
/// Keys below `fixed` belong to sources the caller places itself with
/// [`Reactor::insert_at`] (a listener, a signal pipe) and dispatches by constant;
/// [`Reactor::insert`] never hands them out.
pub struct Reactor<S: AsFd> {
    poller: Poller,
    slots: Vec<Option<Slot<S>>>,
    vacant: Vec<Key>,
    fixed: Key,
}

impl<S: AsFd> Reactor<S> {
    /// Creates an empty reactor whose keys `0..fixed` are kept for
    /// [`Reactor::insert_at`].
    ///
    /// # Errors
    /// The poller cannot be created (no file descriptors left), or the platform has
    /// no level-triggered mode.
    pub fn new(fixed: Key) -> io::Result<Self> {
        let poller = Poller::new()?;
        if !poller.supports_level() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the poller has no level-triggered mode on this platform",
            ));
        }
        let slots = std::iter::repeat_with(|| None).take(fixed).collect();
        Ok(Reactor {
            poller,
            slots,
            vacant: Vec::new(),
            fixed,
        })
    }

    /// Registers `source` under a free key of its own and returns that key.
    ///
    /// # Errors
    /// The poller refused the source; it is dropped.
    pub fn insert(&mut self, source: S, interest: Interest) -> io::Result<Key> {
        let key = self.vacant.pop().unwrap_or(self.slots.len());
        self.register(key, source, interest)?;
        Ok(key)
    }

    /// Registers `source` under the fixed `key` (below the `fixed` given to
    /// [`Reactor::new`]), replacing nothing: the key must be free.
    ///
    /// # Errors
    /// The key is not a free fixed key, or the poller refused the source.
    pub fn insert_at(&mut self, key: Key, source: S, interest: Interest) -> io::Result<()> {
        if key >= self.fixed || self.slots[key].is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "not a free fixed key",
            ));
        }
        self.register(key, source, interest)
    }

    fn register(&mut self, key: Key, source: S, interest: Interest) -> io::Result<()> {
        let event = Event::new(key, interest.readable, interest.writable);
        // SAFETY: the source is stored in the slab right below and leaves it only
        // through `remove` or `drop`, which delete it from the poller first. Safe
        // code reaches it by `&` only (`get`); `get_mut` is unsafe, its callers
        // promise not to replace the source or close its descriptor.
        let added = unsafe {
            self.poller
                .add_with_mode(source.as_fd().as_raw_fd(), event, PollMode::Level)
        };
        if let Err(error) = added {
            if key >= self.fixed && key < self.slots.len() {
                self.vacant.push(key);
            }
            return Err(error);
        }
        let slot = Some(Slot { source, interest });
        if key == self.slots.len() {
            self.slots.push(slot);
        } else {
            self.slots[key] = slot;
        }
        Ok(())
    }

    /// The source registered under `key`, if any.
    pub fn get(&self, key: Key) -> Option<&S> {
        self.slots.get(key)?.as_ref().map(|slot| &slot.source)
    }

    /// The source registered under `key`, if any, to change its state.
    ///
    /// # Safety
    /// The caller must not replace the source (assign to it, `mem::replace` or
    /// `mem::swap` it) nor close or replace the descriptor it holds: that
    /// descriptor is registered in the poller, which must see it deleted (by
    /// [`Reactor::remove`]) before it is closed.
    pub unsafe fn get_mut(&mut self, key: Key) -> Option<&mut S> {
        self.slots
            .get_mut(key)?
            .as_mut()
            .map(|slot| &mut slot.source)
    }

    /// Changes what the source under `key` is woken for; free when unchanged.
    ///
    /// # Errors
    /// The poller refused the change.
    pub fn set_interest(&mut self, key: Key, interest: Interest) -> io::Result<()> {
        let Some(slot) = self.slots.get_mut(key).and_then(Option::as_mut) else {
            return Ok(());
        };
        if slot.interest != interest {
            let event = Event::new(key, interest.readable, interest.writable);
            self.poller
                .modify_with_mode(&slot.source, event, PollMode::Level)?;
            slot.interest = interest;
        }
        Ok(())
    }

    /// Unregisters the source under `key` and hands it back, to close or keep.
    pub fn remove(&mut self, key: Key) -> Option<S> {
        let slot = self.slots.get_mut(key)?.take()?;
        // Deleting can only fail for a descriptor the poller does not know, which
        // the slab rules out; the source is safe to drop either way.
        let _ = self.poller.delete(&slot.source);
        if key >= self.fixed {
            self.vacant.push(key);
        }
        Some(slot.source)
    }

    /// Keys of all registered sources, in ascending order.
    pub fn keys(&self) -> Vec<Key> {
        let occupied = self.slots.iter().enumerate();
        occupied
            .filter_map(|(key, slot)| slot.as_ref().map(|_| key))
            .collect()
    }

    /// Sleeps until a source is ready or `deadline` passes, then appends to
    /// `events` (which the caller clears) every source that became ready. An event
    /// may name a key removed earlier in the same batch: handlers must tolerate it.
    ///
    /// # Errors
    /// The wait itself failed; EINTR is retried by the poller, so a signal shows up
    /// only as its self-pipe becoming readable.
    pub fn wait(&self, events: &mut Events, deadline: Option<Instant>) -> io::Result<()> {
        match deadline {
            Some(deadline) => self.poller.wait_deadline(events, deadline)?,
            None => self.poller.wait(events, None)?,
        };
        Ok(())
    }
}

impl<S: AsFd> Drop for Reactor<S> {
    fn drop(&mut self) {
        for slot in self.slots.iter().flatten() {
            let _ = self.poller.delete(&slot.source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

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

    #[test]
    fn a_deadline_wakes_an_idle_reactor() {
        let mut reactor: Reactor<UnixStream> = Reactor::new(0).expect("reactor");
        let (quiet, _peer) = pair();
        reactor.insert(quiet, Interest::READ).expect("insert");
        let mut events = Events::new();
        let deadline = Instant::now() + Duration::from_millis(20);
        reactor.wait(&mut events, Some(deadline)).expect("wait");
        assert!(events.is_empty());
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn level_triggered_interest_reports_until_served() {
        let mut reactor = Reactor::new(0).expect("reactor");
        let (ours, mut theirs) = pair();
        let key = reactor.insert(ours, Interest::READ).expect("insert");
        theirs.write_all(b"x").expect("write");
        let mut events = Events::new();
        for _ in 0..2 {
            events.clear();
            reactor.wait(&mut events, None).expect("wait");
            let ready: Vec<_> = events.iter().collect();
            assert_eq!(ready.len(), 1);
            assert!(ready[0].readable && ready[0].key == key);
        }
        reactor.set_interest(key, Interest::NONE).expect("modify");
        events.clear();
        let soon = Instant::now() + Duration::from_millis(20);
        reactor.wait(&mut events, Some(soon)).expect("wait");
        assert!(events.is_empty(), "a source without interest stays asleep");
    }

    #[test]
    fn removed_keys_are_reused_and_sources_handed_back() {
        let mut reactor = Reactor::new(0).expect("reactor");
        let (a, _a) = pair();
        let (b, _b) = pair();
        let first = reactor.insert(a, Interest::READ).expect("insert");
        assert!(reactor.remove(first).is_some());
        assert!(reactor.remove(first).is_none());
        assert!(reactor.keys().is_empty());
        let second = reactor.insert(b, Interest::WRITE).expect("insert");
        assert_eq!(first, second);
        assert_eq!(reactor.keys(), vec![second]);
    }

    #[test]
    fn fixed_keys_are_never_handed_out() {
        let mut reactor = Reactor::new(2).expect("reactor");
        let (a, _a) = pair();
        let (b, _b) = pair();
        let (c, _c) = pair();
        reactor.insert_at(1, a, Interest::READ).expect("fixed");
        assert!(reactor.insert_at(1, b, Interest::READ).is_err());
        assert_eq!(reactor.insert(c, Interest::READ).expect("insert"), 2);
        assert!(reactor.remove(1).is_some());
        let (d, _d) = pair();
        assert_eq!(reactor.insert(d, Interest::READ).expect("insert"), 3);
    }
}
