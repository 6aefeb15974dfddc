//! Transport bounds, each exceeded: the TLS handshake timeout, the header/request timeout, and
//! the connection limit (set low through policy.toml so the tests stay short).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_e2e::{Appliance, Options};

fn tls_client(a: &Appliance) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(vigild::tls::pem_to_der(&a.daemon().ca_pem).expect("ca"))
        .expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Completes a TLS handshake on a fresh connection; `Err` if it does not finish within `limit`.
fn handshake(
    a: &Appliance,
    cfg: &Arc<rustls::ClientConfig>,
    limit: Duration,
) -> std::io::Result<(rustls::ClientConnection, TcpStream)> {
    let mut tcp = TcpStream::connect(a.daemon().addr)?;
    tcp.set_read_timeout(Some(limit))?;
    let mut conn =
        rustls::ClientConnection::new(cfg.clone(), "localhost".try_into().expect("name"))
            .expect("conn");
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok((conn, tcp))
}

/// Waits until the server closes `tcp` (EOF or reset); panics after `limit`.
fn closed_within(tcp: &mut TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    tcp.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 256];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) if start.elapsed() < limit => return start.elapsed(),
            Ok(_) => continue,
            _ => panic!("the server kept the connection open longer than {limit:?}"),
        }
    }
}

#[test]
fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let a = Appliance::start_with(Options {
        policy: Some("[limits]\ntls_handshake_timeout_secs = 1\n".into()),
        ..Options::default()
    });
    let mut tcp = TcpStream::connect(a.daemon().addr).expect("connect");
    let took = closed_within(&mut tcp, Duration::from_secs(5));
    assert!(
        took >= Duration::from_millis(900),
        "closed after {took:?}, before the timeout"
    );
    assert_eq!(
        a.client.get("/healthz").expect("others are served").status,
        200
    );
}

#[test]
fn a_slow_request_is_dropped_after_the_request_timeout() {
    let a = Appliance::start_with(Options {
        policy: Some("[limits]\nrequest_timeout_secs = 1\n".into()),
        ..Options::default()
    });
    let cfg = tls_client(&a);
    let (mut conn, mut tcp) = handshake(&a, &cfg, Duration::from_secs(5)).expect("handshake");
    // Half a request line, then nothing (slowloris).
    rustls::Stream::new(&mut conn, &mut tcp)
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: local")
        .expect("write");
    let start = Instant::now();
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut out = Vec::new();
    let _ = rustls::Stream::new(&mut conn, &mut tcp).read_to_end(&mut out);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "still open after {took:?}");
    assert!(took >= Duration::from_millis(900), "closed after {took:?}");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

#[test]
fn connections_beyond_the_limit_wait_until_one_closes() {
    let a = Appliance::start_with(Options {
        policy: Some("[limits]\nmax_connections = 2\n".into()),
        ..Options::default()
    });
    let cfg = tls_client(&a);
    let first = handshake(&a, &cfg, Duration::from_secs(5)).expect("first");
    let _second = handshake(&a, &cfg, Duration::from_secs(5)).expect("second");
    // The third is not accepted while two are open: its handshake cannot complete.
    assert!(
        handshake(&a, &cfg, Duration::from_millis(700)).is_err(),
        "a third connection was served"
    );
    drop(first);
    let third = handshake(&a, &cfg, Duration::from_secs(5));
    assert!(
        third.is_ok(),
        "after one closed, a new connection is served: {:?}",
        third.err()
    );
}

/// Sends `request` on a fresh TLS connection and returns what the server answers before it
/// closes or `limit` passes, and how long that took.
fn exchange(a: &Appliance, request: &[u8], limit: Duration) -> (String, Duration) {
    let cfg = tls_client(a);
    let (mut conn, mut tcp) = handshake(a, &cfg, Duration::from_secs(5)).expect("handshake");
    rustls::Stream::new(&mut conn, &mut tcp)
        .write_all(request)
        .expect("write");
    let start = Instant::now();
    tcp.set_read_timeout(Some(limit)).expect("timeout");
    let answer = vigil_e2e::read_answer(&mut rustls::Stream::new(&mut conn, &mut tcp));
    (answer, start.elapsed())
}

/// The JSON error of a raw HTTP answer: (status line, `error` code).
fn json_error(answer: &str) -> (String, String) {
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("not a JSON error body ({e}): {answer}"));
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{answer}"
    );
    (status, v["error"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn a_declared_body_over_the_limit_is_refused_before_it_is_read() {
    let a = Appliance::start_with(Options {
        policy: Some("[limits]\nrequest_timeout_secs = 30\n".into()),
        ..Options::default()
    });
    let before = a.log_size();
    let (answer, took) = exchange(
        &a,
        b"POST /v1/alerts HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10000000\r\n\r\n",
        Duration::from_secs(10),
    );
    assert!(
        took < Duration::from_secs(5),
        "answered after {took:?}: it waited for a body it should refuse"
    );
    let (status, code) = json_error(&answer);
    assert!(status.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(code, "too_large");
    assert_eq!(a.log_size(), before, "nothing logged");
}

#[test]
fn a_badly_chunked_body_is_malformed_not_too_large() {
    let a = Appliance::start();
    let before = a.log_size();
    let (answer, _) = exchange(
        &a,
        b"POST /v1/alerts HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        Duration::from_secs(10),
    );
    let (status, code) = json_error(&answer);
    assert!(status.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(code, "malformed");
    assert_eq!(a.log_size(), before, "nothing logged");
}

#[test]
fn a_body_that_never_completes_gets_the_json_timeout() {
    let a = Appliance::start_with(Options {
        policy: Some("[limits]\nrequest_timeout_secs = 1\n".into()),
        ..Options::default()
    });
    let before = a.log_size();
    let (answer, took) = exchange(
        &a,
        b"POST /v1/alerts HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nalert/v1\n",
        Duration::from_secs(10),
    );
    assert!(
        took >= Duration::from_millis(900),
        "answered after {took:?}"
    );
    let (status, code) = json_error(&answer);
    assert!(status.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(code, "timeout");
    assert_eq!(a.log_size(), before, "nothing logged");
}

#[test]
fn what_the_http_parser_refuses_gets_the_json_error_too() {
    let a = Appliance::start();
    let before = a.log_size();
    for request in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /healthz HTTP/3.0\r\nHost: localhost\r\n\r\n",
    ] {
        let (answer, _) = exchange(&a, request, Duration::from_secs(10));
        let (status, code) = json_error(&answer);
        assert!(status.starts_with("HTTP/1.1 400"), "{answer}");
        assert_eq!(code, "malformed");
    }
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let (answer, _) = exchange(&a, huge.as_bytes(), Duration::from_secs(10));
    let (status, code) = json_error(&answer);
    assert!(status.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(code, "headers_too_large");
    // The connection adapter changes nothing else: keep-alive requests and answers as before.
    assert_eq!(a.client.get("/healthz").expect("reach").status, 200);
    assert_eq!(a.log_size(), before, "nothing logged");
}

#[test]
fn one_address_cannot_hold_the_connection_budget() {
    let a = Appliance::start_with(Options {
        policy: Some("[limits]\nmax_connections = 64\nmax_connections_per_address = 4\n".into()),
        ..Options::default()
    });
    let cfg = tls_client(&a);
    let timed = || {
        let start = Instant::now();
        let (mut conn, mut tcp) = handshake(&a, &cfg, Duration::from_secs(10)).expect("handshake");
        rustls::Stream::new(&mut conn, &mut tcp)
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut out = Vec::new();
        let _ = rustls::Stream::new(&mut conn, &mut tcp).read_to_end(&mut out);
        assert!(
            out.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        start.elapsed()
    };
    // The best of three, each time: scheduler noise on a busy CI machine is not the question.
    let best = || (0..3).map(|_| timed()).min().expect("three");
    let baseline = best();
    // 100 idle connections from 127.0.0.2 (another loopback address): no TLS bytes sent.
    let addr = a.daemon().addr;
    let mut idle: Vec<tokio::net::TcpStream> = a.block_on(async {
        let mut v = Vec::new();
        for _ in 0..100 {
            let s = tokio::net::TcpSocket::new_v4().expect("socket");
            s.bind("127.0.0.2:0".parse().expect("addr"))
                .expect("bind 127.0.0.2");
            v.push(s.connect(addr).await.expect("connect"));
        }
        v
    });
    // All but four are closed at once, before any TLS work; four are held open.
    let closed = a.block_on(async {
        let mut closed = 0;
        for s in &mut idle {
            let mut b = [0u8; 1];
            use tokio::io::AsyncReadExt as _;
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(300), s.read(&mut b)).await
            {
                closed += 1;
            }
        }
        closed
    });
    assert_eq!(closed, 96, "connections past the cap are closed at accept");
    // Another address's request is not held up by them.
    let after = best();
    assert!(
        after <= baseline + Duration::from_millis(100),
        "{after:?} with the idle connections, {baseline:?} without"
    );
    drop(idle);
}
