//! Edits made behind the store's back are caught by the start-up self-check: the log then
//! refuses writes, says why, and keeps serving reads.

mod common;

use common::*;
use redb::{Database, ReadableTable as _, TableDefinition};
use vigil_core::{NoteSigner, SigningKey};
use vigil_store::{Store, StoreError};

// The on-disk layout, as documented in docs/format.md.
const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
const HASHES: TableDefinition<(u8, u64), &[u8; 32]> = TableDefinition::new("hashes");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const CHECKPOINTS: TableDefinition<u64, &str> = TableDefinition::new("checkpoints");

fn populated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Store::open(&dir.path().join("log.redb"), log_signer()).expect("open");
    s.append_batch((0..13).map(|i| alert(i, "nas", 1)).collect())
        .expect("append");
    dir
}

fn edit(dir: &tempfile::TempDir, f: impl FnOnce(&redb::WriteTransaction)) {
    let db = Database::create(dir.path().join("log.redb")).expect("raw open");
    let txn = db.begin_write().expect("txn");
    f(&txn);
    txn.commit().expect("commit");
}

fn assert_refuses_writes(dir: &tempfile::TempDir, signer: NoteSigner, why: &str) {
    let s = Store::open(&dir.path().join("log.redb"), signer).expect("still opens for reads");
    let reason = s.writable().expect_err("must not be writable");
    assert!(
        reason.contains(why),
        "reason {reason:?} should mention {why:?}"
    );
    assert!(s.entry(0).expect("reads work").is_some());
    let size = s.head().size;
    match s.append_batch(vec![alert(500, "nas", 1)]) {
        Err(StoreError::NotWritable(r)) => assert_eq!(r, reason),
        other => panic!("append must be refused, got {other:?}"),
    }
    assert_eq!(s.head().size, size, "nothing logged");
}

#[test]
fn untouched_log_passes() {
    let dir = populated();
    let s = Store::open(&dir.path().join("log.redb"), log_signer()).expect("open");
    assert!(s.writable().is_ok());
}

#[test]
fn edited_entry_is_caught() {
    let dir = populated();
    edit_entry(&dir, 3);
    assert_refuses_writes(&dir, log_signer(), "stored hash (0, 3) does not match");
}

#[test]
fn edited_interior_hash_is_caught() {
    let dir = populated();
    edit(&dir, |t| {
        t.open_table(HASHES)
            .expect("t")
            .insert((2u8, 1u64), &[7u8; 32])
            .expect("insert");
    });
    assert_refuses_writes(&dir, log_signer(), "stored hash (2, 1) does not match");
}

#[test]
fn rewritten_entry_with_rehashed_tree_is_caught_by_the_checkpoint() {
    // A thorough attacker rewrites an entry and recomputes every hash and the head:
    // only the device-signed checkpoint still tells.
    let dir = populated();
    let path = dir.path().join("log.redb");
    let other = tempfile::tempdir().expect("tmp");
    {
        // Build the same log with entry 5 replaced, then copy its hashes and head over.
        let s = Store::open(&other.path().join("log.redb"), log_signer()).expect("open");
        let mut batch: Vec<_> = (0..13).map(|i| alert(i, "nas", 1)).collect();
        batch[5] = submit_text(
            &alert_text(5, "info", "x", "innocent"),
            "nas",
            &source_key(1),
            1005,
        );
        s.append_batch(batch).expect("append");
    }
    let forged = Database::create(other.path().join("log.redb")).expect("open");
    let r = redb::ReadableDatabase::begin_read(&forged).expect("read");
    let entries: Vec<(u64, Vec<u8>)> = r
        .open_table(ENTRIES)
        .expect("t")
        .iter()
        .expect("iter")
        .map(|x| x.expect("row"))
        .map(|(k, v)| (k.value(), v.value().to_vec()))
        .collect();
    let hashes: Vec<((u8, u64), [u8; 32])> = r
        .open_table(HASHES)
        .expect("t")
        .iter()
        .expect("iter")
        .map(|x| x.expect("row"))
        .map(|(k, v)| (k.value(), *v.value()))
        .collect();
    let head = r
        .open_table(META)
        .expect("t")
        .get("head")
        .expect("get")
        .expect("head")
        .value()
        .to_vec();
    drop(r);
    drop(forged);
    let db = Database::create(&path).expect("open");
    let txn = db.begin_write().expect("txn");
    {
        let mut e = txn.open_table(ENTRIES).expect("t");
        for (k, v) in &entries {
            e.insert(k, v.as_slice()).expect("insert");
        }
        let mut h = txn.open_table(HASHES).expect("t");
        for (k, v) in &hashes {
            h.insert(k, v).expect("insert");
        }
        txn.open_table(META)
            .expect("t")
            .insert("head", head.as_slice())
            .expect("insert");
    }
    txn.commit().expect("commit");
    drop(db);
    assert_refuses_writes(
        &dir,
        log_signer(),
        "checkpoint does not match the stored head",
    );
}

#[test]
fn forged_checkpoint_is_caught() {
    let dir = populated();
    let evil = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[66; 32])).expect("signer");
    edit(&dir, |t| {
        let mut c = t.open_table(CHECKPOINTS).expect("t");
        let note = vigil_core::Checkpoint {
            origin: ORIGIN.into(),
            size: 99,
            root: [1; 32],
        }
        .sign(&evil)
        .expect("sign");
        c.insert(99, note.as_str()).expect("insert");
    });
    assert_refuses_writes(&dir, log_signer(), "last checkpoint does not verify");
}

#[test]
fn deleted_entry_is_caught() {
    let dir = populated();
    edit(&dir, |t| {
        t.open_table(ENTRIES)
            .expect("t")
            .remove(12)
            .expect("remove");
    });
    assert_refuses_writes(
        &dir,
        log_signer(),
        "the head says 13 entries but 12 are stored",
    );
}

#[test]
fn another_origin_is_refused() {
    let dir = populated();
    let other = NoteSigner::new("other/log", SigningKey::from_bytes(&[42; 32])).expect("signer");
    assert_refuses_writes(&dir, other, "created for origin `test.vigil/log`");
}

// The quick start (issue 16): what it checks at once, and what the owed full check catches.

fn open_quick(dir: &tempfile::TempDir) -> Store {
    vigil_store::Store::open_checked(
        &dir.path().join("log.redb"),
        log_signer(),
        vigil_store::Check::Quick,
    )
    .expect("opens")
}

/// A log whose full check passed at 13 entries (the mark the next start builds on).
fn checked_at_13() -> tempfile::TempDir {
    let dir = populated();
    let s = Store::open(&dir.path().join("log.redb"), log_signer()).expect("full check");
    assert!(s.writable().is_ok());
    dir
}

fn edit_entry(dir: &tempfile::TempDir, index: u64) {
    edit(dir, |t| {
        let mut e = t.open_table(ENTRIES).expect("t");
        let bytes = e
            .get(index)
            .expect("get")
            .expect("present")
            .value()
            .to_vec();
        let edited = String::from_utf8(bytes).expect("utf8").replace(
            &format!("body {index}"),
            &format!("body {}", "X".repeat(index.to_string().len())),
        );
        e.insert(index, edited.as_bytes()).expect("insert");
    });
}

#[test]
fn a_quick_start_owes_the_full_check_and_an_old_edit_is_caught_by_it() {
    let dir = checked_at_13();
    edit_entry(&dir, 3);
    let s = open_quick(&dir);
    // Entry 3 was checked before: the quick start does not read it again.
    assert!(s.writable().is_ok());
    assert!(s.check_owed());
    assert_eq!(s.head().size, 13);
    match s.finish_check() {
        Err(StoreError::Corrupt(why)) => {
            assert!(why.contains("stored hash (0, 3) does not match"), "{why}")
        }
        other => panic!("the full check must catch the edit, got {other:?}"),
    }
    assert!(!s.check_owed());
    let reason = s
        .writable()
        .expect_err("read-only after the background check");
    assert!(reason.contains("stored hash (0, 3)"), "{reason}");
    match s.append_batch(vec![alert(500, "nas", 1)]) {
        Err(StoreError::NotWritable(r)) => assert_eq!(r, reason),
        other => panic!("append must be refused, got {other:?}"),
    }
    assert_eq!(s.head().size, 13, "nothing logged");
    assert!(s.entry(0).expect("reads work").is_some());
    // The next start, quick or not, still refuses: the mark was never raised past it.
    drop(s);
    assert_refuses_writes(&dir, log_signer(), "stored hash (0, 3) does not match");
}

#[test]
fn a_quick_start_checks_every_entry_since_the_last_full_check_at_once() {
    let dir = checked_at_13();
    {
        let s = open_quick(&dir);
        s.append_batch((13..18).map(|i| alert(i, "nas", 1)).collect())
            .expect("append");
    }
    edit_entry(&dir, 15);
    let s = open_quick(&dir);
    let reason = s.writable().expect_err("caught before serving");
    assert!(
        reason.contains("stored hash (0, 15) does not match"),
        "{reason}"
    );
}

#[test]
fn a_quick_start_catches_an_edited_hash_on_the_root_path_at_once_and_any_other_later() {
    // Size 13 = 8 + 4 + 1: the root is made of the stored (3, 0), (2, 2) and (0, 12).
    let dir = checked_at_13();
    edit(&dir, |t| {
        t.open_table(HASHES)
            .expect("t")
            .insert((3u8, 0u64), &[7u8; 32])
            .expect("insert");
    });
    let s = open_quick(&dir);
    let reason = s.writable().expect_err("caught before serving");
    assert!(
        reason.contains("the stored hashes do not give the head's root"),
        "{reason}"
    );
    drop(s);
    // (2, 1) is inside (3, 0): only the full check rebuilds it.
    let dir = checked_at_13();
    edit(&dir, |t| {
        t.open_table(HASHES)
            .expect("t")
            .insert((2u8, 1u64), &[7u8; 32])
            .expect("insert");
    });
    let s = open_quick(&dir);
    assert!(s.writable().is_ok());
    match s.finish_check() {
        Err(StoreError::Corrupt(why)) => {
            assert!(why.contains("stored hash (2, 1) does not match"), "{why}")
        }
        other => panic!("the full check must catch the edit, got {other:?}"),
    }
    assert!(s.writable().is_err());
}

#[test]
fn a_quick_start_of_an_untouched_log_passes_and_its_check_raises_the_mark() {
    let dir = checked_at_13();
    let s = open_quick(&dir);
    assert!(s.check_owed());
    // Writes go on while the full check runs beside them.
    std::thread::scope(|sc| {
        let checker = sc.spawn(|| s.finish_check());
        for i in 13..40 {
            s.append_batch(vec![alert(i, "nas", 1)]).expect("append");
        }
        checker.join().expect("join").expect("passes");
    });
    assert!(s.writable().is_ok());
    assert!(!s.check_owed());
    assert_eq!(s.finish_check().ok(), Some(()), "owed once only");
    drop(s);
    // The mark is raised to what was checked: an edit of entry 5 is now before it, so the
    // next quick start passes it on to its own full check (which catches it).
    edit_entry(&dir, 5);
    let s = open_quick(&dir);
    assert!(s.writable().is_ok());
    assert!(matches!(s.finish_check(), Err(StoreError::Corrupt(_))));
}

#[test]
fn a_log_no_full_check_passed_on_is_checked_fully_even_when_a_quick_start_is_asked() {
    let dir = checked_at_13();
    // As a log from before the mark existed.
    edit(&dir, |t| {
        t.open_table(META)
            .expect("meta")
            .remove("checked")
            .expect("remove");
    });
    edit_entry(&dir, 3);
    let s = open_quick(&dir);
    assert!(!s.check_owed());
    let reason = s.writable().expect_err("the full check ran at start");
    assert!(
        reason.contains("stored hash (0, 3) does not match"),
        "{reason}"
    );
}

#[test]
fn a_mark_beyond_the_log_is_refused_at_once() {
    let dir = checked_at_13();
    edit(&dir, |t| {
        t.open_table(META)
            .expect("meta")
            .insert("checked", 99u64.to_be_bytes().as_slice())
            .expect("insert");
    });
    let s = open_quick(&dir);
    let reason = s.writable().expect_err("refused");
    assert!(
        reason.contains("but 99 passed an earlier check"),
        "{reason}"
    );
}

#[test]
fn the_check_of_recent_entries_raises_the_mark_so_a_later_edit_is_left_to_the_owed_check() {
    let dir = checked_at_13();
    {
        let s = open_quick(&dir);
        s.append_batch((13..18).map(|i| alert(i, "nas", 1)).collect())
            .expect("append");
        assert_eq!(s.check_recent().expect("the new entries check"), 5);
        assert_eq!(s.check_recent().expect("nothing new"), 0);
        assert!(s.writable().is_ok());
    }
    // Entry 15 is now below the mark: the quick start does not read it again (without the
    // raised mark it refuses at once: a_quick_start_checks_every_entry_since_...), and the
    // owed full check catches it.
    edit_entry(&dir, 15);
    let s = open_quick(&dir);
    assert!(s.writable().is_ok(), "{:?}", s.writable());
    assert!(s.check_owed());
    assert!(s.finish_check().is_err());
    let reason = s.writable().expect_err("read-only after the owed check");
    assert!(
        reason.contains("entry 15") || reason.contains("(0, 15)"),
        "{reason}"
    );
}
