//! vigil-store: the append-only, tamper-evident log in redb (docs/spec.md §4).
//!
//! One redb write transaction per batch holds the entries, their stored tree hashes, the new
//! head, every index, and the checkpoint signed for that head; nothing is ever rewritten or
//! deleted. A single writer ([`Committer`]) drains a queue so concurrent submitters share one
//! fsync. At open, a self-check rebuilds the tree from the entries and compares every stored hash,
//! the head and the last checkpoint (or, quickly, what changed since the last full check, with
//! the full check owed: `check.rs`); on any mismatch the store serves reads only and says why.
//! The byte-level format is in `docs/format.md`.

mod append;
mod check;
mod committer;
mod derived;
mod journal;
mod query;
mod read;
mod tables;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use redb::{Database, ReadableDatabase as _, ReadableTable as _, StorageBackend};
use vigil_core::merkle::{self, Hash, StoredId};
use vigil_core::{Checkpoint, ClockState, Denied, Entry, NoteSigner, TlogProof, Verified};

pub mod backends;
pub use committer::{
    AppendError, CommitHook, Committer, MAX_BATCH, PERSIST_WHEN_IDLE, QueueFull, Ticket,
};
pub use journal::JOURNAL_BYTES;
pub use query::{Filter, MAX_LIMIT, Page};
use tables::*;

/// Errors of the store as a whole (storage, corruption).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb reported an error.
    #[error("storage: {0}")]
    Db(#[from] redb::Error),
    /// The stored data contradicts itself.
    #[error("log integrity: {0}")]
    Corrupt(String),
    /// The log refuses writes (self-check failed, or an earlier write failed).
    #[error("log not writable: {0}")]
    NotWritable(String),
    /// An index or size beyond the log.
    #[error("{0}")]
    OutOfRange(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.into()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// Why one submission of a batch was not appended (the rest of the batch is unaffected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The signer already used this nonce for other bytes.
    #[error("nonce already used by this signer for a different statement (entry {0})")]
    Replay(u64),
    /// The gate refused it (for example: its key was revoked by an entry committed before it).
    #[error("{0}")]
    Denied(Denied),
}

/// Admission at the log's serialization point. The writer asks the gate about each new statement
/// in log order, so a decision sees every entry before it — including earlier ones in the same
/// batch — and a revocation takes effect for every statement committed after it.
pub trait Gate {
    /// May `sub` be appended after everything appended so far?
    fn admit(&mut self, sub: &Submission) -> Result<(), Denied>;
    /// `entry` was appended to the batch being written.
    fn appended(&mut self, entry: &Entry);
    /// The batch is durable: what `appended` reported is now the log.
    fn committed(&mut self);
    /// The batch was not committed: forget what `appended` reported since the last commit.
    fn abandoned(&mut self);
}

/// A gate that admits everything (tests, benchmarks, tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenGate;

impl Gate for OpenGate {
    fn admit(&mut self, _: &Submission) -> Result<(), Denied> {
        Ok(())
    }
    fn appended(&mut self, _: &Entry) {}
    fn committed(&mut self) {}
    fn abandoned(&mut self) {}
}

/// A statement to append, with what the appliance observed when it arrived.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The verified statement.
    pub verified: Verified,
    /// Appliance clock, unix milliseconds.
    pub received_ms: u64,
    /// Whether that clock is synchronised.
    pub clock: ClockState,
}

/// A durable append: the entry's index and leaf hash; `created` is false for an idempotent
/// re-submission of a statement already in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Position in the log.
    pub index: u64,
    /// RFC 9162 leaf hash of the entry bytes.
    pub leaf: Hash,
    /// True when this call added the entry.
    pub created: bool,
    /// For an entry this call added: its receipt, the inclusion proof against the checkpoint
    /// signed for this batch, read inside the batch's own transaction (a later read would wait
    /// for whatever commit is then in progress).
    pub receipt: Option<TlogProof>,
}

/// The current tree head and its signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Number of entries.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed checkpoint note for this head.
    pub checkpoint: String,
}

/// Opens the log's database again after a failed write: whether it is worth trying (space to
/// write), and the opening itself (the file, or a test's backend).
struct Reopen {
    ready: Box<dyn Fn() -> bool + Send + Sync>,
    open: Box<dyn Fn() -> Result<Database, StoreError> + Send + Sync>,
}

/// How much a recovery wants to be able to write beside the log before it reopens it (redb
/// writes when it opens a log that was not closed cleanly).
pub const RECOVERY_PROBE_BYTES: usize = 1 << 20;

/// Whether `RECOVERY_PROBE_BYTES` can be written and synced in `dir` (and removed again).
fn space_in(dir: &Path) -> bool {
    use std::io::Write as _;
    let probe = dir.join(".vigil-space-probe");
    let ok = std::fs::File::create(&probe)
        .and_then(|mut f| {
            f.write_all(&vec![0u8; RECOVERY_PROBE_BYTES])?;
            f.sync_all()
        })
        .is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

/// The log.
pub struct Store {
    /// `None` only for the moment a recovery swaps the database.
    db: RwLock<Option<Arc<Database>>>,
    reopen: Option<Reopen>,
    /// True when writes stopped because a write failed (a full disk, an I/O error): reopening
    /// may cure that. A failed self-check is not cured by waiting.
    recoverable: AtomicBool,
    signer: NoteSigner,
    /// Held for a whole batch (write and sync): there is one writer at a time.
    writer: Mutex<()>,
    /// The published head: replaced once a batch is durable, and only held for that moment,
    /// so readers (receipts, checkpoints) never wait for a sync in progress.
    head: Mutex<Head>,
    /// `Err(reason)` once the log must not take writes.
    writable: Mutex<Result<(), String>>,
    /// A quick start owes the full self-check ([`Store::finish_check`]).
    check_owed: AtomicBool,
    /// The write-ahead journal (journal.rs); taken under `writer`. A log without one commits
    /// every batch to redb durably.
    journal: Mutex<Option<journal::Journal>>,
}

/// How much [`Store::open_checked`] checks before it returns (docs/spec.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Rebuild the whole tree from the entries before serving.
    Full,
    /// Check the head against the last checkpoint, the stored hashes' root, the counts and the
    /// entries since the last full check passed; the full check is then owed
    /// ([`Store::finish_check`]). A log no full check ever passed on is checked fully.
    Quick,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("origin", &self.origin())
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the log in a file. The signer's name is the log origin.
    ///
    /// A new log is created under a temporary name and renamed into place only once its first
    /// commit is durable, so a power cut during creation never leaves a half-made file behind.
    pub fn open(path: &Path, signer: NoteSigner) -> Result<Store, StoreError> {
        Store::open_checked(path, signer, Check::Full)
    }

    /// [`Store::open`], checking as `check` says.
    pub fn open_checked(
        path: &Path,
        signer: NoteSigner,
        check: Check,
    ) -> Result<Store, StoreError> {
        let journal_path = journal_path(path);
        let io = |e: std::io::Error| StoreError::Db(e.into());
        if !path.exists() {
            // A journal without its log continues nothing.
            remove_if_present(&journal_path).map_err(io)?;
            let mut tmp = path.as_os_str().to_owned();
            tmp.push(".creating");
            let tmp = std::path::PathBuf::from(tmp);
            remove_if_present(&tmp).map_err(io)?;
            {
                let db = Database::create(&tmp)?;
                create_layout(&db, &signer)?;
            }
            std::fs::rename(&tmp, path).map_err(io)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io)?;
            }
        }
        let path = path.to_owned();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let first = Database::create(&path)?;
        let journal = open_journal_file(&journal_path).map_err(io)?;
        // Reopening never creates: a log that vanished is not replaced by an empty one.
        let reopen = Reopen {
            ready: Box::new(move || space_in(&dir)),
            open: Box::new(move || Ok(Database::open(&path)?)),
        };
        Store::init(first, Some(reopen), journal, signer, check)
    }

    /// Opens (or creates) the log on a redb backend with its write-ahead journal on another
    /// (the load benchmark's model of an SD card puts both under one sync delay). As with
    /// [`Store::open_with_backend`], such a log cannot [`Store::recover`].
    /// `capacity` is the journal's size ([`JOURNAL_BYTES`] for the real one; tests make it
    /// small so that its rounds end often).
    pub fn open_with_journal(
        backend: impl StorageBackend,
        journal: impl StorageBackend,
        capacity: u64,
        signer: NoteSigner,
        check: Check,
    ) -> Result<Store, StoreError> {
        let journal = journal::Journal::open(Box::new(journal), capacity)
            .map_err(|e| StoreError::Db(e.into()))?;
        Store::init(
            Database::builder().create_with_backend(backend)?,
            None,
            Some(journal),
            signer,
            check,
        )
    }

    /// Opens (or creates) the log on any redb storage backend (tests inject failing ones). A
    /// log opened so cannot [`Store::recover`]: there is no second backend to open.
    pub fn open_with_backend(
        backend: impl StorageBackend,
        signer: NoteSigner,
    ) -> Result<Store, StoreError> {
        Store::init(
            Database::builder().create_with_backend(backend)?,
            None,
            None,
            signer,
            Check::Full,
        )
    }

    /// Opens the log on backends `make` makes: one now, another for each [`Store::recover`]
    /// that `ready` allows.
    pub fn open_with_backends<B: StorageBackend>(
        make: impl Fn() -> Result<B, StoreError> + Send + Sync + 'static,
        ready: impl Fn() -> bool + Send + Sync + 'static,
        signer: NoteSigner,
    ) -> Result<Store, StoreError> {
        let reopen = Reopen {
            ready: Box::new(ready),
            open: Box::new(move || Ok(Database::builder().create_with_backend(make()?)?)),
        };
        Store::init((reopen.open)()?, Some(reopen), None, signer, Check::Full)
    }

    fn init(
        db: Database,
        reopen: Option<Reopen>,
        journal: Option<journal::Journal>,
        signer: NoteSigner,
        check: Check,
    ) -> Result<Store, StoreError> {
        create_layout(&db, &signer)?;
        let store = Store {
            db: RwLock::new(Some(Arc::new(db))),
            reopen,
            recoverable: AtomicBool::new(false),
            signer,
            writer: Mutex::new(()),
            head: Mutex::new(Head {
                size: 0,
                root: merkle::empty_root(),
                checkpoint: String::new(),
            }),
            writable: Mutex::new(Ok(())),
            check_owed: AtomicBool::new(false),
            journal: Mutex::new(journal),
        };
        // What the journal holds past redb's last durable commit first; the check then covers
        // it like any other entry.
        let quick = store.replay_journal().and_then(|_| match check {
            Check::Quick => store.quick_check(),
            Check::Full => Ok(None),
        });
        let checked = match quick {
            Ok(Some(head)) => {
                store.check_owed.store(true, Ordering::SeqCst);
                Ok(head)
            }
            Ok(None) => store.self_check().inspect(|h| store.mark_checked(h.size)),
            Err(e) => Err(e),
        };
        match checked {
            Ok(head) => *lock(&store.head) = head,
            Err(StoreError::Corrupt(why)) => {
                // Serve reads of what is there; refuse writes, and say why.
                *lock(&store.writable) = Err(why);
                if let Ok(h) = store.stored_head() {
                    *lock(&store.head) = h;
                }
            }
            Err(e) => return Err(e),
        }
        Ok(store)
    }

    /// The log origin (also the checkpoint key name).
    pub fn origin(&self) -> &str {
        self.signer.verifier().name()
    }

    /// The verifier key string of the log (`GET /v1/log/vkey`).
    pub fn vkey(&self) -> String {
        self.signer.verifier().vkey()
    }

    /// The current head.
    pub fn head(&self) -> Head {
        lock(&self.head).clone()
    }

    /// The database, for one transaction.
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        self.db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StoreError::NotWritable("the log is being reopened".into()))
    }

    /// A read transaction.
    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        Ok(self.db()?.begin_read()?)
    }

    /// A write transaction.
    pub(crate) fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        Ok(self.db()?.begin_write()?)
    }

    /// After a failed write (a full disk, an I/O error) the log takes no writes; this tries to
    /// take them again: once there is room to write beside the log, it opens the log anew,
    /// runs the start-up self-check on what is on disk, and if that passes, publishes the
    /// checked head and takes writes. `Ok(true)` when the log takes writes afterwards;
    /// `Ok(false)` when it cannot be cured this way (a failed self-check, or a log opened on a
    /// single backend); an error to retry later (no room yet, the file still busy). Until it
    /// reopens, reads go on from the log as it was.
    pub fn recover(&self) -> Result<bool, StoreError> {
        if self.writable().is_ok() {
            return Ok(true);
        }
        let Some(reopen) = &self.reopen else {
            return Ok(false);
        };
        if !self.recoverable.load(Ordering::SeqCst) {
            return Ok(false);
        }
        if !(reopen.ready)() {
            return Err(StoreError::NotWritable(
                "no room to write beside the log yet".into(),
            ));
        }
        let _writer = lock(&self.writer);
        // redb holds the file until the last transaction on it ends: drop ours, then open.
        let old = self
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(old);
        // Should the opening fail after all (a race with whatever fills the disk), reads
        // answer 503 until a later attempt opens it.
        let db = (reopen.open)()?;
        *self.db.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(db));
        match self.replay_journal_held().and_then(|_| self.self_check()) {
            Ok(head) => {
                *lock(&self.head) = head;
                *lock(&self.writable) = Ok(());
                self.recoverable.store(false, Ordering::SeqCst);
                Ok(true)
            }
            Err(StoreError::Corrupt(why)) => {
                *lock(&self.writable) = Err(why);
                self.recoverable.store(false, Ordering::SeqCst);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// `Ok` while the log takes writes; otherwise the reason it does not.
    pub fn writable(&self) -> Result<(), String> {
        lock(&self.writable).clone()
    }

    /// Reads the stored head and latest checkpoint without checking them.
    fn stored_head(&self) -> Result<Head, StoreError> {
        check::head_in(&self.begin_read()?)
    }
}

/// Removes `path`; a file that is not there is no error.
fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The journal of the log at `path`: `<path>-wal`.
pub fn journal_path(path: &Path) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    p.into()
}

/// Opens (or creates, owner-only, preallocated and with its directory entry synced) the journal
/// file.
fn open_journal_file(path: &Path) -> std::io::Result<Option<journal::Journal>> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let new = !path.exists();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    let backend = redb::backends::FileBackend::new(file).map_err(std::io::Error::other)?;
    let j = journal::Journal::open(Box::new(backend), JOURNAL_BYTES)?;
    if new && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(Some(j))
}

/// First open: create every table, record the origin, sign the empty tree. Afterwards only
/// retired tables are deleted (older logs).
fn create_layout(db: &Database, signer: &NoteSigner) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    let changed = {
        create_tables(&txn)?;
        let retired = txn.delete_table(RETIRED_PAYLOADS)?;
        let mut meta = txn.open_table(META)?;
        if meta.get(META_ORIGIN)?.is_none() {
            meta.insert(META_ORIGIN, signer.verifier().name().as_bytes())?;
            let root = merkle::empty_root();
            meta.insert(META_HEAD, encode_head(0, &root).as_slice())?;
            let note = sign(signer, 0, root)?;
            txn.open_table(CHECKPOINTS)?.insert(0, note.as_str())?;
            true
        } else {
            retired
        }
    };
    if changed {
        txn.commit()?;
    } else {
        txn.abort()?;
    }
    Ok(())
}

fn sign(signer: &NoteSigner, size: u64, root: Hash) -> Result<String, StoreError> {
    let cp = Checkpoint {
        origin: signer.verifier().name().to_owned(),
        size,
        root,
    };
    cp.sign(signer)
        .map_err(|e| corrupt(&format!("cannot sign checkpoint: {e}")))
}

fn corrupt(why: &str) -> StoreError {
    StoreError::Corrupt(why.to_owned())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn encode_head(size: u64, root: &Hash) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[..8].copy_from_slice(&size.to_be_bytes());
    b[8..].copy_from_slice(root);
    b
}

fn decode_head(b: &[u8]) -> Result<(u64, Hash), StoreError> {
    let b: &[u8; 40] = b
        .try_into()
        .map_err(|_| corrupt("stored head has the wrong length"))?;
    let mut size = [0u8; 8];
    size.copy_from_slice(&b[..8]);
    let mut root = [0u8; 32];
    root.copy_from_slice(&b[8..]);
    Ok((u64::from_be_bytes(size), root))
}

/// How many hashes a tree of `n` entries stores: one per complete subtree.
pub fn stored_hash_count(n: u64) -> u64 {
    // Level l holds floor(n / 2^l) complete subtrees.
    (0..64).map(|l| n >> l).sum()
}

/// The stored hash of a complete subtree, from a read or write handle of the hashes table.
fn stored_hash(
    hashes: &impl redb::ReadableTable<(u8, u64), &'static [u8; 32]>,
    id: StoredId,
) -> Result<Hash, StoreError> {
    Ok(*hashes
        .get((id.level, id.index))?
        .ok_or_else(|| corrupt(&format!("missing stored hash ({}, {})", id.level, id.index)))?
        .value())
}
