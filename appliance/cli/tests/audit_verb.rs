//! `vigil log audit` against a real daemon: it verifies and resumes, and it catches a tampered
//! entry, a rolled-back log and a forked log.

mod common;

use std::process::Output;

use common::{Home, key_file, ok, text, trusted};
use redb::ReadableTable as _;
use vigil_e2e::{AUDITOR, Appliance, SOURCE};

fn audit(h: &Home, a: &Appliance, aud: &str) -> Output {
    h.vigil(&["--url", &a.url(), "-i", aud, "log", "audit"])
}

/// Sends an alert to the appliance's current address.
fn send(h: &Home, a: &Appliance, src: &str, sev: &str, title: &str) {
    ok(&h.vigil(&[
        "--url",
        &a.url(),
        "-i",
        src,
        "alert",
        "--severity",
        sev,
        "--title",
        title,
    ]));
}

#[test]
fn audit_verifies_then_resumes() {
    let a = Appliance::start();
    let h = trusted(&a);
    let aud = key_file(&h, &a, AUDITOR).display().to_string();
    let src = key_file(&h, &a, SOURCE).display().to_string();
    let out = ok(&audit(&h, &a, &aud));
    assert!(
        out.starts_with(&format!("ok: {} entries verified", a.log_size())),
        "{out}"
    );
    for i in 0..3 {
        send(&h, &a, &src, "info", &format!("n{i}"));
    }
    let out = ok(&audit(&h, &a, &aud));
    assert!(
        out.contains("(3 new this run, consistent with size"),
        "{out}"
    );
}

#[test]
fn audit_detects_a_tampered_entry() {
    let mut a = Appliance::start();
    let h = trusted(&a);
    let aud = key_file(&h, &a, AUDITOR).display().to_string();
    let src = key_file(&h, &a, SOURCE).display().to_string();
    send(&h, &a, &src, "info", "genuine");
    let idx = a.log_size() - 1;
    a.stop();
    {
        let db = redb::Database::create(a.dir.path().join("state/log.redb")).expect("open");
        let t: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
        let w = db.begin_write().expect("w");
        {
            let mut tab = w.open_table(t).expect("t");
            let old = tab.get(idx).expect("get").expect("entry").value().to_vec();
            let new = String::from_utf8(old)
                .expect("utf8")
                .replace("genuine", "GENUINE");
            tab.insert(idx, new.as_bytes()).expect("insert");
        }
        w.commit().expect("commit");
    }
    a.restart();
    let o = audit(&h, &a, &aud);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("AUDIT FAILED") && err.contains(&format!("entry {idx}")),
        "{err}"
    );
}

#[test]
fn audit_refuses_a_rolled_back_log_and_a_fork() {
    let mut a = Appliance::start();
    let h = trusted(&a);
    let aud = key_file(&h, &a, AUDITOR).display().to_string();
    let src = key_file(&h, &a, SOURCE).display().to_string();
    // Keep a copy of the log as it is now (the redb file and its journal), then grow it and
    // audit (the client remembers).
    a.stop();
    let files = ["log.redb", "log.redb-wal"].map(|f| a.dir.path().join("state").join(f));
    let old = ["old.redb", "old.redb-wal"].map(|f| a.dir.path().join(f));
    for (f, o) in files.iter().zip(&old) {
        std::fs::copy(f, o).expect("copy");
    }
    a.restart();
    for i in 0..3 {
        send(&h, &a, &src, "info", &format!("n{i}"));
    }
    ok(&audit(&h, &a, &aud));
    // Roll back: the appliance serves the older, shorter log (still validly signed).
    a.stop();
    for (f, o) in files.iter().zip(&old) {
        std::fs::copy(o, f).expect("restore");
    }
    a.restart();
    let o = audit(&h, &a, &aud);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("went backwards"),
        "{}",
        text(&o.stderr)
    );
    // Fork: the old log grows differently past the size the client remembers.
    for i in 0..6 {
        send(&h, &a, &src, "warning", &format!("fork {i}"));
    }
    let o = audit(&h, &a, &aud);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("forked"), "{}", text(&o.stderr));
}

#[test]
fn a_mirror_is_written_updated_and_audited_and_a_tampered_one_is_refused() {
    let a = Appliance::start();
    let h = trusted(&a);
    let aud = key_file(&h, &a, AUDITOR).display().to_string();
    let src = key_file(&h, &a, SOURCE).display().to_string();
    let mirror = h.path().join("mirror");
    let m = mirror.display().to_string();
    let url = a.url();
    let write = |entries: bool| {
        let mut args = vec!["--url", &url, "-i", &aud, "log", "mirror", &m];
        if entries {
            args.push("--entries");
        }
        h.vigil(&args)
    };
    let audit_mirror = || h.vigil(&["log", "audit", "--from", &m, "--json"]);

    // Tiles only: the mirror has no entries to audit, and says what is missing.
    let out = ok(&write(false));
    assert!(
        out.starts_with(&format!("ok: {m} mirrors size {}", a.log_size())),
        "{out}"
    );
    assert!(!mirror.join("tile/entries").exists());
    let o = audit_mirror();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("tile/entries/000"),
        "{}",
        text(&o.stderr)
    );

    // With the bundles: the mirror audits, as JSON.
    ok(&write(true));
    let size = a.log_size();
    let v: serde_json::Value = serde_json::from_str(&ok(&audit_mirror())).expect("JSON");
    assert_eq!(v["ok"], true);
    assert_eq!(v["size"], size);
    assert_eq!(v["verified_now"], size);

    // Grown and mirrored again: only what changed is written, and the audit resumes.
    for i in 0..3 {
        send(&h, &a, &src, "info", &format!("m{i}"));
    }
    let out = ok(&write(true));
    assert!(
        out.contains(&format!("consistent with its size {size} before")),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&ok(&audit_mirror())).expect("JSON");
    assert_eq!(
        (v["verified_now"].as_u64(), v["previous"].as_u64()),
        (Some(3), Some(size))
    );

    // Published by a web server, it audits from its URL too (a fresh client, from scratch).
    let url = common::serve_static(&mirror);
    let fresh = trusted(&a);
    let v: serde_json::Value = serde_json::from_str(&ok(
        &fresh.vigil(&["log", "audit", "--from", &url, "--json"])
    ))
    .expect("JSON");
    assert_eq!(v["verified_now"].as_u64(), Some(a.log_size()));

    // A byte changed in the mirror's newest bundle: the audit of a fresh client refuses it.
    let grown = a.log_size();
    let last = vigil_core::tiles::bundles_for_size(grown)
        .pop()
        .expect("a bundle");
    let file = mirror.join(last.path());
    let mut b = std::fs::read(&file).expect("bundle");
    let at = b.len() - 5;
    b[at] ^= 0x01;
    std::fs::write(&file, b).expect("write");
    let fresh = trusted(&a);
    let o = fresh.vigil(&["log", "audit", "--from", &m]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("AUDIT FAILED"),
        "{}",
        text(&o.stderr)
    );
    // A mirror whose own checkpoint does not verify is not written over (exit 2, say why).
    std::fs::write(mirror.join("checkpoint"), "not a checkpoint\n").expect("write");
    let o = write(true);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}
