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
    // Keep a copy of the log as it is now, then grow it and audit (the client remembers).
    a.stop();
    let db = a.dir.path().join("state/log.redb");
    let old = a.dir.path().join("old.redb");
    std::fs::copy(&db, &old).expect("copy");
    a.restart();
    for i in 0..3 {
        send(&h, &a, &src, "info", &format!("n{i}"));
    }
    ok(&audit(&h, &a, &aud));
    // Roll back: the appliance serves the older, shorter log (still validly signed).
    a.stop();
    std::fs::copy(&old, &db).expect("restore");
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
