//! Log records as the course's programs print them, `YYYY-MM-DD HH:MM:SS LEVEL
//! message`, through `fern` to stdout.
//!
//! Records are appended to a buffer and written by [`flush`], which the reactor
//! calls before it sleeps: a busy server then makes one `write` per loop turn
//! instead of one per echoed line. The buffer is also written when it grows large
//! and at exit, so nothing is lost and nothing waits long.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{Local, TimeZone};
use log::{Level, LevelFilter};

/// Bytes of pending records past which they are written without waiting.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// Installs the global logger at `level`.
///
/// # Errors
/// A logger was installed already.
pub fn init(level: LevelFilter) -> Result<(), log::SetLoggerError> {
    fern::Dispatch::new()
        .level(level)
        .format(|out, message, record| {
            STAMP.with(|stamp| {
                let mut stamp = stamp.borrow_mut();
                out.finish(format_args!(
                    "{}",
                    Line::new(stamp.now(), record.level(), message)
                ))
            })
        })
        .chain(Box::new(Batched) as Box<dyn Write + Send>)
        .apply()
}

/// Writes the records this thread logged since the last call to stdout. Both
/// programs log only from their one loop thread, which calls this before it sleeps.
pub fn flush() {
    PENDING.with_borrow_mut(|pending| {
        if !pending.is_empty() {
            write_out(pending);
        }
    });
}

fn write_out(pending: &mut Vec<u8>) {
    let mut stdout = io::stdout().lock();
    // A closed or broken stdout must not stop the service: the records are lost,
    // the echo goes on.
    let _ = stdout.write_all(pending).and_then(|()| stdout.flush());
    pending.clear();
    if pending.capacity() > 4 * FLUSH_THRESHOLD {
        pending.shrink_to(FLUSH_THRESHOLD);
    }
}

/// The sink fern writes to. fern flushes it after every record, so `flush` here
/// must not write: the real flush is [`flush`], once per loop turn. The buffer is
/// per thread, so appending to it takes no lock.
struct Batched;

impl Write for Batched {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        PENDING.with_borrow_mut(|pending| {
            pending.extend_from_slice(bytes);
            if pending.len() >= FLUSH_THRESHOLD {
                write_out(pending);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

thread_local! {
    static PENDING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static STAMP: RefCell<Stamp> = RefCell::new(Stamp::default());
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

/// One record as printed: timestamp, level left-aligned in 8 columns, message.
pub struct Line<'a, M> {
    stamp: &'a str,
    level: Level,
    message: M,
}

impl<'a, M: fmt::Display> Line<'a, M> {
    /// A record's line, without the newline (fern adds it).
    pub fn new(stamp: &'a str, level: Level, message: M) -> Self {
        Line {
            stamp,
            level,
            message,
        }
    }
}

impl<M: fmt::Display> fmt::Display for Line<'_, M> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            out,
            "{} {:<8} {}",
            self.stamp,
            self.level.as_str(),
            self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_the_course_programs() {
        let line = Line::new(
            "2026-11-29 10:00:00",
            Level::Info,
            "action: config | result: success",
        );
        assert_eq!(
            line.to_string(),
            "2026-11-29 10:00:00 INFO     action: config | result: success"
        );
        let warn = Line::new("2026-11-29 10:00:00", Level::Warn, "x");
        assert_eq!(warn.to_string(), "2026-11-29 10:00:00 WARN     x");
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
