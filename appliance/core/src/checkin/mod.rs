//! Check-ins (issue 13): a job checks in; silence past its deadline is the alert.
//!
//! This module is the pure part: a check-in's headers read strictly ([`CheckIn`]), durations,
//! five-field cron schedules in an IANA zone ([`Cron`]), and the fold of check-ins, recorded
//! misses, pauses and deletions into each check's state ([`Checks`]), from which
//! [`Checks::due`] gives the misses to record at a time and [`Checks::active`] the checks to
//! show as alerts. Time is a parameter (unix milliseconds of the appliance clock), so a replay
//! of the log gives the same verdicts; zone rules come from the time-zone database built into
//! vigild (the appliance image has none of its own), so they do not depend on the machine.
//!
//! Not reachable yet: the statement types (`checkin/v1`, `missed/v1`), vigild's task that
//! records misses and the display's check alerts build on this (issue 13).
//!
//! Semantics:
//! - A check's base is the time of its last finished check-in (`ok` or `fail`), or of its first
//!   check-in of any kind. Its deadline is base + `every`, or the schedule's first time after
//!   base. It is missed (`late`) once the deadline plus grace has passed.
//! - A `start` not followed by `ok` or `fail` within grace is missed (`unfinished`); while a
//!   job has started, that is the only deadline (it is given grace from its start).
//! - A `fail` shows at once; a miss shows once recorded; both until the next `ok`.
//! - After a recorded miss, no other miss is due until the check checks in again: a deadline
//!   that passed while the appliance was off is reported once, naming the first one missed.
//! - A pause stops misses until the check's next check-in; a deletion forgets the check until
//!   it checks in again.

mod cron;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::tz::TimeZone;

pub use cron::{Cron, CronError, canonical as canonical_schedule};

use crate::Severity;
use crate::statement::valid_name;

/// Shortest `every`.
pub const MIN_EVERY_SECS: u64 = 60;
/// Shortest grace.
pub const MIN_GRACE_SECS: u64 = 10;
/// Longest duration of any header (a year).
pub const MAX_DURATION_SECS: u64 = 366 * 86_400;
/// Longest check-in title in characters.
pub const MAX_TITLE_CHARS: usize = 64;

/// Why a check-in's headers were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckinError {
    /// A required header is missing.
    #[error("header {0} is required")]
    Missing(&'static str),
    /// A header's value is not valid.
    #[error("header {name}: {why}")]
    Invalid {
        /// The header.
        name: &'static str,
        /// What is wrong.
        why: String,
    },
    /// `every` and `schedule` together (or `tz` without `schedule`).
    #[error("{0}")]
    Conflict(&'static str),
}

fn invalid(name: &'static str, why: impl Into<String>) -> CheckinError {
    CheckinError::Invalid {
        name,
        why: why.into(),
    }
}

/// What a check-in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The job started.
    Start,
    /// The job finished well.
    Ok,
    /// The job failed.
    Fail,
}

impl Status {
    /// The header value.
    pub fn name(self) -> &'static str {
        match self {
            Status::Start => "start",
            Status::Ok => "ok",
            Status::Fail => "fail",
        }
    }
}

/// When a check is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// At most this many seconds after the last finished check-in.
    Every(u64),
    /// At the schedule's times in the zone.
    Cron {
        /// The schedule.
        cron: Cron,
        /// Its zone.
        tz: TimeZone,
        /// The zone's name as the check-in gave it.
        zone: String,
    },
}

impl Schedule {
    /// The deadline after `base`.
    pub fn after(&self, base: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every(s) => base
                .checked_add(jiff::SignedDuration::from_secs(*s as i64))
                .ok(),
            Schedule::Cron { cron, tz, .. } => cron.next_after(base, tz),
        }
    }
}

/// A check-in's headers, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    /// The check's name.
    pub check: String,
    /// When it is expected.
    pub schedule: Schedule,
    /// The grace given, if any (else a tenth of the period, at least [`MIN_GRACE_SECS`]).
    pub grace: Option<u64>,
    /// What it reports.
    pub status: Status,
    /// The job's exit code, if given.
    pub exit: Option<i32>,
    /// The severity of the alert a miss or failure shows.
    pub severity: Severity,
    /// The alert's title.
    pub title: String,
}

impl CheckIn {
    /// Reads a check-in's headers (`get` answers a header's value).
    pub fn from_headers<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<CheckIn, CheckinError> {
        let check = get("check").ok_or(CheckinError::Missing("check"))?;
        if !valid_name(check) {
            return Err(invalid("check", "not a name (a-z 0-9 . _ @ -, at most 64)"));
        }
        let schedule = match (get("every"), get("schedule"), get("tz")) {
            (Some(_), Some(_), _) => {
                return Err(CheckinError::Conflict(
                    "give either every or schedule, not both",
                ));
            }
            (None, None, _) => return Err(CheckinError::Missing("every or schedule")),
            (Some(_), None, Some(_)) => {
                return Err(CheckinError::Conflict("tz goes with schedule only"));
            }
            (Some(every), None, None) => {
                let s = duration_secs(every).map_err(|why| invalid("every", why))?;
                if s < MIN_EVERY_SECS {
                    return Err(invalid("every", "at least 1m"));
                }
                Schedule::Every(s)
            }
            (None, Some(expr), tz) => {
                let cron = Cron::parse(expr).map_err(|e| invalid("schedule", e.to_string()))?;
                let zone = tz.unwrap_or("UTC");
                let tz = TimeZone::get(zone)
                    .map_err(|_| invalid("tz", "not a time zone of the IANA database"))?;
                Schedule::Cron {
                    cron,
                    tz,
                    zone: zone.to_owned(),
                }
            }
        };
        let grace = get("grace")
            .map(|g| {
                let s = duration_secs(g).map_err(|why| invalid("grace", why))?;
                if s < MIN_GRACE_SECS {
                    return Err(invalid("grace", "at least 10s"));
                }
                Ok(s)
            })
            .transpose()?;
        let status = match get("status").unwrap_or("ok") {
            "start" => Status::Start,
            "ok" => Status::Ok,
            "fail" => Status::Fail,
            _ => return Err(invalid("status", "start, ok or fail")),
        };
        let exit = get("exit")
            .map(|e| {
                let digits = e.strip_prefix('-').unwrap_or(e);
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || (digits.len() > 1 && digits.starts_with('0'))
                {
                    return Err(invalid("exit", "an integer"));
                }
                e.parse::<i32>().map_err(|_| invalid("exit", "an integer"))
            })
            .transpose()?;
        let severity = match get("severity").unwrap_or("critical") {
            "warning" => Severity::Warning,
            "critical" => Severity::Critical,
            _ => return Err(invalid("severity", "warning or critical")),
        };
        let title = match get("title") {
            None => check.to_owned(),
            Some(t) => {
                let n = t.chars().count();
                if n == 0 || n > MAX_TITLE_CHARS || t.chars().any(char::is_control) {
                    return Err(invalid(
                        "title",
                        "1 to 64 characters, no control characters",
                    ));
                }
                t.to_owned()
            }
        };
        Ok(CheckIn {
            check: check.to_owned(),
            schedule,
            grace,
            status,
            exit,
            severity,
            title,
        })
    }
}

/// Reads a duration: one or more of `<digits><unit>`, units `w d h m s` in that order, each at
/// most once (`90s`, `1h30m`, `2w`), at most [`MAX_DURATION_SECS`]. Seconds.
pub fn duration_secs(s: &str) -> Result<u64, &'static str> {
    const UNITS: [(u8, u64); 5] = [
        (b'w', 604_800),
        (b'd', 86_400),
        (b'h', 3_600),
        (b'm', 60),
        (b's', 1),
    ];
    let b = s.as_bytes();
    let (mut i, mut total, mut next_unit) = (0, 0u64, 0);
    if b.is_empty() {
        return Err("a duration such as 90s, 15m, 1h30m or 1d");
    }
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 6 || i == b.len() {
            return Err("a duration such as 90s, 15m, 1h30m or 1d");
        }
        let n: u64 = s[start..i].parse().map_err(|_| "not a number")?;
        let Some(u) = UNITS[next_unit..].iter().position(|(c, _)| *c == b[i]) else {
            return Err("units are w d h m s, largest first, each once");
        };
        next_unit += u + 1;
        total = total.saturating_add(n.saturating_mul(UNITS[next_unit - 1].1));
        i += 1;
    }
    if total == 0 || total > MAX_DURATION_SECS {
        return Err("more than 0 and at most 366d");
    }
    Ok(total)
}

/// A unix time in milliseconds as RFC 3339 in UTC, to the second (`2026-06-01T02:30:00Z`).
pub fn rfc3339(ms: u64) -> String {
    Timestamp::from_second((ms / 1000) as i64)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| format!("{} s", ms / 1000))
}

/// Why a miss is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissReason {
    /// No check-in by the deadline plus grace.
    Late,
    /// Started, and neither `ok` nor `fail` within grace.
    Unfinished,
}

impl MissReason {
    /// The header value.
    pub fn name(self) -> &'static str {
        match self {
            MissReason::Late => "late",
            MissReason::Unfinished => "unfinished",
        }
    }
}

/// A miss to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// The signer of the check's check-ins.
    pub signer: String,
    /// The check.
    pub check: String,
    /// The deadline it missed (for `unfinished`: the start plus grace), unix ms.
    pub deadline_ms: u64,
    /// The index of the check's last check-in.
    pub last: u64,
    /// Why.
    pub reason: MissReason,
}

/// One check's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The latest check-in's headers (its schedule is the one in force).
    pub spec: CheckIn,
    /// The base the deadline counts from, unix ms.
    pub base_ms: u64,
    /// The index of the last check-in.
    pub last: u64,
    /// A `start` since the last finished check-in: (index, unix ms).
    pub started: Option<(u64, u64)>,
    /// A `fail` since the last `ok`.
    pub failed: Option<u64>,
    /// A recorded miss since the last `ok`.
    pub missed: Option<u64>,
    /// A miss was recorded since the last check-in: no other is due until the next.
    pub reported: bool,
    /// Paused until the next check-in.
    pub paused: bool,
}

impl Check {
    /// The grace in force: the given one, or a tenth of the period after the deadline (at least
    /// [`MIN_GRACE_SECS`]), in ms.
    fn grace_ms(&self, deadline: Timestamp) -> u64 {
        let secs = self.spec.grace.unwrap_or_else(|| {
            let period = match &self.spec.schedule {
                Schedule::Every(s) => *s,
                Schedule::Cron { .. } => self
                    .spec
                    .schedule
                    .after(deadline)
                    .map_or(0, |n| (n.as_second() - deadline.as_second()).max(0) as u64),
            };
            (period / 10).max(MIN_GRACE_SECS)
        });
        secs * 1000
    }

    /// The regular deadline, unix ms.
    pub fn deadline_ms(&self) -> Option<u64> {
        let base = Timestamp::from_millisecond(self.base_ms as i64).ok()?;
        let d = self.spec.schedule.after(base)?;
        u64::try_from(d.as_millisecond()).ok()
    }

    /// When the check is next due to be missed, and why (`None` while paused or reported).
    pub fn due_at(&self) -> Option<(u64, u64, MissReason)> {
        if self.paused || self.reported {
            return None;
        }
        let deadline = self.deadline_ms()?;
        let ts = Timestamp::from_millisecond(deadline as i64).ok()?;
        let grace = self.grace_ms(ts);
        Some(match self.started {
            // A job that started is given grace from its start, whatever the deadline.
            Some((_, s)) => (
                s.saturating_add(grace),
                s.saturating_add(grace),
                MissReason::Unfinished,
            ),
            None => (deadline.saturating_add(grace), deadline, MissReason::Late),
        })
    }
}

/// A check's key: (signer, check name).
type Key = (String, String);

/// Every check, by (signer, check name), with an index of when each is next due to be missed
/// (derived: a check's due time depends only on its own state, so it is computed again only
/// when that changes, at the next look; a look costs O(log n) plus the checks it finds due).
#[derive(Debug, Clone, Default)]
pub struct Checks {
    checks: BTreeMap<Key, Check>,
    /// (due at, key) of every check that can be missed, earliest first.
    by_due: BTreeSet<(u64, Key)>,
    /// The time each check is in `by_due` under.
    indexed: HashMap<Key, u64>,
    /// Checks changed since `by_due` was last brought up to date.
    stale: BTreeSet<Key>,
}

impl PartialEq for Checks {
    /// The same checks (the index is derived from them).
    fn eq(&self, other: &Self) -> bool {
        self.checks == other.checks
    }
}

/// The miss `c` would be, and when it becomes due (`None` while it cannot be missed).
fn miss_of((signer, check): &Key, c: &Check) -> Option<(u64, Miss)> {
    let (at, deadline_ms, reason) = c.due_at()?;
    Some((
        at,
        Miss {
            signer: signer.clone(),
            check: check.clone(),
            deadline_ms,
            last: c.last,
            reason,
        },
    ))
}

/// A check shown as an alert: failed or missed since its last `ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCheck {
    /// The signer.
    pub signer: String,
    /// The check.
    pub check: String,
    /// The title.
    pub title: String,
    /// The severity.
    pub severity: Severity,
    /// The newest entry that made it active (a `fail` check-in or a `missed`).
    pub index: u64,
    /// True when that entry is a miss.
    pub missed: bool,
}

impl Checks {
    /// Folds a check-in logged at `index`, received at `at_ms`.
    pub fn checkin(&mut self, index: u64, at_ms: u64, signer: &str, c: CheckIn) {
        let key = (signer.to_owned(), c.check.clone());
        let status = c.status;
        self.stale.insert(key.clone());
        let check = self.checks.entry(key).or_insert_with(|| Check {
            spec: c.clone(),
            base_ms: at_ms,
            last: index,
            started: None,
            failed: None,
            missed: None,
            reported: false,
            paused: false,
        });
        check.spec = c;
        check.last = index;
        check.reported = false;
        check.paused = false;
        match status {
            Status::Start => check.started = Some((index, at_ms)),
            Status::Ok => {
                check.base_ms = at_ms;
                check.started = None;
                check.failed = None;
                check.missed = None;
            }
            Status::Fail => {
                check.base_ms = at_ms;
                check.started = None;
                check.failed = Some(index);
            }
        }
    }

    /// Folds a recorded miss (a `missed/v1` entry at `index`).
    pub fn missed(&mut self, index: u64, signer: &str, check: &str) {
        if let Some(c) = self.changing(signer, check) {
            c.missed = Some(index);
            c.reported = true;
        }
    }

    /// Folds a pause: no misses until the check's next check-in.
    pub fn pause(&mut self, signer: &str, check: &str) {
        if let Some(c) = self.changing(signer, check) {
            c.paused = true;
        }
    }

    /// Folds a deletion: the check is forgotten until it checks in again.
    pub fn delete(&mut self, signer: &str, check: &str) {
        let key = (signer.to_owned(), check.to_owned());
        self.checks.remove(&key);
        self.stale.insert(key);
    }

    /// The check, to be changed: its due time is computed again at the next look.
    fn changing(&mut self, signer: &str, check: &str) -> Option<&mut Check> {
        let key = (signer.to_owned(), check.to_owned());
        let c = self.checks.get_mut(&key)?;
        self.stale.insert(key);
        Some(c)
    }

    /// Brings the due index up to date with the checks changed since the last look.
    fn reindex(&mut self) {
        for key in std::mem::take(&mut self.stale) {
            if let Some(at) = self.indexed.remove(&key) {
                self.by_due.remove(&(at, key.clone()));
            }
            if let Some((at, _, _)) = self.checks.get(&key).and_then(Check::due_at) {
                self.by_due.insert((at, key.clone()));
                self.indexed.insert(key, at);
            }
        }
    }

    /// One check.
    pub fn get(&self, signer: &str, check: &str) -> Option<&Check> {
        self.checks.get(&(signer.to_owned(), check.to_owned()))
    }

    /// How many checks there are.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// The misses due at `now_ms`, one per check at most, in (signer, check) order.
    pub fn due(&mut self, now_ms: u64) -> Vec<Miss> {
        self.reindex();
        let mut due: Vec<Miss> = self
            .by_due
            .iter()
            .take_while(|(at, _)| now_ms > *at)
            .filter_map(|(_, key)| miss_of(key, self.checks.get(key)?).map(|(_, m)| m))
            .collect();
        due.sort_by(|a, b| (&a.signer, &a.check).cmp(&(&b.signer, &b.check)));
        due
    }

    /// The earliest time a miss becomes due, unix ms (when to look again).
    pub fn next_due_ms(&mut self) -> Option<u64> {
        self.reindex();
        self.by_due.first().map(|(at, _)| *at)
    }

    /// The checks to show as alerts.
    pub fn active(&self) -> impl Iterator<Item = ActiveCheck> + '_ {
        self.checks.iter().filter_map(|((signer, check), c)| {
            let (index, missed) = match (c.failed, c.missed) {
                (Some(f), Some(m)) => (f.max(m), m > f),
                (Some(f), None) => (f, false),
                (None, Some(m)) => (m, true),
                (None, None) => return None,
            };
            Some(ActiveCheck {
                signer: signer.clone(),
                check: check.clone(),
                title: c.spec.title.clone(),
                severity: c.spec.severity,
                index,
                missed,
            })
        })
    }
}

#[cfg(test)]
mod tests;
