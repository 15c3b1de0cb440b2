//! Log records as the course's programs print them, `YYYY-MM-DD HH:MM:SS LEVEL
//! message`, dispatched by `fern` and written to stdout.
//!
//! Records are appended to a buffer and written by [`flush`], which the event loop
//! calls before it sleeps: a busy server then makes one `write` per loop turn
//! instead of one per echoed line. The buffer is also written when it grows large
//! and at exit, so nothing is lost and nothing waits long. The timestamp text is
//! formatted again only when the second changes.
//!
//! A server whose stdout is a pipe or socket calls [`set_nonblocking`]: then a
//! reader that stops reading cannot stall the loop. Records wait in a backlog of at
//! most [`MAX_BACKLOG`] bytes, the loop watches stdout while the backlog is not
//! empty, and records that find it full are dropped, counted, and reported with
//! `log_dropped` once stdout has drained. A terminal or a file stays blocking: a
//! file never blocks, and a terminal's open file is shared with the shell.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{Local, TimeZone};
use log::{Level, LevelFilter, Record};

use rustix::event::PollFlags;

use crate::net::wait_ready;

/// Bytes of pending records past which they are written without waiting.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// Bytes of records held while a non-blocking stdout takes nothing; records that
/// arrive past it are dropped and counted.
pub const MAX_BACKLOG: usize = 1024 * 1024;

/// How long the exit waits for a slow stdout to take the rest of the backlog: the
/// last records of a drain say what it could not deliver.
const FINAL_WAIT: Duration = Duration::from_millis(500);

/// Records not yet written, and where they go.
#[derive(Default)]
struct Backlog {
    bytes: Vec<u8>,
    /// Set by [`set_nonblocking`]: stdout's descriptor, written without blocking.
    direct: Option<File>,
    /// Records dropped since the last `log_dropped` line.
    dropped: u64,
    /// Stdout failed for good (its reader left): records are only counted now.
    broken: bool,
}

thread_local! {
    /// Per thread, so appending takes no lock: both programs log only from their
    /// one loop thread.
    static PENDING: RefCell<Backlog> = RefCell::new(Backlog::default());
    static STAMP: RefCell<Stamp> = RefCell::new(Stamp::default());
}

/// Installs the global logger at `level`.
///
/// # Errors
/// A logger was installed already.
pub fn init(level: LevelFilter) -> Result<(), log::SetLoggerError> {
    fern::Dispatch::new()
        .level(level)
        .chain(fern::Output::call(append))
        .apply()
}

/// Makes stdout non-blocking when it is a pipe or a socket, so that writing the log
/// can never stall the caller's loop; returns whether it did. The caller must then
/// watch stdout and call [`flush`] when it is writable (see [`backlog`]).
///
/// # Errors
/// Stdout's descriptor cannot be inspected or changed.
pub fn set_nonblocking() -> io::Result<bool> {
    let stdout = io::stdout();
    if stdout.is_terminal() {
        return Ok(false);
    }
    let file = File::from(stdout.as_fd().try_clone_to_owned()?);
    let kind = file.metadata()?.file_type();
    if !(kind.is_fifo() || kind.is_socket()) {
        return Ok(false);
    }
    flush();
    set_blocking(&file, false)?;
    PENDING.with_borrow_mut(|pending| pending.direct = Some(file));
    Ok(true)
}

/// Undoes [`set_nonblocking`], for a caller that cannot watch stdout after all:
/// records are then written blocking, as to a terminal.
pub fn keep_blocking() {
    PENDING.with_borrow_mut(|pending| {
        if let Some(file) = pending.direct.take() {
            let _ = set_blocking(&file, true);
        }
    });
}

/// Writes as much of the records this thread logged as stdout takes now (all of
/// them, unless stdout was made non-blocking).
pub fn flush() {
    PENDING.with_borrow_mut(|pending| {
        if !pending.bytes.is_empty() {
            write_out(pending);
        }
    });
}

/// Whether stdout failed for good: records are then only counted.
pub fn is_broken() -> bool {
    PENDING.with_borrow(|pending| pending.broken)
}

/// Bytes of records waiting for stdout to become writable.
pub fn backlog() -> usize {
    PENDING.with_borrow(|pending| pending.bytes.len())
}

/// Writes what is left of the backlog, waiting at most [`FINAL_WAIT`] for a slow
/// stdout, and gives stdout back in blocking mode, as other writers sharing it
/// expect. Dropped records are reported on stderr, the one place left to say so.
pub fn finish() {
    let until = Instant::now() + FINAL_WAIT;
    flush();
    PENDING.with_borrow_mut(|pending| {
        while !pending.bytes.is_empty() && !pending.broken {
            let Some(file) = &pending.direct else { break };
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || !matches!(wait_ready(file.as_fd(), PollFlags::OUT, left), Ok(true))
            {
                break;
            }
            write_out(pending);
        }
        if let Some(file) = pending.direct.take() {
            let _ = set_blocking(&file, true);
        }
        let unwritten = pending.bytes.len();
        if pending.dropped > 0 || unwritten > 0 {
            eprintln!(
                "log: {} records dropped, {unwritten} bytes unwritten: stdout {}",
                pending.dropped,
                if pending.broken {
                    "was closed by its reader"
                } else {
                    "did not keep up"
                }
            );
        }
    });
}

fn append(record: &Record) {
    PENDING.with_borrow_mut(|pending| {
        if pending.broken || pending.bytes.len() >= MAX_BACKLOG {
            pending.dropped += 1;
            return;
        }
        STAMP.with_borrow_mut(|stamp| {
            write_line(
                &mut pending.bytes,
                stamp.now(),
                record.level(),
                record.args(),
            );
        });
        if pending.bytes.len() >= FLUSH_THRESHOLD {
            write_out(pending);
        }
    });
}

fn write_out(pending: &mut Backlog) {
    match &pending.direct {
        Some(file) => {
            let records = memchr::memchr_iter(b'\n', &pending.bytes).count();
            if !write_some(file, &mut pending.bytes) {
                mark_broken(pending, records as u64);
                return;
            }
        }
        None => {
            let mut stdout = io::stdout().lock();
            // A closed or broken stdout must not stop the service: the records are
            // lost, the echo goes on.
            let _ = stdout
                .write_all(&pending.bytes)
                .and_then(|()| stdout.flush());
            pending.bytes.clear();
        }
    }
    if pending.bytes.is_empty() && pending.dropped > 0 {
        let message = format!(
            "action: log_dropped | result: fail | records: {}",
            pending.dropped
        );
        pending.dropped = 0;
        STAMP.with_borrow_mut(|stamp| {
            write_line(
                &mut pending.bytes,
                stamp.now(),
                Level::Warn,
                &format_args!("{message}"),
            );
        });
        if let Some(file) = &pending.direct {
            if !write_some(file, &mut pending.bytes) {
                mark_broken(pending, 1);
            }
        }
    }
    if pending.bytes.is_empty() && pending.bytes.capacity() > 4 * FLUSH_THRESHOLD {
        pending.bytes.shrink_to(FLUSH_THRESHOLD);
    }
}

/// Stdout is gone for good: what waits and what comes later is only counted.
fn mark_broken(pending: &mut Backlog, lost: u64) {
    pending.broken = true;
    pending.dropped += lost;
    pending.bytes = Vec::new();
}

/// Stdout reported an error or a hang-up (its reader left): records are dropped and
/// counted from now on, and reported on stderr at exit.
pub fn stdout_gone() {
    PENDING.with_borrow_mut(|pending| {
        if !pending.broken {
            let lost = memchr::memchr_iter(b'\n', &pending.bytes).count() as u64;
            mark_broken(pending, lost);
        }
    });
}

/// Writes until stdout would block; what it took leaves the backlog. Returns false
/// once stdout failed for good (broken or closed): nothing will take these records.
fn write_some(mut file: &File, bytes: &mut Vec<u8>) -> bool {
    let mut written = 0;
    while written < bytes.len() {
        match file.write(&bytes[written..]) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => {
                bytes.clear();
                return false;
            }
        }
    }
    bytes.drain(..written);
    true
}

fn set_blocking(file: &File, blocking: bool) -> io::Result<()> {
    let mut flags = rustix::fs::fcntl_getfl(file)?;
    flags.set(rustix::fs::OFlags::NONBLOCK, !blocking);
    Ok(rustix::fs::fcntl_setfl(file, flags)?)
}

/// Appends one record as printed: timestamp, level left-aligned in 8 columns,
/// message, newline.
pub fn write_line(out: &mut Vec<u8>, stamp: &str, level: Level, message: &fmt::Arguments<'_>) {
    out.extend_from_slice(stamp.as_bytes());
    out.extend_from_slice(level_column(level).as_bytes());
    // Writing into a Vec cannot fail.
    let _ = out.write_fmt(*message);
    out.push(b'\n');
}

/// The level and the spaces that pad it to 8 columns, plus the separator: fixed
/// text rather than `{:<8}`, which would pad one character at a time.
fn level_column(level: Level) -> &'static str {
    match level {
        Level::Error => " ERROR    ",
        Level::Warn => " WARN     ",
        Level::Info => " INFO     ",
        Level::Debug => " DEBUG    ",
        Level::Trace => " TRACE    ",
    }
}

/// The local time as text, formatted again only when the second changes.
#[derive(Default)]
struct Stamp {
    second: i64,
    text: String,
}

impl Stamp {
    fn now(&mut self) -> &str {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let second = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = match Local.timestamp_opt(second, 0).single() {
                Some(time) => time.format("%Y-%m-%d %H:%M:%S").to_string(),
                None => "0000-00-00 00:00:00".into(),
            };
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: Level, message: fmt::Arguments<'_>) -> String {
        let mut out = Vec::new();
        write_line(&mut out, "2026-11-29 10:00:00", level, &message);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn lines_look_like_the_course_programs() {
        assert_eq!(
            line(
                Level::Info,
                format_args!("action: config | result: {}", "success")
            ),
            "2026-11-29 10:00:00 INFO     action: config | result: success\n"
        );
        assert_eq!(
            line(Level::Warn, format_args!("x")),
            "2026-11-29 10:00:00 WARN     x\n"
        );
        for level in [Level::Error, Level::Debug, Level::Trace] {
            let text = line(level, format_args!("x"));
            assert_eq!(&text[20..29], format!("{:<8} ", level.as_str()), "{text}");
        }
    }

    #[test]
    fn the_stamp_has_the_course_shape() {
        let mut stamp = Stamp::default();
        let text = stamp.now().to_string();
        let shape: String = text
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99 99:99:99");
    }
}
