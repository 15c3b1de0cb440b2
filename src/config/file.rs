//! A config file, read without trusting it: only regular files and devices, at
//! most [`MAX_BYTES`]. The `configparser` crate parses the text; what Python's
//! strict mode refuses and the crate accepts is refused here (README, "Rules for
//! config files, arguments and values").

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use configparser::ini::{Ini, IniDefault};

use super::{ConfigError, Origin};

/// The largest config file read; a real one is a few hundred bytes.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// An INI file as configparser reads it: section → key → value.
pub type Sections = HashMap<String, HashMap<String, Option<String>>>;

/// The whole file at `path`, `None` if there is none, or why it cannot be used.
/// What would block or never end is refused: a FIFO blocks `open` until a writer
/// comes, a socket cannot be opened, a directory has no text; `/dev/zero` is cut.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let cannot = |error: io::Error| format!("cannot be read: {error}");
    let kind = match std::fs::metadata(path) {
        Ok(metadata) => metadata.file_type(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(cannot(error)),
    };
    if kind.is_dir() {
        return Err("is a directory".into());
    } else if kind.is_fifo() {
        return Err("is a FIFO (named pipe), not a file".into());
    } else if kind.is_socket() {
        return Err("is a socket, not a file".into());
    }
    let mut bytes = Vec::new();
    let file = File::open(path).map_err(cannot)?;
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!(
            "is larger than the limit of {MAX_BYTES} bytes (1 MiB)"
        ));
    }
    Ok(Some(bytes))
}

/// The text of the file at `path` as Python's `configparser` reads it with
/// `strict=True`, holding only the `known` sections and `(section, key)` pairs.
pub fn parse(bytes: &[u8], known: &[(&str, &str)], path: &Path) -> Result<Sections, ConfigError> {
    let origin = || Origin::File(path.to_path_buf());
    let refuse = |key: String, value, reason| ConfigError::new(&key, value, origin(), reason);
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let line = 1 + bytes[..error.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        refuse(format!("line {line}"), None, "is not valid UTF-8".into())
    })?;
    // The crate's other defaults are Python's: names lower-cased, `[DEFAULT]` (in
    // any case) also holding the keys before any section, no fall-back to it.
    let mut syntax = IniDefault::default();
    syntax.comment_symbols = vec!['#', ';'];
    syntax.enable_inline_comments = false; // as Python: `id = team#7` is `team#7`
    syntax.multiline = false;
    let sections = Ini::new_from_defaults(syntax)
        .read(text.to_string())
        .map_err(|reason| refuse("INI syntax".into(), None, reason))?;
    let lines = first_lines(text).map_err(|(key, value, reason)| refuse(key, value, reason))?;
    // The map has no order: of its faults, the one written first is named.
    let mut first: Option<(Option<usize>, ConfigError)> = None;
    let mut fault = |name: Name, value: Option<String>, reason: &str| {
        let line = lines.get(&name).copied();
        if first.as_ref().is_none_or(|(earliest, _)| line < *earliest) {
            let at = line.map_or(String::new(), |line| format!(" (line {line})"));
            let key = qualified(&name.0, name.1.as_deref().unwrap_or(""));
            first = Some((line, refuse(key, value, format!("{reason}{at}"))));
        }
    };
    for (section, keys) in &sections {
        if section != "default" && !known.iter().any(|(known, _)| known == section) {
            fault((section.clone(), None), None, "unknown section");
            continue;
        }
        for (key, value) in keys {
            let name = (section.clone(), Some(key.clone()));
            if !known.contains(&(section.as_str(), key.as_str())) {
                fault(name, value.clone(), "unknown key");
            } else if value.is_none() {
                fault(name, None, "has no value (write key = value)");
            }
        }
    }
    match first {
        Some((_, error)) => Err(error),
        None => Ok(sections),
    }
}

/// A section (`None`) or a key in a section, lower case, as the crate names them.
type Name = (String, Option<String>);

/// The one pass over the raw text, for what the map no longer shows: the crate
/// keeps the last writing of a section or key, strict mode refuses the second.
/// Lines are read as the crate reads them (it has accepted the text); the line
/// of each name is kept for the messages.
fn first_lines(text: &str) -> Result<HashMap<Name, usize>, (String, Option<String>, String)> {
    let mut section = "default".to_string();
    let mut lines = HashMap::new();
    for (number, line) in (1..).zip(text.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let (name, shown, value) = if let Some(header) = line.strip_prefix('[') {
            let header = header
                .rfind(']')
                .map_or(header, |end| &header[..end])
                .trim();
            section = header.to_lowercase();
            ((section.clone(), None), format!("[{header}]"), None)
        } else {
            let (key, value) = line
                .split_once(['=', ':'])
                .map_or((line, None), |(k, v)| (k, Some(v)));
            let key = key.trim().to_lowercase();
            let shown = qualified(&section, &key);
            (
                (section.clone(), Some(key)),
                shown,
                value.map(|v| v.trim().to_string()),
            )
        };
        let what = if name.1.is_some() { "key" } else { "section" };
        if lines.insert(name, number).is_some() {
            return Err((shown, value, format!("{what} given twice (line {number})")));
        }
    }
    Ok(lines)
}

/// How a name is shown in messages: `[server] address`, a bare key in the default
/// section, `[server]` for a section itself (an empty `name`).
pub fn qualified(section: &str, name: &str) -> String {
    match (section, name) {
        ("default", name) => name.to_string(),
        (section, "") => format!("[{section}]"),
        (section, name) => format!("[{section}] {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [(&str, &str); 3] = [("default", "id"), ("server", "address"), ("loop", "amount")];

    fn value(sections: &Sections, section: &str, key: &str) -> Option<String> {
        sections.get(section)?.get(key)?.clone()
    }

    fn refused(text: &str) -> ConfigError {
        parse(text.as_bytes(), &KNOWN, Path::new("t.ini")).expect_err(text)
    }

    #[test]
    fn comments_are_whole_lines_only() {
        let text =
            "# comment\n; comment\n  # indented\nid = team#7;x\n[server]\naddress = a:1 ; no\n";
        let sections = parse(text.as_bytes(), &KNOWN, Path::new("t.ini")).expect("valid");
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
            Path::new("t.ini"),
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
            (error.key.as_str(), error.reason.as_str()),
            ("id", "key given twice (line 2)")
        );
        let error = refused("[server]\naddress = a:1\n[loop]\n[Server]\n");
        assert_eq!(
            (error.key.as_str(), error.reason.as_str()),
            ("[Server]", "section given twice (line 4)")
        );
        let error = refused("[DEFAULT]\nid = 1\n[DEFAULT]\n");
        assert_eq!(error.reason, "section given twice (line 3)");
        let error = refused("[nowhere]\n");
        assert_eq!(
            (error.key.as_str(), error.reason.as_str()),
            ("[nowhere]", "unknown section (line 1)")
        );
        let error = refused("[loop]\nperiod = 5s\n");
        assert_eq!(
            (error.key.as_str(), error.reason.as_str()),
            ("[loop] period", "unknown key (line 2)")
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        let error = refused("[server\n");
        assert_eq!(error.key, "INI syntax");
        assert!(error.reason.starts_with("line 1: "), "{}", error.reason);
        assert!(
            error.reason.contains("no closing bracket"),
            "{}",
            error.reason
        );
        assert_eq!(
            refused("id\n").reason,
            "has no value (write key = value) (line 1)"
        );
        let error = refused("id = 1\n = 1\n");
        assert!(error.reason.starts_with("line 2:"), "{}", error.reason);
        assert!(
            error.reason.contains("Key cannot be empty"),
            "{}",
            error.reason
        );
        let error =
            parse(b"id = 1\nid2 = \xff\n", &KNOWN, Path::new("t.ini")).expect_err("not UTF-8");
        assert_eq!(
            (error.key.as_str(), error.reason.as_str()),
            ("line 2", "is not valid UTF-8")
        );
    }

    #[test]
    fn what_is_not_a_file_is_refused_at_once() {
        let reason = |path: &str| read(Path::new(path)).expect_err(path);
        assert_eq!(reason("/"), "is a directory");
        assert!(reason("/dev/zero").starts_with("is larger than the limit"));
        let empty = read(Path::new("/dev/null")).expect("readable");
        assert!(empty.expect("exists").is_empty());
        assert_eq!(read(Path::new("/nonexistent/x.ini")), Ok(None));
    }
}
