//! The real GFX HAT, through the interfaces Debian's own kernel offers (the only place that opens
//! pins and buses): the LCD's DC and RST lines through the GPIO character device (uAPI v2,
//! gpiocdev; the chip found by its label), the LCD on spidev and the backlight and touch pads on
//! i2c-dev (rppal). No `/dev/gpiomem`, no `/dev/mem`.
//!
//! The LCD is what the appliance exists for, so it alone decides whether the HAT is used; a
//! backlight or touch controller that does not answer is reported ([`GfxHat::problems`]) and the
//! LCD keeps showing alerts.
//!
//! `check` is `vigild --check-hardware`, the self-test of each part in turn.

mod check;
pub use check::{CheckOptions, check};

use std::path::{Path, PathBuf};

use gpiocdev::line::Value;
use rppal::i2c::I2c;
use rppal::spi::{Bus, Mode, SimpleHalSpiDevice, SlaveSelect, Spi};

use crate::cap1166::{self, Cap1166, PadEvent, Pads};
use crate::hat::{CONSUMER, HatConfig, PIN_CONTROLLER_LABELS, test_pattern};
use crate::sn3218::Sn3218;
use crate::st7567::{DEFAULT_CONTRAST, Framebuffer, St7567};
use crate::ui::Pad;

/// The LCD's SPI clock.
const SPI_HZ: u32 = 1_000_000;

/// One GPIO line requested as an output, as an embedded-hal pin.
pub struct Line {
    req: gpiocdev::Request,
    offset: u32,
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Line({})", self.offset)
    }
}

/// A failed line write.
#[derive(Debug)]
pub struct LineError(gpiocdev::Error);

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl embedded_hal::digital::Error for LineError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl embedded_hal::digital::ErrorType for Line {
    type Error = LineError;
}

impl embedded_hal::digital::OutputPin for Line {
    fn set_low(&mut self) -> Result<(), LineError> {
        self.req
            .set_value(self.offset, Value::Inactive)
            .map_err(LineError)
    }
    fn set_high(&mut self) -> Result<(), LineError> {
        self.req
            .set_value(self.offset, Value::Active)
            .map_err(LineError)
    }
}

/// A GPIO chip: its device node and label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipId {
    /// `/dev/gpiochipN`.
    pub path: PathBuf,
    /// The kernel's label (`pinctrl-bcm2835`).
    pub label: String,
}

impl std::fmt::Display for ChipId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.label, self.path.display())
    }
}

/// Finds the GPIO chip `want` names: `auto` (a Raspberry Pi pin controller), a label, or a path.
pub fn find_chip(want: &str) -> Result<ChipId, String> {
    let id = |p: &Path| -> Result<ChipId, String> {
        let chip = gpiocdev::Chip::from_path(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let info = chip.info().map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(ChipId {
            path: chip.path().to_owned(),
            label: info.label,
        })
    };
    if want.starts_with('/') {
        return id(Path::new(want));
    }
    let paths = gpiocdev::chip::chips().unwrap_or_default();
    if paths.is_empty() {
        return Err(
            "no GPIO character device (/dev/gpiochip*) is present or readable by this user".into(),
        );
    }
    let mut seen = Vec::new();
    for p in &paths {
        match id(p) {
            Ok(c)
                if c.label == want
                    || (want == "auto" && PIN_CONTROLLER_LABELS.contains(&c.label.as_str())) =>
            {
                return Ok(c);
            }
            Ok(c) => seen.push(c.to_string()),
            Err(e) => seen.push(e),
        }
    }
    let looked_for = if want == "auto" {
        PIN_CONTROLLER_LABELS.join(" or ")
    } else {
        want.to_owned()
    };
    Err(format!(
        "no GPIO chip labelled {looked_for} (found: {})",
        seen.join(", ")
    ))
}

/// Requests `offset` on `chip` as an output at `initial`, under the consumer name `vigild`;
/// a line another consumer holds is refused with that consumer's name.
pub fn request_line(chip: &ChipId, offset: u32, initial: bool, role: &str) -> Result<Line, String> {
    let what = format!("GPIO line {offset} ({role}) on {chip}");
    let c = gpiocdev::Chip::from_path(&chip.path).map_err(|e| format!("{what}: {e}"))?;
    let lines = c.info().map_err(|e| format!("{what}: {e}"))?.num_lines;
    if offset >= lines {
        return Err(format!(
            "{what}: no such line (the chip has lines 0-{})",
            lines.saturating_sub(1)
        ));
    }
    let info = c.line_info(offset).map_err(|e| format!("{what}: {e}"))?;
    if info.used {
        let by = if info.consumer.is_empty() {
            "the kernel or another process".to_owned()
        } else if info.consumer == CONSUMER {
            format!("{CONSUMER:?} (a running vigild holds it: stop the service first)")
        } else {
            format!("{:?}", info.consumer)
        };
        return Err(format!("{what}: in use by {by}"));
    }
    let value = if initial {
        Value::Active
    } else {
        Value::Inactive
    };
    let req = gpiocdev::Request::builder()
        .on_chip(&chip.path)
        .with_consumer(CONSUMER)
        .with_line(offset)
        .as_output(value)
        .request()
        .map_err(|e| format!("{what}: {e}"))?;
    Ok(Line { req, offset })
}

fn open_spi(cfg: &HatConfig) -> Result<Spi, String> {
    let (bus, cs) = crate::hat::spi_bus(&cfg.spi)?;
    let bus = match bus {
        0 => Bus::Spi0,
        1 => Bus::Spi1,
        2 => Bus::Spi2,
        3 => Bus::Spi3,
        4 => Bus::Spi4,
        5 => Bus::Spi5,
        6 => Bus::Spi6,
        n => {
            return Err(format!(
                "{}: SPI bus {n} is not supported",
                cfg.spi.display()
            ));
        }
    };
    let cs = match cs {
        0 => SlaveSelect::Ss0,
        1 => SlaveSelect::Ss1,
        2 => SlaveSelect::Ss2,
        n => {
            return Err(format!(
                "{}: chip select {n} is not supported",
                cfg.spi.display()
            ));
        }
    };
    Spi::new(bus, cs, SPI_HZ, Mode::Mode0).map_err(|e| format!("{}: {e}", cfg.spi.display()))
}

fn open_i2c(cfg: &HatConfig) -> Result<I2c, String> {
    let bus = crate::hat::i2c_bus(&cfg.i2c)?;
    I2c::with_bus(bus).map_err(|e| format!("{}: {e}", cfg.i2c.display()))
}

type Lcd = St7567<SimpleHalSpiDevice, Line, Line>;

/// The LCD's data/command line, requested low.
fn dc_line(chip: &ChipId, cfg: &HatConfig) -> Result<Line, String> {
    request_line(chip, cfg.dc_line, false, "LCD data/command")
}

/// The LCD's reset line, requested high (out of reset).
fn rst_line(chip: &ChipId, cfg: &HatConfig) -> Result<Line, String> {
    request_line(chip, cfg.rst_line, true, "LCD reset")
}

/// The LCD on an open SPI device and lines: reset, init sequence, contrast.
fn init_lcd(cfg: &HatConfig, spi: Spi, dc: Line, rst: Line) -> Result<Lcd, String> {
    let mut lcd = St7567::new(SimpleHalSpiDevice::new(spi), dc, rst);
    lcd.init(&mut rppal::hal::Delay, DEFAULT_CONTRAST)
        .map_err(|e| format!("ST7567 on {}: {e:?}", cfg.spi.display()))?;
    Ok(lcd)
}

/// Opens SPI and the two lines and initialises the LCD.
fn open_lcd(cfg: &HatConfig) -> Result<Lcd, String> {
    let spi = open_spi(cfg)?;
    let chip = find_chip(&cfg.gpio_chip)?;
    let dc = dc_line(&chip, cfg)?;
    let rst = rst_line(&chip, cfg)?;
    init_lcd(cfg, spi, dc, rst)
}

fn i2c_err(cfg: &HatConfig, part: &str, addr: u8, e: impl std::fmt::Display) -> String {
    format!("{part} at {addr:#04x} on {}: {e}", cfg.i2c.display())
}

fn open_backlight(cfg: &HatConfig) -> Result<Sn3218<I2c>, String> {
    let mut b = Sn3218::new(open_i2c(cfg)?);
    b.init()
        .map_err(|e| i2c_err(cfg, "SN3218 backlight", crate::sn3218::ADDRESS, e))?;
    Ok(b)
}

fn touch_with_id(cfg: &HatConfig) -> Result<Cap1166<I2c>, String> {
    let mut t = Cap1166::new(open_i2c(cfg)?);
    let id = t
        .product_id()
        .map_err(|e| i2c_err(cfg, "CAP1166 touch", cap1166::ADDRESS, e))?;
    if id != cap1166::PRODUCT_ID {
        return Err(i2c_err(
            cfg,
            "CAP1166 touch",
            cap1166::ADDRESS,
            format_args!(
                "product id {id:#04x}, a GFX HAT answers {:#04x}",
                cap1166::PRODUCT_ID
            ),
        ));
    }
    Ok(t)
}

fn open_touch(cfg: &HatConfig) -> Result<Cap1166<I2c>, String> {
    let mut t = touch_with_id(cfg)?;
    t.init()
        .map_err(|e| i2c_err(cfg, "CAP1166 touch", cap1166::ADDRESS, e))?;
    Ok(t)
}

/// Whether a GFX HAT answers (its touch controller's product id): how `display = "auto"`
/// decides. `Err` says why not.
pub fn detect(cfg: &HatConfig) -> Result<(), String> {
    touch_with_id(cfg).map(|_| ())
}

/// The opened HAT.
pub struct GfxHat {
    lcd: Lcd,
    backlight: Option<Sn3218<I2c>>,
    touch: Option<Cap1166<I2c>>,
    problems: Vec<String>,
}

impl std::fmt::Debug for GfxHat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GfxHat")
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl GfxHat {
    /// Opens the HAT: the LCD must open (else `Err` with the reason); the backlight and touch
    /// pads are opened too, and each one that does not answer is a [`GfxHat::problems`] entry.
    pub fn open(cfg: &HatConfig) -> Result<GfxHat, String> {
        cfg.validate()?;
        let lcd = open_lcd(cfg)?;
        let mut problems = Vec::new();
        let backlight = open_backlight(cfg).map_err(|e| problems.push(e)).ok();
        let touch = open_touch(cfg).map_err(|e| problems.push(e)).ok();
        Ok(GfxHat {
            lcd,
            backlight,
            touch,
            problems,
        })
    }

    /// The parts that did not open (empty when the whole HAT works).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// Whether the touch pads work.
    pub fn has_touch(&self) -> bool {
        self.touch.is_some()
    }

    /// Shows a frame.
    pub fn show(&mut self, fb: &Framebuffer) -> Result<(), String> {
        self.lcd.flush(fb).map_err(|e| format!("ST7567: {e:?}"))
    }

    /// Sets every backlight zone (nothing when the backlight did not open).
    pub fn backlight(&mut self, rgb: (u8, u8, u8)) -> Result<(), String> {
        match &mut self.backlight {
            Some(b) => b.set(&[rgb; 6]).map_err(|e| format!("SN3218: {e}")),
            None => Ok(()),
        }
    }

    /// Reads the pads (none touched when the touch controller did not open).
    pub fn pads(&mut self) -> Result<u8, String> {
        match &mut self.touch {
            Some(t) => t.read().map_err(|e| format!("CAP1166: {e}")),
            None => Ok(0),
        }
    }

    /// Echoes presses on the pad LEDs.
    pub fn pad_leds(&mut self, mask: u8) -> Result<(), String> {
        match &mut self.touch {
            Some(t) => t.set_leds(mask).map_err(|e| format!("CAP1166: {e}")),
            None => Ok(()),
        }
    }
}
