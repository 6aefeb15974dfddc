//! Entry bytes: exact layout, exact round trip, strict decoding.

use vigil_core::entry::EntryError;
use vigil_core::{ClockState, Entry, SigningKey, Statement, sig};

const ALERT: &[u8] = include_bytes!("vectors/alert.txt");

fn entry() -> Entry {
    let sk = SigningKey::from_bytes(&[5; 32]);
    let st = Statement::parse(ALERT).expect("parses");
    let v = sig::verify(
        st,
        "backup@nas",
        &sk.verifying_key(),
        sig::sign_raw(ALERT, &sk),
    )
    .expect("verifies");
    Entry::new(41, 1795349600123, ClockState::Unsynced, &v)
}

#[test]
fn layout_is_exactly_the_spec() {
    let e = entry();
    let text = std::str::from_utf8(e.bytes()).expect("utf8");
    let lines: Vec<&str> = text.lines().take(11).collect();
    assert_eq!(lines[0], "vigil-entry/v1");
    assert_eq!(lines[1], "index: 41");
    assert_eq!(lines[2], "received: 1795349600123");
    assert_eq!(lines[3], "clock: unsynced");
    assert_eq!(lines[4], "kind: alert");
    assert_eq!(lines[5], "signer: backup@nas");
    assert!(lines[6].starts_with("signer-key: ") && lines[6].len() == "signer-key: ".len() + 44);
    assert_eq!(lines[7], "sig-kind: ed25519");
    assert!(lines[8].starts_with("sig: ") && lines[8].len() == "sig: ".len() + 88);
    assert_eq!(lines[9], format!("payload-bytes: {}", ALERT.len()));
    assert_eq!(lines[10], "");
    assert!(e.bytes().ends_with(ALERT), "payload stored verbatim");
}

#[test]
fn round_trip_is_exact_and_signature_still_verifies() {
    let e = entry();
    let d = Entry::decode(e.bytes()).expect("decodes");
    assert_eq!(d, e);
    assert_eq!(d.leaf_hash(), e.leaf_hash());
    d.verify().expect("verifies");
}

#[test]
fn strict_decoding_refuses_edits() {
    let good = String::from_utf8(entry().bytes().to_vec()).expect("utf8");
    let cases = [
        good.replace("vigil-entry/v1", "vigil-entry/v2"),
        good.replace("index: 41", "index: 041"),
        good.replace("index: 41\n", ""),
        good.replace("clock: unsynced", "clock: maybe"),
        good.replace("kind: alert", "kind: ack"),
        good.replace("signer: backup@nas", "signer: Backup"),
        good.replace("sig-kind: ed25519", "sig-kind: rsa"),
        good.replace(
            &format!("payload-bytes: {}", ALERT.len()),
            &format!("payload-bytes: {}", ALERT.len() + 1),
        ),
        good.replace("received: ", "received:  "),
        format!("{good}x"),
    ];
    for bad in cases {
        assert!(Entry::decode(bad.as_bytes()).is_err(), "{bad}");
    }
    assert_eq!(
        Entry::decode(good.replace("kind: alert", "kind: ack").as_bytes()).err(),
        Some(EntryError::KindMismatch)
    );
    // A changed payload still decodes but no longer verifies: audits catch it.
    let tampered = good.replace("disk full", "disk fine");
    let d = Entry::decode(tampered.as_bytes()).expect("same length, decodes");
    assert!(d.verify().is_err());
}
