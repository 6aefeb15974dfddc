//! Check-in benchmark: what 10,000 checks cost the appliance — folding a check-in, and
//! looking for the checks whose deadline passed (what vigild does every second). Half the
//! checks run `every`, half on cron schedules in six zones. `VIGIL_BENCH_CHECKS` sets the count.

use std::time::Instant;

use vigil_core::checkin::{CheckIn, Checks};

fn main() {
    let n: u64 = std::env::var("VIGIL_BENCH_CHECKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let zones = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Asia/Tokyo",
        "Australia/Sydney",
        "America/Sao_Paulo",
    ];
    let specs: Vec<CheckIn> = (0..n)
        .map(|i| {
            let name = format!("check-{i}");
            let every = format!("{}m", 5 + i % 1440);
            let cron = format!("{} {} * * *", i % 60, i % 24);
            let h: Vec<(&str, &str)> = if i % 2 == 0 {
                vec![("check", &name), ("every", &every)]
            } else {
                vec![
                    ("check", &name),
                    ("schedule", &cron),
                    ("tz", zones[(i / 2) as usize % zones.len()]),
                ]
            };
            CheckIn::from_headers(|k| h.iter().find(|(n, _)| *n == k).map(|(_, v)| *v))
                .expect("valid")
        })
        .collect();
    let t0: u64 = 1_795_000_000_000;

    let start = Instant::now();
    let mut checks = Checks::default();
    for (i, s) in specs.into_iter().enumerate() {
        checks.checkin(i as u64, t0 + i as u64, "src", s);
    }
    let fold = start.elapsed();
    println!(
        "fold {n} check-ins: {:.1} ms ({:.2} µs each)",
        fold.as_secs_f64() * 1e3,
        fold.as_secs_f64() * 1e6 / n as f64
    );

    // The first look computes every check's due time (after a start, every check is new to the
    // index); later looks cost only what changed and what is due.
    let start = Instant::now();
    let first = checks.due(t0).len();
    println!(
        "first look at {n} checks (the index built): {:.2} ms ({first} due)",
        start.elapsed().as_secs_f64() * 1e3
    );
    // What an idle appliance does each second: nothing changed, nothing due.
    let idle_rounds = 1000;
    let start = Instant::now();
    for _ in 0..idle_rounds {
        assert!(checks.due(t0).is_empty());
    }
    println!(
        "an idle look at {n} checks (nothing changed or due): {:.2} µs",
        start.elapsed().as_secs_f64() * 1e6 / f64::from(idle_rounds)
    );
    let rounds = 20;
    let start = Instant::now();
    let mut due = 0;
    for r in 0..rounds {
        due += checks.due(t0 + r * 3_600_000).len();
    }
    let each = start.elapsed() / rounds as u32;
    println!(
        "a look at {n} checks: {:.3} ms ({:.3} µs a check; {} misses due over {rounds} looks, an hour apart)",
        each.as_secs_f64() * 1e3,
        each.as_secs_f64() * 1e6 / n as f64,
        due
    );
    let start = Instant::now();
    let next = checks.next_due_ms();
    println!(
        "earliest deadline of {n} checks: {:.2} ms (due at +{} s)",
        start.elapsed().as_secs_f64() * 1e3,
        next.map_or(0, |t| (t - t0) / 1000)
    );
}
