//! The part of an audit that runs per entry: decoding, placing, checking the signature and
//! hashing on every core ([`check_all`]), then, in log order, the appliance's admission decision
//! and the rebuilt tree ([`Replay`]).

use std::io::Write as _;

use vigil_core::admission::{self, Rules};
use vigil_core::merkle::Hash;
use vigil_core::registry::Registry;
use vigil_core::sig::Verified;
use vigil_core::{Entry, MemoryTree};

use super::{AuditError, failed, local};

/// One entry, decoded, placed, signature-checked and hashed (the part that runs on all cores).
pub(super) struct Checked {
    entry: Entry,
    verified: Verified,
    leaf: Hash,
}

fn check_entry(index: u64, bytes: &[u8]) -> Result<Checked, AuditError> {
    let entry =
        Entry::decode(bytes).map_err(|e| failed(format!("entry {index} does not decode: {e}")))?;
    if entry.index() != index {
        return Err(failed(format!(
            "entry {index} claims index {}",
            entry.index()
        )));
    }
    let verified = entry
        .verify()
        .map_err(|e| failed(format!("entry {index}: signature does not verify: {e}")))?;
    let leaf = entry.leaf_hash();
    Ok(Checked {
        entry,
        verified,
        leaf,
    })
}

/// Checks `items` on every core, in order.
pub(super) fn check_all(
    items: &[(u64, Vec<u8>)],
    threads: usize,
) -> Vec<Result<Checked, AuditError>> {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(i, b)| check_entry(*i, b))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// What the sequential part carries from entry to entry.
pub(super) struct Replay<'a> {
    pub(super) registry: Registry,
    pub(super) tree: MemoryTree,
    pub(super) rules: Rules<'a>,
    pub(super) leaves: std::io::BufWriter<std::fs::File>,
    pub(super) enrolments: std::fs::File,
}

impl Replay<'_> {
    /// Admits `c` (the appliance's own decision: everything but the `ts` window, whose skew is a
    /// device setting the log does not record), records it, and checks it against the level-0
    /// tile hash `want`.
    fn take(
        &mut self,
        index: u64,
        bytes: &[u8],
        c: Checked,
        want: &Hash,
    ) -> Result<(), AuditError> {
        if c.leaf != *want {
            return Err(failed(format!(
                "entry {index} does not hash to its place in the level-0 tile: the entry or the tile was altered"
            )));
        }
        admission::admit(&self.registry, &c.verified, &self.rules).map_err(|why| {
            failed(format!(
                "entry {index} ({} by `{}`) would not have been admitted: {why}",
                c.entry.kind(),
                c.entry.signer()
            ))
        })?;
        self.registry.apply(&c.entry);
        if matches!(
            c.entry.kind(),
            vigil_core::Kind::KeyEnroll | vigil_core::Kind::KeyRevoke
        ) {
            // Unbuffered, and before the leaf: the enrolments are never behind the leaves.
            let mut rec = (bytes.len() as u32).to_be_bytes().to_vec();
            rec.extend_from_slice(bytes);
            self.enrolments.write_all(&rec).map_err(local)?;
        }
        self.tree.push_leaf_hash(c.leaf);
        self.leaves.write_all(&c.leaf).map_err(local)
    }
}

/// A batch being checked on other threads: its entries, their checks, their level-0 tile
/// hashes, and the index just past it.
pub(super) type Checking<'s> = std::thread::ScopedJoinHandle<
    's,
    (
        Vec<(u64, Vec<u8>)>,
        Vec<Result<Checked, AuditError>>,
        Vec<Hash>,
        u64,
    ),
>;

impl Replay<'_> {
    /// Waits for a batch checked on other threads and takes its entries in order; returns the
    /// index just past it.
    pub(super) fn take_checked(&mut self, p: Checking<'_>) -> Result<u64, AuditError> {
        let (items, checked, want, end) = p.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        for (((index, bytes), c), h) in items.into_iter().zip(checked).zip(want) {
            self.take(index, &bytes, c?, &h)?;
        }
        Ok(end)
    }

    /// Checks `batch` on every core, then takes its entries in order; `want` holds their
    /// level-0 tile hashes. Both are left empty.
    pub(super) fn take_all(
        &mut self,
        batch: &mut Vec<(u64, Vec<u8>)>,
        want: &mut Vec<Hash>,
        threads: usize,
    ) -> Result<(), AuditError> {
        let checked = check_all(batch, threads);
        for (((index, bytes), c), h) in batch.drain(..).zip(checked).zip(want.drain(..)) {
            self.take(index, &bytes, c?, &h)?;
        }
        Ok(())
    }
}
