//! vigil-display: the log's projection on the GFX HAT (docs/spec.md §7).
//!
//! [`ui`] decides what to show and reacts to the pads; [`render`] draws a screen on any
//! embedded-graphics target; [`panel`] turns it into PNG; [`st7567`], [`sn3218`] and [`cap1166`]
//! drive the HAT over embedded-hal 1.0; [`hat`] says where its parts are on the board; [`hw`]
//! opens them through the kernel's GPIO character device, spidev and i2c-dev.

pub mod cap1166;
pub mod hat;
pub mod hw;
pub mod panel;
pub mod render;
pub mod sn3218;
pub mod st7567;
pub mod ui;

pub use ui::{Command, Pad, Screen, Status, Ui};
