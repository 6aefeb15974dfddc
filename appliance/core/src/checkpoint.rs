//! C2SP `tlog-checkpoint` v1.0.0 and `tlog-proof` (`c2sp.org/tlog-proof@v1`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::merkle::{self, Hash, ProofError};
use crate::note::{NoteError, NoteSigner, NoteVerifier};
use crate::statement::parse_u64;

/// Most hashes in an inclusion or consistency proof (a tree of 2^64 leaves needs 64; RFC 9162
/// consistency proofs may need one or two more).
pub const MAX_PROOF_HASHES: usize = 66;

/// Errors of checkpoints and proofs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Malformed checkpoint or proof text.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// Checkpoint or proof.
        what: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// The note's signature.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint is for another log.
    #[error("checkpoint is for origin `{got}`, expected `{want}`")]
    WrongOrigin {
        /// Expected.
        want: String,
        /// Found.
        got: String,
    },
    /// The proof.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

fn bad_cp(why: &'static str) -> CheckpointError {
    CheckpointError::Malformed {
        what: "checkpoint",
        why,
    }
}
fn bad_proof(why: &'static str) -> CheckpointError {
    CheckpointError::Malformed {
        what: "tlog-proof",
        why,
    }
}

/// A tree head: origin, size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Number of entries.
    pub size: u64,
    /// Root hash of the tree of `size` entries.
    pub root: Hash,
}

impl Checkpoint {
    /// The checkpoint body (the note text).
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses a checkpoint body; extension lines after the root are allowed and ignored.
    pub fn parse_text(text: &str) -> Result<Checkpoint, CheckpointError> {
        let text = text
            .strip_suffix('\n')
            .ok_or(bad_cp("must end with a newline"))?;
        let mut lines = text.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(bad_cp("empty origin"))?;
        let size = lines
            .next()
            .and_then(parse_u64)
            .ok_or(bad_cp("size is not a decimal number"))?;
        let root = lines
            .next()
            .and_then(|l| STANDARD.decode(l).ok())
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or(bad_cp("root is not a base64 SHA-256 hash"))?;
        if lines.any(str::is_empty) {
            return Err(bad_cp("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }

    /// Signs the checkpoint with the log key (whose name must equal the origin).
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        if signer.verifier().name() != self.origin {
            return Err(CheckpointError::WrongOrigin {
                want: signer.verifier().name().to_owned(),
                got: self.origin.clone(),
            });
        }
        Ok(signer.sign(&self.to_text())?)
    }

    /// Verifies a signed checkpoint with the log's verifier key and parses it.
    pub fn verify(note: &str, verifier: &NoteVerifier) -> Result<Checkpoint, CheckpointError> {
        let text = verifier.verify(note)?;
        let cp = Checkpoint::parse_text(text)?;
        if cp.origin != verifier.name() {
            return Err(CheckpointError::WrongOrigin {
                want: verifier.name().to_owned(),
                got: cp.origin,
            });
        }
        Ok(cp)
    }
}

/// The first line of a tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// An offline-verifiable proof that an entry is in the log: index, inclusion hashes, and the
/// signed checkpoint they lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Optional opaque extra data.
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// Inclusion proof hashes.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint (a whole note).
    pub checkpoint: String,
}

impl TlogProof {
    /// The proof's text form.
    pub fn to_text(&self) -> String {
        let mut s = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            s += &format!("extra {}\n", STANDARD.encode(extra));
        }
        s += &format!("index {}\n", self.index);
        for h in &self.hashes {
            s += &STANDARD.encode(h);
            s.push('\n');
        }
        s.push('\n');
        s += &self.checkpoint;
        s
    }

    /// Parses the text form strictly.
    pub fn parse(text: &str) -> Result<TlogProof, CheckpointError> {
        if text.len() > crate::note::MAX_NOTE_BYTES {
            return Err(bad_proof("too large"));
        }
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(bad_proof("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(bad_proof("first line must be c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or(bad_proof("missing index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(
                STANDARD
                    .decode(b64)
                    .map_err(|_| bad_proof("extra is not base64"))?,
            );
            line = lines.next().ok_or(bad_proof("missing index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(parse_u64)
            .ok_or(bad_proof("expected `index N`"))?;
        let mut hashes = Vec::new();
        for l in lines {
            let h = STANDARD
                .decode(l)
                .ok()
                .and_then(|r| <[u8; 32]>::try_from(r).ok());
            hashes.push(h.ok_or(bad_proof("a proof line is not a base64 SHA-256 hash"))?);
            if hashes.len() > MAX_PROOF_HASHES {
                return Err(bad_proof("too many hashes"));
            }
        }
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: checkpoint.to_owned(),
        })
    }

    /// Verifies the checkpoint's signature and that `leaf` (the entry's leaf hash) is included at
    /// `index`; returns the checkpoint.
    pub fn verify(
        &self,
        leaf: &Hash,
        verifier: &NoteVerifier,
    ) -> Result<Checkpoint, CheckpointError> {
        let cp = Checkpoint::verify(&self.checkpoint, verifier)?;
        merkle::verify_inclusion(self.index, cp.size, leaf, &self.hashes, &cp.root)?;
        Ok(cp)
    }
}
