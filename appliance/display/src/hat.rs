//! Where the GFX HAT's parts are on the board (`[hat]` in vigild.toml, docs/hardware.md), and
//! the self-test's picture. Plain data, compiled with or without the `hw` feature, so the daemon
//! validates its configuration and the emulation test computes the expected bus bytes on any
//! machine.

use std::path::{Path, PathBuf};

use crate::st7567::{Framebuffer, PAGES, WIDTH};

/// Labels of the Raspberry Pi pin controllers' GPIO chips (upstream `pinctrl-bcm2835` driver:
/// BCM2835/6/7 and BCM2711), the chip `gpio_chip = "auto"` looks for.
pub const PIN_CONTROLLER_LABELS: [&str; 2] = ["pinctrl-bcm2835", "pinctrl-bcm2711"];

/// The consumer name vigil's GPIO lines are requested under (shown by `gpioinfo`).
pub const CONSUMER: &str = "vigild";

/// The HAT's wiring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HatConfig {
    /// GPIO chip of the DC and RST lines: `auto` (the pin controller, found by its label), a
    /// chip label, or a `/dev/gpiochipN` path.
    pub gpio_chip: String,
    /// Line (offset on the chip) of the LCD's data/command input.
    pub dc_line: u32,
    /// Line of the LCD's reset input (active low).
    pub rst_line: u32,
    /// spidev node of the LCD (`/dev/spidevB.C`).
    pub spi: PathBuf,
    /// i2c-dev node of the backlight and touch controllers (`/dev/i2c-N`).
    pub i2c: PathBuf,
}

impl Default for HatConfig {
    /// The GFX HAT on a Pi's 40-pin header: DC on GPIO 6, RST on GPIO 5, SPI0 CE0, I2C1.
    fn default() -> Self {
        HatConfig {
            gpio_chip: "auto".into(),
            dc_line: 6,
            rst_line: 5,
            spi: PathBuf::from("/dev/spidev0.0"),
            i2c: PathBuf::from("/dev/i2c-1"),
        }
    }
}

impl HatConfig {
    /// Checks what can be checked without the hardware: the bus nodes' names and two distinct
    /// lines. Returns the SPI bus and chip select and the I2C bus number.
    pub fn validate(&self) -> Result<((u8, u8), u8), String> {
        if self.dc_line == self.rst_line {
            return Err(format!(
                "dc_line and rst_line are both {}: the LCD needs two lines",
                self.dc_line
            ));
        }
        if self.gpio_chip.is_empty() {
            return Err("gpio_chip is empty (use \"auto\", a chip label or a /dev path)".into());
        }
        Ok((spi_bus(&self.spi)?, i2c_bus(&self.i2c)?))
    }
}

fn numbered<'a>(path: &'a Path, prefix: &str) -> Option<&'a str> {
    path.to_str()?.strip_prefix(prefix)
}

fn number(s: &str) -> Option<u8> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The bus and chip select of a spidev node: `/dev/spidev0.1` → (0, 1).
pub fn spi_bus(path: &Path) -> Result<(u8, u8), String> {
    numbered(path, "/dev/spidev")
        .and_then(|rest| rest.split_once('.'))
        .and_then(|(b, c)| Some((number(b)?, number(c)?)))
        .ok_or_else(|| {
            format!(
                "spi = {:?}: not a spidev node (/dev/spidevB.C)",
                path.display()
            )
        })
}

/// The bus number of an i2c-dev node: `/dev/i2c-1` → 1.
pub fn i2c_bus(path: &Path) -> Result<u8, String> {
    numbered(path, "/dev/i2c-").and_then(number).ok_or_else(|| {
        format!(
            "i2c = {:?}: not an i2c-dev node (/dev/i2c-N)",
            path.display()
        )
    })
}

/// The self-test's picture: a one-pixel border, a checkerboard of 8×8 squares inside it, and a
/// solid bar across page 0 — every column and every page is exercised, and a panel mounted the
/// wrong way round (or a swapped nibble) is visible at a glance.
pub fn test_pattern() -> Framebuffer {
    let mut fb = Framebuffer::default();
    let height = PAGES * 8;
    for page in 0..PAGES {
        for x in 0..WIDTH {
            let mut byte = 0u8;
            for bit in 0..8 {
                let y = page * 8 + bit;
                let border = x == 0 || x == WIDTH - 1 || y == 0 || y == height - 1;
                let square = ((x / 8) + (y / 8)) % 2 == 0;
                let bar = page == 0 && (2..6).contains(&bit);
                if border || square || bar {
                    byte |= 1 << bit;
                }
            }
            fb.0[page * WIDTH + x] = byte;
        }
    }
    fb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_nodes_parse_and_others_are_refused() {
        assert_eq!(spi_bus(Path::new("/dev/spidev0.0")), Ok((0, 0)));
        assert_eq!(spi_bus(Path::new("/dev/spidev1.2")), Ok((1, 2)));
        assert_eq!(i2c_bus(Path::new("/dev/i2c-1")), Ok(1));
        assert_eq!(i2c_bus(Path::new("/dev/i2c-22")), Ok(22));
        for bad in [
            "/dev/spidev0",
            "/dev/spidev.0",
            "/dev/spidev0.x",
            "/tmp/spidev0.0",
            "/dev/spidev0.0 ",
            "/dev/spidev+1.0",
            "/dev/spidev999.0",
        ] {
            let e = spi_bus(Path::new(bad)).expect_err(bad);
            assert!(e.contains("not a spidev node"), "{e}");
        }
        for bad in [
            "/dev/i2c-",
            "/dev/i2c1",
            "/dev/i2c-1/",
            "/dev/i2c--1",
            "/dev/i2c-300",
        ] {
            let e = i2c_bus(Path::new(bad)).expect_err(bad);
            assert!(e.contains("not an i2c-dev node"), "{e}");
        }
    }

    #[test]
    fn the_default_is_the_gfx_hat_and_validation_refuses_one_line_for_two() {
        let d = HatConfig::default();
        assert_eq!(d.validate(), Ok(((0, 0), 1)));
        assert_eq!((d.dc_line, d.rst_line), (6, 5));
        let same = HatConfig {
            rst_line: 6,
            ..HatConfig::default()
        };
        assert!(same.validate().expect_err("same").contains("both 6"));
    }

    #[test]
    fn the_test_pattern_has_its_border_squares_and_bar() {
        let fb = test_pattern();
        for x in 0..WIDTH {
            assert!(fb.get(x, 0) && fb.get(x, 63), "border at column {x}");
        }
        for y in 0..64 {
            assert!(fb.get(0, y) && fb.get(127, y), "border at row {y}");
        }
        // Squares alternate every 8 pixels, away from the border and the bar.
        assert!(fb.get(9, 9) && !fb.get(17, 9) && fb.get(17, 17) && !fb.get(9, 17));
        assert!(
            fb.get(12, 3) && fb.get(12, 4),
            "the bar crosses a dark square"
        );
        assert!(!fb.get(12, 1) && !fb.get(12, 6), "the bar is rows 2-5 only");
    }
}
