//! Line framing for one connection: bytes in as they arrive, complete lines out,
//! and a bound on how long a line may grow before it is a protocol error.

/// A line (newline excluded) exceeded the configured maximum.
#[derive(Debug, PartialEq, Eq)]
pub struct LineTooLong {
    /// The configured maximum, in bytes.
    pub limit: usize,
}

/// What one read contributed, in stream order: `joined`, then `lines`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// A line begun by earlier reads and completed by this one, newline included.
    pub joined: Option<Vec<u8>>,
    /// The range of the read that holds whole lines, each ending in a newline.
    pub lines: std::ops::Range<usize>,
    /// Set when a line broke the limit; the connection must not go on.
    pub too_long: Option<LineTooLong>,
}

/// Keeps the unterminated end of the stream between reads.
#[derive(Debug)]
pub struct Framer {
    /// Bytes after the last newline seen; empty (and unallocated) between lines,
    /// which is the common case when every read ends on a line boundary.
    partial: Vec<u8>,
    max_line: usize,
}

impl Framer {
    /// A framer that accepts lines of at most `max_line` bytes before the newline.
    pub fn new(max_line: usize) -> Self {
        Framer {
            partial: Vec::new(),
            max_line,
        }
    }

    /// Feeds the bytes of one read and says which of them end complete lines.
    /// Complete lines are handed out without copying the read where possible, so
    /// the usual echo is written straight from the read buffer.
    ///
    /// When a line exceeds the maximum (even before its newline has arrived),
    /// [`Pushed::too_long`] is set; the lines before it are still reported and
    /// nothing of the offending line is.
    pub fn push(&mut self, data: &[u8]) -> Pushed {
        let mut pushed = Pushed::default();
        let mut start = 0;
        if !self.partial.is_empty() {
            let Some(newline) = find_newline(data) else {
                pushed.too_long = self.keep(data).err();
                return pushed;
            };
            if self.partial.len() + newline > self.max_line {
                pushed.too_long = Some(self.too_long());
                return pushed;
            }
            self.partial.extend_from_slice(&data[..=newline]);
            pushed.joined = Some(std::mem::take(&mut self.partial));
            start = newline + 1;
        }
        let rest = &data[start..];
        let end = if rest.len() <= self.max_line {
            // No line here can break the limit, so only the last newline matters,
            // and a read that ends on a line boundary has it in its last byte.
            match rest.last() {
                Some(b'\n') => rest.len(),
                _ => memchr::memrchr(b'\n', rest).map_or(0, |last| last + 1),
            }
        } else {
            match self.scan_lines(rest) {
                Ok(end) => end,
                Err(end) => {
                    pushed.lines = start..start + end;
                    pushed.too_long = Some(self.too_long());
                    return pushed;
                }
            }
        };
        let end = start + end;
        pushed.lines = start..end;
        if end < data.len() {
            pushed.too_long = self.keep(&data[end..]).err();
        }
        pushed
    }

    /// Checks each line of `bytes` against the limit. Returns the end of the last
    /// complete line, or `Err` with the end of the last good line before one that
    /// is too long.
    fn scan_lines(&self, bytes: &[u8]) -> Result<usize, usize> {
        let mut end = 0;
        while let Some(newline) = find_newline(&bytes[end..]) {
            if newline > self.max_line {
                return Err(end);
            }
            end += newline + 1;
        }
        if bytes.len() - end > self.max_line {
            return Err(end);
        }
        Ok(end)
    }

    /// Bytes of memory the unterminated tail holds, at most the line limit.
    pub fn held(&self) -> usize {
        self.partial.capacity()
    }

    /// Takes the unterminated tail, which the protocol echoes as it is at EOF.
    pub fn take_partial(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.partial)
    }

    fn keep(&mut self, tail: &[u8]) -> Result<(), LineTooLong> {
        let needed = self.partial.len() + tail.len();
        if needed > self.max_line {
            return Err(self.too_long());
        }
        if needed > self.partial.capacity() {
            // Doubling as usual, but never past the line limit: a partial line at the
            // limit then holds exactly the limit, which the memory budget can always
            // hold (NOTES.md "The memory budget").
            let capacity = (self.partial.capacity() * 2).clamp(needed, self.max_line);
            self.partial.reserve_exact(capacity - self.partial.len());
        }
        self.partial.extend_from_slice(tail);
        Ok(())
    }

    fn too_long(&mut self) -> LineTooLong {
        self.partial = Vec::new();
        LineTooLong {
            limit: self.max_line,
        }
    }
}

/// The index of the first newline, found with SIMD: this search is the server's
/// own per-byte work.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

/// Iterates the lines of a run of complete lines, without their newline (an
/// unterminated last piece is a line too).
pub fn lines(mut run: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if run.is_empty() {
            return None;
        }
        let (line, rest) = match find_newline(run) {
            Some(newline) => (&run[..newline], &run[newline + 1..]),
            None => (run, &run[run.len()..]),
        };
        run = rest;
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the reads in turn and returns everything that would be echoed.
    fn feed(framer: &mut Framer, reads: &[&[u8]]) -> (Vec<u8>, Option<LineTooLong>) {
        let mut echoed = Vec::new();
        for read in reads {
            let pushed = framer.push(read);
            echoed.extend(pushed.joined.unwrap_or_default());
            echoed.extend_from_slice(&read[pushed.lines]);
            if pushed.too_long.is_some() {
                return (echoed, pushed.too_long);
            }
        }
        (echoed, None)
    }

    #[test]
    fn whole_lines_are_reported_in_place() {
        let mut framer = Framer::new(100);
        let pushed = framer.push(b"a\nbb\nccc\n");
        assert_eq!(
            pushed,
            Pushed {
                joined: None,
                lines: 0..9,
                too_long: None
            }
        );
        assert!(framer.take_partial().is_empty());
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut framer = Framer::new(100);
        let (echoed, error) = feed(&mut framer, &[b"he", b"llo\nwor", b"ld\n", b"tail"]);
        assert_eq!(error, None);
        assert_eq!(echoed, b"hello\nworld\n");
        assert_eq!(framer.take_partial(), b"tail");
    }

    #[test]
    fn byte_by_byte_equals_all_at_once() {
        let input = b"one\ntwo\r\n\0\xff\nlast";
        let mut framer = Framer::new(100);
        let single: Vec<&[u8]> = input.chunks(1).collect();
        let (echoed, error) = feed(&mut framer, &single);
        assert_eq!(error, None);
        assert_eq!(echoed, b"one\ntwo\r\n\0\xff\n");
        assert_eq!(framer.take_partial(), b"last");
    }

    #[test]
    fn a_line_at_the_limit_is_accepted() {
        let mut framer = Framer::new(4);
        let (echoed, error) = feed(&mut framer, &[b"ab", b"cd\n"]);
        assert_eq!(error, None);
        assert_eq!(echoed, b"abcd\n");
    }

    #[test]
    fn an_overlong_line_is_refused_without_its_bytes() {
        let mut framer = Framer::new(4);
        let (echoed, error) = feed(&mut framer, &[b"ok\ntoolong\nnext\n"]);
        assert_eq!(error, Some(LineTooLong { limit: 4 }));
        assert_eq!(echoed, b"ok\n");
    }

    #[test]
    fn an_overlong_line_is_refused_before_its_newline() {
        let mut framer = Framer::new(4);
        let (_, error) = feed(&mut framer, &[b"abc", b"de"]);
        assert_eq!(error, Some(LineTooLong { limit: 4 }));
        assert!(framer.take_partial().is_empty());
    }

    #[test]
    fn a_partial_line_never_holds_more_than_the_limit() {
        let mut framer = Framer::new(1000);
        for _ in 0..999 {
            assert_eq!(framer.push(b"x").too_long, None);
        }
        assert_eq!(framer.held(), 1000, "grown to the limit, not past it");
        let (echoed, error) = feed(&mut framer, &[b"x\n"]);
        assert_eq!((echoed.len(), error), (1001, None));
    }

    #[test]
    fn lines_strip_the_newline() {
        let collected: Vec<&[u8]> = lines(b"a\n\nb\n").collect();
        assert_eq!(collected, vec![&b"a"[..], b"", b"b"]);
        let tail: Vec<&[u8]> = lines(b"x\ntail").collect();
        assert_eq!(tail, vec![&b"x"[..], b"tail"]);
    }

    #[test]
    fn long_reads_still_check_every_line() {
        let mut framer = Framer::new(4);
        let (echoed, error) = feed(&mut framer, &[b"abcd\nefgh\nij"]);
        assert_eq!((echoed.as_slice(), error), (&b"abcd\nefgh\n"[..], None));
        assert_eq!(framer.take_partial(), b"ij");
        let (echoed, error) = feed(&mut framer, &[b"abcd\nefgh\nijklm"]);
        assert_eq!(echoed, b"abcd\nefgh\n");
        assert_eq!(error, Some(LineTooLong { limit: 4 }));
    }
}
