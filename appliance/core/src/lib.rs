//! vigil-core: the pure heart of vigil.
//!
//! Statements (SPEC §2), signatures (§3), log entries, RFC 9162 Merkle maths, C2SP signed notes,
//! checkpoints and tlog-proofs (§4). No I/O happens here: no files, sockets, clocks or async
//! runtime; time is always a parameter.

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

pub use checkpoint::{Checkpoint, CheckpointError, TlogProof};
pub use entry::{ClockState, Entry, EntryError};
pub use merkle::{Hash, MemoryTree};
pub use note::{NoteError, NoteSigner, NoteVerifier};
pub use policy::{Policy, PolicyError};
pub use projection::{AlertView, Projection};
pub use registry::{Denied, Registry};
pub use sig::{SigError, SigKind, Signature, SshSignature, Verified};
pub use statement::{Content, Kind, ParseError, Role, Severity, Statement};

pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}
