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
    /// `verified`, stamped for the log with the moment it arrives and whether that moment
    /// comes from a synchronised clock.
    fn submission(&self, verified: vigil_core::Verified) -> vigil_store::Submission {
        vigil_store::Submission {
            received_ms: self.now_ms(),
            clock: if self.synced() {
                vigil_core::ClockState::Synced
            } else {
                vigil_core::ClockState::Unsynced
            },
            verified,
        }
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
#[derive(Debug)]
pub struct SystemClock {
    mode: ClockMode,
    timesync_dir: PathBuf,
    /// `Auto`: once timesyncd has synchronised the clock it stays so (its flag file is only
    /// made, never removed, while it runs).
    synced_seen: AtomicBool,
    /// `Auto`: when the flag file was last looked for (unix ms); looked for at most once a
    /// second, not on every request.
    checked_ms: AtomicU64,
    last: AtomicBool,
}

/// How often `Auto` looks for timesyncd's flag file while the clock is not yet synchronised.
const TIMESYNC_RECHECK_MS: u64 = 1000;

impl SystemClock {
    /// A system clock judged by `mode`.
    pub fn new(mode: ClockMode) -> Self {
        SystemClock::with_timesync_dir(mode, PathBuf::from("/run/systemd/timesync"))
    }

    fn with_timesync_dir(mode: ClockMode, timesync_dir: PathBuf) -> Self {
        SystemClock {
            mode,
            timesync_dir,
            synced_seen: AtomicBool::new(false),
            checked_ms: AtomicU64::new(0),
            last: AtomicBool::new(false),
        }
    }

    fn timesync_flag(&self) -> bool {
        if self.synced_seen.load(Ordering::Relaxed) {
            return true;
        }
        let now = self.now_ms();
        let checked = self.checked_ms.load(Ordering::Relaxed);
        if checked != 0 && now.saturating_sub(checked) < TIMESYNC_RECHECK_MS {
            return self.last.load(Ordering::Relaxed);
        }
        let flag = self.timesync_dir.join("synchronized").exists();
        let synced = flag || !self.timesync_dir.exists();
        self.last.store(synced, Ordering::Relaxed);
        self.checked_ms.store(now.max(1), Ordering::Relaxed);
        self.synced_seen.store(flag, Ordering::Relaxed);
        synced
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
            ClockMode::Auto => self.timesync_flag(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_timesyncd_and_looks_at_most_once_a_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ts = dir.path().join("timesync");
        // timesyncd not running: nothing to wait for.
        assert!(SystemClock::with_timesync_dir(ClockMode::Auto, ts.clone()).synced());
        // Running, not yet synchronised.
        std::fs::create_dir(&ts).expect("mkdir");
        let c = SystemClock::with_timesync_dir(ClockMode::Auto, ts.clone());
        assert!(!c.synced());
        // The flag appears: the answer is the cached one until the next look (a second).
        std::fs::write(ts.join("synchronized"), b"").expect("flag");
        assert!(!c.synced(), "looked again within the second");
        let fresh = SystemClock::with_timesync_dir(ClockMode::Auto, ts.clone());
        assert!(fresh.synced());
        // Once synchronised it stays so without looking again.
        std::fs::remove_file(ts.join("synchronized")).expect("rm");
        assert!(fresh.synced());
        assert!(SystemClock::with_timesync_dir(ClockMode::AssumeSynced, ts.clone()).synced());
        assert!(!SystemClock::with_timesync_dir(ClockMode::Unsynced, ts).synced());
    }
}
