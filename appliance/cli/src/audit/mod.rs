//! `vigil log audit`: read the log as C2SP tlog-tiles (the appliance's or a mirror's), verify
//! every entry's signature on all cores and judge it by the appliance's own admission rules,
//! rebuild the tree, check it against the signed checkpoint and the checkpoint against the one
//! remembered from the last audit (refusing a log that went backwards or forked, as Go's sumdb
//! client does), and authenticate every tile it read against the rebuilt tree. A later run
//! resumes where the last one stopped.
//!
//! Tiles are authenticated by comparison, not by trust: each hash of each tile read is compared
//! with the same hash of the tree rebuilt from the entries, and that tree's root with the signed
//! checkpoint's. So a forged full tile is caught even where the checkpoint's root does not
//! need it (a level-0 tile under a level-1 hash, at sizes such as 300 or 700).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use vigil_core::admission::Rules;
use vigil_core::merkle::{self, Hash, StoredId};
use vigil_core::registry::Registry;
use vigil_core::tiles::{self, TILE_WIDTH, Tile, TileKind};
use vigil_core::{Checkpoint, Entry, MemoryTree, NoteVerifier};

/// Why an audit failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The appliance (or mirror) could not be read.
    #[error("{0}")]
    Fetch(String),
    /// The log contradicts itself or its history: the audit refuses it.
    #[error("AUDIT FAILED: {0}")]
    Failed(String),
    /// Local state files.
    #[error("{0}")]
    Local(String),
}

/// Where the audit reads the log: the appliance, a mirror directory or a static server.
pub trait Source: Send {
    /// The latest signed checkpoint note.
    fn checkpoint(&mut self) -> Result<String, String>;
    /// The bytes of a hash tile or an entry bundle, at the width the checkpoint's size gives it.
    fn tile(&mut self, tile: &Tile) -> Result<Vec<u8>, String>;
}

/// The result of a successful audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Verified checkpoint.
    pub checkpoint: Checkpoint,
    /// Entries verified in this run (earlier ones were verified before and resumed).
    pub verified_now: u64,
    /// The previously remembered size, if any.
    pub previous: Option<u64>,
    /// Hash tiles read and authenticated in this run.
    pub tiles_checked: u64,
}

/// Local audit state in `dir`: `checkpoint` (the last verified note), `leaves` (32-byte leaf
/// hashes of verified entries) and `enrolments` (their key-enroll/revoke entries), for resuming.
pub struct State {
    dir: PathBuf,
}

impl State {
    /// State under `dir`.
    pub fn new(dir: &Path) -> Self {
        State {
            dir: dir.to_owned(),
        }
    }
    fn leaves_path(&self) -> PathBuf {
        self.dir.join("leaves")
    }
    fn enrolments_path(&self) -> PathBuf {
        self.dir.join("enrolments")
    }
    fn checkpoint_path(&self) -> PathBuf {
        self.dir.join("checkpoint")
    }
}

fn failed(why: impl Into<String>) -> AuditError {
    AuditError::Failed(why.into())
}

fn local(e: impl std::fmt::Display) -> AuditError {
    AuditError::Local(e.to_string())
}

/// Entries verified in parallel at a time (eight bundles).
const BATCH: usize = 8 * TILE_WIDTH as usize;

/// Hash tiles of one tree size, read once each and kept until they are authenticated.
struct Tiles {
    size: u64,
    read: HashMap<Tile, Vec<Hash>>,
}

impl Tiles {
    fn fetch(&mut self, src: &mut dyn Source, tile: Tile) -> Result<&[Hash], AuditError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.read.entry(tile) {
            let bytes = src.tile(&tile).map_err(AuditError::Fetch)?;
            let hashes = tiles::tile_hashes(&bytes, tile.width).ok_or_else(|| {
                failed(format!(
                    "{} has {} bytes, not {} hashes",
                    tile.path(),
                    bytes.len(),
                    tile.width
                ))
            })?;
            slot.insert(hashes);
        }
        Ok(&self.read[&tile])
    }

    /// A stored hash of the tree, from the tiles.
    fn hash(&mut self, src: &mut dyn Source, id: StoredId) -> Result<Hash, AuditError> {
        let at = tiles::locate(id);
        let size = self.size;
        let tile = tiles::tile_in(size, at.level, at.index)
            .ok_or_else(|| failed(format!("the tree of size {size} has no hash {id:?}")))?;
        let hashes = self.fetch(src, tile)?;
        let span = hashes
            .get(at.offset..at.offset + at.count)
            .ok_or_else(|| failed(format!("{} is too narrow for {id:?}", tile.path())))?;
        Ok(tiles::perfect_root(span))
    }
}

/// Runs the audit. `progress(done, todo)` is called as entries of this run are verified.
pub fn run(
    src: &mut dyn Source,
    vkey: &NoteVerifier,
    state: &State,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, AuditError> {
    std::fs::create_dir_all(&state.dir)
        .map_err(|e| local(format!("{}: {e}", state.dir.display())))?;
    let (note, cp, mut tiles) = latest(src, vkey)?;

    // Compare with what we saw last time: never smaller, and an extension of it.
    let remembered = extends(
        &state.checkpoint_path(),
        "this client saw",
        vkey,
        &cp,
        &mut tiles,
        src,
    )?;

    // Resume: the leaf hashes of entries verified before, and the enrolment entries among them
    // (to rebuild who was enrolled), provided they are still the log's prefix.
    let mut tree = MemoryTree::new();
    let mut registry = Registry::new(*vkey.key());
    let saved = std::fs::read(state.leaves_path()).unwrap_or_default();
    let start = ((saved.len() / 32) as u64).min(cp.size);
    for c in saved.chunks_exact(32).take(start as usize) {
        tree.push_leaf_hash(c.try_into().map_err(local)?);
    }
    if let Some(old) = remembered.as_ref().filter(|o| o.size <= start)
        && tree.root(old.size).map_err(local)? != old.root
    {
        return Err(local(format!(
            "the audit state in {} does not match its own checkpoint; delete it to start over",
            state.dir.display()
        )));
    }
    if start > 0 {
        let theirs = merkle::tree_hash(start, |id| tiles.hash(src, id))?;
        if tree.root(start).map_err(local)? != theirs {
            return Err(failed(format!(
                "the entries this client verified before (the first {start}) are no longer the log's first {start}: the log was rewritten"
            )));
        }
    }
    // The enrolments of the prefix, once each and in order (an interrupted run may have saved
    // some past it, or twice); the file is rewritten to hold exactly those.
    let mut enrolled: Vec<Entry> = read_enrolments(&state.enrolments_path())?
        .into_iter()
        .filter(|e| e.index() < start)
        .collect();
    enrolled.sort_by_key(Entry::index);
    enrolled.dedup_by_key(|e| e.index());
    let mut kept = Vec::new();
    for e in &enrolled {
        registry.apply(e);
        kept.extend_from_slice(&(e.bytes().len() as u32).to_be_bytes());
        kept.extend_from_slice(e.bytes());
    }
    crate::write_durably(&state.enrolments_path(), &kept).map_err(local)?;
    // The tiles above level 0 that this run must authenticate (full ones wholly inside the
    // prefix were authenticated by the run that verified it); level-0 tiles come with their
    // bundles below.
    for t in tiles::tiles_for_size(cp.size) {
        let end = (t.first() + u64::from(t.width)).saturating_mul(level_span(t.level()));
        if t.level() > 0 && !(t.is_full() && end <= start) {
            tiles.fetch(src, t)?;
        }
    }

    let open = |p: PathBuf, keep: bool| -> Result<std::fs::File, AuditError> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(local)?;
        if !keep {
            f.set_len(0).map_err(local)?;
        }
        Ok(f)
    };
    let leaves_file = open(state.leaves_path(), start > 0)?;
    leaves_file.set_len(start * 32).map_err(local)?;
    let mut replay = Replay {
        registry,
        tree,
        rules: Rules {
            origin: &cp.origin,
            window: None,
        },
        leaves: std::io::BufWriter::with_capacity(1 << 16, leaves_file),
        enrolments: open(state.enrolments_path(), true)?,
    };
    let todo = cp.size - start;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (first, last) = (start / TILE_WIDTH, cp.size.div_ceil(TILE_WIDTH));
    let size = cp.size;
    std::thread::scope(|scope| -> Result<(), AuditError> {
        // One thread reads bundles and their level-0 tiles ahead while the others verify.
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let src = &mut *src;
        scope.spawn(move || {
            for n in first..last {
                let width = (size - n * TILE_WIDTH).min(TILE_WIDTH) as u16;
                let bundle = Tile {
                    kind: TileKind::Entries,
                    index: n,
                    width,
                };
                let level0 = Tile {
                    kind: TileKind::Hashes { level: 0 },
                    ..bundle
                };
                let got = src
                    .tile(&bundle)
                    .and_then(|b| Ok((b, src.tile(&level0)?)))
                    .map_err(AuditError::Fetch);
                let stop = got.is_err();
                if tx.send((bundle, level0, got)).is_err() || stop {
                    return;
                }
            }
        });
        let mut batch: Vec<(u64, Vec<u8>)> = Vec::with_capacity(BATCH);
        let mut want: Vec<Hash> = Vec::with_capacity(BATCH);
        let mut done = 0u64;
        // One batch is checked on every core while the one before it is taken in order here.
        let mut pending: Option<Checking<'_>> = None;
        for (bundle, level0, got) in rx {
            let (bundle_bytes, tile_bytes) = match got {
                Ok(b) => b,
                Err(e) => {
                    // What was read before the source failed is verified and kept, so the next
                    // run resumes after it.
                    if let Some(p) = pending.take() {
                        replay.take_checked(p)?;
                    }
                    replay.take_all(&mut batch, &mut want, threads)?;
                    return Err(e);
                }
            };
            let entries = tiles::read_bundle(&bundle_bytes, bundle.width).ok_or_else(|| {
                failed(format!(
                    "{} is not {} well-framed entries",
                    bundle.path(),
                    bundle.width
                ))
            })?;
            let hashes = tiles::tile_hashes(&tile_bytes, level0.width).ok_or_else(|| {
                failed(format!(
                    "{} has {} bytes, not {} hashes",
                    level0.path(),
                    tile_bytes.len(),
                    level0.width
                ))
            })?;
            for (i, (e, h)) in entries.iter().zip(&hashes).enumerate() {
                let index = bundle.first() + i as u64;
                if index < start {
                    // Verified before: the tile must still hold the leaf this client has.
                    let mine = replay.tree.stored(StoredId { level: 0, index });
                    if mine != Some(*h) {
                        return Err(tile_mismatch(&level0, i));
                    }
                    continue;
                }
                batch.push((index, e.to_vec()));
                want.push(*h);
            }
            let end = bundle.first() + u64::from(bundle.width);
            if batch.len() >= BATCH || end == size {
                let items = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                let hashes = std::mem::replace(&mut want, Vec::with_capacity(BATCH));
                let next = scope.spawn(move || {
                    let checked = check_all(&items, threads);
                    (items, checked, hashes, end)
                });
                if let Some(p) = pending.replace(next) {
                    done = replay.take_checked(p)? - start;
                    progress(done, todo);
                }
            }
        }
        if let Some(p) = pending.take() {
            done = replay.take_checked(p)? - start;
            progress(done, todo);
        }
        if done != todo {
            return Err(AuditError::Fetch(format!(
                "reading stopped after {done} of {todo} entries"
            )));
        }
        Ok(())
    })?;
    let Replay {
        tree,
        leaves,
        enrolments,
        ..
    } = replay;
    leaves
        .into_inner()
        .map_err(|e| local(e.error()))?
        .sync_all()
        .and_then(|_| enrolments.sync_all())
        .map_err(local)?;

    let root = tree.root(cp.size).map_err(local)?;
    if root != cp.root {
        // Keep nothing of a log that does not match its own checkpoint.
        let _ = std::fs::remove_file(state.leaves_path());
        return Err(failed(format!(
            "the entries do not hash to the signed checkpoint's root ({} != {})",
            b64(&root),
            b64(&cp.root)
        )));
    }
    // Every tile read above level 0 (and any read for the proofs) against the rebuilt tree.
    for (t, hashes) in &tiles.read {
        let height = (u32::from(t.level()) * tiles::TILE_HEIGHT) as u8;
        for (i, h) in hashes.iter().enumerate() {
            let id = StoredId {
                level: height,
                index: t.first() + i as u64,
            };
            if tree.stored(id) != Some(*h) {
                return Err(tile_mismatch(t, i));
            }
        }
    }
    // Remembered only now that the leaves and enrolments it vouches for are on disk, and whole:
    // a crash leaves the previous checkpoint (and with it the rollback check), never a torn one.
    crate::write_durably(&state.checkpoint_path(), note.as_bytes()).map_err(local)?;
    Ok(Report {
        checkpoint: cp.clone(),
        verified_now: todo,
        previous: remembered.map(|o| o.size),
        tiles_checked: tiles.read.len() as u64 + (last - first),
    })
}

/// The source's latest checkpoint (its note, verified) and the tiles of its size, none read yet.
fn latest(
    src: &mut dyn Source,
    vkey: &NoteVerifier,
) -> Result<(String, Checkpoint, Tiles), AuditError> {
    let note = src.checkpoint().map_err(AuditError::Fetch)?;
    let cp = Checkpoint::verify(&note, vkey)
        .map_err(|e| failed(format!("the checkpoint does not verify: {e}")))?;
    let tiles = Tiles {
        size: cp.size,
        read: HashMap::new(),
    };
    Ok((note, cp, tiles))
}

/// The checkpoint remembered at `path`, if any, once `cp` is shown to extend it: never smaller,
/// and consistent with it (the proof computed from `cp`'s tiles). `whose` names who remembered
/// it, in the refusals.
fn extends(
    path: &Path,
    whose: &str,
    vkey: &NoteVerifier,
    cp: &Checkpoint,
    tiles: &mut Tiles,
    src: &mut dyn Source,
) -> Result<Option<Checkpoint>, AuditError> {
    let note = match std::fs::read_to_string(path) {
        Ok(note) => note,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(local(format!("{}: {e}", path.display()))),
    };
    let old = Checkpoint::verify(&note, vkey)
        .map_err(|e| local(format!("the remembered checkpoint {}: {e}", path.display())))?;
    if cp.size < old.size {
        return Err(failed(format!(
            "the log went backwards: it now has {} entries, but {whose} {} before (a rollback)",
            cp.size, old.size
        )));
    }
    let ranges = merkle::consistency_ranges(old.size, cp.size).map_err(local)?;
    let proof = merkle::resolve(&ranges, |id| tiles.hash(src, id))?;
    merkle::verify_consistency(old.size, cp.size, &old.root, &cp.root, &proof).map_err(|_| {
        failed(format!(
            "the log forked: its checkpoint at size {} is not an extension of the one at size {} {whose} before",
            cp.size, old.size
        ))
    })?;
    Ok(Some(old))
}

/// Leaves under one hash of a tile at `level` (`256^level`; saturating past the u64 tree).
fn level_span(level: u8) -> u64 {
    1u64.checked_shl(u32::from(level) * tiles::TILE_HEIGHT)
        .unwrap_or(u64::MAX)
}

fn tile_mismatch(t: &Tile, i: usize) -> AuditError {
    failed(format!(
        "{} does not match the log's entries (hash {i}): the tile was forged or altered",
        t.path()
    ))
}

/// The enrolment entries saved by earlier runs; a record cut short by an interrupted run is
/// ignored (its entry's leaf was never saved either).
fn read_enrolments(p: &Path) -> Result<Vec<Entry>, AuditError> {
    let data = std::fs::read(p).unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = data.as_slice();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let n = u32::from_be_bytes(*len) as usize;
        let Some(body) = tail.get(..n) else { break };
        out.push(Entry::decode(body).map_err(|e| local(format!("audit state: {e}")))?);
        rest = &tail[n..];
    }
    Ok(out)
}

fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

mod mirror;
mod sources;
mod verify;

use verify::{Checking, Replay, check_all};

pub use mirror::{MirrorReport, mirror};
pub use sources::{Dir, Remote, Url};
