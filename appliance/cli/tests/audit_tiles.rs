//! The audit reads the log as tiles and bundles and trusts none of them: a forged tile is
//! refused wherever it sits (also a full level-0 tile whose subtree the checkpoint's root takes
//! from level 1, at sizes 300 and 700), a forged bundle too; an interrupted audit resumes with
//! the enrolments it had seen; a resumed audit checks the log still begins with what it verified.

mod common;

use vigil_cli::audit::{self, AuditError, Report, Source};
use vigil_core::registry::DEVICE;
use vigil_core::tiles::{Tile, TileKind};
use vigil_core::{ClockState, Entry, Kind, MemoryTree, NoteSigner, SigningKey, Statement, sig};

const ORIGIN: &str = "audit.test/log";

/// Rewrites a served tile or bundle (the forger).
type Forge = Box<dyn Fn(&Tile, &mut Vec<u8>) + Send>;

/// A log in memory that an attacker may tamper with on the way out.
struct Log {
    signer: NoteSigner,
    device: SigningKey,
    source: SigningKey,
    entries: Vec<Vec<u8>>,
    tree: MemoryTree,
    forge: Option<Forge>,
    /// Fails every read after this many bundles (a dropped connection).
    bundles_left: Option<u64>,
}

impl Log {
    fn new() -> Log {
        let device = SigningKey::from_bytes(&[1; 32]);
        let mut log = Log {
            signer: NoteSigner::new(ORIGIN, device.clone()).expect("signer"),
            device,
            source: SigningKey::from_bytes(&[2; 32]),
            entries: Vec::new(),
            tree: MemoryTree::new(),
            forge: None,
            bundles_left: None,
        };
        log.enrol("nas", &log.source.clone());
        log
    }

    fn append(&mut self, text: &str, signer: &str, key: &SigningKey) {
        let st = Statement::parse(text.as_bytes()).expect("parses");
        let v = sig::sign(st, signer, key).expect("verifies");
        let e = Entry::new(self.entries.len() as u64, 1_000, ClockState::Synced, &v);
        self.tree.push(e.bytes());
        self.entries.push(e.bytes().to_vec());
    }

    fn nonce(&self) -> String {
        format!("{:032x}", self.entries.len())
    }

    fn enrol(&mut self, name: &str, key: &SigningKey) {
        let text = Statement::builder(Kind::KeyEnroll, ORIGIN, 1, &self.nonce())
            .header("name", name)
            .header("role", "source")
            .header(
                "public-key",
                sig::openssh_public_key_line(&key.verifying_key(), ""),
            )
            .text();
        let device = self.device.clone();
        self.append(&text, DEVICE, &device);
    }

    fn alert_by(&mut self, name: &str, key: &SigningKey) {
        let text = Statement::builder(Kind::Alert, ORIGIN, 1, &self.nonce())
            .header("severity", "warning")
            .header("title", "t")
            .text();
        self.append(&text, name, key);
    }

    /// Grows the log to `size` entries with alerts by the enrolled source.
    fn grow(&mut self, size: u64) {
        let key = self.source.clone();
        while (self.entries.len() as u64) < size {
            self.alert_by("nas", &key);
        }
    }
}

impl Source for Log {
    fn checkpoint(&mut self) -> Result<String, String> {
        common::checkpoint_of(&self.tree, ORIGIN, &self.signer)
    }
    fn tile(&mut self, tile: &Tile) -> Result<Vec<u8>, String> {
        if tile.kind == TileKind::Entries {
            match &mut self.bundles_left {
                Some(0) => return Err("connection reset".into()),
                Some(n) => *n -= 1,
                None => {}
            }
        }
        let mut bytes = common::serve_tile(&self.tree, &self.entries, tile)?;
        if let Some(f) = &self.forge {
            f(tile, &mut bytes);
        }
        Ok(bytes)
    }
}

fn audit(log: &mut Log, state: &std::path::Path) -> Result<Report, AuditError> {
    let vkey = log.signer.verifier().clone();
    audit::run(log, &vkey, &audit::State::new(state), |_, _| {})
}

fn refused(r: Result<Report, AuditError>, want: &str) {
    match r {
        Err(AuditError::Failed(why)) => assert!(why.contains(want), "{why}"),
        other => panic!("expected a refusal naming {want:?}, got {other:?}"),
    }
}

/// Flips a bit of hash `i` of the tile at `path` (and of nothing else).
fn forge_hash(path: &'static str, i: usize) -> Forge {
    Box::new(move |t, b| {
        if t.path() == path {
            b[i * 32] ^= 1;
        }
    })
}

#[test]
fn an_honest_log_audits_and_resumes_consistently() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut log = Log::new();
    log.grow(300);
    let r = audit(&mut log, dir.path()).expect("audits");
    assert_eq!(
        (r.checkpoint.size, r.verified_now, r.previous),
        (300, 300, None)
    );
    log.grow(700);
    let r = audit(&mut log, dir.path()).expect("audits");
    assert_eq!((r.verified_now, r.previous), (400, Some(300)));
    assert!(r.tiles_checked > 0);
    // Nothing new: nothing verified, still consistent.
    let r = audit(&mut log, dir.path()).expect("audits");
    assert_eq!((r.verified_now, r.previous), (0, Some(700)));
}

#[test]
fn a_forged_full_level_0_tile_is_refused_at_300_and_700() {
    // At 300 the root takes leaves 0-255 from level 1: tile/0/000 is not on its path. At 700 the
    // same holds for tile/0/000 and tile/0/001 (level 1 holds both subtrees).
    for (size, path) in [
        (300, "tile/0/000"),
        (700, "tile/0/000"),
        (700, "tile/0/001"),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let mut log = Log::new();
        log.grow(size);
        log.forge = Some(forge_hash(path, 7));
        refused(audit(&mut log, dir.path()), "level-0 tile");
        // The honest log still audits from the same state: nothing of the refusal was kept as
        // verified beyond what verified.
        log.forge = None;
        audit(&mut log, dir.path()).expect("the honest log audits");
    }
}

#[test]
fn a_forged_upper_tile_or_partial_tile_is_refused() {
    for (size, path, i) in [
        (700, "tile/1/000.p/2", 1),
        (300, "tile/1/000.p/1", 0),
        (700, "tile/0/002.p/188", 187),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let mut log = Log::new();
        log.grow(size);
        log.forge = Some(forge_hash(path, i));
        match audit(&mut log, dir.path()) {
            Err(AuditError::Failed(why)) => assert!(
                why.contains(path) || why.contains("level-0 tile"),
                "{path}: {why}"
            ),
            other => panic!("{path} forged at {size}: {other:?}"),
        }
    }
}

#[test]
fn a_forged_tile_read_on_resume_is_refused() {
    // Audited at 600, the log grows to 700 and its server forges the level-1 tile the resumed
    // audit reads for the consistency proof and the prefix check.
    let dir = tempfile::tempdir().expect("tmp");
    let mut log = Log::new();
    log.grow(600);
    audit(&mut log, dir.path()).expect("audits");
    log.grow(700);
    log.forge = Some(forge_hash("tile/1/000.p/2", 0));
    match audit(&mut log, dir.path()) {
        Err(AuditError::Failed(why)) => assert!(
            why.contains("forked") || why.contains("rewritten") || why.contains("tile/1/000.p/2"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_forged_bundle_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut log = Log::new();
    log.grow(300);
    // An entry's bytes changed in transit: its signature no longer verifies.
    log.forge = Some(Box::new(|t, b| {
        if t.path() == "tile/entries/001.p/44" {
            let at = b.len() - 3;
            b[at] ^= 0x20;
        }
    }));
    refused(audit(&mut log, dir.path()), "entry 299");
    // A bundle cut short.
    log.forge = Some(Box::new(|t, b| {
        if t.kind == TileKind::Entries {
            b.truncate(b.len() - 1);
        }
    }));
    refused(audit(&mut log, dir.path()), "well-framed");
}

#[test]
fn an_interrupted_audit_resumes_with_the_enrolments_it_had_seen() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut log = Log::new();
    log.grow(600);
    // A second source enrolled past the first bundles, sending after the interruption.
    let late = SigningKey::from_bytes(&[3; 32]);
    log.enrol("late", &late);
    log.grow(1300);
    log.alert_by("late", &late);
    log.grow(2100);
    log.bundles_left = Some(5); // 1,280 entries, then the connection drops
    match audit(&mut log, dir.path()) {
        Err(AuditError::Fetch(m)) => assert!(m.contains("reset"), "{m}"),
        other => panic!("{other:?}"),
    }
    log.bundles_left = None;
    let r = audit(&mut log, dir.path()).expect("resumes");
    assert_eq!(r.checkpoint.size, 2100);
    assert!(
        r.verified_now < 2100 && r.verified_now >= 2100 - 1280,
        "resumed after the entries verified before: {}",
        r.verified_now
    );
}

#[test]
fn a_log_rewritten_under_a_resumed_audit_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut log = Log::new();
    log.grow(300);
    audit(&mut log, dir.path()).expect("audits");
    // The same size, other entries: the log was rewritten, the remembered checkpoint is not
    // part of it.
    let mut other = Log::new();
    other.source = SigningKey::from_bytes(&[9; 32]);
    other.entries.clear();
    other.tree = MemoryTree::new();
    let key = other.source.clone();
    other.enrol("nas", &key);
    other.grow(310);
    refused(audit(&mut other, dir.path()), "forked");
}
