//! Whole-system test harness: a real `vigild` on 127.0.0.1:0 with real TLS and its own CA,
//! provisioned with fixed test keys, driven over HTTPS by the `vigil` client library, shell
//! recipes (curl, ssh-keygen, openssl) and the `vigil` binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vigil_cli::client::{self, Answer, Client};
use vigil_core::{SigningKey, keyfile, sig};
use vigil_store::backends::{ControlledSync, Syncs};
use vigild::clock::{Clock as _, ManualClock};
use vigild::config::Settings;

pub mod fuzz;

/// The test log's origin.
pub const ORIGIN: &str = "e2e.vigil/log";

/// A fixed test key (INSECURE: derived from a constant).
pub fn test_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The principals every test appliance is provisioned with.
pub const SOURCE: (&str, u8) = ("nas", 11);
/// A second source.
pub const SOURCE2: (&str, u8) = ("web01", 12);
/// An auditor.
pub const AUDITOR: (&str, u8) = ("audit", 21);
/// An admin.
pub const ADMIN: (&str, u8) = ("ops", 31);

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A running test appliance.
pub struct Appliance {
    /// Temporary directory holding `state/` and `provision/`.
    pub dir: tempfile::TempDir,
    /// HTTPS client trusting the appliance CA.
    pub client: Client,
    /// The clock the daemon uses.
    pub clock: Arc<ManualClock>,
    /// The daemon.
    pub daemon: Option<vigild::Daemon>,
    /// The log's syncs, when the test controls them.
    pub syncs: Option<Arc<Syncs>>,
    quick_start: bool,
    rt: tokio::runtime::Runtime,
    next_nonce: std::sync::atomic::AtomicU64,
}

/// Options for [`Appliance::start_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `policy.toml` text placed in the provisioning folder.
    pub policy: Option<String>,
    /// Extra `keys/<role dir>/<name>.pub` files: (role dir, name, OpenSSH line).
    pub extra_keys: Vec<(String, String, String)>,
    /// The log's syncs under the test's control (held, slowed, counted).
    pub syncs: Option<Arc<Syncs>>,
    /// Open the log as `vigild` does by default (the quick check; the full one owed in the
    /// background) instead of with the full check before serving.
    pub quick_start: bool,
}

impl Appliance {
    /// Starts with the default policy.
    pub fn start() -> Appliance {
        Appliance::start_with(Options::default())
    }

    /// Starts with options.
    pub fn start_with(opts: Options) -> Appliance {
        let dir = tempfile::tempdir().expect("tempdir");
        let prov = dir.path().join("provision");
        for (sub, (name, seed)) in [
            ("sources", SOURCE),
            ("sources", SOURCE2),
            ("auditors", AUDITOR),
            ("admins", ADMIN),
        ] {
            write_key(&prov, sub, name, &test_key(seed));
        }
        for (sub, name, line) in &opts.extra_keys {
            let d = prov.join("keys").join(sub);
            std::fs::create_dir_all(&d).expect("mkdir");
            std::fs::write(d.join(format!("{name}.pub")), format!("{line}\n")).expect("write pub");
        }
        if let Some(p) = &opts.policy {
            std::fs::write(prov.join("policy.toml"), p).expect("write policy");
        }
        let clock = Arc::new(ManualClock::new(now_secs() * 1000));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut a = Appliance {
            dir,
            client: Client::unverified("https://127.0.0.1:1").expect("placeholder"),
            clock,
            daemon: None,
            syncs: opts.syncs.clone(),
            quick_start: opts.quick_start,
            rt,
            next_nonce: std::sync::atomic::AtomicU64::new(1),
        };
        a.boot();
        a
    }

    /// The settings the daemon runs with.
    pub fn settings(&self) -> Settings {
        Settings {
            state_dir: self.dir.path().join("state"),
            listen: "127.0.0.1:0".parse().expect("addr"),
            http_listen: Some("127.0.0.1:0".parse().expect("addr")),
            origin: ORIGIN.into(),
            provision: self.dir.path().join("provision"),
            clock: vigild::clock::ClockMode::AssumeSynced,
            image_id: "e2e".into(),
            tls_names: vec!["localhost".into()],
            tls_addresses: vec!["127.0.0.1".parse().expect("ip")],
            embedded_default: false,
            display: vigild::display::PanelKind::Png,
            hat: vigil_display::hat::HatConfig::default(),
        }
    }

    fn boot(&mut self) {
        let clock: Arc<dyn vigild::clock::Clock> = self.clock.clone();
        let open: vigild::OpenLog = match (&self.syncs, self.quick_start) {
            (Some(syncs), _) => open_log(syncs.clone()),
            (None, true) => Box::new(|path, signer| {
                vigil_store::Store::open_checked(path, signer, vigil_store::Check::Quick)
            }),
            (None, false) => Box::new(vigil_store::Store::open),
        };
        let settings = self.settings();
        let d = self
            .rt
            .block_on(async {
                let listeners = vigild::Listeners::bind(&settings).await?;
                vigild::Daemon::start_with_log(settings, clock, listeners, open).await
            })
            .expect("daemon starts");
        self.client = Client::new(&format!("https://{}", d.addr), &d.ca_pem).expect("client");
        self.daemon = Some(d);
    }

    /// Stops (draining) and starts again on the same state.
    pub fn restart(&mut self) {
        self.stop();
        self.boot();
    }

    /// Stops the daemon gracefully.
    pub fn stop(&mut self) {
        if let Some(d) = self.daemon.take() {
            self.rt.block_on(d.shutdown());
        }
    }

    /// The running daemon.
    pub fn daemon(&self) -> &vigild::Daemon {
        self.daemon.as_ref().expect("running")
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.daemon().addr)
    }

    /// Path of the CA certificate in the state directory.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("state/tls/ca.pem")
    }

    /// Path of a provisioned test key's private file (written 0600 for ssh-keygen).
    pub fn private_key_path(&self, name: &str, seed: u8) -> PathBuf {
        let p = self.dir.path().join(format!("{name}.key"));
        if !p.exists() {
            let text = keyfile::encode(&test_key(seed), name).expect("encode");
            std::fs::write(&p, text.as_bytes()).expect("write key");
            set_mode(&p, 0o600);
        }
        p
    }

    /// The daemon clock, unix ms.
    pub fn clock_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The daemon clock, unix seconds.
    pub fn now(&self) -> u64 {
        self.clock.now_ms() / 1000
    }

    /// Entry `index` as text, read straight from the store.
    pub fn entry_text(&self, index: u64) -> String {
        let bytes = self
            .daemon()
            .state
            .store
            .entry(index)
            .expect("read")
            .expect("entry exists");
        String::from_utf8(bytes).expect("entries are UTF-8")
    }

    /// Current log size.
    pub fn log_size(&self) -> u64 {
        self.daemon().state.store.head().size
    }

    /// A fresh nonce.
    pub fn nonce(&self) -> String {
        let n = self
            .next_nonce
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("{:016x}{}", n, &client::random_nonce()[16..])
    }

    /// A statement of `kind` for this appliance, now, with a fresh nonce.
    pub fn statement(&self, kind: vigil_core::Kind) -> vigil_core::statement::Builder {
        vigil_core::Statement::builder(kind, ORIGIN, self.now(), &self.nonce())
    }

    /// An alert statement for this appliance.
    pub fn alert(&self, severity: &str, topic: &str, title: &str) -> String {
        self.statement(vigil_core::Kind::Alert)
            .header("severity", severity)
            .header("title", title)
            .header("topic", topic)
            .body(format!("body of {title}\n"))
            .text()
    }

    /// An admin's `key-enroll/v1` of `name` as a source, with the public key of `key`.
    pub fn enrolment(&self, name: &str, key: &SigningKey) -> String {
        self.statement(vigil_core::Kind::KeyEnroll)
            .header("name", name)
            .header("role", "source")
            .header(
                "public-key",
                sig::openssh_public_key_line(&key.verifying_key(), ""),
            )
            .text()
    }

    /// An admin's `key-revoke/v1` of `name`.
    pub fn revocation(&self, name: &str, comment: &str) -> String {
        self.statement(vigil_core::Kind::KeyRevoke)
            .header("name", name)
            .header("comment", comment)
            .text()
    }

    /// Posts a statement signed raw by `(name, seed)`.
    pub fn post_signed(&self, path: &str, statement: &str, who: (&str, u8)) -> Answer {
        let h = client::statement_headers(statement.as_bytes(), who.0, &test_key(who.1));
        self.client
            .post(path, statement.as_bytes(), &h)
            .expect("reachable")
    }

    /// A signed GET by `(name, seed)`.
    pub fn read(&self, path: &str, who: (&str, u8)) -> Answer {
        self.client
            .signed_get(path, who.0, &test_key(who.1), self.clock.now_ms() / 1000)
            .expect("reachable")
    }

    /// The log's verifier.
    pub fn verifier(&self) -> vigil_core::NoteVerifier {
        vigil_core::NoteVerifier::from_vkey(&self.daemon().vkey).expect("vkey")
    }

    /// Verifies a receipt JSON against the log's vkey; returns its index.
    pub fn verify_receipt(&self, body: &[u8]) -> u64 {
        let r: vigil_core::wire::Receipt = serde_json::from_slice(body).expect("receipt JSON");
        let (index, leaf) = (r.index, r.leaf().expect("entry_hash is base64 of 32 bytes"));
        let proof = vigil_core::TlogProof::parse(&r.proof).expect("tlog-proof parses");
        assert_eq!(proof.index, index);
        proof
            .verify(&leaf, &self.verifier())
            .expect("receipt verifies offline");
        index
    }

    /// Runs `f` on the daemon's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `keys/<sub>/<name>.pub` for `key`.
pub fn write_key(prov: &Path, sub: &str, name: &str, key: &SigningKey) {
    let d = prov.join("keys").join(sub);
    std::fs::create_dir_all(&d).expect("mkdir");
    let line = sig::openssh_public_key_line(&key.verifying_key(), name);
    std::fs::write(d.join(format!("{name}.pub")), format!("{line}\n")).expect("write pub");
}

/// A raw HTTP answer read from `r` until the peer closes, a read fails (the socket's timeout),
/// or a JSON body has ended (every error body ends with `}`).
pub fn read_answer(r: &mut impl std::io::Read) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// chmod.
pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The shell recipes of README.md: each fenced block preceded by `<!-- e2e: NAME -->`.
pub fn readme_recipe(name: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README");
    let marker = format!("<!-- e2e: {name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README has no recipe {name}"))
        .1;
    let block = after.split_once("```sh\n").expect("fenced sh block").1;
    block.split_once("```").expect("closing fence").0.to_owned()
}

/// Runs a shell script in `dir` with `env`; returns (status, stdout, stderr).
pub fn sh(dir: &Path, script: &str, env: &[(&str, String)]) -> (i32, String, String) {
    let mut c = std::process::Command::new("bash");
    c.arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("bash runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Seconds between a certificate's notBefore and notAfter.
pub fn x509_validity_secs(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let v = cert.validity();
    Some(v.not_after.timestamp() - v.not_before.timestamp())
}

/// How vigild opens its log on a file whose syncs `syncs` controls (for
/// `Daemon::start_with_log`). The log has no journal: every batch is a durable redb commit, so
/// holding a sync holds the writer inside its commit.
pub fn open_log(syncs: Arc<Syncs>) -> vigild::OpenLog {
    Box::new(move |path, signer| {
        vigil_store::Store::open_with_backend(
            ControlledSync::new(owner_file(path)?, syncs.clone())?,
            signer,
        )
    })
}

/// [`open_log`] with the write-ahead journal vigild's own log has, beside it and under the same
/// syncs (the load benchmark's model of an SD card slows both).
pub fn open_journaled_log(syncs: Arc<Syncs>) -> vigild::OpenLog {
    Box::new(move |path, signer| {
        let journal = vigil_store::journal_path(path);
        vigil_store::Store::open_with_journal(
            ControlledSync::new(owner_file(path)?, syncs.clone())?,
            ControlledSync::new(owner_file(&journal)?, syncs.clone())?,
            vigil_store::JOURNAL_BYTES,
            signer,
            vigil_store::Check::Full,
        )
    })
}

/// A file opened for reading and writing (created owner-only if missing).
fn owner_file(path: &Path) -> Result<std::fs::File, vigil_store::StoreError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| vigil_store::StoreError::Db(redb::Error::Io(e)))?;
    set_mode(path, 0o600);
    Ok(file)
}
