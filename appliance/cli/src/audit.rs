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
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use vigil_core::admission::{self, Rules};
use vigil_core::merkle::{self, Hash, StoredId};
use vigil_core::registry::Registry;
use vigil_core::sig::Verified;
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

/// One entry, decoded, placed, signature-checked and hashed (the part that runs on all cores).
struct Checked {
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
fn check_all(items: &[(u64, Vec<u8>)], threads: usize) -> Vec<Result<Checked, AuditError>> {
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
struct Replay<'a> {
    registry: Registry,
    tree: MemoryTree,
    rules: Rules<'a>,
    leaves: std::io::BufWriter<std::fs::File>,
    enrolments: std::fs::File,
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
type Checking<'s> = std::thread::ScopedJoinHandle<
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
    fn take_checked(&mut self, p: Checking<'_>) -> Result<u64, AuditError> {
        let (items, checked, want, end) = p.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        for (((index, bytes), c), h) in items.into_iter().zip(checked).zip(want) {
            self.take(index, &bytes, c?, &h)?;
        }
        Ok(end)
    }

    /// Checks `batch` on every core, then takes its entries in order; `want` holds their
    /// level-0 tile hashes. Both are left empty.
    fn take_all(
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
    std::fs::write(state.enrolments_path(), &kept).map_err(local)?;
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
    std::fs::write(state.checkpoint_path(), &note).map_err(local)?;
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

/// A mirror directory as [`mirror`] writes it (`checkpoint`, `tile/…`), read as a [`Source`].
/// A partial tile the mirror no longer has is cut from the full tile that replaced it.
pub struct Dir {
    root: PathBuf,
}

impl Dir {
    /// The mirror at `root`.
    pub fn new(root: &Path) -> Self {
        Dir {
            root: root.to_owned(),
        }
    }
}

impl Source for Dir {
    fn checkpoint(&mut self) -> Result<String, String> {
        let p = self.root.join("checkpoint");
        std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
    }
    fn tile(&mut self, tile: &Tile) -> Result<Vec<u8>, String> {
        let p = self.root.join(tile.path());
        match std::fs::read(&p) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !tile.is_full() => {
                let full = Tile {
                    width: TILE_WIDTH as u16,
                    ..*tile
                };
                let b = std::fs::read(self.root.join(full.path()))
                    .map_err(|_| format!("{}: {e}", p.display()))?;
                Ok(cut(tile, &b))
            }
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    }
}

/// A mirror published by a web server (`http://` or `https://` with the system's certificate
/// authorities), read as a [`Source`]. The transport is not what makes it trustworthy: every
/// byte read is checked against the pinned vkey. A partial tile the server no longer has (404)
/// is cut from the full tile that replaced it.
pub struct Url {
    c: crate::client::Client,
}

impl Url {
    /// The mirror at `base` (the directory holding `checkpoint` and `tile/`).
    pub fn new(base: &str) -> Result<Self, String> {
        let c = crate::client::Client::with_system_roots(base).map_err(|e| e.to_string())?;
        Ok(Url { c })
    }

    fn get(&self, path: &str) -> Result<Option<Vec<u8>>, String> {
        let a = self.c.get(path).map_err(|e| e.to_string())?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 => Ok(None),
            _ => Err(format!("{}{path}: {}", self.c.base(), a.summary())),
        }
    }
}

impl Source for Url {
    fn checkpoint(&mut self) -> Result<String, String> {
        let b = self
            .get("/checkpoint")?
            .ok_or_else(|| format!("{}/checkpoint: not found", self.c.base()))?;
        String::from_utf8(b).map_err(|_| "the mirror's checkpoint is not UTF-8".to_owned())
    }
    fn tile(&mut self, tile: &Tile) -> Result<Vec<u8>, String> {
        let path = format!("/{}", tile.path());
        if let Some(b) = self.get(&path)? {
            return Ok(b);
        }
        let full = Tile {
            width: TILE_WIDTH as u16,
            ..*tile
        };
        match (tile.is_full(), self.get(&format!("/{}", full.path()))?) {
            (false, Some(b)) => Ok(cut(tile, &b)),
            _ => Err(format!("{}{path}: not found", self.c.base())),
        }
    }
}

/// The first `tile.width` hashes or entries of a wider tile's bytes (a cut that does not fit is
/// returned whole, for the caller's length checks to refuse).
fn cut(tile: &Tile, wider: &[u8]) -> Vec<u8> {
    let n = usize::from(tile.width);
    match tile.kind {
        TileKind::Hashes { .. } => wider.get(..n * 32).unwrap_or(wider).to_vec(),
        TileKind::Entries => {
            let mut at = 0;
            for _ in 0..n {
                let Some(len) = wider.get(at..at + 2) else {
                    return wider.to_vec();
                };
                at += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
            }
            wider.get(..at).unwrap_or(wider).to_vec()
        }
    }
}

/// What [`mirror`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorReport {
    /// The checkpoint the mirror now serves.
    pub checkpoint: Checkpoint,
    /// The size the mirror served before, if any.
    pub previous: Option<u64>,
    /// Hash tiles written in this run.
    pub tiles_written: u64,
    /// Entry bundles written in this run.
    pub bundles_written: u64,
}

/// Writes or updates a static tlog-tiles mirror of `src` in `dir`: the hash tiles (and with
/// `entries` the bundles) of the checkpoint's size, then the checkpoint itself, last and
/// atomically, so the mirror never names a size it cannot serve. Full tiles already present are
/// kept (they never change). Before anything is written the checkpoint must verify, be no
/// smaller than the mirror's and consistent with it, and the tiles must hash to its root; every
/// bundle written must hash to its level-0 tile. `progress(done, todo)` counts files.
pub fn mirror(
    src: &mut dyn Source,
    vkey: &NoteVerifier,
    dir: &Path,
    entries: bool,
    mut progress: impl FnMut(u64, u64),
) -> Result<MirrorReport, AuditError> {
    let (note, cp, mut tiles) = latest(src, vkey)?;
    let previous = extends(
        &dir.join("checkpoint"),
        "the mirror held",
        vkey,
        &cp,
        &mut tiles,
        src,
    )?
    .map(|old| old.size);
    if merkle::tree_hash(cp.size, |id| tiles.hash(src, id))? != cp.root {
        return Err(failed(
            "the tiles do not hash to the signed checkpoint's root",
        ));
    }
    let mut todo: Vec<Tile> = tiles::tiles_for_size(cp.size);
    if entries {
        todo.extend(tiles::bundles_for_size(cp.size));
    }
    todo.retain(|t| !(t.is_full() && dir.join(t.path()).is_file()));
    let (mut tiles_written, mut bundles_written) = (0, 0);
    let total = todo.len() as u64;
    for (n, t) in todo.iter().enumerate() {
        let bytes = match t.kind {
            TileKind::Hashes { .. } => {
                let hashes = tiles.fetch(src, *t)?;
                tiles_written += 1;
                hashes.concat()
            }
            TileKind::Entries => {
                let bytes = src.tile(t).map_err(AuditError::Fetch)?;
                let level0 = Tile {
                    kind: TileKind::Hashes { level: 0 },
                    ..*t
                };
                let want = tiles.fetch(src, level0)?;
                let framed = tiles::read_bundle(&bytes, t.width)
                    .ok_or_else(|| failed(format!("{} is not well framed", t.path())))?;
                if let Some(i) = framed
                    .iter()
                    .zip(want)
                    .position(|(e, h)| merkle::leaf_hash(e) != *h)
                {
                    return Err(failed(format!(
                        "entry {} of {} does not hash to its level-0 tile",
                        t.first() + i as u64,
                        t.path()
                    )));
                }
                bundles_written += 1;
                bytes
            }
        };
        write_atomic(&dir.join(t.path()), &bytes)?;
        // Level-0 tiles of bundles already written are not kept in memory.
        if matches!(t.kind, TileKind::Entries) {
            tiles.read.remove(&Tile {
                kind: TileKind::Hashes { level: 0 },
                ..*t
            });
        }
        progress(n as u64 + 1, total);
    }
    write_atomic(&dir.join("checkpoint"), note.as_bytes())?;
    Ok(MirrorReport {
        checkpoint: cp,
        previous,
        tiles_written,
        bundles_written,
    })
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename (a reader sees the
/// old file or the new one, never a part).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AuditError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| local(format!("{}: {e}", parent.display())))?;
    let tmp = parent.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("tile")
    ));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| local(format!("{}: {e}", path.display())))
}

/// The appliance, as the audit and the mirror read it: hash tiles unsigned, entry bundles as
/// signed reads by `reader` (without one, a bundle is asked for unsigned and refused).
pub struct Remote {
    c: crate::client::Client,
    reader: Option<(String, vigil_core::SigningKey)>,
}

impl Remote {
    /// The appliance behind `c`, read by `reader` (key name and key).
    pub fn new(c: crate::client::Client, reader: Option<(String, vigil_core::SigningKey)>) -> Self {
        Remote { c, reader }
    }
}

impl Source for Remote {
    fn checkpoint(&mut self) -> Result<String, String> {
        let a = self
            .c
            .get("/v1/log/checkpoint")
            .map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(format!("/v1/log/checkpoint: {}", a.summary()));
        }
        Ok(a.text())
    }
    fn tile(&mut self, tile: &Tile) -> Result<Vec<u8>, String> {
        let path = format!("/v1/log/{}", tile.path());
        let a = match (&tile.kind, &self.reader) {
            (TileKind::Entries, Some((name, key))) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                self.c.signed_get(&path, name, key, now)
            }
            _ => self.c.get(&path),
        }
        .map_err(|e| e.to_string())?;
        if a.status != 200 {
            return Err(format!("{path}: {}", a.summary()));
        }
        Ok(a.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_tile_is_cut_from_the_full_one_that_replaced_it() {
        let hashes: Vec<u8> = (0..=255u8).flat_map(|i| [i; 32]).collect();
        let partial = Tile {
            kind: TileKind::Hashes { level: 0 },
            index: 0,
            width: 3,
        };
        assert_eq!(cut(&partial, &hashes), hashes[..96]);
        let entries: Vec<Vec<u8>> = (0..256).map(|i| vec![b'e'; i % 7]).collect();
        let bundle = tiles::write_bundle(entries.iter().map(Vec::as_slice));
        let first3 = Tile {
            kind: TileKind::Entries,
            ..partial
        };
        let got = cut(&first3, &bundle);
        assert_eq!(
            tiles::read_bundle(&got, 3),
            Some(entries[..3].iter().map(Vec::as_slice).collect())
        );
        // A "full" tile too short to cut from is handed back whole, for the length checks.
        assert_eq!(cut(&first3, &bundle[..3]), bundle[..3]);
    }

    #[test]
    fn a_mirror_directory_falls_back_to_the_full_tile() {
        let dir = tempfile::tempdir().expect("tmp");
        let full = Tile {
            kind: TileKind::Hashes { level: 0 },
            index: 0,
            width: 256,
        };
        let bytes: Vec<u8> = (0..=255u8).flat_map(|i| [i; 32]).collect();
        write_atomic(&dir.path().join(full.path()), &bytes).expect("write");
        let mut src = Dir::new(dir.path());
        let partial = Tile { width: 10, ..full };
        assert_eq!(src.tile(&partial).expect("cut"), bytes[..320]);
        let other = Tile {
            index: 1,
            ..partial
        };
        assert!(src.tile(&other).is_err());
    }
}
