//! Five-field cron expressions (minute, hour, day of month, month, day of week), read strictly,
//! and their next occurrence in a time zone.
//!
//! Each field is `*` or a comma-separated list of `N`, `A-B`, `*/S` or `A-B/S`. Day of week is
//! 0–7 (0 and 7 are Sunday). As in Vixie cron, when both day fields are restricted a day matches
//! if either does. Names (`MON`, `JAN`) and the `@daily` forms are not taken: one spelling each,
//! in what is signed and logged. [`canonical`] turns what a crontab line may say into that
//! spelling, for the client that builds the statement.
//!
//! Occurrences are wall-clock times in the zone. A time that a daylight-saving change skips is
//! taken as the same wall time after the change (02:30 on a night that jumps from 02:00 to 03:00
//! is 03:30); a time that a change repeats is taken once, at its first occurrence.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Disambiguation, TimeZone};
use jiff::{Timestamp, ToSpan as _};

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Not five fields separated by single spaces.
    #[error("a schedule is five fields (minute hour day-of-month month day-of-week), found {0}")]
    Fields(usize),
    /// A field that does not parse or is out of its range.
    #[error("{field} field {value:?}: {why}")]
    Field {
        /// Which field.
        field: &'static str,
        /// What it said.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A schedule that names no time at all (for example the 31st of February).
    #[error("the schedule names no time in the next five years")]
    Never,
}

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const FIELDS: [(&str, u8, u8); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

/// How far ahead an occurrence is looked for.
const HORIZON_DAYS: i32 = 5 * 366;

impl Cron {
    /// Reads a five-field expression.
    pub fn parse(s: &str) -> Result<Cron, CronError> {
        let parts: Vec<&str> = s.split(' ').collect();
        if parts.len() != 5 {
            return Err(CronError::Fields(parts.len()));
        }
        let mut bits = [0u64; 5];
        for (i, (part, &(field, lo, hi))) in parts.iter().zip(&FIELDS).enumerate() {
            bits[i] = field_bits(part, lo, hi).map_err(|why| CronError::Field {
                field,
                value: part.chars().take(32).collect(),
                why,
            })?;
        }
        // Sunday is 0 and 7.
        let weekdays = (bits[4] | (bits[4] >> 7)) & 0x7f;
        let cron = Cron {
            minutes: bits[0],
            hours: bits[1] as u32,
            days: bits[2] as u32,
            months: bits[3] as u16,
            weekdays: weekdays as u8,
            days_restricted: parts[2] != "*",
            weekdays_restricted: parts[4] != "*",
        };
        if !(0..HORIZON_DAYS).any(|d| {
            Date::new(2028, 1, 1)
                .ok()
                .and_then(|base| base.checked_add(d.days()).ok())
                .is_some_and(|day| cron.day_matches(day))
        }) {
            return Err(CronError::Never);
        }
        Ok(cron)
    }

    fn day_matches(&self, d: Date) -> bool {
        if self.months & (1 << d.month()) == 0 {
            return false;
        }
        let dom = self.days & (1 << d.day()) != 0;
        let dow = self.weekdays & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first occurrence strictly after `t` in `tz`; `None` if there is none within five years.
    pub fn next_after(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        // From the day before (a skipped wall time of that day can land after t).
        let start = t.to_zoned(tz.clone()).date().checked_sub(1.day()).ok()?;
        for d in 0..HORIZON_DAYS {
            let day = start.checked_add(d.days()).ok()?;
            if !self.day_matches(day) {
                continue;
            }
            for h in (0..24i8).filter(|h| self.hours & (1 << h) != 0) {
                for m in (0..60i8).filter(|m| self.minutes & (1 << m) != 0) {
                    let wall = DateTime::from_parts(day, Time::new(h, m, 0, 0).ok()?);
                    let at = tz
                        .to_ambiguous_zoned(wall)
                        .disambiguate(Disambiguation::Compatible)
                        .ok()?
                        .timestamp();
                    if at > t {
                        return Some(at);
                    }
                }
            }
        }
        None
    }
}

/// The `@` shorthands a crontab takes, as five fields (`@reboot` names no time and is refused).
const SHORTHANDS: [(&str, &str); 7] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// `s` in the one spelling a statement takes: an `@` shorthand (`@hourly`, `@daily` or
/// `@midnight`, `@weekly`, `@monthly`, `@yearly` or `@annually`) as its five fields; month and
/// weekday names (`JAN`–`DEC`, `SUN`–`SAT`, in any case, in lists and ranges too) as numbers;
/// fields separated by one space, whatever run of blanks a crontab line had. The result is
/// checked as [`Cron::parse`] checks it.
pub fn canonical(s: &str) -> Result<String, CronError> {
    let s = s.trim();
    let out = if s.starts_with('@') {
        SHORTHANDS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, fields)| (*fields).to_owned())
            .ok_or_else(|| CronError::Field {
                field: "shorthand",
                value: s.chars().take(32).collect(),
                why: "not one of @hourly @daily @midnight @weekly @monthly @yearly @annually",
            })?
    } else {
        let fields: Vec<&str> = s.split_ascii_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError::Fields(fields.len()));
        }
        let month = numbered(fields[3], &MONTHS, 1);
        let weekday = numbered(fields[4], &WEEKDAYS, 0);
        [fields[0], fields[1], fields[2], &month, &weekday].join(" ")
    };
    Cron::parse(&out)?;
    Ok(out)
}

/// `field` with every word that is one of `names` (in any case) replaced by its position plus
/// `first`; other words are left for [`Cron::parse`] to refuse.
fn numbered(field: &str, names: &[&str], first: usize) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while !rest.is_empty() {
        let word_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        if word_len == 0 {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let (word, after) = rest.split_at(word_len);
        match names.iter().position(|n| n.eq_ignore_ascii_case(word)) {
            Some(i) => out.push_str(&(i + first).to_string()),
            None => out.push_str(word),
        }
        rest = after;
    }
    out
}

/// The bits of one field.
fn field_bits(s: &str, lo: u8, hi: u8) -> Result<u64, &'static str> {
    let mut bits = 0u64;
    for item in s.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, st)) => (r, number(st)?),
            None => (item, 1),
        };
        if step == 0 {
            return Err("a step of 0");
        }
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (number(a)?, number(b)?)
        } else if item.contains('/') {
            return Err("a step needs * or a range before it");
        } else {
            let n = number(range)?;
            (n, n)
        };
        if a < lo || b > hi {
            return Err("out of range");
        }
        if a > b {
            return Err("a range that runs backwards");
        }
        for v in (a..=b).step_by(usize::from(step)) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

fn number(s: &str) -> Result<u8, &'static str> {
    if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a number");
    }
    s.parse().map_err(|_| "not a number")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone")
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn next(expr: &str, after: &str, zone: &str) -> String {
        Cron::parse(expr)
            .expect("parses")
            .next_after(at(after), &tz(zone))
            .expect("occurs")
            .to_string()
    }

    #[test]
    fn a_crontab_line_gets_its_one_spelling() {
        let c = |s: &str| canonical(s).expect(s);
        assert_eq!(c("@daily"), "0 0 * * *");
        assert_eq!(c("@MIDNIGHT"), "0 0 * * *");
        assert_eq!(c("@hourly"), "0 * * * *");
        assert_eq!(c("@weekly"), "0 0 * * 0");
        assert_eq!(c("@monthly"), "0 0 1 * *");
        assert_eq!(c("@annually"), c("@yearly"));
        assert_eq!(c("0 3 * * MON-FRI"), "0 3 * * 1-5");
        assert_eq!(c("0 3 * * sun,Sat"), "0 3 * * 0,6");
        assert_eq!(c("*/15 9-17 1 jan-MAR/2 *"), "*/15 9-17 1 1-3/2 *");
        assert_eq!(c("30\t2  * *   *"), "30 2 * * *");
        // What is already canonical stays as it is, byte for byte.
        assert_eq!(c("30 2 * * 1-5"), "30 2 * * 1-5");
        // The result is what the appliance reads, and means the same.
        assert_eq!(
            Cron::parse(&c("0 3 * * MON-FRI")),
            Cron::parse("0 3 * * 1-5")
        );
    }

    #[test]
    fn what_a_crontab_would_not_take_stays_refused() {
        for bad in [
            "@reboot",
            "@every 5m",
            "0 3 * * MONDAY",
            "0 3 * JAN MON-XYZ",
            "0 3 * * MAR",
            "0 3 jan * *",
            "0 3 * *",
            "0 3 31 FEB *",
        ] {
            assert!(canonical(bad).is_err(), "{bad} was taken");
        }
        assert!(matches!(
            canonical("@reboot"),
            Err(CronError::Field {
                field: "shorthand",
                ..
            })
        ));
    }

    #[test]
    fn fields_lists_ranges_and_steps() {
        assert_eq!(
            next("*/15 * * * *", "2026-01-05T10:07:00Z", "UTC"),
            "2026-01-05T10:15:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * *", "2026-01-05T10:00:00Z", "UTC"),
            "2026-01-05T13:00:00Z"
        );
        assert_eq!(
            next("5,35 * * * *", "2026-01-05T10:35:00Z", "UTC"),
            "2026-01-05T11:05:00Z"
        );
        // 2026-01-05 is a Monday; Sunday as 7 and as 0.
        assert_eq!(
            next("0 0 * * 7", "2026-01-05T00:00:00Z", "UTC"),
            "2026-01-11T00:00:00Z"
        );
        assert_eq!(
            next("0 0 * * 0", "2026-01-05T00:00:00Z", "UTC"),
            "2026-01-11T00:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-01-05T00:00:00Z", "UTC"),
            "2028-02-29T00:00:00Z"
        );
    }

    #[test]
    fn both_day_fields_restricted_match_either() {
        // The 20th, or any Friday: Friday 2026-01-09 comes first.
        assert_eq!(
            next("0 12 20 * 5", "2026-01-05T00:00:00Z", "UTC"),
            "2026-01-09T12:00:00Z"
        );
        // Only day-of-month restricted: the 20th.
        assert_eq!(
            next("0 12 20 * *", "2026-01-05T00:00:00Z", "UTC"),
            "2026-01-20T12:00:00Z"
        );
    }

    #[test]
    fn a_zone_is_followed_across_daylight_saving_changes() {
        // Berlin jumps from 02:00 to 03:00 on 2026-03-29: 02:30 that night is 03:30 CEST.
        assert_eq!(
            next("30 2 * * *", "2026-03-28T02:00:00Z", "Europe/Berlin"),
            "2026-03-29T01:30:00Z"
        );
        // The day before and after, 02:30 is 02:30.
        assert_eq!(
            next("30 2 * * *", "2026-03-27T02:00:00Z", "Europe/Berlin"),
            "2026-03-28T01:30:00Z"
        );
        assert_eq!(
            next("30 2 * * *", "2026-03-29T02:00:00Z", "Europe/Berlin"),
            "2026-03-30T00:30:00Z"
        );
        // On 2026-10-25 02:30 happens twice (CEST, then CET): taken once, at the first.
        let first = next("30 2 * * *", "2026-10-24T12:00:00Z", "Europe/Berlin");
        assert_eq!(first, "2026-10-25T00:30:00Z");
        assert_eq!(
            next("30 2 * * *", &first, "Europe/Berlin"),
            "2026-10-26T01:30:00Z",
            "not again an hour later"
        );
        // New York, 09:00 every day: 14:00 UTC in winter, 13:00 UTC after 2026-03-08.
        assert_eq!(
            next("0 9 * * *", "2026-03-07T15:00:00Z", "America/New_York"),
            "2026-03-08T13:00:00Z"
        );
        assert_eq!(
            next("0 9 * * *", "2026-03-06T15:00:00Z", "America/New_York"),
            "2026-03-07T14:00:00Z"
        );
    }

    #[test]
    fn refusals_name_the_field() {
        for (expr, want) in [
            ("* * * *", "five fields"),
            ("*  * * * *", "five fields"),
            ("60 * * * *", "minute field"),
            ("* 24 * * *", "hour field"),
            ("* * 0 * *", "day-of-month field"),
            ("* * * 13 *", "month field"),
            ("* * * * 8", "day-of-week field"),
            ("*/0 * * * *", "a step of 0"),
            ("5/2 * * * *", "a step needs"),
            ("10-5 * * * *", "backwards"),
            ("a * * * *", "not a number"),
            ("* * * JAN *", "not a number"),
            ("-1 * * * *", "not a number"),
            ("0 0 31 2 *", "no time"),
        ] {
            let e = Cron::parse(expr).expect_err(expr).to_string();
            assert!(e.contains(want), "{expr}: {e}");
        }
    }
}
