//! vigild: the appliance daemon. The binary is glue; this library does the work so tests can
//! start a real daemon on 127.0.0.1:0 ([`Daemon::start`]) or call the router without sockets
//! ([`server::app`]).

pub mod api;
pub mod clock;
pub mod config;
pub mod display;
pub mod files;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod provision;
pub mod server;
pub mod state;
pub mod tls;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use vigil_core::{NoteSigner, SigningKey, keyfile};
use vigil_store::{Committer, Store};

use crate::clock::Clock;
use crate::config::Settings;
use crate::state::{AppState, DaemonGate, Shared, device_statement, read};

/// Opens the log: given its path and the signer whose name is the origin.
pub type OpenLog =
    Box<dyn FnOnce(&std::path::Path, NoteSigner) -> Result<Store, vigil_store::StoreError> + Send>;

/// The display is redrawn at most this often while alerts arrive (a few frames a second is
/// all an LCD reader sees; every redraw costs a render, a PNG and a file).
pub const REDRAW_MIN_INTERVAL: Duration = Duration::from_millis(250);

/// Why the daemon refused to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file in the state directory.
    #[error(transparent)]
    File(#[from] files::FileError),
    /// Provisioning.
    #[error(transparent)]
    Provision(#[from] provision::ProvisionError),
    /// TLS.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The log.
    #[error("log: {0}")]
    Store(#[from] vigil_store::StoreError),
    /// Binding a listener.
    #[error("cannot listen on {addr}: {why}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        why: String,
    },
    /// Anything else, said plainly.
    #[error("{0}")]
    Other(String),
}

/// A running daemon.
pub struct Daemon {
    /// HTTPS address actually bound.
    pub addr: SocketAddr,
    /// Redirect address actually bound.
    pub http_addr: Option<SocketAddr>,
    /// CA certificate (PEM).
    pub ca_pem: String,
    /// CA fingerprint (`SHA256:…`).
    pub ca_fingerprint: String,
    /// Log verifier key.
    pub vkey: String,
    /// True when the log was empty at start (first boot).
    pub first_boot: bool,
    /// Dev keys created at this start (embedded default only).
    pub dev_keys: Vec<PathBuf>,
    /// Shared state (tests inspect it).
    pub state: Arc<AppState>,
    /// The TLS certificate resolver (renewal swaps its certificate).
    pub resolver: Arc<tls::Resolver>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("addr", &self.addr)
            .field("vkey", &self.vkey)
            .finish_non_exhaustive()
    }
}

/// Loads the device log key from `DIR/log.key`, creating it (and `DIR/log.vkey`) on first start.
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

#[cfg(feature = "hw")]
type Hat = vigil_display::hw::GfxHat;
#[cfg(not(feature = "hw"))]
type Hat = std::convert::Infallible;

/// Picks the panel: the GFX HAT when asked for (`hat`: its LCD must open, else the start is
/// refused) or (`auto`) when its touch controller answers; else the PNG panel, and why.
fn choose_panel(settings: &Settings) -> Result<Result<Hat, display::PanelState>, StartError> {
    use display::{PanelKind, PanelReason, PanelState};
    if settings.display == PanelKind::Png {
        return Ok(Err(PanelState::new(
            PanelReason::Configured,
            "display = \"png\"",
        )));
    }
    #[cfg(feature = "hw")]
    {
        let hat = &settings.hat;
        if settings.display == PanelKind::Auto
            && let Err(why) = vigil_display::hw::detect(hat)
        {
            return Ok(Err(PanelState::new(
                PanelReason::NotDetected,
                format!("display = \"auto\" and no GFX HAT answers: {why}"),
            )));
        }
        match vigil_display::hw::GfxHat::open(hat) {
            Ok(h) => Ok(Ok(h)),
            Err(e) if settings.display == PanelKind::Hat => {
                Err(StartError::Other(format!("display = \"hat\": {e}")))
            }
            // Auto: the appliance still serves, on the PNG panel.
            Err(e) => Ok(Err(PanelState::new(
                PanelReason::OpenFailed,
                format!("the GFX HAT answers but its LCD cannot be opened: {e}"),
            ))),
        }
    }
    #[cfg(not(feature = "hw"))]
    {
        if settings.display == PanelKind::Hat {
            return Err(StartError::Other(
                "display = \"hat\" but vigild was built without the hw feature".into(),
            ));
        }
        Ok(Err(PanelState::new(
            PanelReason::NotBuilt,
            "vigild was built without the hw feature (no GFX HAT support)",
        )))
    }
}

/// The display on the panel [`choose_panel`] picked.
fn open_display(
    settings: &Settings,
    model: vigil_core::Projection,
    status: vigil_display::Status,
    now_ms: u64,
) -> Result<display::Display, StartError> {
    let png_path = settings.state_dir.join("display.png");
    match choose_panel(settings)? {
        Err(panel) => {
            if panel.reason == display::PanelReason::OpenFailed {
                tracing::error!(detail = %panel.detail, "display: PNG panel");
            } else {
                tracing::info!(path = %png_path.display(), reason = panel.reason.code(), detail = %panel.detail, "display: PNG panel");
            }
            Ok(display::Display::new(
                model,
                status,
                Some(png_path),
                panel,
                now_ms,
            ))
        }
        #[cfg(feature = "hw")]
        Ok(hat) => {
            let d = display::Display::on_hat(model, status, hat, now_ms);
            let p = d.panel();
            if p.reason == display::PanelReason::Ok {
                tracing::info!(detail = %p.detail, "display: GFX HAT");
            } else {
                tracing::warn!(detail = %p.detail, "display: GFX HAT, degraded");
            }
            Ok(d)
        }
        #[cfg(not(feature = "hw"))]
        Ok(never) => match never {},
    }
}

/// Logs a device-signed `ack/v1` for a touch-pad acknowledgement.
pub fn button_ack(st: &AppState, index: u64) {
    let v = device_statement(
        &st.device_key,
        &st.origin,
        st.clock.now_secs(),
        vigil_core::Kind::Ack,
        &[("ref", &index.to_string()), ("comment", "touch pad")],
        "",
    );
    match v {
        Ok(v) => {
            let sub = vigil_store::Submission {
                verified: v,
                received_ms: st.clock.now_ms(),
                clock: if st.clock.synced() {
                    vigil_core::ClockState::Synced
                } else {
                    vigil_core::ClockState::Unsynced
                },
            };
            if st.committer.submit(sub).is_err() {
                tracing::warn!("touch-pad acknowledgement dropped: ingest queue full");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot build the touch-pad acknowledgement"),
    }
}

impl Daemon {
    /// Starts everything: state directory, keys, CA, log (with its self-check), provisioning
    /// import, `boot/v1`, the committer, the listeners and the renewal and pruning tasks.
    pub async fn start(settings: Settings, clock: Arc<dyn Clock>) -> Result<Daemon, StartError> {
        Daemon::start_with_log(settings, clock, Box::new(Store::open)).await
    }

    /// [`Daemon::start`] with the log opened by `open_log` (given the log's path and signer)
    /// instead of from the file: benchmarks put it on a storage backend that models slow media.
    pub async fn start_with_log(
        settings: Settings,
        clock: Arc<dyn Clock>,
        open_log: OpenLog,
    ) -> Result<Daemon, StartError> {
        let dir = &settings.state_dir;
        std::fs::create_dir_all(dir).map_err(|e| files::err(dir, e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| files::err(dir, e))?;

        let key = device_key(&settings)?;
        let signer = NoteSigner::new(&settings.origin, key.clone())
            .map_err(|e| StartError::Other(e.to_string()))?;
        let vkey = signer.verifier().vkey();
        files::write_public(&dir.join("log.vkey"), format!("{vkey}\n").as_bytes())?;
        let ca = tls::Ca::load_or_create(&tls::tls_dir(dir), &settings.origin)?;

        let store = Arc::new(open_log(&settings.log_path(), signer)?);
        if let Err(why) = store.writable() {
            tracing::error!(reason = %why, "log self-check failed: serving reads only, refusing writes");
        }
        let mut projection = Shared::new(key.verifying_key());
        let mut screen_model = vigil_core::Projection::new();
        let recent = Arc::new(state::RecentStatements::default());
        let recent_from = store
            .head()
            .size
            .saturating_sub(state::RECENT_STATEMENTS as u64);
        store.for_each_entry(|e| {
            projection.apply(&e);
            screen_model.apply(&e);
            if e.index() >= recent_from {
                recent.record(std::slice::from_ref(&e));
            }
        })?;
        let first_boot = store.head().size == 0;
        let shared = Arc::new(RwLock::new(projection));
        let mut gate = DaemonGate::new(&settings.origin, shared.clone());

        // The display: the projection above, shown on the HAT or the PNG panel.
        let status = vigil_display::Status {
            first_boot,
            ca_fingerprint: ca.fingerprint(),
            log_fingerprint: vigil_core::sig::fingerprint(&key.verifying_key()),
            not_writable: store.writable().err(),
            root_b64: String::new(),
            size: 0,
        };
        let display = Arc::new(open_display(
            &settings,
            screen_model,
            status,
            clock.now_ms(),
        )?);
        let refresh = Arc::new(tokio::sync::Notify::new());
        {
            let (d, n, r) = (display.clone(), refresh.clone(), recent.clone());
            gate.on_commit(move |entries| {
                r.record(entries);
                d.apply(entries);
                n.notify_one();
            });
        }

        // Provisioning import and the boot entry, device-signed, before anyone else may write.
        let mut keys = provision::read_keys(&settings.provision)?;
        let mut dev_keys = Vec::new();
        if keys.is_empty()
            && settings.embedded_default
            && read(&shared).registry.principals().next().is_none()
        {
            dev_keys = provision::make_dev_keys(&settings.provision)?;
            keys = provision::read_keys(&settings.provision)?;
        }
        let policy_text = match provision::read_policy(&settings.provision)? {
            Some((text, _)) => text,
            None => vigil_core::policy::DEFAULT_POLICY.to_owned(),
        };
        if store.writable().is_ok() {
            let now = clock.now_secs();
            let mut batch = provision::plan_import(
                &read(&shared),
                &keys,
                &policy_text,
                &key,
                &settings.origin,
                now,
            )?;
            let boot = device_statement(
                &key,
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
            let synced = clock.synced();
            let subs = batch
                .into_iter()
                .map(|v| vigil_store::Submission {
                    verified: v,
                    received_ms: clock.now_ms(),
                    clock: if synced {
                        vigil_core::ClockState::Synced
                    } else {
                        vigil_core::ClockState::Unsynced
                    },
                })
                .collect::<Vec<_>>();
            let n = subs.len();
            for r in store.append_batch_gated(subs, &mut gate)? {
                r.map_err(|e| StartError::Other(format!("provisioning entry refused: {e}")))?;
            }
            tracing::info!(entries = n, "logged provisioning and boot entries");
        }

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
            clock,
            device_key: key,
            limits: policy.limits.clone(),
            auth_failures: limits::AuthFailures::new(&policy),
            sources: limits::SourceLimits::new(&policy),
            nonces: state::NonceCache::default(),
            recent,
            metrics,
            ca_pem: ca.cert_pem().to_owned(),
            display: display.clone(),
        });

        let leaf = ca.issue_leaf(&settings.tls_names, &settings.tls_addresses)?;
        let resolver = Arc::new(tls::Resolver::new(leaf));
        let tls_config = Arc::new(tls::server_config(resolver.clone())?);

        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|e| StartError::Listen {
                    addr: settings.listen,
                    why: e.to_string(),
                })?;
        let addr = listener.local_addr().map_err(|e| StartError::Listen {
            addr: settings.listen,
            why: e.to_string(),
        })?;
        let (shutdown, rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let mut tasks = Vec::new();
        let router = server::app(state.clone());
        let limits = state.limits.clone();
        tasks.push(tokio::spawn(server::serve_tls(
            router,
            listener,
            tls_config,
            limits,
            stopped(rx.clone()),
            Duration::from_secs(10),
        )));
        let http_addr = match settings.http_listen {
            Some(a) => {
                let l = TcpListener::bind(a).await.map_err(|e| StartError::Listen {
                    addr: a,
                    why: e.to_string(),
                })?;
                let bound = l.local_addr().map_err(|e| StartError::Listen {
                    addr: a,
                    why: e.to_string(),
                })?;
                tasks.push(tokio::spawn(server::serve_redirect(
                    l,
                    addr.port(),
                    stopped(rx.clone()),
                )));
                Some(bound)
            }
            None => None,
        };
        // Leaf renewal every 12 hours, swapped in without touching open connections.
        {
            let (resolver, names, ips, rx) = (
                resolver.clone(),
                settings.tls_names.clone(),
                settings.tls_addresses.clone(),
                rx.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(tls::RENEW_EVERY);
                tick.tick().await;
                let stop = stopped(rx);
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = tick.tick() => match ca.issue_leaf(&names, &ips) {
                            Ok(k) => { resolver.replace(k); tracing::info!("renewed the TLS certificate"); }
                            Err(e) => tracing::error!(error = %e, "TLS certificate renewal failed; the current one stays"),
                        },
                        () = &mut stop => break,
                    }
                }
            }));
        }
        // Redraw when the log changed, at most every REDRAW_MIN_INTERVAL (commits in between
        // coalesce into one redraw), and once a second (clock, expiries, silences ending). The
        // redraw runs on a blocking thread: the file and the HAT's bus never stall the workers.
        {
            let (st, rx, n) = (state.clone(), rx.clone(), refresh.clone());
            tasks.push(tokio::spawn(async move {
                let stop = stopped(rx);
                tokio::pin!(stop);
                let mut last: Option<tokio::time::Instant> = None;
                loop {
                    if let Some(t) = last {
                        tokio::select! {
                            () = tokio::time::sleep_until(t + REDRAW_MIN_INTERVAL) => {}
                            () = &mut stop => break,
                        }
                    }
                    last = Some(tokio::time::Instant::now());
                    let s = st.clone();
                    let _ = tokio::task::spawn_blocking(move || {
                        let head = s.store.head();
                        s.display
                            .set_head(head.size, &head.root, s.store.writable().err());
                        if s.display.refresh(s.clock.now_ms()) {
                            s.metrics.redrawn();
                        }
                    })
                    .await;
                    tokio::select! {
                        () = n.notified() => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = &mut stop => break,
                    }
                }
            }));
        }
        #[cfg(feature = "hw")]
        if display.has_touch() {
            let (st, rx) = (state.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                let mut pads = vigil_display::cap1166::Pads::default();
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                let stop = stopped(rx);
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            if let Some(vigil_display::Command::Ack(index)) = st.display.poll_pads(&mut pads, st.clock.now_ms()) {
                                button_ack(&st, index);
                            }
                        }
                        () = &mut stop => break,
                    }
                }
            }));
        }
        // Pruning of rate-limiter state.
        {
            let (st, rx) = (state.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                let stop = stopped(rx);
                tokio::pin!(stop);
                loop {
                    tokio::select! {
                        _ = tick.tick() => { st.auth_failures.prune(); st.sources.prune(); }
                        () = &mut stop => break,
                    }
                }
            }));
        }
        let ca_fingerprint = tls::pem_to_der(&state.ca_pem)
            .map(|d| tls::fingerprint_der(&d))
            .unwrap_or_default();
        Ok(Daemon {
            addr,
            http_addr,
            ca_pem: state.ca_pem.clone(),
            ca_fingerprint,
            vkey,
            first_boot,
            dev_keys,
            state,
            resolver,
            shutdown,
            tasks,
        })
    }

    /// Graceful stop: stop accepting, let in-flight requests finish, commit what is queued.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let st = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || st.committer.shutdown()).await;
    }
}
