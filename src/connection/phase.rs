//! The phases of a connection's life, from reading lines to a close without reset.

/// A connection's place in its life; each phase only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Reading lines and echoing them.
    Open,
    /// No more lines are taken (the peer's EOF, an over-long line, the idle timeout
    /// or a shutdown): write what is owed; input is read and thrown away.
    Draining,
    /// Everything owed was written and FIN sent: read and discard until the peer's
    /// EOF, so that closing sends no reset. [`LINGER`](super::LINGER) bounds the wait.
    Lingering,
    /// The peer's EOF came after our last byte: nothing is left to do but close.
    Closed,
}
