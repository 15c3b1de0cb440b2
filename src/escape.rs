//! Text that a peer or a config controls, made safe for a log record: nobody can
//! forge a record (`\n`, `\r`) or a field (`|`), drive a terminal (ESC), hide bytes
//! (invalid UTF-8) or make a viewer show another line (bidi, zero-width, separators).

use std::fmt::{self, Write};

/// Displays bytes as UTF-8 text with everything [`needs_escape`] names, and
/// invalid bytes, escaped (`\n`, `\r`, `\t`, `\\`, `\x1b`, `\x7c` for `|`,
/// `\u{85}`, `\u{202e}`, `\xff`). The escapes contain no `|`, so a record still
/// splits into its true fields, and decoding them gives back the bytes.
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

/// True for the bytes of every character [`needs_escape`] accepts: 0xC2 leads the
/// C1 controls, 0xD8 U+061C, 0xE2 the U+20xx format characters, 0xEF U+FEFF (each
/// also leads harmless characters such as `°`, which then take the slow path).
fn may_need_escape(b: u8) -> bool {
    // `|`, not `||`: no branch per byte.
    (b < 0x20)
        | (b == 0x7f)
        | (b == b'\\')
        | (b == b'|')
        | (b == 0xc2)
        | (b == 0xd8)
        | (b == 0xe2)
        | (b == 0xef)
}

/// Characters written as escapes in a log record: controls, the escape and field
/// separator themselves, and the Unicode line/paragraph separators, bidirectional
/// controls and zero-width characters that make a viewer show a different line.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\\' | '|'
                | '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

fn write_char(out: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\\' => out.write_str("\\\\"),
        c if (c as u32) < 0x80 && needs_escape(c) => write!(out, "\\x{:02x}", c as u32),
        c if needs_escape(c) => write!(out, "\\u{{{:x}}}", c as u32),
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
        for text in ["[CLIENT 1] Message N°1", "€ ½ 日本 x", "ümlaut ß ¿"] {
            assert_eq!(escaped(text.as_bytes()), text);
        }
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        assert_eq!(escaped(b"a\r\nb"), "a\\r\\nb");
        assert_eq!(escaped(b"\x1b[2J"), "\\x1b[2J");
        assert_eq!(escaped(b"\0\x7f\t"), "\\x00\\x7f\\t");
        assert_eq!(escaped("\u{85}".as_bytes()), "\\u{85}");
    }

    #[test]
    fn field_separator_cannot_forge_fields() {
        assert_eq!(
            escaped(b"x | result: fail | ip: 6.6.6.6 | msg: y"),
            "x \\x7c result: fail \\x7c ip: 6.6.6.6 \\x7c msg: y"
        );
    }

    #[test]
    fn format_and_separator_characters_are_shown() {
        for (c, shown) in [
            ('\u{2028}', "\\u{2028}"),
            ('\u{2029}', "\\u{2029}"),
            ('\u{202a}', "\\u{202a}"),
            ('\u{202e}', "\\u{202e}"),
            ('\u{2066}', "\\u{2066}"),
            ('\u{2069}', "\\u{2069}"),
            ('\u{200b}', "\\u{200b}"),
            ('\u{200d}', "\\u{200d}"),
            ('\u{feff}', "\\u{feff}"),
        ] {
            let text = format!("a{c}b");
            assert_eq!(escaped(text.as_bytes()), format!("a{shown}b"), "{c:?}");
        }
    }

    #[test]
    fn backslash_and_invalid_utf8_are_unambiguous() {
        assert_eq!(escaped(b"\\x1b"), "\\\\x1b");
        assert_eq!(escaped(b"ok\xff\xfe!"), "ok\\xff\\xfe!");
    }
}
