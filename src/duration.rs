//! Durations as kubectl and helm spell them: `90s`, `5m`, `1m30s`, `500ms`, `1h`.

use std::time::Duration;

/// Parse a Go-style duration (the subset people use). A bare number is seconds.
pub fn parse(s: &str) -> Result<Duration, String> {
    let input = s.trim();
    if input.is_empty() {
        return Err("empty duration; expected e.g. 90s, 5m, 1m30s".into());
    }
    if let Ok(secs) = input.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = input;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration '{s}': expected a number before '{rest}'"
            ));
        }
        let number: f64 = rest[..digits].parse().map_err(|_| {
            format!(
                "invalid duration '{s}': '{}' is not a number",
                &rest[..digits]
            )
        })?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "invalid duration '{s}': missing unit after {number} (ms, s, m or h)"
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration '{s}': unknown unit '{other}' (ms, s, m or h)"
                ));
            }
        };
        total += Duration::from_secs_f64(number * scale);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// Render as Go does for helm's `--timeout` (`5m0s`, `90s` → `1m30s`).
pub fn to_go(d: Duration) -> String {
    let secs = d.as_secs();
    let ms = d.subsec_millis();
    if secs == 0 && ms > 0 {
        return format!("{ms}ms");
    }
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
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
    }

    #[test]
    fn rejects() {
        for bad in ["", "s", "5x", "5 m", "m5"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("5x").unwrap_err().contains("unknown unit 'x'"));
    }

    #[test]
    fn go_form() {
        assert_eq!(to_go(Duration::from_secs(300)), "5m0s");
        assert_eq!(to_go(Duration::from_secs(90)), "1m30s");
        assert_eq!(to_go(Duration::from_secs(45)), "45s");
        assert_eq!(to_go(Duration::from_secs(3600)), "1h0m0s");
    }
}
