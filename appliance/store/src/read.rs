//! Reads: entries, the retry lookup, proofs from stored hashes, and the walk over every entry.

use vigil_core::merkle::{self, Hash, StoredId};
use vigil_core::tiles::{self, Tile, TileKind};
use vigil_core::{Entry, Statement, TlogProof};

use crate::tables::*;
use crate::{Store, StoreError, corrupt, stored_hash};

impl Store {
    /// The raw bytes of entry `index`.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.begin_read()?;
        let t = r.open_table(ENTRIES)?;
        Ok(t.get(index)?.map(|v| v.value().to_vec()))
    }

    /// The entry where `signer` logged exactly `statement` (same nonce, same bytes), if any: an
    /// idempotent re-submission.
    pub fn find_logged(
        &self,
        signer: &str,
        statement: &Statement,
    ) -> Result<Option<Entry>, StoreError> {
        let r = self.begin_read()?;
        let nonces = r.open_table(NONCES)?;
        let Some(index) = nonces.get((signer, statement.nonce()))?.map(|g| g.value()) else {
            return Ok(None);
        };
        let entries = r.open_table(ENTRIES)?;
        let stored = entries
            .get(index)?
            .ok_or_else(|| corrupt("a nonce names a missing entry"))?;
        let e =
            Entry::decode(stored.value()).map_err(|e| corrupt(&format!("entry {index}: {e}")))?;
        Ok((e.statement().bytes() == statement.bytes()).then_some(e))
    }

    fn read_hash(&self) -> Result<impl FnMut(StoredId) -> Result<Hash, StoreError>, StoreError> {
        let r = self.begin_read()?;
        let t = r.open_table(HASHES)?;
        Ok(move |id: StoredId| {
            let _keep = &r;
            stored_hash(&t, id)
        })
    }

    /// Inclusion proof of `index` in the tree of `size` (≤ the current size).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(size)?;
        let ranges = merkle::inclusion_ranges(index, size)
            .map_err(|e| StoreError::OutOfRange(e.to_string()))?;
        merkle::resolve(&ranges, self.read_hash()?)
    }

    /// Consistency proof from `old` to `new` (≤ the current size).
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_size(new)?;
        let ranges = merkle::consistency_ranges(old, new)
            .map_err(|e| StoreError::OutOfRange(e.to_string()))?;
        merkle::resolve(&ranges, self.read_hash()?)
    }

    /// The C2SP tlog-proof of `index` against the latest checkpoint (the receipt's proof).
    pub fn tlog_proof(&self, index: u64) -> Result<TlogProof, StoreError> {
        let head = self.head();
        let hashes = self.inclusion_proof(index, head.size)?;
        Ok(TlogProof {
            extra: None,
            index,
            hashes,
            checkpoint: head.checkpoint,
        })
    }

    /// The bytes of a C2SP tile or entry bundle of the current tree (docs/spec.md §4): `None`
    /// while the tree holds fewer hashes or entries there than the tile's width. A tile that is
    /// served never changes: the hashes and entries it is made of are never rewritten.
    pub fn tile(&self, tile: &Tile) -> Result<Option<Vec<u8>>, StoreError> {
        let size = self.head().size;
        let (first, width) = (tile.first(), u64::from(tile.width));
        let r = self.begin_read()?;
        match tile.kind {
            TileKind::Hashes { level } => {
                if tiles::level_width(size, level) < first + width {
                    return Ok(None);
                }
                let height = (u32::from(level) * tiles::TILE_HEIGHT) as u8;
                let t = r.open_table(HASHES)?;
                let mut out = Vec::with_capacity(width as usize * 32);
                for item in t.range((height, first)..(height, first + width))? {
                    out.extend_from_slice(item?.1.value());
                }
                if out.len() as u64 != width * 32 {
                    return Err(corrupt(&format!("{} misses stored hashes", tile.path())));
                }
                Ok(Some(out))
            }
            TileKind::Entries => {
                if size < first + width {
                    return Ok(None);
                }
                let t = r.open_table(ENTRIES)?;
                let mut entries = Vec::with_capacity(width as usize);
                for item in t.range(first..first + width)? {
                    entries.push(item?.1.value().to_vec());
                }
                if entries.len() as u64 != width {
                    return Err(corrupt(&format!("{} misses entries", tile.path())));
                }
                Ok(Some(tiles::write_bundle(entries.iter().map(Vec::as_slice))))
            }
        }
    }

    fn check_size(&self, size: u64) -> Result<(), StoreError> {
        let cur = self.head().size;
        if size > cur {
            return Err(StoreError::OutOfRange(format!(
                "tree size {size} is beyond the log's {cur}"
            )));
        }
        Ok(())
    }
}
