//! Storage backends for tests and benchmarks (redb ships an in-memory one for the same reason):
//! a file whose syncs a test controls — each can take longer (a model of an SD card), is
//! counted, can be held until released (to make a race with the writer certain), and can fail as
//! on a full disk.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// What the backend's syncs do; shared with the test.
#[derive(Debug, Default)]
pub struct Syncs {
    delay: Duration,
    count: AtomicU64,
    hold: AtomicBool,
    /// (syncs waiting at the hold, releases granted)
    gate: Mutex<(u64, u64)>,
    moved: Condvar,
    /// While set, writes and syncs fail as on a full disk.
    full: AtomicBool,
}

impl Syncs {
    /// Every sync takes `delay` longer.
    pub fn slow(delay: Duration) -> Arc<Syncs> {
        Arc::new(Syncs {
            delay,
            ..Syncs::default()
        })
    }

    /// Syncs as fast as the file's, countable and holdable.
    pub fn plain() -> Arc<Syncs> {
        Arc::new(Syncs::default())
    }

    /// Syncs so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// From now on writes and syncs fail with ENOSPC, as on a full disk.
    pub fn fill_disk(&self) {
        self.full.store(true, Ordering::SeqCst);
    }

    /// Space again: writes and syncs succeed.
    pub fn free_disk(&self) {
        self.full.store(false, Ordering::SeqCst);
    }

    /// Whether the disk is full.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }

    fn check_space(&self) -> std::io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    }

    /// From now on every sync waits for a [`Syncs::release`].
    pub fn hold(&self) {
        self.hold.store(true, Ordering::SeqCst);
    }

    /// Waits until a sync is held (the writer is inside a commit); false after `timeout`.
    pub fn wait_held(&self, timeout: Duration) -> bool {
        let g = self
            .gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (g, _) = self
            .moved
            .wait_timeout_while(g, timeout, |(waiting, released)| waiting <= released)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.0 > g.1
    }

    /// Stops holding, and lets every held sync go.
    pub fn release(&self) {
        self.hold.store(false, Ordering::SeqCst);
        let mut g = self
            .gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.1 = g.0;
        self.moved.notify_all();
    }

    fn sync(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        if self.hold.load(Ordering::SeqCst) {
            let mut g = self
                .gate
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            g.0 += 1;
            let ticket = g.0;
            self.moved.notify_all();
            while g.1 < ticket {
                g = self
                    .moved
                    .wait(g)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
    }
}

/// The log file under [`Syncs`]' control.
#[derive(Debug)]
pub struct ControlledSync {
    inner: redb::backends::FileBackend,
    syncs: Arc<Syncs>,
}

impl ControlledSync {
    /// `file`, its syncs under `syncs`' control.
    pub fn new(
        file: std::fs::File,
        syncs: Arc<Syncs>,
    ) -> Result<ControlledSync, crate::StoreError> {
        Ok(ControlledSync {
            inner: redb::backends::FileBackend::new(file)
                .map_err(|e| crate::StoreError::Db(e.into()))?,
            syncs,
        })
    }
}

impl redb::StorageBackend for ControlledSync {
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        if len > self.inner.len()? {
            self.syncs.check_space()?;
        }
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.syncs.check_space()?;
        self.syncs.sync();
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.syncs.check_space()?;
        self.inner.write(offset, data)
    }
}
