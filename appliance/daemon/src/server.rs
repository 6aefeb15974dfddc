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
use crate::limits::{PeerKey, retry_after_secs};
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
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
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
