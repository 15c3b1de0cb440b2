//! One timer for all of the server's deadlines, as a timerfd in the poller.
//!
//! `polling` reads the clock around every wait that has a deadline; a loop that has a
//! deadline almost always (the idle sweep) would pay two clock reads per message. A
//! timerfd is armed only when the earliest deadline changes, so the loop waits with no
//! timeout and reads the clock only when the timer fires.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// A monotonic timerfd, readable once its deadline has passed.
pub struct Timer {
    fd: OwnedFd,
    /// The deadline it is armed for, so an unchanged one costs no system call.
    armed: Option<Instant>,
}

impl Timer {
    /// Creates a disarmed timer.
    ///
    /// # Errors
    /// No descriptor is left.
    pub fn new() -> io::Result<Self> {
        // SAFETY: timerfd_create takes no pointers; a non-negative result is a new
        // descriptor that nothing else owns.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Timer { fd, armed: None })
    }

    /// Arms the timer for `deadline` (disarms it for `None`); free when unchanged.
    ///
    /// # Errors
    /// The kernel refused the setting.
    pub fn set(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        if deadline == self.armed {
            return Ok(());
        }
        let value = match deadline {
            // A zero value would disarm: a deadline already passed fires at once.
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1)),
            None => Duration::ZERO,
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: value.as_secs().try_into().unwrap_or(libc::time_t::MAX),
                tv_nsec: value.subsec_nanos().into(),
            },
        };
        // SAFETY: `spec` is a valid itimerspec on the stack for the call; the old
        // value is not asked for (null).
        let set =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if set < 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = deadline;
        Ok(())
    }

    /// Takes the expiry, so the timer stops being readable; it must be armed again.
    pub fn clear(&mut self) {
        let mut expirations = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local buffer of 8 bytes.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                expirations.as_mut_ptr().cast(),
                expirations.len(),
            )
        };
        self.armed = None;
    }
}

impl AsFd for Timer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::{Events, Interest, Reactor};

    #[test]
    fn fires_at_its_deadline_and_not_when_disarmed() {
        let mut reactor: Reactor<Timer> = Reactor::new(1).expect("reactor");
        reactor
            .insert_at(0, Timer::new().expect("timer"), Interest::READ)
            .expect("insert");
        let mut events = Events::new();
        let start = Instant::now();
        let deadline = start + Duration::from_millis(30);
        // SAFETY (both calls): only the timer's own methods run; it keeps its fd.
        let timer = unsafe { reactor.get_mut(0) }.expect("timer");
        timer.set(Some(deadline)).expect("set");
        reactor.wait(&mut events, None).expect("wait");
        assert!(Instant::now() >= deadline);
        let timer = unsafe { reactor.get_mut(0) }.expect("timer");
        timer.clear();
        timer.set(None).expect("disarm");
        events.clear();
        let soon = Instant::now() + Duration::from_millis(60);
        reactor.wait(&mut events, Some(soon)).expect("wait");
        assert!(events.is_empty(), "a cleared, disarmed timer stays quiet");
    }
}
