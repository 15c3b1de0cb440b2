//! Where the client is: between messages, between attempts, or in a step of an
//! attempt. A phase that waits on a source owns it together with its reactor key,
//! so the two cannot disagree; the interest is derived from the phase in one place.

use std::net::TcpStream;
use std::time::Instant;

use crate::reactor::{Interest, Key};
use crate::resolver::Lookup;

/// The client's state; every phase waits for something with a deadline.
pub enum Phase {
    /// Before the next message: the loop period, or the start.
    Waiting { until: Instant },
    /// Before the next attempt at the message in flight.
    Backoff { until: Instant },
    /// A lookup thread resolves the server's name.
    Resolving {
        key: Key,
        lookup: Lookup,
        until: Instant,
    },
    /// A socket to the server: connecting, sending or receiving.
    Connection {
        key: Key,
        stream: TcpStream,
        step: Step,
        until: Instant,
    },
}

/// The steps of a connection, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A non-blocking connect is under way.
    Connecting,
    /// `sent` bytes of the message are written.
    Sending { sent: usize },
    /// The message is written; `reply` holds what came back so far.
    Receiving { reply: Vec<u8> },
}

/// Which part of an attempt failed, as named in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Resolving or connecting: `action: connect`.
    Connect,
    /// Sending or waiting for the echo: `action: receive_message`.
    Exchange,
}

impl Stage {
    /// The log's action name.
    pub fn action(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Exchange => "receive_message",
        }
    }
}

impl Phase {
    /// When the phase ends if nothing else happens.
    pub fn deadline(&self) -> Instant {
        match *self {
            Phase::Waiting { until }
            | Phase::Backoff { until }
            | Phase::Resolving { until, .. }
            | Phase::Connection { until, .. } => until,
        }
    }

    /// Moves the deadline, as when a connect completes and the reply bound starts.
    pub fn set_deadline(&mut self, deadline: Instant) {
        match self {
            Phase::Waiting { until }
            | Phase::Backoff { until }
            | Phase::Resolving { until, .. }
            | Phase::Connection { until, .. } => *until = deadline,
        }
    }

    /// The source the phase waits on and what it must wake the loop for.
    pub fn watch(&self) -> Option<(Key, Interest)> {
        match self {
            Phase::Waiting { .. } | Phase::Backoff { .. } => None,
            // The lookup thread writes a byte when it is done.
            Phase::Resolving { key, .. } => Some((*key, Interest::READ)),
            Phase::Connection { key, step, .. } => Some((*key, step.interest())),
        }
    }

    /// The source's key, if the phase waits on one.
    pub fn key(&self) -> Option<Key> {
        self.watch().map(|(key, _)| key)
    }

    /// Whether the phase holds a socket to the server.
    pub fn is_connection(&self) -> bool {
        matches!(self, Phase::Connection { .. })
    }

    /// The stage a failure now belongs to; outside an attempt, the next thing to
    /// do is to connect.
    pub fn stage(&self) -> Stage {
        match self {
            Phase::Connection { step, .. } => step.stage(),
            Phase::Waiting { .. } | Phase::Backoff { .. } | Phase::Resolving { .. } => {
                Stage::Connect
            }
        }
    }

    /// A short name for the log, e.g. of what a signal interrupted.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Waiting { .. } => "waiting",
            Phase::Backoff { .. } => "backoff",
            Phase::Resolving { .. } => "resolving",
            Phase::Connection { step, .. } => step.name(),
        }
    }

    /// Why the phase's deadline ends an attempt.
    pub fn timeout(&self) -> &'static str {
        match self {
            Phase::Waiting { .. } | Phase::Backoff { .. } => "the wait is over",
            Phase::Resolving { .. } => "name lookup timed out",
            Phase::Connection { step, .. } => step.timeout(),
        }
    }
}

impl Step {
    /// What the socket must wake the loop for.
    pub fn interest(&self) -> Interest {
        match self {
            // A non-blocking connect is done when the socket becomes writable.
            Step::Connecting | Step::Sending { .. } => Interest::WRITE,
            Step::Receiving { .. } => Interest::READ,
        }
    }

    /// The stage a failure of this step belongs to.
    pub fn stage(&self) -> Stage {
        match self {
            Step::Connecting => Stage::Connect,
            Step::Sending { .. } | Step::Receiving { .. } => Stage::Exchange,
        }
    }

    /// A short name for the log.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Connecting => "connecting",
            Step::Sending { .. } => "sending",
            Step::Receiving { .. } => "receiving",
        }
    }

    /// Why the step's deadline ends an attempt.
    pub fn timeout(&self) -> &'static str {
        match self {
            Step::Connecting => "connection attempt timed out",
            Step::Sending { .. } | Step::Receiving { .. } => "no complete echo line in time",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn connection(step: Step) -> (Phase, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let stream = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let until = Instant::now();
        (
            Phase::Connection {
                key: 7,
                stream,
                step,
                until,
            },
            listener,
        )
    }

    #[test]
    fn a_connection_wakes_for_what_its_step_waits_on() {
        let cases = [
            (Step::Connecting, Interest::WRITE, "connecting"),
            (Step::Sending { sent: 3 }, Interest::WRITE, "sending"),
            (
                Step::Receiving { reply: Vec::new() },
                Interest::READ,
                "receiving",
            ),
        ];
        for (step, interest, name) in cases {
            let (phase, _listener) = connection(step);
            assert_eq!(phase.watch(), Some((7, interest)));
            assert_eq!(phase.name(), name);
            assert!(phase.is_connection());
        }
    }

    #[test]
    fn a_failed_connect_is_logged_as_connect_the_rest_as_receive_message() {
        assert_eq!(Step::Connecting.stage().action(), "connect");
        assert_eq!(
            Step::Sending { sent: 0 }.stage().action(),
            "receive_message"
        );
        let receiving = Step::Receiving { reply: Vec::new() };
        assert_eq!(receiving.stage().action(), "receive_message");
        let backoff = Phase::Backoff {
            until: Instant::now(),
        };
        assert_eq!(backoff.stage(), Stage::Connect);
    }

    #[test]
    fn waits_between_attempts_and_messages_hold_no_source() {
        let until = Instant::now();
        for phase in [Phase::Waiting { until }, Phase::Backoff { until }] {
            assert_eq!(phase.watch(), None);
            assert!(!phase.is_connection());
            assert_eq!(phase.deadline(), until);
        }
    }

    #[test]
    fn a_connect_that_completes_moves_the_deadline() {
        let (mut phase, _listener) = connection(Step::Connecting);
        let later = phase.deadline() + std::time::Duration::from_secs(3);
        phase.set_deadline(later);
        assert_eq!(phase.deadline(), later);
    }
}
