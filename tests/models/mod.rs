//! Reference models and checks shared by the property tests (`tests/properties.rs`)
//! and the fuzz targets (`fuzz/`): a one-shot framer, a decoder for the log escapes,
//! and the invariants each parser must keep on any input.
#![allow(dead_code)] // each user takes a different subset

use tp0::config::{ClientConfig, ServerConfig};
use tp0::duration;
use tp0::escape::Escaped;
use tp0::framing::Framer;

/// What the framer made of a whole stream: the bytes echoed, whether a line broke
/// the limit, and the unterminated tail left at the end.
#[derive(Debug, PartialEq, Eq)]
pub struct Framed {
    pub echoed: Vec<u8>,
    pub too_long: bool,
    pub tail: Vec<u8>,
}

/// The protocol read off the whole stream at once: every line up to the first one
/// longer than `max` (newline excluded) is echoed; the tail counts as a line too.
pub fn frame_at_once(stream: &[u8], max: usize) -> Framed {
    let mut echoed = Vec::new();
    let mut rest = stream;
    let over = |echoed| Framed {
        echoed,
        too_long: true,
        tail: Vec::new(),
    };
    while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
        if newline > max {
            return over(echoed);
        }
        echoed.extend_from_slice(&rest[..=newline]);
        rest = &rest[newline + 1..];
    }
    if rest.len() > max {
        return over(echoed);
    }
    Framed {
        echoed,
        too_long: false,
        tail: rest.to_vec(),
    }
}

/// The real framer fed `reads` in turn, as the server does, stopping at the
/// first over-long verdict.
pub fn frame_in_reads<'a>(reads: impl IntoIterator<Item = &'a [u8]>, max: usize) -> Framed {
    let mut framer = Framer::new(max);
    let mut echoed = Vec::new();
    for read in reads {
        let pushed = framer.push(read);
        if let Some(joined) = pushed.joined {
            assert_eq!(joined.last(), Some(&b'\n'), "a joined line ends in newline");
            echoed.extend_from_slice(&joined);
        }
        let lines = &read[pushed.lines];
        assert!(
            lines.is_empty() || lines.last() == Some(&b'\n'),
            "whole lines end in newline"
        );
        echoed.extend_from_slice(lines);
        if let Some(error) = pushed.too_long {
            assert_eq!(error.limit, max);
            return Framed {
                echoed,
                too_long: true,
                tail: framer.take_partial(),
            };
        }
    }
    Framed {
        echoed,
        too_long: false,
        tail: framer.take_partial(),
    }
}

/// Cuts `stream` into reads of 1 to 16 bytes, their sizes drawn from `seed`.
pub fn split(stream: &[u8], mut seed: u64) -> Vec<&[u8]> {
    let mut reads = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        // xorshift: cheap, and the same seed always gives the same split
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let size = (1 + (seed % 16) as usize).min(rest.len());
        reads.push(&rest[..size]);
        rest = &rest[size..];
    }
    reads
}

/// Characters that must never appear raw in a log record, listed here apart from
/// the escaper's own list so that the two check each other.
pub fn forbidden_in_log(c: char) -> bool {
    c.is_control()
        || c == '|'
        || matches!(
            c,
            '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200b}'..='\u{200d}'
                | '\u{feff}'
        )
}

/// Reverses the log escapes: `\n`, `\r`, `\t`, `\\`, `\xHH` (one byte), `\u{H..}`.
/// `None` for text the escaper cannot have written.
pub fn unescape(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            continue;
        }
        match chars.next()? {
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            '\\' => out.push(b'\\'),
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                if hex.len() != 2 {
                    return None;
                }
                out.push(u8::from_str_radix(&hex, 16).ok()?);
            }
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let c = char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The escaper's promises on `bytes`: nothing forbidden in the output, and the
/// output decodes back to `bytes`.
pub fn check_escape(bytes: &[u8]) {
    let text = Escaped(bytes).to_string();
    if let Some(c) = text.chars().find(|&c| forbidden_in_log(c)) {
        panic!("{c:?} raw in {text:?} (from {bytes:?})");
    }
    assert_eq!(
        unescape(&text).as_deref(),
        Some(bytes),
        "{text:?} does not decode back"
    );
}

/// The duration parser's promises on any text: no panic; a value is at most the
/// bound and reads back the same from its Go form.
pub fn check_duration_text(text: &str) {
    if let Ok(value) = duration::parse(text) {
        assert!(value <= duration::MAX, "{text:?} gave {value:?}");
        check_duration_value(value);
    }
}

/// Formatting then parsing gives back the same duration.
pub fn check_duration_value(value: std::time::Duration) {
    let shown = duration::format(value);
    assert_eq!(
        duration::parse(&shown),
        Ok(value),
        "{value:?} shown as {shown:?}"
    );
}

/// Any bytes as a config file: a config or an error, never a panic; an error
/// always says why.
pub fn check_config_bytes(bytes: &[u8]) {
    for reason in [
        ServerConfig::from_file_bytes(bytes).err().map(|e| e.reason),
        ClientConfig::from_file_bytes(bytes).err().map(|e| e.reason),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!reason.is_empty(), "an error without a reason");
    }
}
