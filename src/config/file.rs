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

use super::ConfigError;
use super::layers::KeyNames;

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
    let too_large = format!("is larger than the limit of {MAX_BYTES} bytes (1 MiB)");
    (bytes.len() as u64 <= MAX_BYTES)
        .then_some(Some(bytes))
        .ok_or(too_large)
}

/// The text of a file (`origin` names it) as Python's `configparser` reads it
/// with `strict=True`, holding only the `known` sections and keys.
pub fn parse(bytes: &[u8], known: &[KeyNames], origin: &str) -> Result<Sections, ConfigError> {
    let refuse =
        |key: &str, value: Option<&str>, reason| ConfigError::new(key, value, origin, reason);
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
    // One pass over the raw text, for what the map no longer shows: the order of
    // the names, so the first one the map refuses is named, and a second writing
    // of one (the crate keeps the last, strict mode refuses it), which is named
    // before any other fault. Lines are read as the crate reads them (it has
    // accepted the text).
    let (mut section, mut seen, mut fault) = (DEFAULT.to_string(), HashSet::new(), None);
    for (number, line) in (1..).zip(text.lines()) {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let (key, shown, written) = if let Some(header) = line.strip_prefix('[') {
            let end = header.rfind(']').unwrap_or(header.len());
            let header = header[..end].trim();
            section = header.to_lowercase();
            (None, format!("[{header}]"), None)
        } else {
            let (key, value) = line
                .split_once(['=', ':'])
                .map_or((line, None), |(k, v)| (k, Some(v.trim())));
            let key = key.trim().to_lowercase();
            (Some(key.clone()), qualified(&section, &key), value)
        };
        if !seen.insert((section.clone(), key.clone())) {
            let what = if key.is_some() { "key" } else { "section" };
            let reason = format!("{what} given twice (line {number})");
            return Err(refuse(&shown, written, reason));
        }
        let value = key
            .as_ref()
            .and_then(|key| sections.get(&section)?.get(key)?.clone());
        let reason = match &key {
            None if section != DEFAULT && !known.iter().any(|k| k.0 == section) => {
                "unknown section"
            }
            Some(key) if !known.iter().any(|k| k.0 == section && k.1 == *key) => "unknown key",
            Some(_) if value.is_none() => "has no value (write key = value)",
            _ => continue,
        };
        let name = qualified(&section, key.as_deref().unwrap_or(""));
        let reason = format!("{reason} (line {number})");
        fault.get_or_insert_with(|| refuse(&name, value.as_deref(), reason));
    }
    fault.map_or(Ok(sections), Err)
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
    use std::ffi::OsString;

    use crate::config::{ClientConfig, ConfigError};

    fn client(text: &[u8]) -> Result<ClientConfig, ConfigError> {
        ClientConfig::from_file_bytes(text)
    }

    /// The setting named and the reason, of the error about `text`.
    fn refused(text: &str) -> (String, String) {
        let error = client(text.as_bytes()).expect_err(text);
        (error.setting, error.reason)
    }

    fn pair(setting: &str, reason: &str) -> (String, String) {
        (setting.into(), reason.into())
    }

    #[test]
    fn comments_are_whole_lines_only() {
        let text = "# comment\n; comment\n  # indented\nid = team#7;x\n";
        assert_eq!(client(text.as_bytes()).expect("valid").id, "team#7;x");
        // Kept whole, the address is not one.
        let (setting, _) = refused("[server]\naddress = a:1 ; no\n");
        assert_eq!(
            setting,
            "[server] address = \"a:1 ; no\" (from file <bytes>)"
        );
    }

    #[test]
    fn bom_and_crlf_are_accepted() {
        let config = client(b"\xef\xbb\xbfid = 1\r\n[SERVER]\r\naddress: s:1\r\n").expect("valid");
        assert_eq!(
            (config.id.as_str(), config.server_address.as_str()),
            ("1", "s:1")
        );
    }

    #[test]
    fn duplicates_and_unknown_names_are_refused() {
        assert_eq!(
            refused("id = 1\nID = 2\n"),
            pair("id = \"2\" (from file <bytes>)", "key given twice (line 2)")
        );
        assert_eq!(
            refused("[server]\naddress = a:1\n[loop]\n[Server]\n"),
            pair(
                "[Server] (from file <bytes>)",
                "section given twice (line 4)"
            )
        );
        assert_eq!(
            refused("[DEFAULT]\nid = 1\n[DEFAULT]\n").1,
            "section given twice (line 3)"
        );
        assert_eq!(
            refused("[nowhere]\n"),
            pair("[nowhere] (from file <bytes>)", "unknown section (line 1)")
        );
        assert_eq!(
            refused("[loop]\nperiod = 5s\n[loop]\n"),
            pair("[loop] (from file <bytes>)", "section given twice (line 3)"),
            "a second writing is named before any other fault"
        );
        assert_eq!(
            refused("[log]\nlevel = LOUD\nperiod = 5s\n"),
            pair(
                "[log] period = \"5s\" (from file <bytes>)",
                "unknown key (line 3)"
            ),
            "the file is checked before its values"
        );
        assert_eq!(
            refused("[loop]\nsteps = 1\n[nowhere]\n"),
            pair(
                "[loop] steps = \"1\" (from file <bytes>)",
                "unknown key (line 2)"
            ),
            "the first fault in the file is named"
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        let (setting, reason) = refused("[server\n");
        assert_eq!(setting, "INI syntax (from file <bytes>)");
        assert!(reason.starts_with("line 1: "), "{reason}");
        assert!(reason.contains("no closing bracket"), "{reason}");
        assert_eq!(
            refused("id\n"),
            pair(
                "id (from file <bytes>)",
                "has no value (write key = value) (line 1)"
            )
        );
        let (_, reason) = refused("id = 1\n = 1\n");
        assert!(reason.starts_with("line 2:"), "{reason}");
        assert!(reason.contains("Key cannot be empty"), "{reason}");
        let error = client(b"id = 1\nid2 = \xff\n").expect_err("not UTF-8");
        assert_eq!(
            (error.setting, error.reason),
            pair("line 2 (from file <bytes>)", "is not valid UTF-8")
        );
    }

    #[test]
    fn what_is_not_a_file_is_refused_at_once() {
        let load = |path: &str| {
            let args = ["--config", path].map(OsString::from);
            ClientConfig::load(&args, &|_| None)
        };
        let reason = |path: &str| load(path).expect_err(path).reason;
        assert_eq!(reason("/"), "is a directory");
        assert!(reason("/dev/zero").starts_with("is larger than the limit of 1048576 bytes"));
        assert_eq!(load("/dev/null"), Ok(ClientConfig::default()));
        assert_eq!(reason("/nonexistent/x.ini"), "does not exist");
    }
}
