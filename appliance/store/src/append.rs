//! Appending: one write transaction per batch, admission at the serialization point, receipts
//! made inside the transaction, the head published only once the commit is durable.

use redb::ReadableTable as _;
use vigil_core::Entry;
use vigil_core::TlogProof;
use vigil_core::merkle::{self, StoredId};

use crate::tables::*;
use crate::{
    Appended, Gate, Head, OpenGate, Refused, Store, StoreError, Submission, corrupt, encode_head,
    lock, sign, stored_hash,
};

impl Store {
    /// Appends a batch in one write transaction and signs the checkpoint for the new head.
    /// Per-submission refusals (replays) do not affect the others; a storage error fails the
    /// whole batch, nothing of it is acknowledged, and the log stops taking writes.
    pub fn append_batch(
        &self,
        batch: Vec<Submission>,
    ) -> Result<Vec<Result<Appended, Refused>>, StoreError> {
        self.append_batch_gated(batch, &mut OpenGate)
    }

    /// [`Store::append_batch`] with admission decided by `gate`.
    pub fn append_batch_gated(
        &self,
        batch: Vec<Submission>,
        gate: &mut dyn Gate,
    ) -> Result<Vec<Result<Appended, Refused>>, StoreError> {
        self.writable().map_err(StoreError::NotWritable)?;
        // The writer lock makes this the only writer; the head is published after the commit.
        let _writer = lock(&self.writer);
        let head = self.head();
        let result = self.write_batch(&head, batch, gate);
        match result {
            Ok((new_head, out)) => {
                *lock(&self.head) = new_head;
                gate.committed();
                Ok(out)
            }
            Err(e) => {
                gate.abandoned();
                // The on-disk state is whatever the last commit left; a reopen re-checks it
                // (Store::recover).
                *lock(&self.writable) = Err(format!("a write failed: {e}"));
                self.recoverable
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Err(e)
            }
        }
    }

    fn write_batch(
        &self,
        head: &Head,
        batch: Vec<Submission>,
        gate: &mut dyn Gate,
    ) -> Result<(Head, Vec<Result<Appended, Refused>>), StoreError> {
        let txn = self.begin_write()?;
        let mut out = Vec::with_capacity(batch.len());
        let mut size = head.size;
        {
            let mut t = Tables::open(&txn)?;
            for sub in batch {
                let v = &sub.verified;
                let st = v.statement();
                if let Some(existing) = t.nonces.get((v.signer(), st.nonce()))?.map(|g| g.value()) {
                    // The signer used this nonce before: an exact retry of what it logged then
                    // gets that entry back; other bytes under the same nonce are a replay.
                    let stored = t
                        .entries
                        .get(existing)?
                        .ok_or_else(|| corrupt("a nonce names a missing entry"))?;
                    let logged = Entry::decode(stored.value())
                        .map_err(|e| corrupt(&format!("entry {existing}: {e}")))?;
                    drop(stored);
                    if logged.statement().bytes() == st.bytes() {
                        out.push(Ok(Appended {
                            index: existing,
                            leaf: logged.leaf_hash(),
                            created: false,
                            receipt: None,
                        }));
                    } else {
                        out.push(Err(Refused::Replay(existing)));
                    }
                    continue;
                }
                if let Err(why) = gate.admit(&sub) {
                    out.push(Err(Refused::Denied(why)));
                    continue;
                }
                let index = size;
                let entry = Entry::new(index, sub.received_ms, sub.clock, v);
                let leaf = entry.leaf_hash();
                t.entries.insert(index, entry.bytes())?;
                let hashes = &mut t.hashes;
                let new =
                    merkle::hashes_to_store(index, leaf, |id: StoredId| stored_hash(hashes, id))?;
                for (id, h) in new {
                    t.hashes.insert((id.level, id.index), &h)?;
                }
                t.nonces.insert((v.signer(), st.nonce()), index)?;
                t.index_entry(&entry)?;
                gate.appended(&entry);
                size += 1;
                out.push(Ok(Appended {
                    index,
                    leaf,
                    created: true,
                    receipt: None,
                }));
            }
            if size == head.size {
                // Nothing new: no commit, no new checkpoint.
                drop(t);
                txn.abort()?;
                return Ok((head.clone(), out));
            }
            let root = merkle::tree_hash(size, |id: StoredId| stored_hash(&t.hashes, id))?;
            let note = sign(&self.signer, size, root)?;
            for a in out.iter_mut().flatten().filter(|a| a.created) {
                let ranges = merkle::inclusion_ranges(a.index, size)
                    .map_err(|e| corrupt(&format!("receipt of entry {}: {e}", a.index)))?;
                let hashes = merkle::resolve(&ranges, |id: StoredId| stored_hash(&t.hashes, id))?;
                a.receipt = Some(TlogProof {
                    extra: None,
                    index: a.index,
                    hashes,
                    checkpoint: note.clone(),
                });
            }
            t.meta
                .insert(META_HEAD, encode_head(size, &root).as_slice())?;
            t.checkpoints.insert(size, note.as_str())?;
            drop(t);
            txn.commit()?;
            // Published only after the commit is durable.
            Ok((
                Head {
                    size,
                    root,
                    checkpoint: note,
                },
                out,
            ))
        }
    }
}
