//! The GFX HAT drivers against fake buses that record every byte, pin change and delay in order.

use std::cell::RefCell;
use std::rc::Rc;

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_hal::i2c::{ErrorType as I2cErrorType, I2c, Operation as I2cOp};
use embedded_hal::spi::{ErrorType as SpiErrorType, Operation as SpiOp, SpiDevice};
use vigil_display::Pad;
use vigil_display::cap1166::{self, Cap1166, PadEvent, Pads};
use vigil_display::sn3218::{self, Sn3218};
use vigil_display::st7567::{Framebuffer, St7567};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Pin(&'static str, bool),
    Spi(Vec<u8>),
    DelayMs(u32),
    I2cWrite(u8, Vec<u8>),
    I2cRead(u8, usize),
}

type Log = Rc<RefCell<Vec<Ev>>>;

struct FakePin(&'static str, Log);
impl PinErrorType for FakePin {
    type Error = core::convert::Infallible;
}
impl OutputPin for FakePin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.1.borrow_mut().push(Ev::Pin(self.0, false));
        Ok(())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.1.borrow_mut().push(Ev::Pin(self.0, true));
        Ok(())
    }
}

struct FakeSpi(Log);
impl SpiErrorType for FakeSpi {
    type Error = core::convert::Infallible;
}
impl SpiDevice for FakeSpi {
    fn transaction(&mut self, ops: &mut [SpiOp<'_, u8>]) -> Result<(), Self::Error> {
        for op in ops {
            if let SpiOp::Write(b) = op {
                self.0.borrow_mut().push(Ev::Spi(b.to_vec()));
            }
        }
        Ok(())
    }
}

struct FakeDelay(Log);
impl DelayNs for FakeDelay {
    fn delay_ns(&mut self, ns: u32) {
        self.0.borrow_mut().push(Ev::DelayMs(ns / 1_000_000));
    }
    fn delay_ms(&mut self, ms: u32) {
        self.0.borrow_mut().push(Ev::DelayMs(ms));
    }
}

/// Records writes; answers reads from a script.
struct FakeI2c(Log, Vec<u8>);
impl I2cErrorType for FakeI2c {
    type Error = core::convert::Infallible;
}
impl I2c for FakeI2c {
    fn transaction(&mut self, addr: u8, ops: &mut [I2cOp<'_>]) -> Result<(), Self::Error> {
        for op in ops {
            match op {
                I2cOp::Write(b) => self.0.borrow_mut().push(Ev::I2cWrite(addr, b.to_vec())),
                I2cOp::Read(buf) => {
                    self.0.borrow_mut().push(Ev::I2cRead(addr, buf.len()));
                    for b in buf.iter_mut() {
                        *b = if self.1.is_empty() {
                            0
                        } else {
                            self.1.remove(0)
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

#[test]
fn st7567_reset_init_sequence_and_contrast() {
    let log: Log = Rc::default();
    let mut lcd = St7567::new(
        FakeSpi(log.clone()),
        FakePin("dc", log.clone()),
        FakePin("rst", log.clone()),
    );
    lcd.init(&mut FakeDelay(log.clone()), 58).expect("init");
    assert_eq!(
        *log.borrow(),
        vec![
            Ev::Pin("rst", false),
            Ev::DelayMs(10),
            Ev::Pin("rst", true),
            Ev::DelayMs(100),
            Ev::Pin("dc", false),
            Ev::Spi(vec![0xA3, 0xA0, 0xC8, 0xA6, 0x40, 0x2F, 0x23, 0xAF]),
            Ev::Pin("dc", false),
            Ev::Spi(vec![0x81, 58]),
        ]
    );
    log.borrow_mut().clear();
    lcd.set_contrast(200).expect("contrast");
    assert_eq!(
        *log.borrow(),
        vec![Ev::Pin("dc", false), Ev::Spi(vec![0x81, 63])],
        "clamped to 63"
    );
}

#[test]
fn st7567_flush_writes_eight_pages_in_page_layout() {
    let log: Log = Rc::default();
    let mut lcd = St7567::new(
        FakeSpi(log.clone()),
        FakePin("dc", log.clone()),
        FakePin("rst", log.clone()),
    );
    let mut fb = Framebuffer::default();
    // Pixels (0,0), (127,63) and (5,9): page 0 byte 0 bit 0; page 7 byte 127 bit 7; page 1 byte 5 bit 1.
    for (x, y) in [(0, 0), (127, 63), (5, 9)] {
        Pixel(Point::new(x, y), BinaryColor::On)
            .draw(&mut fb)
            .expect("draw");
    }
    Pixel(Point::new(500, 500), BinaryColor::On)
        .draw(&mut fb)
        .expect("out of bounds is ignored");
    assert!(fb.get(5, 9) && !fb.get(5, 8));
    lcd.flush(&fb).expect("flush");
    let ev = log.borrow();
    assert_eq!(ev.len(), 8 * 4);
    for page in 0..8usize {
        let e = &ev[page * 4..page * 4 + 4];
        assert_eq!(e[0], Ev::Pin("dc", false));
        assert_eq!(e[1], Ev::Spi(vec![0xB0 | page as u8, 0x10, 0x00]));
        assert_eq!(e[2], Ev::Pin("dc", true));
        let Ev::Spi(data) = &e[3] else { panic!("data") };
        assert_eq!(data.len(), 128);
        let mut want = vec![0u8; 128];
        match page {
            0 => want[0] = 0x01,
            1 => want[5] = 0x02,
            7 => want[127] = 0x80,
            _ => {}
        }
        assert_eq!(data, &want, "page {page}");
    }
}

#[test]
fn sn3218_init_and_zone_mapping() {
    let log: Log = Rc::default();
    let mut bl = Sn3218::new(FakeI2c(log.clone(), vec![]));
    bl.init().expect("init");
    let a = sn3218::ADDRESS;
    assert_eq!(
        *log.borrow(),
        vec![
            Ev::I2cWrite(a, vec![0x00, 0x01]),
            Ev::I2cWrite(a, vec![0x13, 0x3F, 0x3F, 0x3F]),
            Ev::I2cWrite(a, vec![0x16, 0x00])
        ]
    );
    log.borrow_mut().clear();
    // Zone 0 (left) red, zone 5 (right) blue, zone 2 green-ish.
    let mut zones = [(0, 0, 0); 6];
    zones[0] = (255, 0, 0);
    zones[2] = (1, 2, 3);
    zones[5] = (0, 0, 200);
    bl.set(&zones).expect("set");
    let mut pwm = vec![0x01u8];
    let mut ch = [0u8; 18];
    ch[6..9].copy_from_slice(&[0, 0, 255]); // zone 0 → channels 6..9 as B, G, R
    ch[0..3].copy_from_slice(&[3, 2, 1]); // zone 2 → channels 0..3
    ch[9..12].copy_from_slice(&[200, 0, 0]); // zone 5 → channels 9..12
    pwm.extend_from_slice(&ch);
    assert_eq!(
        *log.borrow(),
        vec![Ev::I2cWrite(a, pwm), Ev::I2cWrite(a, vec![0x16, 0x00])]
    );
}

#[test]
fn cap1166_init_read_and_leds() {
    let log: Log = Rc::default();
    let mut t = Cap1166::new(FakeI2c(log.clone(), vec![0b1101_0001]));
    t.init().expect("init");
    let a = cap1166::ADDRESS;
    assert_eq!(
        *log.borrow(),
        vec![
            Ev::I2cWrite(a, vec![0x21, 0x3F]),
            Ev::I2cWrite(a, vec![0x72, 0x00]),
            Ev::I2cWrite(a, vec![0x74, 0x00]),
            Ev::I2cWrite(a, vec![0x26, 0x3F]),
        ]
    );
    log.borrow_mut().clear();
    assert_eq!(t.read().expect("read"), 0b01_0001, "only six pads");
    t.set_leds(0xFF).expect("leds");
    assert_eq!(
        *log.borrow(),
        vec![
            Ev::I2cWrite(a, vec![0x03]),
            Ev::I2cRead(a, 1),
            Ev::I2cWrite(a, vec![0x00, 0x00]),
            Ev::I2cWrite(a, vec![0x74, 0x3F])
        ]
    );
}

#[test]
fn pads_debounce_press_and_hold() {
    let mut p = Pads::default();
    let select = 1 << 4;
    // A 10 ms glitch is ignored.
    assert!(p.sample(select, 0).is_empty());
    assert!(p.sample(0, 10).is_empty());
    assert!(p.sample(0, 100).is_empty());
    // A short touch is a press, reported on release.
    assert!(p.sample(1, 200).is_empty());
    assert!(p.sample(1, 240).is_empty());
    assert_eq!(p.down_mask(), 1);
    assert!(p.sample(0, 400).is_empty());
    assert_eq!(p.sample(0, 440), vec![PadEvent::Press(Pad::Up)]);
    // Holding select for a second is a hold, once, and no press on release.
    assert!(p.sample(select, 1000).is_empty());
    assert!(p.sample(select, 1500).is_empty());
    assert_eq!(p.sample(select, 2000), vec![PadEvent::Hold(Pad::Select)]);
    assert!(p.sample(select, 2500).is_empty());
    assert!(p.sample(0, 2600).is_empty());
    assert!(p.sample(0, 2700).is_empty());
}
