//! An echo server and client, each driven by one hand-written, single-threaded
//! reactor on the `polling` crate: sockets and a signal self-pipe share one poller,
//! so an idle process sleeps in a single `wait` and SIGTERM wakes it directly.
//!
//! The binaries in `src/bin` are one call each into [`programs`]: read the
//! configuration, start the logger, run the state machine, map the outcome to an
//! exit code.

#![warn(missing_docs)]

// Public: what the binaries, tests/ and fuzz/ import. The rest is private, so that
// every use of the reactor (and of its `unsafe` registration) is inside this crate.
pub mod health;
pub mod parsers;
pub mod programs;

mod client;
mod config;
mod config_file;
mod connection;
mod duration;
mod escape;
mod framing;
mod logging;
mod net;
mod reactor;
mod resolver;
mod server;
mod signals;
mod sources;
mod startup;
mod timer;
mod values;
