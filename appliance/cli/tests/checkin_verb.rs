//! `vigil checkin` against a real appliance: one `ok` without a command; with one, `start`, the
//! command with its output passed through, then `ok` or `fail` with the exit code and the end of
//! the output, and the command's own exit status — also when the appliance cannot be reached.

mod common;

use common::*;
use vigil_e2e::{ADMIN, Appliance, SOURCE};

/// The check-in entries in the log, as text.
fn checkins(a: &Appliance) -> Vec<String> {
    (0..a.log_size())
        .map(|i| a.entry_text(i))
        .filter(|t| t.contains("checkin/v1\n"))
        .collect()
}

fn checkin(h: &Home, a: &Appliance, src: &str, args: &[&str]) -> std::process::Output {
    let url = a.url();
    let mut all = vec!["--url", url.as_str(), "-i", src, "checkin"];
    all.extend_from_slice(args);
    h.vigil(&all)
}

#[test]
fn without_a_command_one_ok_is_sent() {
    let a = Appliance::start();
    let h = trusted(&a);
    let src = key_file(&h, &a, SOURCE).display().to_string();
    ok(&checkin(&h, &a, &src, &["heartbeat", "--every", "5m"]));
    let c = checkins(&a);
    assert_eq!(c.len(), 1);
    assert!(
        c[0].contains("check: heartbeat\nevery: 5m\nstatus: ok\n"),
        "{}",
        c[0]
    );
    // A check-in vigil refuses itself says why and exits 2; nothing is logged.
    let o = checkin(&h, &a, &src, &["heartbeat", "--every", "30s"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "refused locally: {}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stderr).contains("at least 1m"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(checkins(&a).len(), 1);
    // An admin pauses it; a check the appliance does not know is refused (exit 3).
    let admin = key_file(&h, &a, ADMIN).display().to_string();
    let url = a.url();
    let pause = |check: &str| {
        h.vigil(&[
            "--url", &url, "-i", &admin, "admin", "check", "nas", check, "pause",
        ])
    };
    ok(&pause("heartbeat"));
    let last = a.entry_text(a.log_size() - 1);
    assert!(
        last.contains("check/v1\n") && last.contains("action: pause\n"),
        "{last}"
    );
    let o = pause("nightly");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("no check"), "{}", text(&o.stderr));
}

#[test]
fn a_crontab_schedule_is_signed_in_its_one_spelling() {
    let a = Appliance::start();
    let h = trusted(&a);
    let src = key_file(&h, &a, SOURCE).display().to_string();
    ok(&checkin(
        &h,
        &a,
        &src,
        &["backup", "--schedule", "30  2 * * MON-FRI", "--tz", "UTC"],
    ));
    ok(&checkin(&h, &a, &src, &["rotate", "--schedule", "@daily"]));
    let c = checkins(&a);
    assert_eq!(c.len(), 2);
    assert!(c[0].contains("schedule: 30 2 * * 1-5\n"), "{}", c[0]);
    assert!(c[1].contains("schedule: 0 0 * * *\n"), "{}", c[1]);
    // What no crontab takes either is refused here, exit 2, and nothing is logged.
    for bad in ["@reboot", "0 3 * * MONDAY"] {
        let o = checkin(&h, &a, &src, &["rotate", "--schedule", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("--schedule"),
            "{}",
            text(&o.stderr)
        );
    }
    assert_eq!(checkins(&a).len(), 2);
}

#[test]
fn a_command_runs_between_start_and_its_result_and_its_exit_status_is_passed_on() {
    let a = Appliance::start();
    let h = trusted(&a);
    let src = key_file(&h, &a, SOURCE).display().to_string();
    let o = checkin(
        &h,
        &a,
        &src,
        &[
            "backup",
            "--every",
            "1d",
            "--grace",
            "1h",
            "--",
            "sh",
            "-c",
            "echo copying; echo 'disk full' >&2; exit 3",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "the command's own status");
    assert!(text(&o.stdout).contains("copying"), "output passes through");
    assert!(text(&o.stderr).contains("disk full"));
    let c = checkins(&a);
    assert_eq!(c.len(), 2, "{c:?}");
    assert!(c[0].contains("status: start\n"), "{}", c[0]);
    assert!(c[1].contains("status: fail\nexit: 3\n"), "{}", c[1]);
    assert!(c[1].contains("\n\nexit 3 after "), "{}", c[1]);
    assert!(
        c[1].contains("disk full\n") && c[1].contains("copying\n"),
        "{}",
        c[1]
    );
    // The failure shows at once.
    assert_eq!(a.daemon().state.display.snapshot().live.len(), 1);

    // Success: ok, exit 0; output longer than a statement is cut to its last lines.
    let o = checkin(
        &h,
        &a,
        &src,
        &[
            "backup",
            "--every",
            "1d",
            "--",
            "sh",
            "-c",
            "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let c = checkins(&a);
    let last = c.last().expect("a check-in");
    assert!(last.contains("status: ok\nexit: 0\n"), "{last}");
    assert!(
        last.contains("line 1999\n") && !last.contains("line 0\n"),
        "the end: {last}"
    );
    // Logged (so within the 4096-byte statement limit), and as much of the end as fits.
    assert!(last.contains("line 1800\n"), "{last}");
    assert!(
        a.daemon().state.display.snapshot().live.is_empty(),
        "the ok cleared the failure"
    );
}

#[test]
fn the_command_runs_and_keeps_its_status_when_the_appliance_cannot_be_reached() {
    let a = Appliance::start();
    let h = trusted(&a);
    let src = key_file(&h, &a, SOURCE).display().to_string();
    let marker = h.path().join("ran");
    // Two retries: `start` takes at least 3 s of back-off to give up, and the job must not wait
    // for it.
    let launched = std::time::SystemTime::now();
    let o = h.vigil(&[
        "--url",
        "https://127.0.0.1:1",
        "--retries",
        "2",
        "-i",
        &src,
        "checkin",
        "backup",
        "--every",
        "1d",
        "--",
        "sh",
        "-c",
        &format!("touch {}; exit 4", marker.display()),
    ]);
    let ran = std::fs::metadata(&marker)
        .and_then(|m| m.modified())
        .expect("the command ran");
    let waited = ran.duration_since(launched).unwrap_or_default();
    assert!(
        waited < std::time::Duration::from_millis(1500),
        "the command started {waited:?} after vigil: it waited for the start check-in"
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("check-in `start` not logged") && err.contains("check-in `fail` not logged"),
        "{err}"
    );
    // A command that cannot be started: 127, and the failure is checked in.
    let o = checkin(
        &h,
        &a,
        &src,
        &["backup", "--every", "1d", "--", "/nonexistent/job"],
    );
    assert_eq!(o.status.code(), Some(127));
    let c = checkins(&a);
    assert!(
        c.last()
            .is_some_and(|l| l.contains("status: fail\nexit: 127\n") && l.contains("cannot run")),
        "{c:?}"
    );
}
