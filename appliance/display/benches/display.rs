//! Display benchmark: rebuilding the projection from 1,000,000 entry bytes (decode + fold, as
//! vigild does at start-up) and the time to render one frame to the LCD framebuffer and to PNG.
//! `VIGIL_BENCH_ENTRIES` sets the log size.

use std::time::Instant;

use vigil_core::{ClockState, Entry, Kind, Projection, SigningKey, Statement, sig};
use vigil_display::st7567::Framebuffer;
use vigil_display::{Status, Ui, panel, render};

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n: u64 = std::env::var("VIGIL_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 5_000 } else { 1_000_000 });
    // A pool of distinct signed statements: keyed and unkeyed alerts, resolutions, acks, silences.
    let key = SigningKey::from_bytes(&[7; 32]);
    let pool: Vec<_> = (0..2000u64)
        .map(|i| {
            let nonce = format!("{i:032x}");
            let st = |kind| Statement::builder(kind, "o/log", 1, &nonce);
            let b = match i % 10 {
                0..=5 => st(Kind::Alert)
                    .header(
                        "severity",
                        ["info", "warning", "critical"][(i % 3) as usize],
                    )
                    .header("title", format!("alert {i}"))
                    .header("topic", format!("t{}", i % 7))
                    .header("key", format!("k{}", i % 50))
                    .body(format!("body {i}\n")),
                6 => st(Kind::Alert)
                    .header("severity", "info")
                    .header("title", format!("resolved {i}"))
                    .header("key", format!("k{}", i % 50))
                    .header("state", "resolved"),
                7 => st(Kind::Alert)
                    .header("severity", "warning")
                    .header("title", format!("once {i}"))
                    .header("ttl", 600),
                8 => st(Kind::Ack).header("ref", i / 2),
                _ => st(Kind::Silence)
                    .header("match-topic", format!("t{}", i % 7))
                    .header("until", 1_795_349_600)
                    .header("comment", "c"),
            };
            let st = b.build().expect("builds");
            sig::sign(st, "nas", &key).expect("verifies")
        })
        .collect();
    let t = Instant::now();
    let bytes: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            Entry::new(
                i,
                1_795_349_600_000 + i,
                ClockState::Synced,
                &pool[(i % pool.len() as u64) as usize],
            )
            .bytes()
            .to_vec()
        })
        .collect();
    println!("built {n} entries in {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut p = Projection::new();
    for b in &bytes {
        p.apply(&Entry::decode(b).expect("decodes"));
    }
    let rebuild = t.elapsed().as_secs_f64();
    println!(
        "projection rebuild (decode + fold) of {n} entries: {rebuild:.2} s ({:.0} entries/s, {:.2} µs/entry)",
        n as f64 / rebuild,
        rebuild * 1e6 / n as f64
    );
    let now = 1_795_349_600_000 + n;
    println!("active alerts at the end: {}", p.active(now).len());

    let mut ui = Ui::new(now);
    let status = Status {
        root_b64: "fdcUR/MYJcZwgsW5IdnX".into(),
        size: n,
        ..Status::default()
    };
    let frames = if quick { 100 } else { 2000 };
    let t = Instant::now();
    let mut fb = Framebuffer::default();
    for _ in 0..frames {
        let s = ui.screen(&p, &status, now);
        render::draw(&s, &mut fb).expect("draw");
    }
    let lcd = t.elapsed().as_secs_f64() / frames as f64;
    let t = Instant::now();
    for _ in 0..frames / 10 {
        let s = ui.screen(&p, &status, now);
        std::hint::black_box(panel::png(&panel::frame(&s)));
    }
    let png = t.elapsed().as_secs_f64() / (frames / 10) as f64;
    println!(
        "render one frame: screen model + LCD framebuffer {:.0} µs; + PNG encode {:.0} µs",
        lcd * 1e6,
        png * 1e6
    );
}
