//! ST7567 128×64 LCD controller (GFX HAT: SPI0 CE0, DC on GPIO6, RST on GPIO5), over
//! embedded-hal 1.0. The framebuffer is in the controller's page layout: byte `page*128 + x`
//! holds pixels (x, 8·page … 8·page+7), least significant bit at the top.

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::spi::SpiDevice;

/// Width in pixels.
pub const WIDTH: usize = 128;
/// Pages of 8 rows.
pub const PAGES: usize = 8;

/// Commands (ST7567 datasheet, instruction table).
pub mod cmd {
    /// LCD bias 1/7.
    pub const BIAS_1_7: u8 = 0xA3;
    /// Segment direction normal.
    pub const SEG_NORMAL: u8 = 0xA0;
    /// COM direction reverse (the GFX HAT's glass is mounted flipped).
    pub const COM_REVERSE: u8 = 0xC8;
    /// Normal (not inverted) display.
    pub const DISPLAY_NORMAL: u8 = 0xA6;
    /// Start line 0.
    pub const START_LINE: u8 = 0x40;
    /// Booster, regulator and follower on.
    pub const POWER_ALL_ON: u8 = 0x2F;
    /// Regulation ratio 3 (5.0).
    pub const REGULATION_RATIO_3: u8 = 0x23;
    /// Display on.
    pub const DISPLAY_ON: u8 = 0xAF;
    /// Set electronic volume (contrast); the next byte is the value (0–63).
    pub const SET_CONTRAST: u8 = 0x81;
    /// Page address (OR the page).
    pub const PAGE: u8 = 0xB0;
    /// Column address, high nibble (OR the nibble).
    pub const COLUMN_HIGH: u8 = 0x10;
    /// Column address, low nibble (OR the nibble).
    pub const COLUMN_LOW: u8 = 0x00;
}

/// The default contrast for the GFX HAT's glass.
pub const DEFAULT_CONTRAST: u8 = 58;

/// A one-bit framebuffer in page layout.
#[derive(Clone, PartialEq, Eq)]
pub struct Framebuffer(pub [u8; WIDTH * PAGES]);

impl Default for Framebuffer {
    fn default() -> Self {
        Framebuffer([0; WIDTH * PAGES])
    }
}

impl std::fmt::Debug for Framebuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Framebuffer({} pixels on)",
            self.0.iter().map(|b| b.count_ones()).sum::<u32>()
        )
    }
}

impl Framebuffer {
    /// Whether (x, y) is on.
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.0[(y / 8) * WIDTH + x] & (1 << (y % 8)) != 0
    }
}

impl OriginDimensions for Framebuffer {
    fn size(&self) -> Size {
        Size::new(WIDTH as u32, (PAGES * 8) as u32)
    }
}

impl DrawTarget for Framebuffer {
    type Color = BinaryColor;
    type Error = core::convert::Infallible;
    fn draw_iter<I: IntoIterator<Item = Pixel<BinaryColor>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Self::Error> {
        for Pixel(p, c) in pixels {
            let (Ok(x), Ok(y)) = (usize::try_from(p.x), usize::try_from(p.y)) else {
                continue;
            };
            if x >= WIDTH || y >= PAGES * 8 {
                continue;
            }
            let byte = &mut self.0[(y / 8) * WIDTH + x];
            match c {
                BinaryColor::On => *byte |= 1 << (y % 8),
                BinaryColor::Off => *byte &= !(1 << (y % 8)),
            }
        }
        Ok(())
    }
}

/// Driver errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<S, P> {
    /// SPI.
    Spi(S),
    /// A GPIO pin.
    Pin(P),
}

/// The controller.
#[derive(Debug)]
pub struct St7567<SPI, DC, RST> {
    spi: SPI,
    dc: DC,
    rst: RST,
}

impl<SPI: SpiDevice, DC: OutputPin, RST: OutputPin<Error = DC::Error>> St7567<SPI, DC, RST> {
    /// Wraps the bus and pins.
    pub fn new(spi: SPI, dc: DC, rst: RST) -> Self {
        St7567 { spi, dc, rst }
    }

    fn command(&mut self, bytes: &[u8]) -> Result<(), Error<SPI::Error, DC::Error>> {
        self.dc.set_low().map_err(Error::Pin)?;
        self.spi.write(bytes).map_err(Error::Spi)
    }

    fn data(&mut self, bytes: &[u8]) -> Result<(), Error<SPI::Error, DC::Error>> {
        self.dc.set_high().map_err(Error::Pin)?;
        self.spi.write(bytes).map_err(Error::Spi)
    }

    /// Hardware reset, then the init sequence.
    pub fn init(
        &mut self,
        delay: &mut impl DelayNs,
        contrast: u8,
    ) -> Result<(), Error<SPI::Error, DC::Error>> {
        self.rst.set_low().map_err(Error::Pin)?;
        delay.delay_ms(10);
        self.rst.set_high().map_err(Error::Pin)?;
        delay.delay_ms(100);
        self.command(&[
            cmd::BIAS_1_7,
            cmd::SEG_NORMAL,
            cmd::COM_REVERSE,
            cmd::DISPLAY_NORMAL,
            cmd::START_LINE,
            cmd::POWER_ALL_ON,
            cmd::REGULATION_RATIO_3,
            cmd::DISPLAY_ON,
        ])?;
        self.set_contrast(contrast)
    }

    /// Sets the contrast (0–63).
    pub fn set_contrast(&mut self, contrast: u8) -> Result<(), Error<SPI::Error, DC::Error>> {
        self.command(&[cmd::SET_CONTRAST, contrast.min(63)])
    }

    /// Writes the whole framebuffer, page by page.
    pub fn flush(&mut self, fb: &Framebuffer) -> Result<(), Error<SPI::Error, DC::Error>> {
        for page in 0..PAGES {
            self.command(&[cmd::PAGE | page as u8, cmd::COLUMN_HIGH, cmd::COLUMN_LOW])?;
            self.data(&fb.0[page * WIDTH..(page + 1) * WIDTH])?;
        }
        Ok(())
    }
}
