//! The write-ahead journal (docs/format.md §8): what makes a batch durable when the log has one.
//!
//! A durable redb commit writes every page the batch touched (entries, hashes, nonces, indexes,
//! head, checkpoint, redb's own trees) at scattered offsets and syncs them: on this machine 1.4 ms
//! and a sixth of a core at 100 alerts/s; on an SD card, several milliseconds. With a journal the
//! writer commits each batch to redb without durability (redb keeps it in memory and serves it to
//! readers at once) and makes it durable by appending one record to a preallocated file and
//! syncing that: one contiguous write and one sync. redb is committed durably only when the
//! journal is full or the writer is idle; the journal then starts again at its beginning.
//!
//! At open, the records after redb's last durable commit are replayed through the same insertion
//! path, and the checkpoint each record carries is compared with the root the replay computes.
//! The journal holds only bytes that are also the log's (entries and checkpoints), so it needs
//! no protection of its own beyond the tree's: a record that was changed fails its digest or
//! the root comparison.
//!
//! Record: `b"vigiljr1"` ‖ body length (u32 BE) ‖ body ‖ SHA-256 leaf hash of (length ‖ body).
//! Body: first index (u64 BE) ‖ count (u32 BE) ‖ checkpoint length (u32 BE) ‖ checkpoint note
//! ‖ count × (entry length (u32 BE) ‖ entry bytes). Records follow one another from offset 0; a
//! reader stops at the first record that is torn, fails its digest, or does not continue the
//! index of the record before it (what is left of an earlier round).

use redb::StorageBackend;
use vigil_core::merkle;

/// The journal's size: preallocated, so an append is an overwrite of blocks already allocated
/// (its sync writes no file-system metadata) and a full disk cannot stop it.
pub const JOURNAL_BYTES: u64 = 4 << 20;

const MAGIC: &[u8; 8] = b"vigiljr1";
const HEADER: usize = MAGIC.len() + 4;
const DIGEST: usize = 32;

/// One batch as the journal holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// Index of the first entry.
    pub first: u64,
    /// The checkpoint signed for `first + entries.len()`.
    pub checkpoint: String,
    /// The entry bytes, in log order.
    pub entries: Vec<Vec<u8>>,
}

impl Record {
    /// The record's bytes as written.
    pub(crate) fn encode<'a>(
        first: u64,
        checkpoint: &str,
        entries: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
    ) -> Vec<u8> {
        let count = entries.len();
        let body_len =
            8 + 4 + 4 + checkpoint.len() + entries.clone().map(|e| 4 + e.len()).sum::<usize>();
        let mut out = Vec::with_capacity(HEADER + body_len + DIGEST);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&u32_of(body_len).to_be_bytes());
        out.extend_from_slice(&first.to_be_bytes());
        out.extend_from_slice(&u32_of(count).to_be_bytes());
        out.extend_from_slice(&u32_of(checkpoint.len()).to_be_bytes());
        out.extend_from_slice(checkpoint.as_bytes());
        for e in entries {
            out.extend_from_slice(&u32_of(e.len()).to_be_bytes());
            out.extend_from_slice(e);
        }
        let digest = merkle::leaf_hash(&out[MAGIC.len()..]);
        out.extend_from_slice(&digest);
        out
    }

    /// The record at the start of `b` and its length in bytes; `None` when there is none (torn,
    /// zeros, a digest that does not match, a body that does not parse).
    fn decode(b: &[u8]) -> Option<(Record, usize)> {
        let magic = b.get(..MAGIC.len())?;
        if magic != MAGIC {
            return None;
        }
        let body_len = usize::try_from(be_u32(b.get(MAGIC.len()..HEADER)?)?).ok()?;
        let end = HEADER.checked_add(body_len)?;
        let digest = b.get(end..end.checked_add(DIGEST)?)?;
        if merkle::leaf_hash(&b[MAGIC.len()..end]) != digest {
            return None;
        }
        let mut body = Reader(&b[HEADER..end]);
        let first = u64::from_be_bytes(body.take(8)?.try_into().ok()?);
        let count = be_u32(body.take(4)?)?;
        let cp_len = usize::try_from(be_u32(body.take(4)?)?).ok()?;
        let checkpoint = String::from_utf8(body.take(cp_len)?.to_vec()).ok()?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let len = usize::try_from(be_u32(body.take(4)?)?).ok()?;
            entries.push(body.take(len)?.to_vec());
        }
        if !body.0.is_empty() || entries.is_empty() {
            return None;
        }
        Some((
            Record {
                first,
                checkpoint,
                entries,
            },
            end + DIGEST,
        ))
    }

    /// Index just past the record's last entry.
    pub(crate) fn end(&self) -> u64 {
        self.first + self.entries.len() as u64
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

fn u32_of(n: usize) -> u32 {
    // Bounded by the statement limit and MAX_BATCH, far below 4 GiB; a record that did not fit
    // would not fit the journal either and is committed to redb durably instead.
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The records of one round, in order: from offset 0 while each record parses and continues
/// the one before it.
pub(crate) fn records(b: &[u8]) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut at = 0;
    while let Some((r, len)) = b.get(at..).and_then(Record::decode) {
        if out.last().is_some_and(|prev| prev.end() != r.first) {
            break;
        }
        out.push(r);
        at += len;
    }
    out
}

/// The journal file and the writer's place in it.
pub(crate) struct Journal {
    file: Box<dyn StorageBackend>,
    /// Where the next record goes.
    at: u64,
    capacity: u64,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("at", &self.at)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Journal {
    /// The journal on `file`, preallocated to `capacity` bytes of zeros (once, synced).
    pub(crate) fn open(file: Box<dyn StorageBackend>, capacity: u64) -> std::io::Result<Journal> {
        let len = file.len()?;
        if len < capacity {
            file.set_len(capacity)?;
            let zeros = vec![0u8; 1 << 20];
            let mut at = len;
            while at < capacity {
                let n = (capacity - at).min(zeros.len() as u64);
                file.write(at, &zeros[..n as usize])?;
                at += n;
            }
            file.sync_data()?;
        }
        Ok(Journal {
            file,
            at: 0,
            capacity: capacity.max(len),
        })
    }

    /// Every record of the current round.
    pub(crate) fn read(&self) -> std::io::Result<Vec<Record>> {
        let mut b = vec![0u8; usize::try_from(self.capacity).unwrap_or(usize::MAX)];
        self.file.read(0, &mut b)?;
        Ok(records(&b))
    }

    /// Whether `len` more bytes fit in this round.
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.at.saturating_add(len as u64) <= self.capacity
    }

    /// Whether a record was appended since the round began.
    pub(crate) fn dirty(&self) -> bool {
        self.at > 0
    }

    /// Appends an encoded record and syncs it: when this returns, the batch is durable.
    pub(crate) fn append(&mut self, record: &[u8]) -> std::io::Result<()> {
        self.file.write(self.at, record)?;
        self.file.sync_data()?;
        self.at += record.len() as u64;
        Ok(())
    }

    /// A new round: everything appended is durable in redb, so later records may overwrite it.
    pub(crate) fn restart(&mut self) {
        self.at = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(first: u64, n: usize) -> Vec<u8> {
        let entries: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 10 + i]).collect();
        Record::encode(first, "cp\n", entries.iter().map(Vec::as_slice))
    }

    #[test]
    fn records_round_trip_and_stop_at_what_does_not_continue() {
        let mut b = rec(5, 3);
        b.extend(rec(8, 2));
        let rs = records(&b);
        assert_eq!(rs.len(), 2);
        assert_eq!((rs[0].first, rs[0].end(), rs[1].end()), (5, 8, 10));
        assert_eq!(rs[0].entries[2], vec![2u8; 12]);
        assert_eq!(rs[0].checkpoint, "cp\n");

        // A record left from an earlier round does not continue the index: the round ends.
        let mut stale = rec(20, 1);
        stale.extend(rec(3, 2));
        assert_eq!(records(&stale).len(), 1);

        // Zeros (the preallocated file) end a round; so does a torn record.
        let mut torn = rec(0, 2);
        torn.extend(vec![0u8; 64]);
        assert_eq!(records(&torn).len(), 1);
        let whole = rec(0, 2);
        assert!(records(&whole[..whole.len() - 1]).is_empty());
    }

    #[test]
    fn a_changed_byte_fails_the_digest() {
        let good = rec(0, 2);
        for at in [0, 9, 12, 20, good.len() - 40, good.len() - 1] {
            let mut b = good.clone();
            b[at] ^= 1;
            assert!(records(&b).is_empty(), "byte {at} changed and still read");
        }
        assert_eq!(records(&good).len(), 1);
    }

    #[test]
    fn a_journal_is_preallocated_and_starts_rounds_at_zero() {
        let mut j =
            Journal::open(Box::new(redb::backends::InMemoryBackend::new()), 4096).expect("journal");
        assert!(!j.dirty());
        assert!(j.read().expect("read").is_empty());
        let r = rec(0, 2);
        j.append(&r).expect("append");
        j.append(&rec(2, 1)).expect("append");
        assert!(j.dirty());
        assert_eq!(j.read().expect("read").len(), 2);
        assert!(!j.fits(4096));
        j.restart();
        assert!(j.fits(4096));
        // The next round overwrites the first record; the second is left and not read.
        j.append(&rec(3, 2)).expect("append");
        let rs = j.read().expect("read");
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].first, 3);
    }
}
