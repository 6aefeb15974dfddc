//! `vigil bridge alertmanager`: an Alertmanager webhook receiver that signs each alert of a
//! notification as an `alert/v1` with the bridge's enrolled source key (translation in
//! `vigil_cli::bridge`).
//!
//! It listens on loopback unless given a bearer token (Alertmanager's
//! `http_config.authorization`), which every request must then carry, compared in constant time.
//! Bodies are bounded (1 MiB). A notification is answered 200 when every alert is logged (or was
//! already), 503 (or 429) when the appliance could not take one now — so Alertmanager retries the
//! notification, and the alerts already logged answer with their receipts — and 422 when the
//! appliance refused one for good (policy, a revoked key), which Alertmanager does not retry.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use subtle::ConstantTimeEq as _;
use vigil_cli::bridge::{self, Sent};
use vigil_cli::client::{self, Client};
use vigil_core::SigningKey;
use zeroize::Zeroizing;

use super::{Ctx, Fail, Res, now_secs, usage};
use vigil_cli::exit::Exit;

/// Largest notification taken.
pub(crate) const MAX_BODY: usize = 1 << 20;

struct Bridge {
    client: Client,
    origin: String,
    name: String,
    key: SigningKey,
    sent: Sent,
    token: Option<Zeroizing<String>>,
    verbose: bool,
}

/// Runs the bridge until SIGINT or SIGTERM.
pub(crate) fn run(ctx: &Ctx, listen: SocketAddr, token_file: Option<&Path>) -> Res<()> {
    let token = token_file.map(read_token).transpose()?;
    if !listen.ip().is_loopback() && token.is_none() {
        return Err(usage(format!(
            "--listen {listen} is not loopback: give --token-file (Alertmanager's http_config.authorization)"
        )));
    }
    let (name, key) = ctx.signing_key()?;
    let bridge = Arc::new(Bridge {
        client: ctx.client()?,
        origin: ctx.vkey()?.name().to_owned(),
        name,
        key,
        sent: Sent::open(&ctx.dir.join("bridge-sent"))
            .map_err(|e| usage(format!("{}: {e}", ctx.dir.join("bridge-sent").display())))?,
        token,
        verbose: ctx.verbose,
    });
    let app = Router::new()
        .route("/", axum::routing::post(notify))
        .with_state(bridge);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| usage(format!("runtime: {e}")))?;
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Fail(Exit::Usage, format!("listen on {listen}: {e}")))?;
        let bound = l.local_addr().unwrap_or(listen);
        eprintln!("vigil bridge alertmanager: listening on http://{bound}/");
        axum::serve(l, app)
            .with_graceful_shutdown(stop())
            .await
            .map_err(|e| Fail(Exit::Unreachable, format!("serving: {e}")))
    })
}

async fn stop() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// The bearer token: the file's first line, owner-only.
fn read_token(path: &Path) -> Res<Zeroizing<String>> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    if meta.mode() & 0o077 != 0 {
        return Err(usage(format!(
            "{}: the token file must be readable by its owner only (chmod 600)",
            path.display()
        )));
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| usage(format!("{}: {e}", path.display())))?,
    );
    let token = Zeroizing::new(text.lines().next().unwrap_or("").trim().to_owned());
    if token.len() < 16 {
        return Err(usage(format!(
            "{}: the token must be at least 16 characters",
            path.display()
        )));
    }
    Ok(token)
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A declared body up to this many times [`MAX_BODY`] is read and dropped before the 413.
const DRAIN_FACTOR: u64 = 4;

/// The body, once the token is checked: a declared `Content-Length` over [`MAX_BODY`] is refused
/// without being buffered, a chunked body when it grows over it. A body a little over is read and
/// dropped first, so the client (still writing) reads the 413 and not a reset connection; one far
/// over is not waited for.
async fn body_within_bound(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || {
        answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": "too_large", "detail": format!("the notification is over {MAX_BODY} bytes")}),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > MAX_BODY as u64) {
        if n <= DRAIN_FACTOR * MAX_BODY as u64 {
            let _ = axum::body::to_bytes(body, DRAIN_FACTOR as usize * MAX_BODY).await;
        }
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            too_large()
        } else {
            answer(
                StatusCode::BAD_REQUEST,
                json!({"error": "malformed", "detail": "the body could not be read (broken off or badly framed)"}),
            )
        }
    })
}

async fn notify(State(b): State<Arc<Bridge>>, headers: HeaderMap, body: Body) -> Response {
    if let Some(token) = &b.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return answer(
                StatusCode::UNAUTHORIZED,
                json!({"error": "unauthorized", "detail": "a bearer token is required"}),
            );
        }
    }
    let body = match body_within_bound(&headers, body).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let n = match bridge::parse(&body) {
        Ok(n) => n,
        Err(e) => {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": "malformed", "detail": e.to_string()}),
            );
        }
    };
    let b2 = b.clone();
    match tokio::task::spawn_blocking(move || forward(&b2, &n)).await {
        Ok(r) => r,
        Err(_) => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": "internal", "detail": "the forwarding task failed"}),
        ),
    }
}

/// Sends every alert of the notification; the worst outcome decides the answer.
fn forward(b: &Bridge, n: &bridge::Notification) -> Response {
    let mut logged = Vec::new();
    let mut retry: Option<(u16, Option<u64>, String)> = None;
    let mut refused = Vec::new();
    for a in &n.alerts {
        let st = match b.sent.statement(&b.origin, now_secs(), a) {
            Ok(st) => st,
            Err(e) => {
                refused.push(json!({"fingerprint": a.fingerprint, "detail": e}));
                continue;
            }
        };
        let h = client::statement_headers(st.as_bytes(), &b.name, &b.key);
        match b.client.post("/v1/alerts", st.as_bytes(), &h) {
            Ok(ans) if ans.status == 200 || ans.status == 201 => {
                let index = serde_json::from_slice::<serde_json::Value>(&ans.body)
                    .ok()
                    .and_then(|v| v["index"].as_u64());
                if b.verbose {
                    eprintln!(
                        "alert {} ({}): {} as entry {index:?}",
                        a.fingerprint,
                        a.status,
                        if ans.status == 201 {
                            "logged"
                        } else {
                            "already logged"
                        }
                    );
                }
                logged.push(json!({"fingerprint": a.fingerprint, "index": index}));
            }
            Ok(ans) if ans.status == 429 || ans.status == 503 => {
                retry = Some((ans.status, ans.retry_after, ans.text()));
            }
            Ok(ans) => {
                eprintln!(
                    "alert {} refused: {} {}",
                    a.fingerprint,
                    ans.status,
                    ans.text()
                );
                refused.push(json!({"fingerprint": a.fingerprint, "status": ans.status, "detail": ans.text()}));
            }
            Err(e) => retry = Some((503, None, e.to_string())),
        }
    }
    if let Some((status, after, why)) = retry {
        eprintln!("the appliance could not take an alert now ({status}): {why}");
        let mut r = answer(
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            json!({"error": "unavailable", "detail": why, "logged": logged}),
        );
        if let Some(s) = after
            && let Ok(v) = axum::http::HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    if !refused.is_empty() {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "refused", "refused": refused, "logged": logged}),
        );
    }
    answer(StatusCode::OK, json!({"logged": logged}))
}
