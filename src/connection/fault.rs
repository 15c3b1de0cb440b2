//! What a connection's handlers report: bytes moved, or why it cannot go on.

use std::fmt;
use std::io;

use crate::framing::LineTooLong;

/// Why a connection cannot go on as it was.
#[derive(Debug)]
pub enum Fault {
    /// The socket failed: the connection is gone.
    Io(io::Error),
    /// The peer broke the line limit: the lines before were echoed, the connection
    /// now drains and closes.
    LineTooLong(LineTooLong),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Io(error) => error.fmt(f),
            Fault::LineTooLong(LineTooLong { limit }) => {
                write!(f, "line longer than {limit} bytes")
            }
        }
    }
}

impl From<io::Error> for Fault {
    fn from(error: io::Error) -> Self {
        Fault::Io(error)
    }
}

/// What one handler did: bytes moved, or why the connection cannot go on.
pub type Step = Result<usize, Fault>;
