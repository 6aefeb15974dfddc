//! Where an audit or a mirror reads the log: the appliance ([`Remote`]: hash tiles unsigned,
//! bundles as signed reads), a mirror directory ([`Dir`]) or a mirror on a web server ([`Url`]).

use std::path::{Path, PathBuf};

use vigil_core::tiles::{TILE_WIDTH, Tile, TileKind};

use super::Source;

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
        let root = self.root.clone();
        read_or_cut(tile, |t| {
            let p = root.join(t.path());
            match std::fs::read(&p) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("{}: {e}", p.display())),
            }
        })
        .map_err(|e| {
            e.unwrap_or_else(|| format!("{}: not found", root.join(tile.path()).display()))
        })
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
        read_or_cut(tile, |t| self.get(&format!("/{}", t.path()))).map_err(|e| {
            e.unwrap_or_else(|| format!("{}/{}: not found", self.c.base(), tile.path()))
        })
    }
}

/// Reads `tile` through `read` (`None`: not there). A partial tile that is not there is cut from
/// the full tile that replaced it. `Err(None)`: neither is there.
fn read_or_cut(
    tile: &Tile,
    mut read: impl FnMut(&Tile) -> Result<Option<Vec<u8>>, String>,
) -> Result<Vec<u8>, Option<String>> {
    if let Some(b) = read(tile)? {
        return Ok(b);
    }
    if tile.is_full() {
        return Err(None);
    }
    let full = Tile {
        width: TILE_WIDTH as u16,
        ..*tile
    };
    read(&full)?.map(|b| cut(tile, &b)).ok_or(None)
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
    use super::super::mirror::write_atomic;
    use super::*;
    use vigil_core::tiles;

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
