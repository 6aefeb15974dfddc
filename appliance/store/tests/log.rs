//! The log's behaviour: receipts, checkpoints, replay and idempotency, persistence, queries,
//! group commit, queue bounds.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use vigil_core::merkle::{leaf_hash, verify_consistency};
use vigil_core::{Checkpoint, Kind, Severity, Statement, TlogProof};
use vigil_store::backends::{ControlledSync, Syncs};
use vigil_store::{Committer, Filter, QueueFull, Refused, Store, Submission};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("log.redb"), log_signer()).expect("opens")
}

#[test]
fn fresh_log_has_a_signed_empty_checkpoint() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(&dir);
    let h = s.head();
    assert_eq!(h.size, 0);
    let cp = Checkpoint::verify(&h.checkpoint, log_signer().verifier()).expect("verifies");
    assert_eq!(cp.root, vigil_core::merkle::empty_root());
    assert!(s.writable().is_ok());
}

#[test]
fn appended_entries_get_receipts_that_verify_offline() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(&dir);
    let out = s
        .append_batch((0..10).map(|i| alert(i, "nas", 1)).collect())
        .expect("append");
    assert_eq!(out.len(), 10);
    let vkey = vigil_core::NoteVerifier::from_vkey(&s.vkey()).expect("vkey");
    for (i, o) in out.iter().enumerate() {
        let a = o.clone().expect("appended");
        assert_eq!(a.index, i as u64);
        assert!(a.created);
        let bytes = s.entry(a.index).expect("read").expect("present");
        assert_eq!(leaf_hash(&bytes), a.leaf);
        let proof =
            TlogProof::parse(&s.tlog_proof(a.index).expect("proof").to_text()).expect("parses");
        let cp = proof.verify(&a.leaf, &vkey).expect("receipt verifies");
        assert_eq!(cp.size, 10);
        // The receipt made inside the batch is the same proof, against the same checkpoint.
        let inside = a.receipt.as_ref().expect("a new entry carries its receipt");
        assert_eq!(
            inside.to_text(),
            s.tlog_proof(a.index).expect("proof").to_text()
        );
    }
    assert!(s.entry(10).expect("read").is_none());
}

#[test]
fn consistency_between_every_pair_of_heads() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(&dir);
    let mut heads = vec![s.head()];
    for b in 0..6u64 {
        s.append_batch((0..b + 1).map(|i| alert(b * 100 + i, "nas", 1)).collect())
            .expect("append");
        heads.push(s.head());
    }
    for a in &heads {
        for b in &heads {
            if a.size <= b.size {
                let p = s.consistency_proof(a.size, b.size).expect("proof");
                verify_consistency(a.size, b.size, &a.root, &b.root, &p).expect("consistent");
            }
        }
    }
    assert!(s.consistency_proof(1, 1000).is_err(), "beyond the log");
}

#[test]
fn replay_and_idempotent_resubmission() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(&dir);
    let first = s.append_batch(vec![alert(7, "nas", 1)]).expect("append")[0]
        .clone()
        .expect("ok");
    // The exact same statement again: same index, not created, no new entry.
    let again = s.append_batch(vec![alert(7, "nas", 1)]).expect("append")[0]
        .clone()
        .expect("ok");
    assert_eq!(
        (again.index, again.created, again.leaf),
        (first.index, false, first.leaf)
    );
    assert_eq!(s.head().size, 1);
    // Same signer and nonce, other bytes: a replay.
    let other = submit_text(
        &alert_text(7, "critical", "default", "other"),
        "nas",
        &source_key(1),
        5,
    );
    let r = s.append_batch(vec![other]).expect("append");
    assert_eq!(r[0], Err(Refused::Replay(0)));
    assert_eq!(s.head().size, 1, "nothing logged");
    // The same nonce is fine for another signer.
    let b = s.append_batch(vec![alert(7, "other", 2)]).expect("append")[0]
        .clone()
        .expect("ok");
    assert!(b.created);
    // Inside one batch: the duplicate is idempotent, the conflicting one refused.
    let batch = vec![
        alert(9, "nas", 1),
        alert(9, "nas", 1),
        submit_text(
            &alert_text(9, "info", "x", "conflict"),
            "nas",
            &source_key(1),
            5,
        ),
    ];
    let r = s.append_batch(batch).expect("append");
    let i = r[0].clone().expect("ok").index;
    assert_eq!(r[1].clone().expect("ok").index, i);
    assert_eq!(r[2], Err(Refused::Replay(i)));
    assert_eq!(s.head().size, 3);
    let logged =
        Statement::parse(alert_text(9, "warning", "default", "t").as_bytes()).expect("parses");
    assert_eq!(
        s.find_logged("nas", &logged)
            .expect("lookup")
            .map(|e| e.index()),
        Some(i)
    );
    assert!(
        s.find_logged("other", &logged).expect("lookup").is_none(),
        "keyed by signer"
    );
}

#[test]
fn the_same_bytes_from_two_signers_keep_their_own_entries() {
    // A statement's bytes logged by one key, then the same bytes by another: each signer's exact
    // retry gets its own entry back (an index keyed by the bytes alone gave the second signer's
    // entry to both, and refused the first signer's retry as a replay).
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(&dir);
    let first = s.append_batch(vec![alert(4, "nas", 1)]).expect("append")[0]
        .clone()
        .expect("ok");
    let second = s.append_batch(vec![alert(4, "web", 1)]).expect("append")[0]
        .clone()
        .expect("ok");
    assert!(first.created && second.created && first.index != second.index);
    for (signer, want) in [("nas", &first), ("web", &second), ("nas", &first)] {
        let again = s.append_batch(vec![alert(4, signer, 1)]).expect("append")[0]
            .clone()
            .expect("an exact retry is not a replay");
        assert_eq!(
            (again.index, again.created),
            (want.index, false),
            "{signer}"
        );
        assert_eq!(again.leaf, want.leaf);
    }
    assert_eq!(s.head().size, 2);
}

#[test]
fn log_and_replay_protection_survive_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let head = {
        let s = open(&dir);
        s.append_batch((0..25).map(|i| alert(i, "nas", 1)).collect())
            .expect("append");
        s.head()
    };
    let s = open(&dir);
    assert!(s.writable().is_ok(), "{:?}", s.writable());
    assert_eq!(s.head(), head);
    let other = submit_text(
        &alert_text(3, "critical", "default", "other"),
        "nas",
        &source_key(1),
        5,
    );
    assert_eq!(
        s.append_batch(vec![other]).expect("append")[0],
        Err(Refused::Replay(3))
    );
    s.append_batch(vec![alert(100, "nas", 1)]).expect("append");
    let p = s.consistency_proof(head.size, 26).expect("proof");
    verify_consistency(head.size, 26, &head.root, &s.head().root, &p)
        .expect("consistent across restart");
}

#[test]
fn queries_filter_and_page() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(&dir);
    let mut batch = Vec::new();
    for i in 0..30u64 {
        let sev = ["info", "warning", "critical"][(i % 3) as usize];
        let topic = if i % 2 == 0 { "backup" } else { "disk" };
        let signer = if i < 20 { "nas" } else { "web" };
        batch.push(submit_text(
            &alert_text(i, sev, topic, "t"),
            signer,
            &source_key(1),
            1000 * i,
        ));
    }
    s.append_batch(batch).expect("append");
    let all = |f: Filter| -> Vec<u64> {
        let mut f = f;
        let mut out = Vec::new();
        loop {
            let p = s.query(&f).expect("query");
            out.extend(p.entries.iter().map(|e| e.index()));
            match p.next {
                Some(n) => f.from = n,
                None => return out,
            }
        }
    };
    assert_eq!(
        all(Filter {
            limit: 7,
            ..Filter::default()
        }),
        (0..30).collect::<Vec<_>>()
    );
    assert_eq!(
        all(Filter {
            signer: Some("web".into()),
            ..Filter::default()
        }),
        (20..30).collect::<Vec<_>>()
    );
    assert_eq!(
        all(Filter {
            severity: Some(Severity::Critical),
            topic: Some("backup".into()),
            limit: 2,
            ..Filter::default()
        }),
        vec![2, 8, 14, 20, 26]
    );
    assert_eq!(
        all(Filter {
            since_ms: Some(5000),
            until_ms: Some(8000),
            ..Filter::default()
        }),
        vec![5, 6, 7]
    );
    assert_eq!(
        all(Filter {
            kind: Some(Kind::Ack),
            ..Filter::default()
        }),
        Vec::<u64>::new()
    );
    assert_eq!(
        all(Filter {
            from: 28,
            ..Filter::default()
        }),
        vec![28, 29]
    );
    let p = s
        .query(&Filter {
            limit: 5000,
            ..Filter::default()
        })
        .expect("query");
    assert_eq!(
        p.entries.len(),
        30,
        "limit is capped, not refused, at the store level"
    );
}

#[test]
fn concurrent_submitters_share_commits_and_each_is_logged_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Arc::new(open(&dir));
    let batches = Arc::new(Mutex::new(Vec::new()));
    let b2 = batches.clone();
    let c = Arc::new(Committer::start(
        s.clone(),
        4096,
        Box::new(vigil_store::OpenGate),
        Some(Box::new(move |n, _| b2.lock().expect("lock").push(n))),
    ));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let tickets: Vec<_> = (0..100u64)
                    .map(|i| c.submit(alert(t * 1000 + i, "nas", 1)).expect("queued"))
                    .collect();
                tickets
                    .into_iter()
                    .map(|tk| tk.blocking_recv().expect("answered").expect("appended"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut indexes: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .map(|a| a.index)
        .collect();
    indexes.sort_unstable();
    assert_eq!(
        indexes,
        (0..800).collect::<Vec<_>>(),
        "every submission logged exactly once"
    );
    let batches = batches.lock().expect("lock").clone();
    assert_eq!(batches.iter().sum::<usize>(), 800);
    assert!(
        batches.len() < 800,
        "submitters shared commits ({} batches)",
        batches.len()
    );
    assert_eq!(s.self_check().expect("verifies").size, 800);
}

#[test]
fn full_queue_is_refused_at_once_and_shutdown_drains() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Arc::new(open(&dir));
    let (hold_tx, hold_rx) = std::sync::mpsc::channel::<()>();
    let hold_rx = Mutex::new(hold_rx);
    // The hook blocks the writer after its first batch until we let it go.
    let c = Committer::start(
        s.clone(),
        4,
        Box::new(vigil_store::OpenGate),
        Some(Box::new(move |_, _| {
            let _ = hold_rx.lock().expect("lock").recv();
        })),
    );
    let first = c.submit(alert(0, "nas", 1)).expect("queued");
    // Wait until the writer has taken the first job (the queue is empty again).
    while c.depth() > 0 && s.head().size == 0 {
        std::thread::yield_now();
    }
    let queued: Vec<_> = (1..=4)
        .map(|i| c.submit(alert(i, "nas", 1)).expect("fits"))
        .collect();
    assert_eq!(c.submit(alert(99, "nas", 1)).err(), Some(QueueFull));
    for _ in 0..3 {
        hold_tx.send(()).expect("release");
    }
    drop(hold_tx);
    c.shutdown();
    assert!(first.blocking_recv().expect("answered").is_ok());
    for t in queued {
        assert!(
            t.blocking_recv()
                .expect("answered")
                .expect("drained on shutdown")
                .created
        );
    }
    assert_eq!(s.head().size, 5);
}

/// A gate that refuses a signer once an entry titled "revoke <signer>" was appended.
#[derive(Default)]
struct RevokingGate {
    published: Vec<String>,
    pending: Vec<String>,
    commits: usize,
}

impl vigil_store::Gate for RevokingGate {
    fn admit(&mut self, sub: &Submission) -> Result<(), vigil_core::Denied> {
        let signer = sub.verified.signer();
        if self.pending.iter().any(|r| r == signer) {
            return Err(vigil_core::Denied::Revoked(signer.to_owned()));
        }
        Ok(())
    }
    fn appended(&mut self, e: &vigil_core::Entry) {
        if let Some(who) = e
            .statement()
            .alert()
            .and_then(|a| a.title.strip_prefix("revoke "))
        {
            self.pending.push(who.to_owned());
        }
    }
    fn committed(&mut self) {
        self.published = self.pending.clone();
        self.commits += 1;
    }
    fn abandoned(&mut self) {
        self.pending = self.published.clone();
    }
}

#[test]
fn the_gate_sees_earlier_entries_of_the_same_batch() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = open(&dir);
    let mut gate = RevokingGate::default();
    let batch = vec![
        alert(1, "nas", 1),
        submit_text(
            &alert_text(2, "info", "default", "revoke nas"),
            "admin",
            &source_key(2),
            2,
        ),
        alert(3, "nas", 1),
        alert(4, "web", 3),
    ];
    let out = s.append_batch_gated(batch, &mut gate).expect("append");
    assert!(out[0].is_ok() && out[1].is_ok() && out[3].is_ok());
    assert_eq!(
        out[2],
        Err(Refused::Denied(vigil_core::Denied::Revoked("nas".into())))
    );
    assert_eq!(s.head().size, 3, "the refused one was not logged");
    assert_eq!(
        (gate.commits, gate.published.clone()),
        (1, vec!["nas".to_string()])
    );
    // A refused-only batch commits nothing and signs no new checkpoint.
    let before = s.head();
    let out = s
        .append_batch_gated(vec![alert(5, "nas", 1)], &mut gate)
        .expect("append");
    assert!(out[0].is_err());
    assert_eq!(s.head(), before);
}

/// Given a batch whose sync is in progress, when a reader asks for the head (the checkpoint
/// endpoint, the display), then it gets the last durable head at once instead of waiting for
/// the sync, and the new head only once the batch is durable. (redb's own read transactions do
/// wait for a commit in progress: receipts and proofs are read after it.)
#[test]
fn the_head_does_not_wait_for_a_sync_in_progress() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.path().join("log.redb"))
        .expect("file");
    let syncs = Syncs::plain();
    let backend = ControlledSync::new(file, syncs.clone()).expect("backend");
    let s = Arc::new(Store::open_with_backend(backend, log_signer()).expect("opens"));
    s.append_batch(vec![alert(1, "nas", 1)])
        .expect("first batch");
    let before = s.head();
    assert_eq!(before.size, 1);
    // Hold every later sync.
    syncs.hold();
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || s.append_batch(vec![alert(2, "nas", 1)]))
    };
    assert!(
        syncs.wait_held(std::time::Duration::from_secs(30)),
        "the second batch reached its sync"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let s = s.clone();
        std::thread::spawn(move || {
            let _ = tx.send(s.head());
        });
    }
    let head = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the head was read while the sync was held (it must not wait for the writer)");
    assert_eq!(head, before, "the head is the last durable one");
    syncs.release();
    writer.join().expect("writer").expect("second batch");
    assert_eq!(s.head().size, 2, "published once durable");
}

#[test]
fn an_older_log_loses_its_retired_payload_index_and_keeps_its_entries() {
    use redb::{ReadableDatabase as _, TableDefinition, TableHandle as _};
    const PAYLOADS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("payloads");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("log.redb");
    let head = {
        let s = open(&dir);
        s.append_batch(vec![alert(1, "nas", 1)]).expect("append");
        s.head()
    };
    // As an older vigil left it: with the payload table.
    {
        let db = redb::Database::open(&path).expect("redb");
        let txn = db.begin_write().expect("txn");
        txn.open_table(PAYLOADS)
            .expect("table")
            .insert(&[7; 32], 0)
            .expect("insert");
        txn.commit().expect("commit");
    }
    let s = open(&dir);
    assert_eq!(s.head(), head);
    assert!(s.writable().is_ok());
    drop(s);
    let db = redb::Database::open(&path).expect("redb");
    let names: Vec<String> = db
        .begin_read()
        .expect("read")
        .list_tables()
        .expect("tables")
        .map(|t| t.name().to_owned())
        .collect();
    assert!(!names.iter().any(|n| n == "payloads"), "{names:?}");
    assert!(names.iter().any(|n| n == "nonces"), "{names:?}");
}
