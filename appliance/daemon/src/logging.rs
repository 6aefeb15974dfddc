//! Logs: `tracing` to journald when its socket exists, plain stderr otherwise. Level from
//! `VIGIL_LOG` (default `info`). No secret is ever formatted into a log line: keys have
//! redacting `Debug` impls and handlers log codes, not request bodies.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// The journald socket path.
pub const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// Installs the global subscriber; returns where logs go.
pub fn init() -> &'static str {
    let filter = EnvFilter::try_from_env("VIGIL_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    if std::path::Path::new(JOURNALD_SOCKET).exists()
        && let Ok(j) = tracing_journald::layer()
    {
        {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(j.with_syslog_identifier("vigild".into()))
                .try_init();
            return "journald";
        }
    }
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .try_init();
    "stderr"
}
