//! The log served as C2SP tlog-tiles over HTTPS (docs/spec.md §4, docs/api.md): hash tiles for
//! anyone, entry bundles for a signed auditor read, canonical paths only, cache headers that say
//! which tiles never change.

use std::collections::HashMap;

use vigil_core::Checkpoint;
use vigil_core::merkle::{self, Hash, leaf_hash};
use vigil_core::tiles::{self, Tile, TileKind};
use vigil_e2e::{AUDITOR, Appliance, Options, SOURCE};

const OPEN_POLICY: &str = "[limits]\nip_burst = 100000\nip_per_second = 100000\nsource_burst = 100000\nsource_per_minute = 1000000\n";

fn checkpoint(a: &Appliance) -> Checkpoint {
    let ans = a.client.get("/v1/log/checkpoint").expect("reach");
    assert_eq!(ans.cache_control.as_deref(), Some("no-cache"));
    Checkpoint::verify(&ans.text(), &a.verifier()).expect("checkpoint verifies")
}

#[test]
fn the_tiles_rebuild_the_checkpoint_and_the_bundles_hash_into_them() {
    let a = Appliance::start_with(Options {
        policy: Some(OPEN_POLICY.into()),
        ..Options::default()
    });
    // Past one full level-0 tile, whatever the appliance logged itself at start.
    while a.log_size() < 300 {
        let ans = a.post_signed("/v1/alerts", &a.alert("info", "tiles", "t"), SOURCE);
        assert_eq!(ans.status, 201, "{}", ans.text());
    }
    let cp = checkpoint(&a);
    let size = cp.size;

    // Every hash tile of that size, unsigned, with the caching its kind allows.
    let mut got: HashMap<(u8, u64), Vec<Hash>> = HashMap::new();
    for t in tiles::tiles_for_size(size) {
        let ans = a
            .client
            .get(&format!("/v1/log/{}", t.path()))
            .expect("reach");
        assert_eq!(ans.status, 200, "{}: {}", t.path(), ans.text());
        assert_eq!(
            ans.content_type.as_deref(),
            Some("application/octet-stream")
        );
        let want = if t.is_full() {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=60"
        };
        assert_eq!(ans.cache_control.as_deref(), Some(want), "{}", t.path());
        let hashes = tiles::tile_hashes(&ans.body, t.width).expect("a tile of its width");
        got.insert((t.level(), t.index), hashes);
    }
    let root = merkle::tree_hash(size, |id| {
        let at = tiles::locate(id);
        let hs = got.get(&(at.level, at.index)).ok_or(())?;
        Ok::<_, ()>(tiles::perfect_root(&hs[at.offset..at.offset + at.count]))
    })
    .expect("every tile the tree hash needs was served");
    assert_eq!(root, cp.root, "the tiles rebuild the checkpoint's root");

    // Entry bundles: a signed auditor read; each entry hashes to its place in the level-0 tile.
    for b in tiles::bundles_for_size(size) {
        let path = format!("/v1/log/{}", b.path());
        let ans = a.read(&path, AUDITOR);
        assert_eq!(ans.status, 200, "{path}: {}", ans.text());
        let private = if b.is_full() {
            "private, max-age=31536000, immutable"
        } else {
            "private, max-age=60"
        };
        assert_eq!(ans.cache_control.as_deref(), Some(private));
        let entries = tiles::read_bundle(&ans.body, b.width).expect("a well-framed bundle");
        let level0 = &got[&(0, b.index)];
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(
                leaf_hash(e),
                level0[i],
                "entry {} of {path}",
                b.first() + i as u64
            );
        }
    }
}

#[test]
fn bundles_need_an_auditor_and_only_canonical_paths_of_held_tiles_are_served() {
    let a = Appliance::start();
    let size = checkpoint(&a).size;
    assert!(
        size < 256,
        "a fresh appliance logs a few entries of its own"
    );
    let partial = |kind| Tile {
        kind,
        index: 0,
        width: size as u16,
    };
    let bundle = format!("/v1/log/{}", partial(TileKind::Entries).path());
    let before = a.log_size();

    // Unsigned: 401 and the JSON error; signed by a source: refused; nothing logged either way.
    let ans = a.client.get(&bundle).expect("reach");
    assert_eq!(ans.status, 401, "{}", ans.text());
    assert_eq!(ans.error_code().as_deref(), Some("unauthenticated"));
    let ans = a.read(&bundle, SOURCE);
    assert_eq!(ans.status, 403, "{}", ans.text());
    assert_eq!(ans.error_code().as_deref(), Some("forbidden"));
    // Even a bundle path that names nothing is not answered before the signature.
    let ans = a
        .client
        .get("/v1/log/tile/entries/x000/000")
        .expect("reach");
    assert_eq!(ans.status, 401, "{}", ans.text());
    assert_eq!(a.read(&bundle, AUDITOR).status, 200);

    // The held partial tile is served; anything wider, fuller, higher or spelt otherwise is a
    // JSON 404.
    let held = format!("/v1/log/{}", partial(TileKind::Hashes { level: 0 }).path());
    assert_eq!(a.client.get(&held).expect("reach").status, 200, "{held}");
    for path in [
        format!("/v1/log/tile/0/000.p/{}", size + 1),
        "/v1/log/tile/0/000".to_owned(),
        "/v1/log/tile/1/000.p/1".to_owned(),
        "/v1/log/tile/0/x000/000".to_owned(),
        "/v1/log/tile/0/0".to_owned(),
        "/v1/log/tile/00/000".to_owned(),
        format!("/v1/log/tile/0/000.p/0{size}"),
        "/v1/log/tile/0/%30%30%30".to_owned(),
        "/v1/log/tile/0/000/".to_owned(),
        "/v1/log/tile/64/000".to_owned(),
        "/v1/log/tile/0/x072/x057/x594/x037/x927/934".to_owned(),
        "/v1/log/tile/0/x072/x057/x594/x037/x927/935".to_owned(),
        "/v1/log/tile/7/x072/x057/x594/x037/x927/934.p/255".to_owned(),
        "/v1/log/tile/".to_owned(),
    ] {
        let ans = a.client.get(&path).expect("reach");
        assert_eq!(ans.status, 404, "{path}: {}", ans.text());
        assert_eq!(ans.error_code().as_deref(), Some("not_found"), "{path}");
    }
    let ans = a.read(&format!("/v1/log/tile/entries/000.p/{}", size + 1), AUDITOR);
    assert_eq!(ans.status, 404, "{}", ans.text());
    assert_eq!(a.log_size(), before, "reads log nothing");
}
