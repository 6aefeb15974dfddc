//! The write-ahead journal on real files (journal.rs; docs/format.md §8): what a crash leaves
//! is replayed, a journal that does not continue the log or does not give its checkpoints turns
//! the log read-only, one sync makes a batch durable, and the committer persists when idle.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use vigil_core::merkle::leaf_hash;
use vigil_store::{Committer, OpenGate, Store, journal_path};

fn append(store: &Store, from: u64, n: u64) {
    let out = store
        .append_batch((from..from + n).map(|i| alert(i, "nas", 1)).collect())
        .expect("append");
    assert!(out.iter().all(|o| o.as_ref().is_ok_and(|a| a.created)));
}

/// What a power cut leaves of a running log: its files as they are now.
fn crash_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for name in ["log.redb", "log.redb-wal"] {
        std::fs::copy(from.join(name), to.join(name)).expect("copy");
    }
}

/// The log's size as redb alone holds it (the journal left out).
fn size_without_journal(dir: &Path) -> u64 {
    let only = tempfile::tempdir().expect("tmp");
    std::fs::copy(dir.join("log.redb"), only.path().join("log.redb")).expect("copy");
    Store::open(&only.path().join("log.redb"), log_signer())
        .expect("open")
        .head()
        .size
}

#[test]
fn a_crash_between_durable_commits_is_replayed_from_the_journal() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("log.redb");
    let store = Store::open(&path, log_signer()).expect("open");
    append(&store, 0, 3);
    assert!(
        store.persist().expect("persist"),
        "the journal held a batch"
    );
    assert!(
        !store.persist().expect("persist"),
        "nothing left to persist"
    );
    append(&store, 3, 4);
    append(&store, 7, 2);
    let head = store.head();
    assert_eq!(head.size, 9);

    let crashed = dir.path().join("crashed");
    crash_copy(dir.path(), &crashed);
    assert_eq!(
        size_without_journal(&crashed),
        3,
        "redb alone holds only what was persisted"
    );
    let reopened = Store::open(&crashed.join("log.redb"), log_signer()).expect("reopen");
    assert_eq!(reopened.writable(), Ok(()));
    assert_eq!(reopened.head(), head, "the same head and checkpoint");
    for i in 0..9 {
        assert_eq!(
            reopened.entry(i).expect("read"),
            store.entry(i).expect("read"),
            "entry {i}"
        );
    }
    // The replay was made durable: redb alone now holds everything.
    drop(reopened);
    assert_eq!(size_without_journal(&crashed), 9);

    // The journal file: owner-only, preallocated.
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(journal_path(&path)).expect("journal");
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.len(), vigil_store::JOURNAL_BYTES);
}

/// Rewrites the first journal record's body with `edit` and recomputes its digest, as a forger
/// who knows the format would.
fn forge_first_record(wal: &Path, edit: impl FnOnce(&mut [u8])) {
    let mut b = std::fs::read(wal).expect("read");
    assert_eq!(&b[..8], b"vigiljr1");
    let len = u32::from_be_bytes(b[8..12].try_into().expect("len")) as usize;
    edit(&mut b[12..12 + len]);
    let digest = leaf_hash(&b[8..12 + len]);
    b[12 + len..12 + len + 32].copy_from_slice(&digest);
    std::fs::write(wal, b).expect("write");
}

#[test]
fn a_forged_journal_record_turns_the_log_read_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("log.redb"), log_signer()).expect("open");
    append(&store, 0, 2);
    let crashed = dir.path().join("crashed");
    crash_copy(dir.path(), &crashed);
    // A byte of the second entry's statement changed (its digest made to match): the replayed
    // tree no longer gives the checkpoint the batch was acknowledged with.
    forge_first_record(&crashed.join("log.redb-wal"), |body| {
        let at = body.len() - 20;
        body[at] ^= 1;
    });
    let s = Store::open(&crashed.join("log.redb"), log_signer()).expect("opens for reads");
    let why = s.writable().expect_err("refuses writes");
    assert!(why.contains("journal"), "{why}");
    assert_eq!(s.head().size, 0, "nothing of the forged record was taken");
}

#[test]
fn a_journal_that_does_not_continue_the_log_turns_it_read_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("log.redb"), log_signer()).expect("open");
    append(&store, 0, 3);
    store.persist().expect("persist");
    let early = dir.path().join("early");
    crash_copy(dir.path(), &early);
    append(&store, 3, 3);
    store.persist().expect("persist");
    append(&store, 6, 3);
    // redb as it was at 3 entries, with a journal whose round starts at entry 6: entries 3..6
    // are in neither.
    std::fs::copy(dir.path().join("log.redb-wal"), early.join("log.redb-wal")).expect("copy");
    let s = Store::open(&early.join("log.redb"), log_signer()).expect("opens for reads");
    let why = s.writable().expect_err("refuses writes");
    assert!(why.contains("continues the log from entry 6"), "{why}");
    assert_eq!(s.head().size, 3);
}

#[test]
fn a_new_log_removes_a_journal_left_without_its_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("log.redb");
    {
        let store = Store::open(&path, log_signer()).expect("open");
        append(&store, 0, 2);
    }
    std::fs::remove_file(&path).expect("remove the log");
    let s = Store::open(&path, log_signer()).expect("a new log");
    assert_eq!(s.writable(), Ok(()));
    assert_eq!(s.head().size, 0);
    append(&s, 100, 1);
}

#[test]
fn one_sync_makes_a_batch_durable() {
    use vigil_store::backends::{ControlledSync, Syncs};
    let dir = tempfile::tempdir().expect("tmp");
    let (log_syncs, journal_syncs) = (Syncs::plain(), Syncs::plain());
    let file = |name: &str| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.path().join(name))
            .expect("file")
    };
    let store = Store::open_with_journal(
        ControlledSync::new(file("log.redb"), log_syncs.clone()).expect("backend"),
        ControlledSync::new(file("log.redb-wal"), journal_syncs.clone()).expect("backend"),
        vigil_store::JOURNAL_BYTES,
        log_signer(),
        vigil_store::Check::Full,
    )
    .expect("open");
    for b in 0..20 {
        append(&store, b * 5, 5);
    }
    let (log_before, journal_before) = (log_syncs.count(), journal_syncs.count());
    for b in 20..70 {
        append(&store, b * 5, 5);
    }
    assert_eq!(
        journal_syncs.count() - journal_before,
        50,
        "one journal sync per batch"
    );
    // redb syncs only when it makes its file larger (rarely, and less often as it grows).
    let log_syncs_during = log_syncs.count() - log_before;
    assert!(
        log_syncs_during <= 3,
        "redb synced {log_syncs_during} times in 50 batches"
    );
    assert!(store.persist().expect("persist"));
    assert_eq!(
        log_syncs.count() - log_before,
        log_syncs_during + 1,
        "one redb sync persists all fifty"
    );
}

#[test]
fn the_committer_persists_when_idle_and_when_it_stops() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(&dir.path().join("log.redb"), log_signer()).expect("open"));
    let c = Committer::start(store.clone(), 16, Box::new(OpenGate), None);
    let t = c.submit(alert(1, "nas", 1)).expect("queued");
    t.blocking_recv().expect("answered").expect("appended");
    // Wait for the writer to have been idle for PERSIST_WHEN_IDLE: it then persists.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size_without_journal(dir.path()) < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "an idle writer persisted nothing"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let t = c.submit(alert(2, "nas", 1)).expect("queued");
    c.shutdown();
    assert!(t.blocking_recv().expect("answered").is_ok());
    assert_eq!(size_without_journal(dir.path()), 2, "persisted at the stop");
}
