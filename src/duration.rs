//! Durations as kubectl and helm spell them: `90s`, `5m`, `1m30s`, `500ms`, `1.5h`.
//!
//! Parsed as Go's `time.ParseDuration` does, in integer nanoseconds with every step checked for
//! overflow (no floating point): a number with an optional fraction, then a unit (`ns`, `us`,
//! `µs`, `ms`, `s`, `m`, `h`), repeated. Two differences from Go, both kept from earlier
//! ciliumon: a bare whole number is seconds (`90`), and surrounding whitespace is ignored. No
//! sign: no flag of ciliumon takes a negative duration.
//!
//! Go's durations are signed 64-bit nanoseconds, so helm's `--timeout` and kubectl's
//! `--timeout` take at most 2562047h47m16.854775807s (`999999999h` is "invalid duration" to
//! both, checked with helm 3.17, helm 4.1 and kubectl 1.34). Nothing longer parses here either,
//! and each flag then has its own range (`step_timeout`, `request_timeout`, `wait`).

use std::time::Duration;

use crate::escape::escape;

/// Go's largest duration, `math.MaxInt64` nanoseconds: 2562047h47m16.854775807s.
pub const GO_MAX: Duration = Duration::new(9_223_372_036, 854_775_807);

/// The longest time limit ciliumon accepts: Go's largest duration in whole hours, so that it
/// can be said in one word.
pub const MAX: Duration = Duration::from_secs(2_562_047 * 3600);

/// The shortest step timeout: no helm upgrade or rollout finishes in less.
pub const MIN_STEP: Duration = Duration::from_secs(1);

const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3600 * 1_000_000_000),
];

const EXPECTED: &str = "expected e.g. 90s, 5m, 1m30s, 1.5h, 500ms";

/// Parse a Go-style duration. A bare whole number is seconds.
pub fn parse(s: &str) -> Result<Duration, String> {
    let shown = escape(s);
    let input = s.trim();
    if input.is_empty() {
        return Err(format!("empty duration; {EXPECTED}"));
    }
    let too_large = || {
        format!(
            "duration '{shown}' is too large: helm and kubectl take at most {} (Go's limit)",
            to_go(GO_MAX)
        )
    };
    if input.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = input.parse().map_err(|_| too_large())?;
        let d = Duration::from_secs(secs);
        return if d > GO_MAX { Err(too_large()) } else { Ok(d) };
    }
    let mut total: u64 = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let whole_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let whole = &rest[..whole_len];
        rest = &rest[whole_len..];
        let mut fraction = "";
        if let Some(after) = rest.strip_prefix('.') {
            let len = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            fraction = &after[..len];
            rest = &after[len..];
            if whole.is_empty() && fraction.is_empty() {
                return Err(format!(
                    "invalid duration '{shown}': '.' is not a number; {EXPECTED}"
                ));
            }
        } else if whole.is_empty() {
            return Err(format!(
                "invalid duration '{shown}': expected a number before '{}'; {EXPECTED}",
                escape(rest)
            ));
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let number = if fraction.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{fraction}")
        };
        let scale = match UNITS.iter().find(|(name, _)| *name == unit) {
            Some((_, scale)) => *scale,
            None if unit.is_empty() => {
                return Err(format!(
                    "invalid duration '{shown}': missing unit after {number} (ms, s, m or h)"
                ));
            }
            None => {
                return Err(format!(
                    "invalid duration '{shown}': unknown unit '{}' (ms, s, m or h)",
                    escape(unit)
                ));
            }
        };
        let part = scaled(whole, fraction, scale).ok_or_else(too_large)?;
        total = total.checked_add(part).ok_or_else(too_large)?;
    }
    let d = Duration::from_nanos(total);
    if d > GO_MAX { Err(too_large()) } else { Ok(d) }
}

/// `whole.fraction` units of `scale` nanoseconds, in nanoseconds; `None` on overflow. Digits
/// of the fraction below a nanosecond are dropped, as Go drops them.
fn scaled(whole: &str, fraction: &str, scale: u64) -> Option<u64> {
    let mut n: u64 = 0;
    for b in whole.bytes() {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    let mut nanos = n.checked_mul(scale)?;
    // At most 19 digits keep the numerator below 10^19 < 2^64; more cannot add a nanosecond
    // to a scale below 10^13.
    let digits = &fraction[..fraction.len().min(19)];
    if !digits.is_empty() {
        let mut num: u128 = 0;
        for b in digits.bytes() {
            num = num * 10 + u128::from(b - b'0');
        }
        let den = 10u128.pow(digits.len() as u32);
        let frac = u64::try_from(num * u128::from(scale) / den).ok()?;
        nanos = nanos.checked_add(frac)?;
    }
    Some(nanos)
}

/// Render as Go's `Duration.String` does (`5m0s`, `1m30s`, `1.5s`, `500ms`, `2h0m0s`), the form
/// helm and kubectl are given. `parse(to_go(d)) == d` for every `d` up to `GO_MAX`.
pub fn to_go(d: Duration) -> String {
    let total = d.as_nanos();
    if total == 0 {
        return "0s".into();
    }
    if total < 1_000_000_000 {
        let (scale, unit) = if total < 1_000 {
            (1, "ns")
        } else if total < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        return format!("{}{unit}", decimal(total, scale));
    }
    let secs = d.as_secs();
    let (h, m) = (secs / 3600, (secs / 60) % 60);
    let s = decimal(
        u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
        1_000_000_000,
    );
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// `value / scale` with its fraction, trailing zeros dropped: (1500, 1000) → `1.5`.
fn decimal(value: u128, scale: u128) -> String {
    let (whole, frac) = (value / scale, value % scale);
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn range_error(what: &str, s: &str, d: Duration, range: &str, why: &str) -> String {
    format!(
        "{what} '{}' ({}) is out of range: {range}{why}",
        escape(s.trim()),
        to_go(d)
    )
}

/// A step's time limit (`setup --timeout`): it goes to helm and kubectl as `--timeout`, where 0
/// means "wait forever" to kubectl, so it is from 1s to `MAX`.
pub fn step_timeout(s: &str) -> Result<Duration, String> {
    let d = parse(s)?;
    if d < MIN_STEP || d > MAX {
        return Err(range_error(
            "step timeout",
            s,
            d,
            &format!("give 1s to {}", to_go(MAX)),
            if d.is_zero() {
                " (0 would be \"wait forever\" to kubectl)"
            } else {
                ""
            },
        ));
    }
    Ok(d)
}

/// The limit of one wait of a request (`check --timeout`): more than zero, at most `MAX`.
pub fn request_timeout(s: &str) -> Result<Duration, String> {
    let d = parse(s)?;
    if d.is_zero() || d > MAX {
        return Err(range_error(
            "timeout",
            s,
            d,
            &format!("must be more than zero and at most {}", to_go(MAX)),
            "",
        ));
    }
    Ok(d)
}

/// How long to retry (`check --wait`, `setup --check-wait`): 0 (no retry) to `MAX`.
pub fn wait(s: &str) -> Result<Duration, String> {
    let d = parse(s)?;
    if d > MAX {
        return Err(range_error(
            "wait",
            s,
            d,
            &format!("give 0s to {}", to_go(MAX)),
            "",
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse(" 5m ").unwrap(), Duration::from_secs(300));
        assert_eq!(parse(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("5.s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("0.1ms").unwrap(), Duration::from_micros(100));
        assert_eq!(parse("3us").unwrap(), Duration::from_micros(3));
        assert_eq!(parse("3µs").unwrap(), Duration::from_micros(3));
        assert_eq!(parse("7ns").unwrap(), Duration::from_nanos(7));
        assert_eq!(parse("1.0000000001s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse("2562047h47m16.854775807s").unwrap(), GO_MAX);
    }

    #[test]
    fn rejects() {
        for bad in [
            "", "s", "5x", "5 m", "m5", ".s", "1.5", "-5s", "5..1s", "1.2.3s",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("5x").unwrap_err().contains("unknown unit 'x'"));
    }

    #[test]
    fn too_large_is_an_error_not_a_panic() {
        for big in [
            "99999999999999999999s",
            "99999999999999999999h",
            "99999999999999999999m",
            "99999999999999999999",
            "999999999h",
            "2562047h47m16.854775808s",
            "18446744073709551615ns1ns",
            "9999999999999999999.9999999999999999999h",
        ] {
            let e = parse(big).unwrap_err();
            assert!(
                e.contains("too large") && e.contains("2562047h47m16.854775807s"),
                "{big}: {e}"
            );
        }
    }

    #[test]
    fn ranges() {
        assert!(step_timeout("0s").unwrap_err().contains("wait forever"));
        assert!(
            step_timeout("500ms")
                .unwrap_err()
                .contains("give 1s to 2562047h0m0s")
        );
        assert!(step_timeout("2562048h").unwrap_err().contains("too large"));
        assert!(
            step_timeout("2562047h1s")
                .unwrap_err()
                .contains("out of range")
        );
        assert_eq!(step_timeout("2562047h").unwrap(), MAX);
        assert_eq!(step_timeout("10m").unwrap(), Duration::from_secs(600));
        assert!(request_timeout("0").unwrap_err().contains("more than zero"));
        assert_eq!(
            request_timeout("400ms").unwrap(),
            Duration::from_millis(400)
        );
        assert_eq!(wait("0s").unwrap(), Duration::ZERO);
        assert!(wait("2562048h").is_err());
    }

    #[test]
    fn messages_escape_what_they_echo() {
        let e = parse("5\u{1b}[31m").unwrap_err();
        assert!(!e.contains('\u{1b}'), "{e}");
        assert!(e.contains("\\u{1b}"), "{e}");
    }

    #[test]
    fn go_form() {
        assert_eq!(to_go(Duration::from_secs(300)), "5m0s");
        assert_eq!(to_go(Duration::from_secs(90)), "1m30s");
        assert_eq!(to_go(Duration::from_secs(45)), "45s");
        assert_eq!(to_go(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(to_go(Duration::from_millis(1500)), "1.5s");
        assert_eq!(to_go(Duration::from_millis(500)), "500ms");
        assert_eq!(to_go(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(to_go(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(to_go(Duration::from_nanos(15)), "15ns");
        assert_eq!(to_go(Duration::ZERO), "0s");
        assert_eq!(to_go(GO_MAX), "2562047h47m16.854775807s");
    }
}
