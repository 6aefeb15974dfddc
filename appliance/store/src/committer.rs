//! Group commit: one writer thread drains a bounded queue and appends whole batches, so N
//! concurrent submitters share one fsync. A submitter's ticket resolves only after its batch is
//! durable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::{Appended, Gate, Refused, Store, StoreError, Submission};

/// Most submissions committed in one transaction.
pub const MAX_BATCH: usize = 512;

/// How long the writer waits for work before it makes what the journal holds durable in redb
/// ([`Store::persist`]): off the path of any request, and rarely while alerts keep coming.
pub const PERSIST_WHEN_IDLE: Duration = Duration::from_secs(1);

/// What a submitter learns once its batch is done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// This submission was refused (the rest of its batch may have been appended).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The log did not take the write; nothing of this submission was stored.
    #[error("log not writable: {0}")]
    NotWritable(String),
}

/// Resolves to the outcome of one submission.
pub type Ticket = oneshot::Receiver<Result<Appended, AppendError>>;

/// The queue is full: the caller should answer 503 with Retry-After.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ingest queue is full")]
pub struct QueueFull;

struct Job {
    sub: Submission,
    reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// Called after every batch: entries in it, and how long the commit took.
pub type CommitHook = Box<dyn Fn(usize, Duration) + Send>;

/// The single writer.
pub struct Committer {
    tx: Mutex<Option<SyncSender<Job>>>,
    depth: Arc<AtomicUsize>,
    thread: Mutex<Option<JoinHandle<()>>>,
    capacity: usize,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("depth", &self.depth())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl Committer {
    /// Starts the writer thread with a queue of `capacity` submissions.
    pub fn start(
        store: Arc<Store>,
        capacity: usize,
        gate: Box<dyn Gate + Send>,
        hook: Option<CommitHook>,
    ) -> Committer {
        let (tx, rx) = sync_channel::<Job>(capacity);
        let depth = Arc::new(AtomicUsize::new(0));
        let d = depth.clone();
        let thread = std::thread::Builder::new()
            .name("vigil-committer".into())
            .spawn(move || writer(store, rx, d, gate, hook))
            .ok();
        Committer {
            tx: Mutex::new(Some(tx)),
            depth,
            thread: Mutex::new(thread),
            capacity,
        }
    }

    /// Queues a submission; fails at once when the queue is full.
    pub fn submit(&self, sub: Submission) -> Result<Ticket, QueueFull> {
        let (reply, ticket) = oneshot::channel();
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(QueueFull)?;
        self.depth.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(Job { sub, reply }) {
            Ok(()) => Ok(ticket),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.depth.fetch_sub(1, Ordering::SeqCst);
                Err(QueueFull)
            }
        }
    }

    /// Submissions waiting or being committed.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }

    /// The queue's bound.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stops taking submissions, commits everything queued, and waits for the writer to finish.
    /// Later submissions are refused as [`QueueFull`].
    pub fn shutdown(&self) {
        drop(
            self.tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(t) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = t.join();
        }
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn writer(
    store: Arc<Store>,
    rx: Receiver<Job>,
    depth: Arc<AtomicUsize>,
    mut gate: Box<dyn Gate + Send>,
    hook: Option<CommitHook>,
) {
    // Waits for the first job (persisting the journal if none comes for a while), then takes
    // whatever else is already waiting.
    loop {
        let first = match rx.recv_timeout(PERSIST_WHEN_IDLE) {
            Ok(j) => j,
            Err(RecvTimeoutError::Timeout) => {
                // A failure here is the next batch's to report (the store turns read-only).
                let _ = store.persist();
                match rx.recv() {
                    Ok(j) => j,
                    Err(_) => break,
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let n = jobs.len();
        let (subs, replies): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.sub, j.reply)).unzip();
        let started = Instant::now();
        let result = store.append_batch_gated(subs, gate.as_mut());
        if let Some(h) = &hook {
            h(n, started.elapsed());
        }
        match result {
            Ok(outcomes) => {
                for (reply, o) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(o.map_err(AppendError::from));
                }
            }
            Err(e) => {
                let why = match e {
                    StoreError::NotWritable(w) => w,
                    other => other.to_string(),
                };
                for reply in replies {
                    let _ = reply.send(Err(AppendError::NotWritable(why.clone())));
                }
            }
        }
        depth.fetch_sub(n, Ordering::SeqCst);
    }
    let _ = store.persist();
}
