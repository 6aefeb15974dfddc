//! `vigild`: parse the configuration, start the daemon, wait for SIGTERM or Ctrl-C, drain.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use vigild::clock::SystemClock;
use vigild::config::{Args, Settings};
use vigild::{Daemon, Listeners, logging};

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
        // Sockets passed by systemd (the image's vigild.socket) win over the configured ones.
        let listeners = match Listeners::inherited() {
            Ok(Some(l)) => Ok((l, true)),
            Ok(None) => Listeners::bind(&settings).await.map(|l| (l, false)),
            Err(e) => Err(e),
        };
        let started = match listeners {
            Ok((listeners, inherited)) => Daemon::start(settings.clone(), clock, listeners)
                .await
                .map(|d| (d, inherited)),
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
        println!(
            "vigil is running: https://{}  (origin {})",
            daemon.addr, settings.origin
        );
        if let Some(h) = daemon.http_addr {
            println!("  plain HTTP on http://{h} redirects to HTTPS");
        }
        if inherited {
            println!("  sockets:        passed by systemd (listen and http_listen are not used)");
        }
        println!(
            "  CA certificate: {} ({})",
            settings.state_dir.join("tls/ca.pem").display(),
            daemon.ca_fingerprint
        );
        println!("  log vkey:       {}", daemon.vkey);
        println!(
            "  state:          {}  (logs to {sink})",
            settings.state_dir.display()
        );
        let panel = daemon.state.display.panel();
        println!("  display:        {panel}");
        if panel.reason.panel() == "png" {
            println!(
                "  picture:        {}",
                settings.state_dir.join("display.png").display()
            );
        }
        if let Err(why) = daemon.state.store.writable() {
            println!("  LOG NOT WRITABLE: {why}");
        }
        for k in &daemon.dev_keys {
            println!(
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
