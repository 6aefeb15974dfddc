//! `vigild --check-hardware`: each part of the HAT tested in turn, PASS, FAIL or SKIP with the
//! reason, for a person at the device (docs/hardware.md says what they should see).

use std::io::Write;
use std::time::{Duration, Instant};

use super::*;

/// How `vigild --check-hardware` runs.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// How long each backlight zone stays lit.
    pub zone_time: Duration,
    /// How long to wait for all six pads.
    pub pad_timeout: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            zone_time: Duration::from_millis(400),
            pad_timeout: Duration::from_secs(30),
        }
    }
}

struct Report<'a> {
    out: &'a mut dyn Write,
    failed: usize,
}

impl Report<'_> {
    fn line(&mut self, s: std::fmt::Arguments<'_>) {
        let _ = writeln!(self.out, "{s}");
        let _ = self.out.flush();
    }
    fn result<T>(&mut self, part: &str, r: Result<T, String>, ok: &str) -> Option<T> {
        match r {
            Ok(v) => {
                self.line(format_args!("PASS  {part}: {ok}"));
                Some(v)
            }
            Err(e) => {
                self.failed += 1;
                self.line(format_args!("FAIL  {part}: {e}"));
                None
            }
        }
    }
    fn skip(&mut self, part: &str, why: &str) {
        self.failed += 1;
        self.line(format_args!("SKIP  {part}: {why}"));
    }
}

/// The self-test a person runs on the Pi: opens each part of the HAT in turn and reports
/// PASS/FAIL/SKIP per part with the reason; shows the test pattern, lights each backlight zone in
/// turn, then waits for each pad to be pressed. Returns whether every part passed (a skipped part
/// counts as failed).
pub fn check(cfg: &HatConfig, opts: &CheckOptions, out: &mut dyn Write) -> bool {
    let mut r = Report { out, failed: 0 };
    r.line(format_args!(
        "GFX HAT self-test: SPI {}, GPIO chip {}, DC line {}, RST line {}, I2C {}",
        cfg.spi.display(),
        cfg.gpio_chip,
        cfg.dc_line,
        cfg.rst_line,
        cfg.i2c.display()
    ));
    if let Err(e) = cfg.validate() {
        r.result::<()>("configuration", Err(e), "");
        return false;
    }
    let spi = r.result(
        "SPI device",
        open_spi(cfg),
        &format!("{} opened", cfg.spi.display()),
    );
    let chip = r.result("GPIO chip", find_chip(&cfg.gpio_chip), "found");
    let lines = chip.as_ref().map(|c| {
        let dc = r.result(
            "GPIO DC line",
            dc_line(c, cfg),
            &format!("line {} held as {CONSUMER:?} on {c}", cfg.dc_line),
        );
        let rst = r.result(
            "GPIO RST line",
            rst_line(c, cfg),
            &format!("line {} held as {CONSUMER:?} on {c}", cfg.rst_line),
        );
        (dc, rst)
    });
    match (spi, lines) {
        (Some(spi), Some((Some(dc), Some(rst)))) => {
            let shown = init_lcd(cfg, spi, dc, rst).and_then(|mut lcd| {
                lcd.flush(&test_pattern())
                    .map_err(|e| format!("ST7567 on {}: {e:?}", cfg.spi.display()))
            });
            r.result(
                "LCD",
                shown,
                "reset, initialised and sent the test pattern (look: a border, a checkerboard and a bar across the top)",
            );
        }
        _ => r.skip("LCD", "needs the SPI device and both GPIO lines"),
    }
    let backlight = r.result(
        "SN3218 backlight",
        open_backlight(cfg),
        &format!("answers at {:#04x}", crate::sn3218::ADDRESS),
    );
    let touch = r.result(
        "CAP1166 touch",
        open_touch(cfg),
        &format!(
            "answers at {:#04x} with product id {:#04x}",
            cap1166::ADDRESS,
            cap1166::PRODUCT_ID
        ),
    );
    match backlight {
        Some(mut b) => {
            let mut zones_ok = Ok(());
            for zone in 0..6 {
                let mut z = [(0, 0, 0); 6];
                z[zone] = (255, 255, 255);
                zones_ok =
                    zones_ok.and_then(|()| b.set(&z).map_err(|e| format!("zone {zone}: {e}")));
                std::thread::sleep(opts.zone_time);
            }
            let _ = b.set(&[(255, 255, 255); 6]);
            r.result(
                "backlight zones",
                zones_ok,
                "each zone lit white in turn, left to right (look: six steps)",
            );
        }
        None => r.skip("backlight zones", "needs the SN3218"),
    }
    match touch {
        Some(mut t) => {
            r.line(format_args!(
                "      press each pad once (up, down, back, minus, select, plus) within {} s",
                opts.pad_timeout.as_secs()
            ));
            let pressed = wait_for_pads(&mut t, opts.pad_timeout, &mut r);
            r.result("touch pads", pressed, "all six pressed");
        }
        None => r.skip("touch pads", "needs the CAP1166"),
    }
    let failed = r.failed;
    r.line(format_args!(
        "{}",
        if failed == 0 {
            "all parts passed".to_owned()
        } else {
            format!("{failed} part(s) failed or were skipped")
        }
    ));
    failed == 0
}

fn wait_for_pads(
    t: &mut Cap1166<I2c>,
    timeout: Duration,
    r: &mut Report<'_>,
) -> Result<(), String> {
    let start = Instant::now();
    let mut pads = Pads::default();
    let mut seen = [false; 6];
    while start.elapsed() < timeout && seen.iter().any(|s| !s) {
        let bits = t.read().map_err(|e| format!("CAP1166: {e}"))?;
        let now_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        for ev in pads.sample(bits, now_ms) {
            if let PadEvent::Press(p) | PadEvent::Hold(p) = ev
                && !seen[p as usize]
            {
                seen[p as usize] = true;
                r.line(format_args!("      {p:?} pressed"));
            }
        }
        let _ = t.set_leds(
            seen.iter()
                .enumerate()
                .fold(0, |m, (i, s)| m | (u8::from(*s) << i)),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = t.set_leds(0);
    let missing: Vec<String> = Pad::ALL
        .iter()
        .filter(|p| !seen[**p as usize])
        .map(|p| format!("{p:?}"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "not pressed within {} s: {}",
            timeout.as_secs(),
            missing.join(", ")
        ))
    }
}
