//! Log records as the course's programs print them, `YYYY-MM-DD HH:MM:SS LEVEL
//! message`, dispatched by `fern` and written to stdout.
//!
//! Records are appended to a buffer and written by [`flush`], which the event loop
//! calls before it sleeps: a busy server then makes one `write` per loop turn
//! instead of one per echoed line. The buffer is also written when it grows large
//! and at exit, so nothing is lost and nothing waits long. The timestamp text is
//! formatted again only when the second changes.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{Local, TimeZone};
use log::{Level, LevelFilter, Record};

/// Bytes of pending records past which they are written without waiting.
const FLUSH_THRESHOLD: usize = 64 * 1024;

thread_local! {
    /// Records not yet written. Per thread, so appending takes no lock: both
    /// programs log only from their one loop thread.
    static PENDING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
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

/// Writes the records this thread logged since the last call to stdout.
pub fn flush() {
    PENDING.with_borrow_mut(|pending| {
        if !pending.is_empty() {
            write_out(pending);
        }
    });
}

fn append(record: &Record) {
    PENDING.with_borrow_mut(|pending| {
        STAMP.with_borrow_mut(|stamp| {
            write_line(pending, stamp.now(), record.level(), record.args());
        });
        if pending.len() >= FLUSH_THRESHOLD {
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
