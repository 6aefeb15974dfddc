//! CAP1166 capacitive touch controller (GFX HAT pads, I2C 0x2C) and the pad logic above it:
//! debounced presses and a one-second hold.

use embedded_hal::i2c::I2c;

use crate::ui::Pad;

/// I2C address.
pub const ADDRESS: u8 = 0x2C;
/// Registers (CAP1166 datasheet).
pub mod reg {
    /// Main control; bit 0 is the interrupt flag, cleared by writing 0.
    pub const MAIN_CONTROL: u8 = 0x00;
    /// Sensor input status (one bit per pad).
    pub const INPUT_STATUS: u8 = 0x03;
    /// Sensor input enable.
    pub const INPUT_ENABLE: u8 = 0x21;
    /// Calibration activate: writing 1s recalibrates those inputs.
    pub const CALIBRATE: u8 = 0x26;
    /// Sensor input LED linking (0 = LEDs driven by the host).
    pub const LED_LINKING: u8 = 0x72;
    /// LED output control (one bit per LED).
    pub const LED_OUTPUT: u8 = 0x74;
    /// Product id (reads [`super::PRODUCT_ID`]).
    pub const PRODUCT_ID: u8 = 0xFD;
}

/// The CAP1166's product id: how the GFX HAT is recognised.
pub const PRODUCT_ID: u8 = 0x51;

/// The touch controller.
#[derive(Debug)]
pub struct Cap1166<I2C> {
    i2c: I2C,
}

impl<I2C: I2c> Cap1166<I2C> {
    /// Wraps the bus.
    pub fn new(i2c: I2C) -> Self {
        Cap1166 { i2c }
    }

    /// Reads the product id register (a GFX HAT answers [`PRODUCT_ID`]).
    pub fn product_id(&mut self) -> Result<u8, I2C::Error> {
        let mut id = [0u8];
        self.i2c.write_read(ADDRESS, &[reg::PRODUCT_ID], &mut id)?;
        Ok(id[0])
    }

    /// Enables the six inputs, unlinks the LEDs from the pads (vigil echoes presses itself), and
    /// recalibrates.
    pub fn init(&mut self) -> Result<(), I2C::Error> {
        self.i2c.write(ADDRESS, &[reg::INPUT_ENABLE, 0x3F])?;
        self.i2c.write(ADDRESS, &[reg::LED_LINKING, 0x00])?;
        self.i2c.write(ADDRESS, &[reg::LED_OUTPUT, 0x00])?;
        self.i2c.write(ADDRESS, &[reg::CALIBRATE, 0x3F])
    }

    /// Reads which pads are touched (bit i = pad i) and clears the interrupt flag.
    pub fn read(&mut self) -> Result<u8, I2C::Error> {
        let mut status = [0u8];
        self.i2c
            .write_read(ADDRESS, &[reg::INPUT_STATUS], &mut status)?;
        self.i2c.write(ADDRESS, &[reg::MAIN_CONTROL, 0x00])?;
        Ok(status[0] & 0x3F)
    }

    /// Lights the pad LEDs in `mask`.
    pub fn set_leds(&mut self, mask: u8) -> Result<(), I2C::Error> {
        self.i2c.write(ADDRESS, &[reg::LED_OUTPUT, mask & 0x3F])
    }
}

/// A pad event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadEvent {
    /// Pressed and released before the hold time.
    Press(Pad),
    /// Held for [`HOLD_MS`] (reported once per touch).
    Hold(Pad),
}

/// Samples must agree this long before a change counts.
pub const DEBOUNCE_MS: u64 = 30;
/// How long a touch must last to count as a hold.
pub const HOLD_MS: u64 = 1000;

/// Turns status samples into events. Pure: time is a parameter.
#[derive(Debug, Clone, Default)]
pub struct Pads {
    stable: u8,
    candidate: u8,
    candidate_since: u64,
    down_since: [Option<u64>; 6],
    held: [bool; 6],
}

impl Pads {
    /// Feeds one sample (`bits` as read) at `now_ms`; returns the events it completes.
    pub fn sample(&mut self, bits: u8, now_ms: u64) -> Vec<PadEvent> {
        let mut out = Vec::new();
        if bits != self.candidate {
            self.candidate = bits;
            self.candidate_since = now_ms;
        }
        if self.candidate != self.stable
            && now_ms.saturating_sub(self.candidate_since) >= DEBOUNCE_MS
        {
            let changed = self.candidate ^ self.stable;
            for (i, pad) in Pad::ALL.iter().enumerate() {
                if changed & (1 << i) == 0 {
                    continue;
                }
                if self.candidate & (1 << i) != 0 {
                    self.down_since[i] = Some(self.candidate_since);
                    self.held[i] = false;
                } else {
                    if self.down_since[i].is_some() && !self.held[i] {
                        out.push(PadEvent::Press(*pad));
                    }
                    self.down_since[i] = None;
                }
            }
            self.stable = self.candidate;
        }
        for (i, pad) in Pad::ALL.iter().enumerate() {
            if let Some(t) = self.down_since[i]
                && !self.held[i]
                && now_ms.saturating_sub(t) >= HOLD_MS
            {
                self.held[i] = true;
                out.push(PadEvent::Hold(*pad));
            }
        }
        out
    }

    /// The pads currently down (for the LED echo).
    pub fn down_mask(&self) -> u8 {
        self.stable
    }
}
