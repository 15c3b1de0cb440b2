//! An echo server and client, each driven by one hand-written, single-threaded
//! reactor on the `polling` crate: sockets and a signal self-pipe share one poller,
//! so an idle process sleeps in a single `wait` and SIGTERM wakes it directly.
//!
//! The binaries in `src/bin` only glue the modules below together: read the
//! configuration, start the logger, run the state machine, map the outcome to an
//! exit code.

#![warn(missing_docs)]

pub mod client;
pub mod config;
mod config_file;
pub mod connection;
pub mod duration;
pub mod escape;
pub mod exit;
pub mod framing;
pub mod health;
pub mod logging;
pub mod parsers;
pub mod reactor;
pub mod resolver;
pub mod server;
pub mod settings;
pub mod signals;
pub mod timer;
mod values;
