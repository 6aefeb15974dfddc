//! `vigil log mirror`: a static C2SP tlog-tiles copy of the log that any web server can serve.

use std::path::Path;

use vigil_core::merkle;
use vigil_core::tiles::{self, Tile, TileKind};
use vigil_core::{Checkpoint, NoteVerifier};

use super::{AuditError, Source, extends, failed, latest, local};

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
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AuditError> {
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
