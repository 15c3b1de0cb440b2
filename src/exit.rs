//! The process exit codes shared by both programs (SPEC §6).

/// Done, or shut down gracefully.
pub const SUCCESS: u8 = 0;
/// A runtime failure: unreachable server, echo mismatch, an I/O error of the loop.
pub const FAILURE: u8 = 1;
/// Bad configuration or usage.
pub const USAGE: u8 = 2;
