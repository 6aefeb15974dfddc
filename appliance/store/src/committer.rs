//! Group commit: one writer thread drains a bounded queue and appends whole batches, so N
//! concurrent submitters share one fsync. A submitter's ticket resolves only after its batch is
//! durable.
//!
//! When nothing is queued and no batch is being written, a submission is committed on the
//! submitting thread instead, as a batch of one: the usual case at an appliance's rates, where
//! handing it to the writer thread and its receipt back cost two thread wake-ups, more CPU than
//! the commit itself on a small machine. Either way one writer at a time holds the gate, so the
//! log sees the same serial order of batches.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
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

/// What one writer at a time holds: the gate and the hook, for a batch from the queue or a
/// submission committed where it was made.
struct Writer {
    gate: Box<dyn Gate + Send>,
    hook: Option<CommitHook>,
}

/// Submissions waiting for the writer thread. A job leaves it only once the writer thread
/// holds the writer, so the bound counts everything not yet being written.
struct Queue {
    jobs: VecDeque<Job>,
    /// No more submissions (shutdown): the writer thread drains what is queued and ends.
    closed: bool,
}

/// What the submitters and the writer thread share.
struct Shared {
    store: Arc<Store>,
    writer: Mutex<Writer>,
    queue: Mutex<Queue>,
    /// Signalled when a job is queued or the queue closes.
    queued: Condvar,
    /// Submissions queued or being committed.
    depth: AtomicUsize,
    /// When the last batch ended, for persisting after [`PERSIST_WHEN_IDLE`] without writes.
    last_batch: Mutex<Instant>,
}

/// The single writer.
pub struct Committer {
    shared: Arc<Shared>,
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
        let shared = Arc::new(Shared {
            store,
            writer: Mutex::new(Writer { gate, hook }),
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            queued: Condvar::new(),
            depth: AtomicUsize::new(0),
            last_batch: Mutex::new(Instant::now()),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vigil-committer".into())
            .spawn(move || writer(&s))
            .ok();
        Committer {
            shared,
            thread: Mutex::new(thread),
            capacity,
        }
    }

    /// Commits a submission, or queues it for the writer thread; fails at once when the queue
    /// is full. When nothing is queued and no batch is being written, the submission is
    /// committed here, on the calling thread, before this returns (its ticket is then already
    /// resolved): a caller on an async runtime is blocked for one commit.
    pub fn submit(&self, sub: Submission) -> Result<Ticket, QueueFull> {
        let (reply, ticket) = oneshot::channel();
        let job = Job { sub, reply };
        let shared = &self.shared;
        let mut queue = shared.lock_queue();
        if queue.closed {
            return Err(QueueFull);
        }
        if shared.depth.fetch_add(1, Ordering::SeqCst) == 0 {
            // Nothing queued or being written: unless the writer thread has just taken the
            // writer (for a persist), this is a batch of one, written here. At most one
            // submitter at a time does so; every other one queues behind it.
            if let Ok(mut w) = shared.writer.try_lock() {
                drop(queue);
                shared.commit(&mut w, vec![job]);
                drop(w);
                shared.depth.fetch_sub(1, Ordering::SeqCst);
                return Ok(ticket);
            }
        }
        if queue.jobs.len() >= self.capacity {
            shared.depth.fetch_sub(1, Ordering::SeqCst);
            return Err(QueueFull);
        }
        queue.jobs.push_back(job);
        drop(queue);
        shared.queued.notify_one();
        Ok(ticket)
    }

    /// Submissions waiting or being committed.
    pub fn depth(&self) -> usize {
        self.shared.depth.load(Ordering::SeqCst)
    }

    /// The queue's bound.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stops taking submissions, commits everything queued, and waits for the writer to finish.
    /// Later submissions are refused as [`QueueFull`].
    pub fn shutdown(&self) {
        self.shared.lock_queue().closed = true;
        self.shared.queued.notify_one();
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

impl Shared {
    /// Appends `jobs` as one batch and answers each.
    fn commit(&self, w: &mut Writer, jobs: Vec<Job>) {
        let n = jobs.len();
        let (subs, replies): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.sub, j.reply)).unzip();
        let started = Instant::now();
        let result = self.store.append_batch_gated(subs, w.gate.as_mut());
        if let Some(h) = &w.hook {
            h(n, started.elapsed());
        }
        *self
            .last_batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
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
    }

    /// How long ago the last batch ended.
    fn idle_for(&self) -> Duration {
        self.last_batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn writer(shared: &Shared) {
    // Waits for a job, takes the writer (a submitter may be writing its own), then takes
    // everything queued as one batch. A second without a batch (here or on a submitter's
    // thread) makes what the journal holds durable in redb.
    loop {
        let mut queue = shared.lock_queue();
        while queue.jobs.is_empty() && !queue.closed {
            let idle = shared.idle_for();
            if idle >= PERSIST_WHEN_IDLE {
                drop(queue);
                {
                    let _w = shared.lock_writer();
                    // A failure here is the next batch's to report (the store turns read-only).
                    let _ = shared.store.persist();
                }
                queue = shared.lock_queue();
                if !queue.jobs.is_empty() || queue.closed {
                    break;
                }
                queue = shared
                    .queued
                    .wait_timeout(queue, PERSIST_WHEN_IDLE)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            } else {
                queue = shared
                    .queued
                    .wait_timeout(queue, PERSIST_WHEN_IDLE - idle)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        if queue.jobs.is_empty() {
            break; // closed and drained
        }
        drop(queue);
        let mut w = shared.lock_writer();
        let jobs: Vec<Job> = {
            let mut queue = shared.lock_queue();
            let n = queue.jobs.len().min(MAX_BATCH);
            queue.jobs.drain(..n).collect()
        };
        let n = jobs.len();
        shared.commit(&mut w, jobs);
        drop(w);
        shared.depth.fetch_sub(n, Ordering::SeqCst);
    }
    let _w = shared.lock_writer();
    let _ = shared.store.persist();
}
