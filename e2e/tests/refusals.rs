//! One test per refusal of docs/spec.md §5: each checks the status, the stable code, and that nothing
//! was logged.

use vigil_cli::client;
use vigil_core::Kind;
use vigil_e2e::{ADMIN, AUDITOR, Appliance, ORIGIN, Options, SOURCE, SOURCE2, test_key};
use vigil_store::backends::Syncs;

/// Asserts status and code, and that the log did not grow.
fn refused(a: &Appliance, before: u64, ans: &vigil_cli::Answer, status: u16, code: &str) {
    assert_eq!(
        (ans.status, ans.error_code().as_deref()),
        (status, Some(code)),
        "body: {}",
        ans.text()
    );
    let v: serde_json::Value = serde_json::from_slice(&ans.body).expect("JSON error");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(a.log_size(), before, "nothing logged");
}

/// Asserts an answer's status and code (for refusals that are not about logging).
fn answered(ans: &vigil_cli::Answer, status: u16, code: &str) {
    assert_eq!(
        (ans.status, ans.error_code().as_deref()),
        (status, Some(code)),
        "{}",
        ans.text()
    );
}

/// The auditor's signed-read headers for GET `signed_path`, dated `date`.
fn auditor_read(signed_path: &str, date: u64) -> Vec<(String, String)> {
    client::request_headers(
        "GET",
        signed_path,
        b"",
        AUDITOR.0,
        &test_key(AUDITOR.1),
        date,
        &client::random_nonce(),
    )
}

/// GET /metrics with these headers.
fn get_metrics(a: &Appliance, h: &[(String, String)]) -> vigil_cli::Answer {
    let c = vigil_cli::Client::new(&a.url(), &a.daemon().ca_pem).expect("client");
    c.get_with_headers("/metrics", h).expect("reach")
}

#[test]
fn accepted_alert_gets_201_and_a_verifying_receipt() {
    let a = Appliance::start();
    let before = a.log_size();
    let st = a.alert("warning", "disk", "disk full");
    let ans = a.post_signed("/v1/alerts", &st, SOURCE);
    assert_eq!(ans.status, 201, "{}", ans.text());
    assert_eq!(a.verify_receipt(&ans.body), before);
    assert!(
        ans.hsts.is_some_and(|h| h.contains("max-age")),
        "HSTS on every HTTPS answer"
    );
    // An exact retry: 200, same index, nothing new.
    let again = a.post_signed("/v1/alerts", &st, SOURCE);
    assert_eq!(again.status, 200);
    assert_eq!(a.verify_receipt(&again.body), before);
    assert_eq!(a.log_size(), before + 1);
}

#[test]
fn forged_signature() {
    let a = Appliance::start();
    let before = a.log_size();
    let st = a.alert("info", "x", "t");
    // Signed by another key but claiming to be `nas`.
    let h = client::statement_headers(st.as_bytes(), SOURCE.0, &test_key(99));
    refused(
        &a,
        before,
        &a.client
            .post("/v1/alerts", st.as_bytes(), &h)
            .expect("reach"),
        401,
        "bad_signature",
    );
    // Signed by nas, statement changed afterwards.
    let h = client::statement_headers(st.as_bytes(), SOURCE.0, &test_key(SOURCE.1));
    let changed = st.replace("severity: info", "severity: critical");
    refused(
        &a,
        before,
        &a.client
            .post("/v1/alerts", changed.as_bytes(), &h)
            .expect("reach"),
        401,
        "bad_signature",
    );
}

#[test]
fn unsigned_and_unknown_key() {
    let a = Appliance::start();
    let before = a.log_size();
    let st = a.alert("info", "x", "t");
    refused(
        &a,
        before,
        &a.client
            .post("/v1/alerts", st.as_bytes(), &[])
            .expect("reach"),
        401,
        "unsigned",
    );
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &st, ("stranger", 77)),
        401,
        "unknown_key",
    );
}

#[test]
fn wrong_audience() {
    let a = Appliance::start();
    let before = a.log_size();
    let st = a.alert("info", "x", "t").replace(ORIGIN, "other.vigil/log");
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &st, SOURCE),
        422,
        "wrong_audience",
    );
}

#[test]
fn stale_ts_only_while_synced() {
    let a = Appliance::start();
    let before = a.log_size();
    let now = a.now();
    let st = a
        .alert("info", "x", "t")
        .replace(&format!("ts: {now}"), &format!("ts: {}", now - 301));
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &st, SOURCE),
        422,
        "stale",
    );
    let future = a
        .alert("info", "x", "t2")
        .replace(&format!("ts: {now}"), &format!("ts: {}", now + 301));
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &future, SOURCE),
        422,
        "stale",
    );
    // Without NTP the appliance cannot judge ts: accepted, and the entry says so.
    a.clock.set_synced(false);
    let ans = a.post_signed("/v1/alerts", &st, SOURCE);
    assert_eq!(ans.status, 201, "{}", ans.text());
    let entry = a.entry_text(before);
    assert!(entry.contains("clock: unsynced"));
}

#[test]
fn nonce_reuse_with_other_bytes() {
    let a = Appliance::start();
    let st = a.alert("info", "x", "first");
    assert_eq!(a.post_signed("/v1/alerts", &st, SOURCE).status, 201);
    let before = a.log_size();
    let other = st.replace("title: first", "title: second");
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &other, SOURCE),
        409,
        "replay",
    );
    // The same nonce from another source is its own.
    assert_eq!(a.post_signed("/v1/alerts", &other, SOURCE2).status, 201);
}

#[test]
fn oversized_bodies_and_statements() {
    let a = Appliance::start();
    let before = a.log_size();
    let huge = format!("{}{}", a.alert("info", "x", "t"), "x".repeat(17 * 1024));
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &huge, SOURCE),
        413,
        "too_large",
    );
    let big = format!("{}{}", a.alert("info", "x", "t"), "x".repeat(4096));
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &big, SOURCE),
        413,
        "too_large",
    );
}

#[test]
fn malformed_statements_name_the_line() {
    let a = Appliance::start();
    let before = a.log_size();
    let st = a
        .alert("info", "x", "t")
        .replace("topic: x\n", "topic: x\ncolour: red\n");
    let ans = a.post_signed("/v1/alerts", &st, SOURCE);
    refused(&a, before, &ans, 400, "malformed");
    assert!(
        ans.text().contains("line 8: unknown header `colour`"),
        "{}",
        ans.text()
    );
    let h = vec![
        ("Vigil-Key".to_string(), "nas".to_string()),
        ("Vigil-Signature".to_string(), "!!".to_string()),
    ];
    refused(
        &a,
        before,
        &a.client
            .post("/v1/alerts", st.as_bytes(), &h)
            .expect("reach"),
        400,
        "malformed",
    );
    let body = format!(
        "{}-----BEGIN SSH SIGNATURE-----\ngarbage\n-----END SSH SIGNATURE-----\n",
        a.alert("info", "x", "t")
    );
    refused(
        &a,
        before,
        &a.client
            .post("/v1/alerts", body.as_bytes(), &[])
            .expect("reach"),
        400,
        "malformed",
    );
}

#[test]
fn policy_forbids_topic_and_severity() {
    let a = Appliance::start_with(Options {
        policy: Some(
            "[sources.\"nas\"]\ntopics = [\"backup*\"]\nmax_severity = \"warning\"\n".into(),
        ),
        ..Options::default()
    });
    let before = a.log_size();
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &a.alert("info", "web", "t"), SOURCE),
        403,
        "policy",
    );
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &a.alert("critical", "backup", "t"), SOURCE),
        403,
        "policy",
    );
    assert_eq!(
        a.post_signed(
            "/v1/alerts",
            &a.alert("warning", "backup-nightly", "t"),
            SOURCE
        )
        .status,
        201
    );
}

#[test]
fn role_and_endpoint_checks() {
    let a = Appliance::start();
    let before = a.log_size();
    // An admin may not send alerts; a source may not send admin statements.
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &a.alert("info", "x", "t"), ADMIN),
        403,
        "forbidden",
    );
    let ack = a.statement(Kind::Ack).header("ref", 0).text();
    refused(
        &a,
        before,
        &a.post_signed("/v1/admin", &ack, SOURCE),
        403,
        "forbidden",
    );
    // An alert at the admin endpoint is the wrong type.
    refused(
        &a,
        before,
        &a.post_signed("/v1/admin", &a.alert("info", "x", "t"), ADMIN),
        400,
        "malformed",
    );
}

#[test]
fn per_source_rate_limit_with_retry_after() {
    let a = Appliance::start_with(Options {
        policy: Some("[sources.\"nas\"]\nburst = 3\nper_minute = 1\n".into()),
        ..Options::default()
    });
    for i in 0..3 {
        assert_eq!(
            a.post_signed(
                "/v1/alerts",
                &a.alert("info", "x", &format!("t{i}")),
                SOURCE
            )
            .status,
            201
        );
    }
    let before = a.log_size();
    let ans = a.post_signed("/v1/alerts", &a.alert("info", "x", "over"), SOURCE);
    refused(&a, before, &ans, 429, "rate_limited");
    assert!(
        ans.retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{:?}",
        ans.retry_after
    );
    // Another source is unaffected; a forger claiming `web01` cannot spend web01's quota.
    for _ in 0..5 {
        let st = a.alert("info", "x", "forged");
        let h = client::statement_headers(st.as_bytes(), SOURCE2.0, &test_key(98));
        assert_eq!(
            a.client
                .post("/v1/alerts", st.as_bytes(), &h)
                .expect("reach")
                .status,
            401
        );
    }
    assert_eq!(
        a.post_signed("/v1/alerts", &a.alert("info", "x", "w"), SOURCE2)
            .status,
        201
    );
}

#[test]
fn per_ip_rate_limit_before_parsing() {
    let a = Appliance::start_with(Options {
        policy: Some("[limits]\nip_burst = 5\nip_per_second = 1\n".into()),
        ..Options::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(a.client.get("/healthz").expect("reach"));
    }
    let limited: Vec<_> = statuses.iter().filter(|s| s.status == 429).collect();
    assert!(
        !limited.is_empty(),
        "{:?}",
        statuses.iter().map(|s| s.status).collect::<Vec<_>>()
    );
    assert!(
        limited
            .iter()
            .all(|s| s.retry_after.is_some() && s.error_code().as_deref() == Some("rate_limited"))
    );
    // Garbage is limited as well: the limit applies before any parsing.
    let before = a.log_size();
    refused(
        &a,
        before,
        &a.client
            .post("/v1/alerts", b"not a statement", &[])
            .expect("reach"),
        429,
        "rate_limited",
    );
}

#[test]
fn auth_failures_lock_out_without_verifying() {
    let a = Appliance::start_with(Options {
        policy: Some("[limits]\nauth_fail_burst = 3\n".into()),
        ..Options::default()
    });
    let before = a.log_size();
    for _ in 0..4 {
        let st = a.alert("info", "x", "t");
        let h = client::statement_headers(st.as_bytes(), SOURCE.0, &test_key(99));
        assert_eq!(
            a.client
                .post("/v1/alerts", st.as_bytes(), &h)
                .expect("reach")
                .status,
            401
        );
    }
    // Now even a valid statement from this address is refused before verification.
    let ans = a.post_signed("/v1/alerts", &a.alert("info", "x", "valid"), SOURCE);
    refused(&a, before, &ans, 429, "rate_limited");
    assert!(ans.retry_after.is_some());
}

#[test]
fn revoked_key_is_refused_after_the_revocation_commits() {
    let a = Appliance::start();
    assert_eq!(
        a.post_signed("/v1/alerts", &a.alert("info", "x", "before"), SOURCE)
            .status,
        201
    );
    let revoke = a.revocation("nas", "laptop stolen");
    let ans = a.post_signed("/v1/admin", &revoke, ADMIN);
    assert_eq!(ans.status, 201, "{}", ans.text());
    let before = a.log_size();
    refused(
        &a,
        before,
        &a.post_signed("/v1/alerts", &a.alert("info", "x", "after"), SOURCE),
        401,
        "revoked_key",
    );
    // Revoking again is invalid.
    let again = a.revocation("nas", "again");
    refused(
        &a,
        before,
        &a.post_signed("/v1/admin", &again, ADMIN),
        422,
        "invalid",
    );
}

#[test]
fn enrolment_through_the_admin_api() {
    let a = Appliance::start();
    let enrol = || a.enrolment("printer", &test_key(55));
    assert_eq!(a.post_signed("/v1/admin", &enrol(), ADMIN).status, 201);
    assert_eq!(
        a.post_signed(
            "/v1/alerts",
            &a.alert("info", "x", "from printer"),
            ("printer", 55)
        )
        .status,
        201
    );
    // The same name again conflicts.
    let before = a.log_size();
    refused(
        &a,
        before,
        &a.post_signed("/v1/admin", &enrol(), ADMIN),
        409,
        "conflict",
    );
}

#[test]
fn reads_need_an_auditor_or_admin_signature() {
    let a = Appliance::start();
    for path in ["/v1/log/entries", "/v1/log/entries/0", "/metrics"] {
        let ans = a.client.get(path).expect("reach");
        assert_eq!(
            (ans.status, ans.error_code().as_deref()),
            (401, Some("unauthenticated")),
            "{path}"
        );
        assert_eq!(a.read(path, AUDITOR).status, 200, "{path}");
        assert_eq!(a.read(path, ADMIN).status, 200, "{path}");
        assert_eq!(
            a.read(path, SOURCE).error_code().as_deref(),
            Some("forbidden"),
            "{path}"
        );
        assert_eq!(
            a.read(path, ("stranger", 77)).error_code().as_deref(),
            Some("unknown_key"),
            "{path}"
        );
    }
    // A replayed signed request is refused.
    let now = a.now();
    let h = auditor_read("/metrics", now);
    let get = |h: &[(String, String)]| get_metrics(&a, h);
    let metrics = get(&h);
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text()
            .contains("\nvigil_display_panel{panel=\"png\",reason=\"configured\"} 1\n"),
        "{}",
        metrics.text()
    );
    assert_eq!(get(&h).error_code().as_deref(), Some("replay"));
    // A signature over another path does not authorise this one.
    let h = auditor_read("/v1/log/entries", now);
    assert_eq!(get(&h).error_code().as_deref(), Some("bad_signature"));
    // Outside the time window.
    assert_eq!(
        get(&auditor_read("/metrics", now - 600))
            .error_code()
            .as_deref(),
        Some("stale")
    );
}

#[test]
fn path_and_query_tricks() {
    let a = Appliance::start();
    for (path, status) in [
        ("/v1/log/proof/-1", 400),
        ("/v1/log/proof/99999", 404),
        ("/v1/log/proof/01", 400),
        ("/v1//alerts", 404),
        ("/v1/log/../log/checkpoint", 404),
        ("/v1/log/consistency?from=2&to=1", 400),
        ("/v1/log/consistency?from=0&to=999", 404),
        ("/v1/log/consistency?from=0&to=1&x=2", 400),
        ("/nope", 404),
    ] {
        let ans = a.client.get(path).expect("reach");
        let code = if status == 404 {
            "not_found"
        } else {
            "malformed"
        };
        assert_eq!(
            (ans.status, ans.error_code().as_deref()),
            (status, Some(code)),
            "{path}: {}",
            ans.text()
        );
    }
    let ans = a.read("/v1/log/entries?limit=1001", AUDITOR);
    assert_eq!(ans.status, 400);
    let ans = a.read("/v1/log/entries?limit=1&limit=2", AUDITOR);
    assert_eq!(ans.status, 400);
    let ans = a.read("/v1/log/entries?kind=nope", AUDITOR);
    assert_eq!(ans.status, 400);
}

/// Waits until `n` submissions are queued or being committed (the writer is held in a sync).
fn wait_for_depth(a: &Appliance, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while a.daemon().state.committer.depth() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the statement never reached the queue"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Given a statement admitted by the pre-check while the writer was committing the entry that
/// makes it inadmissible, when the gate refuses it at the commit, then the answer is the one
/// the pre-check gives for the same refusal (it was 403 `forbidden` whatever the refusal).
fn refused_at_the_commit(
    first: (&str, String),
    second: (&str, String, (&str, u8)),
    status: u16,
    code: &str,
) {
    let syncs = Syncs::plain();
    let a = Appliance::start_with(Options {
        syncs: Some(syncs.clone()),
        ..Options::default()
    });
    syncs.hold();
    let before = a.log_size();
    std::thread::scope(|scope| {
        let first = scope.spawn(|| a.post_signed(first.0, &first.1, ADMIN));
        assert!(
            syncs.wait_held(std::time::Duration::from_secs(30)),
            "the first statement's commit reached its sync"
        );
        let second = scope.spawn(|| a.post_signed(second.0, &second.1, second.2));
        wait_for_depth(&a, 2);
        syncs.release();
        assert_eq!(first.join().expect("first").status, 201);
        refused(
            &a,
            before + 1,
            &second.join().expect("second"),
            status,
            code,
        );
    });
}

#[test]
fn a_revocation_committed_while_a_statement_waits_gives_revoked_key() {
    let a = Appliance::start();
    let revoke = a.revocation("nas", "stolen");
    let alert = a.alert("info", "x", "in flight");
    drop(a);
    refused_at_the_commit(
        ("/v1/admin", revoke),
        ("/v1/alerts", alert, SOURCE),
        401,
        "revoked_key",
    );
}

#[test]
fn an_enrolment_that_loses_the_race_gives_conflict() {
    let a = Appliance::start();
    let (one, two) = (
        a.enrolment("printer", &test_key(61)),
        a.enrolment("printer", &test_key(62)),
    );
    drop(a);
    refused_at_the_commit(
        ("/v1/admin", one),
        ("/v1/admin", two, ADMIN),
        409,
        "conflict",
    );
}

#[test]
fn an_exact_retry_gets_its_own_receipt_whoever_logged_the_same_bytes() {
    let mut a = Appliance::start();
    let st = a.alert("warning", "disk", "same bytes, two keys");
    let first = a.post_signed("/v1/alerts", &st, SOURCE);
    assert_eq!(first.status, 201, "{}", first.text());
    let second = a.post_signed("/v1/alerts", &st, SOURCE2);
    assert_eq!(second.status, 201, "{}", second.text());
    let (i, j) = (
        a.verify_receipt(&first.body),
        a.verify_receipt(&second.body),
    );
    assert_ne!(i, j);
    // From memory; then from the writer (the memory of recent statements cleared: the nonce is
    // used, with these bytes); then ten minutes later, when admission refuses the retry as
    // stale and the refusal path finds it in the log.
    for (round, skip_ms) in [("memory", 0), ("writer", 0), ("refusal path", 600_000)] {
        if round != "memory" {
            a.restart();
            a.daemon().state.recent.clear();
            a.clock.set_ms(a.clock_ms() + skip_ms);
        }
        let size = a.log_size();
        for (who, want) in [(SOURCE, i), (SOURCE2, j)] {
            let again = a.post_signed("/v1/alerts", &st, who);
            assert_eq!(again.status, 200, "{round}, {}: {}", who.0, again.text());
            assert_eq!(
                a.verify_receipt(&again.body),
                want,
                "{round}: {}'s own entry",
                who.0
            );
        }
        assert_eq!(a.log_size(), size, "{round}: nothing new");
    }
    // A different statement is still stale ten minutes out.
    refused(
        &a,
        a.log_size(),
        &a.post_signed(
            "/v1/alerts",
            &st.replace("same bytes", "other bytes"),
            SOURCE,
        ),
        422,
        "stale",
    );
}

#[test]
fn path_segments_that_are_not_utf8_get_the_json_error() {
    let a = Appliance::start();
    for path in ["/v1/log/proof/%FF", "/v1/log/proof/%C0%AE"] {
        let ans = a.client.get(path).expect("reach");
        assert_eq!(
            (ans.status, ans.error_code().as_deref()),
            (400, Some("malformed")),
            "{path}: {}",
            ans.text()
        );
        assert_eq!(
            ans.content_type.as_deref(),
            Some("application/json"),
            "{path}"
        );
    }
    answered(&a.read("/v1/log/entries/%C0%AE", AUDITOR), 400, "malformed");
    // A repeated parameter.
    let ans = a.client.get("/v1/log/consistency?from=0&to=1&to=1");
    answered(&ans.expect("reach"), 400, "malformed");
    let ans = a.client.post("/v1/log/checkpoint", b"", &[]);
    answered(&ans.expect("reach"), 405, "method_not_allowed");
}

#[test]
fn a_full_ingest_queue_is_overloaded_with_retry_after_and_loses_nothing_admitted() {
    let syncs = Syncs::plain();
    let a = Appliance::start_with(Options {
        policy: Some("[limits]\nqueue = 1\n".into()),
        syncs: Some(syncs.clone()),
        ..Options::default()
    });
    syncs.hold();
    let before = a.log_size();
    let (one, two, three) = (
        a.alert("info", "x", "one"),
        a.alert("info", "x", "two"),
        a.alert("info", "x", "three"),
    );
    std::thread::scope(|scope| {
        let first = scope.spawn(|| a.post_signed("/v1/alerts", &one, SOURCE));
        assert!(syncs.wait_held(std::time::Duration::from_secs(30)));
        let second = scope.spawn(|| a.post_signed("/v1/alerts", &two, SOURCE));
        wait_for_depth(&a, 2);
        // The writer is committing `one`, `two` fills the queue: `three` is turned away at once.
        let third = a.post_signed("/v1/alerts", &three, SOURCE);
        assert_eq!(
            (third.status, third.error_code().as_deref()),
            (503, Some("overloaded")),
            "{}",
            third.text()
        );
        assert!(third.retry_after.is_some(), "with Retry-After");
        syncs.release();
        assert_eq!(first.join().expect("first").status, 201);
        assert_eq!(second.join().expect("second").status, 201);
    });
    assert_eq!(
        a.log_size(),
        before + 2,
        "both admitted statements are logged"
    );
    // Retried once there is room, the third is logged.
    assert_eq!(a.post_signed("/v1/alerts", &three, SOURCE).status, 201);
}

#[test]
fn text_the_display_cannot_show_is_refused_and_nothing_logged() {
    let a = Appliance::start();
    let before = a.log_size();
    for title in ["disk\u{202E}llun", "\u{200B}", "a\u{0301}\u{0301}\u{0301}"] {
        refused(
            &a,
            before,
            &a.post_signed("/v1/alerts", &a.alert("info", "x", title), SOURCE),
            400,
            "unshowable_text",
        );
    }
    assert_eq!(
        a.post_signed(
            "/v1/alerts",
            &a.alert("info", "x", "caf\u{e9} \u{2603}"),
            SOURCE
        )
        .status,
        201,
        "ordinary non-ASCII text is fine"
    );
}

#[test]
fn a_signed_read_stays_single_use_across_a_restart() {
    let mut a = Appliance::start();
    let signed = |date: u64| auditor_read("/metrics", date);
    let get = get_metrics;
    let captured = signed(a.now());
    assert_eq!(get(&a, &captured).status, 200);
    assert_eq!(get(&a, &captured).error_code().as_deref(), Some("replay"));
    // Two seconds later the appliance restarts, its nonce cache empty.
    a.clock.set_ms(a.clock_ms() + 2_000);
    a.restart();
    let ans = get(&a, &captured);
    assert_eq!(
        (ans.status, ans.error_code().as_deref()),
        (422, Some("stale")),
        "replayed after the restart: {}",
        ans.text()
    );
    // Signed before the start but well inside the skew window: refused the same way.
    let old = signed(a.now() - 30);
    assert_eq!(get(&a, &old).error_code().as_deref(), Some("stale"));
    // Signed now: served.
    assert_eq!(get(&a, &signed(a.now())).status, 200);
}

#[test]
fn reads_are_held_to_the_moment_the_clock_was_first_seen_synchronised() {
    let mut a = Appliance::start();
    a.clock.set_synced(false);
    a.clock.set_ms(a.clock_ms() + 2_000);
    a.restart();
    let at = |a: &Appliance, date: u64| get_metrics(a, &auditor_read("/metrics", date));
    // Unsynchronised: dates are not judged at all (the nonce cache alone protects).
    assert_eq!(at(&a, a.now() - 3_600).status, 200);
    a.clock.set_synced(true);
    // From the first synchronised read on, reads signed before that moment are refused.
    assert_eq!(at(&a, a.now()).status, 200);
    assert_eq!(at(&a, a.now() - 30).error_code().as_deref(), Some("stale"));
    a.clock.set_ms(a.clock_ms() + 5_000);
    assert_eq!(at(&a, a.now() - 3).status, 200, "signed after that moment");
}
