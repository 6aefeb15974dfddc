//! The client's configuration: `config.toml` in the config directory (`$VIGIL_HOME`, else
//! `$XDG_CONFIG_HOME/vigil`, else `~/.config/vigil`), overridden by `VIGIL_*` variables and flags.
//! The same directory holds the pinned `ca.pem` and `log.vkey` (from `vigil trust`), `receipts/`
//! and the audit state `audit/`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `config.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Default appliance URL.
    pub url: Option<String>,
    /// Path of the signing key (OpenSSH private key).
    pub identity: Option<PathBuf>,
    /// Enrolled name of that key (default: the key file's name).
    pub key_name: Option<String>,
}

/// The config directory.
pub fn config_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("VIGIL_HOME") {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("vigil");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".config").join("vigil")
}

/// Reads `config.toml` (missing is empty).
pub fn load(dir: &Path) -> Result<FileConfig, String> {
    let p = dir.join("config.toml");
    match std::fs::read_to_string(&p) {
        Ok(t) => {
            toml::from_str(&t).map_err(|e| format!("{}: {}", p.display(), e.to_string().trim_end()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

/// Writes `config.toml`.
pub fn save(dir: &Path, cfg: &FileConfig) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = toml::to_string(cfg).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("config.toml"), text).map_err(|e| format!("{}: {e}", dir.display()))
}
