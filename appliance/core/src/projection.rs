//! The display's model: a fold over log entries (docs/spec.md §7). Time is a parameter: expiry (`ttl`)
//! and silences are evaluated at the `now` the caller gives.
//!
//! Rules: the latest `firing` alert per (signer, topic, dedup key) is active; an alert without a
//! dedup key stands alone; `state: resolved` removes the alert with the same triple; an alert
//! expires `ttl` seconds after it was received; a silence hides matching alerts until its
//! `until`; an `ack/v1` marks the alert entry it names as acknowledged (a replacement alert is
//! a new entry and is not acknowledged). Order: severity (critical first), then newest.
//!
//! Queries are for times at or after the newest entry's `received` (the appliance's clock moves
//! forward): alerts and silences that ended before it are dropped as entries are folded, which
//! keeps the projection as small as what can still be shown.
//!
//! Cost: live alerts are kept in display order and counted as they come and go, so folding an
//! entry, the first rows of the list and the counts are O(log n) in the number of live alerts
//! (plus the alerts that expired since the newest entry); only while a silence is in force do
//! the counts scan the live alerts.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::checkin::Status;
use crate::entry::Entry;
use crate::merkle::Hash;
use crate::statement::{AlertState, CheckAction, Content, Severity, glob_match};

/// One active alert as the display shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertView {
    /// Entry index (what an ack refers to).
    pub index: u64,
    /// Signer name.
    pub signer: String,
    /// Topic.
    pub topic: String,
    /// Dedup key.
    pub key: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Title.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Appliance time of receipt (unix ms).
    pub received_ms: u64,
    /// When it expires (unix ms), if it has a ttl.
    pub expires_ms: Option<u64>,
    /// Acknowledged.
    pub acked: bool,
    /// A check's failure or miss (`checkin/v1` with `status: fail`, or `missed/v1`): `signer` is
    /// the check's source and `topic` the check's name.
    pub check: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Silence {
    signer: String,
    topic: String,
    until_ms: u64,
    /// The `silence/v1` entry.
    index: u64,
}

/// Identity of an alert slot: (signer, topic, dedup key or the entry's own index).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Slot {
    Keyed(String, String, String),
    Single(u64),
    /// A check of a source: its failure or miss, replaced by the next and cleared by an `ok`.
    Check(String, String),
}

impl Slot {
    fn new(signer: &str, topic: &str, key: Option<&String>, index: u64) -> Slot {
        match key {
            Some(k) => Slot::Keyed(signer.to_owned(), topic.to_owned(), k.clone()),
            None => Slot::Single(index),
        }
    }

    fn of(v: &AlertView) -> Slot {
        if v.check {
            return Slot::Check(v.signer.clone(), v.topic.clone());
        }
        Slot::new(&v.signer, &v.topic, v.key.as_ref(), v.index)
    }
}

/// Display order of a live alert: critical first, then newest.
type OrderKey = (Reverse<Severity>, Reverse<u64>);

fn order_key(severity: Severity, index: u64) -> OrderKey {
    (Reverse(severity), Reverse(index))
}

/// The projection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// Live alerts in display order.
    alerts: BTreeMap<OrderKey, AlertView>,
    /// Slot → the live alert holding it.
    slots: HashMap<Slot, OrderKey>,
    /// Entry index of each live alert → its severity (acks find their alert in O(1)).
    by_index: HashMap<u64, Severity>,
    /// (expiry, entry index) of live alerts with a ttl, soonest first.
    expiries: BTreeSet<(u64, u64)>,
    /// Counts over every live alert (before expiry and silences at a query's `now`).
    live: Counts,
    silences: Vec<Silence>,
    entries: u64,
    /// Newest `received` seen: anything that ended before it is gone for every later query.
    horizon_ms: u64,
    alerts_seen: bool,
    head: Option<(u64, Hash)>,
    /// Live alert's entry index → the `ack/v1` entry that acknowledged it.
    acks: HashMap<u64, u64>,
}

/// What rebuilds a projection without folding its whole log (docs/format.md §6): the entries
/// it still depends on (live alerts, the acks of live alerts, silences in force), in log order,
/// and the marks the other entries left. Folding exactly those entries and then
/// [`Projection::from_snapshot`] gives the projection the whole log gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Entries folded (the log size the snapshot is of).
    pub entries: u64,
    /// The newest `received` folded.
    pub horizon_ms: u64,
    /// Whether any alert was ever folded.
    pub alerts_seen: bool,
    /// The entries to fold again, ascending.
    pub live: Vec<u64>,
}

const SNAPSHOT_MAGIC: &[u8] = b"vigil-projection/v1\n";

impl Snapshot {
    /// `vigil-projection/v1\n`, then `entries`, `horizon_ms`, `alerts_seen` (0 or 1) and each
    /// live index as big-endian u64.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = SNAPSHOT_MAGIC.to_vec();
        for v in [self.entries, self.horizon_ms, u64::from(self.alerts_seen)]
            .into_iter()
            .chain(self.live.iter().copied())
        {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    /// The inverse of [`Snapshot::encode`]; `None` for anything it did not write (the indices
    /// must ascend and lie below `entries`).
    pub fn decode(bytes: &[u8]) -> Option<Snapshot> {
        let rest = bytes.strip_prefix(SNAPSHOT_MAGIC)?;
        if rest.len() % 8 != 0 || rest.len() < 24 {
            return None;
        }
        let mut words = rest
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")));
        let (entries, horizon_ms, seen) = (words.next()?, words.next()?, words.next()?);
        let live: Vec<u64> = words.collect();
        let ascending = live.windows(2).all(|w| w[0] < w[1]);
        (seen <= 1 && ascending && live.last().is_none_or(|l| *l < entries)).then_some(Snapshot {
            entries,
            horizon_ms,
            alerts_seen: seen == 1,
            live,
        })
    }
}

/// Counts of active alerts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Critical.
    pub critical: usize,
    /// Warning.
    pub warning: usize,
    /// Info.
    pub info: usize,
    /// Critical and not acknowledged.
    pub unacked_critical: usize,
    /// Warning and not acknowledged.
    pub unacked_warning: usize,
}

impl Counts {
    /// Active alerts of every severity.
    pub fn total(&self) -> usize {
        self.critical + self.warning + self.info
    }

    fn add(&mut self, v: &AlertView) {
        match v.severity {
            Severity::Critical => {
                self.critical += 1;
                self.unacked_critical += usize::from(!v.acked);
            }
            Severity::Warning => {
                self.warning += 1;
                self.unacked_warning += usize::from(!v.acked);
            }
            Severity::Info => self.info += 1,
        }
    }

    fn sub(&mut self, v: &AlertView) {
        match v.severity {
            Severity::Critical => {
                self.critical -= 1;
                self.unacked_critical -= usize::from(!v.acked);
            }
            Severity::Warning => {
                self.warning -= 1;
                self.unacked_warning -= usize::from(!v.acked);
            }
            Severity::Info => self.info -= 1,
        }
    }
}

impl Projection {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replays entries in order.
    pub fn replay<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Self {
        let mut p = Projection::new();
        for e in entries {
            p.apply(e);
        }
        p
    }

    /// Folds one entry in (entries must come in log order).
    pub fn apply(&mut self, e: &Entry) {
        self.entries = self.entries.max(e.index() + 1);
        if e.received_ms() > self.horizon_ms {
            self.horizon_ms = e.received_ms();
            self.prune();
        }
        let st = e.statement();
        match st.content() {
            Content::Alert(a) => {
                self.alerts_seen = true;
                let slot = Slot::new(e.signer(), &a.topic, a.key.as_ref(), e.index());
                let firing = (a.state == AlertState::Firing).then(|| AlertView {
                    index: e.index(),
                    signer: e.signer().to_owned(),
                    topic: a.topic.clone(),
                    key: a.key.clone(),
                    severity: a.severity,
                    title: a.title.clone(),
                    body: st.body().to_owned(),
                    received_ms: e.received_ms(),
                    expires_ms: a
                        .ttl
                        .map(|t| e.received_ms().saturating_add(t.saturating_mul(1000))),
                    acked: false,
                    check: false,
                });
                self.put(slot, firing);
            }
            Content::Checkin(c) => {
                // A source's first check-in ends the first-boot screen, as its first alert does.
                self.alerts_seen = true;
                let slot = Slot::Check(e.signer().to_owned(), c.check.clone());
                match c.status {
                    Status::Start => {}
                    Status::Ok => self.put(slot, None),
                    Status::Fail => {
                        let view = self.check_view(e, e.signer(), &c.check, c.severity, &c.title);
                        self.put(slot, Some(view));
                    }
                }
            }
            Content::Missed(m) => {
                let slot = Slot::Check(m.signer.clone(), m.check.clone());
                let view = self.check_view(e, &m.signer, &m.check, m.severity, &m.title);
                self.put(slot, Some(view));
            }
            Content::Check {
                signer,
                check,
                action: CheckAction::Delete,
                ..
            } => self.put(Slot::Check(signer.clone(), check.clone()), None),
            Content::Ack { entry, .. } => {
                // An ack names an earlier entry: a live alert, or nothing that can still show.
                if let Some(&sev) = self.by_index.get(entry)
                    && let Some(v) = self.alerts.get_mut(&order_key(sev, *entry))
                    && !v.acked
                {
                    self.live.sub(v);
                    v.acked = true;
                    self.live.add(v);
                    self.acks.insert(*entry, e.index());
                }
            }
            Content::Silence {
                match_signer,
                match_topic,
                until,
                ..
            } => {
                self.silences.push(Silence {
                    signer: match_signer.clone(),
                    topic: match_topic.clone(),
                    until_ms: until.saturating_mul(1000),
                    index: e.index(),
                });
            }
            _ => {}
        }
    }

    /// What a check's failure or miss shows.
    fn check_view(
        &self,
        e: &Entry,
        signer: &str,
        check: &str,
        severity: Severity,
        title: &str,
    ) -> AlertView {
        AlertView {
            index: e.index(),
            signer: signer.to_owned(),
            topic: check.to_owned(),
            key: None,
            severity,
            title: title.to_owned(),
            body: e.statement().body().to_owned(),
            received_ms: e.received_ms(),
            expires_ms: None,
            acked: false,
            check: true,
        }
    }

    /// Puts `view` in `slot` (replacing what held it), or clears the slot.
    fn put(&mut self, slot: Slot, view: Option<AlertView>) {
        if let Some(old) = self.slots.remove(&slot) {
            self.remove(old);
        }
        let Some(view) = view else {
            return;
        };
        self.alerts_seen = true;
        let key = order_key(view.severity, view.index);
        self.by_index.insert(view.index, view.severity);
        if let Some(t) = view.expires_ms {
            self.expiries.insert((t, view.index));
        }
        self.live.add(&view);
        self.slots.insert(slot, key);
        self.alerts.insert(key, view);
    }

    /// Drops alerts and silences that ended before the horizon: no later query can see them.
    fn prune(&mut self) {
        let h = self.horizon_ms;
        while let Some(&(t, index)) = self.expiries.first() {
            if t > h {
                break;
            }
            self.expiries.pop_first();
            if let Some(&sev) = self.by_index.get(&index)
                && let Some(gone) = self.remove(order_key(sev, index))
            {
                self.slots.remove(&Slot::of(&gone));
            }
        }
        if self
            .silences
            .first()
            .is_some_and(|_| self.silences.iter().any(|s| s.until_ms <= h))
        {
            self.silences.retain(|s| s.until_ms > h);
        }
    }

    /// Removes a live alert and its index entries (its slot is the caller's to clear).
    fn remove(&mut self, key: OrderKey) -> Option<AlertView> {
        let old = self.alerts.remove(&key)?;
        self.by_index.remove(&old.index);
        self.acks.remove(&old.index);
        if let Some(t) = old.expires_ms {
            self.expiries.remove(&(t, old.index));
        }
        self.live.sub(&old);
        Some(old)
    }

    /// The snapshot of this projection (see [`Snapshot`]).
    pub fn snapshot(&self) -> Snapshot {
        let mut live: Vec<u64> = self
            .alerts
            .values()
            .map(|v| v.index)
            .chain(self.acks.values().copied())
            .chain(self.silences.iter().map(|s| s.index))
            .collect();
        live.sort_unstable();
        live.dedup();
        Snapshot {
            entries: self.entries,
            horizon_ms: self.horizon_ms,
            alerts_seen: self.alerts_seen,
            live,
        }
    }

    /// Rebuilds the projection `s` was taken of from the entries it names (`live`, in order);
    /// entries after it are then folded in as usual.
    pub fn from_snapshot<'a>(s: &Snapshot, live: impl IntoIterator<Item = &'a Entry>) -> Self {
        let mut p = Projection::replay(live);
        p.entries = p.entries.max(s.entries);
        p.alerts_seen |= s.alerts_seen;
        if s.horizon_ms > p.horizon_ms {
            p.horizon_ms = s.horizon_ms;
            p.prune();
        }
        p
    }

    /// Records the log head the idle screen shows.
    pub fn set_head(&mut self, size: u64, root: Hash) {
        self.head = Some((size, root));
    }

    /// The log head, if set.
    pub fn head(&self) -> Option<(u64, Hash)> {
        self.head
    }

    /// Whether any alert was ever folded in (first boot ends at the first alert).
    pub fn has_seen_alert(&self) -> bool {
        self.alerts_seen
    }

    /// Entries folded so far.
    pub fn entries_seen(&self) -> u64 {
        self.entries
    }

    fn silenced(&self, v: &AlertView, now_ms: u64) -> bool {
        self.silences.iter().any(|s| {
            now_ms < s.until_ms
                && glob_match(&s.signer, &v.signer)
                && glob_match(&s.topic, &v.topic)
        })
    }

    fn shown(&self, v: &AlertView, now_ms: u64) -> bool {
        v.expires_ms.is_none_or(|t| now_ms < t) && !self.silenced(v, now_ms)
    }

    /// Active alerts at `now_ms` in display order (critical first, then newest), lazily.
    pub fn iter_active(&self, now_ms: u64) -> impl Iterator<Item = &AlertView> {
        self.alerts.values().filter(move |a| self.shown(a, now_ms))
    }

    /// Active alerts at `now_ms`, critical first, then newest.
    pub fn active(&self, now_ms: u64) -> Vec<AlertView> {
        self.iter_active(now_ms).cloned().collect()
    }

    /// At most `len` active alerts from position `start` of the display order (what one screen
    /// of the list shows): cost grows with `start + len`, not with the number of alerts.
    pub fn window(&self, now_ms: u64, start: usize, len: usize) -> Vec<AlertView> {
        self.iter_active(now_ms)
            .skip(start)
            .take(len)
            .cloned()
            .collect()
    }

    /// The active alert at position `n` of the display order.
    pub fn nth_active(&self, now_ms: u64, n: usize) -> Option<&AlertView> {
        self.iter_active(now_ms).nth(n)
    }

    /// The alert logged at entry `index`, if it is active at `now_ms`.
    pub fn find_active(&self, index: u64, now_ms: u64) -> Option<&AlertView> {
        let sev = self.by_index.get(&index)?;
        self.alerts
            .get(&order_key(*sev, index))
            .filter(|a| self.shown(a, now_ms))
    }

    /// Counts at `now_ms`: the running counts less the alerts expired since the newest entry;
    /// while a silence is in force, counted from the alerts themselves.
    pub fn counts(&self, now_ms: u64) -> Counts {
        if self.silences.iter().any(|s| now_ms < s.until_ms) {
            let mut c = Counts::default();
            for a in self.iter_active(now_ms) {
                c.add(a);
            }
            return c;
        }
        let mut c = self.live;
        for &(_, index) in self.expiries.range(..=(now_ms, u64::MAX)) {
            if let Some(&sev) = self.by_index.get(&index)
                && let Some(a) = self.alerts.get(&order_key(sev, index))
            {
                c.sub(a);
            }
        }
        c
    }

    /// The next time (unix ms) after `now_ms` when the active set changes by itself (an expiry or
    /// a silence ending), so a display knows when to redraw.
    pub fn next_change(&self, now_ms: u64) -> Option<u64> {
        let expiry = self
            .expiries
            .range((now_ms.saturating_add(1), 0)..)
            .next()
            .map(|&(t, _)| t);
        let silences = self.silences.iter().map(|s| s.until_ms);
        expiry
            .into_iter()
            .chain(silences)
            .filter(|&t| t > now_ms)
            .min()
    }
}
