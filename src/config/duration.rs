//! Durations in Go's syntax (`100ms`, `5s`, `1m30s`), parsed and printed back the
//! way Go's `time.Duration` does, so configured periods read the same in the logs.
//! Every duration is at most [`MAX`] (24 h): no setting needs more, and the bound
//! keeps all arithmetic on deadlines far from overflow.

use std::time::Duration;

/// The units Go knows, for the messages about a missing or unknown one.
const UNITS: &str = "(ns, us, ms, s, m, h)";

/// The longest duration any setting accepts.
pub const MAX: Duration = Duration::from_secs(24 * 3600);

/// Parses a non-negative Go duration of at most [`MAX`], such as `1h2m3.5s` or `0`,
/// or says what is wrong with the text.
pub fn parse(text: &str) -> Result<Duration, String> {
    let body = text.trim();
    // Go takes a sign; README's rule for durations does not.
    if body.starts_with(['+', '-']) {
        return Err("signs are not allowed".into());
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err("empty duration (write e.g. 100ms, 5s, 1m30s)".into());
    }
    let (mut rest, mut total) = (body, 0u128);
    let digit = |c: char| c.is_ascii_digit() || c == '.';
    while !rest.is_empty() {
        let (number, after) = rest.split_at(rest.find(|c| !digit(c)).unwrap_or(rest.len()));
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let (unit, next) = after.split_at(after.find(digit).unwrap_or(after.len()));
        let scale = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit after `{number}` {UNITS}")),
            _ => return Err(format!("unknown unit `{unit}` {UNITS}")),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u128 = match whole {
            "" => 0, // `.5s`
            digits => digits.parse().map_err(|_| too_large())?,
        };
        let scaled = whole.checked_mul(scale).and_then(|n| total.checked_add(n));
        total = scaled.ok_or_else(too_large)?;
        // Digits past nanosecond precision are dropped, as Go does.
        let mut place = scale;
        for digit in fraction.bytes() {
            place /= 10;
            let digit = u128::from(digit - b'0');
            total = total.checked_add(digit * place).ok_or_else(too_large)?;
        }
        rest = next;
    }
    match u64::try_from(total) {
        Ok(nanos) if total <= MAX.as_nanos() => Ok(Duration::from_nanos(nanos)),
        _ => Err(too_large()),
    }
}

fn too_large() -> String {
    "longer than the maximum of 24h0m0s".into()
}

/// Prints a duration as Go's `Duration.String()` does: `100ms`, `5s`, `1m30s`,
/// `1h0m0s`, `1.5s`, `0s`.
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (scale, unit) = match nanos {
            n if n < 1_000 => (1, "ns"),
            n if n < 1_000_000 => (1_000, "µs"),
            _ => (1_000_000, "ms"),
        };
        return format!("{}{unit}", decimal(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = decimal(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `value / scale` with the fraction written only as far as it is non-zero.
fn decimal(value: u128, scale: u128) -> String {
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(parse("100ms"), Ok(ms(100)));
        assert_eq!(parse("5s"), Ok(ms(5_000)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(parse(".5s"), Ok(ms(500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("1h2m3s4ms"), Ok(ms(3_723_004)));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "", "5", "s", "-1s", "+1s", "5x", "1..5s", "3d", "ms5", "1s 2s",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(parse("9999999999h").is_err());
    }

    #[test]
    fn overflow_and_the_bound_are_errors_not_panics() {
        for huge in [
            "340282366920938463463374607431768211.999us",
            "340282366920938463463374607431768211455ns",
            "340282366920938463463374607431768211456ns",
            "99999999999999999999999999999999999999999h",
            "24h0m0.000000001s",
            "25h",
            "1441m",
        ] {
            assert_eq!(parse(huge), Err(too_large()), "{huge}");
        }
        assert_eq!(parse("24h"), Ok(MAX));
        assert_eq!(parse("23h59m60s"), Ok(MAX));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(ms(100)), "100ms");
        assert_eq!(format(ms(5_000)), "5s");
        assert_eq!(format(ms(90_000)), "1m30s");
        assert_eq!(format(ms(3_600_000)), "1h0m0s");
        assert_eq!(format(ms(1_500)), "1.5s");
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_micros(1_500)), "1.5ms");
        assert_eq!(format(Duration::from_nanos(42)), "42ns");
    }

    #[test]
    fn round_trips() {
        for text in ["100ms", "5s", "1m30s", "2h0m0.25s", "750µs"] {
            assert_eq!(format(parse(text).expect(text)), text);
        }
    }
}
