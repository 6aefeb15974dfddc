//! A start rebuilds the screen from the projection snapshot the last run saved, folding only
//! what came after it; a stale snapshot costs only time, an unusable one a full fold; either way
//! the screen is the one the whole log gives.

use vigil_core::Kind;
use vigil_core::projection::Snapshot;
use vigil_e2e::{ADMIN, Appliance, Options, SOURCE};

/// An appliance that starts as `vigild` does by default (quick check, snapshot).
fn quick() -> Appliance {
    Appliance::start_with(Options {
        quick_start: true,
        ..Options::default()
    })
}

/// Alerts that replace one another, stand alone, resolve, get acknowledged and silenced.
fn busy(a: &Appliance, round: u32) {
    let post = |path: &str, text: String, who| {
        let ans = a.post_signed(path, &text, who);
        assert!(ans.status == 201, "{}", ans.text());
        a.verify_receipt(&ans.body)
    };
    for i in 0..4 {
        let keyed = a
            .statement(Kind::Alert)
            .header("severity", "warning")
            .header("title", format!("disk {round}.{i}"))
            .header("topic", "disk")
            .header("key", format!("sda{}", i % 2))
            .text();
        post("/v1/alerts", keyed, SOURCE);
    }
    let lone = post(
        "/v1/alerts",
        a.alert("critical", "backup", &format!("backup {round}")),
        SOURCE,
    );
    post("/v1/alerts", a.alert("info", "misc", "note"), SOURCE);
    let resolved = a
        .statement(Kind::Alert)
        .header("severity", "warning")
        .header("title", "disk")
        .header("topic", "disk")
        .header("key", "sda1")
        .header("state", "resolved")
        .text();
    post("/v1/alerts", resolved, SOURCE);
    let ack = a.statement(Kind::Ack).header("ref", lone).text();
    post("/v1/admin", ack, ADMIN);
    let silence = a
        .statement(Kind::Silence)
        .header("match-topic", "misc")
        .header("until", a.now() + 3600)
        .header("comment", "quiet")
        .text();
    post("/v1/admin", silence, ADMIN);
}

fn live(a: &Appliance) -> Vec<u64> {
    a.daemon().state.display.snapshot().live
}

fn saved(a: &Appliance) -> Snapshot {
    let bytes = a
        .daemon()
        .state
        .store
        .load_projection()
        .expect("read")
        .expect("a snapshot was saved");
    Snapshot::decode(&bytes).expect("it decodes")
}

/// Stops the appliance, lets `f` change its log file, and starts it again.
fn with_log_stopped(a: &mut Appliance, f: impl FnOnce(&std::path::Path)) {
    a.stop();
    f(&a.dir.path().join("state/log.redb"));
    a.restart();
}

fn plant(path: &std::path::Path, bytes: &[u8]) {
    let db = redb::Database::create(path).expect("open");
    let t: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    let w = db.begin_write().expect("w");
    w.open_table(t)
        .expect("meta")
        .insert("projection", bytes)
        .expect("insert");
    w.commit().expect("commit");
}

#[test]
fn a_restart_rebuilds_the_screen_from_the_saved_snapshot() {
    let mut a = quick();
    busy(&a, 1);
    let before = live(&a);
    assert!(
        before.len() >= 5,
        "alerts, an ack and a silence are live: {before:?}"
    );
    let size = a.log_size();
    a.restart();
    // The clean stop saved the projection of the whole log; the start rebuilt the same one.
    let snap = saved(&a);
    assert_eq!(snap.entries, size);
    assert_eq!(snap.live, before);
    assert_eq!(live(&a), before);

    // A stale snapshot (the crash case: saved a minute ago): the start folds the rest.
    busy(&a, 2);
    let now = live(&a);
    assert_ne!(now, before);
    let stale = snap.encode();
    with_log_stopped(&mut a, |p| plant(p, &stale));
    assert_eq!(live(&a), now);

    // One that does not decode, or claims more entries than the log has: a full fold.
    for bad in [
        b"garbage".to_vec(),
        Snapshot {
            entries: 1 << 40,
            ..snap.clone()
        }
        .encode(),
    ] {
        with_log_stopped(&mut a, |p| plant(p, &bad));
        assert_eq!(live(&a), now);
    }
}

#[test]
fn the_start_uses_the_snapshot_and_does_not_fold_the_whole_log() {
    let mut a = quick();
    busy(&a, 1);
    assert!(!live(&a).is_empty());
    // A planted snapshot of the whole log that names no live entry: a start that folded every
    // entry would show the alerts again; one that rebuilds from the snapshot shows none.
    let size = a.log_size();
    let empty = Snapshot {
        entries: size,
        horizon_ms: a.clock_ms(),
        alerts_seen: true,
        live: Vec::new(),
    }
    .encode();
    with_log_stopped(&mut a, |p| plant(p, &empty));
    assert_eq!(live(&a), Vec::<u64>::new());
}

#[test]
fn a_start_with_the_full_check_folds_every_entry_and_heals_a_planted_snapshot() {
    // The same planted snapshot, on an appliance that checks the whole log before serving
    // (`vigild --full-check`; the e2e default): it is not used, and the one saved after the
    // next stop is of the whole fold again.
    let mut a = Appliance::start();
    busy(&a, 1);
    let before = live(&a);
    let empty = Snapshot {
        entries: a.log_size(),
        horizon_ms: a.clock_ms(),
        alerts_seen: true,
        live: Vec::new(),
    }
    .encode();
    with_log_stopped(&mut a, |p| plant(p, &empty));
    assert_eq!(live(&a), before);
    a.restart();
    assert_eq!(saved(&a).live, before);
}
