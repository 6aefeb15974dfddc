//! The `vigild` binary itself: the embedded default starts a working appliance with no
//! arguments, and SIGTERM drains and exits cleanly.

mod common;

use common::free_port;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn vigild() -> &'static str {
    env!("CARGO_BIN_EXE_vigild")
}

#[test]
fn embedded_default_runs_and_sigterm_drains() {
    let work = tempfile::tempdir().expect("tmp");
    let (https, http) = (free_port(), free_port());
    let mut child = Command::new(vigild())
        .current_dir(work.path())
        // The embedded default, moved off the standard ports so tests can run beside a dev instance.
        .env("VIGIL_LISTEN", format!("127.0.0.1:{https}"))
        .env("VIGIL_HTTP_LISTEN", format!("127.0.0.1:{http}"))
        .env("VIGIL_ORIGIN", "bin.vigil/log")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigild starts");
    let banner = read_banner(&mut child);
    assert!(
        banner.contains(&format!("https://127.0.0.1:{https}")),
        "{banner}"
    );
    let state = work.path().join("vigil-data");
    for f in [
        "log.redb",
        "log.vkey",
        "tls/ca.pem",
        "keys/sources/source-dev.pub",
    ] {
        assert!(state.join(f).exists(), "{f} missing");
    }
    // Secrets are 0600.
    use std::os::unix::fs::PermissionsExt as _;
    for f in ["log.key", "tls/ca.key", "keys/sources/source-dev"] {
        let mode = std::fs::metadata(state.join(f))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let ca = std::fs::read_to_string(state.join("tls/ca.pem")).expect("ca");
    let c = vigil_cli::Client::new(&format!("https://127.0.0.1:{https}"), &ca).expect("client");
    let health = c.get("/healthz").expect("reach");
    assert_eq!(health.status, 200);
    // Built without the hw feature (the test build): the PNG panel, and /healthz says why.
    assert!(
        health
            .text()
            .starts_with("ok\ndisplay: png (not_built: vigild was built without the hw feature"),
        "{}",
        health.text()
    );
    assert!(
        banner.contains("display:        png (not_built:"),
        "{banner}"
    );
    // Send an alert with the dev source key the daemon made.
    let key = vigil_core::keyfile::decode(
        &std::fs::read_to_string(state.join("keys/sources/source-dev")).expect("key"),
    )
    .expect("decode");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let st = vigil_core::Statement::builder(
        vigil_core::Kind::Alert,
        "bin.vigil/log",
        now,
        &vigil_cli::client::random_nonce(),
    )
    .header("severity", "info")
    .header("title", "hello")
    .text();
    let ans = c
        .post(
            "/v1/alerts",
            st.as_bytes(),
            &vigil_cli::client::statement_headers(st.as_bytes(), "source-dev", &key),
        )
        .expect("reach");
    assert_eq!(ans.status, 201, "{}", ans.text());
    // SIGTERM: graceful exit with status 0.
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(err.contains("draining"), "{err}");
    assert!(!err.contains("PRIVATE KEY"), "no secret in logs");
}

#[test]
fn bad_configuration_is_refused_with_exit_2() {
    let work = tempfile::tempdir().expect("tmp");
    std::fs::write(
        work.path().join("v.toml"),
        "listen = \"127.0.0.1:1\"\nbogus = 1\n",
    )
    .expect("write");
    let out = Command::new(vigild())
        .current_dir(work.path())
        .args(["--config", "v.toml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("v.toml") && err.contains("bogus"), "{err}");
}

fn run_with_config(toml: &str, extra: &[&str]) -> std::process::Output {
    let work = tempfile::tempdir().expect("tmp");
    std::fs::write(work.path().join("v.toml"), toml).expect("write");
    Command::new(vigild())
        .current_dir(work.path())
        .args(["--config", "v.toml"])
        .args(extra)
        .output()
        .expect("runs")
}

#[test]
fn a_bad_hat_wiring_is_refused_with_exit_2_naming_the_key() {
    for (toml, want) in [
        (
            "[hat]\nspi = \"/dev/sda\"\n",
            "hat: spi = \"/dev/sda\": not a spidev node",
        ),
        (
            "[hat]\ni2c = \"/dev/i2c-x\"\n",
            "hat: i2c = \"/dev/i2c-x\": not an i2c-dev node",
        ),
        (
            "[hat]\ndc_line = 5\n",
            "hat: dc_line and rst_line are both 5",
        ),
        ("[hat]\ngpio_chip = \"\"\n", "hat: gpio_chip is empty"),
        ("[hat]\nmosi = 10\n", "unknown field `mosi`"),
        ("[hat]\ndc_line = -1\n", "dc_line"),
    ] {
        let out = run_with_config(&format!("listen = \"127.0.0.1:1\"\n{toml}"), &[]);
        assert_eq!(out.status.code(), Some(2), "{toml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{toml}: {err}");
    }
}

#[test]
fn without_the_hw_feature_the_hat_is_refused_and_the_check_fails_cleanly() {
    let work = tempfile::tempdir().expect("tmp");
    let state = work.path().join("state");
    let toml = format!(
        "state_dir = {:?}\nlisten = \"127.0.0.1:0\"\nhttp_listen = \"off\"\ndisplay = \"hat\"\n",
        state.display().to_string()
    );
    let out = run_with_config(&toml, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("display = \"hat\" but vigild was built without the hw feature"),
        "{err}"
    );
    let fresh = work.path().join("fresh");
    let toml = toml.replace(&state.display().to_string(), &fresh.display().to_string());
    let out = run_with_config(&toml, &["--check-hardware"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("built without the hw feature"), "{err}");
    assert!(!fresh.exists(), "the check touches no state");
}

/// vigild on its embedded default in `dir` (HTTPS on a free loopback port, no redirect), with
/// `extra` arguments; stdout piped.
fn embedded_default(dir: &std::path::Path, extra: &[&str], stderr: Stdio) -> std::process::Child {
    Command::new(vigild())
        .current_dir(dir)
        .args(extra)
        .env("VIGIL_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("VIGIL_HTTP_LISTEN", "off")
        .env("VIGIL_ORIGIN", "bin.vigil/log")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("vigild starts")
}

/// Sends SIGTERM and waits (bounded) for the exit.
fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "vigild did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads the start-up banner from vigild's stdout, up to its `display:` line (bounded); the
/// rest is drained on a thread, so the pipe stays open while vigild runs.
fn read_banner(child: &mut std::process::Child) -> String {
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !banner.contains("  display:") && Instant::now() < deadline {
        let mut line = String::new();
        if out.read_line(&mut line).expect("read") == 0 {
            break;
        }
        banner.push_str(&line);
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    banner
}

/// Connects to a socket systemd-socket-activate listens on, which makes it start its program
/// (retried while the launcher is still binding).
fn wake(port: u16) -> std::net::TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(e) if Instant::now() > deadline => panic!("the launcher does not listen: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// systemd's socket activation, through its own test launcher: vigild serves the sockets it
/// was passed (HTTPS and the redirect, by name), not the configured addresses, so the image's
/// service needs no capability to serve ports 443 and 80.
#[test]
fn sockets_passed_by_systemd_are_served_and_the_configured_ones_are_not_bound() {
    let work = tempfile::tempdir().expect("tmp");
    let (https, http, configured) = (free_port(), free_port(), free_port());
    let activate = |names: &str| {
        Command::new("systemd-socket-activate")
            .current_dir(work.path())
            .args(["-l", &format!("127.0.0.1:{http}")])
            .args(["-l", &format!("127.0.0.1:{https}")])
            .arg(format!("--fdname={names}"))
            .args(["-E", &format!("VIGIL_LISTEN=127.0.0.1:{configured}")])
            .args([
                "-E",
                "VIGIL_HTTP_LISTEN=off",
                "-E",
                "VIGIL_ORIGIN=sa.vigil/log",
            ])
            .arg(vigild())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("systemd-socket-activate (the systemd package) runs")
    };
    // Names decide the roles, not the order: the redirect's socket comes first here.
    let mut child = activate("http:https");
    // The launcher starts its program at the first connection, as systemd would.
    let first = wake(https);
    let banner = read_banner(&mut child);
    drop(first);
    assert!(
        banner.contains(&format!("https://127.0.0.1:{https} "))
            && banner.contains(&format!("http://127.0.0.1:{http} redirects"))
            && banner.contains("sockets:        passed by systemd"),
        "{banner}"
    );
    let ca = std::fs::read_to_string(work.path().join("vigil-data/tls/ca.pem")).expect("ca");
    let c = vigil_cli::Client::new(&format!("https://127.0.0.1:{https}"), &ca).expect("client");
    assert_eq!(c.get("/healthz").expect("reach").status, 200);
    // The redirect names the passed HTTPS socket's port.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", http)).expect("connect");
    std::io::Write::write_all(
        &mut plain,
        format!(
            "GET /v1/log/checkpoint HTTP/1.1\r\nHost: 127.0.0.1:{http}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .expect("write");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut plain, &mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer}");
    assert!(
        answer.contains(&format!(
            "location: https://127.0.0.1:{https}/v1/log/checkpoint"
        )),
        "{answer}"
    );
    // The configured address was not bound.
    assert!(std::net::TcpStream::connect(("127.0.0.1", configured)).is_err());
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");

    // A socket named for no role is refused at start, with the reason.
    let mut child = activate("https:ssh");
    let _first = wake(https);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr");
    assert!(
        err.contains("sockets passed by systemd (LISTEN_FDS): socket 1 is named \"ssh\""),
        "{err}"
    );
}

/// The start-up check (docs/spec.md §4): a fresh log and `--full-check` are checked fully
/// before serving; a later start checks quickly and runs the full check in the background.
#[test]
fn a_restart_checks_quickly_and_finishes_the_full_check_in_the_background() {
    let work = tempfile::tempdir().expect("tmp");
    let start = |extra: &[&str]| {
        let mut child = embedded_default(work.path(), extra, Stdio::piped());
        // Serving, and (a small log) the background check done, well within this.
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        while !line.contains("vigil is running") {
            line.clear();
            assert!(out.read_line(&mut line).expect("read") > 0, "vigild exited");
        }
        std::thread::sleep(Duration::from_millis(1500));
        let status = terminate(&mut child);
        assert!(status.success(), "{status:?}");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).expect("stdout");
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
            .expect("stderr");
        (rest, err)
    };
    let (out, _) = start(&[]);
    assert!(
        !out.contains("log check:"),
        "a fresh log is checked fully: {out}"
    );
    let (out, err) = start(&[]);
    assert!(out.contains("log check:      quick at start"), "{out}");
    assert!(err.contains("full log self-check passed"), "{err}");
    let (out, _) = start(&["--full-check"]);
    assert!(!out.contains("log check:"), "--full-check: {out}");
}

/// A reader that goes away (a closed stdout) does not stop the daemon: the banner's remaining
/// lines are dropped, and SIGTERM still drains and exits 0.
#[test]
fn a_closed_stdout_does_not_stop_vigild() {
    let work = tempfile::tempdir().expect("tmp");
    let mut child = embedded_default(work.path(), &[], Stdio::null());
    {
        // Only the first line, then the pipe is closed.
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("read");
        assert!(line.contains("vigil is running"), "{line}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().expect("wait").is_none(), "vigild stopped");
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
}
