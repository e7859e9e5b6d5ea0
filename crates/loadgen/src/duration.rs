//! Human durations on the command line: `30s`, `5m`, `1h`, `250ms`, `1m30s`, `1.5s`, or a
//! bare number of seconds.

use std::time::Duration;

/// The longest duration accepted anywhere (a day): a guard against typos such as `30h`
/// meant as `30s` still bounds every run.
const MAX: Duration = Duration::from_secs(24 * 3600);

/// Parses a duration; each number needs a unit except a lone number (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; give e.g. 30s, 5m, 1h, 250ms".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return checked(secs, text);
    }
    let mut total = 0.0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {text:?}: the last number has no unit"))?;
        if num_len == 0 {
            return Err(format!(
                "duration {text:?}: expected a number before the unit"
            ));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("duration {text:?}: {:?} is not a number", &rest[..num_len]))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            unit => {
                return Err(format!(
                    "duration {text:?}: unknown unit {unit:?} (use ms, s, m or h)"
                ));
            }
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    checked(total, text)
}

fn checked(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("duration {text:?} must not be negative"));
    }
    let d = Duration::from_secs_f64(secs);
    if d > MAX {
        return Err(format!("duration {text:?} is longer than 24h"));
    }
    Ok(d)
}

/// Formats seconds compactly for reports: `10 s`, `1.5 s`, `60 s`.
pub fn secs_label(d: Duration) -> String {
    let s = d.as_secs_f64();
    if (s - s.round()).abs() < 1e-9 {
        format!("{}", s.round() as u64)
    } else {
        format!("{s:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 60 "), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "s", "10x", "10s5", "-5s", "ms10", "1..5s", "25h", "inf", "NaN", "1 s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(secs_label(Duration::from_secs(10)), "10");
        assert_eq!(secs_label(Duration::from_millis(1500)), "1.5");
        assert_eq!(secs_label(Duration::from_millis(250)), "0.25");
    }
}
