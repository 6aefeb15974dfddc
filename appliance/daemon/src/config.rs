//! Configuration in two stages (docs/spec.md §9): [`Args`] and [`FileConfig`] are what the user wrote
//! (flags, `VIGIL_*` variables, the TOML file); [`Settings`] is the validated result. Keys and the
//! policy are loaded afterwards (see `provision`), and any error refuses the start.
//!
//! Precedence: flag, then `VIGIL_*` variable, then the config file, then the embedded default.
//! The config file is `--config FILE`, else `/etc/vigil/vigild.toml` when it exists, else none
//! (the embedded default: state in `./vigil-data`, HTTPS on 127.0.0.1:8443).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;

use crate::clock::ClockMode;

/// The system-wide config file read when no `--config` is given.
pub const SYSTEM_CONFIG: &str = "/etc/vigil/vigild.toml";

/// Command-line flags; each is also a `VIGIL_*` variable and a config-file key.
#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "vigild",
    version,
    about = "vigil: the signed-alert appliance daemon"
)]
pub struct Args {
    /// State directory (log, keys, CA).
    #[arg(long, env = "VIGIL_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// HTTPS listen address.
    #[arg(long, env = "VIGIL_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Plain-HTTP listen address (answers 308 to HTTPS); `off` disables it.
    #[arg(long, env = "VIGIL_HTTP_LISTEN", value_name = "ADDR:PORT|off")]
    pub http_listen: Option<String>,
    /// Log origin (default `<hostname>/vigil`).
    #[arg(long, env = "VIGIL_ORIGIN", value_name = "NAME")]
    pub origin: Option<String>,
    /// Provisioning directory (keys/{sources,auditors,admins}/*.pub, policy.toml).
    #[arg(long, env = "VIGIL_PROVISION", value_name = "DIR")]
    pub provision: Option<PathBuf>,
    /// Config file (TOML).
    #[arg(long, env = "VIGIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run the GFX HAT self-test (each part in turn, PASS/FAIL with the reason) and exit:
    /// 0 when every part passed, 1 otherwise. Reads the `[hat]` wiring from the config file.
    #[arg(long)]
    pub check_hardware: bool,
    /// Rebuild the whole log tree from the entries before serving. Without it, a start checks
    /// the head against the last signed checkpoint, the stored hashes' root and every entry
    /// since the last full check, serves, and runs the full check in the background (a
    /// mismatch it finds turns the log read-only, as at start).
    #[arg(long)]
    pub full_check: bool,
}

/// The config file as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Args::state_dir`].
    pub state_dir: Option<PathBuf>,
    /// See [`Args::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Args::http_listen`].
    pub http_listen: Option<String>,
    /// See [`Args::origin`].
    pub origin: Option<String>,
    /// See [`Args::provision`].
    pub provision: Option<PathBuf>,
    /// How to judge clock synchronisation: `auto`, `assume-synced`, `unsynced`.
    pub clock: Option<ClockMode>,
    /// Image id written in `boot/v1` entries.
    pub image_id: Option<String>,
    /// Extra DNS names for the TLS certificate.
    pub tls_names: Option<Vec<String>>,
    /// Extra IP addresses for the TLS certificate.
    pub tls_addresses: Option<Vec<IpAddr>>,
    /// `auto` (the GFX HAT when present, else PNG), `png`, or `hat`.
    pub display: Option<crate::display::PanelKind>,
    /// Where the GFX HAT's parts are (docs/hardware.md); the GFX HAT's wiring by default.
    pub hat: Option<HatFile>,
}

/// The `[hat]` table: each key defaults to the GFX HAT on a Pi's 40-pin header.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HatFile {
    /// `auto` (the Pi's pin controller, found by its label), a chip label, or `/dev/gpiochipN`.
    pub gpio_chip: Option<String>,
    /// The LCD's data/command line (default 6).
    pub dc_line: Option<u32>,
    /// The LCD's reset line (default 5).
    pub rst_line: Option<u32>,
    /// The LCD's spidev node (default `/dev/spidev0.0`).
    pub spi: Option<PathBuf>,
    /// The backlight's and touch pads' i2c-dev node (default `/dev/i2c-1`).
    pub i2c: Option<PathBuf>,
}

impl HatFile {
    /// The wiring, validated.
    fn resolve(self) -> Result<vigil_display::hat::HatConfig, ConfigError> {
        let d = vigil_display::hat::HatConfig::default();
        let hat = vigil_display::hat::HatConfig {
            gpio_chip: self.gpio_chip.unwrap_or(d.gpio_chip),
            dc_line: self.dc_line.unwrap_or(d.dc_line),
            rst_line: self.rst_line.unwrap_or(d.rst_line),
            spi: self.spi.unwrap_or(d.spi),
            i2c: self.i2c.unwrap_or(d.i2c),
        };
        hat.validate().map_err(|e| cfg_err("hat", e))?;
        Ok(hat)
    }
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// State directory.
    pub state_dir: PathBuf,
    /// HTTPS address.
    pub listen: SocketAddr,
    /// Redirect address, if any.
    pub http_listen: Option<SocketAddr>,
    /// Log origin.
    pub origin: String,
    /// Provisioning directory.
    pub provision: PathBuf,
    /// Clock judgement.
    pub clock: ClockMode,
    /// `boot/v1` image id.
    pub image_id: String,
    /// TLS certificate DNS names.
    pub tls_names: Vec<String>,
    /// TLS certificate IP addresses.
    pub tls_addresses: Vec<IpAddr>,
    /// True when no config file was used and the state dir is the default: dev keys may be made.
    pub embedded_default: bool,
    /// Which panel shows the picture.
    pub display: crate::display::PanelKind,
    /// Where the GFX HAT's parts are.
    pub hat: vigil_display::hat::HatConfig,
}

/// A configuration error, naming its source.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {why}")]
pub struct ConfigError {
    /// Flag, variable or file.
    pub source_name: String,
    /// What is wrong.
    pub why: String,
}

fn cfg_err(source_name: impl Into<String>, why: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        source_name: source_name.into(),
        why: why.to_string(),
    }
}

impl Settings {
    /// Resolves flags, variables, file and defaults into validated settings.
    pub fn resolve(args: &Args) -> Result<Settings, ConfigError> {
        let file_path = args
            .config
            .clone()
            .or_else(|| Some(PathBuf::from(SYSTEM_CONFIG)).filter(|p| p.exists()));
        let file = match &file_path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).map_err(|e| cfg_err(p.display().to_string(), e))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| cfg_err(p.display().to_string(), e.to_string().trim_end()))?
            }
            None => FileConfig::default(),
        };
        Settings::merge(args, file, file_path.is_some())
    }

    /// Merges already-parsed inputs (tests use this directly).
    pub fn merge(args: &Args, file: FileConfig, had_file: bool) -> Result<Settings, ConfigError> {
        let state_dir = args
            .state_dir
            .clone()
            .or(file.state_dir)
            .unwrap_or_else(|| PathBuf::from("vigil-data"));
        let embedded_default = !had_file && args.state_dir.is_none();
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443)));
        let http_listen =
            match args.http_listen.clone().or(file.http_listen) {
                None => Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
                Some(s) if s == "off" => None,
                Some(s) => Some(s.parse().map_err(|_| {
                    cfg_err("http_listen", format!("`{s}` is not ADDR:PORT or off"))
                })?),
            };
        let origin = match args.origin.clone().or(file.origin) {
            Some(o) => o,
            None => format!("{}/vigil", hostname()),
        };
        if !vigil_core::statement::valid_origin(&origin) {
            return Err(cfg_err(
                "origin",
                format!("`{origin}` must be printable ASCII without spaces or `+`"),
            ));
        }
        let provision = args
            .provision
            .clone()
            .or(file.provision)
            .unwrap_or_else(|| state_dir.clone());
        let image_id = file.image_id.unwrap_or_else(|| "dev".into());
        if image_id.is_empty() || image_id.len() > 128 || image_id.chars().any(char::is_control) {
            return Err(cfg_err("image_id", "must be 1-128 printable characters"));
        }
        let mut tls_names = vec!["localhost".to_owned(), hostname()];
        tls_names.extend(file.tls_names.unwrap_or_default());
        tls_names.sort();
        tls_names.dedup();
        for n in &tls_names {
            let ok = !n.is_empty()
                && n.len() <= 253
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return Err(cfg_err("tls_names", format!("`{n}` is not a DNS name")));
            }
        }
        let mut tls_addresses: Vec<IpAddr> =
            vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
        if !listen.ip().is_unspecified() {
            tls_addresses.push(listen.ip());
        }
        tls_addresses.extend(file.tls_addresses.unwrap_or_default());
        tls_addresses.sort();
        tls_addresses.dedup();
        Ok(Settings {
            state_dir,
            listen,
            http_listen,
            origin,
            provision,
            clock: file.clock.unwrap_or(ClockMode::Auto),
            image_id,
            tls_names,
            tls_addresses,
            embedded_default,
            display: file.display.unwrap_or(crate::display::PanelKind::Auto),
            hat: file.hat.unwrap_or_default().resolve()?,
        })
    }

    /// `DIR/log.redb`.
    pub fn log_path(&self) -> PathBuf {
        self.state_dir.join("log.redb")
    }
}

/// The host's name, lower-cased, or `vigil` when it cannot be read.
pub fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let h: String = raw
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    if h.is_empty() { "vigil".into() } else { h }
}
