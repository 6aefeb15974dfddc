//! vigil-cli: the client library behind the `vigil` command (and the e2e tests).

pub mod audit;
pub mod bridge;
pub mod client;
pub mod config;
pub mod exit;
pub mod time;
pub mod trust;

pub use client::{Answer, Client, ClientError};
