//! What the handlers share: the log, the committer, the enrolled keys and policy (a projection of
//! the log, updated only by the commit path), limits, metrics and the signed-read nonce cache.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use vigil_core::admission::{self, Rules, Window};
use vigil_core::registry::DEVICE;
use vigil_core::statement::{Content, Kind};
use vigil_core::{
    ClockState, Denied, Entry, Policy, Registry, SigningKey, Statement, Verified, sig,
};
use vigil_store::{Committer, Gate, Store, Submission};

use crate::clock::Clock;
use crate::limits::{AuthFailures, SourceLimits};
use crate::metrics::Metrics;

/// The projection of the log the daemon decides with.
#[derive(Debug, Clone)]
pub struct Shared {
    /// Enrolled keys.
    pub registry: Registry,
    /// The policy in force (the last `policy/v1` entry).
    pub policy: Policy,
    /// SHA-256 of the policy file in force, if one was logged.
    pub policy_sha: Option<[u8; 32]>,
}

impl Shared {
    /// Empty projection for a device key.
    pub fn new(device: vigil_core::VerifyingKey) -> Self {
        Shared {
            registry: Registry::new(device),
            policy: Policy::default_policy(),
            policy_sha: None,
        }
    }

    /// Core's admission decision for `sub` under this projection: the daemon's pre-check and its
    /// gate both ask this, so a refusal is the same whichever finds it. The `ts` window is the
    /// policy's skew around the appliance clock when the statement arrived, while that clock is
    /// synchronised.
    pub fn admit(&self, origin: &str, sub: &Submission) -> Result<(), Denied> {
        let window = (sub.clock == ClockState::Synced).then_some(Window {
            now_secs: sub.received_ms / 1000,
            skew_secs: self.policy.limits.clock_skew_secs,
        });
        admission::admit(&self.registry, &sub.verified, &Rules { origin, window })
    }

    /// Folds one committed entry in.
    pub fn apply(&mut self, e: &Entry) {
        self.registry.apply(e);
        if let Content::Policy { sha256 } = e.statement().content() {
            // A logged policy parsed when it was loaded; should it not parse now (a newer, stricter
            // vigil), the previous policy stays in force and the start-up import reports it.
            if let Ok(p) = Policy::parse(e.statement().body()) {
                self.policy = p;
                self.policy_sha = Some(*sha256);
            }
        }
    }
}

/// Called with each committed batch's new entries.
pub type CommitCallback = Box<dyn FnMut(&[Entry]) + Send>;

/// The daemon's admission gate: decides on the pending projection (which includes earlier
/// entries of the same batch) and publishes it once the batch is durable.
pub struct DaemonGate {
    origin: String,
    published: Arc<RwLock<Shared>>,
    pending: Shared,
    on_commit: Vec<CommitCallback>,
    batch: Vec<Entry>,
    misses: Option<crate::checks::MissGate>,
}

impl DaemonGate {
    /// A gate for the log `origin`, publishing into `published`.
    pub fn new(origin: &str, published: Arc<RwLock<Shared>>) -> Self {
        let pending = read(&published).clone();
        DaemonGate {
            origin: origin.to_owned(),
            published,
            pending,
            on_commit: Vec::new(),
            batch: Vec::new(),
            misses: None,
        }
    }

    /// Refuses, at the commit, a `missed/v1` that is no longer due by these checks (kept by a
    /// commit callback).
    pub fn judge_misses(&mut self, checks: Arc<Mutex<vigil_core::checkin::Checks>>) {
        self.misses = Some(crate::checks::MissGate::new(checks));
    }

    /// Adds a callback run with each committed batch's new entries (display, metrics).
    pub fn on_commit(&mut self, f: impl FnMut(&[Entry]) + Send + 'static) {
        self.on_commit.push(Box::new(f));
    }
}

impl Gate for DaemonGate {
    fn admit(&mut self, sub: &Submission) -> Result<(), Denied> {
        self.pending.admit(&self.origin, sub)?;
        match &self.misses {
            Some(m) => m.admit(&sub.verified),
            None => Ok(()),
        }
    }
    fn appended(&mut self, entry: &Entry) {
        self.pending.apply(entry);
        if let Some(m) = &mut self.misses {
            m.appended(entry);
        }
        self.batch.push(entry.clone());
    }
    fn committed(&mut self) {
        *write(&self.published) = self.pending.clone();
        let batch = std::mem::take(&mut self.batch);
        for f in &mut self.on_commit {
            f(&batch);
        }
        if let Some(m) = &mut self.misses {
            m.batch_done();
        }
    }
    fn abandoned(&mut self) {
        self.pending = read(&self.published).clone();
        self.batch.clear();
        if let Some(m) = &mut self.misses {
            m.batch_done();
        }
    }
}

pub use crate::locks::{lock, read, write};

/// How many of the most recently logged statements [`RecentStatements`] remembers.
pub const RECENT_STATEMENTS: usize = 16_384;

type RecentKey = (String, [u8; 32]);
/// The map, and its keys oldest first.
type Recent = (
    HashMap<RecentKey, (u64, vigil_core::Hash)>,
    VecDeque<RecentKey>,
);

/// The statements logged most recently: (signer, SHA-256 of the statement bytes) → entry index
/// and leaf hash, at most [`RECENT_STATEMENTS`], oldest forgotten first. An exact retry is
/// answered from here, before the source's quota and without a read of the log (a read waits
/// for any commit in progress); an older retry takes the ordinary path, where the writer finds
/// it and answers 200 with its receipt, having spent one token of the quota.
#[derive(Debug, Default)]
pub struct RecentStatements {
    inner: Mutex<Recent>,
}

impl RecentStatements {
    /// Forgets everything: later retries are found in the log (tests use it to reach that path).
    pub fn clear(&self) {
        let mut guard = lock(&self.inner);
        guard.0.clear();
        guard.1.clear();
    }

    /// Remembers logged entries (in log order).
    pub fn record(&self, entries: &[Entry]) {
        let mut guard = lock(&self.inner);
        let (map, order) = &mut *guard;
        for e in entries {
            let key = (
                e.signer().to_owned(),
                vigil_core::sha256(e.statement().bytes()),
            );
            if map
                .insert(key.clone(), (e.index(), e.leaf_hash()))
                .is_none()
            {
                order.push_back(key);
            }
            while order.len() > RECENT_STATEMENTS {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    /// The entry index and leaf hash of `signer`'s statement with this SHA-256, if recent.
    pub fn find(
        &self,
        signer: &str,
        statement_sha256: &[u8; 32],
    ) -> Option<(u64, vigil_core::Hash)> {
        let guard = lock(&self.inner);
        guard
            .0
            .get(&(signer.to_owned(), *statement_sha256))
            .copied()
    }

    /// How many are remembered.
    pub fn len(&self) -> usize {
        lock(&self.inner).1.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Most signed-read nonces remembered; beyond it reads get 503 until old ones expire.
pub const MAX_READ_NONCES: usize = 100_000;

/// Signed-read nonces seen recently (each accepted once).
#[derive(Debug, Default)]
pub struct NonceCache {
    seen: Mutex<HashMap<(String, String), u64>>,
}

/// Outcome of [`NonceCache::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceOutcome {
    /// First use.
    Fresh,
    /// Seen before.
    Reused,
    /// The cache is full of unexpired nonces.
    Full,
}

impl NonceCache {
    /// Records `(key, nonce)` until `expires_ms`.
    pub fn insert(&self, key: &str, nonce: &str, now_ms: u64, expires_ms: u64) -> NonceOutcome {
        let mut m = lock(&self.seen);
        let k = (key.to_owned(), nonce.to_owned());
        if m.get(&k).is_some_and(|&exp| exp > now_ms) {
            return NonceOutcome::Reused;
        }
        if m.len() >= MAX_READ_NONCES {
            m.retain(|_, exp| *exp > now_ms);
            if m.len() >= MAX_READ_NONCES {
                return NonceOutcome::Full;
            }
        }
        m.insert(k, expires_ms);
        NonceOutcome::Fresh
    }
}

/// Everything the handlers need.
pub struct AppState {
    /// Log origin.
    pub origin: String,
    /// The log.
    pub store: Arc<Store>,
    /// The single writer.
    pub committer: Committer,
    /// Keys and policy.
    pub shared: Arc<RwLock<Shared>>,
    /// Every check's deadline (kept by the commit callback).
    pub checks: Arc<Mutex<vigil_core::checkin::Checks>>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The device key (signs boot, policy, button-ack and provisioning entries).
    pub device_key: SigningKey,
    /// Policy limits at start.
    pub limits: vigil_core::policy::Limits,
    /// Per-IP authentication failures.
    pub auth_failures: AuthFailures,
    /// Per-source rates.
    pub sources: SourceLimits,
    /// Signed-read nonces.
    pub nonces: NonceCache,
    /// The statements logged most recently (exact retries answered from memory).
    pub recent: Arc<RecentStatements>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The CA certificate (PEM).
    pub ca_pem: String,
    /// The display.
    pub display: Arc<crate::display::Display>,
    /// Signed reads dated before this (unix seconds) are refused: the start of this process
    /// while the clock is synchronised, else the moment it was first seen synchronised; 0
    /// until then (docs/api.md, "Signed reads").
    pub reads_from_secs: std::sync::atomic::AtomicU64,
}

impl AppState {
    /// The earliest `Vigil-Date` a signed read may carry, fixed the first time the clock is
    /// synchronised if it was not at start (`now_secs` then).
    pub fn reads_signed_from(&self, now_secs: u64) -> u64 {
        use std::sync::atomic::Ordering;
        match self
            .reads_from_secs
            .compare_exchange(0, now_secs, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => now_secs,
            Err(set) => set,
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("origin", &self.origin)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Builds and signs a device statement (`boot/v1`, `policy/v1`, `key-enroll/v1`, `ack/v1`).
pub fn device_statement(
    key: &SigningKey,
    origin: &str,
    now_secs: u64,
    kind: Kind,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Verified, String> {
    let st = headers
        .iter()
        .fold(
            Statement::builder(kind, origin, now_secs, &crate::files::random_nonce()),
            |b, (k, v)| b.header(k, v),
        )
        .body(body)
        .build()
        .map_err(|e| e.to_string())?;
    sig::sign(st, DEVICE, key).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, key: &SigningKey) -> Entry {
        let v = device_statement(
            key,
            "t/log",
            1,
            Kind::Boot,
            &[("version", "1"), ("image", "t")],
            "",
        )
        .expect("statement");
        Entry::new(index, 1, vigil_core::ClockState::Synced, &v)
    }

    #[test]
    fn recent_statements_are_found_by_signer_and_bounded() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let r = RecentStatements::default();
        let entries: Vec<Entry> = (0..RECENT_STATEMENTS as u64 + 10)
            .map(|i| entry(i, &key))
            .collect();
        r.record(&entries);
        assert_eq!(r.len(), RECENT_STATEMENTS, "bounded");
        let sha = |e: &Entry| vigil_core::sha256(e.statement().bytes());
        let last = entries.last().expect("entries");
        assert_eq!(
            r.find(DEVICE, &sha(last)),
            Some((last.index(), last.leaf_hash()))
        );
        assert_eq!(r.find("someone-else", &sha(last)), None, "keyed by signer");
        assert_eq!(
            r.find(DEVICE, &sha(&entries[9])),
            None,
            "the oldest are forgotten"
        );
        assert!(r.find(DEVICE, &sha(&entries[10])).is_some());
    }
}
