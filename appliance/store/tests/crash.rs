//! Crash consistency, proven by cutting power at every write and sync.
//!
//! `CutBackend` keeps a durable image (what fsync made permanent) and the writes since. At the
//! N-th operation it fails and the "power goes out"; the disk that comes back is the durable
//! image plus none, half, or all of the unsynced writes (in order). For every N and each of those
//! three, the log must reopen writable, verify, and hold every append acknowledged before the cut.

mod common;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use redb::StorageBackend;
use vigil_core::merkle::leaf_hash;
use vigil_core::{Checkpoint, Hash};
use vigil_store::Store;

#[derive(Debug, Clone)]
enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Default, Clone)]
struct Disk {
    durable: Vec<u8>,
    volatile: Vec<u8>,
    pending: Vec<Op>,
}

#[derive(Debug, Clone)]
struct CutBackend {
    disk: Arc<Mutex<Disk>>,
    ops: Arc<AtomicU64>,
    cut_at: u64,
    cut: Arc<AtomicBool>,
}

impl CutBackend {
    fn new(image: Vec<u8>, cut_at: u64) -> Self {
        CutBackend {
            disk: Arc::new(Mutex::new(Disk {
                durable: image.clone(),
                volatile: image,
                pending: vec![],
            })),
            ops: Arc::new(AtomicU64::new(0)),
            cut_at,
            cut: Arc::new(AtomicBool::new(false)),
        }
    }
    /// A second disk that loses power with this one (the journal beside the log).
    fn sibling(&self, image: Vec<u8>) -> Self {
        CutBackend {
            ops: self.ops.clone(),
            cut: self.cut.clone(),
            ..CutBackend::new(image, self.cut_at)
        }
    }
    fn tick(&self) -> io::Result<()> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
        if self.cut.load(Ordering::SeqCst) || n >= self.cut_at {
            self.cut.store(true, Ordering::SeqCst);
            return Err(io::Error::other("power cut"));
        }
        Ok(())
    }
    /// The disk after the power comes back: durable image plus the first `keep` unsynced ops.
    fn after_cut(&self, keep: impl Fn(usize) -> usize) -> Vec<u8> {
        let d = self.disk.lock().expect("lock").clone();
        let mut img = d.durable;
        for op in d.pending.iter().take(keep(d.pending.len())) {
            apply(&mut img, op);
        }
        img
    }
}

fn apply(img: &mut Vec<u8>, op: &Op) {
    match op {
        Op::SetLen(n) => img.resize(*n as usize, 0),
        Op::Write(off, data) => {
            let end = *off as usize + data.len();
            if img.len() < end {
                img.resize(end, 0);
            }
            img[*off as usize..end].copy_from_slice(data);
        }
    }
}

impl StorageBackend for CutBackend {
    fn len(&self) -> io::Result<u64> {
        Ok(self.disk.lock().expect("lock").volatile.len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let d = self.disk.lock().expect("lock");
        let end = offset as usize + out.len();
        if end > d.volatile.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past end",
            ));
        }
        out.copy_from_slice(&d.volatile[offset as usize..end]);
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.tick()?;
        let mut d = self.disk.lock().expect("lock");
        apply(&mut d.volatile, &Op::SetLen(len));
        d.pending.push(Op::SetLen(len));
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.tick()?;
        let mut d = self.disk.lock().expect("lock");
        d.durable = d.volatile.clone();
        d.pending.clear();
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.tick()?;
        let mut d = self.disk.lock().expect("lock");
        let op = Op::Write(offset, data.to_vec());
        apply(&mut d.volatile, &op);
        d.pending.push(op);
        Ok(())
    }
}

/// A freshly created log's image (`Store::open` on a path creates it atomically by rename; the
/// backend API used here starts from that state).
fn created_image() -> Vec<u8> {
    let b = CutBackend::new(Vec::new(), u64::MAX);
    drop(Store::open_with_backend(b.clone(), log_signer()).expect("create"));
    b.after_cut(|_| 0)
}

/// The journal's size in the cut tests: three batches a round, so rounds end (a durable redb
/// commit, then records overwriting the last round's) several times in a workload.
const SMALL_JOURNAL: u64 = 4096;

/// The disks of a log: redb's file, and the journal's when the log has one.
#[derive(Clone)]
struct Disks {
    log: CutBackend,
    journal: Option<CutBackend>,
}

impl Disks {
    fn new(log: Vec<u8>, journal: Option<Vec<u8>>, cut_at: u64) -> Disks {
        let log = CutBackend::new(log, cut_at);
        let journal = journal.map(|j| log.sibling(j));
        Disks { log, journal }
    }
    fn open(self) -> Result<Store, vigil_store::StoreError> {
        match self.journal {
            None => Store::open_with_backend(self.log, log_signer()),
            Some(j) => Store::open_with_journal(
                self.log,
                j,
                SMALL_JOURNAL,
                log_signer(),
                vigil_store::Check::Full,
            ),
        }
    }
    fn after_cut(&self, keep: impl Fn(usize) -> usize + Copy) -> Disks {
        Disks::new(
            self.log.after_cut(keep),
            self.journal.as_ref().map(|j| j.after_cut(keep)),
            u64::MAX,
        )
    }
}

/// Runs the workload until the disks cut; returns every acknowledged (index, leaf). Between
/// batches the writer sometimes persists, as the committer does when idle.
fn workload(disks: Disks) -> Vec<(u64, Hash)> {
    let mut acked = Vec::new();
    let Ok(store) = disks.open() else {
        return acked;
    };
    for b in 0..8u64 {
        match store.append_batch((0..3).map(|i| alert(b * 10 + i, "nas", 1)).collect()) {
            Ok(out) => acked.extend(
                out.into_iter()
                    .map(|o| o.expect("no replays here"))
                    .map(|a| (a.index, a.leaf)),
            ),
            Err(_) => break,
        }
        if b == 4 && store.persist().is_err() {
            break;
        }
    }
    acked
}

fn total_ops(log: &[u8], journal: Option<Vec<u8>>) -> u64 {
    let d = Disks::new(log.to_vec(), journal, u64::MAX);
    let ops = d.log.ops.clone();
    assert_eq!(workload(d).len(), 24, "clean run appends everything");
    ops.load(Ordering::SeqCst)
}

/// For a power cut at every operation of the workload, and none, half or all of the writes
/// since the last sync on the disk: the log reopens writable, verifies, holds every append
/// acknowledged before the cut, and keeps working.
fn survives_every_cut(journal: Option<Vec<u8>>) {
    let created = created_image();
    let total = total_ops(&created, journal.clone());
    assert!(total > 20, "the workload does real I/O ({total} ops)");
    type Keep = (&'static str, fn(usize) -> usize);
    let keeps: [Keep; 3] = [("none", |_| 0), ("half", |n| n / 2), ("all", |n| n)];
    let mut checked = 0;
    let mut replayed = 0;
    for cut_at in 1..=total + 1 {
        for (label, keep) in keeps {
            let disks = Disks::new(created.clone(), journal.clone(), cut_at);
            let probe = disks.clone();
            let acked = workload(disks);
            let after = probe.after_cut(keep);
            // What redb alone holds (opened on a copy of its disk).
            let durable_in_redb = Store::open_with_backend(
                CutBackend::new(after.log.after_cut(|n| n), u64::MAX),
                log_signer(),
            )
            .map(|s| s.head().size)
            .unwrap_or(0);
            let ctx = format!("cut at op {cut_at}/{total}, unsynced writes kept: {label}");
            let store = after
                .open()
                .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            assert_eq!(store.writable(), Ok(()), "{ctx}");
            let head = store.head();
            if head.size > durable_in_redb {
                replayed += 1;
            }
            assert!(
                head.size as usize >= acked.len(),
                "{ctx}: lost acknowledged appends"
            );
            for (index, leaf) in &acked {
                let bytes = store
                    .entry(*index)
                    .expect("read")
                    .unwrap_or_else(|| panic!("{ctx}: entry {index} lost"));
                assert_eq!(&leaf_hash(&bytes), leaf, "{ctx}: entry {index} changed");
            }
            Checkpoint::verify(&head.checkpoint, log_signer().verifier())
                .expect("checkpoint verifies");
            // And the recovered log keeps working.
            let more = store
                .append_batch(vec![alert(999, "nas", 1)])
                .expect("append after recovery");
            assert_eq!(more[0].clone().expect("ok").index, head.size);
            store.self_check().expect("verifies after recovery");
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * (total + 1));
    if journal.is_some() {
        // The journal carried entries redb had not made durable, in some of the cuts.
        assert!(replayed > 0, "no cut needed the journal");
    }
}

#[test]
fn every_acknowledged_append_survives_a_cut_at_every_operation() {
    survives_every_cut(None);
}

#[test]
fn every_acknowledged_append_survives_a_cut_at_every_operation_with_a_journal() {
    survives_every_cut(Some(Vec::new()));
}

#[test]
fn a_creation_cut_short_leaves_no_half_made_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("log.redb");
    // What a power cut during creation leaves: a partial temporary file, no log.
    std::fs::write(dir.path().join("log.redb.creating"), vec![0u8; 4096]).expect("write");
    let s = Store::open(&path, log_signer()).expect("creates over the leftover");
    assert_eq!(s.writable(), Ok(()));
    assert!(!dir.path().join("log.redb.creating").exists());
    assert_eq!(
        s.append_batch(vec![alert(1, "nas", 1)])
            .expect("append")
            .len(),
        1
    );
}

/// Given a log whose disk fills (every write and sync fails with ENOSPC), when a batch fails,
/// then the log refuses writes and says why; it does not come back while the disk is full;
/// once space is freed, `recover` reopens it, the self-check passes, and it takes writes again
/// without a restart — with every acknowledged entry still there and the tree consistent.
#[test]
fn a_full_disk_is_recovered_from_without_a_restart() {
    use vigil_store::backends::{ControlledSync, Syncs};
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("log.redb");
    let syncs = Syncs::plain();
    let (p, s) = (path.clone(), syncs.clone());
    let store = Store::open_with_backends(
        move || {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&p)
                .map_err(|e| vigil_store::StoreError::Db(redb::Error::Io(e)))?;
            ControlledSync::new(file, s.clone())
        },
        {
            let s = syncs.clone();
            move || !s.is_full()
        },
        log_signer(),
    )
    .expect("opens");
    let acked: Vec<_> = store
        .append_batch((0..5).map(|i| alert(i, "nas", 1)).collect())
        .expect("append")
        .into_iter()
        .map(|r| r.expect("ok"))
        .collect();
    let before = store.head();
    syncs.fill_disk();
    assert!(
        store.append_batch(vec![alert(10, "nas", 1)]).is_err(),
        "the disk is full"
    );
    let why = store.writable().expect_err("not writable");
    assert!(why.contains("a write failed"), "{why}");
    assert!(
        matches!(
            store.append_batch(vec![alert(11, "nas", 1)]),
            Err(vigil_store::StoreError::NotWritable(_))
        ),
        "refused at once while not writable"
    );
    // Still full: no reopening yet, and reads go on from the log as it was.
    assert!(store.recover().is_err(), "no room yet");
    assert!(store.entry(acked[0].index).expect("read").is_some());
    assert_eq!(store.head(), before);
    syncs.free_disk();
    assert!(store.recover().expect("reopens"), "writable again");
    assert_eq!(store.head(), before, "the durable head, checked");
    let after = store
        .append_batch(vec![alert(13, "nas", 1)])
        .expect("append")[0]
        .clone()
        .expect("ok");
    assert_eq!(after.index, before.size);
    for a in &acked {
        let bytes = store
            .entry(a.index)
            .expect("read")
            .expect("acknowledged entry present");
        assert_eq!(vigil_core::merkle::leaf_hash(&bytes), a.leaf);
    }
    let p = store
        .consistency_proof(before.size, store.head().size)
        .expect("proof");
    vigil_core::merkle::verify_consistency(
        before.size,
        store.head().size,
        &before.root,
        &store.head().root,
        &p,
    )
    .expect("consistent with the head before the disk filled");
}

#[test]
fn a_failed_self_check_is_not_recovered_by_waiting() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("log.redb");
    {
        let s = Store::open(&path, log_signer()).expect("opens");
        s.append_batch(vec![alert(1, "nas", 1), alert(2, "nas", 1)])
            .expect("append");
    }
    {
        let db = redb::Database::create(&path).expect("redb");
        let t: redb::TableDefinition<(u8, u64), &[u8; 32]> = redb::TableDefinition::new("hashes");
        let w = db.begin_write().expect("w");
        w.open_table(t)
            .expect("t")
            .insert((0u8, 1u64), &[9u8; 32])
            .expect("insert");
        w.commit().expect("commit");
    }
    let s = Store::open(&path, log_signer()).expect("opens read-only");
    assert!(s.writable().is_err());
    assert!(!s.recover().expect("no error"), "a person must look");
    assert!(s.writable().is_err());
}
