//! Draws a [`Screen`] on any 128×64 one-bit `DrawTarget`: the LCD framebuffer, the PNG panel,
//! or a test's simulator display. Text the fonts lack (non-ASCII) is drawn as the font's
//! replacement glyph, one cell per character, never as garbage bytes.

use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::ascii::{FONT_5X8, FONT_6X10, FONT_10X20};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use vigil_core::statement::Severity;

use crate::ui::{LIST_ROWS, Row, Screen};

/// Panel width in pixels.
pub const WIDTH: u32 = 128;
/// Panel height in pixels.
pub const HEIGHT: u32 = 64;
/// Characters per line in the small font.
pub const COLS: usize = (WIDTH / 5) as usize;

fn small(color: BinaryColor) -> MonoTextStyle<'static, BinaryColor> {
    MonoTextStyle::new(&FONT_5X8, color)
}

fn text<D: DrawTarget<Color = BinaryColor>>(
    d: &mut D,
    s: &str,
    x: i32,
    y: i32,
    color: BinaryColor,
) -> Result<(), D::Error> {
    Text::with_baseline(s, Point::new(x, y), small(color), Baseline::Top)
        .draw(d)
        .map(|_| ())
}

fn right<D: DrawTarget<Color = BinaryColor>>(
    d: &mut D,
    s: &str,
    y: i32,
    color: BinaryColor,
) -> Result<(), D::Error> {
    let style = TextStyleBuilder::new()
        .alignment(Alignment::Right)
        .baseline(Baseline::Top)
        .build();
    Text::with_text_style(s, Point::new(WIDTH as i32 - 1, y), small(color), style)
        .draw(d)
        .map(|_| ())
}

fn bar<D: DrawTarget<Color = BinaryColor>>(d: &mut D, y: i32) -> Result<(), D::Error> {
    Rectangle::new(Point::new(0, y), Size::new(WIDTH, 8))
        .into_styled(PrimitiveStyle::with_fill(BinaryColor::On))
        .draw(d)
}

/// Cuts to `n` characters, marking the cut with `~`.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('~');
        t
    }
}

/// Wraps text at word boundaries into lines of at most `cols` characters (long words split).
pub fn wrap(s: &str, cols: usize) -> Vec<String> {
    let mut out = Vec::new();
    for para in s.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            let mut word = word.to_owned();
            loop {
                let need = if line.is_empty() { 0 } else { 1 } + word.chars().count();
                if line.chars().count() + need <= cols {
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(&word);
                    break;
                }
                if !line.is_empty() {
                    out.push(std::mem::take(&mut line));
                    continue;
                }
                let head: String = word.chars().take(cols).collect();
                word = word.chars().skip(cols).collect();
                out.push(head);
                if word.is_empty() {
                    break;
                }
            }
        }
        out.push(line);
    }
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

/// A fingerprint on two lines of [`COLS`] characters.
fn halves(s: &str) -> [String; 2] {
    [
        s.chars().take(COLS).collect(),
        s.chars().skip(COLS).take(COLS).collect(),
    ]
}

fn mark(r: &Row) -> &'static str {
    match (r.severity, r.acked) {
        (Severity::Critical, false) => "!!",
        (Severity::Critical, true) => "!.",
        (Severity::Warning, false) => "! ",
        (Severity::Warning, true) => ". ",
        (Severity::Info, _) => "i ",
    }
}

/// Draws `screen`.
pub fn draw<D: DrawTarget<Color = BinaryColor>>(
    screen: &Screen,
    d: &mut D,
) -> Result<(), D::Error> {
    d.clear(BinaryColor::Off)?;
    match screen {
        Screen::FirstBoot { ca, log } => {
            bar(d, 0)?;
            text(d, "vigil: first boot", 1, 0, BinaryColor::Off)?;
            let ca = ca.trim_start_matches("SHA256:");
            let log = log.trim_start_matches("SHA256:");
            text(d, "CA SHA256:", 0, 9, BinaryColor::On)?;
            for (i, l) in halves(ca).iter().enumerate() {
                text(d, l, 0, 17 + 8 * i as i32, BinaryColor::On)?;
            }
            text(d, "log key SHA256:", 0, 34, BinaryColor::On)?;
            for (i, l) in halves(log).iter().enumerate() {
                text(d, l, 0, 42 + 8 * i as i32, BinaryColor::On)?;
            }
        }
        Screen::Idle {
            clock,
            size,
            root,
            checks_on_hold,
        } => {
            let style = TextStyleBuilder::new()
                .alignment(Alignment::Center)
                .baseline(Baseline::Top)
                .build();
            Text::with_text_style(
                clock,
                Point::new(64, 2),
                MonoTextStyle::new(&FONT_10X20, BinaryColor::On),
                style,
            )
            .draw(d)?;
            Text::with_text_style(
                "all clear",
                Point::new(64, 26),
                MonoTextStyle::new(&FONT_6X10, BinaryColor::On),
                style,
            )
            .draw(d)?;
            if *checks_on_hold {
                Text::with_text_style(
                    "checks held: no time",
                    Point::new(64, 40),
                    MonoTextStyle::new(&FONT_6X10, BinaryColor::On),
                    style,
                )
                .draw(d)?;
            }
            text(d, &format!("log {size}"), 0, 55, BinaryColor::On)?;
            right(d, root, 55, BinaryColor::On)?;
        }
        Screen::List {
            rows,
            top,
            selected,
            counts,
        } => {
            bar(d, 0)?;
            text(
                d,
                &format!("{} active", counts.total()),
                1,
                0,
                BinaryColor::Off,
            )?;
            right(
                d,
                &format!("!!{} !{} i{}", counts.critical, counts.warning, counts.info),
                0,
                BinaryColor::Off,
            )?;
            for (j, r) in rows.iter().enumerate().take(LIST_ROWS) {
                let i = top + j;
                let y = 8 + 8 * j as i32;
                let fg = if i == *selected {
                    bar(d, y)?;
                    BinaryColor::Off
                } else {
                    BinaryColor::On
                };
                let room = COLS - 3 - r.age.len();
                text(
                    d,
                    &format!("{}{}", mark(r), truncate(&r.title, room)),
                    0,
                    y,
                    fg,
                )?;
                right(d, &r.age, y, fg)?;
            }
        }
        Screen::Detail { row, body, scroll } => {
            bar(d, 0)?;
            let room = COLS - 3 - row.age.len();
            text(
                d,
                &format!("{}{}", mark(row), truncate(&row.title, room)),
                0,
                0,
                BinaryColor::Off,
            )?;
            right(d, &row.age, 0, BinaryColor::Off)?;
            let lines = wrap(body, COLS);
            let start = (*scroll).min(lines.len().saturating_sub(LIST_ROWS));
            for (i, l) in lines.iter().skip(start).take(LIST_ROWS).enumerate() {
                text(d, l, 0, 8 + 8 * i as i32, BinaryColor::On)?;
            }
            if lines.len() > start + LIST_ROWS {
                right(d, "v", 56, BinaryColor::On)?;
            }
        }
        Screen::Acked { title } => {
            let style = TextStyleBuilder::new()
                .alignment(Alignment::Center)
                .baseline(Baseline::Top)
                .build();
            Text::with_text_style(
                "acknowledged",
                Point::new(64, 12),
                MonoTextStyle::new(&FONT_6X10, BinaryColor::On),
                style,
            )
            .draw(d)?;
            for (i, l) in wrap(title, COLS).iter().take(3).enumerate() {
                Text::with_text_style(
                    l,
                    Point::new(64, 30 + 8 * i as i32),
                    small(BinaryColor::On),
                    style,
                )
                .draw(d)?;
            }
        }
        Screen::NotWritable { reason } => {
            bar(d, 0)?;
            text(d, "LOG NOT WRITABLE", 1, 0, BinaryColor::Off)?;
            for (i, l) in wrap(reason, COLS).iter().take(LIST_ROWS).enumerate() {
                text(d, l, 0, 8 + 8 * i as i32, BinaryColor::On)?;
            }
        }
    }
    Ok(())
}
