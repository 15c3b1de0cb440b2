//! One timer for all of the server's deadlines, as a timerfd in the poller.
//!
//! `polling` reads the clock around every wait that has a deadline; a loop that has a
//! deadline almost always (the idle sweep) would pay two clock reads per message. A
//! timerfd is armed only when the earliest deadline changes, so the loop waits with no
//! timeout and reads the clock only when the timer fires.

use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

use crate::reactor::{Interest, Poller, Registered};

/// A monotonic timerfd, registered for reading: it is readable once its deadline
/// has passed.
pub struct Timer {
    fd: Registered<OwnedFd>,
    /// The deadline it is armed for, so an unchanged one costs no system call.
    armed: Option<Instant>,
}

impl Timer {
    /// Creates a disarmed timer, registered with `poller` under `key`.
    ///
    /// # Errors
    /// No descriptor is left, or the poller refused it.
    pub fn new(poller: &Rc<Poller>, key: usize) -> io::Result<Self> {
        let flags = TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC;
        let fd = timerfd_create(TimerfdClockId::Monotonic, flags)?;
        Ok(Timer {
            fd: Registered::new(poller, key, fd, Interest::READ)?,
            armed: None,
        })
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
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            // Beyond the range of a timespec is never: disarmed.
            it_value: Timespec::try_from(value).unwrap_or(Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            }),
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        self.armed = deadline;
        Ok(())
    }

    /// Takes the expiry, so the timer stops being readable; it must be armed again.
    pub fn clear(&mut self) {
        let mut expirations = [0u8; 8];
        // Nothing to take (a spurious wake-up) is as good as taken.
        let _ = rustix::io::read(self.fd.get_ref(), &mut expirations);
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::{Events, level_poller};

    #[test]
    fn fires_at_its_deadline_and_not_when_disarmed() {
        let poller = level_poller().expect("poller");
        let mut timer = Timer::new(&poller, 0).expect("timer");
        let mut events = Events::new();
        let start = Instant::now();
        let deadline = start + Duration::from_millis(30);
        timer.set(Some(deadline)).expect("set");
        poller.wait(&mut events, None).expect("wait");
        assert!(Instant::now() >= deadline);
        timer.clear();
        timer.set(None).expect("disarm");
        events.clear();
        let soon = Instant::now() + Duration::from_millis(60);
        poller.wait_deadline(&mut events, soon).expect("wait");
        assert!(events.is_empty(), "a cleared, disarmed timer stays quiet");
    }
}
