//! The appliance clock: milliseconds now, and whether NTP has synchronised it (Pis before the 5
//! have no RTC, so after boot the clock may be far off until NTP answers).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Time source for the daemon; tests inject [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    /// Unix milliseconds.
    fn now_ms(&self) -> u64;
    /// Whether the clock is synchronised (the `ts` window is enforced only then).
    fn synced(&self) -> bool;
    /// Unix seconds.
    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }
}

/// How the system clock's synchronisation is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    /// systemd-timesyncd's flag file when timesyncd runs; otherwise assume synchronised.
    Auto,
    /// Always synchronised.
    AssumeSynced,
    /// Never synchronised (entries say `clock: unsynced`, no `ts` window).
    Unsynced,
}

/// The system clock.
#[derive(Debug, Clone)]
pub struct SystemClock {
    mode: ClockMode,
    timesync_dir: PathBuf,
}

impl SystemClock {
    /// A system clock judged by `mode`.
    pub fn new(mode: ClockMode) -> Self {
        SystemClock {
            mode,
            timesync_dir: PathBuf::from("/run/systemd/timesync"),
        }
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
    fn synced(&self) -> bool {
        match self.mode {
            ClockMode::AssumeSynced => true,
            ClockMode::Unsynced => false,
            // timesyncd touches this file once it has synchronised the clock.
            ClockMode::Auto => {
                !self.timesync_dir.exists() || self.timesync_dir.join("synchronized").exists()
            }
        }
    }
}

/// A clock the tests move by hand.
#[derive(Debug)]
pub struct ManualClock {
    ms: AtomicU64,
    synced: AtomicBool,
}

impl ManualClock {
    /// Starts at `ms`, synchronised.
    pub fn new(ms: u64) -> Self {
        ManualClock {
            ms: AtomicU64::new(ms),
            synced: AtomicBool::new(true),
        }
    }
    /// Moves the clock.
    pub fn set_ms(&self, ms: u64) {
        self.ms.store(ms, Ordering::SeqCst);
    }
    /// Sets the synchronisation state.
    pub fn set_synced(&self, s: bool) {
        self.synced.store(s, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::SeqCst)
    }
    fn synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }
}
