//! What the `vigil` binary's tests share: a home directory for its configuration, running it
//! without a TTY, and a trusted appliance with key files.
#![allow(dead_code)] // each test binary uses its own part of this

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use vigil_e2e::Appliance;

pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("tmp"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Runs `vigil` with no TTY, its config in this home.
    pub fn vigil(&self, args: &[&str]) -> Output {
        self.vigil_env(args, &[])
    }
    /// The same with extra environment variables.
    pub fn vigil_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(args)
            .envs(env.iter().copied())
            .env("VIGIL_HOME", self.path().join("config"))
            .env_remove("VIGIL_URL")
            .env_remove("VIGIL_IDENTITY")
            .env_remove("VIGIL_KEY_NAME")
            .stdin(Stdio::null())
            .current_dir(self.path())
            .output()
            .expect("vigil runs")
    }
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn trusted(a: &Appliance) -> Home {
    let h = Home::new();
    let fp = a.daemon().ca_fingerprint.clone();
    let out = ok(&h.vigil(&["trust", &a.url(), "--fingerprint", &fp]));
    assert!(
        out.contains(&fp) && out.contains("log key: e2e.vigil/log+"),
        "{out}"
    );
    h
}

pub fn key_file(h: &Home, a: &Appliance, who: (&str, u8)) -> PathBuf {
    let p = a.private_key_path(who.0, who.1);
    let dst = h.path().join(who.0);
    std::fs::copy(&p, &dst).expect("copy key");
    vigil_e2e::set_mode(&dst, 0o600);
    dst
}

/// A tile or entry bundle of a log held in memory (its tree and entries), as the appliance
/// serves it; an error for one the log does not hold at that width.
pub fn serve_tile(
    tree: &vigil_core::MemoryTree,
    entries: &[Vec<u8>],
    tile: &vigil_core::tiles::Tile,
) -> Result<Vec<u8>, String> {
    use vigil_core::tiles::{self, TileKind};
    let (first, width) = (tile.first(), u64::from(tile.width));
    match tile.kind {
        TileKind::Hashes { level } => {
            if tiles::level_width(tree.size(), level) < first + width {
                return Err(format!("404 {}", tile.path()));
            }
            let height = level * tiles::TILE_HEIGHT as u8;
            Ok((first..first + width)
                .flat_map(|index| {
                    tree.stored(vigil_core::merkle::StoredId {
                        level: height,
                        index,
                    })
                    .expect("held")
                })
                .collect())
        }
        TileKind::Entries => {
            let part = entries
                .get(first as usize..(first + width) as usize)
                .ok_or_else(|| format!("404 {}", tile.path()))?;
            Ok(tiles::write_bundle(part.iter().map(Vec::as_slice)))
        }
    }
}

/// The signed checkpoint of an in-memory log's whole tree.
pub fn checkpoint_of(
    tree: &vigil_core::MemoryTree,
    origin: &str,
    signer: &vigil_core::NoteSigner,
) -> Result<String, String> {
    let size = tree.size();
    let cp = vigil_core::Checkpoint {
        origin: origin.into(),
        size,
        root: tree.root(size).map_err(|e| e.to_string())?,
    };
    cp.sign(signer).map_err(|e| e.to_string())
}

/// Serves the files under `root` over plain HTTP on 127.0.0.1 (a static web server, as a
/// mirror would be published), one connection at a time, until the test ends; returns its URL.
pub fn serve_static(root: &Path) -> String {
    use std::io::{BufRead as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let root = root.to_owned();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(&conn);
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = first
                .split(' ')
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/');
            let file = (!path.split('/').any(|p| p == ".." || p.is_empty()))
                .then(|| std::fs::read(root.join(path)).ok())
                .flatten();
            let mut out = &conn;
            let _ = match file {
                Some(b) => out
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|()| out.write_all(&b)),
                None => out.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    url
}
