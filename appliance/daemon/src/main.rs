//! `vigild`: parse the configuration, start the daemon, wait for SIGTERM or Ctrl-C, drain.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use vigild::clock::SystemClock;
use vigild::config::{Args, Settings};
use vigild::{Daemon, Listeners, logging};

/// A banner line on stdout. A closed stdout (a reader that went away) must not stop the
/// daemon: the line is dropped, and the logs still say what happened.
macro_rules! banner {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match Settings::resolve(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vigild: configuration: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_hardware {
        return check_hardware(&settings);
    }
    let sink = logging::init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vigild: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let clock = Arc::new(SystemClock::new(settings.clock));
        // Sockets passed by systemd (the image's vigild-https.socket and vigild-http.socket) win
        // over the configured ones.
        let listeners = match Listeners::inherited() {
            Ok(Some(l)) => Ok((l, true)),
            Ok(None) => Listeners::bind(&settings).await.map(|l| (l, false)),
            Err(e) => Err(e),
        };
        // The full self-check before serving only when asked (docs/spec.md §4); otherwise the
        // quick one, and the full one in the background below.
        let check = if args.full_check {
            vigil_store::Check::Full
        } else {
            vigil_store::Check::Quick
        };
        let open_log: vigild::OpenLog =
            Box::new(move |path, signer| vigil_store::Store::open_checked(path, signer, check));
        let started = match listeners {
            Ok((listeners, inherited)) => {
                Daemon::start_with_log(settings.clone(), clock, listeners, open_log)
                    .await
                    .map(|d| (d, inherited))
            }
            Err(e) => Err(e),
        };
        let (daemon, inherited) = match started {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "refusing to start");
                eprintln!("vigild: refusing to start: {e}");
                return ExitCode::FAILURE;
            }
        };
        banner!(
            "vigil is running: https://{}  (origin {})",
            daemon.addr, settings.origin
        );
        if let Some(h) = daemon.http_addr {
            banner!("  plain HTTP on http://{h} redirects to HTTPS");
        }
        if inherited {
            banner!("  sockets:        passed by systemd (listen and http_listen are not used)");
        }
        banner!(
            "  CA certificate: {} ({})",
            settings.state_dir.join("tls/ca.pem").display(),
            daemon.ca_fingerprint
        );
        banner!("  log vkey:       {}", daemon.vkey);
        banner!(
            "  state:          {}  (logs to {sink})",
            settings.state_dir.display()
        );
        let panel = daemon.state.display.panel();
        banner!("  display:        {panel}");
        if panel.reason.panel() == "png" {
            banner!(
                "  picture:        {}",
                settings.state_dir.join("display.png").display()
            );
        }
        if let Err(why) = daemon.state.store.writable() {
            banner!("  LOG NOT WRITABLE: {why}");
        }
        let store = daemon.state.store.clone();
        if store.check_owed() {
            banner!(
                "  log check:      quick at start (head, checkpoint, entries since the last full check); full check in the background"
            );
            let spawned = std::thread::Builder::new()
                .name("vigil-fullcheck".into())
                .spawn(move || {
                    let t = std::time::Instant::now();
                    match store.finish_check() {
                        Ok(()) => tracing::info!(
                            entries = store.head().size,
                            seconds = t.elapsed().as_secs_f64(),
                            "full log self-check passed"
                        ),
                        Err(e @ vigil_store::StoreError::Corrupt(_)) => tracing::error!(
                            error = %e,
                            "full log self-check failed: serving reads only, refusing writes"
                        ),
                        Err(e) => tracing::warn!(
                            error = %e,
                            "the background log check could not finish; the next start runs it again"
                        ),
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the background log check");
            }
        }
        for k in &daemon.dev_keys {
            banner!(
                "  INSECURE dev key created: {} (for trying vigil out only)",
                k.display()
            );
        }
        wait_for_signal().await;
        tracing::info!("stopping: draining in-flight requests and the commit queue");
        daemon.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// `vigild --check-hardware`: the GFX HAT self-test on the configured wiring (docs/hardware.md).
#[cfg(feature = "hw")]
fn check_hardware(settings: &Settings) -> ExitCode {
    let opts = vigil_display::hw::CheckOptions::default();
    if vigil_display::hw::check(&settings.hat, &opts, &mut std::io::stdout()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Without the `hw` feature there is no hardware support to check.
#[cfg(not(feature = "hw"))]
fn check_hardware(_: &Settings) -> ExitCode {
    eprintln!(
        "vigild --check-hardware: this vigild was built without the hw feature (no GFX HAT support)"
    );
    ExitCode::FAILURE
}
