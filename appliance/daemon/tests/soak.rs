//! kill -9 soak: the `vigild` binary under concurrent submitters, killed with SIGKILL at
//! moments chosen by a seeded generator and started again on the same state, cycle after cycle.
//! After every restart: every receipt any submitter got is in the log with its entry's exact
//! leaf hash, each receipt verifies offline, and the log is consistent with every checkpoint
//! any receipt carried. `VIGIL_SOAK_CYCLES` sets the number of cycles (25 by default, as CI
//! runs it).

mod common;

use common::free_port;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil_cli::Client;
use vigil_cli::client::{random_nonce, statement_headers};
use vigil_core::wire::{EntriesPage, Receipt};
use vigil_core::{
    Checkpoint, Kind, NoteVerifier, SigningKey, Statement, TlogProof, keyfile, merkle,
};

const ORIGIN: &str = "soak.vigil/log";
const SUBMITTERS: usize = 4;

/// Starts the embedded default in `work` on `port` and waits for its banner.
fn start(work: &Path, port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigild"))
        .current_dir(work)
        .env("VIGIL_LISTEN", format!("127.0.0.1:{port}"))
        .env("VIGIL_HTTP_LISTEN", "off")
        .env("VIGIL_ORIGIN", ORIGIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("vigild starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut banner = String::new();
    while !banner.contains("  display:") {
        assert!(Instant::now() < deadline, "no banner: {banner}");
        let mut line = String::new();
        if out.read_line(&mut line).expect("read") == 0 {
            panic!("vigild exited before serving: {banner}");
        }
        banner.push_str(&line);
    }
    assert!(!banner.contains("NOT WRITABLE"), "{banner}");
    // Keep reading the banner's pipe so the daemon never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    child
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

fn key(state: &Path, path: &str) -> SigningKey {
    keyfile::decode(&std::fs::read_to_string(state.join(path)).expect("dev key")).expect("key")
}

/// A small generator (xorshift), seeded: the kill moments are the same on every run.
struct Moments(u64);
impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

/// Every receipt so far is in the log with its leaf hash and verifies offline; the log is
/// consistent with every checkpoint a receipt carried. Returns the log's size.
fn verify(c: &Client, vkey: &NoteVerifier, auditor: &SigningKey, receipts: &[Receipt]) -> u64 {
    let cp = Checkpoint::verify(
        &c.get("/v1/log/checkpoint").expect("checkpoint").text(),
        vkey,
    )
    .expect("the checkpoint verifies");
    let mut logged = BTreeMap::new();
    let mut from = 0;
    loop {
        let a = c
            .signed_get(
                &format!("/v1/log/entries?from={from}&limit=1000"),
                "auditor-dev",
                auditor,
                now_secs(),
            )
            .expect("entries");
        assert_eq!(a.status, 200, "{}", a.text());
        let page: EntriesPage = serde_json::from_slice(&a.body).expect("page");
        for e in page.entries {
            logged.insert(e.index, e.entry_hash);
        }
        match page.next {
            Some(n) => from = n,
            None => break,
        }
    }
    assert_eq!(
        logged.len() as u64,
        cp.size,
        "every entry up to the checkpoint is listed"
    );
    let mut checkpoints = BTreeMap::new();
    for r in receipts {
        assert_eq!(
            logged.get(&r.index),
            Some(&r.entry_hash),
            "the entry of an acknowledged receipt (index {}) is in the log with its bytes",
            r.index
        );
        let proof = TlogProof::parse(&r.proof).expect("receipt proof");
        let at = proof
            .verify(&r.leaf().expect("leaf"), vkey)
            .expect("the receipt verifies offline");
        checkpoints.insert(at.size, at.root);
    }
    for (size, root) in checkpoints {
        let a = c
            .get(&format!("/v1/log/consistency?from={size}&to={}", cp.size))
            .expect("consistency");
        let proof = vigil_core::wire::parse_hash_lines(&a.text()).expect("hash lines");
        merkle::verify_consistency(size, cp.size, &root, &cp.root, &proof)
            .unwrap_or_else(|e| panic!("not consistent with the checkpoint at {size}: {e}"));
    }
    cp.size
}

#[test]
fn kill_9_at_random_moments_loses_no_acknowledged_entry() {
    let cycles: u64 = std::env::var("VIGIL_SOAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let work = tempfile::tempdir().expect("tmp");
    let state = work.path().join("vigil-data");
    std::fs::create_dir_all(&state).expect("mkdir");
    // The embedded default reads its policy from the state directory: limits out of the way.
    std::fs::write(
        state.join("policy.toml"),
        "[limits]\nip_burst = 100000\nip_per_second = 100000\nsource_burst = 100000\nsource_per_minute = 1000000\n",
    )
    .expect("policy");
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let mut moments = Moments(0x005e_ed0f_9a11);
    let receipts = Arc::new(Mutex::new(Vec::<Receipt>::new()));
    let counter = Arc::new(AtomicU64::new(0));
    let mut daemon = start(work.path(), port);
    let ca = std::fs::read_to_string(state.join("tls/ca.pem")).expect("ca");
    let vkey = NoteVerifier::from_vkey(
        std::fs::read_to_string(state.join("log.vkey"))
            .expect("vkey")
            .trim(),
    )
    .expect("vkey");
    let source = key(&state, "keys/sources/source-dev");
    let auditor = key(&state, "keys/auditors/auditor-dev");
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..SUBMITTERS)
            .map(|_| {
                let (url, ca, source) = (url.clone(), ca.clone(), source.clone());
                let (receipts, counter, stop) = (receipts.clone(), counter.clone(), stop.clone());
                std::thread::spawn(move || {
                    let Ok(c) = Client::new(&url, &ca) else {
                        return;
                    };
                    while !stop.load(Ordering::SeqCst) {
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        let st =
                            Statement::builder(Kind::Alert, ORIGIN, now_secs(), &random_nonce())
                                .header("severity", "info")
                                .header("title", format!("soak {n}"))
                                .header("key", format!("k{}", n % 8))
                                .text();
                        let h = statement_headers(st.as_bytes(), "source-dev", &source);
                        match c.post("/v1/alerts", st.as_bytes(), &h) {
                            Ok(a) if a.status == 201 || a.status == 200 => {
                                let r: Receipt = serde_json::from_slice(&a.body).expect("receipt");
                                receipts.lock().expect("lock").push(r);
                            }
                            // Killed mid-request, or refused while starting: not acknowledged.
                            _ => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(moments.next_ms(30, 400)));
        daemon.kill().expect("SIGKILL");
        daemon.wait().expect("reaped");
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().expect("submitter");
        }
        daemon = start(work.path(), port);
        let c = Client::new(&url, &ca).expect("client");
        let all = receipts.lock().expect("lock").clone();
        let size = verify(&c, &vkey, &auditor, &all);
        eprintln!("cycle {cycle}: {} receipts, log size {size}", all.len());
    }
    let n = receipts.lock().expect("lock").len();
    assert!(n as u64 >= cycles, "the submitters got receipts ({n})");
    daemon.kill().expect("stop");
    let _ = daemon.wait();
}
