//! `vigild`: parse the configuration, start the daemon, wait for SIGTERM or Ctrl-C, drain.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use vigild::clock::SystemClock;
use vigild::config::{Args, Settings};
use vigild::{Daemon, logging};

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match Settings::resolve(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vigild: configuration: {e}");
            return ExitCode::from(2);
        }
    };
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
        let daemon = match Daemon::start(settings.clone(), clock).await {
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
        if daemon.state.display.has_hat() {
            println!("  display:        GFX HAT");
        } else {
            println!(
                "  display:        PNG panel, {}",
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
