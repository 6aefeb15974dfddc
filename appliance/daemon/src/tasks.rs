//! What runs beside the server: certificate renewal, the coalesced redraw, the touch pads and
//! the pruning of rate-limiter state. Each stops when the shutdown signal is sent.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::{AppState, device_statement};
use crate::tls;

/// The display is redrawn at most this often while alerts arrive (a few frames a second is
/// all an LCD reader sees; every redraw costs a render, a PNG and a file).
pub const REDRAW_MIN_INTERVAL: Duration = Duration::from_millis(250);

/// Resolves once the shutdown signal is sent.
pub(crate) async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Leaf renewal every 12 hours, swapped in without touching open connections.
pub(crate) fn renewal(
    ca: tls::Ca,
    resolver: Arc<tls::Resolver>,
    names: Vec<String>,
    ips: Vec<std::net::IpAddr>,
    rx: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
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
    })
}

/// Redraws when the log changed, at most every [`REDRAW_MIN_INTERVAL`] (commits in between
/// coalesce into one redraw), and once a second (clock, expiries, silences ending). The redraw
/// runs on a blocking thread: the file and the HAT's bus never stall the workers.
pub(crate) fn redraw(
    st: Arc<AppState>,
    changed: Arc<tokio::sync::Notify>,
    rx: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
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
                () = changed.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = &mut stop => break,
            }
        }
    })
}

/// Polls the touch pads every 20 ms; a held select acknowledges (a device-signed `ack/v1`).
#[cfg(feature = "hw")]
pub(crate) fn touch(st: Arc<AppState>, rx: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
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
    })
}

/// Longest wait between two attempts to take writes again after a failed write.
pub const RECOVERY_MAX_WAIT: Duration = Duration::from_secs(30);

/// After a write failed (a full disk, an I/O error), tries to take writes again with back-off
/// (1 s, 2 s, 4 s … at most [`RECOVERY_MAX_WAIT`]) until the log reopens and passes its
/// self-check; a log the self-check refused stays read-only (a person must look).
pub(crate) fn recovery(st: Arc<AppState>, rx: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stop = stopped(rx);
        tokio::pin!(stop);
        let mut wait = Duration::from_secs(1);
        let mut given_up = false;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut stop => break,
            }
            if st.store.writable().is_ok() {
                (wait, given_up) = (Duration::from_secs(1), false);
                continue;
            }
            if given_up {
                continue;
            }
            let s = st.clone();
            match tokio::task::spawn_blocking(move || s.store.recover()).await {
                Ok(Ok(true)) => {
                    tracing::info!("the log takes writes again");
                    wait = Duration::from_secs(1);
                }
                Ok(Ok(false)) => given_up = true,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, retry_in_secs = wait.as_secs(), "the log does not take writes yet");
                    wait = (wait * 2).min(RECOVERY_MAX_WAIT);
                }
                Err(e) => tracing::error!(error = %e, "the recovery attempt failed"),
            }
        }
    })
}

/// Prunes the rate limiters' per-address and per-key state every minute.
pub(crate) fn pruning(st: Arc<AppState>, rx: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let stop = stopped(rx);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => { st.auth_failures.prune(); st.sources.prune(); }
                () = &mut stop => break,
            }
        }
    })
}

/// Every minute while the log grows: checks the new entries and saves the screen's projection
/// snapshot, so a restart (even after a crash) checks and folds at most about a minute of
/// entries before serving (docs/spec.md §4).
pub(crate) fn snapshots(st: Arc<AppState>, rx: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        let stop = stopped(rx);
        tokio::pin!(stop);
        let mut saved = st.store.head().size;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let size = st.store.head().size;
                    if size != saved {
                        let s = st.clone();
                        let _ = tokio::task::spawn_blocking(move || keep_start_quick(&s)).await;
                        saved = size;
                    }
                }
                () = &mut stop => break,
            }
        }
    })
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
            if st.committer.submit(st.clock.submission(v)).is_err() {
                tracing::warn!("touch-pad acknowledgement dropped: ingest queue full");
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot build the touch-pad acknowledgement"),
    }
}

/// What keeps the next start quick: the entries appended since the last check are checked
/// (raising the `checked` mark; a mismatch turns the log read-only, as at start) and the
/// screen's projection snapshot is saved.
pub(crate) fn keep_start_quick(st: &AppState) {
    match st.store.check_recent() {
        Ok(n) => tracing::debug!(entries = n, "recent entries checked"),
        Err(vigil_store::StoreError::Corrupt(why)) => {
            tracing::error!(reason = %why, "log self-check failed: serving reads only, refusing writes");
        }
        Err(e) => {
            tracing::warn!(error = %e, "the recent entries could not be checked; the next start will")
        }
    }
    save_projection(st);
}

/// Saves the screen's projection snapshot when it is of the whole log (derived state: a
/// failure is logged and changes nothing else).
fn save_projection(st: &AppState) {
    let snap = st.display.snapshot();
    if snap.entries != st.store.head().size {
        return;
    }
    match st.store.save_projection(&snap.encode()) {
        Ok(()) => tracing::debug!(
            entries = snap.entries,
            live = snap.live.len(),
            "projection snapshot saved"
        ),
        Err(e) => tracing::warn!(error = %e, "the projection snapshot could not be saved"),
    }
}
