//! `vigild --check-hardware`'s self-test where there is no HAT (this machine): every part fails
//! or is skipped with a reason naming what is missing, and nothing panics.

use std::path::PathBuf;
use std::time::Duration;

use vigil_display::hat::HatConfig;
use vigil_display::hw::{CheckOptions, GfxHat, check, detect, find_chip};

fn absent() -> HatConfig {
    HatConfig {
        gpio_chip: "vigil-test-no-such-chip".into(),
        spi: PathBuf::from("/dev/spidev6.2"),
        i2c: PathBuf::from("/dev/i2c-97"),
        ..HatConfig::default()
    }
}

fn run(cfg: &HatConfig) -> (bool, String) {
    let mut out = Vec::new();
    let opts = CheckOptions {
        zone_time: Duration::ZERO,
        pad_timeout: Duration::from_millis(10),
    };
    let ok = check(cfg, &opts, &mut out);
    (ok, String::from_utf8(out).expect("utf-8"))
}

#[test]
fn every_missing_part_is_named_and_the_check_fails() {
    let (ok, out) = run(&absent());
    assert!(!ok, "{out}");
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{out}"))
            .to_owned()
    };
    let spi = line("FAIL  SPI device:");
    assert!(
        spi.contains("/dev/spidev6.2") && spi.contains("No such file"),
        "{out}"
    );
    assert!(
        line("FAIL  GPIO chip:").contains("vigil-test-no-such-chip")
            || line("FAIL  GPIO chip:").contains("no GPIO character device"),
        "{out}"
    );
    assert!(line("SKIP  LCD:").contains("needs the SPI device"), "{out}");
    assert!(
        line("FAIL  SN3218 backlight:").contains("/dev/i2c-97"),
        "{out}"
    );
    assert!(
        line("FAIL  CAP1166 touch:").contains("/dev/i2c-97"),
        "{out}"
    );
    assert!(
        line("SKIP  backlight zones:").contains("needs the SN3218"),
        "{out}"
    );
    assert!(
        line("SKIP  touch pads:").contains("needs the CAP1166"),
        "{out}"
    );
    assert!(
        out.trim_end().ends_with("7 part(s) failed or were skipped"),
        "{out}"
    );
    assert!(!out.contains("PASS"), "{out}");
}

#[test]
fn a_bad_configuration_is_refused_before_any_device_is_opened() {
    let cfg = HatConfig {
        spi: PathBuf::from("/dev/sda"),
        ..absent()
    };
    let (ok, out) = run(&cfg);
    assert!(!ok);
    assert!(
        out.contains("FAIL  configuration: spi = \"/dev/sda\": not a spidev node"),
        "{out}"
    );
    assert!(!out.contains("SPI device"), "{out}");
}

#[test]
fn opening_and_detecting_a_missing_hat_give_reasons() {
    let e = GfxHat::open(&absent()).expect_err("no HAT here");
    assert!(e.contains("/dev/spidev6.2"), "{e}");
    let e = detect(&absent()).expect_err("no HAT here");
    assert!(e.contains("/dev/i2c-97"), "{e}");
    let e = find_chip("/dev/vigil-no-such-gpiochip").expect_err("no chip");
    assert!(e.contains("/dev/vigil-no-such-gpiochip"), "{e}");
}
