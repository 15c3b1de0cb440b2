//! An echo server and client, each driven by one hand-written, single-threaded
//! reactor on the `polling` crate: sockets and a signal self-pipe share one poller,
//! so an idle process sleeps in a single `wait` and SIGTERM wakes it directly.
//!
//! The binaries in `src/bin` only glue the modules below together: read the
//! configuration, start the logger, run the state machine, map the outcome to an
//! exit code.

#![warn(missing_docs)]

// Public: what the binaries, tests/ and fuzz/ import. The rest is private, so that
// every registration with the poller is made inside this crate.
pub mod client;
pub mod config;
pub mod escape;
pub mod framing;
pub mod health;
pub mod server;
pub mod signals;

mod logging;
mod net;
mod reactor;

// Where they were before the config stack moved under `config`: Go durations are
// printed in the logs of every module, and both binaries start through `startup`.
pub use config::{duration, startup};
