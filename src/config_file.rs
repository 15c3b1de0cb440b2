//! Reading a config file without trusting it: only regular files and devices are
//! read, never more than [`MAX_BYTES`], and the INI text is held to the rules of
//! Python's `configparser` (strict mode) that the `configparser` crate lacks.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use configparser::ini::Ini;

/// The largest config file read; a real one is a few hundred bytes.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// An INI file as configparser reads it: section → key → value.
pub type Sections = HashMap<String, HashMap<String, Option<String>>>;

/// Why a file cannot be used, before its contents are looked at.
#[derive(Debug)]
pub enum ReadError {
    /// The path does not exist.
    NotFound,
    /// The path cannot be read (with the reason), or is not a file to read.
    Refused(String),
}

/// Reads the whole file at `path`, refusing what would block or never end: a
/// FIFO blocks `open` until a writer comes, a socket cannot be opened, a
/// directory has no text, and a device such as `/dev/zero` is cut at the cap.
///
/// # Errors
/// The path is missing, is a directory, FIFO or socket, cannot be read, or holds
/// more than [`MAX_BYTES`].
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    let kind = match std::fs::metadata(path) {
        Ok(metadata) => metadata.file_type(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(ReadError::NotFound),
        Err(error) => return Err(ReadError::Refused(format!("cannot be read: {error}"))),
    };
    let refused = if kind.is_dir() {
        Some("is a directory")
    } else if kind.is_fifo() {
        Some("is a FIFO (named pipe), not a file")
    } else if kind.is_socket() {
        Some("is a socket, not a file")
    } else {
        None
    };
    if let Some(reason) = refused {
        return Err(ReadError::Refused(reason.into()));
    }
    let cannot = |error: io::Error| ReadError::Refused(format!("cannot be read: {error}"));
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(cannot)?
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(ReadError::Refused(format!(
            "is larger than the limit of {MAX_BYTES} bytes (1 MiB)"
        )));
    }
    Ok(bytes)
}

/// What is wrong in a file's text: the key or line at fault and why.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The section, key or line at fault, as a reader finds it in the file.
    pub place: String,
    /// The value, when the fault is in one.
    pub value: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Parses INI text as Python's `configparser` would with `strict=True`, keeping
/// only the `known` sections and `(section, key)` pairs (lower case). Comments are
/// whole lines starting with `#` or `;`; a UTF-8 BOM and CRLF line ends are accepted.
///
/// # Errors
/// Text that is not UTF-8, a section without `]`, a line without `=` or `:`, an
/// empty key, a duplicated section or key, an unknown section or key.
pub fn parse(bytes: &[u8], known: &[(&str, &str)]) -> Result<Sections, ParseError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|error| ParseError {
        place: format!("line {}", line_of(bytes, error.valid_up_to())),
        value: None,
        reason: "is not valid UTF-8".into(),
    })?;
    check_strictly(text, known)?;
    let mut defaults = Ini::new().defaults();
    // Python's configparser has no inline comments by default: `id = team#7`.
    defaults.enable_inline_comments = false;
    defaults.comment_symbols = vec!['#', ';'];
    defaults.multiline = false;
    Ini::new_from_defaults(defaults)
        .read(text.to_string())
        .map_err(|reason| ParseError {
            place: "INI syntax".into(),
            value: None,
            reason,
        })
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count()
}

/// Walks the lines as the crate does (it would silently merge duplicates and
/// accept anything) and refuses, in file order, what Python's strict mode refuses.
fn check_strictly(text: &str, known: &[(&str, &str)]) -> Result<(), ParseError> {
    let mut section = "default".to_string();
    let mut sections_seen = HashSet::new();
    let mut keys_seen = HashSet::new();
    for (number, raw) in (1..).zip(text.lines()) {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let error = |place: String, value: Option<&str>, reason: &str| ParseError {
            place,
            value: value.map(str::to_string),
            reason: format!("{reason} (line {number})"),
        };
        if let Some(header) = line.strip_prefix('[') {
            let Some(end) = header.rfind(']') else {
                return Err(error(
                    format!("line {number}"),
                    Some(line),
                    "no closing `]`",
                ));
            };
            section = header[..end].trim().to_lowercase();
            let shown = format!("[{}]", header[..end].trim());
            if section != "default" && !known.iter().any(|(known, _)| *known == section) {
                return Err(error(shown, None, "unknown section"));
            }
            if !sections_seen.insert(section.clone()) {
                return Err(error(shown, None, "section given twice"));
            }
            continue;
        }
        let Some(delimiter) = line.find(['=', ':']) else {
            return Err(error(
                qualified(&section, line),
                None,
                "has no value (write key = value)",
            ));
        };
        let name = line[..delimiter].trim().to_lowercase();
        let value = line[delimiter + 1..].trim();
        if name.is_empty() {
            return Err(error(format!("line {number}"), Some(line), "empty key"));
        }
        let place = qualified(&section, &name);
        if !known.contains(&(section.as_str(), name.as_str())) {
            return Err(error(place, Some(value), "unknown key"));
        }
        if !keys_seen.insert((section.clone(), name)) {
            return Err(error(place, Some(value), "key given twice"));
        }
    }
    Ok(())
}

/// How a key is shown in messages: `[server] address`, or just the key when it is
/// in the default section.
pub fn qualified(section: &str, name: &str) -> String {
    if section == "default" {
        name.to_string()
    } else {
        format!("[{section}] {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [(&str, &str); 3] = [("default", "id"), ("server", "address"), ("loop", "amount")];

    fn value(sections: &Sections, section: &str, key: &str) -> Option<String> {
        sections.get(section)?.get(key)?.clone()
    }

    fn refused(text: &str) -> ParseError {
        parse(text.as_bytes(), &KNOWN).expect_err(text)
    }

    #[test]
    fn comments_are_whole_lines_only() {
        let text =
            "# comment\n; comment\n  # indented\nid = team#7;x\n[server]\naddress = a:1 ; no\n";
        let sections = parse(text.as_bytes(), &KNOWN).expect("valid");
        assert_eq!(
            value(&sections, "default", "id").as_deref(),
            Some("team#7;x")
        );
        assert_eq!(
            value(&sections, "server", "address").as_deref(),
            Some("a:1 ; no")
        );
    }

    #[test]
    fn bom_and_crlf_are_accepted() {
        let sections = parse(
            b"\xef\xbb\xbfid = 1\r\n[SERVER]\r\naddress: s:1\r\n",
            &KNOWN,
        )
        .expect("valid");
        assert_eq!(value(&sections, "default", "id").as_deref(), Some("1"));
        assert_eq!(
            value(&sections, "server", "address").as_deref(),
            Some("s:1")
        );
    }

    #[test]
    fn duplicates_and_unknown_names_are_refused() {
        let error = refused("id = 1\nID = 2\n");
        assert_eq!(
            (error.place.as_str(), error.reason.as_str()),
            ("id", "key given twice (line 2)")
        );
        let error = refused("[server]\naddress = a:1\n[loop]\n[Server]\n");
        assert_eq!(
            (error.place.as_str(), error.reason.as_str()),
            ("[Server]", "section given twice (line 4)")
        );
        let error = refused("[DEFAULT]\nid = 1\n[DEFAULT]\n");
        assert_eq!(error.reason, "section given twice (line 3)");
        let error = refused("[nowhere]\n");
        assert_eq!(
            (error.place.as_str(), error.reason.as_str()),
            ("[nowhere]", "unknown section (line 1)")
        );
        let error = refused("[loop]\nperiod = 5s\n");
        assert_eq!(
            (error.place.as_str(), error.reason.as_str()),
            ("[loop] period", "unknown key (line 2)")
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert_eq!(refused("[server\n").reason, "no closing `]` (line 1)");
        assert_eq!(
            refused("id\n").reason,
            "has no value (write key = value) (line 1)"
        );
        assert_eq!(refused(" = 1\n").reason, "empty key (line 1)");
        let error = parse(b"id = 1\nid2 = \xff\n", &KNOWN).expect_err("not UTF-8");
        assert_eq!(
            (error.place.as_str(), error.reason.as_str()),
            ("line 2", "is not valid UTF-8")
        );
    }

    #[test]
    fn what_is_not_a_file_is_refused_at_once() {
        let reason = |path: &str| match read(Path::new(path)) {
            Err(ReadError::Refused(reason)) => reason,
            other => panic!("{path}: {other:?}"),
        };
        assert_eq!(reason("/"), "is a directory");
        assert!(reason("/dev/zero").starts_with("is larger than the limit"));
        assert!(read(Path::new("/dev/null")).expect("empty").is_empty());
        assert!(matches!(
            read(Path::new("/nonexistent/x.ini")),
            Err(ReadError::NotFound)
        ));
    }
}
