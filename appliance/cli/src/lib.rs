//! vigil-cli: the client library behind the `vigil` command (and the e2e tests).

pub mod client;

pub use client::{Answer, Client, ClientError};
