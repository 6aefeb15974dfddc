//! The display projection, rule by rule (given / when / then), and replay = incremental.

use proptest::prelude::*;
use vigil_core::projection::Counts;
use vigil_core::statement::{Kind, Severity};
use vigil_core::{ClockState, Entry, Projection, SigningKey, Statement, sig};

const MIN: u64 = 60_000;

/// Builds log entries with increasing indexes; `received` is the caller's.
struct Log {
    key: SigningKey,
    entries: Vec<Entry>,
}

impl Log {
    fn new() -> Log {
        Log {
            key: SigningKey::from_bytes(&[3; 32]),
            entries: Vec::new(),
        }
    }
    fn push(&mut self, signer: &str, received_ms: u64, kind: Kind, fields: &[(&str, &str)]) -> u64 {
        let i = self.entries.len() as u64;
        let st = fields
            .iter()
            .fold(
                Statement::builder(kind, "o/log", 1, &format!("{i:032x}")),
                |b, (k, v)| b.header(k, v),
            )
            .build()
            .unwrap_or_else(|e| panic!("{e}: {fields:?}"));
        let v = sig::sign(st, signer, &self.key).expect("verifies");
        self.entries
            .push(Entry::new(i, received_ms, ClockState::Synced, &v));
        i
    }
    fn alert(
        &mut self,
        signer: &str,
        t: u64,
        sev: &str,
        title: &str,
        extra: &[(&str, &str)],
    ) -> u64 {
        let fields = [&[("severity", sev), ("title", title)], extra].concat();
        self.push(signer, t, Kind::Alert, &fields)
    }
    fn projection(&self) -> Projection {
        Projection::replay(&self.entries)
    }
}

fn titles(p: &Projection, now: u64) -> Vec<String> {
    p.active(now).into_iter().map(|a| a.title).collect()
}

#[test]
fn order_is_severity_then_newest() {
    let mut l = Log::new();
    l.alert("nas", 1, "info", "old info", &[]);
    l.alert("nas", 2, "critical", "old crit", &[]);
    l.alert("nas", 3, "warning", "warn", &[]);
    l.alert("nas", 4, "critical", "new crit", &[]);
    l.alert("nas", 5, "info", "new info", &[]);
    assert_eq!(
        titles(&l.projection(), 10),
        ["new crit", "old crit", "warn", "new info", "old info"]
    );
}

#[test]
fn given_a_keyed_alert_when_the_same_key_fires_again_then_it_replaces() {
    let mut l = Log::new();
    l.alert("nas", 1, "warning", "disk 90%", &[("key", "sda")]);
    l.alert("nas", 2, "critical", "disk 99%", &[("key", "sda")]);
    l.alert("web", 3, "info", "other signer same key", &[("key", "sda")]);
    l.alert(
        "nas",
        4,
        "info",
        "other topic same key",
        &[("key", "sda"), ("topic", "backup")],
    );
    assert_eq!(
        titles(&l.projection(), 10),
        ["disk 99%", "other topic same key", "other signer same key"]
    );
}

#[test]
fn given_alerts_without_key_then_each_stands_alone() {
    let mut l = Log::new();
    l.alert("nas", 1, "info", "a", &[]);
    l.alert("nas", 2, "info", "a", &[]);
    assert_eq!(l.projection().active(5).len(), 2);
}

#[test]
fn given_a_firing_alert_when_resolved_then_it_leaves() {
    let mut l = Log::new();
    l.alert("nas", 1, "critical", "ups on battery", &[("key", "ups")]);
    l.alert("nas", 2, "info", "unrelated", &[]);
    l.alert(
        "nas",
        3,
        "info",
        "power back",
        &[("key", "ups"), ("state", "resolved")],
    );
    assert_eq!(titles(&l.projection(), 10), ["unrelated"]);
    // Resolving as another signer does nothing.
    let mut l = Log::new();
    l.alert("nas", 1, "critical", "ups", &[("key", "ups")]);
    l.alert(
        "web",
        2,
        "info",
        "x",
        &[("key", "ups"), ("state", "resolved")],
    );
    assert_eq!(titles(&l.projection(), 10), ["ups"]);
}

#[test]
fn given_a_ttl_then_the_alert_expires_at_received_plus_ttl() {
    let mut l = Log::new();
    l.alert("nas", 1000, "warning", "short", &[("ttl", "60")]);
    l.alert("nas", 1000, "info", "forever", &[]);
    let p = l.projection();
    assert_eq!(titles(&p, 1000 + 59_999), ["short", "forever"]);
    assert_eq!(titles(&p, 1000 + MIN), ["forever"]);
    assert_eq!(p.next_change(1000), Some(1000 + MIN));
}

#[test]
fn given_a_silence_then_matching_alerts_hide_until_it_ends() {
    let mut l = Log::new();
    l.alert(
        "nas",
        1,
        "critical",
        "backup failed",
        &[("topic", "backup-nightly")],
    );
    l.alert(
        "web",
        2,
        "critical",
        "web backup",
        &[("topic", "backup-web")],
    );
    l.alert("nas", 3, "warning", "disk", &[("topic", "disk")]);
    l.push(
        "ops",
        4,
        Kind::Silence,
        &[
            ("match-signer", "nas"),
            ("match-topic", "backup*"),
            ("until", "100"),
            ("comment", "maintenance"),
        ],
    );
    let p = l.projection();
    assert_eq!(titles(&p, 50_000), ["web backup", "disk"]);
    assert_eq!(
        titles(&p, 100_000),
        ["web backup", "backup failed", "disk"],
        "the silence ended"
    );
    assert_eq!(p.next_change(50_000), Some(100_000));
}

#[test]
fn given_an_ack_then_that_entry_is_acknowledged_but_a_replacement_is_not() {
    let mut l = Log::new();
    let first = l.alert("nas", 1, "critical", "down", &[("key", "h")]);
    l.push("ops", 2, Kind::Ack, &[("ref", &first.to_string())]);
    let p = l.projection();
    assert!(p.active(5)[0].acked);
    assert_eq!(p.counts(5).unacked_critical, 0);
    assert_eq!(p.counts(5).critical, 1);
    l.alert("nas", 3, "critical", "down again", &[("key", "h")]);
    let p = l.projection();
    assert!(!p.active(5)[0].acked);
    assert_eq!(p.counts(5).unacked_critical, 1);
}

#[test]
fn counts_by_severity() {
    let mut l = Log::new();
    for (s, n) in [("critical", 2), ("warning", 3), ("info", 1)] {
        for i in 0..n {
            l.alert("nas", 1, s, &format!("{s}{i}"), &[]);
        }
    }
    let c = l.projection().counts(5);
    assert_eq!(
        (c.critical, c.warning, c.info, c.unacked_warning),
        (2, 3, 1, 3)
    );
}

#[test]
fn a_check_shows_when_it_fails_or_is_missed_until_an_ok_or_a_deletion() {
    let mut l = Log::new();
    let checkin = |l: &mut Log, t, status: &str| {
        l.push(
            "nas",
            t,
            Kind::Checkin,
            &[
                ("check", "backup"),
                ("every", "1d"),
                ("status", status),
                ("title", "Nightly backup"),
            ],
        )
    };
    checkin(&mut l, MIN, "start");
    assert!(
        l.projection().active(MIN).is_empty(),
        "a start shows nothing"
    );
    let failed = checkin(&mut l, 2 * MIN, "fail");
    let shown = l.projection().active(2 * MIN);
    assert_eq!(shown.len(), 1);
    assert_eq!(
        (
            shown[0].index,
            shown[0].check,
            shown[0].signer.as_str(),
            shown[0].topic.as_str(),
            shown[0].severity
        ),
        (failed, true, "nas", "backup", Severity::Critical)
    );
    assert_eq!(shown[0].title, "Nightly backup");
    // A same-named alert of the same source is another slot.
    l.alert(
        "nas",
        3 * MIN,
        "info",
        "an alert",
        &[("topic", "backup"), ("key", "backup")],
    );
    assert_eq!(l.projection().active(3 * MIN).len(), 2);
    // The device records a miss: it replaces the failure, signed by the device but shown as the
    // source's check; an ack of it acknowledges it.
    let missed = l.push(
        "device",
        4 * MIN,
        Kind::Missed,
        &[
            ("signer", "nas"),
            ("check", "backup"),
            ("deadline", "100"),
            ("last", &failed.to_string()),
            ("reason", "late"),
            ("severity", "warning"),
            ("title", "Nightly backup"),
        ],
    );
    l.push("ops", 5 * MIN, Kind::Ack, &[("ref", &missed.to_string())]);
    let p = l.projection();
    let check = p.find_active(missed, 5 * MIN).expect("the miss shows");
    assert_eq!(
        (check.signer.as_str(), check.acked, check.severity),
        ("nas", true, Severity::Warning)
    );
    assert!(p.find_active(failed, 5 * MIN).is_none(), "replaced");
    // A silence of the check's name (its topic) hides it, and the alert of that topic.
    let mut silenced = Log::new();
    silenced.entries = l.entries.clone();
    silenced.push(
        "ops",
        6 * MIN,
        Kind::Silence,
        &[
            ("match-topic", "backup"),
            ("until", "100000"),
            ("comment", "c"),
        ],
    );
    assert_eq!(
        titles(&silenced.projection(), 6 * MIN),
        Vec::<String>::new()
    );
    // An ok clears it.
    let mut ok = Log::new();
    ok.entries = l.entries.clone();
    checkin(&mut ok, 7 * MIN, "ok");
    assert_eq!(titles(&ok.projection(), 7 * MIN), vec!["an alert"]);
    // So does a deletion.
    l.push(
        "ops",
        8 * MIN,
        Kind::Check,
        &[("signer", "nas"), ("check", "backup"), ("action", "delete")],
    );
    assert_eq!(titles(&l.projection(), 8 * MIN), vec!["an alert"]);
}

#[derive(Debug, Clone)]
enum Op {
    Alert {
        signer: u8,
        topic: u8,
        key: Option<u8>,
        sev: u8,
        resolved: bool,
        ttl: Option<u8>,
    },
    Ack(u8),
    Silence {
        signer: Option<u8>,
        topic: u8,
        until: u8,
    },
    /// A check-in of check `check` by source `signer`: start, ok or fail.
    Checkin {
        signer: u8,
        check: u8,
        status: u8,
    },
    /// The device records a miss of that check.
    Missed {
        signer: u8,
        check: u8,
    },
    /// An admin deletes that check.
    Delete {
        signer: u8,
        check: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3u8, 0..3u8, proptest::option::of(0..3u8), 0..3u8, any::<bool>(), proptest::option::of(1..100u8))
            .prop_map(|(signer, topic, key, sev, resolved, ttl)| Op::Alert { signer, topic, key, sev, resolved, ttl }),
        1 => any::<u8>().prop_map(Op::Ack),
        1 => (proptest::option::of(0..3u8), 0..3u8, 0..200u8).prop_map(|(signer, topic, until)| Op::Silence { signer, topic, until }),
        3 => (0..3u8, 0..2u8, 0..3u8).prop_map(|(signer, check, status)| Op::Checkin { signer, check, status }),
        1 => (0..3u8, 0..2u8).prop_map(|(signer, check)| Op::Missed { signer, check }),
        1 => (0..3u8, 0..2u8).prop_map(|(signer, check)| Op::Delete { signer, check }),
    ]
}

/// Appends the entry `o` stands for as the `i`-th, received at `i` seconds.
fn push_op(l: &mut Log, i: usize, o: &Op) -> u64 {
    let t = i as u64 * 1000;
    match o {
        Op::Alert {
            signer,
            topic,
            key,
            sev,
            resolved,
            ttl,
        } => {
            let (topic, key, ttl) = (
                format!("t{topic}"),
                key.map(|k| format!("k{k}")),
                ttl.map(|s| s.to_string()),
            );
            let mut extra = vec![("topic", topic.as_str())];
            if let Some(k) = &key {
                extra.push(("key", k));
            }
            if *resolved {
                extra.push(("state", "resolved"));
            }
            if let Some(s) = &ttl {
                extra.push(("ttl", s));
            }
            let sev = ["info", "warning", "critical"][*sev as usize];
            l.alert(&format!("s{signer}"), t, sev, &format!("a{i}"), &extra)
        }
        Op::Ack(r) => l.push(
            "ops",
            t,
            Kind::Ack,
            &[("ref", &(*r as usize % (i + 1)).to_string())],
        ),
        Op::Silence {
            signer,
            topic,
            until,
        } => {
            let (ms, topic, until) = (
                signer.map(|s| format!("s{s}")),
                format!("t{topic}"),
                until.to_string(),
            );
            let mut fields = vec![
                ("match-topic", topic.as_str()),
                ("until", &until),
                ("comment", "c"),
            ];
            if let Some(m) = &ms {
                fields.insert(0, ("match-signer", m));
            }
            l.push("ops", t, Kind::Silence, &fields)
        }
        Op::Checkin {
            signer,
            check,
            status,
        } => l.push(
            &format!("s{signer}"),
            t,
            Kind::Checkin,
            &[
                ("check", &format!("t{check}")),
                ("every", "1h"),
                ("status", ["start", "ok", "fail"][*status as usize]),
            ],
        ),
        Op::Missed { signer, check } => l.push(
            "device",
            t,
            Kind::Missed,
            &[
                ("signer", &format!("s{signer}")),
                ("check", &format!("t{check}")),
                ("deadline", "1"),
                ("last", "0"),
                ("reason", "late"),
                ("severity", "critical"),
                ("title", &format!("missed {i}")),
            ],
        ),
        Op::Delete { signer, check } => l.push(
            "ops",
            t,
            Kind::Check,
            &[
                ("signer", &format!("s{signer}")),
                ("check", &format!("t{check}")),
                ("action", "delete"),
            ],
        ),
    }
}

proptest! {
    /// Maintaining the projection entry by entry (with queries in between) equals replaying the
    /// whole log at the end, at every query time.
    #[test]
    fn incremental_equals_replay(ops in proptest::collection::vec(op(), 1..60), times in proptest::collection::vec(0..300u64, 1..8)) {
        let mut l = Log::new();
        let mut inc = Projection::new();
        for (i, o) in ops.iter().enumerate() {
            let t = i as u64 * 1000;
            let idx = push_op(&mut l, i, o);
            inc.apply(&l.entries[idx as usize]);
            let _ = inc.active(t);
        }
        let replayed = l.projection();
        prop_assert_eq!(&inc, &replayed);
        for t in times {
            let now = t * 1000;
            prop_assert_eq!(inc.active(now), replayed.active(now));
            let active = replayed.active(now);
            prop_assert!(active.windows(2).all(|w| (w[0].severity, w[0].index) >= (w[1].severity, w[1].index)));
            prop_assert!(active.iter().all(|a| a.expires_ms.is_none_or(|e| now < e)));
            let _ = Severity::Info;
        }
        // The indexed queries (running counts, windows, lookups) agree with the active list,
        // at times at or after the newest entry (the appliance clock moves forward).
        let last = (ops.len() as u64 - 1) * 1000;
        for t in [0, 1, 999, 50_000, 100_000, 250_000] {
            let now = last + t;
            let active = inc.active(now);
            let mut naive = Counts::default();
            for a in &active {
                let unacked = usize::from(!a.acked);
                match a.severity {
                    Severity::Critical => { naive.critical += 1; naive.unacked_critical += unacked; }
                    Severity::Warning => { naive.warning += 1; naive.unacked_warning += unacked; }
                    Severity::Info => naive.info += 1,
                }
            }
            prop_assert_eq!(inc.counts(now), naive);
            prop_assert_eq!(inc.counts(now).total(), active.len());
            prop_assert_eq!(inc.window(now, 1, 3), active.iter().skip(1).take(3).cloned().collect::<Vec<_>>());
            prop_assert_eq!(inc.nth_active(now, 2), active.get(2));
            for a in &active {
                prop_assert_eq!(inc.find_active(a.index, now), Some(a));
            }
        }
    }
}

proptest! {
    /// A projection rebuilt from a snapshot taken after any entry (folding only the entries the
    /// snapshot names, then the rest of the log) equals the projection of the whole log; the
    /// snapshot survives its encoding.
    #[test]
    fn a_snapshot_rebuilds_the_projection(ops in proptest::collection::vec(op(), 1..80), cut in any::<prop::sample::Index>()) {
        let mut l = Log::new();
        for (i, o) in ops.iter().enumerate() {
            push_op(&mut l, i, o);
        }
        let cut = cut.index(l.entries.len() + 1);
        let at_cut = Projection::replay(&l.entries[..cut]);
        let snap = at_cut.snapshot();
        prop_assert_eq!(vigil_core::projection::Snapshot::decode(&snap.encode()), Some(snap.clone()));
        prop_assert!(snap.live.len() <= cut);
        let live = snap.live.iter().map(|i| &l.entries[*i as usize]);
        let mut rebuilt = Projection::from_snapshot(&snap, live);
        prop_assert_eq!(&rebuilt, &at_cut);
        for e in &l.entries[cut..] {
            rebuilt.apply(e);
        }
        prop_assert_eq!(&rebuilt, &l.projection());
    }
}

#[test]
fn a_snapshot_that_was_not_written_by_encode_is_refused() {
    use vigil_core::projection::Snapshot;
    let s = Snapshot {
        entries: 10,
        horizon_ms: 5,
        alerts_seen: true,
        live: vec![2, 7],
    };
    let good = s.encode();
    assert_eq!(Snapshot::decode(&good), Some(s));
    let mut bad = good.clone();
    bad[0] ^= 1;
    assert_eq!(Snapshot::decode(&bad), None, "magic");
    assert_eq!(Snapshot::decode(&good[..good.len() - 1]), None, "cut");
    let unordered = Snapshot {
        entries: 10,
        horizon_ms: 5,
        alerts_seen: false,
        live: vec![7, 2],
    };
    assert_eq!(
        Snapshot::decode(&unordered.encode()),
        None,
        "indices out of order"
    );
    let beyond = Snapshot {
        entries: 5,
        horizon_ms: 5,
        alerts_seen: false,
        live: vec![7],
    };
    assert_eq!(
        Snapshot::decode(&beyond.encode()),
        None,
        "an index past the snapshot's size"
    );
}
