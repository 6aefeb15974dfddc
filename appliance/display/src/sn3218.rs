//! SN3218 18-channel LED driver (GFX HAT backlight, I2C 0x54): six RGB zones.

use embedded_hal::i2c::I2c;

/// I2C address.
pub const ADDRESS: u8 = 0x54;
/// Registers (SN3218 datasheet).
pub mod reg {
    /// Shutdown register: 1 = normal operation.
    pub const SHUTDOWN: u8 = 0x00;
    /// First PWM register (18 follow).
    pub const PWM: u8 = 0x01;
    /// First LED-enable register (3 × 6 bits).
    pub const ENABLE: u8 = 0x13;
    /// Any write latches PWM and enable registers.
    pub const UPDATE: u8 = 0x16;
}

/// Zone (left to right) → first channel of its three, which take blue, green, red in that order
/// (the GFX HAT's wiring).
pub const ZONE_CHANNEL: [usize; 6] = [6, 3, 0, 15, 12, 9];

/// The backlight.
#[derive(Debug)]
pub struct Sn3218<I2C> {
    i2c: I2C,
}

impl<I2C: I2c> Sn3218<I2C> {
    /// Wraps the bus.
    pub fn new(i2c: I2C) -> Self {
        Sn3218 { i2c }
    }

    /// Leaves shutdown and enables all 18 outputs.
    pub fn init(&mut self) -> Result<(), I2C::Error> {
        self.i2c.write(ADDRESS, &[reg::SHUTDOWN, 0x01])?;
        self.i2c.write(ADDRESS, &[reg::ENABLE, 0x3F, 0x3F, 0x3F])?;
        self.i2c.write(ADDRESS, &[reg::UPDATE, 0x00])
    }

    /// Sets the six zones to (r, g, b) each and latches them.
    pub fn set(&mut self, zones: &[(u8, u8, u8); 6]) -> Result<(), I2C::Error> {
        let mut frame = [0u8; 19];
        frame[0] = reg::PWM;
        for (z, (r, g, b)) in zones.iter().enumerate() {
            let c = 1 + ZONE_CHANNEL[z];
            frame[c..c + 3].copy_from_slice(&[*b, *g, *r]);
        }
        self.i2c.write(ADDRESS, &frame)?;
        self.i2c.write(ADDRESS, &[reg::UPDATE, 0x00])
    }
}
