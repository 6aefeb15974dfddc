//! Prints what the ST7567 driver puts on the bus when `vigild --check-hardware` opens the LCD and
//! shows its test pattern, as a transcript: `rst 0|1` when the reset line changes, then one line
//! per SPI transfer, `cmd …` (DC low) or `data …` (DC high), bytes in hex. The driver runs over
//! recording fakes here; image/hw-test turns QEMU's trace of the emulated Pi's GPIO and SPI
//! registers into the same form (image/lib/bus_trace.py) and compares the two byte for byte.
//!
//!   lcd-transcript            the self-test: line requests, reset, init, test pattern

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_hal::spi::{ErrorType as SpiErrorType, Operation, SpiDevice};
use vigil_display::hat::test_pattern;
use vigil_display::st7567::{DEFAULT_CONTRAST, St7567};

#[derive(Default)]
struct Bus {
    dc: bool,
    rst: Option<bool>,
    lines: Vec<String>,
}

type Shared = Rc<RefCell<Bus>>;

struct Dc(Shared);
struct Rst(Shared);
struct Spi(Shared);
struct NoDelay;

impl PinErrorType for Dc {
    type Error = core::convert::Infallible;
}
impl PinErrorType for Rst {
    type Error = core::convert::Infallible;
}
impl OutputPin for Dc {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.0.borrow_mut().dc = false;
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.0.borrow_mut().dc = true;
        Ok(())
    }
}
impl Rst {
    fn set(&mut self, level: bool) {
        let mut b = self.0.borrow_mut();
        if b.rst != Some(level) {
            b.rst = Some(level);
            b.lines.push(format!("rst {}", u8::from(level)));
        }
    }
}
impl OutputPin for Rst {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.set(false);
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.set(true);
        Ok(())
    }
}
impl SpiErrorType for Spi {
    type Error = core::convert::Infallible;
}
impl SpiDevice for Spi {
    fn transaction(&mut self, ops: &mut [Operation<'_, u8>]) -> Result<(), Self::Error> {
        let mut b = self.0.borrow_mut();
        for op in ops {
            if let Operation::Write(bytes) = op {
                let mut line = String::from(if b.dc { "data" } else { "cmd" });
                for x in bytes.iter() {
                    let _ = write!(line, " {x:02x}");
                }
                b.lines.push(line);
            }
        }
        Ok(())
    }
}
impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _: u32) {}
}

fn main() {
    let bus = Shared::default();
    // vigild requests DC low and RST high (hw::request_line), then the driver takes over.
    let (mut dc, mut rst) = (Dc(bus.clone()), Rst(bus.clone()));
    let _ = dc.set_low();
    let _ = rst.set_high();
    let mut lcd = St7567::new(Spi(bus.clone()), dc, rst);
    let shown = lcd
        .init(&mut NoDelay, DEFAULT_CONTRAST)
        .and_then(|()| lcd.flush(&test_pattern()));
    if let Err(e) = shown {
        eprintln!("lcd-transcript: {e:?}");
        std::process::exit(1);
    }
    for line in &bus.borrow().lines {
        println!("{line}");
    }
}
