//! State derived from the log and kept beside it, so a start need not fold every entry: the
//! display projection's snapshot (docs/format.md §6), and the reads that rebuild from it (the
//! entries of given kinds, entries by index, a range of entries).

use vigil_core::Entry;

use crate::tables::*;
use crate::{Store, StoreError, corrupt, lock};

impl Store {
    /// The projection snapshot saved last, if any (its bytes as saved; the caller decodes).
    pub fn load_projection(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.begin_read()?;
        let meta = r.open_table(META)?;
        Ok(meta.get(META_PROJECTION)?.map(|v| v.value().to_vec()))
    }

    /// Replaces the projection snapshot. Not part of the tree and never needed for the log's
    /// integrity: a lost or stale one only makes the next start fold more entries. Nothing is
    /// written while the log refuses writes.
    pub fn save_projection(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.writable().map_err(StoreError::NotWritable)?;
        let _writer = lock(&self.writer);
        let txn = self.begin_write()?;
        txn.open_table(META)?.insert(META_PROJECTION, bytes)?;
        txn.commit()?;
        Ok(())
    }

    /// The indices of every entry of the given kinds (`Kind::name`), ascending.
    pub fn indices_of_kinds(&self, kinds: &[&str]) -> Result<Vec<u64>, StoreError> {
        let r = self.begin_read()?;
        let t = r.open_table(BY_KIND)?;
        let mut out = Vec::new();
        for k in kinds {
            for item in t.range((*k, 0)..=(*k, u64::MAX))? {
                out.push(item?.0.value().1);
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The entries at `indices`, in the order given.
    pub fn entries_at(&self, indices: &[u64]) -> Result<Vec<Entry>, StoreError> {
        let r = self.begin_read()?;
        let t = r.open_table(ENTRIES)?;
        indices
            .iter()
            .map(|&i| {
                let v = t
                    .get(i)?
                    .ok_or_else(|| corrupt(&format!("entry {i} is missing")))?;
                Entry::decode(v.value())
                    .map_err(|e| corrupt(&format!("entry {i} does not decode: {e}")))
            })
            .collect()
    }

    /// Calls `f` on every entry from `from` on, in order.
    pub fn for_each_entry_from(
        &self,
        from: u64,
        mut f: impl FnMut(Entry),
    ) -> Result<(), StoreError> {
        let r = self.begin_read()?;
        let t = r.open_table(ENTRIES)?;
        for item in t.range(from..)? {
            let (k, v) = item?;
            let e = Entry::decode(v.value())
                .map_err(|e| corrupt(&format!("entry {} does not decode: {e}", k.value())))?;
            f(e);
        }
        Ok(())
    }
}
