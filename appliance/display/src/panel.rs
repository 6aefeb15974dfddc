//! The PNG panel: the same rendering as the LCD, kept in a simulator display (no SDL) and
//! encoded as PNG for `GET /v1/display.png` and `DIR/display.png`.

use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics_simulator::{BinaryColorTheme, OutputSettingsBuilder, SimulatorDisplay};

use crate::render::{self, HEIGHT, WIDTH};
use crate::ui::Screen;

/// Pixels per LCD pixel in the PNG.
pub const SCALE: u32 = 4;

/// Renders `screen` to a 128×64 simulator display.
pub fn frame(screen: &Screen) -> SimulatorDisplay<BinaryColor> {
    let mut d = SimulatorDisplay::new(Size::new(WIDTH, HEIGHT));
    // Drawing into a simulator display cannot fail.
    let _ = render::draw(screen, &mut d);
    d
}

/// PNG bytes of a frame, scaled by [`SCALE`], tinted like a backlit LCD.
pub fn png(display: &SimulatorDisplay<BinaryColor>) -> Vec<u8> {
    let settings = OutputSettingsBuilder::new()
        .scale(SCALE)
        .pixel_spacing(0)
        .theme(BinaryColorTheme::LcdWhite)
        .build();
    let img = display.to_rgb_output_image(&settings);
    let buf = img.as_image_buffer();
    let mut out = std::io::Cursor::new(Vec::new());
    match buf.write_to(&mut out, image::ImageFormat::Png) {
        Ok(()) => out.into_inner(),
        Err(_) => Vec::new(),
    }
}
