//! `vigil log audit`: download every entry (resuming where the last run stopped), verify each
//! signature against the enrolment history, rebuild the tree, check it against the signed
//! checkpoint, and check that checkpoint is consistent with the one remembered from the last
//! audit — refusing a log that went backwards or forked (as Go's sumdb client does).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use vigil_core::admission::{self, Rules};
use vigil_core::merkle::{self, Hash};
use vigil_core::registry::Registry;
use vigil_core::{Checkpoint, Entry, MemoryTree, NoteVerifier};

/// Why an audit failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The appliance could not be asked.
    #[error("{0}")]
    Fetch(String),
    /// The log contradicts itself or its history: the audit refuses it.
    #[error("AUDIT FAILED: {0}")]
    Failed(String),
    /// Local state files.
    #[error("{0}")]
    Local(String),
}

/// What the audit needs from the appliance.
pub trait Source {
    /// The latest signed checkpoint note.
    fn checkpoint(&mut self) -> Result<String, String>;
    /// The consistency proof from `old` to `new`.
    fn consistency(&mut self, old: u64, new: u64) -> Result<Vec<Hash>, String>;
    /// Raw entry bytes.
    fn entry(&mut self, index: u64) -> Result<Vec<u8>, String>;
}

/// The result of a successful audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Verified checkpoint.
    pub checkpoint: Checkpoint,
    /// Entries verified in this run (earlier ones were verified before and resumed).
    pub verified_now: u64,
    /// The previously remembered size, if any.
    pub previous: Option<u64>,
}

/// Local audit state in `dir`: `checkpoint` (the last verified note), `leaves` (32-byte leaf
/// hashes of verified entries) and `enrolments` (their key-enroll/revoke entries), for resuming.
pub struct State {
    dir: PathBuf,
}

impl State {
    /// State under `dir`.
    pub fn new(dir: &Path) -> Self {
        State {
            dir: dir.to_owned(),
        }
    }
    fn leaves_path(&self) -> PathBuf {
        self.dir.join("leaves")
    }
    fn enrolments_path(&self) -> PathBuf {
        self.dir.join("enrolments")
    }
    fn checkpoint_path(&self) -> PathBuf {
        self.dir.join("checkpoint")
    }
}

fn failed(why: impl Into<String>) -> AuditError {
    AuditError::Failed(why.into())
}

/// Runs the audit. `progress(done, total)` is called as entries are verified.
pub fn run(
    src: &mut dyn Source,
    vkey: &NoteVerifier,
    state: &State,
    mut progress: impl FnMut(u64, u64),
) -> Result<Report, AuditError> {
    std::fs::create_dir_all(&state.dir)
        .map_err(|e| AuditError::Local(format!("{}: {e}", state.dir.display())))?;
    let note = src.checkpoint().map_err(AuditError::Fetch)?;
    let cp = Checkpoint::verify(&note, vkey)
        .map_err(|e| failed(format!("the checkpoint does not verify: {e}")))?;

    // Compare with what we saw last time.
    let previous = match std::fs::read_to_string(state.checkpoint_path()) {
        Ok(old_note) => {
            let old = Checkpoint::verify(&old_note, vkey)
                .map_err(|e| AuditError::Local(format!("remembered checkpoint: {e}")))?;
            if cp.size < old.size {
                return Err(failed(format!(
                    "the log went backwards: it now has {} entries, but this client saw {} before (a rollback)",
                    cp.size, old.size
                )));
            }
            let proof = src
                .consistency(old.size, cp.size)
                .map_err(AuditError::Fetch)?;
            merkle::verify_consistency(old.size, cp.size, &old.root, &cp.root, &proof).map_err(|_| {
                failed(format!(
                    "the log forked: its checkpoint at size {} is not an extension of the one at size {} this client saw before",
                    cp.size, old.size
                ))
            })?;
            Some(old.size)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(AuditError::Local(e.to_string())),
    };

    // Resume: the leaf hashes of entries verified before, and the enrolment entries among them
    // (to rebuild who was enrolled), provided they are still the log's prefix.
    let mut tree = MemoryTree::new();
    let mut registry = Registry::new(*vkey.key());
    let saved = std::fs::read(state.leaves_path()).unwrap_or_default();
    let saved_n = (saved.len() / 32) as u64;
    let mut start = 0u64;
    if saved.len().is_multiple_of(32) && saved_n > 0 && saved_n <= cp.size {
        for c in saved.chunks(32) {
            tree.push_leaf_hash(c.try_into().unwrap_or([0; 32]));
        }
        let prefix_root = tree
            .root(saved_n)
            .map_err(|e| AuditError::Local(e.to_string()))?;
        let proof = src
            .consistency(saved_n, cp.size)
            .map_err(AuditError::Fetch)?;
        if merkle::verify_consistency(saved_n, cp.size, &prefix_root, &cp.root, &proof).is_err() {
            return Err(failed(format!(
                "the entries this client verified before (the first {saved_n}) are no longer the log's first {saved_n}: the log was rewritten"
            )));
        }
        for e in read_enrolments(&state.enrolments_path())? {
            registry.apply(&e);
        }
        start = saved_n;
    }
    let open = |p: PathBuf| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| AuditError::Local(e.to_string()))
    };
    let mut leaves = open(state.leaves_path())?;
    let mut enrolments = open(state.enrolments_path())?;
    if start == 0 {
        leaves
            .set_len(0)
            .map_err(|e| AuditError::Local(e.to_string()))?;
        enrolments
            .set_len(0)
            .map_err(|e| AuditError::Local(e.to_string()))?;
    }
    for i in start..cp.size {
        let bytes = src.entry(i).map_err(AuditError::Fetch)?;
        let e =
            Entry::decode(&bytes).map_err(|e| failed(format!("entry {i} does not decode: {e}")))?;
        if e.index() != i {
            return Err(failed(format!("entry {i} claims index {}", e.index())));
        }
        let verified = e
            .verify()
            .map_err(|err| failed(format!("entry {i}: signature does not verify: {err}")))?;
        // The appliance's own decision (everything but the `ts` window, whose skew is a device
        // setting the log does not record).
        let rules = Rules {
            origin: &cp.origin,
            window: None,
        };
        admission::admit(&registry, &verified, &rules).map_err(|why| {
            failed(format!(
                "entry {i} ({} by `{}`) would not have been admitted: {why}",
                e.kind(),
                e.signer()
            ))
        })?;
        registry.apply(&e);
        if matches!(
            e.kind(),
            vigil_core::Kind::KeyEnroll | vigil_core::Kind::KeyRevoke
        ) {
            enrolments
                .write_all(&(bytes.len() as u32).to_be_bytes())
                .map_err(|e| AuditError::Local(e.to_string()))?;
            enrolments
                .write_all(&bytes)
                .map_err(|e| AuditError::Local(e.to_string()))?;
        }
        let leaf = e.leaf_hash();
        tree.push_leaf_hash(leaf);
        leaves
            .write_all(&leaf)
            .map_err(|e| AuditError::Local(e.to_string()))?;
        progress(i + 1, cp.size);
    }
    leaves
        .sync_all()
        .and_then(|_| enrolments.sync_all())
        .map_err(|e| AuditError::Local(e.to_string()))?;
    let root = tree
        .root(cp.size)
        .map_err(|e| AuditError::Local(e.to_string()))?;
    if root != cp.root {
        // Keep nothing of a log that does not match its own checkpoint.
        let _ = std::fs::remove_file(state.leaves_path());
        return Err(failed(format!(
            "the entries do not hash to the signed checkpoint's root ({} != {})",
            b64(&root),
            b64(&cp.root)
        )));
    }
    std::fs::write(state.checkpoint_path(), &note).map_err(|e| AuditError::Local(e.to_string()))?;
    Ok(Report {
        checkpoint: cp.clone(),
        verified_now: cp.size - start,
        previous,
    })
}

fn read_enrolments(p: &Path) -> Result<Vec<Entry>, AuditError> {
    let data = std::fs::read(p).unwrap_or_default();
    let mut out = Vec::new();
    let mut rest = data.as_slice();
    while rest.len() >= 4 {
        let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let body = rest.get(4..4 + n).ok_or_else(|| {
            AuditError::Local("audit state is damaged; delete it to start over".into())
        })?;
        out.push(Entry::decode(body).map_err(|e| AuditError::Local(format!("audit state: {e}")))?);
        rest = &rest[4 + n..];
    }
    Ok(out)
}

fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}
