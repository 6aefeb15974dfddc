//! Appending: one write transaction per batch, admission at the serialization point, receipts
//! made inside the transaction, the head published only once the batch is durable (its journal
//! record synced, or its redb commit durable for a log without a journal: journal.rs).

use redb::{Durability, ReadableTable as _};
use vigil_core::Entry;
use vigil_core::TlogProof;
use vigil_core::merkle::{self, StoredId};

use crate::journal::Record;

use crate::tables::*;
use crate::{
    Appended, Gate, Head, OpenGate, Refused, Store, StoreError, Submission, corrupt, lock, sign,
    stored_hash,
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
                self.write_failed(&e);
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
        let mut journal = lock(&self.journal);
        let mut txn = self.begin_write()?;
        let mut out = Vec::with_capacity(batch.len());
        let mut added = Vec::with_capacity(batch.len());
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
                t.put(&entry)?;
                gate.appended(&entry);
                added.push(entry);
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
            t.set_head(size, &root, &note)?;
            drop(t);
            match journal.as_mut() {
                Some(j) => {
                    let record = Record::encode(head.size, &note, added.iter().map(Entry::bytes));
                    if j.fits(record.len()) {
                        // Durable once the record is synced; redb takes the batch in memory and
                        // writes it with a later durable commit (journal.rs).
                        txn.set_durability(Durability::None)?;
                        j.append(&record).map_err(|e| StoreError::Db(e.into()))?;
                        txn.commit()?;
                    } else {
                        // The journal is full: this commit makes everything durable in redb, and
                        // the journal starts a new round.
                        txn.commit()?;
                        j.restart();
                    }
                }
                None => txn.commit()?,
            }
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

impl Store {
    /// Makes everything the journal holds durable in redb and starts the journal's next round.
    /// The committer calls it when it is idle and when it stops; a log without a journal has
    /// nothing to do. Returns whether there was anything to make durable.
    pub fn persist(&self) -> Result<bool, StoreError> {
        let _writer = lock(&self.writer);
        let mut journal = lock(&self.journal);
        let Some(j) = journal.as_mut().filter(|j| j.dirty()) else {
            return Ok(false);
        };
        if self.writable().is_err() {
            // A failed write left the database in doubt: the journal stays as it is for the
            // reopen (Store::recover) to replay.
            return Ok(false);
        }
        match self
            .begin_write()
            .and_then(|txn| txn.commit().map_err(StoreError::from))
        {
            Ok(()) => {
                j.restart();
                Ok(true)
            }
            Err(e) => {
                self.write_failed(&e);
                Err(e)
            }
        }
    }

    /// After a failed write (a full disk, an I/O error): no more writes until a reopen has
    /// re-checked what is on disk and replayed the journal ([`Store::recover`]).
    fn write_failed(&self, e: &StoreError) {
        *lock(&self.writable) = Err(format!("a write failed: {e}"));
        self.recoverable
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Replays the journal's records past redb's last durable commit (after a crash or a
    /// failed write), each checked against the checkpoint it carries, and commits them durably.
    /// Returns how many entries it replayed.
    pub(crate) fn replay_journal(&self) -> Result<u64, StoreError> {
        let _writer = lock(&self.writer);
        self.replay_journal_held()
    }

    /// [`Store::replay_journal`] for a caller that holds the writer lock.
    pub(crate) fn replay_journal_held(&self) -> Result<u64, StoreError> {
        let mut journal = lock(&self.journal);
        let Some(j) = journal.as_mut() else {
            return Ok(0);
        };
        let records = j.read().map_err(|e| StoreError::Db(e.into()))?;
        let head = crate::check::head_in(&self.begin_read()?)?;
        let mut size = head.size;
        let txn = self.begin_write()?;
        {
            let mut t = Tables::open(&txn)?;
            for r in records.iter().filter(|r| r.end() > head.size) {
                if r.first > size {
                    return Err(corrupt(&format!(
                        "the journal continues the log from entry {} but the log holds {size} \
                         entries",
                        r.first
                    )));
                }
                for (index, bytes) in (r.first..).zip(&r.entries) {
                    if index < size {
                        continue;
                    }
                    let entry = Entry::decode(bytes).map_err(|e| {
                        corrupt(&format!("journal: entry {index} does not decode: {e}"))
                    })?;
                    if entry.index() != index {
                        return Err(corrupt(&format!(
                            "journal: entry {index} says it is entry {}",
                            entry.index()
                        )));
                    }
                    t.put(&entry)?;
                    size += 1;
                }
                let root = merkle::tree_hash(size, |id: StoredId| stored_hash(&t.hashes, id))?;
                // Signatures are deterministic: the checkpoint signed for the replayed tree is
                // the one the batch's receipts carry exactly when the tree is the same.
                if sign(&self.signer, size, root)? != r.checkpoint {
                    return Err(corrupt(&format!(
                        "journal: the entries up to {size} do not give the checkpoint their \
                         batch was acknowledged with"
                    )));
                }
                t.set_head(size, &root, &r.checkpoint)?;
            }
        }
        if size == head.size {
            txn.abort()?;
        } else {
            txn.commit()?;
        }
        j.restart();
        Ok(size - head.size)
    }
}
