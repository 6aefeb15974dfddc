//! Check-ins end to end (docs/spec.md §2 `checkin/v1`, §7): a real vigild on a manual clock
//! records a `missed/v1` once a deadline plus grace passes, shows it, clears it on `ok`; holds
//! while its clock is not synchronised; reports a deadline passed while it was off once; takes
//! pauses and deletions from admins; and refuses what is not a check-in where one is expected.

use std::time::{Duration, Instant};

use vigil_core::Kind;
use vigil_e2e::{ADMIN, Appliance, SOURCE, SOURCE2};

const HOUR_MS: u64 = 3_600_000;

fn checkin(a: &Appliance, check: &str, every: &str, status: &str) -> String {
    a.statement(Kind::Checkin)
        .header("check", check)
        .header("every", every)
        .header("status", status)
        .header("title", format!("{check} job"))
        .body("last lines of output\n")
        .text()
}

/// Posts a check-in as SOURCE; returns its entry index.
fn check_in(a: &Appliance, check: &str, every: &str, status: &str) -> u64 {
    let ans = a.post_signed("/v1/checkins", &checkin(a, check, every, status), SOURCE);
    assert_eq!(ans.status, 201, "{}", ans.text());
    a.verify_receipt(&ans.body)
}

/// The `missed/v1` entries in the log: (index, text).
fn misses(a: &Appliance) -> Vec<(u64, String)> {
    (0..a.log_size())
        .map(|i| (i, a.entry_text(i)))
        .filter(|(_, t)| t.contains("missed/v1\n"))
        .collect()
}

/// Waits (the deadline task looks every second) until `n` misses are logged.
fn wait_for_misses(a: &Appliance, n: usize) -> Vec<(u64, String)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let m = misses(a);
        if m.len() >= n {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{} misses logged, waited for {n}",
            m.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Gives the deadline task time for a few more looks.
fn let_it_look() {
    std::thread::sleep(Duration::from_millis(2500));
}

fn live(a: &Appliance) -> Vec<u64> {
    a.daemon().state.display.snapshot().live
}

#[test]
fn a_missed_deadline_is_logged_once_shown_and_cleared_by_an_ok() {
    let a = Appliance::start();
    let t0 = a.clock_ms();
    let first = check_in(&a, "backup", "1h", "ok");
    // Within the period and the grace (a tenth of it): nothing.
    a.clock.set_ms(t0 + HOUR_MS + 5 * 60_000);
    let_it_look();
    assert!(misses(&a).is_empty());
    a.clock.set_ms(t0 + HOUR_MS + 6 * 60_000 + 2000);
    let m = wait_for_misses(&a, 1);
    let (index, text) = &m[0];
    for want in [
        "signer: nas\n",
        "check: backup\n",
        "reason: late\n",
        &format!("last: {first}\n"),
        &format!("deadline: {}\n", (t0 + HOUR_MS).div_ceil(1000)),
        "severity: critical\n",
        "title: backup job\n",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(live(&a).contains(index), "the miss shows");
    // Reported once, however long the silence lasts.
    a.clock.set_ms(t0 + 30 * HOUR_MS);
    let_it_look();
    assert_eq!(misses(&a).len(), 1);
    // An admin acknowledges it like any alert.
    let ack = a.statement(Kind::Ack).header("ref", index).text();
    assert_eq!(a.post_signed("/v1/admin", &ack, ADMIN).status, 201);
    // The job comes back: the ok clears it, and the next deadline counts from the ok.
    check_in(&a, "backup", "1h", "ok");
    assert!(!live(&a).contains(index), "an ok clears the miss");
    a.clock.set_ms(t0 + 31 * HOUR_MS);
    let_it_look();
    assert_eq!(misses(&a).len(), 1);
}

#[test]
fn a_failure_shows_at_once_and_a_start_without_an_end_is_missed() {
    let a = Appliance::start();
    let t0 = a.clock_ms();
    let failed = check_in(&a, "dump", "1d", "fail");
    assert!(live(&a).contains(&failed), "a fail shows at once");
    check_in(&a, "dump", "1d", "ok");
    assert!(!live(&a).contains(&failed));
    a.clock.set_ms(t0 + 20 * HOUR_MS);
    let started = check_in(&a, "dump", "1d", "start");
    // Grace is 2.4 h from the start.
    a.clock.set_ms(t0 + 20 * HOUR_MS + 2 * HOUR_MS);
    let_it_look();
    assert!(misses(&a).is_empty());
    a.clock
        .set_ms(t0 + 20 * HOUR_MS + 2 * HOUR_MS + 30 * 60_000);
    let m = wait_for_misses(&a, 1);
    assert!(m[0].1.contains("reason: unfinished\n"), "{}", m[0].1);
    assert!(m[0].1.contains(&format!("last: {started}\n")), "{}", m[0].1);
}

#[test]
fn no_miss_is_written_while_the_clock_is_not_synchronised() {
    let a = Appliance::start();
    let t0 = a.clock_ms();
    check_in(&a, "backup", "1h", "ok");
    a.clock.set_synced(false);
    a.clock.set_ms(t0 + 3 * HOUR_MS);
    let_it_look();
    assert!(
        misses(&a).is_empty(),
        "a deadline against an unsynchronised clock"
    );
    let screen = a.daemon().state.display.screen(a.clock_ms());
    assert!(
        matches!(
            screen,
            vigil_display::Screen::Idle {
                checks_on_hold: true,
                ..
            }
        ),
        "the display says so: {screen:?}"
    );
    a.clock.set_synced(true);
    let m = wait_for_misses(&a, 1);
    assert!(
        m[0].1
            .contains(&format!("deadline: {}\n", (t0 + HOUR_MS).div_ceil(1000)))
    );
    let_it_look();
    let screen = a.daemon().state.display.screen(a.clock_ms());
    assert!(!matches!(
        screen,
        vigil_display::Screen::Idle {
            checks_on_hold: true,
            ..
        }
    ));
}

#[test]
fn a_deadline_passed_while_off_is_reported_once_after_the_restart() {
    let mut a = Appliance::start();
    let t0 = a.clock_ms();
    check_in(&a, "backup", "1h", "ok");
    a.stop();
    a.clock.set_ms(t0 + 10 * HOUR_MS);
    a.restart();
    let m = wait_for_misses(&a, 1);
    assert!(
        m[0].1
            .contains(&format!("deadline: {}\n", (t0 + HOUR_MS).div_ceil(1000))),
        "the first deadline missed: {}",
        m[0].1
    );
    let_it_look();
    assert_eq!(misses(&a).len(), 1, "once");
    // And a second restart does not report it again: the log says it was.
    a.restart();
    let_it_look();
    assert_eq!(misses(&a).len(), 1);
    assert!(live(&a).contains(&m[0].0), "still shown after the restarts");
}

fn change(a: &Appliance, signer: &str, check: &str, action: &str) -> vigil_cli::Answer {
    let st = a
        .statement(Kind::Check)
        .header("signer", signer)
        .header("check", check)
        .header("action", action)
        .header("comment", "maintenance")
        .text();
    a.post_signed("/v1/admin", &st, ADMIN)
}

#[test]
fn a_pause_holds_misses_until_the_next_check_in_and_a_deletion_forgets_the_check() {
    let a = Appliance::start();
    let t0 = a.clock_ms();
    check_in(&a, "backup", "1h", "ok");
    assert_eq!(change(&a, "nas", "backup", "pause").status, 201);
    a.clock.set_ms(t0 + 5 * HOUR_MS);
    let_it_look();
    assert!(misses(&a).is_empty(), "paused");
    // The next check-in ends the pause.
    check_in(&a, "backup", "1h", "ok");
    a.clock.set_ms(t0 + 7 * HOUR_MS);
    wait_for_misses(&a, 1);
    // A deletion clears what the check shows and forgets it.
    let shown = live(&a).len();
    assert_eq!(change(&a, "nas", "backup", "delete").status, 201);
    assert_eq!(live(&a).len(), shown - 1);
    let gone = change(&a, "nas", "backup", "pause");
    assert_eq!(gone.status, 404, "{}", gone.text());
    a.clock.set_ms(t0 + 20 * HOUR_MS);
    let_it_look();
    assert_eq!(misses(&a).len(), 1, "a deleted check is not missed");
}

#[test]
fn what_is_not_a_check_in_where_one_is_expected_is_refused_and_nothing_logged() {
    let a = Appliance::start();
    check_in(&a, "backup", "1h", "ok");
    let before = a.log_size();
    let expect = |ans: vigil_cli::Answer, status: u16, code: &str| {
        assert_eq!(
            (ans.status, ans.error_code().as_deref()),
            (status, Some(code)),
            "{}",
            ans.text()
        );
        assert_eq!(a.log_size(), before, "nothing logged");
    };
    // A check-in at the alerts endpoint, an alert at the check-ins endpoint.
    expect(
        a.post_signed("/v1/alerts", &checkin(&a, "backup", "1h", "ok"), SOURCE),
        400,
        "malformed",
    );
    expect(
        a.post_signed("/v1/checkins", &a.alert("info", "x", "t"), SOURCE),
        400,
        "malformed",
    );
    // An admin's check-in; a source's pause; another source pausing a check it does not have.
    expect(
        a.post_signed("/v1/checkins", &checkin(&a, "backup", "1h", "ok"), ADMIN),
        403,
        "forbidden",
    );
    let pause = a
        .statement(Kind::Check)
        .header("signer", "nas")
        .header("check", "backup")
        .header("action", "pause")
        .text();
    expect(a.post_signed("/v1/admin", &pause, SOURCE), 403, "forbidden");
    expect(change(&a, SOURCE2.0, "backup", "pause"), 404, "not_found");
    // A miss is the appliance's to record: nobody may post one.
    let missed = a
        .statement(Kind::Missed)
        .header("signer", "nas")
        .header("check", "backup")
        .header("deadline", 1)
        .header("last", 0)
        .header("reason", "late")
        .header("severity", "critical")
        .header("title", "t")
        .text();
    expect(a.post_signed("/v1/admin", &missed, ADMIN), 400, "malformed");
    expect(
        a.post_signed("/v1/checkins", &missed, SOURCE),
        400,
        "malformed",
    );
    // A check-in signed by another key than the one enrolled for its name.
    let forged = checkin(&a, "backup", "1h", "ok");
    let h =
        vigil_cli::client::statement_headers(forged.as_bytes(), "nas", &vigil_e2e::test_key(99));
    let ans = a
        .client
        .post("/v1/checkins", forged.as_bytes(), &h)
        .expect("reachable");
    expect(ans, 401, "bad_signature");
    // Bad headers: a period under a minute, a schedule in no zone.
    let short = checkin(&a, "backup", "30s", "ok");
    expect(
        a.post_signed("/v1/checkins", &short, SOURCE),
        400,
        "malformed",
    );
    let nowhere = a
        .statement(Kind::Checkin)
        .header("check", "backup")
        .header("schedule", "0 3 * * *")
        .header("tz", "Nowhere/Land")
        .text();
    expect(
        a.post_signed("/v1/checkins", &nowhere, SOURCE),
        400,
        "malformed",
    );
    // A replayed check-in (same nonce, other bytes).
    let first = checkin(&a, "backup", "1h", "ok");
    assert_eq!(a.post_signed("/v1/checkins", &first, SOURCE).status, 201);
    let before = a.log_size();
    let replay = first.replace("status: ok", "status: fail");
    let ans = a.post_signed("/v1/checkins", &replay, SOURCE);
    assert_eq!(
        (ans.status, ans.error_code().as_deref()),
        (409, Some("replay")),
        "{}",
        ans.text()
    );
    assert_eq!(a.log_size(), before);
}
