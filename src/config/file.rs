//! A config file, read without trusting it: only regular files and devices, at
//! most [`MAX_BYTES`]. The `configparser` crate parses the text; what Python's
//! strict mode refuses and the crate accepts is refused here (README, "Rules for
//! config files, arguments and values").

use std::collections::{HashMap, HashSet};
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

/// The section of the keys before any section, and of `[DEFAULT]`.
pub const DEFAULT: &str = "default";

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
    let mut file = File::open(path).map_err(cannot)?.take(MAX_BYTES + 1);
    file.read_to_end(&mut bytes).map_err(cannot)?;
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
    let refuse =
        |key: &str, value, reason| ConfigError::new(key, value, Origin::File(path.into()), reason);
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let line = bytes[..error.valid_up_to()].split(|&b| b == b'\n').count();
        refuse(&format!("line {line}"), None, "is not valid UTF-8".into())
    })?;
    // The crate's other defaults are Python's: names lower-cased, `[DEFAULT]` (in
    // any case) also holding the keys before any section, no fall-back to it.
    let mut syntax = IniDefault::default();
    syntax.comment_symbols = vec!['#', ';'];
    syntax.enable_inline_comments = false; // as Python: `id = team#7` is `team#7`
    syntax.multiline = false;
    let sections = Ini::new_from_defaults(syntax)
        .read(text.to_string())
        .map_err(|reason| refuse("INI syntax", None, reason))?;
    // The map has no order: its names are checked in the order they were written.
    for (line, section, key) in names(text, path)? {
        let keys = sections.get(&section);
        let value = key.as_ref().and_then(|key| keys?.get(key)?.clone());
        let reason = match &key {
            None if section != DEFAULT && !known.iter().any(|&(s, _)| s == section) => {
                "unknown section"
            }
            Some(key) if !known.contains(&(section.as_str(), key.as_str())) => "unknown key",
            Some(_) if value.is_none() => "has no value (write key = value)",
            _ => continue,
        };
        let name = qualified(&section, key.as_deref().unwrap_or(""));
        return Err(refuse(&name, value, format!("{reason} (line {line})")));
    }
    Ok(sections)
}

/// The one pass over the raw text, for what the map no longer shows: the order of
/// the names, and a second writing of one (the crate keeps the last, strict mode
/// refuses it). Lines are read as the crate reads them (it has accepted the text).
/// Each name is a section (no key) or a key in it, after the line it is on.
fn names(text: &str, path: &Path) -> Result<Vec<(usize, String, Option<String>)>, ConfigError> {
    let mut section = DEFAULT.to_string();
    let (mut names, mut seen) = (Vec::new(), HashSet::new());
    for (number, line) in (1..).zip(text.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let (key, shown, value) = if let Some(header) = line.strip_prefix('[') {
            let end = header.rfind(']').unwrap_or(header.len());
            let header = header[..end].trim();
            section = header.to_lowercase();
            (None, format!("[{header}]"), None)
        } else {
            let (key, value) = line
                .split_once(['=', ':'])
                .map_or((line, None), |(k, v)| (k, Some(v.trim().to_string())));
            let key = key.trim().to_lowercase();
            (Some(key.clone()), qualified(&section, &key), value)
        };
        if !seen.insert((section.clone(), key.clone())) {
            let what = if key.is_some() { "key" } else { "section" };
            let reason = format!("{what} given twice (line {number})");
            let origin = Origin::File(path.into());
            return Err(ConfigError::new(&shown, value, origin, reason));
        }
        names.push((number, section.clone(), key));
    }
    Ok(names)
}

/// How a name is shown in messages: `[server] address`, a bare key in the default
/// section, `[server]` for a section itself (an empty `name`).
pub fn qualified(section: &str, name: &str) -> String {
    match (section, name) {
        (DEFAULT, name) => name.to_string(),
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
