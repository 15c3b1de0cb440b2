//! The rules for the values of config keys, one per kind (integer, duration, level,
//! id, host, address), shared by every key of that kind.

use std::time::Duration;

use log::LevelFilter;

use super::duration;
use crate::escape;

/// The one rule for every integer key: decimal digits only (no sign, not even `+`),
/// within `low..=high`; `parse_or` has trimmed the spaces around them.
pub(crate) fn parse_in_range(text: &str, low: u64, high: u64) -> Result<u64, String> {
    let problem = match text.parse::<u64>() {
        _ if text.is_empty() => "empty value: ",
        _ if text.starts_with(['+', '-']) => "signs are not allowed: ",
        _ if !text.bytes().all(|b| b.is_ascii_digit()) => "",
        Ok(n) if (low..=high).contains(&n) => return Ok(n),
        _ => "out of range: ",
    };
    let expected = format!("expected a whole number from {low} to {high}");
    Err(format!("{problem}{expected}"))
}

/// A Go duration of at most `most` (itself at most [`duration::MAX`]).
pub(crate) fn parse_duration(text: &str, most: Duration) -> Result<Duration, String> {
    let (value, longest) = (duration::parse(text)?, duration::format(most));
    if value > most {
        return Err(format!("longer than the maximum of {longest}"));
    }
    Ok(value)
}

/// Accepts the level names of the course's Python (`WARNING`, `CRITICAL`) and Go
/// (`warn`, `fatal`) programs, in any case.
pub(crate) fn parse_level(text: &str) -> Result<LevelFilter, String> {
    match text.to_ascii_uppercase().as_str() {
        "TRACE" => Ok(LevelFilter::Trace),
        "DEBUG" => Ok(LevelFilter::Debug),
        "INFO" => Ok(LevelFilter::Info),
        "WARN" | "WARNING" => Ok(LevelFilter::Warn),
        "ERROR" | "CRITICAL" | "FATAL" => Ok(LevelFilter::Error),
        "OFF" => Ok(LevelFilter::Off),
        _ => Err("expected one of TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL, OFF".into()),
    }
}

/// A client id goes into every message: it must not break the line or the log,
/// so nothing the log would escape (`|`, `\\`, controls, format characters).
pub(crate) fn parse_id(text: &str) -> Result<String, String> {
    let printable = text
        .chars()
        .all(|c| !c.is_whitespace() && !escape::needs_escape(c));
    if text.is_empty() || text.len() > 64 || !printable {
        return Err("expected 1 to 64 printable characters without spaces, `|` or `\\`".into());
    }
    Ok(text.to_string())
}

/// A host name or address as the course's `SERVER_IP`: shown, never resolved here.
pub(crate) fn parse_host(text: &str) -> Result<String, String> {
    let valid = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if text.is_empty() || text.len() > 253 || !valid {
        return Err("expected a host name or IP address".into());
    }
    Ok(text.to_string())
}

/// `host:port` or `[v6]:port`, checked here so a typo fails at start, not at the
/// first connection.
pub(crate) fn parse_address(text: &str) -> Result<String, String> {
    let expected = || "expected host:port, e.g. server:12345".to_string();
    let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
    let host = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    if host.contains(':') && !text.starts_with('[') {
        return Err("write IPv6 addresses in brackets, e.g. [::1]:12345".into());
    }
    parse_host(host).map_err(|_| expected())?;
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(text.to_string()),
        _ => Err("expected a port from 1 to 65535 after the colon".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_integer() {
        assert_eq!(parse_in_range("80", 0, 100), Ok(80));
        assert_eq!(parse_in_range("007", 0, 100), Ok(7));
        for (bad, reason) in [
            ("", "empty value: "),
            ("+5", "signs are not allowed: "),
            ("-0", "signs are not allowed: "),
            ("5 5", "expected"),
            ("0x10", "expected"),
            ("٣", "expected"),
            ("101", "out of range: "),
            ("99999999999999999999999", "out of range: "),
        ] {
            let error = parse_in_range(bad, 0, 100).expect_err(bad);
            assert!(error.starts_with(reason), "{bad:?}: {error}");
            assert!(
                error.ends_with("expected a whole number from 0 to 100"),
                "{error}"
            );
        }
    }

    #[test]
    fn ids_cannot_carry_what_the_log_escapes() {
        for bad in ["a|b", "a\\b", "a\u{202e}b", "a\u{200b}", "\u{feff}1"] {
            assert!(parse_id(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_id("team#7"), Ok("team#7".into()));
    }

    #[test]
    fn addresses_are_checked() {
        assert!(parse_address("server:12345").is_ok());
        assert!(parse_address("[::1]:80").is_ok());
        for bad in [
            "server",
            ":80",
            "server:0",
            "server:http",
            "::1:80",
            "a b:1",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }
}
