//! The JSON the appliance answers with (docs/spec.md §5), one type each for the daemon that
//! writes it and the CLI and tests that read it.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::checkpoint::TlogProof;
use crate::entry::Entry;
use crate::merkle::Hash;

/// The answer to an accepted statement: where it is, and the proof that it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The entry's index.
    pub index: u64,
    /// Base64 of the entry's RFC 9162 leaf hash.
    pub entry_hash: String,
    /// The tlog-proof text (inclusion proof and signed checkpoint).
    pub proof: String,
}

impl Receipt {
    /// The receipt of entry `index` with leaf hash `leaf`, proven by `proof`.
    pub fn new(index: u64, leaf: Hash, proof: &TlogProof) -> Receipt {
        Receipt {
            index,
            entry_hash: STANDARD.encode(leaf),
            proof: proof.to_text(),
        }
    }

    /// The leaf hash, if `entry_hash` is base64 of 32 bytes.
    pub fn leaf(&self) -> Option<Hash> {
        STANDARD
            .decode(&self.entry_hash)
            .ok()
            .and_then(|b| b.try_into().ok())
    }
}

/// One entry as `GET /v1/log/entries` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryView {
    /// Index.
    pub index: u64,
    /// Appliance clock when it arrived, unix milliseconds.
    pub received: u64,
    /// `synced` or `unsynced`.
    pub clock: String,
    /// Kind name (`alert`, `ack`, …).
    pub kind: String,
    /// Enrolled signer name.
    pub signer: String,
    /// The statement's headers.
    pub headers: BTreeMap<String, String>,
    /// The statement's body.
    pub body: String,
    /// Base64 of the leaf hash.
    pub entry_hash: String,
}

impl From<&Entry> for EntryView {
    fn from(e: &Entry) -> Self {
        EntryView {
            index: e.index(),
            received: e.received_ms(),
            clock: e.clock().name().to_owned(),
            kind: e.kind().name().to_owned(),
            signer: e.signer().to_owned(),
            headers: e.statement().headers().iter().cloned().collect(),
            body: e.statement().body().to_owned(),
            entry_hash: STANDARD.encode(e.leaf_hash()),
        }
    }
}

/// A page of entries, and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesPage {
    /// The entries, in log order.
    pub entries: Vec<EntryView>,
    /// `from` for the next page; `None` at the end.
    pub next: Option<u64>,
}

/// A refusal's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The stable code (docs/api.md).
    pub error: String,
    /// One sentence for a person.
    pub detail: String,
}

/// The body of `GET /v1/log/consistency`: one base64 hash a line.
pub fn hash_lines(hashes: &[Hash]) -> String {
    hashes
        .iter()
        .map(|h| format!("{}\n", STANDARD.encode(h)))
        .collect()
}

/// Reads [`hash_lines`] back; `None` if a line is not base64 of 32 bytes.
pub fn parse_hash_lines(text: &str) -> Option<Vec<Hash>> {
    text.lines()
        .map(|l| STANDARD.decode(l).ok().and_then(|b| b.try_into().ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_lines_round_trip_and_refuse_a_bad_line() {
        let hashes = [[1u8; 32], [2u8; 32]];
        assert_eq!(
            parse_hash_lines(&hash_lines(&hashes)),
            Some(hashes.to_vec())
        );
        assert_eq!(parse_hash_lines(""), Some(vec![]));
        assert_eq!(parse_hash_lines("AAAA\n"), None, "not 32 bytes");
        assert_eq!(parse_hash_lines("not base64!\n"), None);
    }
}
