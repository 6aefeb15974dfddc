//! State-directory files: secrets are created 0600 and refused when others can read them;
//! every write is atomic (temporary file, fsync, rename); derived files (the display picture)
//! skip the fsync.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// A file problem, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}")]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub why: String,
}

pub(crate) fn err(path: &Path, why: impl std::fmt::Display) -> FileError {
    FileError {
        path: path.to_owned(),
        why: why.to_string(),
    }
}

/// Writes `data` to `path` atomically with the given mode, durably (fsync of the file and of
/// its directory).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), FileError> {
    write_renamed(path, data, mode, true)
}

/// Writes derived state (mode 0644): atomically (a reader sees the old or the new file, never
/// a mix) but without fsync. A power cut may leave the old file or none; its writer makes it
/// again from the log. Syncs cost milliseconds on an SD card and are kept for the log itself.
pub fn write_derived(path: &Path, data: &[u8]) -> Result<(), FileError> {
    write_renamed(path, data, 0o644, false)
}

fn write_renamed(path: &Path, data: &[u8], mode: u32, durable: bool) -> Result<(), FileError> {
    let dir = path
        .parent()
        .ok_or_else(|| err(path, "no parent directory"))?;
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| err(&tmp, e))?;
    f.write_all(data)
        .and_then(|_| if durable { f.sync_all() } else { Ok(()) })
        .map_err(|e| err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| err(path, e))?;
    if !durable {
        return Ok(());
    }
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| err(dir, e))
}

/// Writes a secret (mode 0600).
pub fn write_secret(path: &Path, data: &[u8]) -> Result<(), FileError> {
    write_atomic(path, data, 0o600)
}

/// Writes a public file (mode 0644).
pub fn write_public(path: &Path, data: &[u8]) -> Result<(), FileError> {
    write_atomic(path, data, 0o644)
}

/// Reads a secret, refusing one that group or others may read.
pub fn read_secret(path: &Path) -> Result<Zeroizing<String>, FileError> {
    let meta = std::fs::metadata(path).map_err(|e| err(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(err(
            path,
            format!("secret is readable by others (mode {mode:o}); run chmod 600"),
        ));
    }
    if meta.len() > 64 * 1024 {
        return Err(err(path, "too large for a key file"));
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| err(path, e))
}

/// 32 random bytes from the operating system.
pub fn random_seed() -> Zeroizing<[u8; 32]> {
    let mut seed = Zeroizing::new([0u8; 32]);
    // The OS RNG failing is not recoverable: no key can be made safely.
    if getrandom::fill(seed.as_mut()).is_err() {
        panic!("the operating system's random number generator failed");
    }
    seed
}

/// A fresh random nonce for device statements and signed requests.
pub fn random_nonce() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        panic!("the operating system's random number generator failed");
    }
    hex::encode(b)
}
