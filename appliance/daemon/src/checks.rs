//! Check-ins (docs/spec.md §2, §7): every check's deadline, folded from the log, and the task
//! that records a `missed/v1` when one passes.
//!
//! The fold ([`fold`]) is core's [`Checks`]: rebuilt at start from the check entries (found
//! through `by_kind`), then kept by the commit callback, with an index by due time (a look costs
//! what changed since the last and what is due, not a pass over every check). The task looks
//! every second; it writes nothing while the appliance clock is not synchronised (a deadline
//! against a wrong clock would be a false alarm or a silent one), and the gate refuses a miss
//! that is no longer due when it reaches the log (its check checked in since, or the miss is
//! already recorded), so a replay of the log gives the same verdicts.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use vigil_core::checkin::{Check, Checks, Miss, MissReason};
use vigil_core::statement::{CheckAction, Content, Kind};
use vigil_core::{Denied, Entry, Verified};

use crate::state::{AppState, device_statement, lock};

/// The kinds the check fold reads.
pub const CHECK_KINDS: [Kind; 3] = [Kind::Checkin, Kind::Missed, Kind::Check];

/// How often the task looks for deadlines that passed.
pub const LOOK_EVERY: Duration = Duration::from_secs(1);

/// Folds one committed entry into the checks.
pub fn fold(checks: &mut Checks, e: &Entry) {
    match e.statement().content() {
        Content::Checkin(c) => {
            checks.checkin(e.index(), e.received_ms(), e.signer(), (**c).clone())
        }
        Content::Missed(m) => checks.missed(e.index(), &m.signer, &m.check),
        Content::Check {
            signer,
            check,
            action,
            ..
        } => match action {
            CheckAction::Pause => checks.pause(signer, check),
            CheckAction::Delete => checks.delete(signer, check),
        },
        _ => {}
    }
}

/// The (signer, check) an entry concerns, for the check kinds.
fn concerns(e: &Entry) -> Option<(String, String)> {
    match e.statement().content() {
        Content::Checkin(c) => Some((e.signer().to_owned(), c.check.clone())),
        Content::Missed(m) => Some((m.signer.clone(), m.check.clone())),
        Content::Check { signer, check, .. } => Some((signer.clone(), check.clone())),
        _ => None,
    }
}

/// What the gate asks about a `missed/v1` at the log's serialization point: is it still due?
/// The checks are those committed; `batch` the checks the batch being written touched so far
/// (a miss after a check-in of the same batch is refused).
#[derive(Debug)]
pub struct MissGate {
    checks: Arc<Mutex<Checks>>,
    batch: HashSet<(String, String)>,
}

impl MissGate {
    /// A gate over the committed `checks`.
    pub fn new(checks: Arc<Mutex<Checks>>) -> MissGate {
        MissGate {
            checks,
            batch: HashSet::new(),
        }
    }

    /// `Err` for a `missed/v1` that is no longer due.
    pub fn admit(&self, v: &Verified) -> Result<(), Denied> {
        let Content::Missed(m) = v.statement().content() else {
            return Ok(());
        };
        let key = (m.signer.clone(), m.check.clone());
        let checks = lock(&self.checks);
        let due = !self.batch.contains(&key)
            && checks
                .get(&m.signer, &m.check)
                .is_some_and(|c| c.last == m.last && c.due_at().is_some());
        if due {
            Ok(())
        } else {
            Err(Denied::Invalid(format!(
                "check `{}` of `{}` is not due to be missed (it checked in, was paused or \
                 deleted, or the miss is recorded)",
                m.check, m.signer
            )))
        }
    }

    /// `entry` joined the batch being written.
    pub fn appended(&mut self, entry: &Entry) {
        if let Some(k) = concerns(entry) {
            self.batch.insert(k);
        }
    }

    /// The batch is committed or abandoned.
    pub fn batch_done(&mut self) {
        self.batch.clear();
    }
}

/// The device-signed `missed/v1` for a miss of `check`.
pub fn missed_statement(
    st: &AppState,
    m: &Miss,
    check: &Check,
    now_secs: u64,
) -> Result<Verified, String> {
    let deadline = m.deadline_ms.div_ceil(1000);
    let when = vigil_core::checkin::rfc3339(deadline * 1000);
    let body = match m.reason {
        MissReason::Late => format!("No check-in by {when} (grace included).\n"),
        MissReason::Unfinished => {
            format!("Started (entry {}), not finished by {when}.\n", m.last)
        }
    };
    device_statement(
        &st.device_key,
        &st.origin,
        now_secs,
        Kind::Missed,
        &[
            ("signer", &m.signer),
            ("check", &m.check),
            ("deadline", &deadline.to_string()),
            ("last", &m.last.to_string()),
            ("reason", m.reason.name()),
            ("severity", check.spec.severity.name()),
            ("title", &check.spec.title),
        ],
        &body,
    )
}

/// Records the misses due now, one at a time (each folded before the next is looked for).
/// Returns how many were recorded; none while the clock is not synchronised.
pub async fn record_due(st: &AppState) -> usize {
    if !st.clock.synced() {
        return 0;
    }
    let now_ms = st.clock.now_ms();
    let due: Vec<(Miss, Check)> = {
        let mut checks = lock(&st.checks);
        checks
            .due(now_ms)
            .into_iter()
            .filter_map(|m| {
                let c = checks.get(&m.signer, &m.check)?.clone();
                Some((m, c))
            })
            .collect()
    };
    let mut recorded = 0;
    for (m, check) in due {
        let v = match missed_statement(st, &m, &check, st.clock.now_secs()) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, check = %m.check, "cannot build a missed/v1");
                continue;
            }
        };
        let Ok(ticket) = st.committer.submit(st.clock.submission(v)) else {
            tracing::warn!("a missed/v1 waits: the ingest queue is full");
            break;
        };
        match ticket.await {
            Ok(Ok(a)) => {
                recorded += 1;
                tracing::warn!(
                    signer = %m.signer,
                    check = %m.check,
                    reason = m.reason.name(),
                    index = a.index,
                    "check missed"
                );
            }
            Ok(Err(e)) => tracing::info!(check = %m.check, error = %e, "missed/v1 not logged"),
            Err(_) => break,
        }
    }
    recorded
}

/// The task: looks for passed deadlines every [`LOOK_EVERY`] until the stop.
pub(crate) fn deadlines(st: Arc<AppState>, mut rx: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(LOOK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    st.display.set_checks_on_hold(!st.clock.synced() && !lock(&st.checks).is_empty());
                    record_due(&st).await;
                }
                _ = rx.changed() => break,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::{ClockState, SigningKey};

    fn entry(index: u64, at_ms: u64, signer: &str, kind: Kind, h: &[(&str, &str)]) -> Entry {
        let key = SigningKey::from_bytes(&[5; 32]);
        let st = h
            .iter()
            .fold(
                vigil_core::Statement::builder(kind, "t/log", 1, &format!("{index:032x}")),
                |b, (k, v)| b.header(k, v),
            )
            .build()
            .expect("statement");
        let v = vigil_core::sig::sign(st, signer, &key).expect("signed");
        Entry::new(index, at_ms, ClockState::Synced, &v)
    }

    fn missed(last: u64) -> Entry {
        let last = last.to_string();
        entry(
            9,
            0,
            vigil_core::registry::DEVICE,
            Kind::Missed,
            &[
                ("signer", "nas"),
                ("check", "backup"),
                ("deadline", "1"),
                ("last", &last),
                ("reason", "late"),
                ("severity", "critical"),
                ("title", "backup"),
            ],
        )
    }

    fn checkin(index: u64) -> Entry {
        entry(
            index,
            1000,
            "nas",
            Kind::Checkin,
            &[("check", "backup"), ("every", "1h")],
        )
    }

    fn verified(e: &Entry) -> Verified {
        e.verify().expect("verifies")
    }

    #[test]
    fn the_gate_takes_only_a_miss_that_is_still_due() {
        let checks = Arc::new(Mutex::new(Checks::default()));
        fold(&mut lock(&checks), &checkin(3));
        let mut gate = MissGate::new(checks.clone());
        assert_eq!(gate.admit(&verified(&missed(3))), Ok(()));
        // It names another check-in than the last: refused.
        assert!(gate.admit(&verified(&missed(2))).is_err());
        // A check-in of the same batch came first: refused, until the batch is done.
        gate.appended(&checkin(4));
        assert!(gate.admit(&verified(&missed(3))).is_err());
        gate.batch_done();
        // Once the miss is folded in, another is not due.
        fold(&mut lock(&checks), &missed(3));
        assert!(gate.admit(&verified(&missed(3))).is_err());
        // Unknown checks are never due.
        let empty = MissGate::new(Arc::new(Mutex::new(Checks::default())));
        assert!(empty.admit(&verified(&missed(3))).is_err());
        // Other kinds pass untouched.
        assert_eq!(empty.admit(&verified(&checkin(5))), Ok(()));
    }
}
