//! vigil-display: the log's projection on the GFX HAT (SPEC §7).
//!
//! [`ui`] decides what to show and reacts to the pads; [`render`] draws a screen on any
//! embedded-graphics target; [`panel`] turns it into PNG; [`st7567`], [`sn3218`] and [`cap1166`]
//! drive the HAT over embedded-hal 1.0; `hw` (feature `hw`) opens the real pins with rppal.

pub mod cap1166;
#[cfg(feature = "hw")]
pub mod hw;
pub mod panel;
pub mod render;
pub mod sn3218;
pub mod st7567;
pub mod ui;

pub use ui::{Command, Pad, Screen, Status, Ui};
