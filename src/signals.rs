//! SIGTERM and SIGINT delivered as bytes on a self-pipe, so the reactor sees a
//! signal as one more readable source instead of a flag to poll.
//!
//! Order matters: the pipe is drained (and the signals it carries taken) *before*
//! acting on them. Acting first could miss a signal that arrived in between: its
//! byte would be drained with the old ones and nothing would wake the loop again.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;
use signal_hook::low_level::signal_name;

/// The signals that ask for a graceful shutdown.
pub const SHUTDOWN_SIGNALS: [i32; 2] = [SIGTERM, SIGINT];

/// The read end of the self-pipe, with the handlers that write to it. Dropping it
/// unregisters the handlers and closes both ends.
pub struct SignalPipe {
    /// The read end, shared with `delivery` (one descriptor, not a duplicate), so
    /// that the poller can watch it while `delivery` is borrowed.
    read: Arc<UnixStream>,
    /// In a cell so that [`SignalPipe::take`] needs only `&self`, as a source
    /// registered with the poller is reached (`reactor::Registered`).
    delivery: RefCell<SignalDelivery<Arc<UnixStream>, SignalOnly>>,
}

impl SignalPipe {
    /// Installs handlers for [`SHUTDOWN_SIGNALS`]. From here on those signals no
    /// longer terminate the process: only the loop reading this pipe stops it.
    ///
    /// # Errors
    /// The socket pair cannot be created or a handler cannot be installed.
    pub fn install() -> io::Result<Self> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        let read = Arc::new(read);
        let delivery =
            SignalDelivery::with_pipe(Arc::clone(&read), write, SignalOnly, SHUTDOWN_SIGNALS)?;
        Ok(SignalPipe {
            read,
            delivery: RefCell::new(delivery),
        })
    }

    /// Drains the pipe and returns the names of the signals that arrived since the
    /// last call (each at most once, however often it was sent).
    pub fn take(&self) -> Vec<&'static str> {
        let pending = self.delivery.borrow_mut().pending();
        pending
            .map(|signal| signal_name(signal).unwrap_or("signal"))
            .collect()
    }
}

impl AsFd for SignalPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}
