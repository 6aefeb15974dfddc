//! HTTP API (docs/spec.md §5): the routes and what every handler shares. The parts live beside
//! it: [`error`] (codes and the JSON error), `ingest` (statements in), `reads` (signed-read
//! authorisation), `log` (the log and appliance state out), `redirect` (the plain-HTTP port).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;

pub mod error;
mod ingest;
mod log;
mod reads;
mod redirect;

pub use error::{ApiError, Code};
pub use log::query_pairs;
pub use redirect::redirect;

type ApiResult<T> = Result<T, ApiError>;

/// The router with every route of docs/spec.md §5 (TLS, limits and HSTS are added by the server).
pub fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/alerts", post(ingest::post_alert))
        .route("/v1/checkins", post(ingest::post_checkin))
        .route("/v1/admin", post(ingest::post_admin))
        .route("/v1/log/checkpoint", get(log::checkpoint))
        .route("/v1/log/vkey", get(log::vkey))
        .route("/v1/log/proof/{index}", get(log::proof))
        .route("/v1/log/consistency", get(log::consistency))
        .route("/v1/log/entries/{index}", get(log::entry_raw))
        .route("/v1/log/entries", get(log::entries))
        .route("/v1/log/tile/{*rest}", get(log::tile))
        .route("/v1/display.png", get(log::display_png))
        .route("/metrics", get(log::metrics))
        .route("/healthz", get(log::healthz))
        .fallback(|| async { ApiError::new(Code::NotFound, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(Code::MethodNotAllowed, "method not allowed here")
        })
        .with_state(state)
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// A declared body up to this many times the bound is read (and dropped) before the 413.
const DRAIN_FACTOR: u64 = 4;

/// Reads a body of at most `limit` bytes: a declared `Content-Length` over it is refused before
/// anything is read; a chunked body that grows over it is refused when it does; a body that
/// breaks off or is badly framed is malformed, not too large.
async fn read_body(req: Request, limit: usize) -> ApiResult<(axum::http::request::Parts, Bytes)> {
    let too_large = || {
        ApiError::new(
            Code::TooLarge,
            format!("the request body is over {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        // A body a little over the bound is read and dropped first: answering while the client
        // is still writing makes its kernel reset the connection, and the answer is lost. A
        // body far over it is not waited for.
        if n <= DRAIN_FACTOR * limit as u64 {
            let _ = axum::body::to_bytes(req.into_body(), DRAIN_FACTOR as usize * limit).await;
        }
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over {
            too_large()
        } else {
            error::malformed("the request body could not be read (broken off or badly framed)")
        }
    })?;
    Ok((parts, bytes))
}

fn peer(parts: &axum::http::request::Parts) -> std::net::IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// HSTS value sent on every HTTPS answer.
pub const HSTS: &str = "max-age=31536000";

/// How long a request may take.
pub fn request_timeout(s: &AppState) -> Duration {
    Duration::from_secs(s.limits.request_timeout_secs)
}
