//! Times for people: `--since`/`--until` take RFC 3339 (`2026-11-28T09:30:00Z`, with any offset)
//! or a span back from now (`90s`, `30m`, `2h`, `3d`); times are printed as RFC 3339 in the
//! local zone (the system's, as `TZ` or `/etc/localtime` say) or in UTC. The appliance and JSON
//! output keep unix milliseconds.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A span written as a number and a unit `s`, `m`, `h` or `d`, in seconds (not zero).
pub fn parse_span(s: &str) -> Option<u64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mul).filter(|&v| v > 0)
}

/// A point in time as unix milliseconds: RFC 3339, or a span before `now_ms`.
pub fn parse_time(s: &str, now_ms: u64) -> Result<u64, String> {
    if let Some(secs) = parse_span(s) {
        return Ok(now_ms.saturating_sub(secs.saturating_mul(1000)));
    }
    let t: Timestamp = s.parse().map_err(|_| {
        format!("`{s}` is neither RFC 3339 (2026-11-28T09:30:00Z, 2026-11-28T10:30:00+01:00) nor a span back from now (90s, 30m, 2h, 3d)")
    })?;
    u64::try_from(t.as_millisecond()).map_err(|_| format!("`{s}` is before 1970"))
}

/// Unix milliseconds as RFC 3339 to the second: in UTC (`Z`), or in the system's zone with its
/// offset.
pub fn format_time(ms: u64, utc: bool) -> String {
    let Ok(t) = i64::try_from(ms)
        .map_err(drop)
        .and_then(|m| Timestamp::from_millisecond(m).map_err(drop))
    else {
        return format!("{ms} ms");
    };
    let t = t.round(jiff::Unit::Second).unwrap_or(t);
    let zone = if utc {
        TimeZone::UTC
    } else {
        TimeZone::try_system().unwrap_or(TimeZone::UTC)
    };
    let offset = zone.to_offset(t);
    if offset == jiff::tz::Offset::UTC {
        t.to_string()
    } else {
        t.display_with_offset(offset).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_349_600_000; // 2026-11-22T12:13:20Z

    #[test]
    fn rfc3339_with_any_offset_and_spans_back_from_now() {
        assert_eq!(parse_time("2026-11-22T12:13:20Z", 0), Ok(NOW));
        assert_eq!(parse_time("2026-11-22T13:13:20+01:00", 0), Ok(NOW));
        assert_eq!(parse_time("2026-11-22T12:13:20.250Z", 0), Ok(NOW + 250));
        assert_eq!(parse_time("2h", NOW), Ok(NOW - 7_200_000));
        assert_eq!(parse_time("3d", NOW), Ok(NOW - 3 * 86_400_000));
        assert_eq!(parse_time("90s", 1_000), Ok(0), "not before 1970");
    }

    #[test]
    fn unix_milliseconds_and_nonsense_are_refused_with_the_forms() {
        for bad in [
            "1795349600000",
            "2026-11-22",
            "yesterday",
            "2h ago",
            "0h",
            "-2h",
            "",
        ] {
            let e = parse_time(bad, NOW).expect_err(bad);
            assert!(e.contains("RFC 3339") && e.contains("2h"), "{bad}: {e}");
        }
    }

    #[test]
    fn printed_in_utc_or_with_the_local_offset() {
        assert_eq!(format_time(NOW, true), "2026-11-22T12:13:20Z");
        assert_eq!(format_time(NOW + 499, true), "2026-11-22T12:13:20Z");
        // Whatever the local zone, the printed time reads back as the same instant.
        let local = format_time(NOW, false);
        assert_eq!(parse_time(&local, 0), Ok(NOW), "{local}");
    }
}
