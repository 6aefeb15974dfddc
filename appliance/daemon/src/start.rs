//! Starting the daemon, in phases: the state directory and its keys, the log (with its
//! self-check) and what is rebuilt from it, the display, the provisioning import and `boot/v1`,
//! the shared state and its writer, then serving on the listeners the caller bound and the
//! tasks beside it.

use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use vigil_core::projection::Snapshot;
use vigil_core::{Kind, NoteSigner, Projection, SigningKey, keyfile};
use vigil_store::{Committer, Store, Submission};

use crate::clock::Clock;
use crate::config::Settings;
use crate::state::{self, AppState, DaemonGate, RecentStatements, Shared, device_statement, read};
use crate::{
    Daemon, Listeners, OpenLog, StartError, files, limits, metrics, panel, provision, server,
    tasks, tls,
};

impl Daemon {
    /// Starts everything on `listeners`: state directory, keys, CA, log (with its self-check),
    /// provisioning import, `boot/v1`, the committer, serving and the tasks beside it.
    pub async fn start(
        settings: Settings,
        clock: Arc<dyn Clock>,
        listeners: Listeners,
    ) -> Result<Daemon, StartError> {
        Daemon::start_with_log(settings, clock, listeners, Box::new(Store::open)).await
    }

    /// [`Daemon::start`] with the log opened by `open_log` (given the log's path and signer)
    /// instead of from the file: tests and benchmarks put it on a storage backend they control.
    pub async fn start_with_log(
        settings: Settings,
        clock: Arc<dyn Clock>,
        listeners: Listeners,
        open_log: OpenLog,
    ) -> Result<Daemon, StartError> {
        let (keys, signer) = Keys::load(&settings)?;
        let store = Arc::new(open_log(&settings.log_path(), signer)?);
        if let Err(why) = store.writable() {
            tracing::error!(reason = %why, "log self-check failed: serving reads only, refusing writes");
        }
        let t0 = std::time::Instant::now();
        let rebuilt = Rebuilt::from_log(&store, &keys.device)?;
        tracing::info!(
            screen = %rebuilt.how,
            millis = t0.elapsed().as_millis() as u64,
            "rebuilt from the log"
        );
        let first_boot = store.head().size == 0;
        let status = vigil_display::Status {
            first_boot,
            ca_fingerprint: keys.ca.fingerprint(),
            log_fingerprint: vigil_core::sig::fingerprint(&keys.device.verifying_key()),
            not_writable: store.writable().err(),
            root_b64: String::new(),
            size: 0,
            checks_on_hold: false,
        };
        let display = Arc::new(panel::open_display(
            &settings,
            rebuilt.screen,
            status,
            clock.now_ms(),
        )?);
        let shared = Arc::new(RwLock::new(rebuilt.shared));
        let checks = Arc::new(std::sync::Mutex::new(rebuilt.checks));
        let recent = Arc::new(rebuilt.recent);
        let changed = Arc::new(tokio::sync::Notify::new());
        let mut gate = DaemonGate::new(&settings.origin, shared.clone());
        {
            let (d, n, r, c) = (
                display.clone(),
                changed.clone(),
                recent.clone(),
                checks.clone(),
            );
            gate.on_commit(move |entries| {
                r.record(entries);
                {
                    let mut c = state::lock(&c);
                    for e in entries {
                        crate::checks::fold(&mut c, e);
                    }
                }
                d.apply(entries);
                n.notify_one();
            });
        }
        gate.judge_misses(checks.clone());
        let dev_keys = import(
            &settings,
            &store,
            &shared,
            &mut gate,
            &keys.device,
            clock.as_ref(),
        )?;

        let policy = read(&shared).policy.clone();
        let metrics = Arc::new(metrics::Metrics::default());
        let m = metrics.clone();
        let committer = Committer::start(
            store.clone(),
            policy.limits.queue,
            Box::new(gate),
            Some(Box::new(move |n, took| m.commit(n, took))),
        );
        let state = Arc::new(AppState {
            origin: settings.origin.clone(),
            store,
            committer,
            shared,
            checks,
            clock: clock.clone(),
            device_key: keys.device,
            limits: policy.limits.clone(),
            auth_failures: limits::AuthFailures::new(&policy),
            sources: limits::SourceLimits::new(&policy),
            nonces: state::NonceCache::default(),
            recent,
            metrics,
            ca_pem: keys.ca.cert_pem().to_owned(),
            display: display.clone(),
            reads_from_secs: std::sync::atomic::AtomicU64::new(if clock.synced() {
                clock.now_secs()
            } else {
                0
            }),
        });
        let leaf = keys
            .ca
            .issue_leaf(&settings.tls_names, &settings.tls_addresses)?;
        let resolver = Arc::new(tls::Resolver::new(leaf));
        let tls_config = Arc::new(tls::server_config(resolver.clone())?);

        // Serving, and the tasks beside it, until the shutdown signal.
        let addr = listeners
            .https
            .local_addr()
            .map_err(|e| StartError::Listen {
                addr: settings.listen,
                why: e.to_string(),
            })?;
        let (shutdown, rx) = watch::channel(false);
        let mut running = vec![tokio::spawn(server::serve_tls(
            server::app(state.clone()),
            listeners.https,
            tls_config,
            state.limits.clone(),
            tasks::stopped(rx.clone()),
            Duration::from_secs(10),
        ))];
        let http_addr = match listeners.http {
            Some(l) => {
                let bound = l.local_addr().ok();
                running.push(tokio::spawn(server::serve_redirect(
                    l,
                    addr.port(),
                    tasks::stopped(rx.clone()),
                )));
                bound
            }
            None => None,
        };
        running.push(tasks::renewal(
            keys.ca,
            resolver.clone(),
            settings.tls_names.clone(),
            settings.tls_addresses.clone(),
            rx.clone(),
        ));
        running.push(tasks::redraw(state.clone(), changed, rx.clone()));
        #[cfg(feature = "hw")]
        if display.has_touch() {
            running.push(tasks::touch(state.clone(), rx.clone()));
        }
        running.push(tasks::recovery(state.clone(), rx.clone()));
        running.push(tasks::pruning(state.clone(), rx.clone()));
        running.push(tasks::snapshots(state.clone(), rx.clone()));
        running.push(crate::checks::deadlines(state.clone(), rx));
        let ca_fingerprint = tls::pem_to_der(&state.ca_pem)
            .map(|d| tls::fingerprint_der(&d))
            .unwrap_or_default();
        Ok(Daemon {
            addr,
            http_addr,
            ca_pem: state.ca_pem.clone(),
            ca_fingerprint,
            vkey: keys.vkey,
            first_boot,
            dev_keys,
            state,
            resolver,
            shutdown,
            tasks: running,
        })
    }
}

/// The state directory's keys: the device key (which signs the log), its verifier key, and the
/// CA.
struct Keys {
    device: SigningKey,
    vkey: String,
    ca: tls::Ca,
}

impl Keys {
    /// Makes the state directory (0700) and loads, or on first start creates, its keys; with
    /// the log's checkpoint signer.
    fn load(settings: &Settings) -> Result<(Keys, NoteSigner), StartError> {
        let dir = &settings.state_dir;
        std::fs::create_dir_all(dir).map_err(|e| files::err(dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| files::err(dir, e))?;
        let device = device_key(settings)?;
        let signer = NoteSigner::new(&settings.origin, device.clone())
            .map_err(|e| StartError::Other(e.to_string()))?;
        let vkey = signer.verifier().vkey();
        files::write_public(&dir.join("log.vkey"), format!("{vkey}\n").as_bytes())?;
        let ca = tls::Ca::load_or_create(&tls::tls_dir(dir), &settings.origin)?;
        Ok((Keys { device, vkey, ca }, signer))
    }
}

/// Loads the device log key from `DIR/log.key`, creating it on first start.
fn device_key(settings: &Settings) -> Result<SigningKey, StartError> {
    let path = settings.state_dir.join("log.key");
    if !path.exists() {
        let key = SigningKey::from_bytes(&files::random_seed());
        let text = keyfile::encode(&key, &format!("vigil log key {}", settings.origin))
            .map_err(|e| files::err(&path, e))?;
        files::write_secret(&path, text.as_bytes())?;
    }
    let text = files::read_secret(&path)?;
    keyfile::decode(&text).map_err(|e| files::err(&path, e).into())
}

/// What is rebuilt from the log at every start: the decision projection (keys, policy), the
/// screen's projection, and the most recent statements (for exact retries).
///
/// None of it folds the whole log: the decision projection folds only the entries that change
/// it (enrolments, revocations, policies, found by the kind index), the screen starts from the
/// snapshot vigild saved (the entries it still depends on) and folds what came after it, and
/// the recent statements are the last [`state::RECENT_STATEMENTS`] entries. Without a usable
/// snapshot the screen folds every entry, as before.
struct Rebuilt {
    shared: Shared,
    checks: vigil_core::checkin::Checks,
    screen: Projection,
    recent: RecentStatements,
    /// How the screen was rebuilt, for the journal and the banner.
    how: String,
}

/// The kinds the decision projection ([`Shared::apply`]) folds.
const DECISION_KINDS: [Kind; 3] = [Kind::KeyEnroll, Kind::KeyRevoke, Kind::Policy];

impl Rebuilt {
    fn from_log(store: &Store, device: &SigningKey) -> Result<Rebuilt, StartError> {
        let size = store.head().size;
        let mut shared = Shared::new(device.verifying_key());
        let kinds = DECISION_KINDS.map(|k| k.name());
        for e in store.entries_at(&store.indices_of_kinds(&kinds)?)? {
            shared.apply(&e);
        }
        // Every check entry, a slice at a time (a check every minute is half a million a year).
        let mut checks = vigil_core::checkin::Checks::default();
        let kinds = crate::checks::CHECK_KINDS.map(|k| k.name());
        for slice in store.indices_of_kinds(&kinds)?.chunks(4096) {
            for e in store.entries_at(slice)? {
                crate::checks::fold(&mut checks, &e);
            }
        }
        // A start that checked the whole log before serving (a fresh log, `--full-check`)
        // trusts nothing derived either: it folds every entry, and the snapshot saved next is
        // of that fold.
        let saved = if store.check_owed() {
            store.load_projection()?
        } else {
            None
        };
        let snapshot = match saved {
            None => None,
            Some(bytes) => match Snapshot::decode(&bytes).filter(|s| s.entries <= size) {
                Some(s) => Some(s),
                None => {
                    tracing::warn!(
                        "the saved projection snapshot is not usable: folding every entry"
                    );
                    None
                }
            },
        };
        let (mut screen, from, how) = match snapshot {
            Some(s) => {
                let live = store.entries_at(&s.live)?;
                let how = format!(
                    "from its snapshot at {} entries ({} folded again), then {} newer",
                    s.entries,
                    s.live.len(),
                    size - s.entries
                );
                (Projection::from_snapshot(&s, &live), s.entries, how)
            }
            None => (Projection::new(), 0, format!("folding all {size} entries")),
        };
        let recent = RecentStatements::default();
        let recent_from = size.saturating_sub(state::RECENT_STATEMENTS as u64);
        store.for_each_entry_from(from.min(recent_from), |e| {
            if e.index() >= from {
                screen.apply(&e);
            }
            if e.index() >= recent_from {
                recent.record(std::slice::from_ref(&e));
            }
        })?;
        Ok(Rebuilt {
            shared,
            checks,
            screen,
            recent,
            how,
        })
    }
}

/// The provisioning import (keys and policy not yet in the log) and `boot/v1`, device-signed and
/// committed through the gate before anyone else may write. Returns the dev keys it made (the
/// embedded default with no keys at all).
fn import(
    settings: &Settings,
    store: &Store,
    shared: &RwLock<Shared>,
    gate: &mut DaemonGate,
    device: &SigningKey,
    clock: &dyn Clock,
) -> Result<Vec<std::path::PathBuf>, StartError> {
    let mut keys = provision::read_keys(&settings.provision)?;
    let mut dev_keys = Vec::new();
    if keys.is_empty()
        && settings.embedded_default
        && read(shared).registry.principals().next().is_none()
    {
        dev_keys = provision::make_dev_keys(&settings.provision)?;
        keys = provision::read_keys(&settings.provision)?;
    }
    let policy_text = match provision::read_policy(&settings.provision)? {
        Some((text, _)) => text,
        None => vigil_core::policy::DEFAULT_POLICY.to_owned(),
    };
    if store.writable().is_err() {
        return Ok(dev_keys);
    }
    let now = clock.now_secs();
    let mut batch = provision::plan_import(
        &read(shared),
        &keys,
        &policy_text,
        device,
        &settings.origin,
        now,
    )?;
    let boot = device_statement(
        device,
        &settings.origin,
        now,
        vigil_core::Kind::Boot,
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("image", &settings.image_id),
        ],
        "",
    )
    .map_err(StartError::Other)?;
    batch.push(boot);
    let subs: Vec<Submission> = batch.into_iter().map(|v| clock.submission(v)).collect();
    let n = subs.len();
    for r in store.append_batch_gated(subs, gate)? {
        r.map_err(|e| StartError::Other(format!("provisioning entry refused: {e}")))?;
    }
    tracing::info!(entries = n, "logged provisioning and boot entries");
    Ok(dev_keys)
}
