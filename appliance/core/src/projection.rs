//! The display's model: a fold over log entries (SPEC §7). Time is a parameter: expiry (`ttl`)
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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::entry::Entry;
use crate::merkle::Hash;
use crate::statement::{AlertState, Content, Severity, glob_match};

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Silence {
    signer: String,
    topic: String,
    until_ms: u64,
}

/// Identity of an alert slot: (signer, topic, dedup key or the entry's own index).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Keyed(String, String, String),
    Single(u64),
}

/// The projection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    slots: BTreeMap<Slot, AlertView>,
    /// Entry index of each live alert → its slot (acks find their alert in O(1)).
    by_index: HashMap<u64, Slot>,
    /// (expiry, entry index) of live alerts with a ttl, soonest first.
    expiries: BTreeSet<(u64, u64)>,
    silences: Vec<Silence>,
    entries: u64,
    /// Newest `received` seen: anything that ended before it is gone for every later query.
    horizon_ms: u64,
    alerts_seen: bool,
    head: Option<(u64, Hash)>,
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
        match e.statement().content() {
            Content::Alert(a) => {
                self.alerts_seen = true;
                let slot = match &a.key {
                    Some(k) => Slot::Keyed(e.signer().to_owned(), a.topic.clone(), k.clone()),
                    None => Slot::Single(e.index()),
                };
                if let Some(old) = self.slots.remove(&slot) {
                    self.forget(&old);
                }
                match a.state {
                    AlertState::Resolved => {}
                    AlertState::Firing => {
                        let view = AlertView {
                            index: e.index(),
                            signer: e.signer().to_owned(),
                            topic: a.topic.clone(),
                            key: a.key.clone(),
                            severity: a.severity,
                            title: a.title.clone(),
                            body: e.statement().body().to_owned(),
                            received_ms: e.received_ms(),
                            expires_ms: a
                                .ttl
                                .map(|t| e.received_ms().saturating_add(t.saturating_mul(1000))),
                            acked: false,
                        };
                        self.by_index.insert(e.index(), slot.clone());
                        if let Some(t) = view.expires_ms {
                            self.expiries.insert((t, e.index()));
                        }
                        self.slots.insert(slot, view);
                    }
                }
            }
            Content::Ack { entry, .. } => {
                // An ack names an earlier entry: a live alert, or nothing that can still show.
                if let Some(v) = self.by_index.get(entry).and_then(|s| self.slots.get_mut(s)) {
                    v.acked = true;
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
                });
            }
            _ => {}
        }
    }

    /// Drops alerts and silences that ended before the horizon: no later query can see them.
    fn prune(&mut self) {
        let h = self.horizon_ms;
        while let Some(&(t, index)) = self.expiries.first() {
            if t > h {
                break;
            }
            self.expiries.pop_first();
            if let Some(slot) = self.by_index.remove(&index) {
                self.slots.remove(&slot);
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

    /// Removes a replaced alert's index entries.
    fn forget(&mut self, old: &AlertView) {
        self.by_index.remove(&old.index);
        if let Some(t) = old.expires_ms {
            self.expiries.remove(&(t, old.index));
        }
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

    /// Active alerts at `now_ms`, critical first, then newest.
    pub fn active(&self, now_ms: u64) -> Vec<AlertView> {
        let mut v: Vec<AlertView> = self
            .slots
            .values()
            .filter(|a| a.expires_ms.is_none_or(|t| now_ms < t))
            .filter(|a| !self.silenced(a, now_ms))
            .cloned()
            .collect();
        v.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.index.cmp(&a.index)));
        v
    }

    /// Counts at `now_ms`.
    pub fn counts(&self, now_ms: u64) -> Counts {
        let mut c = Counts::default();
        for a in self.active(now_ms) {
            match a.severity {
                Severity::Critical => {
                    c.critical += 1;
                    c.unacked_critical += usize::from(!a.acked);
                }
                Severity::Warning => {
                    c.warning += 1;
                    c.unacked_warning += usize::from(!a.acked);
                }
                Severity::Info => c.info += 1,
            }
        }
        c
    }

    /// The next time (unix ms) after `now_ms` when the active set changes by itself (an expiry or
    /// a silence ending), so a display knows when to redraw.
    pub fn next_change(&self, now_ms: u64) -> Option<u64> {
        let expiries = self.slots.values().filter_map(|a| a.expires_ms);
        let silences = self.silences.iter().map(|s| s.until_ms);
        expiries.chain(silences).filter(|&t| t > now_ms).min()
    }
}
