//! Serving: the HTTPS listener (TLS handshake and connection bounds, HTTP/1.1 header limits,
//! per-IP rate limit before anything else, request timeout, HSTS) and the plain-HTTP redirect
//! listener. Both take their listener and a shutdown signal, so tests bind port 0.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::IntoResponse as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::api::{self, ApiError, Code};
use crate::limits::{PeerKey, client_key, retry_after_secs};
use crate::state::AppState;

/// The application with its tower layers: per-IP governor first, then the request timeout, every
/// error answer as the JSON error, and HSTS on every answer.
pub fn app(state: Arc<AppState>) -> Router {
    let l = &state.limits;
    let governor = GovernorConfigBuilder::default()
        .key_extractor(PeerKey)
        .period(Duration::from_secs(1) / l.ip_per_second.max(1))
        .burst_size(l.ip_burst.max(1))
        .finish()
        .map(Arc::new);
    let timeout = api::request_timeout(&state);
    let mut router = api::routes(state);
    if let Some(cfg) = governor {
        let layer = GovernorLayer::new(cfg).error_handler(|e| {
            let err = match e {
                tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
                    ApiError::new(Code::RateLimited, "too many requests from this address")
                        .with_retry(retry_after_secs(Duration::from_secs(wait_time)))
                }
                _ => ApiError::new(Code::Malformed, "the client address is unknown"),
            };
            err.into_response()
        });
        router = router.layer(layer);
    }
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn(api::error::json_errors))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(api::HSTS),
        ))
}

/// Open connections per client address ([`client_key`]: IPv6 per /64), at most `cap` each.
#[derive(Debug, Clone)]
pub struct PerAddress {
    cap: usize,
    open: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
}

/// One open connection of an address; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    key: std::net::IpAddr,
    of: PerAddress,
}

impl PerAddress {
    /// At most `cap` connections an address.
    pub fn new(cap: usize) -> PerAddress {
        PerAddress {
            cap: cap.max(1),
            open: Arc::default(),
        }
    }

    /// A slot for a connection from `ip`, unless its address holds `cap` already.
    pub fn take(&self, ip: std::net::IpAddr) -> Option<Slot> {
        let key = client_key(ip);
        let mut open = crate::locks::lock(&self.open);
        let n = open.entry(key).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            key,
            of: self.clone(),
        })
    }

    /// Connections open from `ip`'s address.
    pub fn open(&self, ip: std::net::IpAddr) -> usize {
        crate::locks::lock(&self.open)
            .get(&client_key(ip))
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = crate::locks::lock(&self.of.open);
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Serves HTTPS on `listener` until `shutdown` resolves, then stops accepting and lets in-flight
/// requests finish (at most `drain`).
pub async fn serve_tls(
    router: Router,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    limits: vigil_core::policy::Limits,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::new(limits.max_connections_per_address);
    let graceful = GracefulShutdown::new();
    let handshake = Duration::from_secs(limits.tls_handshake_timeout_secs);
    let header_timeout = Duration::from_secs(limits.request_timeout_secs);
    let max_buf = limits.header_bytes.max(8192);
    tokio::pin!(shutdown);
    loop {
        // A connection slot first: at the bound, stop accepting (the kernel backlog holds the rest).
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => { tracing::warn!(error = %e, "accept failed"); tokio::time::sleep(Duration::from_millis(50)).await; continue }
            },
            () = &mut shutdown => break,
        };
        // One address may hold only so many: beyond, the connection is closed before any TLS.
        let Some(slot) = per_address.take(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: over the per-address limit");
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let (_permit, _slot) = (permit, slot);
            let tls = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let svc = router.map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(Body::new)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(max_buf);
            let io = TokioIo::new(crate::framing::JsonFramingErrors::new(tls));
            let conn = builder.serve_connection(io, TowerToHyperService::new(svc));
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after the drain period");
    }
}

/// Serves the plain-HTTP port: every request gets 308 to HTTPS on `https_port`.
pub async fn serve_redirect(
    listener: TcpListener,
    https_port: u16,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            r = listener.accept() => match r { Ok(c) => c, Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue } },
            () = &mut shutdown => break,
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| async move {
                    Ok::<_, Infallible>(api::redirect(https_port, &req.map(|_| Body::empty())))
                });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .max_buf_size(8192);
            let _ = watcher
                .watch(builder.serve_connection(TokioIo::new(tcp), svc))
                .await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_gets_at_most_its_cap_and_slots_come_back() {
        let p = PerAddress::new(2);
        let a: std::net::IpAddr = "192.0.2.1".parse().expect("ip");
        let (one, two) = (p.take(a), p.take(a));
        assert!(one.is_some() && two.is_some());
        assert!(p.take(a).is_none(), "the third is refused");
        assert!(
            p.take("192.0.2.2".parse().expect("ip")).is_some(),
            "another address is not"
        );
        drop(one);
        assert_eq!(p.open(a), 1);
        assert!(p.take(a).is_some(), "a closed connection frees its slot");
        // IPv6 addresses of one /64 share the cap; another /64 does not.
        let v6 = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let slots: Vec<_> = ["2001:db8::1", "2001:db8::ffff"]
            .iter()
            .map(|s| p.take(v6(s)))
            .collect();
        assert!(slots.iter().all(Option::is_some));
        assert!(p.take(v6("2001:db8::abcd")).is_none());
        assert!(p.take(v6("2001:db8:0:1::1")).is_some());
    }
}
