//! The log as C2SP tlog-tiles: at every tree size, the tree hash, inclusion and consistency
//! proofs computed from the served tiles are the ones the store's proofs give, and every entry in
//! a bundle hashes to its place in the level-0 tile.

mod common;

use std::collections::HashMap;

use common::*;
use vigil_core::merkle::{self, Hash, StoredId, leaf_hash};
use vigil_core::tiles::{self, Tile, TileKind};
use vigil_store::Store;

/// Reads stored hashes of the tree of `size` from its tiles, as a client of the tile endpoint
/// does (fetching each tile once, at the width that size gives it).
fn from_tiles(store: &Store, size: u64) -> impl FnMut(StoredId) -> Result<Hash, String> + use<'_> {
    let mut cache: HashMap<Tile, Vec<Hash>> = HashMap::new();
    move |id| {
        let at = tiles::locate(id);
        let tile = tiles::tile_in(size, at.level, at.index)
            .ok_or_else(|| format!("no tile for {id:?} at size {size}"))?;
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(tile) {
            let bytes = store
                .tile(&tile)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} is not served", tile.path()))?;
            let hashes =
                tiles::tile_hashes(&bytes, tile.width).ok_or("a tile of the wrong length")?;
            slot.insert(hashes);
        }
        let hashes = &cache[&tile];
        let span = hashes
            .get(at.offset..at.offset + at.count)
            .ok_or_else(|| format!("{id:?} is past {}", tile.path()))?;
        Ok(tiles::perfect_root(span))
    }
}

#[test]
fn tiles_agree_with_the_proofs_at_every_size() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Store::open(&dir.path().join("log.redb"), log_signer()).expect("opens");
    // One entry per commit up to 520 (two full level-0 tiles and then some), so every size is
    // a checkpointed size; the roots are remembered as the heads said them.
    let mut roots = vec![s.head().root];
    for n in 0..520u64 {
        s.append_batch(vec![alert(n, "nas", 1)]).expect("append");
        let h = s.head();
        assert_eq!(h.size, n + 1);
        roots.push(h.root);
    }
    for size in 1..=520u64 {
        let mut read = from_tiles(&s, size);
        let root = merkle::tree_hash(size, &mut read).expect("tree hash from tiles");
        assert_eq!(root, roots[size as usize], "root at size {size}");
        for index in [0, size / 3, size / 2, size - 1] {
            let ranges = merkle::inclusion_ranges(index, size).expect("ranges");
            let p = merkle::resolve(&ranges, &mut read).expect("inclusion from tiles");
            assert_eq!(
                p,
                s.inclusion_proof(index, size).expect("proof"),
                "{index} in {size}"
            );
        }
        for old in [1, size / 2, size - 1] {
            let ranges = merkle::consistency_ranges(old, size).expect("ranges");
            let p = merkle::resolve(&ranges, &mut read).expect("consistency from tiles");
            assert_eq!(
                p,
                s.consistency_proof(old, size).expect("proof"),
                "{old} → {size}"
            );
        }
    }
}

#[test]
fn bundles_hash_to_their_level_0_tiles_and_nothing_beyond_the_tree_is_served() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Store::open(&dir.path().join("log.redb"), log_signer()).expect("opens");
    s.append_batch((0..300).map(|n| alert(n, "nas", 1)).collect())
        .expect("append");
    let hashes = |level, index, width| Tile {
        kind: TileKind::Hashes { level },
        index,
        width,
    };
    let bundle = |index, width| Tile {
        kind: TileKind::Entries,
        index,
        width,
    };
    for (b, t) in [
        (bundle(0, 256), hashes(0, 0, 256)),
        (bundle(1, 44), hashes(0, 1, 44)),
    ] {
        let bytes = s.tile(&b).expect("read").expect("served");
        let entries = tiles::read_bundle(&bytes, b.width).expect("framed");
        let level0 =
            tiles::tile_hashes(&s.tile(&t).expect("read").expect("served"), t.width).expect("tile");
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(leaf_hash(e), level0[i], "entry {i} of {}", b.path());
            let index = b.first() + i as u64;
            assert_eq!(Some(e.to_vec()), s.entry(index).expect("entry"));
        }
    }
    // A narrower partial tile of an older size is the prefix of the wider one.
    let wide = s.tile(&hashes(0, 1, 44)).expect("read").expect("served");
    let narrow = s.tile(&hashes(0, 1, 10)).expect("read").expect("served");
    assert_eq!(narrow, wide[..10 * 32]);
    // Nothing the tree of 300 does not hold: a full second tile, a wider partial one, level 1
    // (one hash needs 65,536 entries), a bundle past the end.
    for t in [
        hashes(0, 1, 256),
        hashes(0, 1, 45),
        hashes(0, 2, 1),
        hashes(1, 0, 2),
        hashes(2, 0, 1),
        hashes(63, 0, 1),
        bundle(1, 45),
        bundle(2, 1),
    ] {
        assert_eq!(s.tile(&t).expect("read"), None, "{} served", t.path());
    }
    assert_eq!(
        s.tile(&hashes(1, 0, 1)).expect("read").map(|b| b.len()),
        Some(32),
        "level 1 holds the root of the first full level-0 tile"
    );
}
