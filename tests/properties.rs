//! Property tests of the parsers that read what others control (issue "hostile
//! input"): any input gives a value or an error, never a panic, and each parser
//! agrees with a simple model. The fuzz targets in `fuzz/` check the same things.

mod models;

use models::*;
use proptest::prelude::*;
use std::time::Duration;

/// Bytes rich in what the parsers care about: newlines, `|`, `\`, controls, and
/// the multi-byte characters the escaper singles out.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        Just(b"\n".to_vec()),
        Just(b"|".to_vec()),
        Just(b"\\".to_vec()),
        Just(b"\r".to_vec()),
        Just("\u{2028}".as_bytes().to_vec()),
        Just("\u{202e}".as_bytes().to_vec()),
        Just("\u{feff}".as_bytes().to_vec()),
        Just("°".as_bytes().to_vec()),
        "[a-z ]{0,8}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(pieces, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn any_split_frames_as_the_whole(stream in hostile_bytes(), max in 1usize..24, seed in any::<u64>()) {
        let expected = frame_at_once(&stream, max);
        prop_assert_eq!(frame_in_reads(split(&stream, seed | 1), max), expected);
        prop_assert_eq!(frame_in_reads([stream.as_slice()], max), frame_at_once(&stream, max));
    }

    #[test]
    fn escaped_text_is_safe_and_decodes_back(bytes in hostile_bytes()) {
        check_escape(&bytes);
    }

    #[test]
    fn escaped_unicode_is_safe_and_decodes_back(text in any::<String>()) {
        check_escape(text.as_bytes());
    }

    #[test]
    fn durations_round_trip(nanos in 0..=max_duration_nanos()) {
        check_duration_value(Duration::from_nanos(nanos));
    }

    #[test]
    fn duration_parse_never_panics(text in "[0-9.+-]{0,12}(ns|us|µs|ms|s|m|h|d|x)?([0-9.]{0,8}(ms|s|m|h))?") {
        check_duration_text(&text);
    }

    #[test]
    fn duration_parse_takes_any_text(text in any::<String>()) {
        check_duration_text(&text);
    }

    #[test]
    fn any_bytes_as_a_config_file(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_config_bytes(&bytes);
    }

    #[test]
    fn ini_like_text_as_a_config_file(
        lines in prop::collection::vec(
            "(\\[(DEFAULT|server|loop|log|x)\\]|[#;].*|(id|server_port|address|amount|period|level|SERVER_SHUTDOWN_GRACE) ?[=:] ?[-+0-9a-z.:|#]{0,10}|)",
            0..12,
        ),
        crlf in any::<bool>(),
    ) {
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        check_config_bytes(text.as_bytes());
    }
}

fn max_duration_nanos() -> u64 {
    u64::try_from(tp0::duration::MAX.as_nanos()).unwrap_or(u64::MAX)
}

#[test]
fn the_models_catch_what_they_should() {
    // A decoder that accepted anything would make the escape property empty.
    assert_eq!(
        unescape("a\\x7cb\\u{2028}"),
        Some("a|b\u{2028}".as_bytes().to_vec())
    );
    assert_eq!(unescape("\\q"), None);
    assert_eq!(
        frame_at_once(b"ab\ncdef\ngh", 3),
        Framed {
            echoed: b"ab\n".to_vec(),
            too_long: true,
            tail: Vec::new()
        }
    );
    assert_eq!(
        split(b"abcdefghijklmnopqrstuvwxyz", 7).concat(),
        b"abcdefghijklmnopqrstuvwxyz"
    );
}
