//! The verdict on what a server sent back for one message: as the course's client
//! reads one line, only the first line counts and any bytes after it are ignored.

/// What the bytes received so far say about the echo.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// No complete line yet; more bytes may still make it the message.
    Incomplete,
    /// The first line is the message.
    Echoed,
    /// The first line (without its `\n`) differs from the message, or what came
    /// already is too long to be it.
    Mismatch(&'a [u8]),
}

/// Judges `reply` against `message`, which ends in `\n`.
pub fn check<'a>(reply: &'a [u8], message: &[u8]) -> Verdict<'a> {
    match memchr::memchr(b'\n', reply) {
        Some(end) if reply[..=end] == *message => Verdict::Echoed,
        Some(end) => Verdict::Mismatch(&reply[..end]),
        // As long as the message without a newline: it can no longer be the
        // message, and the reply stays bounded by the message's length.
        None if reply.len() >= message.len() => Verdict::Mismatch(reply),
        None => Verdict::Incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = b"[CLIENT 1] Message N\xc2\xb01\n";

    #[test]
    fn the_message_is_echoed_once_its_line_is_complete() {
        for cut in 0..MESSAGE.len() {
            assert_eq!(check(&MESSAGE[..cut], MESSAGE), Verdict::Incomplete);
        }
        assert_eq!(check(MESSAGE, MESSAGE), Verdict::Echoed);
    }

    #[test]
    fn bytes_after_the_first_line_are_ignored() {
        let mut reply = MESSAGE.to_vec();
        reply.extend_from_slice(b"more\nand a tail");
        assert_eq!(check(&reply, MESSAGE), Verdict::Echoed);
    }

    #[test]
    fn a_different_line_is_a_mismatch_without_its_newline() {
        assert_eq!(
            check(b"something else\n", MESSAGE),
            Verdict::Mismatch(b"something else")
        );
        assert_eq!(check(b"\n", MESSAGE), Verdict::Mismatch(b""));
        // The message without its newline, then another line.
        let mut reply = MESSAGE[..MESSAGE.len() - 1].to_vec();
        reply.extend_from_slice(b"x\n");
        assert!(matches!(check(&reply, MESSAGE), Verdict::Mismatch(_)));
    }

    #[test]
    fn a_reply_too_long_for_the_message_is_a_mismatch_before_its_newline() {
        let long = vec![b'a'; MESSAGE.len()];
        assert_eq!(check(&long, MESSAGE), Verdict::Mismatch(&long[..]));
        let short = vec![b'a'; MESSAGE.len() - 1];
        assert_eq!(check(&short, MESSAGE), Verdict::Incomplete);
    }
}
