//! The echo path: complete lines written straight from the read buffer, whatever the
//! socket does not take kept as pending output, and the log records of the lines.

use std::io::{self, IoSlice, Write};

use super::Connection;
use crate::escape::Escaped;
use crate::framing;
use crate::net::is_transient;

impl Connection {
    /// Writes pending output until the socket would block or nothing is left.
    pub(super) fn flush_output(&mut self) -> io::Result<()> {
        while self.pending() > 0 {
            match self.stream.write(&self.output[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => self.sent += written,
                Err(error) if is_transient(&error) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
        // Idle connections keep no buffer (see the module comment).
        self.output = Vec::new();
        self.sent = 0;
        Ok(())
    }

    /// Echoes `first` then `second`, straight from the caller's buffers when
    /// nothing is queued before them, keeping whatever the socket does not take.
    /// Inlined: a call's register saves cost as much as the rest of the echo path.
    #[inline(always)]
    pub(super) fn send(&mut self, first: &[u8], second: &[u8]) -> io::Result<()> {
        if first.is_empty() && second.is_empty() {
            return Ok(());
        }
        if self.pending() > 0 {
            self.output.extend_from_slice(first);
            self.output.extend_from_slice(second);
            return self.flush_output();
        }
        let written = match self.write_pair(first, second) {
            Ok(written) if written == first.len() + second.len() => return Ok(()),
            Ok(written) => written,
            Err(error) if is_transient(&error) => 0,
            Err(error) => return Err(error),
        };
        let rest_of_first = first.get(written..).unwrap_or_default();
        let rest_of_second = &second[written.saturating_sub(first.len()).min(second.len())..];
        self.output.clear();
        self.sent = 0;
        self.output.extend_from_slice(rest_of_first);
        self.output.extend_from_slice(rest_of_second);
        Ok(())
    }

    fn write_pair(&mut self, first: &[u8], second: &[u8]) -> io::Result<usize> {
        match (first.is_empty(), second.is_empty()) {
            (true, _) => self.stream.write(second),
            (_, true) => self.stream.write(first),
            _ => self
                .stream
                .write_vectored(&[IoSlice::new(first), IoSlice::new(second)]),
        }
    }
}

/// Logs each line of `run` (complete lines, or an unterminated tail) for `peer`.
pub(super) fn log_lines(peer: &str, run: &[u8]) {
    for line in framing::lines(run) {
        log::info!(
            "action: receive_message | result: success | ip: {peer} | msg: {}",
            Escaped(line)
        );
    }
}
