//! Load, restart, provisioning, TLS and transport bounds, against a real daemon.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use vigil_core::merkle::verify_consistency;
use vigil_core::wire::EntriesPage;
use vigil_core::{Checkpoint, Kind, MemoryTree};
use vigil_e2e::{ADMIN, AUDITOR, Appliance, ORIGIN, Options, SOURCE, test_key};

const OPEN_POLICY: &str = "[limits]\nip_burst = 100000\nip_per_second = 100000\nsource_burst = 100000\nsource_per_minute = 1000000\n";

#[test]
fn a_thousand_concurrent_submissions_are_each_logged_once() {
    let a = Arc::new(Appliance::start_with(Options {
        policy: Some(OPEN_POLICY.into()),
        ..Options::default()
    }));
    let before = a.log_size();
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let a = a.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| {
                        let ans = a.post_signed(
                            "/v1/alerts",
                            &a.alert("info", "load", &format!("n{i}")),
                            SOURCE,
                        );
                        assert_eq!(ans.status, 201, "{}", ans.text());
                        a.verify_receipt(&ans.body)
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut idx: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    idx.sort_unstable();
    assert_eq!(
        idx,
        (before..before + 1000).collect::<Vec<_>>(),
        "each logged exactly once, no gaps"
    );
    // The whole tree, rebuilt from the raw entries an auditor downloads, matches the checkpoint.
    let cp = Checkpoint::verify(
        &a.client.get("/v1/log/checkpoint").expect("reach").text(),
        &a.verifier(),
    )
    .expect("checkpoint");
    assert_eq!(cp.size, before + 1000);
    let mut tree = MemoryTree::new();
    for i in 0..cp.size {
        let raw = a.read(&format!("/v1/log/entries/{i}"), AUDITOR);
        assert_eq!(raw.status, 200);
        tree.push(&raw.body);
    }
    assert_eq!(tree.root(cp.size).expect("root"), cp.root);
    let m = a.read("/metrics", AUDITOR).text();
    assert!(
        m.contains("vigil_ingest_total{endpoint=\"alerts\",outcome=\"created\"} 1000"),
        "{m}"
    );
    assert!(m.contains(&format!("vigil_log_size {}", cp.size)));
    assert!(m.contains("vigil_commit_seconds_count"));
}

#[test]
fn restart_keeps_log_checkpoints_and_replay_protection() {
    let mut a = Appliance::start();
    let st = a.alert("warning", "disk", "before restart");
    assert_eq!(a.post_signed("/v1/alerts", &st, SOURCE).status, 201);
    let old = Checkpoint::verify(
        &a.client.get("/v1/log/checkpoint").expect("reach").text(),
        &a.verifier(),
    )
    .expect("cp");
    let vkey = a.daemon().vkey.clone();
    let ca = a.daemon().ca_pem.clone();
    a.restart();
    assert_eq!(a.daemon().vkey, vkey, "same log key");
    assert_eq!(a.daemon().ca_pem, ca, "same CA");
    assert_eq!(
        a.log_size(),
        old.size + 1,
        "only the boot entry was added: provisioning is unchanged"
    );
    // Replay protection survived: same nonce, other bytes.
    let before = a.log_size();
    let replay = a.post_signed(
        "/v1/alerts",
        &st.replace("before restart", "after restart"),
        SOURCE,
    );
    assert_eq!(
        (replay.status, replay.error_code().as_deref()),
        (409, Some("replay"))
    );
    // The exact statement is still an idempotent 200.
    assert_eq!(a.post_signed("/v1/alerts", &st, SOURCE).status, 200);
    assert_eq!(a.log_size(), before);
    let new = Checkpoint::verify(
        &a.client.get("/v1/log/checkpoint").expect("reach").text(),
        &a.verifier(),
    )
    .expect("cp");
    let proof = a
        .client
        .get(&format!(
            "/v1/log/consistency?from={}&to={}",
            old.size, new.size
        ))
        .expect("reach")
        .text();
    let hashes = vigil_core::wire::parse_hash_lines(&proof).expect("hash lines");
    verify_consistency(old.size, new.size, &old.root, &new.root, &hashes)
        .expect("new checkpoint extends the old");
}

#[test]
fn start_up_logs_provisioning_policy_and_boot() {
    let a = Appliance::start();
    let ans = a.read("/v1/log/entries?limit=1000", AUDITOR);
    let page: EntriesPage = serde_json::from_slice(&ans.body).expect("json");
    let kinds: Vec<&str> = page.entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "key-enroll").count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == "policy").count(), 1);
    assert_eq!(kinds.last(), Some(&"boot"));
    assert!(page.entries.iter().all(|e| e.signer == "device"));
    assert_eq!(page.next, None);
    // Filters work over the API.
    let ans = a.read(
        &format!("/v1/log/entries?kind={}", Kind::Boot.name()),
        AUDITOR,
    );
    let page: EntriesPage = serde_json::from_slice(&ans.body).expect("json");
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].headers["image"], "e2e");
}

#[test]
fn a_changed_provisioning_key_refuses_the_start() {
    let mut a = Appliance::start();
    a.stop();
    vigil_e2e::write_key(
        &a.dir.path().join("provision"),
        "sources",
        SOURCE.0,
        &test_key(66),
    );
    let clock: Arc<dyn vigild::clock::Clock> = a.clock.clone();
    let err = a
        .block_on(async {
            let settings = a.settings();
            let listeners = vigild::Listeners::bind(&settings).await?;
            vigild::Daemon::start(settings, clock, listeners).await
        })
        .expect_err("must refuse");
    let msg = err.to_string();
    assert!(
        msg.contains("nas.pub") && msg.contains("already enrolled"),
        "{msg}"
    );
    // A bad policy file is refused with its line.
    let (sub, name) = ("sources", SOURCE.0);
    vigil_e2e::write_key(
        &a.dir.path().join("provision"),
        sub,
        name,
        &test_key(SOURCE.1),
    );
    std::fs::write(
        a.dir.path().join("provision/policy.toml"),
        "[limits]\nip_brust = 1\n",
    )
    .expect("write");
    let clock: Arc<dyn vigild::clock::Clock> = a.clock.clone();
    let err = a
        .block_on(async {
            let settings = a.settings();
            let listeners = vigild::Listeners::bind(&settings).await?;
            vigild::Daemon::start(settings, clock, listeners).await
        })
        .expect_err("must refuse");
    assert!(
        err.to_string().contains("policy.toml") && err.to_string().contains("line 2"),
        "{err}"
    );
}

type HashTable<'t> = redb::Table<'t, (u8, u64), &'static [u8; 32]>;

/// Changes the stopped appliance's stored Merkle hashes behind its back.
fn with_stored_hashes(a: &Appliance, change: impl FnOnce(&mut HashTable<'_>)) {
    let db = redb::Database::create(a.dir.path().join("state/log.redb")).expect("open");
    let def: redb::TableDefinition<(u8, u64), &[u8; 32]> = redb::TableDefinition::new("hashes");
    let w = db.begin_write().expect("w");
    change(&mut w.open_table(def).expect("table"));
    w.commit().expect("commit");
}

#[test]
fn a_tampered_log_serves_reads_and_refuses_writes() {
    let mut a = Appliance::start();
    assert_eq!(
        a.post_signed("/v1/alerts", &a.alert("info", "x", "t"), SOURCE)
            .status,
        201
    );
    a.stop();
    with_stored_hashes(&a, |t| {
        t.insert((0u8, 1u64), &[9u8; 32]).expect("insert");
    });
    a.restart();
    let h = a.client.get("/healthz").expect("reach");
    assert_eq!(h.status, 503);
    assert!(
        h.text().contains("stored hash (0, 1) does not match"),
        "{}",
        h.text()
    );
    assert_eq!(
        a.client.get("/v1/log/checkpoint").expect("reach").status,
        200,
        "reads still served"
    );
    let before = a.log_size();
    let ans = a.post_signed("/v1/alerts", &a.alert("info", "x", "t2"), SOURCE);
    assert_eq!(
        (ans.status, ans.error_code().as_deref()),
        (503, Some("not_writable"))
    );
    assert!(ans.retry_after.is_some());
    assert_eq!(a.log_size(), before);
}

#[test]
fn plain_http_redirects_and_ignores_host_tricks() {
    let a = Appliance::start();
    let http = a.daemon().http_addr.expect("redirect port");
    let port = a.daemon().addr.port();
    let ask = |host: &str, path: &str| -> String {
        let mut s = std::net::TcpStream::connect(http).expect("connect");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    };
    let r = ask("appliance.lan:8080", "/v1/log/checkpoint?x=1");
    assert!(r.starts_with("HTTP/1.1 308"), "{r}");
    assert!(
        r.contains(&format!(
            "location: https://appliance.lan:{port}/v1/log/checkpoint?x=1"
        )),
        "{r}"
    );
    for host in ["evil.example/@x", "a b", "[::1", "evil.example:80@other"] {
        let r = ask(host, "/x");
        assert!(
            r.contains(&format!("location: https://localhost:{port}/x")),
            "{host}: {r}"
        );
    }
    let r = ask("[::1]:8080", "//evil.example/");
    assert!(
        r.contains(&format!("location: https://[::1]:{port}/")),
        "{r}"
    );
}

#[test]
fn oversized_headers_are_refused() {
    let a = Appliance::start();
    let big = "a".repeat(9000);
    let c = vigil_cli::Client::new(&a.url(), &a.daemon().ca_pem).expect("client");
    let ans = c
        .get_with_headers("/healthz", &[("X-Big".into(), big)])
        .expect("answered");
    assert_eq!(ans.status, 431, "{}", ans.text());
    assert_eq!(a.client.get("/healthz").expect("reach").status, 200);
}

#[test]
fn tls_prefers_chacha20_and_serves_a_24_hour_leaf_from_the_ca() {
    use rustls::crypto::ring::cipher_suite as cs;
    let a = Appliance::start();
    let ca = vigild::tls::pem_to_der(&a.daemon().ca_pem).expect("ca der");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("root");
    let handshake = |suites: Vec<rustls::SupportedCipherSuite>,
                     versions: &[&'static rustls::SupportedProtocolVersion]| {
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: suites,
            ..rustls::crypto::ring::default_provider()
        };
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        let mut conn =
            rustls::ClientConnection::new(Arc::new(cfg), "localhost".try_into().expect("name"))
                .expect("conn");
        let mut tcp = std::net::TcpStream::connect(a.daemon().addr).expect("tcp");
        let mut out = String::new();
        {
            let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
            tls.write_all(
                b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )?;
            let _ = tls.read_to_string(&mut out);
        }
        Ok::<_, std::io::Error>((
            conn.negotiated_cipher_suite().map(|s| s.suite()),
            conn.peer_certificates().map(|c| c.to_vec()),
            out,
        ))
    };
    // The client prefers AES; the server's order wins.
    let (suite, certs, out) = handshake(
        vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ],
        &[&rustls::version::TLS13],
    )
    .expect("TLS 1.3 handshake");
    assert_eq!(
        suite,
        Some(rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    assert!(
        out.to_ascii_lowercase()
            .contains("strict-transport-security: max-age="),
        "{out}"
    );
    let (suite, _, _) = handshake(
        vec![
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        &[&rustls::version::TLS12],
    )
    .expect("TLS 1.2 handshake");
    assert_eq!(
        suite,
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    );
    // Leaf: issued by our CA, valid for 24 hours (checked by re-serving: chain is leaf + CA).
    let certs = certs.expect("peer certs");
    assert_eq!(certs.len(), 2);
    assert_eq!(
        certs[1].as_ref(),
        vigild::tls::pem_to_der(&a.daemon().ca_pem)
            .expect("ca")
            .as_ref()
    );
    let leaf = certs[0].as_ref();
    let validity = vigil_e2e::x509_validity_secs(leaf).expect("validity");
    assert_eq!(
        validity,
        24 * 3600 + 300,
        "24 h plus 5 min of back-dating for clock skew"
    );
}

#[test]
fn renewal_swaps_the_certificate_without_dropping_connections() {
    let a = Appliance::start();
    let d = a.daemon();
    // An open keep-alive connection, then a renewal, then more requests on the same connection.
    let agent_client = vigil_cli::Client::new(&a.url(), &d.ca_pem).expect("client");
    assert_eq!(agent_client.get("/healthz").expect("reach").status, 200);
    let before = d.resolver.current();
    let ca = vigild::tls::Ca::load_or_create(&a.dir.path().join("state/tls"), ORIGIN).expect("ca");
    d.resolver.replace(
        ca.issue_leaf(&["localhost".into()], &["127.0.0.1".parse().expect("ip")])
            .expect("leaf"),
    );
    assert_ne!(
        before.cert[0],
        d.resolver.current().cert[0],
        "a new leaf is served"
    );
    for _ in 0..3 {
        assert_eq!(
            agent_client
                .get("/healthz")
                .expect("same connection keeps working")
                .status,
            200
        );
    }
    assert_eq!(
        a.client
            .get("/healthz")
            .expect("new connections get the new leaf")
            .status,
        200
    );
    let _ = ADMIN;
}

#[test]
fn a_read_the_damaged_log_cannot_serve_is_unavailable_without_internals() {
    let mut a = Appliance::start();
    for t in ["one", "two", "three"] {
        assert_eq!(
            a.post_signed("/v1/alerts", &a.alert("info", "x", t), SOURCE)
                .status,
            201
        );
    }
    let size = a.log_size();
    a.stop();
    // The stored hash the proof of entry 0 needs (its sibling leaf) goes missing.
    with_stored_hashes(&a, |t| {
        t.remove((0u8, 1u64)).expect("remove");
    });
    a.restart();
    assert_eq!(a.client.get("/healthz").expect("reach").status, 503);
    let ans = a.client.get("/v1/log/proof/0").expect("reach");
    assert_eq!(
        (ans.status, ans.error_code().as_deref()),
        (503, Some("unavailable")),
        "{}",
        ans.text()
    );
    assert!(ans.retry_after.is_some());
    assert!(
        !ans.text().contains("hash") && !ans.text().contains("(0, 1)"),
        "no internals in the answer: {}",
        ans.text()
    );
    assert_eq!(a.log_size(), size, "the log is still read");
}

/// Runs `mount`/`umount`; this test makes its own small file system (root, as CI runs).
fn mount(args: &[&str]) {
    let o = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("mount runs");
    assert!(
        o.status.success(),
        "{args:?} failed (this test mounts a tmpfs: it needs root): {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_full_disk_stops_writes_and_freeing_space_resumes_them_without_a_restart() {
    let mut a = Appliance::start();
    let first = a.post_signed("/v1/alerts", &a.alert("info", "x", "before"), SOURCE);
    assert_eq!(first.status, 201);
    let mut receipts = vec![first.body.clone()];
    a.stop();
    // The state directory moves onto an 8 MiB tmpfs.
    let state = a.dir.path().join("state");
    let saved = a.dir.path().join("state-saved");
    std::fs::rename(&state, &saved).expect("move state");
    std::fs::create_dir(&state).expect("mkdir");
    let st = state.display().to_string();
    mount(&[
        "mount",
        "-t",
        "tmpfs",
        "-o",
        "size=8m,mode=0700",
        "tmpfs",
        &st,
    ]);
    let copied = std::process::Command::new("cp")
        .args(["-a", &format!("{}/.", saved.display()), &st])
        .status()
        .expect("cp");
    assert!(copied.success());
    a.restart();
    // Fill what is left.
    let filler = state.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0xa5u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    // Alerts are still taken: each is durable in the preallocated journal (docs/format.md §8).
    // redb writes when the writer persists, idle for a second; on the full disk that fails, and
    // from then on alerts are refused with 503 not_writable, and /healthz says so.
    let mut refused = None;
    for i in 0..30 {
        let ans = a.post_signed(
            "/v1/alerts",
            &a.alert("info", "x", &format!("filling {i}")),
            SOURCE,
        );
        match ans.status {
            201 => receipts.push(ans.body.clone()),
            503 => {
                refused = Some(ans);
                break;
            }
            s => panic!("unexpected {s}: {}", ans.text()),
        }
        std::thread::sleep(vigil_store::PERSIST_WHEN_IDLE + std::time::Duration::from_millis(300));
    }
    let refused = refused.expect("the disk filled");
    assert_eq!(refused.error_code().as_deref(), Some("not_writable"));
    let health = a.client.get("/healthz").expect("reach");
    assert_eq!(health.status, 503, "{}", health.text());
    assert!(
        health.text().contains("No space left on device"),
        "{}",
        health.text()
    );
    // Reads go on.
    assert_eq!(
        a.client.get("/v1/log/checkpoint").expect("reach").status,
        200
    );
    // Space again: the appliance takes writes again by itself.
    std::fs::remove_file(&filler).expect("free space");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while a.client.get("/healthz").expect("reach").status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "still not writable a minute after space was freed"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let after = a.post_signed("/v1/alerts", &a.alert("info", "x", "after"), SOURCE);
    assert_eq!(after.status, 201, "{}", after.text());
    receipts.push(after.body.clone());
    // Nothing acknowledged was lost.
    for r in &receipts {
        let index = a.verify_receipt(r);
        let bytes = a
            .daemon()
            .state
            .store
            .entry(index)
            .expect("read")
            .expect("an acknowledged entry is there");
        let receipt: vigil_core::wire::Receipt = serde_json::from_slice(r).expect("receipt");
        assert_eq!(Some(vigil_core::merkle::leaf_hash(&bytes)), receipt.leaf());
    }
    a.stop();
    mount(&["umount", &st]);
}
