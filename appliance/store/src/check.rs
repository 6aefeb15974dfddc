//! The self-checks: the stored tree, head and checkpoint against the entry bytes.
//!
//! - The full check ([`Store::self_check`]) rebuilds the tree from every entry and compares
//!   every stored hash, the stored head and the last signed checkpoint.
//! - The quick check at start-up (issue 16) checks what a start can check in milliseconds: the
//!   head against the last checkpoint (signature included), the root of the stored hashes
//!   against the head, the counts, and every entry appended since the last full check passed
//!   (its `checked` mark in `meta`). The full check it owes then runs in the background
//!   ([`Store::finish_check`]), in slices with pauses; a mismatch it finds turns the log
//!   read-only with the reason, as a failed check at start does.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata};
use vigil_core::merkle::{self, Hash, StoredId};
use vigil_core::{Checkpoint, Entry};

use crate::tables::*;
use crate::{Head, Store, StoreError, corrupt, decode_head, lock, stored_hash, stored_hash_count};

/// Entries the background check reads in one read transaction before it pauses.
const SLICE: u64 = 8192;

/// The tree rebuilt from the entry bytes in order, checking every stored hash on the way.
#[derive(Default)]
struct Rebuild {
    /// The roots of complete subtrees not yet paired.
    stack: Vec<(u8, Hash)>,
    /// Entries fed so far.
    n: u64,
}

impl Rebuild {
    fn feed(
        &mut self,
        key: u64,
        bytes: &[u8],
        hashes: &impl ReadableTable<(u8, u64), &'static [u8; 32]>,
    ) -> Result<(), StoreError> {
        let n = self.n;
        let entry = entry_at(n, key, bytes)?;
        let (mut level, mut h) = (0u8, entry.leaf_hash());
        expect_stored(hashes, 0, n, &h)?;
        while self.stack.last().is_some_and(|(l, _)| *l == level) {
            let (_, left) = self.stack.pop().unwrap_or_default();
            h = merkle::node_hash(&left, &h);
            level += 1;
            expect_stored(hashes, level, n >> level, &h)?;
        }
        self.stack.push((level, h));
        self.n += 1;
        Ok(())
    }

    fn root(&self) -> Hash {
        self.stack
            .iter()
            .rev()
            .fold(None, |acc: Option<Hash>, (_, h)| {
                Some(match acc {
                    None => *h,
                    Some(right) => merkle::node_hash(h, &right),
                })
            })
            .unwrap_or_else(merkle::empty_root)
    }
}

/// The entry stored under `key`, which must be entry `n`: present at its place, decoding, and
/// naming that index itself.
fn entry_at(n: u64, key: u64, bytes: &[u8]) -> Result<Entry, StoreError> {
    if key != n {
        return Err(corrupt(&format!("entry {n} is missing (found {key})")));
    }
    let entry =
        Entry::decode(bytes).map_err(|e| corrupt(&format!("entry {n} does not decode: {e}")))?;
    if entry.index() != n {
        return Err(corrupt(&format!(
            "entry {n} says it is entry {}",
            entry.index()
        )));
    }
    Ok(entry)
}

/// The hash table holds exactly the complete subtrees of a tree of `size` leaves.
fn expect_hash_count(hashes: &impl ReadableTableMetadata, size: u64) -> Result<(), StoreError> {
    if hashes.len()? != stored_hash_count(size) {
        return Err(corrupt("the hash table holds hashes no entry accounts for"));
    }
    Ok(())
}

fn expect_stored(
    hashes: &impl ReadableTable<(u8, u64), &'static [u8; 32]>,
    level: u8,
    index: u64,
    h: &Hash,
) -> Result<(), StoreError> {
    match hashes.get((level, index))? {
        Some(s) if s.value() == h => Ok(()),
        Some(_) => Err(corrupt(&format!(
            "stored hash ({level}, {index}) does not match the entries"
        ))),
        None => Err(corrupt(&format!(
            "stored hash ({level}, {index}) is missing"
        ))),
    }
}

impl Store {
    /// The full self-check (docs/spec.md §4) on one snapshot: rebuilds the tree from the entry
    /// bytes, compares every stored hash, the stored head and the last signed checkpoint.
    /// Returns the verified head.
    pub fn self_check(&self) -> Result<Head, StoreError> {
        let r = self.begin_read()?;
        let head = head_in(&r)?;
        self.check_origin(&r)?;
        let entries = r.open_table(ENTRIES)?;
        let hashes = r.open_table(HASHES)?;
        let mut rebuild = Rebuild::default();
        for item in entries.iter()? {
            let (k, v) = item?;
            rebuild.feed(k.value(), v.value(), &hashes)?;
        }
        if rebuild.n != head.size {
            return Err(corrupt(&format!(
                "the head says {} entries but {} are stored",
                head.size, rebuild.n
            )));
        }
        expect_hash_count(&hashes, rebuild.n)?;
        if rebuild.root() != head.root {
            return Err(corrupt("the stored head's root does not match the tree"));
        }
        self.check_checkpoint(&head)?;
        Ok(head)
    }

    /// The quick check at start-up (module docs). `None` when no full check ever passed on
    /// this log (no `checked` mark): then only the full check will do.
    pub(crate) fn quick_check(&self) -> Result<Option<Head>, StoreError> {
        let r = self.begin_read()?;
        let Some(checked) = checked_in(&r)? else {
            return Ok(None);
        };
        let head = head_in(&r)?;
        self.check_origin(&r)?;
        if checked > head.size {
            return Err(corrupt(&format!(
                "the log holds {} entries but {checked} passed an earlier check",
                head.size
            )));
        }
        self.check_checkpoint(&head)?;
        let entries = r.open_table(ENTRIES)?;
        let hashes = r.open_table(HASHES)?;
        if entries.len()? != head.size {
            return Err(corrupt(&format!(
                "the head says {} entries but {} are stored",
                head.size,
                entries.len()?
            )));
        }
        expect_hash_count(&hashes, head.size)?;
        let root = merkle::tree_hash(head.size, |id: StoredId| stored_hash(&hashes, id))?;
        if root != head.root {
            return Err(corrupt("the stored hashes do not give the head's root"));
        }
        Self::check_tail(&entries, &hashes, checked, head.size)?;
        Ok(Some(head))
    }

    /// Checks the entries appended since the `checked` mark as the quick start does (each
    /// leaf and each subtree it completes, from the stored children) and raises the mark to the
    /// head: vigild calls it every minute, so a restart checks at most about a minute of new
    /// entries before serving. A mismatch turns the log read-only with the reason, as at start.
    /// Returns how many entries it checked; nothing while the log has no mark yet (its first
    /// full check has not passed).
    pub fn check_recent(&self) -> Result<u64, StoreError> {
        let (from, size) = {
            let r = self.begin_read()?;
            let Some(checked) = checked_in(&r)? else {
                return Ok(0);
            };
            let size = head_in(&r)?.size;
            if checked >= size {
                return Ok(0);
            }
            let entries = r.open_table(ENTRIES)?;
            let hashes = r.open_table(HASHES)?;
            match Self::check_tail(&entries, &hashes, checked, size) {
                Ok(()) => (checked, size),
                Err(StoreError::Corrupt(why)) => {
                    *lock(&self.writable) = Err(why.clone());
                    self.recoverable.store(false, Ordering::SeqCst);
                    return Err(StoreError::Corrupt(why));
                }
                Err(e) => return Err(e),
            }
        };
        self.mark_checked(size);
        Ok(size - from)
    }

    /// Entries `from..size`: each at its place and decoding, its leaf hash stored, and each
    /// subtree it completes stored as the hash of its stored children.
    fn check_tail(
        entries: &impl ReadableTable<u64, &'static [u8]>,
        hashes: &impl ReadableTable<(u8, u64), &'static [u8; 32]>,
        from: u64,
        size: u64,
    ) -> Result<(), StoreError> {
        let mut next = from;
        for item in entries.range(from..)? {
            let (k, v) = item?;
            let i = next;
            let entry = entry_at(i, k.value(), v.value())?;
            expect_stored(hashes, 0, i, &entry.leaf_hash())?;
            let (mut level, mut index) = (0u8, i);
            while index & 1 == 1 {
                let left = stored_hash(
                    hashes,
                    StoredId {
                        level,
                        index: index - 1,
                    },
                )?;
                let right = stored_hash(hashes, StoredId { level, index })?;
                level += 1;
                index >>= 1;
                expect_stored(hashes, level, index, &merkle::node_hash(&left, &right))?;
            }
            next += 1;
        }
        if next != size {
            return Err(corrupt(&format!(
                "the head says {size} entries but the last is entry {}",
                next.saturating_sub(1)
            )));
        }
        Ok(())
    }

    /// Runs the full check a quick start owes, if it owes one: on the log as it was when the
    /// check began (entries are never rewritten, so slices read in later transactions see the
    /// same bytes), a slice of entries at a time with a pause as long as the slice took, so it
    /// takes at most about half of one core from serving. A mismatch turns the log read-only
    /// with the reason and is returned; a pass records the checked size, so the next start
    /// checks only what comes after it.
    pub fn finish_check(&self) -> Result<(), StoreError> {
        if !self.check_owed.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        match self.sliced_full_check() {
            Ok(size) => {
                self.mark_checked(size);
                Ok(())
            }
            Err(StoreError::Corrupt(why)) => {
                *lock(&self.writable) = Err(why.clone());
                self.recoverable.store(false, Ordering::SeqCst);
                Err(StoreError::Corrupt(why))
            }
            Err(e) => {
                // Storage trouble, not a verdict: the check is still owed.
                self.check_owed.store(true, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    /// Whether a full check is still owed (a quick start whose background check has not
    /// finished).
    pub fn check_owed(&self) -> bool {
        self.check_owed.load(Ordering::SeqCst)
    }

    fn sliced_full_check(&self) -> Result<u64, StoreError> {
        // The head and the hash count of one snapshot: the log as it was when the check began.
        let head = {
            let r = self.begin_read()?;
            let head = head_in(&r)?;
            expect_hash_count(&r.open_table(HASHES)?, head.size)?;
            head
        };
        let mut rebuild = Rebuild::default();
        while rebuild.n < head.size {
            let began = Instant::now();
            {
                let r = self.begin_read()?;
                let entries = r.open_table(ENTRIES)?;
                let hashes = r.open_table(HASHES)?;
                let end = head.size.min(rebuild.n + SLICE);
                for item in entries.range(rebuild.n..end)? {
                    let (k, v) = item?;
                    rebuild.feed(k.value(), v.value(), &hashes)?;
                }
                if rebuild.n != end {
                    return Err(corrupt(&format!("entry {} is missing", rebuild.n)));
                }
            }
            if rebuild.n < head.size {
                std::thread::sleep(began.elapsed().min(Duration::from_millis(200)));
            }
        }
        if rebuild.root() != head.root {
            return Err(corrupt("the stored head's root does not match the tree"));
        }
        self.check_checkpoint(&head)?;
        Ok(head.size)
    }

    /// Records that the first `size` entries passed a full check (only ever raised), so the
    /// next start can be quick. A mark that cannot be written (a full disk) is no fault of the
    /// log: it only means the next start reads more.
    pub(crate) fn mark_checked(&self, size: u64) {
        let _ = self.try_mark_checked(size);
    }

    fn try_mark_checked(&self, size: u64) -> Result<(), StoreError> {
        if self.writable().is_err() {
            return Ok(());
        }
        let _writer = lock(&self.writer);
        let txn = self.begin_write()?;
        let raised = {
            let mut meta = txn.open_table(META)?;
            let before = match meta.get(META_CHECKED)? {
                Some(v) => Some(decode_checked(v.value())?),
                None => None,
            };
            let raised = before.is_none_or(|b| size > b);
            if raised {
                meta.insert(META_CHECKED, size.to_be_bytes().as_slice())?;
            }
            raised
        };
        if raised {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(())
    }

    fn check_origin(&self, r: &ReadTransaction) -> Result<(), StoreError> {
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
        Ok(())
    }

    fn check_checkpoint(&self, head: &Head) -> Result<(), StoreError> {
        let cp = Checkpoint::verify(&head.checkpoint, self.signer.verifier())
            .map_err(|e| corrupt(&format!("the last checkpoint does not verify: {e}")))?;
        if cp.size != head.size || cp.root != head.root {
            return Err(corrupt(
                "the last checkpoint does not match the stored head",
            ));
        }
        Ok(())
    }
}

/// The stored head and latest checkpoint of a snapshot, unchecked.
pub(crate) fn head_in(r: &ReadTransaction) -> Result<Head, StoreError> {
    let meta = r.open_table(META)?;
    let (size, root) = decode_head(
        meta.get(META_HEAD)?
            .ok_or_else(|| corrupt("no stored head"))?
            .value(),
    )?;
    let cps = r.open_table(CHECKPOINTS)?;
    let checkpoint = cps
        .last()?
        .map(|(_, v)| v.value().to_owned())
        .ok_or_else(|| corrupt("no checkpoint"))?;
    Ok(Head {
        size,
        root,
        checkpoint,
    })
}

fn checked_in(r: &ReadTransaction) -> Result<Option<u64>, StoreError> {
    let meta = r.open_table(META)?;
    let v = meta.get(META_CHECKED)?;
    v.map(|v| decode_checked(v.value())).transpose()
}

fn decode_checked(b: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = b
        .try_into()
        .map_err(|_| corrupt("the checked mark is not 8 bytes"))?;
    Ok(u64::from_be_bytes(b))
}
