//! vigild: the appliance daemon. The binary is glue; this library does the work so tests can
//! start a real daemon on listeners they bound ([`Daemon::start`]) or call the router without
//! sockets ([`server::app`]). Starting is in `start` (phases), the tasks beside the server in
//! `tasks`, the choice of panel in `panel`.

pub mod api;
pub mod checks;
pub mod clock;
pub mod config;
pub mod display;
pub mod files;
pub mod framing;
pub mod limits;
pub mod locks;
pub mod logging;
pub mod metrics;
mod panel;
pub mod provision;
pub mod server;
mod start;
pub mod state;
mod tasks;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use vigil_core::NoteSigner;
use vigil_store::Store;

use crate::config::Settings;
use crate::state::AppState;

pub use tasks::{REDRAW_MIN_INTERVAL, button_ack};

/// Opens the log: given its path and the signer whose name is the origin.
pub type OpenLog =
    Box<dyn FnOnce(&std::path::Path, NoteSigner) -> Result<Store, vigil_store::StoreError> + Send>;

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
    /// Sockets passed by systemd (socket activation) that cannot be used.
    #[error("the sockets passed by systemd (LISTEN_FDS): {0}")]
    Inherited(String),
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

/// The sockets the daemon serves on, bound by its caller (tests bind port 0; the binary binds
/// what the configuration says).
#[derive(Debug)]
pub struct Listeners {
    /// HTTPS.
    pub https: TcpListener,
    /// The plain-HTTP redirect, if any.
    pub http: Option<TcpListener>,
}

impl Listeners {
    /// Binds `settings.listen` and, unless off, `settings.http_listen`.
    pub async fn bind(settings: &Settings) -> Result<Listeners, StartError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Listen {
                    addr,
                    why: e.to_string(),
                })
        };
        Ok(Listeners {
            https: bind(settings.listen).await?,
            http: match settings.http_listen {
                Some(a) => Some(bind(a).await?),
                None => None,
            },
        })
    }

    /// The sockets systemd passed by socket activation (sd_listen_fds(3): `LISTEN_PID`,
    /// `LISTEN_FDS`, `LISTEN_FDNAMES`), or `None` when none were passed. The one named `https`
    /// serves HTTPS and the one named `http` the redirect; unnamed, the first is HTTPS and the
    /// second the redirect. On the image, `vigild-https.socket` and `vigild-http.socket` bind
    /// ports 443 and 80, so the service itself holds no capability (docs/spec.md §9).
    pub fn inherited() -> Result<Option<Listeners>, StartError> {
        // Read before listenfd consumes the protocol's variables.
        let names = std::env::var("LISTEN_FDNAMES").ok();
        let mut fds = listenfd::ListenFd::from_env();
        if fds.len() == 0 {
            return Ok(None);
        }
        let (https, http) =
            socket_roles(names.as_deref(), fds.len()).map_err(StartError::Inherited)?;
        let mut take = |idx: usize| -> Result<TcpListener, StartError> {
            let std = fds
                .take_tcp_listener(idx)
                .and_then(|l| l.ok_or_else(|| std::io::Error::other("already taken")))
                .map_err(|e| StartError::Inherited(format!("socket {idx}: {e}")))?;
            std.set_nonblocking(true)
                .and_then(|()| TcpListener::from_std(std))
                .map_err(|e| StartError::Inherited(format!("socket {idx}: {e}")))
        };
        Ok(Some(Listeners {
            https: take(https)?,
            http: http.map(&mut take).transpose()?,
        }))
    }
}

/// Which of `count` passed sockets serves HTTPS and which the redirect, from their names
/// (`LISTEN_FDNAMES`, colon-separated).
fn socket_roles(names: Option<&str>, count: usize) -> Result<(usize, Option<usize>), String> {
    let names: Vec<&str> = match names {
        Some(n) if !n.is_empty() => n.split(':').collect(),
        _ => {
            return match count {
                1 => Ok((0, None)),
                2 => Ok((0, Some(1))),
                n => Err(format!(
                    "{n} unnamed sockets; pass one or two (HTTPS, then HTTP)"
                )),
            };
        }
    };
    if names.len() != count {
        return Err(format!("{count} sockets but {} names", names.len()));
    }
    let (mut https, mut http) = (None, None);
    for (i, name) in names.iter().enumerate() {
        let slot = match *name {
            "https" => &mut https,
            "http" => &mut http,
            other => {
                return Err(format!(
                    "socket {i} is named \"{other}\"; expected https or http"
                ));
            }
        };
        if slot.replace(i).is_some() {
            return Err(format!("two sockets are named \"{name}\""));
        }
    }
    let https = https.ok_or("no socket is named https")?;
    Ok((https, http))
}

impl Daemon {
    /// Graceful stop: stop accepting, let in-flight requests finish, commit what is queued.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let st = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            st.committer.shutdown();
            // Everything is committed and shown: the next start checks and folds nothing more.
            tasks::keep_start_quick(&st);
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::socket_roles;

    #[test]
    fn passed_sockets_get_their_roles_by_name_or_by_order() {
        assert_eq!(socket_roles(Some("https:http"), 2), Ok((0, Some(1))));
        assert_eq!(socket_roles(Some("http:https"), 2), Ok((1, Some(0))));
        assert_eq!(socket_roles(Some("https"), 1), Ok((0, None)));
        assert_eq!(socket_roles(None, 2), Ok((0, Some(1))));
        assert_eq!(socket_roles(Some(""), 1), Ok((0, None)));
        // Refused: a redirect alone, unknown or repeated names, a count that does not match.
        assert!(socket_roles(Some("http"), 1).is_err());
        assert!(socket_roles(Some("https:ssh"), 2).is_err());
        assert!(socket_roles(Some("https:https"), 2).is_err());
        assert!(socket_roles(Some("https:http"), 3).is_err());
        assert!(socket_roles(None, 3).is_err());
    }
}
