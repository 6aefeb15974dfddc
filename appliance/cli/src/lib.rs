//! vigil-cli: the client library behind the `vigil` command (and the e2e tests).

pub mod audit;
pub mod bridge;
pub mod client;
pub mod config;
pub mod exit;
pub mod time;
pub mod trust;

pub use client::{Answer, Client, ClientError};

/// `text` when `ok` takes it (a statement with it builds: the display can show it); else its
/// printable ASCII, LF and TAB, every other character as `?`.
pub fn showable(text: &str, ok: impl Fn(&str) -> bool) -> String {
    if ok(text) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            '\n' | '\t' | ' '..='~' => c,
            _ => '?',
        })
        .collect()
}
