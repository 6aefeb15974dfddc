//! The `vigil` binary against a real daemon: every verb, cron-style (no TTY, no prompts). The
//! audit's own cases are in `audit_verb.rs` and `audit_admission.rs`.

mod common;

use std::process::Command;

use common::{Home, key_file, ok, text, trusted};
use vigil_e2e::{ADMIN, AUDITOR, Appliance, SOURCE};

#[test]
fn trust_refuses_a_wrong_fingerprint_and_needs_one_without_a_tty() {
    let a = Appliance::start();
    let h = Home::new();
    let o = h.vigil(&["trust", &a.url(), "--fingerprint", "SHA256:wrong"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("fingerprint mismatch"));
    assert!(!h.path().join("config/ca.pem").exists(), "nothing saved");
    let o = h.vigil(&["trust", &a.url()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    // Not reachable: exit 4.
    let o = h.vigil(&["trust", "https://127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(4));
}

#[test]
fn keygen_writes_a_key_ssh_keygen_can_use_and_refuses_to_overwrite() {
    let h = Home::new();
    let out = ok(&h.vigil(&["keygen", "backup@nas"]));
    assert!(
        out.starts_with("ssh-ed25519 AAAA") && out.trim_end().ends_with("backup@nas"),
        "{out}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(h.path().join("backup@nas"))
        .expect("key")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // ssh-keygen reads our private key and derives the same public key.
    let o = Command::new("ssh-keygen")
        .args(["-y", "-f"])
        .arg(h.path().join("backup@nas"))
        .output()
        .expect("ssh-keygen");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout).split(' ').nth(1), out.split(' ').nth(1));
    let o = h.vigil(&["keygen", "backup@nas"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("refusing to overwrite"));
    assert_eq!(h.vigil(&["keygen", "Bad Name"]).status.code(), Some(2));
}

#[test]
fn alert_from_cron_is_quiet_stores_a_receipt_that_verifies_offline() {
    let a = Appliance::start();
    let h = trusted(&a);
    let key = key_file(&h, &a, SOURCE);
    let k = key.display().to_string();
    let before = a.log_size();
    let o = h.vigil(&[
        "-i",
        &k,
        "alert",
        "--severity",
        "warning",
        "--title",
        "disk full",
        "--topic",
        "disk",
        "96% used",
    ]);
    assert_eq!(ok(&o), "", "quiet on success");
    assert_eq!(a.log_size(), before + 1);
    let receipt = h.path().join(format!("config/receipts/{before}.json"));
    let out = ok(&h.vigil(&["verify-receipt", &receipt.display().to_string()]));
    assert!(
        out.starts_with(&format!("ok: entry {before} is in e2e.vigil/log")),
        "{out}"
    );
    // A doctored receipt fails.
    let t = std::fs::read_to_string(&receipt).expect("receipt");
    let bad = h.path().join("bad.json");
    std::fs::write(&bad, t.replacen("\"index\":", "\"index\":1", 1)).expect("write");
    assert_eq!(
        h.vigil(&["verify-receipt", &bad.display().to_string()])
            .status
            .code(),
        Some(1)
    );
    // -v says what happened; a refusal is exit 3 with the appliance's reason.
    let out = ok(&h.vigil(&[
        "-v",
        "-i",
        &k,
        "alert",
        "--severity",
        "info",
        "--title",
        "t",
    ]));
    assert!(out.contains("logged as entry"), "{out}");
    let o = h.vigil(&["-i", &k, "alert", "--severity", "fatal", "--title", "t"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "refused locally before sending: {}",
        text(&o.stderr)
    );
    let o = h.vigil(&[
        "-i",
        &k,
        "--key-name",
        "web01",
        "alert",
        "--severity",
        "info",
        "--title",
        "t",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("bad_signature"));
}

#[test]
fn display_saves_the_lcd_picture_for_auditors_only() {
    let a = Appliance::start();
    let h = trusted(&a);
    let src = key_file(&h, &a, SOURCE);
    let aud = key_file(&h, &a, AUDITOR);
    let (src, aud) = (src.display().to_string(), aud.display().to_string());
    ok(&h.vigil(&[
        "-i",
        &src,
        "alert",
        "--severity",
        "critical",
        "--title",
        "UPS on battery",
    ]));
    let png = h.path().join("lcd.png");
    let p = png.display().to_string();
    let mut shown = false;
    for _ in 0..100 {
        ok(&h.vigil(&["-i", &aud, "display", "-o", &p]));
        let bytes = std::fs::read(&png).expect("png written");
        if vigil_display::panel::shows_text(&bytes, "UPS on battery").expect("a panel PNG") {
            shown = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(shown, "the saved picture shows the alert");
    // A source may not read the display: exit 3 with the appliance's reason, nothing written.
    std::fs::remove_file(&png).expect("rm");
    let o = h.vigil(&["-i", &src, "display", "-o", &p]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("403"), "{}", text(&o.stderr));
    assert!(!png.exists());
}

#[test]
fn sign_prints_what_curl_needs() {
    let a = Appliance::start();
    let h = trusted(&a);
    let k = key_file(&h, &a, SOURCE).display().to_string();
    let headers = ok(&h.vigil(&[
        "-i",
        &k,
        "sign",
        "--severity",
        "info",
        "--title",
        "from curl",
        "--out",
        "alert.txt",
    ]));
    std::fs::write(h.path().join("headers.txt"), &headers).expect("write");
    let o = Command::new("curl")
        .current_dir(h.path())
        .args(["-sS", "--fail-with-body", "--cacert"])
        .arg(a.ca_path())
        .args(["-H", "@headers.txt", "--data-binary", "@alert.txt"])
        .arg(format!("{}/v1/alerts", a.url()))
        .output()
        .expect("curl");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    a.verify_receipt(&o.stdout);
}

#[test]
fn log_verbs_and_admin_verbs() {
    let a = Appliance::start();
    let h = trusted(&a);
    let src = key_file(&h, &a, SOURCE).display().to_string();
    let adm = key_file(&h, &a, ADMIN).display().to_string();
    let aud = key_file(&h, &a, AUDITOR).display().to_string();
    ok(&h.vigil(&[
        "-i",
        &src,
        "alert",
        "--severity",
        "critical",
        "--title",
        "ups on battery",
        "--topic",
        "power",
        "--key",
        "ups1",
        "--ttl",
        "3600",
    ]));
    let idx = a.log_size() - 1;
    let out = ok(&h.vigil(&["log", "checkpoint"]));
    assert!(
        out.contains(&format!("{} entries", a.log_size())) && out.contains("signature verified"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&h.vigil(&["log", "checkpoint", "--json"]))).expect("json");
    assert_eq!(json["size"], a.log_size());
    let out = ok(&h.vigil(&[
        "-i",
        &aud,
        "log",
        "entries",
        "--kind",
        "alert",
        "--severity",
        "critical",
    ]));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("ups on battery"));
    let out = ok(&h.vigil(&["-i", &aud, "log", "entries", "--json", "--max", "3"]));
    assert_eq!(out.lines().count(), 3);
    // --key is the dedup key, --ttl the display lifetime: both land in the signed statement.
    let raw_first = ok(&h.vigil(&["-i", &aud, "log", "get", &idx.to_string()]));
    assert!(
        raw_first.contains("\nkey: ups1\n") && raw_first.contains("\nttl: 3600\n"),
        "{raw_first}"
    );
    let raw = ok(&h.vigil(&["-i", &aud, "log", "get", &idx.to_string()]));
    assert!(raw.starts_with("vigil-entry/v1\n"));
    assert!(
        ok(&h.vigil(&["log", "proof", &idx.to_string()])).starts_with("c2sp.org/tlog-proof@v1\n")
    );
    ok(&h.vigil(&["log", "consistency", "1", &a.log_size().to_string()]));
    // A source key may not read: exit 3.
    assert_eq!(
        h.vigil(&["-i", &src, "log", "entries"]).status.code(),
        Some(3)
    );
    // Admin: ack, silence, enrol a new key, revoke it.
    ok(&h.vigil(&[
        "-i",
        &adm,
        "admin",
        "ack",
        &idx.to_string(),
        "--comment",
        "on it",
    ]));
    ok(&h.vigil(&[
        "-i",
        &adm,
        "admin",
        "silence",
        "--match-topic",
        "backup*",
        "--for",
        "2h",
        "--comment",
        "maintenance",
    ]));
    ok(&h.vigil(&["keygen", "printer"]));
    ok(&h.vigil(&[
        "-i",
        &adm,
        "admin",
        "enroll",
        "printer",
        "--role",
        "source",
        "--public-key",
        "printer.pub",
    ]));
    ok(&h.vigil(&[
        "-i",
        "printer",
        "alert",
        "--severity",
        "info",
        "--title",
        "toner low",
    ]));
    ok(&h.vigil(&[
        "-i",
        &adm,
        "admin",
        "revoke",
        "printer",
        "--comment",
        "decommissioned",
    ]));
    let o = h.vigil(&[
        "-i",
        "printer",
        "alert",
        "--severity",
        "info",
        "--title",
        "still here",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        text(&o.stderr).contains("revoked_key"),
        "{}",
        text(&o.stderr)
    );
    let kinds = ok(&h.vigil(&["-i", &aud, "log", "entries", "--json"]));
    for k in [
        "\"kind\":\"ack\"",
        "\"kind\":\"silence\"",
        "\"kind\":\"key-revoke\"",
    ] {
        assert!(kinds.contains(k), "{k}");
    }
    // Usage errors are exit 2, with help.
    assert_eq!(
        h.vigil(&[
            "admin",
            "silence",
            "--for",
            "2x",
            "--comment",
            "c",
            "--match-topic",
            "a",
            "-i",
            &adm
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(h.vigil(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn unreachable_is_exit_4_after_retries() {
    let a = Appliance::start();
    let h = trusted(&a);
    let k = key_file(&h, &a, SOURCE).display().to_string();
    let o = h.vigil(&[
        "-v",
        "--retries",
        "1",
        "--url",
        "https://127.0.0.1:1",
        "-i",
        &k,
        "alert",
        "--severity",
        "info",
        "--title",
        "t",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr).matches("retrying in").count(),
        1,
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn rate_limited_alert_waits_for_retry_after_and_succeeds() {
    let a = Appliance::start_with(vigil_e2e::Options {
        policy: Some("[sources.\"nas\"]\nburst = 1\nper_minute = 60\n".into()),
        ..Default::default()
    });
    let h = trusted(&a);
    let k = key_file(&h, &a, SOURCE).display().to_string();
    ok(&h.vigil(&["-i", &k, "alert", "--severity", "info", "--title", "first"]));
    let before = a.log_size();
    let started = std::time::Instant::now();
    let o = h.vigil(&[
        "-v",
        "-i",
        &k,
        "alert",
        "--severity",
        "info",
        "--title",
        "second",
    ]);
    let out = ok(&o);
    assert!(
        text(&o.stderr).contains("refused (429 rate_limited)")
            && text(&o.stderr).contains("retrying in 1 s"),
        "{}",
        text(&o.stderr)
    );
    assert!(out.contains("logged as entry"), "{out}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(a.log_size(), before + 1);
}

/// Runs `vigil log audit` against the appliance's current address (restarts change the port).
#[test]
fn entries_take_and_show_times_for_people() {
    let a = Appliance::start();
    let h = trusted(&a);
    let aud = key_file(&h, &a, AUDITOR).display().to_string();
    let now = a.clock_ms();
    // One alert received three hours ago, one now (the appliance's clock moved for the first).
    a.clock.set_ms(now - 3 * 3_600_000);
    assert_eq!(
        a.post_signed(
            "/v1/alerts",
            &a.alert("info", "x", "three hours ago"),
            SOURCE
        )
        .status,
        201
    );
    a.clock.set_ms(now);
    assert_eq!(
        a.post_signed("/v1/alerts", &a.alert("info", "x", "just now"), SOURCE)
            .status,
        201
    );
    let entries = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["-i", aud.as_str(), "log", "entries", "--kind", "alert"];
        args.extend_from_slice(extra);
        ok(&h.vigil_env(&args, env))
    };
    let out = entries(&["--since", "1h", "--utc"], &[]);
    assert!(
        out.contains("just now") && !out.contains("three hours ago"),
        "{out}"
    );
    let stamp = out.split_whitespace().nth(1).expect("a time column");
    assert!(
        stamp.len() == 20 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "RFC 3339 in UTC: {out}"
    );
    let out = entries(&["--until", "2h"], &[("TZ", "Asia/Kolkata")]);
    assert!(
        out.contains("three hours ago") && !out.contains("just now"),
        "{out}"
    );
    assert!(
        out.contains("+05:30  alert"),
        "local time with its offset: {out}"
    );
    // RFC 3339 with an offset; the bound is the same instant however it is written.
    let cut = vigil_cli::time::format_time(now - 3_600_000, true);
    let cut_local = vigil_cli::time::format_time(now - 3_600_000, false);
    for since in [cut.as_str(), cut_local.as_str()] {
        let out = entries(&["--since", since], &[]);
        assert!(
            out.contains("just now") && !out.contains("three hours ago"),
            "{since}: {out}"
        );
    }
    // JSON keeps unix milliseconds.
    let out = entries(&["--since", "1h", "--json"], &[]);
    let e: vigil_core::wire::EntryView =
        serde_json::from_str(out.lines().next().expect("a line")).expect("json");
    assert_eq!(e.received, now);
    // Unix milliseconds and nonsense are usage errors that name the forms.
    for bad in ["1795340000000", "yesterday"] {
        let o = h.vigil(&["-i", &aud, "log", "entries", "--since", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(text(&o.stderr).contains("RFC 3339"), "{}", text(&o.stderr));
    }
}

#[test]
fn a_title_cannot_smuggle_a_header_into_the_statement() {
    let a = Appliance::start();
    let h = trusted(&a);
    let src = key_file(&h, &a, SOURCE).display().to_string();
    let before = a.log_size();
    let o = h.vigil(&[
        "-i",
        &src,
        "alert",
        "--severity",
        "info",
        "--title",
        "x\nttl: 5",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("control character"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(a.log_size(), before, "nothing sent");
}
