//! The real GFX HAT through rppal (the only place that opens pins and buses): SPI0 CE0 at
//! 1 MHz for the ST7567, DC on GPIO6, RST on GPIO5, I2C-1 for the SN3218 and the CAP1166.

use rppal::gpio::{Gpio, OutputPin};
use rppal::i2c::I2c;
use rppal::spi::{Bus, Mode, SimpleHalSpiDevice, SlaveSelect, Spi};

use crate::cap1166::{self, Cap1166};
use crate::sn3218::Sn3218;
use crate::st7567::{DEFAULT_CONTRAST, Framebuffer, St7567};

/// GPIO of the LCD's data/command line.
pub const DC_GPIO: u8 = 6;
/// GPIO of the LCD's reset line.
pub const RST_GPIO: u8 = 5;
/// CAP1166 product id register and value, used to detect the HAT.
const PRODUCT_ID: (u8, u8) = (0xFD, 0x51);

/// The opened HAT.
pub struct GfxHat {
    lcd: St7567<SimpleHalSpiDevice, OutputPin, OutputPin>,
    backlight: Sn3218<I2c>,
    touch: Cap1166<I2c>,
}

impl std::fmt::Debug for GfxHat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GfxHat")
    }
}

fn e(what: &str, err: impl std::fmt::Display) -> String {
    format!("{what}: {err}")
}

/// Whether a GFX HAT answers on I2C (its touch controller's product id).
pub fn present() -> bool {
    let Ok(mut i2c) = I2c::new() else {
        return false;
    };
    let mut id = [0u8];
    embedded_hal::i2c::I2c::write_read(&mut i2c, cap1166::ADDRESS, &[PRODUCT_ID.0], &mut id).is_ok()
        && id[0] == PRODUCT_ID.1
}

impl GfxHat {
    /// Opens and initialises the LCD, backlight and touch pads.
    pub fn open() -> Result<GfxHat, String> {
        let spi = Spi::new(Bus::Spi0, SlaveSelect::Ss0, 1_000_000, Mode::Mode0)
            .map_err(|x| e("SPI0", x))?;
        let gpio = Gpio::new().map_err(|x| e("GPIO", x))?;
        let dc = gpio.get(DC_GPIO).map_err(|x| e("GPIO6", x))?.into_output();
        let rst = gpio.get(RST_GPIO).map_err(|x| e("GPIO5", x))?.into_output();
        let mut lcd = St7567::new(SimpleHalSpiDevice::new(spi), dc, rst);
        lcd.init(&mut rppal::hal::Delay, DEFAULT_CONTRAST)
            .map_err(|x| e("ST7567", format!("{x:?}")))?;
        let mut backlight = Sn3218::new(I2c::new().map_err(|x| e("I2C", x))?);
        backlight.init().map_err(|x| e("SN3218", x))?;
        let mut touch = Cap1166::new(I2c::new().map_err(|x| e("I2C", x))?);
        touch.init().map_err(|x| e("CAP1166", x))?;
        Ok(GfxHat {
            lcd,
            backlight,
            touch,
        })
    }

    /// Shows a frame.
    pub fn show(&mut self, fb: &Framebuffer) -> Result<(), String> {
        self.lcd
            .flush(fb)
            .map_err(|x| e("ST7567", format!("{x:?}")))
    }

    /// Sets every backlight zone.
    pub fn backlight(&mut self, rgb: (u8, u8, u8)) -> Result<(), String> {
        self.backlight.set(&[rgb; 6]).map_err(|x| e("SN3218", x))
    }

    /// Reads the pads.
    pub fn pads(&mut self) -> Result<u8, String> {
        self.touch.read().map_err(|x| e("CAP1166", x))
    }

    /// Echoes presses on the pad LEDs.
    pub fn pad_leds(&mut self, mask: u8) -> Result<(), String> {
        self.touch.set_leds(mask).map_err(|x| e("CAP1166", x))
    }
}
