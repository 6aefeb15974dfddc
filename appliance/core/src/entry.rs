//! Log entries: the `vigil-entry/v1` bytes that are hashed into the tree (docs/spec.md §4).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;

use crate::merkle::{Hash, leaf_hash};
use crate::sig::{self, SigError, SigKind, Signature, Verified};
use crate::statement::{Kind, ParseError, Statement, parse_u64, valid_name};

/// First line of every entry.
pub const ENTRY_MAGIC: &str = "vigil-entry/v1";
/// Largest entry (statement plus a generous header block).
pub const MAX_ENTRY_BYTES: usize = crate::statement::MAX_STATEMENT_BYTES + 4096;

/// Whether the appliance clock was NTP-synchronised when the entry was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockState {
    /// Synchronised.
    Synced,
    /// Not synchronised (no RTC, no NTP yet): `received` may be wrong.
    Unsynced,
}

impl ClockState {
    /// The entry's `clock` value.
    pub fn name(self) -> &'static str {
        match self {
            ClockState::Synced => "synced",
            ClockState::Unsynced => "unsynced",
        }
    }
}

/// Why entry bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// A header line is missing, out of order or malformed.
    #[error("entry line {line}: expected `{want}`")]
    Field {
        /// 1-based line.
        line: usize,
        /// The expected field.
        want: &'static str,
    },
    /// `payload-bytes` disagrees with the payload.
    #[error("payload-bytes does not match the payload length")]
    PayloadLength,
    /// The embedded statement does not parse.
    #[error("entry payload: {0}")]
    Statement(#[from] ParseError),
    /// `kind` disagrees with the statement.
    #[error("entry kind does not match its statement")]
    KindMismatch,
    /// Over [`MAX_ENTRY_BYTES`].
    #[error("entry too large")]
    TooLarge,
}

/// A decoded (or newly built) log entry. Keeps its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    index: u64,
    received_ms: u64,
    clock: ClockState,
    signer: String,
    signer_key: VerifyingKey,
    signature: Signature,
    statement: Statement,
    bytes: Vec<u8>,
}

impl Entry {
    /// Builds the entry for a verified statement at `index`.
    pub fn new(index: u64, received_ms: u64, clock: ClockState, v: &Verified) -> Entry {
        let st = v.statement();
        let mut bytes = format!(
            "{ENTRY_MAGIC}\nindex: {index}\nreceived: {received_ms}\nclock: {}\nkind: {}\nsigner: {}\nsigner-key: {}\nsig-kind: {}\nsig: {}\npayload-bytes: {}\n\n",
            clock.name(),
            st.kind().name(),
            v.signer(),
            STANDARD.encode(v.key().as_bytes()),
            v.signature().kind().name(),
            v.signature().to_base64(),
            st.bytes().len(),
        )
        .into_bytes();
        bytes.extend_from_slice(st.bytes());
        Entry {
            index,
            received_ms,
            clock,
            signer: v.signer().to_owned(),
            signer_key: *v.key(),
            signature: v.signature().clone(),
            statement: st.clone(),
            bytes,
        }
    }

    /// Decodes entry bytes strictly: fields in order, exact forms, payload length checked.
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge);
        }
        let mut rest = bytes;
        let mut line_no = 0;
        let mut field = |want: &'static str| -> Result<&str, EntryError> {
            line_no += 1;
            let err = EntryError::Field {
                line: line_no,
                want,
            };
            let nl = rest.iter().position(|&b| b == b'\n').ok_or(err.clone())?;
            let line = std::str::from_utf8(&rest[..nl]).map_err(|_| err.clone())?;
            rest = &rest[nl + 1..];
            if want == ENTRY_MAGIC || want.is_empty() {
                return if line == want { Ok(line) } else { Err(err) };
            }
            line.strip_prefix(want)
                .and_then(|l| l.strip_prefix(": "))
                .ok_or(err)
        };
        let bad = |line, want| EntryError::Field { line, want };
        field(ENTRY_MAGIC)?;
        let index = parse_u64(field("index")?).ok_or(bad(2, "index"))?;
        let received_ms = parse_u64(field("received")?).ok_or(bad(3, "received"))?;
        let clock = match field("clock")? {
            "synced" => ClockState::Synced,
            "unsynced" => ClockState::Unsynced,
            _ => return Err(bad(4, "clock")),
        };
        let kind = Kind::from_name(field("kind")?).ok_or(bad(5, "kind"))?;
        let signer = field("signer")?.to_owned();
        if !valid_name(&signer) {
            return Err(bad(6, "signer"));
        }
        let signer_key = STANDARD
            .decode(field("signer-key")?)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .and_then(|k| sig::checked_key(&k).ok())
            .ok_or(bad(7, "signer-key"))?;
        let sig_kind = SigKind::from_name(field("sig-kind")?).ok_or(bad(8, "sig-kind"))?;
        let signature =
            Signature::from_base64(sig_kind, field("sig")?).map_err(|_| bad(9, "sig"))?;
        let len = parse_u64(field("payload-bytes")?).ok_or(bad(10, "payload-bytes"))?;
        field("")?;
        if len != rest.len() as u64 {
            return Err(EntryError::PayloadLength);
        }
        let statement = Statement::parse(rest)?;
        if statement.kind() != kind {
            return Err(EntryError::KindMismatch);
        }
        let entry = Entry {
            index,
            received_ms,
            clock,
            signer,
            signer_key,
            signature,
            statement,
            bytes: bytes.to_vec(),
        };
        Ok(entry)
    }

    /// The exact bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// RFC 9162 leaf hash of the bytes.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.bytes)
    }
    /// Position in the log.
    pub fn index(&self) -> u64 {
        self.index
    }
    /// Appliance clock at receipt, unix milliseconds.
    pub fn received_ms(&self) -> u64 {
        self.received_ms
    }
    /// Whether that clock was synchronised.
    pub fn clock(&self) -> ClockState {
        self.clock
    }
    /// The statement kind.
    pub fn kind(&self) -> Kind {
        self.statement.kind()
    }
    /// The signer's enrolled name.
    pub fn signer(&self) -> &str {
        &self.signer
    }
    /// The signer's key.
    pub fn signer_key(&self) -> &VerifyingKey {
        &self.signer_key
    }
    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
    /// The statement.
    pub fn statement(&self) -> &Statement {
        &self.statement
    }
    /// Re-checks the stored signature over the statement (for audits): the proof that the
    /// recorded signer signed it, to be judged by [`crate::admission::admit`].
    pub fn verify(&self) -> Result<Verified, SigError> {
        sig::verify(
            self.statement.clone(),
            &self.signer,
            &self.signer_key,
            self.signature.clone(),
        )
    }
}
