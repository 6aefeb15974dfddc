//! The start-up self-check: the stored tree, head and checkpoint against the entry bytes.

use redb::{ReadableTable as _, ReadableTableMetadata as _};
use vigil_core::merkle::{self, Hash};
use vigil_core::{Checkpoint, Entry};

use crate::tables::*;
use crate::{Head, Store, StoreError, corrupt, stored_hash_count};

impl Store {
    /// The start-up self-check (docs/spec.md §4): rebuilds the tree from the entry bytes, compares every
    /// stored hash, the stored head and the last signed checkpoint. Returns the verified head.
    pub fn self_check(&self) -> Result<Head, StoreError> {
        let head = self.stored_head()?;
        let r = self.begin_read()?;
        let meta = r.open_table(META)?;
        let stored_origin = meta
            .get(META_ORIGIN)?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        if stored_origin != self.origin().as_bytes() {
            return Err(corrupt(&format!(
                "the log was created for origin `{}`, not `{}`",
                String::from_utf8_lossy(&stored_origin),
                self.origin()
            )));
        }
        let entries = r.open_table(ENTRIES)?;
        let hashes = r.open_table(HASHES)?;
        // Streaming rebuild: `stack` holds the roots of complete subtrees not yet paired.
        let mut stack: Vec<(u8, Hash)> = Vec::new();
        let mut n = 0u64;
        for item in entries.iter()? {
            let (k, v) = item?;
            if k.value() != n {
                return Err(corrupt(&format!(
                    "entry {n} is missing (found {})",
                    k.value()
                )));
            }
            let entry = Entry::decode(v.value())
                .map_err(|e| corrupt(&format!("entry {n} does not decode: {e}")))?;
            if entry.index() != n {
                return Err(corrupt(&format!(
                    "entry {n} says it is entry {}",
                    entry.index()
                )));
            }
            let (mut level, mut h) = (0u8, entry.leaf_hash());
            let check = |level: u8, index: u64, h: &Hash| -> Result<(), StoreError> {
                match hashes.get((level, index))? {
                    Some(s) if s.value() == h => Ok(()),
                    Some(_) => Err(corrupt(&format!(
                        "stored hash ({level}, {index}) does not match the entries"
                    ))),
                    None => Err(corrupt(&format!(
                        "stored hash ({level}, {index}) is missing"
                    ))),
                }
            };
            check(0, n, &h)?;
            while stack.last().is_some_and(|(l, _)| *l == level) {
                let (_, left) = stack.pop().unwrap_or_default();
                h = merkle::node_hash(&left, &h);
                level += 1;
                check(level, n >> level, &h)?;
            }
            stack.push((level, h));
            n += 1;
        }
        if n != head.size {
            return Err(corrupt(&format!(
                "the head says {} entries but {n} are stored",
                head.size
            )));
        }
        if hashes.len()? != stored_hash_count(n) {
            return Err(corrupt("the hash table holds hashes no entry accounts for"));
        }
        let root = stack.iter().rev().fold(None, |acc: Option<Hash>, (_, h)| {
            Some(match acc {
                None => *h,
                Some(right) => merkle::node_hash(h, &right),
            })
        });
        let root = root.unwrap_or_else(merkle::empty_root);
        if root != head.root {
            return Err(corrupt("the stored head's root does not match the tree"));
        }
        let cp = Checkpoint::verify(&head.checkpoint, self.signer.verifier())
            .map_err(|e| corrupt(&format!("the last checkpoint does not verify: {e}")))?;
        if cp.size != head.size || cp.root != head.root {
            return Err(corrupt(
                "the last checkpoint does not match the stored head",
            ));
        }
        Ok(head)
    }
}
