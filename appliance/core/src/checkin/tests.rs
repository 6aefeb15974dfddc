use super::*;

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;

fn headers<'a>(h: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
    move |k| h.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
}

fn spec(h: &[(&str, &str)]) -> CheckIn {
    CheckIn::from_headers(headers(h)).expect("valid check-in")
}

fn refusal(h: &[(&str, &str)]) -> String {
    CheckIn::from_headers(headers(h))
        .expect_err("refused")
        .to_string()
}

fn ms(s: &str) -> u64 {
    s.parse::<Timestamp>().expect("time").as_millisecond() as u64
}

#[test]
fn durations_are_strict() {
    for (s, want) in [
        ("90s", 90),
        ("15m", 900),
        ("1h30m", 5400),
        ("1d", 86_400),
        ("2w", 1_209_600),
        ("1w1d1h1m1s", 694_861),
        ("366d", 366 * 86_400),
    ] {
        assert_eq!(duration_secs(s), Ok(want), "{s}");
    }
    for s in [
        "", "1", "h", "1x", "1m1h", "1h1h", "0s", "367d", " 1h", "1h ", "1.5h", "-1h", "1234567s",
        "1H",
    ] {
        assert!(duration_secs(s).is_err(), "{s:?} was taken");
    }
}

#[test]
fn headers_have_defaults_and_refusals() {
    let c = spec(&[("check", "backup"), ("every", "1d")]);
    assert_eq!(c.schedule, Schedule::Every(86_400));
    assert_eq!(
        (c.status, c.severity, c.title.as_str(), c.grace, c.exit),
        (Status::Ok, Severity::Critical, "backup", None, None)
    );
    let c = spec(&[
        ("check", "db.dump"),
        ("schedule", "30 2 * * *"),
        ("tz", "Europe/Berlin"),
        ("grace", "1h"),
        ("status", "fail"),
        ("exit", "-2"),
        ("severity", "warning"),
        ("title", "Nightly dump"),
    ]);
    assert!(matches!(&c.schedule, Schedule::Cron { zone, .. } if zone == "Europe/Berlin"));
    assert_eq!(
        (c.status, c.severity, c.title.as_str(), c.grace, c.exit),
        (
            Status::Fail,
            Severity::Warning,
            "Nightly dump",
            Some(3600),
            Some(-2)
        )
    );
    for (h, want) in [
        (vec![("every", "1d")], "check is required"),
        (vec![("check", "Backup"), ("every", "1d")], "header check"),
        (vec![("check", "b")], "every or schedule is required"),
        (
            vec![("check", "b"), ("every", "1d"), ("schedule", "* * * * *")],
            "not both",
        ),
        (
            vec![("check", "b"), ("every", "1d"), ("tz", "UTC")],
            "tz goes with schedule",
        ),
        (vec![("check", "b"), ("every", "30s")], "at least 1m"),
        (
            vec![("check", "b"), ("schedule", "* * * *")],
            "header schedule",
        ),
        (
            vec![
                ("check", "b"),
                ("schedule", "0 0 * * *"),
                ("tz", "Mars/Olympus"),
            ],
            "header tz",
        ),
        (
            vec![("check", "b"), ("every", "1d"), ("grace", "5s")],
            "at least 10s",
        ),
        (
            vec![("check", "b"), ("every", "1d"), ("status", "done")],
            "start, ok or fail",
        ),
        (
            vec![("check", "b"), ("every", "1d"), ("exit", "1.0")],
            "header exit",
        ),
        (
            vec![("check", "b"), ("every", "1d"), ("exit", "007")],
            "header exit",
        ),
        (
            vec![("check", "b"), ("every", "1d"), ("exit", "99999999999")],
            "header exit",
        ),
        (
            vec![("check", "b"), ("every", "1d"), ("severity", "info")],
            "warning or critical",
        ),
        (
            vec![("check", "b"), ("every", "1d"), ("title", "")],
            "header title",
        ),
    ] {
        let e = refusal(&h);
        assert!(e.contains(want), "{h:?}: {e}");
    }
    let long = "x".repeat(65);
    assert!(refusal(&[("check", "b"), ("every", "1d"), ("title", &long)]).contains("title"));
}

fn every(check: &str, period: &str, status: &str) -> CheckIn {
    spec(&[("check", check), ("every", period), ("status", status)])
}

#[test]
fn a_period_with_its_default_grace() {
    let mut c = Checks::default();
    let t0 = ms("2026-06-01T00:00:00Z");
    c.checkin(1, t0, "nas", every("backup", "1h", "ok"));
    // Deadline t0 + 1h, grace 6 min (a tenth of the period).
    assert_eq!(c.next_due_ms(), Some(t0 + HOUR + 6 * MIN));
    assert!(
        c.due(t0 + HOUR + 6 * MIN).is_empty(),
        "not at the second itself"
    );
    let due = c.due(t0 + HOUR + 6 * MIN + 1);
    assert_eq!(
        due,
        vec![Miss {
            signer: "nas".into(),
            check: "backup".into(),
            deadline_ms: t0 + HOUR,
            last: 1,
            reason: MissReason::Late,
        }]
    );
    // A check-in in time moves the deadline on.
    c.checkin(2, t0 + 50 * MIN, "nas", every("backup", "1h", "ok"));
    assert!(c.due(t0 + HOUR + 7 * MIN).is_empty());
    assert_eq!(
        c.get("nas", "backup").expect("check").deadline_ms(),
        Some(t0 + 110 * MIN)
    );
}

#[test]
fn the_grace_given_and_the_least_grace() {
    let mut c = Checks::default();
    let t0 = ms("2026-06-01T00:00:00Z");
    c.checkin(
        1,
        t0,
        "nas",
        spec(&[("check", "a"), ("every", "1h"), ("grace", "20m")]),
    );
    c.checkin(2, t0, "nas", every("b", "1m", "ok"));
    let a = c.get("nas", "a").expect("a").due_at().expect("due");
    let b = c.get("nas", "b").expect("b").due_at().expect("due");
    assert_eq!(a.0, t0 + HOUR + 20 * MIN);
    assert_eq!(b.0, t0 + MIN + 10_000, "a tenth of 1m is below 10 s: 10 s");
}

#[test]
fn a_start_without_an_end_is_missed_as_unfinished() {
    let mut c = Checks::default();
    let t0 = ms("2026-06-01T00:00:00Z");
    c.checkin(1, t0, "nas", every("backup", "1d", "ok"));
    let s = t0 + 23 * HOUR;
    c.checkin(2, s, "nas", every("backup", "1d", "start"));
    // Grace is 2.4 h, counted from the start.
    let grace = 86_400_000 / 10;
    assert!(c.due(s + grace).is_empty());
    let due = c.due(s + grace + 1);
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].reason, due[0].deadline_ms, due[0].last),
        (MissReason::Unfinished, s + grace, 2)
    );
    // Finishing in time instead: nothing due, and the base moves to the finish.
    let mut c2 = Checks::default();
    c2.checkin(1, t0, "nas", every("backup", "1d", "ok"));
    c2.checkin(2, s, "nas", every("backup", "1d", "start"));
    c2.checkin(3, s + HOUR, "nas", every("backup", "1d", "ok"));
    assert!(c2.due(s + grace + 1).is_empty());
    assert_eq!(c2.get("nas", "backup").expect("c").base_ms, s + HOUR);
}

#[test]
fn a_failure_shows_at_once_and_an_ok_resolves_it_and_a_miss() {
    let mut c = Checks::default();
    let t0 = ms("2026-06-01T00:00:00Z");
    c.checkin(1, t0, "nas", every("backup", "1h", "fail"));
    let shown: Vec<_> = c.active().collect();
    assert_eq!(shown.len(), 1);
    assert_eq!((shown[0].index, shown[0].missed), (1, false));
    // Then it goes quiet: a miss is recorded and becomes what is shown.
    assert_eq!(c.due(t0 + 2 * HOUR).len(), 1);
    c.missed(2, "nas", "backup");
    let shown: Vec<_> = c.active().collect();
    assert_eq!((shown[0].index, shown[0].missed), (2, true));
    assert!(c.due(t0 + 30 * HOUR).is_empty(), "reported once");
    // A start does not resolve it; an ok does.
    c.checkin(3, t0 + 31 * HOUR, "nas", every("backup", "1h", "start"));
    assert_eq!(c.active().count(), 1);
    c.checkin(4, t0 + 31 * HOUR + MIN, "nas", every("backup", "1h", "ok"));
    assert_eq!(c.active().count(), 0);
}

#[test]
fn a_pause_holds_misses_until_the_next_check_in_and_a_deletion_forgets() {
    let mut c = Checks::default();
    let t0 = ms("2026-06-01T00:00:00Z");
    c.checkin(1, t0, "nas", every("backup", "1h", "ok"));
    c.checkin(2, t0, "web", every("backup", "1h", "ok"));
    c.pause("nas", "backup");
    let due = c.due(t0 + 5 * HOUR);
    assert_eq!(due.len(), 1, "only web's: {due:?}");
    assert_eq!(due[0].signer, "web");
    c.checkin(3, t0 + 6 * HOUR, "nas", every("backup", "1h", "ok"));
    assert_eq!(
        c.due(t0 + 8 * HOUR).len(),
        2,
        "the check-in ended the pause"
    );
    c.delete("web", "backup");
    assert!(c.get("web", "backup").is_none());
    assert_eq!(c.due(t0 + 8 * HOUR).len(), 1);
    assert_eq!(c.len(), 1);
}

#[test]
fn a_schedule_across_a_daylight_saving_change() {
    let mut c = Checks::default();
    let h = [
        ("check", "dump"),
        ("schedule", "30 2 * * *"),
        ("tz", "Europe/Berlin"),
        ("grace", "15m"),
    ];
    // It ran at 02:31 CET on 2026-03-28; the next 02:30 does not exist (clocks jump to
    // 03:00): due 03:30 CEST = 01:30 UTC, missed after 01:45 UTC.
    let ran = ms("2026-03-28T01:31:00Z");
    c.checkin(1, ran, "nas", spec(&h));
    assert_eq!(
        c.get("nas", "dump").expect("c").deadline_ms(),
        Some(ms("2026-03-29T01:30:00Z"))
    );
    assert!(c.due(ms("2026-03-29T01:45:00Z")).is_empty());
    assert_eq!(c.due(ms("2026-03-29T01:45:01Z")).len(), 1);
    // Checking in at 03:35 CEST: the next is 02:30 CEST on the 30th = 00:30 UTC.
    c.checkin(2, ms("2026-03-29T01:35:00Z"), "nas", spec(&h));
    assert_eq!(c.next_due_ms(), Some(ms("2026-03-30T00:45:00Z")));
}

#[test]
fn a_default_grace_on_a_schedule_is_a_tenth_of_its_period() {
    let mut c = Checks::default();
    c.checkin(
        1,
        ms("2026-06-01T00:00:00Z"),
        "nas",
        spec(&[("check", "q"), ("schedule", "0 */6 * * *")]),
    );
    // Deadline 06:00, period 6 h, grace 36 min.
    assert_eq!(c.next_due_ms(), Some(ms("2026-06-01T06:36:00Z")));
}

/// The daemon's loop, modelled: at each tick, misses due are recorded as entries (the log),
/// folded back in. Check-ins come from `script` at their times.
fn run(script: &[(u64, &str, CheckIn)], ticks: impl Iterator<Item = u64>) -> Vec<Event> {
    let mut log = Vec::new();
    let mut checks = Checks::default();
    let mut pending = script.iter().peekable();
    for now in ticks {
        while let Some((at, signer, c)) = pending.next_if(|(at, ..)| *at <= now) {
            let index = log.len() as u64;
            checks.checkin(index, *at, signer, c.clone());
            log.push(Event::CheckIn(*at, signer.to_string(), c.clone()));
        }
        for m in checks.due(now) {
            let index = log.len() as u64;
            checks.missed(index, &m.signer, &m.check);
            log.push(Event::Missed(now, m));
        }
    }
    log
}

#[derive(Debug, Clone)]
enum Event {
    CheckIn(u64, String, CheckIn),
    Missed(u64, Miss),
}

fn fold(log: &[Event]) -> Checks {
    let mut c = Checks::default();
    for (i, e) in log.iter().enumerate() {
        match e {
            Event::CheckIn(at, signer, ci) => c.checkin(i as u64, *at, signer, ci.clone()),
            Event::Missed(_, m) => c.missed(i as u64, &m.signer, &m.check),
        }
    }
    c
}

#[test]
fn replaying_the_log_gives_the_same_verdicts() {
    let t0 = ms("2026-03-27T00:00:00Z");
    let berlin = spec(&[
        ("check", "dump"),
        ("schedule", "30 2 * * *"),
        ("tz", "Europe/Berlin"),
    ]);
    let script = vec![
        (t0, "nas", every("backup", "2h", "ok")),
        (t0, "nas", berlin.clone()),
        (t0 + HOUR, "web", every("ping", "10m", "ok")),
        (t0 + HOUR + 50 * MIN, "nas", every("backup", "2h", "start")),
        (t0 + 30 * HOUR, "nas", every("backup", "2h", "ok")),
        (t0 + 31 * HOUR, "web", every("ping", "10m", "fail")),
        (t0 + 50 * HOUR, "nas", berlin),
    ];
    let log = run(&script, (0..80 * 60).map(|m| t0 + m * MIN));
    let misses: Vec<(usize, u64, Miss)> = log
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::Missed(at, m) => Some((i, *at, m.clone())),
            Event::CheckIn(..) => None,
        })
        .collect();
    assert!(
        misses.len() >= 4,
        "the script misses several times: {misses:?}"
    );
    assert!(misses.iter().any(|m| m.2.reason == MissReason::Unfinished));
    for (i, at, m) in &misses {
        // The log before the miss, folded from scratch, gives that miss at that time, and
        // nothing else that was not recorded at the same tick.
        let mut before = fold(&log[..*i]);
        let due = before.due(*at);
        assert!(due.contains(m), "entry {i}: {m:?} not in {due:?}");
        // And with it folded in, it is not due again.
        let mut after = fold(&log[..=*i]);
        assert!(!after.due(*at).contains(m));
    }
    // The whole log, folded, has nothing due that the loop did not record.
    assert!(fold(&log).due(t0 + 80 * HOUR - MIN).is_empty());
}

#[test]
fn a_deadline_passed_while_off_is_reported_once() {
    let t0 = ms("2026-06-01T00:00:00Z");
    let script = vec![(t0, "nas", every("backup", "1h", "ok"))];
    // On for the first 30 minutes, off, on again 10 hours later.
    let ticks = (0..30).chain(600..700).map(|m| t0 + m * MIN);
    let log = run(&script, ticks);
    let misses: Vec<&Miss> = log
        .iter()
        .filter_map(|e| match e {
            Event::Missed(_, m) => Some(m),
            Event::CheckIn(..) => None,
        })
        .collect();
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert_eq!(
        misses[0].deadline_ms,
        t0 + HOUR,
        "the first deadline it missed"
    );
}

/// What the index answers, found the slow way: every check's due time, scanned.
fn due_by_scan(c: &Checks, now_ms: u64) -> (Vec<Miss>, Option<u64>) {
    let due = c
        .checks
        .iter()
        .filter_map(|(key, c)| {
            miss_of(key, c)
                .filter(|(at, _)| now_ms > *at)
                .map(|(_, m)| m)
        })
        .collect();
    let next = c
        .checks
        .values()
        .filter_map(|c| c.due_at().map(|d| d.0))
        .min();
    (due, next)
}

#[test]
fn the_due_index_answers_as_a_scan_of_every_check_would() {
    // A fixed pseudo-random walk (xorshift) of check-ins, misses, pauses and deletions over a
    // few signers and checks, with periods and cron schedules; after each step, and with looks
    // skipped at random (so changes pile up between looks), the index agrees with a scan.
    let t0 = ms("2026-03-28T00:00:00Z");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let specs = [
        ("every", "10m", ""),
        ("every", "1h", ""),
        ("schedule", "*/15 * * * *", "UTC"),
        ("schedule", "30 2 * * *", "Europe/Berlin"),
    ];
    let statuses = ["ok", "ok", "start", "fail"];
    let mut c = Checks::default();
    let mut now = t0;
    let mut looks = 0;
    for index in 0..3_000u64 {
        now += next(20) * MIN;
        let signer = ["nas", "web", "db"][next(3) as usize];
        let check = ["backup", "dump", "ping", "sync"][next(4) as usize];
        match next(10) {
            0..=5 => {
                let (field, value, tz) = specs[next(4) as usize];
                let status = statuses[next(4) as usize];
                let mut h = vec![("check", check), (field, value), ("status", status)];
                if !tz.is_empty() {
                    h.push(("tz", tz));
                }
                c.checkin(index, now, signer, spec(&h));
            }
            6 | 7 => c.missed(index, signer, check),
            8 => c.pause(signer, check),
            _ => c.delete(signer, check),
        }
        if next(3) == 0 {
            continue;
        }
        looks += 1;
        let (want, want_next) = due_by_scan(&c, now);
        assert_eq!(c.due(now), want, "step {index}");
        assert_eq!(c.next_due_ms(), want_next, "step {index}");
    }
    assert!(looks > 1_000);
}
