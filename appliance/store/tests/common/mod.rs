//! Shared helpers: fixed dev keys and statement builders.
#![allow(dead_code)]

use vigil_core::{ClockState, Kind, NoteSigner, SigningKey, Statement, sig};
use vigil_store::Submission;

pub const ORIGIN: &str = "test.vigil/log";

pub fn log_signer() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[42; 32])).expect("signer")
}

pub fn source_key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn alert_text(nonce: u64, severity: &str, topic: &str, title: &str) -> String {
    Statement::builder(Kind::Alert, ORIGIN, 1_795_349_600, &format!("{nonce:032x}"))
        .header("severity", severity)
        .header("title", title)
        .header("topic", topic)
        .body(format!("body {nonce}\n"))
        .text()
}

pub fn submit_text(text: &str, signer: &str, key: &SigningKey, received_ms: u64) -> Submission {
    let st = Statement::parse(text.as_bytes()).expect("test statement parses");
    let v = sig::sign(st, signer, key).expect("verifies");
    Submission {
        verified: v,
        received_ms,
        clock: ClockState::Synced,
    }
}

pub fn alert(nonce: u64, signer: &str, key_seed: u8) -> Submission {
    submit_text(
        &alert_text(nonce, "warning", "default", "t"),
        signer,
        &source_key(key_seed),
        1_000 + nonce,
    )
}
