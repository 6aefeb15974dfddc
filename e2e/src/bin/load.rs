//! Load benchmark: what one alert costs the whole appliance, measured from outside.
//!
//! A real `vigild` (the release binary beside this one, as its own process) on 127.0.0.1 takes
//! pre-signed alerts over HTTPS from clients with keep-alive, and in the same run this measures
//! the physical limits they are held against: one core's raw Ed25519 `verify_strict` rate and
//! the raw fdatasync latency of 4 KiB appends on the same file system. Then the daemon again,
//! in this process, with its log on a storage backend that adds 5 ms to every sync (a model of
//! an SD card), counting the syncs per commit.
//!
//!     cargo build --release -p vigild -p vigil-e2e --bin vigild --bin load && target/release/load
//!
//! `VIGIL_LOAD_SECONDS` (default 5) is the length of each measured phase; the whole run is
//! bounded (about 12 phases). It also audits the log as `vigil log audit` does (tiles and bundles
//! over HTTPS, all cores): the whole log, then 1,000 new entries, then ingest at 100/s while a
//! reader takes bundles and tiles at full speed. `VIGIL_LOAD_ONLY=steady` runs only the 100/s phase,
//! `VIGIL_LOAD_ONLY=32` only concurrency 32 (for attaching a profiler: `perf record -g -p PID`). It exits non-zero only when the appliance misbehaves (a request
//! refused, a receipt missing), never on a slow machine: the numbers are for the closing table.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use vigil_cli::client::{self, Client};
use vigil_core::SigningKey;
use vigil_e2e::{test_key, write_key};
use vigil_store::backends::Syncs;

const ORIGIN: &str = "load.vigil/log";
const SOURCE: &str = "load";
const SOURCE_SEED: u8 = 41;
const AUDITOR: &str = "load-audit";
const AUDITOR_SEED: u8 = 42;
/// Limits raised to the policy's ceilings (this measures cost, not the rate limits).
const POLICY: &str = "[limits]\nip_burst = 100000\nip_per_second = 100000\n\
source_burst = 100000\nsource_per_minute = 1000000\nmax_connections = 512\nqueue = 8192\n";

fn main() {
    let secs: u64 = std::env::var("VIGIL_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let phase = Duration::from_secs(secs);
    let dir = tempfile::Builder::new()
        .prefix("vigil-load")
        .tempdir_in(std::env::var_os("VIGIL_LOAD_DIR").unwrap_or_else(|| "/var/tmp".into()))
        .expect("temporary directory");
    println!(
        "vigil load benchmark: phases of {secs} s, state in {}",
        dir.path().display()
    );

    // The physical limits, in the same run.
    let verify_rate = raw_verify_rate(Duration::from_secs(1));
    let sync = raw_fdatasync(dir.path(), 2000);
    let paced = raw_fdatasync_paced(dir.path(), 500, Duration::from_millis(10));
    println!(
        "raw: verify_strict {verify_rate:.0}/s on one core; fdatasync of 4 KiB appends \
         p50 {:.3} ms, p99 {:.3} ms ({:.0}/s, {:.0} µs of CPU each; {:.0} µs each paced at 100/s)",
        ms(sync.p50),
        ms(sync.p99),
        sync.rate,
        sync.cpu.as_secs_f64() * 1e6,
        paced.cpu.as_secs_f64() * 1e6
    );

    let key = test_key(SOURCE_SEED);
    let d = Vigild::start(dir.path(), &key);
    println!("vigild pid {} on {}", d.child.id(), d.url);
    let mut sign = Gen::new(key.clone());

    // VIGIL_LOAD_ONLY=steady: only the steady 100/s phase, long, for a profiler to attach to.
    match std::env::var("VIGIL_LOAD_ONLY").as_deref() {
        Ok("steady") => {
            let o = open(&d, 100.0, phase, || sign.keyed());
            println!("daemon CPU per alert: {:.0} µs", o.cpu_per_alert_us());
            d.stop();
            return;
        }
        Ok("32") => {
            let o = closed(&d, 32, phase, |_| sign.keyed());
            println!("daemon CPU per alert: {:.0} µs", o.cpu_per_alert_us());
            d.stop();
            return;
        }
        _ => {}
    }
    // Closed loop, alerts that replace one another (the usual cron case).
    let c8 = closed(&d, 8, phase, |_| sign.keyed());
    let c32 = closed(&d, 32, phase, |_| sign.keyed());
    let steady = open(&d, 100.0, phase, || sign.keyed());
    // Every alert distinct, with 20,000 already active.
    let pre = closed_until(&d, 32, 20_000, || sign.distinct());
    println!(
        "preloaded {} distinct active alerts in {:.1} s",
        pre.ok,
        pre.took.as_secs_f64()
    );
    let d32 = closed(&d, 32, phase, |_| sign.distinct());
    let dsteady = open(&d, 100.0, phase, || sign.distinct());

    // Check-ins (issue 13): 10,000 checks checking in at concurrency 32, and what the daemon
    // costs idle before and after (its deadline task looks every second: an index by due time).
    let idle = |d: &Vigild| {
        let c0 = d.cpu_ns();
        std::thread::sleep(Duration::from_secs(3));
        d.cpu_ns().saturating_sub(c0) as f64 / 1e9 / 3.0
    };
    let idle_before = idle(&d);
    let checkins = closed_until(&d, 32, 10_000, || sign.checkin(10_000));
    println!(
        "check-ins, concurrency 32: {} of 10,000 checks in {:.2} s = {:.0}/s",
        checkins.ok,
        checkins.took.as_secs_f64(),
        checkins.rate()
    );
    let idle_after = idle(&d);

    // The offline audit over HTTPS (tiles and bundles), as `vigil log audit` runs it: the whole
    // log, then 1,000 new entries, then ingest at 100/s while audits read at full speed.
    // VIGIL_LOAD_AUDIT_ENTRIES grows the log to that size first (1000000 for the issue's
    // figure; keyed alerts, so the active set stays small).
    if let Some(n) = std::env::var("VIGIL_LOAD_AUDIT_ENTRIES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        let have = log_size(&d);
        if n > have {
            let t = Instant::now();
            closed_until(&d, 32, (n - have) as usize, || sign.keyed());
            println!(
                "grew the log to {n} entries in {:.0} s",
                t.elapsed().as_secs_f64()
            );
        }
    }
    let audit_dir = dir.path().join("audit");
    let full = audit_once(&d, &audit_dir);
    let _ = closed_until(&d, 32, 1000, || sign.distinct());
    let incremental = audit_once(&d, &audit_dir);
    // A reader takes every bundle and level-0 tile, again and again, as fast as the appliance
    // serves them (it verifies nothing: that CPU would be the auditor's machine's, not this one).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, size) = (stop.clone(), log_size(&d));
        let mut src = vigil_cli::audit::Remote::new(
            d.client(),
            Some((AUDITOR.to_owned(), test_key(AUDITOR_SEED))),
        );
        std::thread::spawn(move || {
            let mut bytes = 0u64;
            'reading: loop {
                for b in vigil_core::tiles::bundles_for_size(size) {
                    let level0 = vigil_core::tiles::Tile {
                        kind: vigil_core::tiles::TileKind::Hashes { level: 0 },
                        ..b
                    };
                    for t in [b, level0] {
                        if stop.load(Ordering::Relaxed) {
                            break 'reading;
                        }
                        bytes += vigil_cli::audit::Source::tile(&mut src, &t)
                            .expect("the appliance serves its tiles")
                            .len() as u64;
                    }
                }
            }
            bytes
        })
    };
    let asteady = open(&d, 100.0, phase, || sign.distinct());
    stop.store(true, Ordering::Relaxed);
    let read_mib = reader.join().expect("reader thread") as f64 / (1024.0 * 1024.0);
    let redraws = d.metric("vigil_display_redraws_total");
    let batches = d.metric("vigil_commit_seconds_count");
    let commit_ms = d.metric("vigil_commit_seconds_sum") * 1000.0 / batches.max(1.0);
    let per_commit = d.metric("vigil_committed_entries_total") / batches.max(1.0);
    let elapsed = d.started.elapsed().as_secs_f64();
    let size = log_size(&d);
    d.stop();
    // A restart on the grown log: process start to serving (the quick check, the projection
    // from its snapshot; the full check then runs in the background).
    let again = Vigild::start(dir.path(), &key);
    let restart = again.ready_in;
    again.stop();

    // The same daemon with a 5 ms sync: a model of an SD card.
    let slow = InProcess::start(&dir.path().join("slow"), &key, Duration::from_millis(5));
    let mut sign = Gen::new(key);
    let s32 = closed(&slow, 32, phase, |_| sign.keyed());
    let ssteady = open(&slow, 100.0, phase, || sign.keyed());
    let (syncs, commits) = slow.syncs_per_commit();
    slow.stop();

    println!();
    println!("| measure | value | ratio | target |");
    println!("|---|---|---|---|");
    row(
        "accepted/s, concurrency 8",
        c8.rate(),
        c8.rate() / verify_rate,
        "≥ 0.15 × verify_strict",
    );
    row(
        "accepted/s, concurrency 32",
        c32.rate(),
        c32.rate() / verify_rate,
        "≥ 0.30 × verify_strict",
    );
    println!(
        "| daemon CPU per alert, concurrency 32 | {:.0} µs | | ≤ 100 µs |",
        c32.cpu_per_alert_us()
    );
    println!(
        "| the clients' own CPU per alert, concurrency 32 (this process) | {:.0} µs | {:.2} × the daemon's | |",
        c32.own_cpu_per_alert_us(),
        c32.own_cpu_per_alert_us() / c32.cpu_per_alert_us()
    );
    println!(
        "| daemon CPU per alert, steady 100/s (one commit each) | {:.0} µs | {:.1} × one raw append + fdatasync ({:.0} µs); {:.1} × the same paced at 100/s ({:.0} µs) | ≤ 300 µs |",
        steady.cpu_per_alert_us(),
        steady.cpu_per_alert_us() / (sync.cpu.as_secs_f64() * 1e6),
        sync.cpu.as_secs_f64() * 1e6,
        steady.cpu_per_alert_us() / (paced.cpu.as_secs_f64() * 1e6).max(1.0),
        paced.cpu.as_secs_f64() * 1e6
    );
    let bound = 2.0 * ms(sync.p99) + 1.0;
    println!(
        "| p50 / p99 at 100/s | {:.2} / {:.2} ms | p99 = {:.2} × raw fdatasync p99 | p99 ≤ 2 × raw p99 + 1 ms = {bound:.2} ms |",
        ms(steady.p50()),
        ms(steady.p99()),
        steady.p99().as_secs_f64() / sync.p99.as_secs_f64()
    );
    row(
        "accepted/s, distinct, 20,000 active, concurrency 32",
        d32.rate(),
        d32.rate() / c32.rate(),
        "≥ 0.9 × keyed rate",
    );
    println!(
        "| p50 / p99 at 100/s, distinct, 20,000+ active | {:.2} / {:.2} ms | | ≤ {bound:.2} ms |",
        ms(dsteady.p50()),
        ms(dsteady.p99())
    );
    println!(
        "| daemon CPU per alert, distinct, concurrency 32 | {:.0} µs | | |",
        d32.cpu_per_alert_us()
    );
    println!(
        "| check-ins, 10,000 checks, concurrency 32 | {:.0}/s, {:.0} µs of daemon CPU each | | |",
        checkins.rate(),
        checkins.cpu_per_alert_us()
    );
    println!(
        "| idle daemon CPU with 10,000 checks (misses looked for every second) | {:.2} ms/s (before them: {:.2} ms/s) | | |",
        idle_after * 1e3,
        idle_before * 1e3
    );
    println!(
        "| display redraws | {redraws} in {elapsed:.0} s | {:.1}/s | a few per second at most |",
        redraws / elapsed
    );
    println!(
        "| commits (whole run) | {batches} of {per_commit:.1} entries, {commit_ms:.2} ms each | {:.1} × raw fdatasync p50 | |",
        commit_ms / ms(sync.p50)
    );
    println!(
        "| full audit over HTTPS, {} entries | {:.0}/s in {:.2} s | {:.2} × verify_strict | ≥ 1.0 × verify_strict |",
        full.entries,
        full.rate(),
        full.took.as_secs_f64(),
        full.rate() / verify_rate
    );
    println!(
        "| restart to serving, {size} entries | {:.3} s | | ≤ 1 s at 1M entries |",
        restart.as_secs_f64()
    );
    println!(
        "| incremental audit, {} new entries | {:.3} s | | < 1 s |",
        incremental.entries,
        incremental.took.as_secs_f64()
    );
    println!(
        "| p50 / p99 at 100/s while a reader takes bundles and tiles at full speed ({:.0} MiB/s) | {:.2} / {:.2} ms | p99 {:.2} × without | ≤ 1.5 × without |",
        read_mib / phase.as_secs_f64(),
        ms(asteady.p50()),
        ms(asteady.p99()),
        asteady.p99().as_secs_f64() / dsteady.p99().as_secs_f64().max(1e-9)
    );
    row(
        "5 ms sync: accepted/s, concurrency 32",
        s32.rate(),
        0.0,
        "≥ 1,000/s",
    );
    println!(
        "| 5 ms sync: p50 / p99 at 100/s | {:.2} / {:.2} ms | | p99 ≤ 11 ms |",
        ms(ssteady.p50()),
        ms(ssteady.p99())
    );
    println!(
        "| 5 ms sync: syncs per committed batch | {:.2} ({syncs} syncs, {commits} commits) | | the log's commit only |",
        syncs as f64 / commits.max(1) as f64
    );
}

struct Audited {
    entries: u64,
    took: Duration,
}

impl Audited {
    fn rate(&self) -> f64 {
        self.entries as f64 / self.took.as_secs_f64().max(1e-9)
    }
}

/// One `vigil log audit` (the CLI's own code) against `d`, resuming from the state in `dir`.
fn audit_once(d: &Vigild, dir: &Path) -> Audited {
    let a = audit_with(d.client(), dir);
    println!(
        "audit: {} entries verified in {:.2} s (log size {})",
        a.entries,
        a.took.as_secs_f64(),
        log_size(d)
    );
    a
}

/// The size of the log's latest checkpoint.
fn log_size(d: &Vigild) -> u64 {
    let note = d
        .client()
        .get("/v1/log/checkpoint")
        .expect("checkpoint")
        .text();
    note.lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("a checkpoint's second line is its size")
}

fn audit_with(client: Client, dir: &Path) -> Audited {
    let vkey_text = client.get("/v1/log/vkey").expect("vkey").text();
    let mut src =
        vigil_cli::audit::Remote::new(client, Some((AUDITOR.to_owned(), test_key(AUDITOR_SEED))));
    let vkey = vigil_core::NoteVerifier::from_vkey(vkey_text.trim()).expect("vkey");
    let t = Instant::now();
    let r = vigil_cli::audit::run(
        &mut src,
        &vkey,
        &vigil_cli::audit::State::new(dir),
        |_, _| {},
    )
    .expect("the appliance's log audits");
    Audited {
        entries: r.verified_now,
        took: t.elapsed(),
    }
}

fn row(what: &str, value: f64, ratio: f64, target: &str) {
    let ratio = if ratio > 0.0 {
        format!("{ratio:.2}")
    } else {
        String::new()
    };
    println!("| {what} | {value:.0}/s | {ratio} | {target} |");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Ed25519 `verify_strict` on one core, as many as fit in `budget`.
fn raw_verify_rate(budget: Duration) -> f64 {
    use ed25519_dalek::Signer as _;
    let key = SigningKey::from_bytes(&[7; 32]);
    // Any bytes do: the rate of `verify_strict` hardly depends on a short message's content.
    let msg = b"the raw verify rate";
    let sig = key.sign(msg);
    let vk = key.verifying_key();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..100 {
            assert!(vk.verify_strict(std::hint::black_box(msg), &sig).is_ok());
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

struct SyncStats {
    p50: Duration,
    p99: Duration,
    rate: f64,
    /// CPU time (user + system) of one append + fdatasync.
    cpu: Duration,
}

/// utime + stime from a /proc stat line (clock ticks of 10 ms).
fn stat_cpu(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// utime + stime from a /proc `stat` file (clock ticks of 10 ms).
fn cpu_from(stat_file: &str) -> Option<Duration> {
    stat_cpu(&std::fs::read_to_string(stat_file).ok()?)
}

/// This process's CPU time.
fn process_cpu() -> Duration {
    cpu_from("/proc/self/stat").unwrap_or_default()
}

fn thread_cpu() -> Duration {
    cpu_from("/proc/thread-self/stat").unwrap_or_default()
}

/// 4 KiB appends, each followed by fdatasync, on the file system of `dir`, back to back.
fn raw_fdatasync(dir: &Path, n: usize) -> SyncStats {
    raw_fdatasync_paced(dir, n, Duration::ZERO)
}

/// The same appends, one every `every` (as alerts arrive at a steady rate: the CPU of the
/// same work is higher when caches and CPUs go cold between items).
fn raw_fdatasync_paced(dir: &Path, n: usize, every: Duration) -> SyncStats {
    let path = dir.join("fdatasync.bench");
    let mut f = std::fs::File::create(&path).expect("bench file");
    let block = [0x5au8; 4096];
    let mut lat = Vec::with_capacity(n);
    let cpu0 = thread_cpu();
    let start = Instant::now();
    for i in 0..n {
        if !every.is_zero() {
            // Sleeping is not CPU time: only the appends are accounted.
            std::thread::sleep(
                (start + every * i as u32).saturating_duration_since(Instant::now()),
            );
        }
        let t = Instant::now();
        f.write_all(&block).expect("write");
        f.sync_data().expect("fdatasync");
        lat.push(t.elapsed());
    }
    let took = start.elapsed();
    let cpu = thread_cpu().saturating_sub(cpu0) / n as u32;
    let _ = std::fs::remove_file(&path);
    lat.sort();
    SyncStats {
        p50: pct(&lat, 0.50),
        p99: pct(&lat, 0.99),
        rate: n as f64 / took.as_secs_f64(),
        cpu,
    }
}

fn pct(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Pre-signed alert statements with their headers.
struct Gen {
    key: SigningKey,
    next: u64,
    run: String,
}

type Signed = (Vec<u8>, Vec<(String, String)>);

impl Gen {
    fn new(key: SigningKey) -> Gen {
        Gen {
            key,
            next: 0,
            run: client::random_nonce()[..16].to_owned(),
        }
    }

    fn statement(&mut self, key: Option<u64>) -> Signed {
        self.next += 1;
        let ts = vigil_e2e::now_secs();
        let nonce = format!("{}{:016x}", self.run, self.next);
        let text = vigil_core::Statement::builder(vigil_core::Kind::Alert, ORIGIN, ts, &nonce)
            .header("severity", "warning")
            .header("title", format!("load {}", self.next))
            .header("topic", "load")
            .header_opt("key", key.map(|k| format!("k{k}")))
            .body(format!("body of alert {}\n", self.next))
            .text();
        let h = client::statement_headers(text.as_bytes(), SOURCE, &self.key);
        (text.into_bytes(), h)
    }

    /// An alert replacing one of 16 dedup slots.
    fn keyed(&mut self) -> Signed {
        let k = self.next % 16;
        self.statement(Some(k))
    }

    /// An alert of its own (no dedup key): one more active alert.
    fn distinct(&mut self) -> Signed {
        self.statement(None)
    }

    /// An `ok` check-in of one of `checks` checks (every hour).
    fn checkin(&mut self, checks: u64) -> Signed {
        self.next += 1;
        let nonce = format!("{}{:016x}", self.run, self.next);
        let text = vigil_core::Statement::builder(
            vigil_core::Kind::Checkin,
            ORIGIN,
            vigil_e2e::now_secs(),
            &nonce,
        )
        .header("check", format!("job-{}", self.next % checks))
        .header("every", "1h")
        .text();
        let h = client::statement_headers(text.as_bytes(), SOURCE, &self.key);
        (text.into_bytes(), h)
    }
}

/// Something the clients can reach, with the daemon's CPU time if it is a process of its own.
trait Target {
    fn cpu(&self) -> Option<Duration>;
    /// Its URL and the CA certificate (PEM) it is served under.
    fn endpoint(&self) -> (String, String);
}

#[derive(Default)]
struct Outcome {
    ok: u64,
    took: Duration,
    cpu: Option<Duration>,
    /// This process's CPU over the phase: the clients' own cost (and the daemon's too, when it
    /// runs in this process).
    own_cpu: Duration,
    latencies: Vec<Duration>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.took.as_secs_f64()
    }
    fn own_cpu_per_alert_us(&self) -> f64 {
        self.own_cpu.as_secs_f64() * 1e6 / self.ok.max(1) as f64
    }
    fn cpu_per_alert_us(&self) -> f64 {
        self.cpu
            .map_or(f64::NAN, |c| c.as_secs_f64() * 1e6 / self.ok.max(1) as f64)
    }
    fn p50(&self) -> Duration {
        pct(&self.latencies, 0.50)
    }
    fn p99(&self) -> Duration {
        pct(&self.latencies, 0.99)
    }
}

/// Check-ins have their own endpoint; everything else here is an alert.
fn path_of(s: &Signed) -> &'static str {
    if s.0.starts_with(b"checkin/v1\n") {
        "/v1/checkins"
    } else {
        "/v1/alerts"
    }
}

/// `conc` clients with keep-alive sending pre-signed alerts as fast as they are answered.
fn closed(
    t: &impl Target,
    conc: usize,
    phase: Duration,
    mut make: impl FnMut(usize) -> Signed,
) -> Outcome {
    // Enough for the phase at a generous rate; signing happens before the clock starts.
    // (A phase that uses them all ends early; its rate is still what was accepted per second.)
    let budget = (phase.as_secs_f64() * 15_000.0) as usize;
    let work: Vec<Signed> = (0..budget).map(&mut make).collect();
    let o = run_closed(t, conc, work, Some(phase));
    println!(
        "closed loop, concurrency {conc}: {} accepted in {:.2} s = {:.0}/s",
        o.ok,
        o.took.as_secs_f64(),
        o.rate()
    );
    o
}

fn closed_until(
    t: &impl Target,
    conc: usize,
    n: usize,
    mut make: impl FnMut() -> Signed,
) -> Outcome {
    let work: Vec<Signed> = (0..n).map(|_| make()).collect();
    run_closed(t, conc, work, None)
}

/// Sends `work` from `conc` connections as fast as each is answered, until the work or the
/// `limit` ends. The clients are hyper connections with keep-alive over TLS, as tasks of one
/// thread: the daemon shares this machine with them, and a thread per connection (as the
/// CLI's blocking client has) cost about as much CPU per request as the daemon itself.
fn run_closed(t: &impl Target, conc: usize, work: Vec<Signed>, limit: Option<Duration>) -> Outcome {
    let (url, ca) = t.endpoint();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let conns = fleet::connect(&url, &ca, conc).await;
        let cpu0 = t.cpu();
        let own0 = process_cpu();
        let start = Instant::now();
        let deadline = limit.map(|l| start + l);
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|mut c| {
                let (work, next, ok) = (work.clone(), next.clone(), ok.clone());
                tokio::spawn(async move {
                    loop {
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(s) = work.get(i) else { break };
                        c.send(s).await;
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("client task");
        }
        let took = start.elapsed();
        let cpu = t.cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
        Outcome {
            ok: ok.load(Ordering::Relaxed),
            took,
            cpu,
            own_cpu: process_cpu().saturating_sub(own0),
            latencies: Vec::new(),
        }
    })
}

/// The closed loop's clients: hyper's HTTP/1.1 client connection over tokio-rustls.
mod fleet {
    use std::sync::Arc;

    use http_body_util::{BodyExt as _, Full};
    use hyper::body::Bytes;
    use hyper::client::conn::http1::SendRequest;
    use hyper_util::rt::TokioIo;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::TlsConnector;

    use super::{Signed, path_of};

    /// `n` connections to `url`, each with one request answered (connection and TLS session up
    /// before anything is measured).
    pub async fn connect(url: &str, ca_pem: &str, n: usize) -> Vec<Conn> {
        let tls = connector(ca_pem);
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            let mut c = Conn::open(&tls, url).await;
            c.get("/healthz").await;
            conns.push(c);
        }
        conns
    }

    /// Trusts only the appliance's CA.
    fn connector(ca_pem: &str) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.expect("CA PEM")).expect("CA certificate");
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        TlsConnector::from(Arc::new(cfg))
    }

    /// One connection with keep-alive, one request at a time.
    pub struct Conn {
        send: SendRequest<Full<Bytes>>,
        host: String,
    }

    impl Conn {
        async fn open(tls: &TlsConnector, url: &str) -> Conn {
            let (host, port) = vigil_cli::trust::host_port(url).expect("https URL");
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            let name = ServerName::try_from(host.clone()).expect("server name");
            let stream = tls.connect(name, tcp).await.expect("TLS handshake");
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .expect("HTTP/1.1");
            tokio::spawn(conn);
            Conn {
                send,
                host: format!("{host}:{port}"),
            }
        }

        async fn get(&mut self, path: &str) {
            let req = hyper::Request::get(path)
                .header("host", &self.host)
                .body(Full::default())
                .expect("request");
            self.exchange(req).await;
        }

        /// Sends one statement; anything but a new entry is the appliance misbehaving.
        pub async fn send(&mut self, s: &Signed) {
            let mut req = hyper::Request::post(path_of(s)).header("host", &self.host);
            for (k, v) in &s.1 {
                req = req.header(k.as_str(), v.as_str());
            }
            let req = req
                .body(Full::new(Bytes::copy_from_slice(&s.0)))
                .expect("request");
            let (status, body) = self.exchange(req).await;
            if status != 201 {
                eprintln!(
                    "error: alert refused: {status} {}",
                    String::from_utf8_lossy(&body)
                );
                std::process::exit(1);
            }
        }

        async fn exchange(&mut self, req: hyper::Request<Full<Bytes>>) -> (u16, Bytes) {
            self.send.ready().await.expect("connection open");
            let res = self
                .send
                .send_request(req)
                .await
                .expect("the appliance answers");
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.expect("body").to_bytes();
            (status, body)
        }
    }
}

/// Open loop: one alert every 1/rate seconds on a fixed schedule, latency measured from the
/// scheduled moment (a slow answer delays no later send: no coordinated omission). Eight
/// connections with keep-alive; each alert goes out on one that is free. The schedule is kept
/// by a thread of its own (the runtime's timer would round each send up to its next
/// millisecond, and that lateness would count as the appliance's).
fn open(t: &impl Target, rate: f64, phase: Duration, mut make: impl FnMut() -> Signed) -> Outcome {
    let n = (rate * phase.as_secs_f64()) as usize;
    let work: Vec<Signed> = (0..n).map(|_| make()).collect();
    let (url, ca) = t.endpoint();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("client runtime");
    let (free_tx, free) = std::sync::mpsc::channel();
    for c in rt.block_on(fleet::connect(&url, &ca, 8)) {
        free_tx.send(c).expect("pool");
    }
    let cpu0 = t.cpu();
    let own0 = process_cpu();
    let start = Instant::now() + Duration::from_millis(20);
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut answers = Vec::with_capacity(n);
    for (i, s) in work.into_iter().enumerate() {
        let at = start + every * i as u32;
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let mut c: fleet::Conn = free.recv().expect("a free connection");
        let back = free_tx.clone();
        answers.push(rt.spawn(async move {
            c.send(&s).await;
            let took = at.elapsed();
            let _ = back.send(c);
            took
        }));
    }
    let mut latencies: Vec<Duration> = rt.block_on(async {
        let mut l = Vec::with_capacity(n);
        for a in answers {
            l.push(a.await.expect("client task"));
        }
        l
    });
    let took = start.elapsed();
    let cpu = t.cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    latencies.sort();
    let o = Outcome {
        ok: n as u64,
        took,
        cpu,
        own_cpu: process_cpu().saturating_sub(own0),
        latencies,
    };
    println!(
        "open loop, {rate}/s: {} alerts, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        o.ok,
        ms(o.p50()),
        ms(o.p99()),
        ms(o.latencies.last().copied().unwrap_or_default())
    );
    o
}

fn provision(dir: &Path, key: &SigningKey) -> PathBuf {
    let prov = dir.join("provision");
    write_key(&prov, "sources", SOURCE, key);
    write_key(&prov, "auditors", AUDITOR, &test_key(AUDITOR_SEED));
    std::fs::write(prov.join("policy.toml"), POLICY).expect("policy");
    prov
}

/// The release `vigild` as its own process.
struct Vigild {
    child: Child,
    url: String,
    ca: String,
    started: Instant,
    /// From the process's start to `/healthz` answering 200.
    ready_in: Duration,
}

impl Vigild {
    // The child is returned inside `Vigild`, whose `stop` waits for it.
    #[allow(clippy::zombie_processes)]
    fn start(dir: &Path, key: &SigningKey) -> Vigild {
        let exe = std::env::current_exe().expect("own path");
        let vigild = exe.with_file_name("vigild");
        if !vigild.exists() {
            eprintln!(
                "error: {} is missing: cargo build --release -p vigild -p vigil-e2e --bin vigild --bin load",
                vigild.display()
            );
            std::process::exit(2);
        }
        let prov = provision(dir, key);
        let state = dir.join("state");
        let port = free_port();
        std::fs::write(dir.join("no-config.toml"), "").expect("empty config");
        let mut child = Command::new(&vigild)
            .arg("--state-dir")
            .arg(&state)
            .arg("--provision")
            .arg(&prov)
            .args(["--origin", ORIGIN, "--http-listen", "off", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .env("VIGIL_CONFIG", dir.join("no-config.toml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("vigild.log")).expect("log file"))
            .spawn()
            .expect("start vigild");
        let url = format!("https://127.0.0.1:{port}");
        let ca_path = state.join("tls/ca.pem");
        let start = Instant::now();
        loop {
            if let Ok(ca) = std::fs::read_to_string(&ca_path)
                && let Ok(c) = Client::new(&url, &ca)
                && c.get("/healthz").is_ok_and(|a| a.status == 200)
            {
                return Vigild {
                    child,
                    url,
                    ca,
                    started: Instant::now(),
                    ready_in: start.elapsed(),
                };
            }
            if start.elapsed() > Duration::from_secs(30) {
                let log = std::fs::read_to_string(dir.join("vigild.log")).unwrap_or_default();
                eprintln!("error: vigild did not start within 30 s:\n{log}");
                let _ = child.kill();
                let _ = child.wait();
                std::process::exit(1);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn metric(&self, name: &str) -> f64 {
        let c = self.client();
        let a = c
            .signed_get(
                "/metrics",
                AUDITOR,
                &test_key(AUDITOR_SEED),
                vigil_e2e::now_secs(),
            )
            .expect("metrics");
        let text = a.text();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Vigild {
    /// The process's CPU time in nanoseconds: the sum of its threads' scheduler statistics (the
    /// clock ticks of /proc/PID/stat are 10 ms, too coarse for an idle daemon).
    fn cpu_ns(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return 0;
        };
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Vigild {
    /// The CLI's blocking client (the audit phases read through it, as `vigil log audit` does).
    fn client(&self) -> Client {
        Client::new(&self.url, &self.ca).expect("client")
    }
}

impl Target for Vigild {
    fn endpoint(&self) -> (String, String) {
        (self.url.clone(), self.ca.clone())
    }

    /// utime + stime of the process, from /proc (clock ticks of 10 ms).
    fn cpu(&self) -> Option<Duration> {
        cpu_from(&format!("/proc/{}/stat", self.child.id()))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// vigild in this process, its log on a backend whose syncs are slowed and counted.
struct InProcess {
    rt: tokio::runtime::Runtime,
    daemon: Option<vigild::Daemon>,
    url: String,
    syncs: Arc<Syncs>,
    syncs_at_start: u64,
}

impl InProcess {
    fn start(dir: &Path, key: &SigningKey, delay: Duration) -> InProcess {
        let prov = provision(dir, key);
        let settings = vigild::config::Settings {
            state_dir: dir.join("state"),
            listen: "127.0.0.1:0".parse().expect("addr"),
            http_listen: None,
            origin: ORIGIN.into(),
            provision: prov,
            clock: vigild::clock::ClockMode::AssumeSynced,
            image_id: "load".into(),
            tls_names: vec!["localhost".into()],
            tls_addresses: vec!["127.0.0.1".parse().expect("ip")],
            embedded_default: false,
            display: vigild::display::PanelKind::Png,
            hat: vigil_display::hat::HatConfig::default(),
        };
        let syncs = Syncs::slow(delay);
        let open = vigil_e2e::open_journaled_log(syncs.clone());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let clock: Arc<dyn vigild::clock::Clock> = Arc::new(vigild::clock::SystemClock::new(
            vigild::clock::ClockMode::AssumeSynced,
        ));
        let daemon = rt
            .block_on(async {
                let listeners = vigild::Listeners::bind(&settings).await?;
                vigild::Daemon::start_with_log(settings, clock, listeners, open).await
            })
            .expect("daemon starts");
        let url = format!("https://{}", daemon.addr);
        let at = syncs.count();
        InProcess {
            rt,
            daemon: Some(daemon),
            url,
            syncs,
            syncs_at_start: at,
        }
    }

    /// Syncs and commits since start-up (start-up's own provisioning commit excluded).
    fn syncs_per_commit(&self) -> (u64, u64) {
        let d = self.daemon.as_ref().expect("running");
        let syncs = self.syncs.count() - self.syncs_at_start;
        let text = d
            .state
            .metrics
            .render(0, 0, 0, true, d.state.display.panel());
        let commits = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("vigil_commit_seconds_count")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0);
        (syncs, commits)
    }

    fn stop(mut self) {
        if let Some(d) = self.daemon.take() {
            self.rt.block_on(d.shutdown());
        }
    }
}

impl Target for InProcess {
    fn endpoint(&self) -> (String, String) {
        let d = self.daemon.as_ref().expect("running");
        (self.url.clone(), d.ca_pem.clone())
    }
    fn cpu(&self) -> Option<Duration> {
        None
    }
}
