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

/// Whether a panel PNG (as [`png`] makes it) shows `text` in one of the display's fonts, dark
/// on light or light on dark: for checking from outside what an appliance's LCD shows.
pub fn shows_text(png_bytes: &[u8], text: &str) -> Result<bool, String> {
    use embedded_graphics::mono_font::MonoTextStyleBuilder;
    use embedded_graphics::mono_font::ascii::{FONT_5X8, FONT_6X10, FONT_10X20};
    use embedded_graphics::text::{Baseline, Text};

    let img = image::load_from_memory_with_format(png_bytes, image::ImageFormat::Png)
        .map_err(|e| format!("not a PNG: {e}"))?
        .to_luma8();
    if img.width() != WIDTH * SCALE || img.height() != HEIGHT * SCALE {
        return Err(format!(
            "{}×{} is not a {}×{} panel at scale {SCALE}",
            img.width(),
            img.height(),
            WIDTH,
            HEIGHT
        ));
    }
    // One sample from the middle of each LCD pixel; dark is "on".
    let lit = |x: u32, y: u32| img.get_pixel(x * SCALE + SCALE / 2, y * SCALE + SCALE / 2)[0] < 128;
    for font in [&FONT_5X8, &FONT_6X10, &FONT_10X20] {
        let style = MonoTextStyleBuilder::new()
            .font(font)
            .text_color(BinaryColor::On)
            .background_color(BinaryColor::Off)
            .build();
        let w = font.character_size.width * text.chars().count() as u32;
        let h = font.character_size.height;
        if w == 0 || w > WIDTH || h > HEIGHT {
            continue;
        }
        let mut t = SimulatorDisplay::<BinaryColor>::new(Size::new(w, h));
        let _ = Text::with_baseline(text, Point::zero(), style, Baseline::Top).draw(&mut t);
        let on = |x: u32, y: u32| t.get_pixel(Point::new(x as i32, y as i32)) == BinaryColor::On;
        for oy in 0..=HEIGHT - h {
            for ox in 0..=WIDTH - w {
                for inverted in [false, true] {
                    let hit = (0..h)
                        .all(|y| (0..w).all(|x| (lit(ox + x, oy + y) != inverted) == on(x, y)));
                    if hit {
                        return Ok(true);
                    }
                }
            }
        }
    }
    Ok(false)
}
