//! C2SP tlog-tiles (docs/spec.md §4): the log's Merkle tree as immutable tiles of 256 hashes and
//! its entries as bundles of 256, addressed by paths any static server can serve.
//!
//! The tile at level `L`, index `N` holds the hashes at tree height `8·L` with indices
//! `N·256 ..= N·256 + 255`, each the root of a complete subtree of `256^L` leaves; a tile of the
//! tree of size `s` has width `min(256, (s >> 8L) − N·256)`, and a tile narrower than 256 is
//! *partial* (`.p/<W>` in its path). The entry bundle `N` holds entries `N·256 ..` as big-endian
//! `u16` length-prefixed bytes; each hashes (RFC 9162 leaf hash) to the same place of the level-0
//! tile. The paths encode `N` in zero-padded groups of three digits, all but the last prefixed
//! with `x` (`1234067` → `x001/x234/067`), and the form is canonical: this parser refuses every
//! other spelling of the same tile.

use crate::merkle::{Hash, StoredId, node_hash};

/// Tree levels one tile spans.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;
/// Highest level a path may name (the spec's bound; a `u64` tree has nothing above level 7).
pub const MAX_LEVEL: u8 = 63;

/// What a tile holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// Hashes at tree height `8 · level`.
    Hashes {
        /// The tile level.
        level: u8,
    },
    /// An entry bundle (its hashes are the level-0 tile of the same index).
    Entries,
}

/// One tile or entry bundle: what, where, and how wide (1–256; 256 is a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Hashes at a level, or entries.
    pub kind: TileKind,
    /// The tile's index within its level.
    pub index: u64,
    /// How many hashes or entries it holds.
    pub width: u16,
}

impl Tile {
    /// A full tile holds 256 hashes or entries; a partial one fewer.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The tile level (entry bundles stand at level 0).
    pub fn level(&self) -> u8 {
        match self.kind {
            TileKind::Hashes { level } => level,
            TileKind::Entries => 0,
        }
    }

    /// Index, at the tile's own tree height, of its first hash (or of its first entry).
    pub fn first(&self) -> u64 {
        self.index * TILE_WIDTH
    }

    /// The path below the log's prefix: `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let mut out = String::from("tile/");
        match self.kind {
            TileKind::Hashes { level } => out.push_str(&level.to_string()),
            TileKind::Entries => out.push_str("entries"),
        }
        for (i, g) in groups.iter().enumerate().rev() {
            out.push_str(if i == 0 { "/" } else { "/x" });
            out.push_str(&format!("{g:03}"));
        }
        if !self.is_full() {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Parses the part of a path after `tile/` (as [`Tile::path`] writes it, and no other
    /// spelling): `None` for anything else.
    pub fn parse(rest: &str) -> Option<Tile> {
        let mut parts: Vec<&str> = rest.split('/').collect();
        let kind = match parts.first()? {
            &"entries" => TileKind::Entries,
            l => TileKind::Hashes {
                level: canonical_decimal(l, u64::from(MAX_LEVEL))? as u8,
            },
        };
        parts.remove(0);
        // A partial tile's width is a path element of its own: `<last group>.p/<W>`.
        let mut width = TILE_WIDTH as u16;
        if let Some(last) = parts.len().checked_sub(2).map(|i| parts[i])
            && let Some(group) = last.strip_suffix(".p")
        {
            width = canonical_decimal(parts.last()?, TILE_WIDTH - 1)? as u16;
            if width == 0 {
                return None;
            }
            let n = parts.len();
            parts[n - 2] = group;
            parts.pop();
        }
        let (last, upper) = parts.split_last()?;
        let mut index: u64 = 0;
        for (i, g) in upper.iter().enumerate() {
            let digits = g.strip_prefix('x')?;
            let v = three_digits(digits)?;
            if i == 0 && v == 0 {
                return None; // a leading zero group: not the canonical spelling
            }
            index = index.checked_mul(1000)?.checked_add(v)?;
        }
        index = index.checked_mul(1000)?.checked_add(three_digits(last)?)?;
        // The index just past the tile's last hash must fit a u64 (readers add the width).
        index.checked_mul(TILE_WIDTH)?.checked_add(TILE_WIDTH)?;
        Some(Tile { kind, index, width })
    }
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// A decimal with no leading zeros (except `0` itself), at most `max`.
fn canonical_decimal(s: &str, max: u64) -> Option<u64> {
    let ok = !s.is_empty()
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok().filter(|v| *v <= max))?
}

/// How many hashes tile level `level` has in a tree of `size` leaves (`size >> 8·level`).
pub fn level_width(size: u64, level: u8) -> u64 {
    let shift = u32::from(level) * TILE_HEIGHT;
    if shift >= 64 { 0 } else { size >> shift }
}

/// The hash tile at `level`, `index` as the tree of `size` has it: `None` when that tree has
/// no hash in it.
pub fn tile_in(size: u64, level: u8, index: u64) -> Option<Tile> {
    let have = level_width(size, level);
    let first = index.checked_mul(TILE_WIDTH)?;
    (have > first).then(|| Tile {
        kind: TileKind::Hashes { level },
        index,
        width: (have - first).min(TILE_WIDTH) as u16,
    })
}

/// Every hash tile of the tree of `size`, level by level, left to right (what a mirror of that
/// tree serves). Empty tiles are never listed.
pub fn tiles_for_size(size: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    for level in 0..=MAX_LEVEL {
        let have = level_width(size, level);
        if have == 0 {
            break;
        }
        out.extend((0..have.div_ceil(TILE_WIDTH)).filter_map(|n| tile_in(size, level, n)));
    }
    out
}

/// The entry bundles of the tree of `size`, left to right.
pub fn bundles_for_size(size: u64) -> Vec<Tile> {
    (0..size.div_ceil(TILE_WIDTH))
        .map(|n| Tile {
            kind: TileKind::Entries,
            index: n,
            width: (size - n * TILE_WIDTH).min(TILE_WIDTH) as u16,
        })
        .collect()
}

/// Where a stored hash is found in tiles: it is the root of `count` consecutive hashes of the
/// hash tile at (`level`, `index`), starting at position `offset` within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileSpan {
    /// The tile level.
    pub level: u8,
    /// The tile index.
    pub index: u64,
    /// First position within the tile.
    pub offset: usize,
    /// How many of its hashes (a power of two, at most 128; 1 when the hash is in the tile).
    pub count: usize,
}

/// Locates the stored hash `id` in the tiles: the tile at level `id.level / 8` holds it
/// directly when `id.level` is a multiple of 8, else holds the `2^(id.level mod 8)` hashes
/// below it, whose complete subtree it is the root of.
pub fn locate(id: StoredId) -> TileSpan {
    let level = u32::from(id.level) / TILE_HEIGHT;
    let rest = u32::from(id.level) % TILE_HEIGHT;
    let first = id.index << rest;
    TileSpan {
        level: level as u8,
        index: first / TILE_WIDTH,
        offset: (first % TILE_WIDTH) as usize,
        count: 1 << rest,
    }
}

/// The root of a complete subtree from its hashes at one height (their count a power of two).
pub fn perfect_root(hashes: &[Hash]) -> Hash {
    debug_assert!(hashes.len().is_power_of_two());
    let mut layer: Vec<Hash> = hashes.to_vec();
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    layer[0]
}

/// The hashes of a hash tile's bytes (32 bytes each); `None` when the length is not `width`
/// hashes.
pub fn tile_hashes(bytes: &[u8], width: u16) -> Option<Vec<Hash>> {
    (bytes.len() == usize::from(width) * 32).then(|| {
        bytes
            .chunks(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect()
    })
}

/// Writes an entry bundle: each entry as a big-endian `u16` length and its bytes.
pub fn write_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let len = u16::try_from(e.len()).expect("an entry fits a u16 length (MAX_ENTRY_BYTES)");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// Splits an entry bundle into its entries: `None` unless it is exactly `width` well-framed
/// entries.
pub fn read_bundle(bytes: &[u8], width: u16) -> Option<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(usize::from(width));
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return None;
        }
        let (entry, tail) = tail.split_at(len);
        out.push(entry);
        rest = tail;
    }
    (out.len() == usize::from(width)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MemoryTree, leaf_hash, tree_hash};

    fn hashes(level: u8, index: u64, width: u16) -> Tile {
        Tile {
            kind: TileKind::Hashes { level },
            index,
            width,
        }
    }

    #[test]
    fn paths_are_spelt_as_the_spec_spells_them() {
        // The spec's example index, and the smallest cases either side of a group.
        assert_eq!(hashes(0, 1_234_067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(hashes(0, 0, 256).path(), "tile/0/000");
        assert_eq!(hashes(2, 999, 256).path(), "tile/2/999");
        assert_eq!(hashes(1, 1000, 256).path(), "tile/1/x001/000");
        assert_eq!(hashes(0, 5, 112).path(), "tile/0/005.p/112");
        let e = Tile {
            kind: TileKind::Entries,
            index: 1_234_067,
            width: 17,
        };
        assert_eq!(e.path(), "tile/entries/x001/x234/067.p/17");
        for t in [
            hashes(0, 1_234_067, 256),
            hashes(3, 0, 1),
            hashes(1, 1000, 255),
            e,
        ] {
            let p = t.path();
            assert_eq!(
                Tile::parse(p.strip_prefix("tile/").expect("prefix")),
                Some(t),
                "{p}"
            );
        }
    }

    #[test]
    fn only_the_canonical_spelling_parses() {
        for bad in [
            "",
            "0",
            "0/",
            "00/000",                              // level with a leading zero
            "64/000",                              // level above 63
            "-1/000",                              // not a decimal
            "0/00",                                // two digits
            "0/0000",                              // four digits
            "0/x000/005",                          // a leading zero group
            "0/001/005",                           // an upper group without its x
            "0/x1/005",                            // a short upper group
            "0/005.p/0",                           // width 0
            "0/005.p/256",                         // a full width written as partial
            "0/005.p/017",                         // width with a leading zero
            "0/005.p",                             // no width
            "0/005.p/17/1",                        // something after the width
            "0/005/",                              // trailing slash
            "entries/x0/005",                      // short upper group
            "entries/005.p/x",                     // width not decimal
            "0/x018/x446/x744/x073/x709/x551/615", // an index past u64
            "0/x072/x057/x594/x037/x927/936",      // its first hash past u64
            "0/x072/x057/x594/x037/x927/935",      // the end of its last hash past u64
            "0/+05",
        ] {
            assert_eq!(Tile::parse(bad), None, "{bad:?} parsed");
        }
        assert_eq!(Tile::parse("63/000"), Some(hashes(63, 0, 256)));
        let last = (u64::MAX - 255) / 256 - 1;
        assert_eq!(
            Tile::parse("0/x072/x057/x594/x037/x927/934"),
            Some(hashes(0, last, 256)),
            "the last tile whose end fits"
        );
    }

    #[test]
    fn the_spec_s_tree_of_70000_entries() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level
        // 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and
        // one partial level 2 tile of width 1."
        let t = tiles_for_size(70_000);
        let at = |l: u8| {
            t.iter()
                .filter(move |x| x.level() == l)
                .copied()
                .collect::<Vec<_>>()
        };
        let l0 = at(0);
        assert_eq!(l0.iter().filter(|x| x.is_full()).count(), 273);
        assert_eq!(l0.last(), Some(&hashes(0, 273, 112)));
        assert_eq!(at(1), vec![hashes(1, 0, 256), hashes(1, 1, 17)]);
        assert_eq!(at(2), vec![hashes(2, 0, 1)]);
        assert_eq!(t.len(), 274 + 2 + 1);
        // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
        // tile of width 1."
        assert_eq!(
            tiles_for_size(256),
            vec![hashes(0, 0, 256), hashes(1, 0, 1)]
        );
        assert!(tiles_for_size(0).is_empty());
        assert_eq!(bundles_for_size(300).last().map(|b| b.width), Some(44));
        assert_eq!(tile_in(300, 0, 2), None);
    }

    #[test]
    fn any_stored_hash_comes_from_tiles() {
        // Tiles built from a memory tree of 70,000 leaves give every tree hash the tree gives.
        let mut tree = MemoryTree::new();
        let size = 70_000u64;
        for i in 0..size {
            tree.push(&i.to_be_bytes());
        }
        // Level-0 hashes are the leaves; level L's hashes are subtree roots of 256^L leaves.
        let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut levels = vec![leaves];
        loop {
            let top = &levels[levels.len() - 1];
            if top.len() < 256 {
                break;
            }
            let next = top.chunks_exact(256).map(perfect_root).collect();
            levels.push(next);
        }
        // Each tree size reads the tiles as that size has them (partial ones narrower).
        for s in [
            1, 2, 255, 256, 257, 300, 700, 65_535, 65_536, 65_537, 69_999, 70_000,
        ] {
            let read = |id: StoredId| -> Result<Hash, ()> {
                let at = locate(id);
                let tile = tile_in(s, at.level, at.index).ok_or(())?;
                let start = tile.first() as usize;
                let hs = &levels[usize::from(at.level)][start..start + usize::from(tile.width)];
                Ok(perfect_root(
                    hs.get(at.offset..at.offset + at.count).ok_or(())?,
                ))
            };
            assert_eq!(
                tree_hash(s, read),
                Ok(tree.root(s).expect("root")),
                "size {s}"
            );
        }
    }

    #[test]
    fn bundles_frame_exactly() {
        let entries: Vec<&[u8]> = vec![b"a", b"", &[7u8; 300]];
        let b = write_bundle(entries.iter().copied());
        assert_eq!(&b[..3], &[0, 1, b'a']);
        assert_eq!(read_bundle(&b, 3), Some(entries.clone()));
        assert_eq!(read_bundle(&b, 2), None, "a wrong width");
        assert_eq!(read_bundle(&b[..b.len() - 1], 3), None, "a cut entry");
        let mut extra = b.clone();
        extra.push(0);
        assert_eq!(read_bundle(&extra, 3), None, "a stray byte");
        assert_eq!(tile_hashes(&[0u8; 64], 2).map(|h| h.len()), Some(2));
        assert_eq!(tile_hashes(&[0u8; 63], 2), None);
    }
}
