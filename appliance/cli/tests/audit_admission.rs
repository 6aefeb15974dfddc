//! The offline audit judges every entry by the appliance's own admission rules: a log whose
//! entries verify and hash to a signed checkpoint is still refused when an entry could not have
//! been admitted (a role sending a kind it may not, another log's statement, an enrolment the
//! appliance would refuse).

use vigil_cli::audit::{self, AuditError, Source};
use vigil_core::registry::DEVICE;
use vigil_core::tiles::Tile;
use vigil_core::{ClockState, Entry, Kind, MemoryTree, NoteSigner, SigningKey, Statement, sig};

mod common;

const ORIGIN: &str = "audit.test/log";

/// A log held in memory, served to the audit as an appliance would.
struct Log {
    signer: NoteSigner,
    device: SigningKey,
    entries: Vec<Vec<u8>>,
    tree: MemoryTree,
}

impl Log {
    fn new() -> Log {
        let device = SigningKey::from_bytes(&[1; 32]);
        Log {
            signer: NoteSigner::new(ORIGIN, device.clone()).expect("signer"),
            device,
            entries: Vec::new(),
            tree: MemoryTree::new(),
        }
    }

    /// Appends `text` signed by `key` as `signer`, with no admission check (a forger's log).
    fn append(&mut self, text: &str, signer: &str, key: &SigningKey) {
        let st = Statement::parse(text.as_bytes()).expect("parses");
        let v = sig::sign(st, signer, key).expect("verifies");
        let e = Entry::new(self.entries.len() as u64, 1_000, ClockState::Synced, &v);
        self.tree.push(e.bytes());
        self.entries.push(e.bytes().to_vec());
    }

    fn statement(&self, kind: Kind, to: &str) -> vigil_core::statement::Builder {
        Statement::builder(kind, to, 1, &format!("{:032x}", self.entries.len()))
    }

    fn enrol(&mut self, name: &str, role: &str, key: &SigningKey) {
        let line = sig::openssh_public_key_line(&key.verifying_key(), "");
        let text = self
            .statement(Kind::KeyEnroll, ORIGIN)
            .header("name", name)
            .header("role", role)
            .header("public-key", line)
            .text();
        let device = self.device.clone();
        self.append(&text, DEVICE, &device);
    }

    fn alert(&mut self, to: &str, signer: &str, key: &SigningKey) {
        let text = self
            .statement(Kind::Alert, to)
            .header("severity", "warning")
            .header("title", "t")
            .text();
        self.append(&text, signer, key);
    }

    fn audit(&mut self) -> Result<audit::Report, AuditError> {
        let dir = tempfile::tempdir().expect("tmp");
        let vkey = self.signer.verifier().clone();
        audit::run(self, &vkey, &audit::State::new(dir.path()), |_, _| {})
    }
}

impl Source for Log {
    fn checkpoint(&mut self) -> Result<String, String> {
        common::checkpoint_of(&self.tree, ORIGIN, &self.signer)
    }
    fn tile(&mut self, tile: &Tile) -> Result<Vec<u8>, String> {
        common::serve_tile(&self.tree, &self.entries, tile)
    }
}

fn refused(log: &mut Log, want: &str) {
    match log.audit() {
        Err(AuditError::Failed(why)) => assert!(why.contains(want), "{why}"),
        other => panic!("the audit must refuse this log ({want}): {other:?}"),
    }
}

fn enrolled() -> (Log, SigningKey, SigningKey) {
    let mut log = Log::new();
    let (admin, source) = (
        SigningKey::from_bytes(&[2; 32]),
        SigningKey::from_bytes(&[3; 32]),
    );
    log.enrol("ops", "admin", &admin);
    log.enrol("nas", "source", &source);
    (log, admin, source)
}

#[test]
fn an_admissible_log_passes() {
    let (mut log, _, source) = enrolled();
    log.alert(ORIGIN, "nas", &source);
    let report = log.audit().expect("audit passes");
    assert_eq!((report.checkpoint.size, report.verified_now), (3, 3));
}

#[test]
fn an_alert_signed_by_an_admin_key_is_refused() {
    // The key is enrolled and not revoked: the signer-only check passed this log.
    let (mut log, admin, _) = enrolled();
    log.alert(ORIGIN, "ops", &admin);
    refused(
        &mut log,
        "entry 2 (alert by `ops`) would not have been admitted: admin keys may not submit alert",
    );
}

#[test]
fn a_statement_addressed_to_another_log_is_refused() {
    let (mut log, _, source) = enrolled();
    log.alert("other.example/log", "nas", &source);
    refused(&mut log, "addressed to `other.example/log`");
}

#[test]
fn a_second_enrolment_of_a_name_is_refused() {
    let (mut log, _, _) = enrolled();
    log.enrol("nas", "source", &SigningKey::from_bytes(&[4; 32]));
    refused(&mut log, "already enrolled");
}
