//! RFC 9162 Merkle tree maths over stored complete subtrees.
//!
//! A stored hash is identified by `(level, index)`: the root of the complete subtree over leaves
//! `[index << level, (index + 1) << level)`. Appending leaf `n` stores its leaf hash at `(0, n)`
//! and the root of every subtree that leaf completes, so a log of N entries stores fewer than 2N
//! hashes (as Go's sumdb `tlog` does), and every tree hash or proof needs O(log N) of them.

use sha2::{Digest, Sha256};

/// A SHA-256 output.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// RFC 9162 leaf hash: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 9162 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Where a stored hash lives: the complete subtree of `2^level` leaves starting at `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredId {
    /// Height of the subtree (0 for a leaf).
    pub level: u8,
    /// Position within the level.
    pub index: u64,
}

/// A half-open range of leaves `[lo, hi)` whose RFC 9162 subtree hash a proof needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First leaf.
    pub lo: u64,
    /// One past the last leaf.
    pub hi: u64,
}

/// Errors of proof construction or verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Index or sizes outside the tree.
    #[error("index {index} is not below tree size {size}")]
    OutOfRange {
        /// The index or first size.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The proof does not lead to the expected root.
    #[error("the proof does not verify")]
    Mismatch,
    /// The proof has the wrong number of hashes.
    #[error("the proof has the wrong length")]
    WrongLength,
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The stored hashes to write after appending leaf `n` with hash `leaf`: the leaf itself and the
/// root of every complete subtree it closes. `read` returns earlier stored hashes.
pub fn hashes_to_store<E>(
    n: u64,
    leaf: Hash,
    mut read: impl FnMut(StoredId) -> Result<Hash, E>,
) -> Result<Vec<(StoredId, Hash)>, E> {
    let mut out = vec![(StoredId { level: 0, index: n }, leaf)];
    let (mut h, mut level, mut index) = (leaf, 0u8, n);
    while index & 1 == 1 {
        let left = read(StoredId {
            level,
            index: index - 1,
        })?;
        h = node_hash(&left, &h);
        level += 1;
        index >>= 1;
        out.push((StoredId { level, index }, h));
    }
    Ok(out)
}

/// The stored subtrees that make up range `[lo, hi)`, left to right (largest aligned first).
pub fn stored_ids(range: Range) -> Vec<StoredId> {
    let (mut lo, hi) = (range.lo, range.hi);
    let mut out = Vec::new();
    while lo < hi {
        let mut level = if lo == 0 {
            63
        } else {
            lo.trailing_zeros().min(63)
        };
        while level > 0 && (hi - lo) < (1u64 << level) {
            level -= 1;
        }
        out.push(StoredId {
            level: level as u8,
            index: lo >> level,
        });
        lo += 1u64 << level;
    }
    out
}

/// The RFC 9162 hash of the subtree over `range`, from stored hashes (fold right to left).
pub fn range_hash<E>(
    range: Range,
    mut read: impl FnMut(StoredId) -> Result<Hash, E>,
) -> Result<Hash, E> {
    let ids = stored_ids(range);
    let mut iter = ids.iter().rev();
    let Some(last) = iter.next() else {
        return Ok(empty_root());
    };
    let mut h = read(*last)?;
    for id in iter {
        h = node_hash(&read(*id)?, &h);
    }
    Ok(h)
}

/// The tree hash (root) of the first `size` leaves.
pub fn tree_hash<E>(size: u64, read: impl FnMut(StoredId) -> Result<Hash, E>) -> Result<Hash, E> {
    range_hash(Range { lo: 0, hi: size }, read)
}

/// The ranges whose hashes form the inclusion proof of leaf `index` in a tree of `size` (RFC 9162
/// §2.1.3.1 PATH), in proof order.
pub fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<Range>, ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    let mut out = Vec::new();
    fn path(m: u64, lo: u64, hi: u64, out: &mut Vec<Range>) {
        if hi - lo <= 1 {
            return;
        }
        let k = split_point(hi - lo);
        if m < lo + k {
            path(m, lo, lo + k, out);
            out.push(Range { lo: lo + k, hi });
        } else {
            path(m, lo + k, hi, out);
            out.push(Range { lo, hi: lo + k });
        }
    }
    path(index, 0, size, &mut out);
    Ok(out)
}

/// The ranges whose hashes form the consistency proof from size `old` to `new` (RFC 9162
/// §2.1.4.1), in proof order. Empty when `old` is 0 or equals `new`.
pub fn consistency_ranges(old: u64, new: u64) -> Result<Vec<Range>, ProofError> {
    if old > new {
        return Err(ProofError::OutOfRange {
            index: old,
            size: new,
        });
    }
    let mut out = Vec::new();
    if old == 0 || old == new {
        return Ok(out);
    }
    fn sub(m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Range>) {
        if m == hi {
            if !whole {
                out.push(Range { lo, hi });
            }
            return;
        }
        let k = split_point(hi - lo);
        if m <= lo + k {
            sub(m, lo, lo + k, whole, out);
            out.push(Range { lo: lo + k, hi });
        } else {
            sub(m, lo + k, hi, false, out);
            out.push(Range { lo, hi: lo + k });
        }
    }
    sub(old, 0, new, true, &mut out);
    Ok(out)
}

/// Resolves proof ranges into hashes.
pub fn resolve<E>(
    ranges: &[Range],
    mut read: impl FnMut(StoredId) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    ranges.iter().map(|r| range_hash(*r, &mut read)).collect()
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange { index, size });
    }
    let (mut f, mut s, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::OutOfRange {
            index: old_size,
            size: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    if old_size == 0 {
        // Every tree extends the empty one.
        return if proof.is_empty() && *old_root == empty_root() {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old_size - 1, new_size - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::Mismatch);
    }
    Ok(())
}

/// An in-memory tree over the same stored-hash layout: for clients that rebuild a log (audit),
/// tests and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
    size: u64,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Appends a leaf by its hash; returns its index.
    pub fn push_leaf_hash(&mut self, leaf: Hash) -> u64 {
        let n = self.size;
        let levels = &self.levels;
        let new = hashes_to_store::<std::convert::Infallible>(n, leaf, |id| {
            Ok(levels[id.level as usize][id.index as usize])
        })
        .unwrap_or_else(|e| match e {});
        for (id, h) in new {
            if self.levels.len() <= id.level as usize {
                self.levels.push(Vec::new());
            }
            debug_assert_eq!(self.levels[id.level as usize].len() as u64, id.index);
            self.levels[id.level as usize].push(h);
        }
        self.size += 1;
        n
    }
    /// Appends a leaf by its data; returns its index.
    pub fn push(&mut self, data: &[u8]) -> u64 {
        self.push_leaf_hash(leaf_hash(data))
    }
    fn reader(&self) -> impl FnMut(StoredId) -> Result<Hash, ProofError> + '_ {
        |id| {
            self.levels
                .get(id.level as usize)
                .and_then(|l| l.get(id.index as usize))
                .copied()
                .ok_or(ProofError::OutOfRange {
                    index: id.index,
                    size: self.size,
                })
        }
    }
    /// The stored hash `id` (a leaf or a complete subtree), if the tree has it.
    pub fn stored(&self, id: StoredId) -> Option<Hash> {
        self.levels
            .get(id.level as usize)?
            .get(usize::try_from(id.index).ok()?)
            .copied()
    }
    /// The root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, ProofError> {
        if size > self.size {
            return Err(ProofError::OutOfRange {
                index: size,
                size: self.size,
            });
        }
        tree_hash(size, self.reader())
    }
    /// Inclusion proof of `index` in the tree of `size`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if size > self.size {
            return Err(ProofError::OutOfRange {
                index: size,
                size: self.size,
            });
        }
        resolve(&inclusion_ranges(index, size)?, self.reader())
    }
    /// Consistency proof from `old` to `new`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        if new > self.size {
            return Err(ProofError::OutOfRange {
                index: new,
                size: self.size,
            });
        }
        resolve(&consistency_ranges(old, new)?, self.reader())
    }
}
