//! `vigil bridge alertmanager` end to end: a real Prometheus Alertmanager (the Debian package's
//! binary, started here with a temporary configuration and storage) notifies the bridge, which
//! signs each alert for a real appliance. Firing shows on the display, resolved clears it, and
//! neither Alertmanager's retries nor a restarted bridge log anything twice. Also: the token, the
//! loopback rule and strict, bounded payloads.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use vigil_e2e::{Appliance, SOURCE};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bridge(h: &Home, a: &Appliance, key: &str, port: u16, extra: &[&str]) -> Killed {
    bridge_to(h, &a.url(), key, port, extra)
}

/// The bridge, sending to the appliance at `url`, once it listens.
fn bridge_to(h: &Home, url: &str, key: &str, port: u16, extra: &[&str]) -> Killed {
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "--url",
            url,
            "-i",
            key,
            "bridge",
            "alertmanager",
            "--listen",
            &listen,
        ])
        .args(extra)
        .env("VIGIL_HOME", h.path().join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the bridge starts");
    wait_until("the bridge to listen", Duration::from_secs(20), || {
        std::net::TcpStream::connect(&listen).is_ok()
    });
    Killed(child)
}

fn post(url: &str, body: &str, auth: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.post(url).header("Content-Type", "application/json");
    if let Some(t) = auth {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.send(body).expect("reachable");
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap_or_default())
}

/// Sends only the head of a POST declaring `length` bytes of body and reads the answer: (its
/// text, how long it took).
fn declared(port: u16, length: usize, auth: Option<&str>) -> (String, Duration) {
    use std::io::Write as _;
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("reachable");
    let bearer = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        tcp,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{bearer}Content-Length: {length}\r\n\r\n"
    )
    .expect("write");
    let start = Instant::now();
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    (vigil_e2e::read_answer(&mut tcp), start.elapsed())
}

fn alertmanager(dir: &Path, port: u16, webhook: u16) -> Killed {
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        format!(
            "route:\n  receiver: vigil\n  group_by: [alertname]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: vigil\n    webhook_configs:\n      - url: http://127.0.0.1:{webhook}/\n        send_resolved: true\n"
        ),
    )
    .expect("config");
    let child = Command::new(ALERTMANAGER)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("alertmanager starts (Debian package prometheus-alertmanager)");
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    wait_until("Alertmanager to be ready", Duration::from_secs(30), || {
        ureq::get(&ready).call().is_ok_and(|r| r.status() == 200)
    });
    Killed(child)
}

/// Pushes one alert through Alertmanager's v2 API; `ends` in the past resolves it.
fn push(am: u16, starts: &str, ends: Option<&str>) {
    let ends = ends.map_or(String::new(), |e| format!(r#","endsAt":"{e}""#));
    let body = format!(
        r#"[{{"labels":{{"alertname":"DiskFull","severity":"critical","instance":"nas:9100"}},"annotations":{{"summary":"disk full on nas"}},"startsAt":"{starts}"{ends}}}]"#
    );
    let (status, text) = post(&format!("http://127.0.0.1:{am}/api/v2/alerts"), &body, None);
    assert_eq!(status, 200, "{text}");
}

fn rfc3339(offset_secs: i64) -> String {
    let t = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(offset_secs))
        .expect("time");
    t.round(jiff::Unit::Second).unwrap_or(t).to_string()
}

/// The alert entries of the log, as text.
fn alerts(a: &Appliance) -> Vec<String> {
    (0..a.log_size())
        .map(|i| a.entry_text(i))
        .filter(|t| t.contains("alert/v1\n"))
        .collect()
}

fn shown(a: &Appliance) -> Vec<String> {
    let now = a.clock_ms();
    match a.daemon().state.display.screen(now) {
        vigil_display::Screen::List { rows, .. } => rows.into_iter().map(|r| r.title).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn alertmanager_fires_and_resolves_through_the_bridge_and_nothing_is_logged_twice() {
    let a = Appliance::start();
    let h = trusted(&a);
    let key = key_file(&h, &a, SOURCE).display().to_string();
    let work = tempfile::tempdir().expect("tmp");
    let (bp, ap) = (free_port(), free_port());
    let mut b = bridge(&h, &a, &key, bp, &[]);
    let _am = alertmanager(work.path(), ap, bp);

    let starts = rfc3339(0);
    let pushed = Instant::now();
    push(ap, &starts, None);
    let latency = wait_until("the alert on the display", Duration::from_secs(30), || {
        shown(&a).contains(&"disk full on nas".to_owned())
    });
    println!(
        "Alertmanager push to display: {:.0} ms (group_wait 1 s)",
        pushed.elapsed().min(latency).as_secs_f64() * 1e3
    );
    let logged = alerts(&a);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(
        logged[0].contains("severity: critical\n")
            && logged[0].contains("topic: diskfull\n")
            && logged[0].contains("label instance: nas:9100\n"),
        "{}",
        logged[0]
    );

    // The bridge restarts; Alertmanager's retry of the same notification (re-sent here as it
    // would) is answered from the kept statement: 200, no second entry.
    drop(b);
    b = bridge(&h, &a, &key, bp, &[]);
    let notification = format!(
        r#"{{"version":"4","status":"firing","alerts":[{{"status":"firing","labels":{{"alertname":"DiskFull","severity":"critical","instance":"nas:9100"}},"annotations":{{"summary":"disk full on nas"}},"startsAt":"{starts}","endsAt":"0001-01-01T00:00:00Z","fingerprint":"{}"}}]}}"#,
        fingerprint(&logged[0])
    );
    let (status, text) = post(&format!("http://127.0.0.1:{bp}/"), &notification, None);
    assert_eq!(status, 200, "{text}");
    assert_eq!(alerts(&a).len(), 1, "a retry logs nothing twice");

    // Alertmanager cannot reach the bridge for a while: it retries, and the resolution lands
    // once the bridge is back.
    drop(b);
    push(ap, &starts, Some(&rfc3339(-1)));
    std::thread::sleep(Duration::from_secs(3));
    let _b = bridge(&h, &a, &key, bp, &[]);
    wait_until("the resolution", Duration::from_secs(90), || {
        !shown(&a).contains(&"disk full on nas".to_owned())
    });
    std::thread::sleep(Duration::from_secs(3));
    let logged = alerts(&a);
    assert_eq!(
        logged.len(),
        2,
        "firing and resolved, once each: {logged:?}"
    );
    assert!(logged[1].contains("state: resolved\n"));
}

/// The `key:` of a logged alert (the fingerprint).
fn fingerprint(entry: &str) -> String {
    entry
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .expect("a key")
        .to_owned()
}

#[test]
fn the_bridge_refuses_what_it_must() {
    let a = Appliance::start();
    let h = trusted(&a);
    let key = key_file(&h, &a, SOURCE).display().to_string();
    // Not loopback without a token: refused before listening.
    let o = h.vigil(&[
        "--url",
        &a.url(),
        "-i",
        &key,
        "bridge",
        "alertmanager",
        "--listen",
        "0.0.0.0:0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--token-file"),
        "{}",
        text(&o.stderr)
    );
    // A token file others can read is refused too.
    let token = h.path().join("token");
    std::fs::write(&token, "s3cret-token-for-the-bridge\n").expect("write");
    vigil_e2e::set_mode(&token, 0o644);
    let o = h.vigil(&[
        "--url",
        &a.url(),
        "-i",
        &key,
        "bridge",
        "alertmanager",
        "--token-file",
        &token.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    vigil_e2e::set_mode(&token, 0o600);

    let port = free_port();
    let _b = bridge(
        &h,
        &a,
        &key,
        port,
        &["--token-file", &token.display().to_string()],
    );
    let url = format!("http://127.0.0.1:{port}/");
    let empty = r#"{"version":"4","alerts":[]}"#;
    let before = a.log_size();
    assert_eq!(post(&url, empty, None).0, 401, "no token");
    assert_eq!(
        post(&url, empty, Some("s3cret-token-for-the-bridgX")).0,
        401,
        "wrong token"
    );
    assert_eq!(
        post(&url, empty, Some("s3cret-token-for-the-bridge")).0,
        200
    );
    let auth = Some("s3cret-token-for-the-bridge");
    assert_eq!(post(&url, "{not json", auth).0, 400);
    assert_eq!(post(&url, r#"{"version":"3","alerts":[]}"#, auth).0, 400);
    let pending =
        r#"{"version":"4","alerts":[{"status":"pending","startsAt":"x","fingerprint":"f"}]}"#;
    assert_eq!(post(&url, pending, auth).0, 400);
    // A body a little over the bound, written whole: the client reads the 413 (the bridge
    // drains it first; answering mid-write would reset the connection under the client).
    let huge = format!(
        r#"{{"version":"4","alerts":[],"pad":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    for _ in 0..5 {
        assert_eq!(post(&url, &huge, auth).0, 413);
    }
    // Far over the bound, declared: refused on the header, the body not waited for.
    let (answer, took) = declared(port, 64 << 20, auth);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""error":"too_large""#), "{answer}");
    assert!(
        took < Duration::from_secs(5),
        "answered after {took:?}: it waited for a body it should refuse"
    );
    // Without the token nothing is read either: refused before the body.
    let (answer, took) = declared(port, 1 << 20, None);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert_eq!(a.log_size(), before, "nothing logged");
}

#[test]
fn an_appliance_that_cannot_take_the_alert_makes_alertmanager_retry() {
    let a = Appliance::start();
    let h = trusted(&a);
    let key = key_file(&h, &a, SOURCE).display().to_string();
    let port = free_port();
    // The bridge points at an address where no appliance answers.
    let _b = bridge_to(&h, "https://127.0.0.1:1", &key, port, &[]);
    let listen = format!("127.0.0.1:{port}");
    let n = r#"{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A"},"annotations":{},"startsAt":"2026-11-29T03:00:00Z","fingerprint":"0123456789abcdef"}]}"#;
    let (status, text) = post(&format!("http://{listen}/"), n, None);
    assert_eq!(status, 503, "Alertmanager retries on 5xx: {text}");
    assert!(text.contains("unavailable"), "{text}");
}
