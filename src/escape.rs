//! Message text made safe for a log line: a peer must not be able to forge a line
//! (`\n`, `\r`), drive a terminal (ESC) or hide bytes (invalid UTF-8).

use std::fmt::{self, Write};

/// Displays bytes as UTF-8 text with control characters, backslashes and invalid
/// bytes escaped (`\n`, `\r`, `\t`, `\\`, `\x1b`, `\u{85}`, `\xff`).
pub struct Escaped<'a>(pub &'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The usual message needs no escaping and is written in one piece. The
        // check is a fold rather than `any` so that it compiles to vector code.
        if let Ok(text) = std::str::from_utf8(self.0) {
            if self
                .0
                .iter()
                .fold(0u8, |found, &b| found | u8::from(may_need_escape(b)))
                == 0
            {
                return out.write_str(text);
            }
        }
        for chunk in self.0.utf8_chunks() {
            let valid = chunk.valid();
            // A chunk with nothing to escape goes out in one piece.
            if !valid.chars().any(needs_escape) {
                out.write_str(valid)?;
            } else {
                for c in valid.chars() {
                    write_char(out, c)?;
                }
            }
            for byte in chunk.invalid() {
                write!(out, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// True for the bytes of every character [`needs_escape`] accepts (0xC2 leads the
/// C1 controls U+0080..U+009F, and also harmless characters such as `°`).
fn may_need_escape(b: u8) -> bool {
    // `|`, not `||`: no branch per byte.
    (b < 0x20) | (b == 0x7f) | (b == b'\\') | (b == 0xc2)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\\'
}

fn write_char(out: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\\' => out.write_str("\\\\"),
        c if (c as u32) < 0x80 && c.is_control() => write!(out, "\\x{:02x}", c as u32),
        c if c.is_control() => write!(out, "\\u{{{:x}}}", c as u32),
        c => out.write_char(c),
    }
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    fn escaped(bytes: &[u8]) -> String {
        Escaped(bytes).to_string()
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(
            escaped("[CLIENT 1] Message N°1".as_bytes()),
            "[CLIENT 1] Message N°1"
        );
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        assert_eq!(escaped(b"a\r\nb"), "a\\r\\nb");
        assert_eq!(escaped(b"\x1b[2J"), "\\x1b[2J");
        assert_eq!(escaped(b"\0\x7f\t"), "\\x00\\x7f\\t");
        assert_eq!(escaped("\u{85}".as_bytes()), "\\u{85}");
    }

    #[test]
    fn backslash_and_invalid_utf8_are_unambiguous() {
        assert_eq!(escaped(b"\\x1b"), "\\\\x1b");
        assert_eq!(escaped(b"ok\xff\xfe!"), "ok\\xff\\xfe!");
    }
}
