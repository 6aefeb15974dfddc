//! vigil-core: the pure heart of vigil.
//!
//! Statements (docs/spec.md §2), signatures (§3), log entries, RFC 9162 Merkle maths, C2SP signed notes,
//! checkpoints and tlog-proofs (§4). No I/O happens here: no files, sockets, clocks or async
//! runtime; time is always a parameter.

pub mod admission;
pub mod checkin;
pub mod checkpoint;
pub mod entry;
pub mod keyfile;
pub mod merkle;
pub mod note;
pub mod policy;
pub mod projection;
pub mod registry;
pub mod sig;
pub mod statement;
pub mod tiles;
pub mod wire;

pub use checkpoint::{Checkpoint, CheckpointError, TlogProof};
pub use entry::{ClockState, Entry, EntryError};
pub use merkle::{Hash, MemoryTree};
pub use note::{NoteError, NoteSigner, NoteVerifier};
pub use policy::{Policy, PolicyError};
pub use projection::{AlertView, Projection};
pub use registry::{Denied, Registry};
pub use sig::{SigError, SigKind, Signature, SshSignature, Verified};
pub use statement::{CheckAction, Content, Kind, Missed, ParseError, Role, Severity, Statement};

pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// `SHA256:` + unpadded base64 of SHA-256 over `der`, the form OpenSSH uses for fingerprints;
/// used for the CA certificate (vigild, `vigil trust`, the LCD).
pub fn der_fingerprint(der: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha256(der))
    )
}

/// The DER bytes of the first `CERTIFICATE` block of PEM text.
pub fn pem_certificate_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .skip_while(|l| *l != "-----BEGIN CERTIFICATE-----")
        .skip(1)
        .take_while(|l| *l != "-----END CERTIFICATE-----")
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()
        .filter(|d| !d.is_empty())
}

/// The bytes a signed request signs (docs/spec.md §5):
/// `vigil-request/v1\n<METHOD>\n<path with query>\n<date>\n<nonce>\n<hex SHA-256 of body>\n`.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    date: u64,
    nonce: &str,
    body: &[u8],
) -> String {
    let body_hash = hex::encode(sha256(body));
    format!("vigil-request/v1\n{method}\n{path_and_query}\n{date}\n{nonce}\n{body_hash}\n")
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}
