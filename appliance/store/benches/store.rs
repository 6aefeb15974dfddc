//! Store benchmark: durable append throughput against the raw fdatasync rate, raw Ed25519
//! `verify_strict` rate, and proof generation at a large log, all measured in one run.
//!
//! `cargo bench -p vigil-store --bench store`; `VIGIL_BENCH_ENTRIES` sets the large log's size
//! (default 1,000,000), `VIGIL_BENCH_DIR` where files go (default: a temporary directory on the
//! same file system as the target directory, so fsync numbers are the real disk's).

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use vigil_core::{ClockState, Kind, NoteSigner, SigningKey, Statement, sig};
use vigil_store::{Store, Submission};

const ORIGIN: &str = "bench.vigil/log";

fn signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[42; 32])).expect("signer")
}

fn statement(i: u64) -> String {
    Statement::builder(Kind::Alert, ORIGIN, 1_795_349_600, &format!("{i:032x}"))
        .header("severity", "warning")
        .header("title", format!("disk {i} almost full"))
        .header("topic", "disk")
        .header("key", format!("d{}", i % 100))
        .body("/dev/sda1  252G  240G  12G  96% /srv\n")
        .text()
}

/// Signs and verifies `range` on all cores.
fn submissions(range: std::ops::Range<u64>) -> Vec<Submission> {
    let key = SigningKey::from_bytes(&[1; 32]);
    let vk = key.verifying_key();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let (lo, hi) = (range.start, range.end);
    let chunk = (hi - lo).div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let key = key.clone();
                s.spawn(move || {
                    let a = lo + t * chunk;
                    let b = (a + chunk).min(hi);
                    (a..b)
                        .map(|i| {
                            let text = statement(i);
                            let st = Statement::parse(text.as_bytes()).expect("parses");
                            let v =
                                sig::verify(st, "bench", &vk, sig::sign_raw(text.as_bytes(), &key))
                                    .expect("verifies");
                            Submission {
                                verified: v,
                                received_ms: 1_795_349_600_000 + i,
                                clock: ClockState::Synced,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    })
}

fn fdatasync_rate(dir: &Path, window: Duration) -> f64 {
    let path = dir.join("fsync.probe");
    let mut f = std::fs::File::create(&path).expect("create");
    let block = [0x5au8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        f.write_all(&block).expect("write");
        f.sync_data().expect("fdatasync");
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(path);
    rate
}

fn verify_rate(window: Duration) -> f64 {
    let key = SigningKey::from_bytes(&[3; 32]);
    let vk = key.verifying_key();
    let msg = statement(1);
    let s = ed25519_dalek_sig(&key, msg.as_bytes());
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        for _ in 0..100 {
            std::hint::black_box(vk.verify_strict(std::hint::black_box(msg.as_bytes()), &s))
                .expect("valid");
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn ed25519_dalek_sig(key: &SigningKey, msg: &[u8]) -> ed25519_dalek::Signature {
    use ed25519_dalek::Signer as _;
    key.sign(msg)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful: run small then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let entries: u64 = std::env::var("VIGIL_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 1_000_000 });
    let window = if quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(2)
    };
    let base = std::env::var_os("VIGIL_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let t =
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-tmp");
            std::fs::create_dir_all(&t).expect("mkdir");
            t
        });
    let dir = tempfile::tempdir_in(&base).expect("tmp");

    let fsync = fdatasync_rate(dir.path(), window);
    let verify = verify_rate(window);
    println!("raw fdatasync (4 KiB write + fdatasync): {fsync:.0}/s");
    println!("raw Ed25519 verify_strict, one core: {verify:.0}/s");

    println!("\ndurable append (one redb write transaction + checkpoint signature per batch):");
    for batch in [1u64, 10, 100] {
        let store =
            Store::open(&dir.path().join(format!("append-{batch}.redb")), signer()).expect("open");
        let total = if quick {
            batch * 20
        } else {
            (batch * 400).min(20_000)
        };
        let subs = submissions(0..total);
        let mut it = subs.into_iter();
        let start = Instant::now();
        let mut commits = 0u64;
        loop {
            let b: Vec<_> = it.by_ref().take(batch as usize).collect();
            if b.is_empty() {
                break;
            }
            store.append_batch(b).expect("append");
            commits += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        let eps = total as f64 / secs;
        let cps = commits as f64 / secs;
        println!(
            "  batch {batch:>3}: {eps:>9.0} entries/s, {cps:>7.0} commits/s = {:.2}x the raw fdatasync rate; latency {:.2} ms/commit",
            cps / fsync,
            1000.0 / cps
        );
    }

    println!("\nlarge log: {entries} entries");
    let path = dir.path().join("large.redb");
    let t = Instant::now();
    let subs = submissions(0..entries);
    let sign_secs = t.elapsed().as_secs_f64();
    let store = Store::open(&path, signer()).expect("open");
    let t = Instant::now();
    let mut it = subs.into_iter();
    loop {
        let b: Vec<_> = it.by_ref().take(10_000).collect();
        if b.is_empty() {
            break;
        }
        store.append_batch(b).expect("append");
    }
    let append_secs = t.elapsed().as_secs_f64();
    println!(
        "  signed+verified in {sign_secs:.1} s; appended in batches of 10,000 in {append_secs:.1} s ({:.0} entries/s)",
        entries as f64 / append_secs
    );
    drop(store);
    let t = Instant::now();
    let store = Store::open(&path, signer()).expect("reopen");
    println!(
        "  reopen with full self-check: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(store.writable(), Ok(()));
    drop(store);
    // The quick start after that full check passed, and the full check it then owes, paced.
    let t = Instant::now();
    let store = Store::open_checked(&path, signer(), vigil_store::Check::Quick).expect("quick");
    let quick_secs = t.elapsed().as_secs_f64();
    assert!(store.check_owed() && store.writable().is_ok());
    let t = Instant::now();
    store.finish_check().expect("the background check passes");
    println!(
        "  reopen with the quick check: {quick_secs:.3} s; the full check it owes, paced (≤ about half a core): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let size = store.head().size;
    let n = if quick { 200 } else { 20_000 };
    let t = Instant::now();
    for i in 0..n {
        let idx = (i * 7919) % size;
        std::hint::black_box(store.inclusion_proof(idx, size).expect("proof"));
    }
    let incl = t.elapsed().as_secs_f64() / n as f64;
    let t = Instant::now();
    for i in 0..n {
        let old = 1 + (i * 7919) % (size - 1);
        std::hint::black_box(store.consistency_proof(old, size).expect("proof"));
    }
    let cons = t.elapsed().as_secs_f64() / n as f64;
    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(
            store
                .tlog_proof((i * 7919) % size)
                .expect("proof")
                .to_text(),
        );
    }
    let receipt = t.elapsed().as_secs_f64() / n as f64;
    println!(
        "  inclusion proof: {:.1} µs; consistency proof: {:.1} µs; receipt (tlog-proof text): {:.1} µs",
        incl * 1e6,
        cons * 1e6,
        receipt * 1e6
    );
    let file = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "  redb file: {:.1} MiB ({:.0} bytes/entry)",
        file as f64 / 1048576.0,
        file as f64 / entries as f64
    );
}
