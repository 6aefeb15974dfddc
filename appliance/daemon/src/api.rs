//! HTTP API (docs/spec.md §5): routes, the ingestion pipeline, signed reads, and JSON errors with stable
//! codes that never carry internals (those go to the journal).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use vigil_core::registry::Denied;
use vigil_core::sig::{self, SigError, Signature, SshSignature};
use vigil_core::statement::{
    Content, Kind, MAX_STATEMENT_BYTES, Role, Severity, Statement, valid_nonce,
};
use vigil_core::{ClockState, Entry, Verified};
use vigil_store::{AppendError, Filter, QueueFull, Refused, StoreError, Submission};

use crate::limits::retry_after_secs;
use crate::state::{AppState, NonceOutcome, read};

/// A refusal: status, stable code, one human sentence, optional Retry-After.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine code.
    pub code: &'static str,
    /// Human sentence (never internals).
    pub detail: String,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A refusal without Retry-After.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }
    /// Adds a Retry-After.
    pub fn with_retry(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    detail: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&ErrorBody {
            error: self.code,
            detail: &self.detail,
        })
        .unwrap_or_default();
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

fn malformed(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "malformed", detail)
}

/// A storage problem: logged in full, answered without internals.
fn internal(e: &StoreError) -> ApiError {
    tracing::error!(error = %e, "storage error while serving a request");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the log could not be read; try again",
    )
    .with_retry(5)
}

type ApiResult<T> = Result<T, ApiError>;

/// The router with every route of docs/spec.md §5 (TLS, limits and HSTS are added by the server).
pub fn routes(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/alerts", post(post_alert))
        .route("/v1/admin", post(post_admin))
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/vkey", get(vkey))
        .route("/v1/log/proof/{index}", get(proof))
        .route("/v1/log/consistency", get(consistency))
        .route("/v1/log/entries/{index}", get(entry_raw))
        .route("/v1/log/entries", get(entries))
        .route("/v1/display.png", get(display_png))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed here",
            )
        })
        .with_state(state)
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn read_body(req: Request, limit: usize) -> ApiResult<(axum::http::request::Parts, Bytes)> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is over {limit} bytes"),
        )
    })?;
    Ok((parts, bytes))
}

fn peer(parts: &axum::http::request::Parts) -> std::net::IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

// ---------------------------------------------------------------- ingestion

#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Alerts,
    Admin,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Alerts => "alerts",
            Endpoint::Admin => "admin",
        }
    }
}

async fn post_alert(State(s): State<Arc<AppState>>, req: Request) -> Response {
    submit(s, req, Endpoint::Alerts).await
}

async fn post_admin(State(s): State<Arc<AppState>>, req: Request) -> Response {
    submit(s, req, Endpoint::Admin).await
}

#[derive(Serialize)]
struct Receipt {
    index: u64,
    entry_hash: String,
    proof: String,
}

async fn submit(s: Arc<AppState>, req: Request, ep: Endpoint) -> Response {
    match ingest(&s, req, ep).await {
        Ok((status, receipt)) => {
            s.metrics.outcome(
                ep.name(),
                if status == StatusCode::CREATED {
                    "created"
                } else {
                    "duplicate"
                },
            );
            (status, axum::Json(receipt)).into_response()
        }
        Err(e) => {
            s.metrics.outcome(ep.name(), e.code);
            tracing::info!(
                endpoint = ep.name(),
                code = e.code,
                status = e.status.as_u16(),
                "statement refused"
            );
            e.into_response()
        }
    }
}

/// The ingestion pipeline: cheap checks first, the signature before anything that depends on
/// who signed, authorization again at commit time (the gate).
async fn ingest(s: &Arc<AppState>, req: Request, ep: Endpoint) -> ApiResult<(StatusCode, Receipt)> {
    let (parts, body) = read_body(req, s.limits.body_bytes).await?;
    let ip = peer(&parts);
    not_locked_out(s, ip)?;
    let (statement_bytes, form) = split_signed(&parts.headers, &body)?;
    if statement_bytes.len() > MAX_STATEMENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the statement is over 4096 bytes",
        ));
    }
    let st = Statement::parse(statement_bytes).map_err(|e| malformed(e.to_string()))?;
    // Who signed, and does the signature hold?
    let (verified, role) = {
        let shared = read(&s.shared);
        let (signer, key, role, sig) = match form {
            SignedForm::Raw { key_name, sig } => {
                let (key, role) = shared
                    .registry
                    .active_key(&key_name)
                    .map_err(|d| auth_refusal(s, ip, &d))?;
                (key_name, key, role, Signature::Ed25519(sig))
            }
            SignedForm::Ssh(ssh) => {
                let p = shared
                    .registry
                    .by_key(ssh.key())
                    .ok_or_else(|| auth_refusal(s, ip, &Denied::Unknown))?;
                if p.revoked {
                    return Err(auth_refusal(s, ip, &Denied::Revoked(p.name.clone())));
                }
                (
                    p.name.clone(),
                    p.key,
                    Some(p.role),
                    Signature::Sshsig(ssh.blob().to_vec()),
                )
            }
        };
        drop(shared);
        let verified = sig::verify(st, &signer, &key, sig).map_err(|e| {
            s.auth_failures.record(ip);
            let detail = match e {
                SigError::WrongNamespace => {
                    "the SSH signature's namespace must be `vigil` (ssh-keygen -Y sign -n vigil)"
                }
                SigError::Malformed(_) => "the signature is malformed",
                _ => "the signature does not verify for this statement and key",
            };
            ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", detail)
        })?;
        (verified, role)
    };
    let st = verified.statement();
    // What it may do (the gate re-checks at commit).
    check_endpoint(ep, st.kind(), role)?;
    if st.to() != s.origin {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_audience",
            format!(
                "the statement is addressed to `{}`, this log is `{}`",
                st.to(),
                s.origin
            ),
        ));
    }
    let synced = s.clock.synced();
    if synced {
        let now = s.clock.now_secs();
        if now.abs_diff(st.ts()) > s.limits.clock_skew_secs {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "stale",
                format!(
                    "ts is {} s from the appliance clock; at most {} s allowed",
                    now.abs_diff(st.ts()),
                    s.limits.clock_skew_secs
                ),
            ));
        }
    }
    // An exact re-submission answers with the existing receipt, without spending quota (from
    // memory: a read of the log would wait for any commit in progress).
    if let Some((index, leaf)) = s
        .recent
        .find(verified.signer(), &vigil_core::sha256(st.bytes()))
    {
        return receipt(s, index, leaf).map(|r| (StatusCode::OK, r));
    }
    if let Err(wait) = s.sources.check(verified.signer()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "this key is over its rate",
        )
        .with_retry(retry_after_secs(wait)));
    }
    check_content(s, &verified)?;
    let sub = Submission {
        received_ms: s.clock.now_ms(),
        clock: if synced {
            ClockState::Synced
        } else {
            ClockState::Unsynced
        },
        verified,
    };
    let ticket = s.committer.submit(sub).map_err(|QueueFull| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the ingest queue is full",
        )
        .with_retry(1)
    })?;
    let appended = match ticket.await {
        Ok(Ok(a)) => a,
        Ok(Err(AppendError::Refused(Refused::Replay(i)))) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "replay",
                format!("this key already used that nonce for a different statement (entry {i})"),
            ));
        }
        Ok(Err(AppendError::Refused(Refused::Denied(why)))) => {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", why));
        }
        Ok(Err(AppendError::NotWritable(why))) => {
            tracing::error!(reason = %why, "append refused: log not writable");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_writable",
                "the log is not taking writes",
            )
            .with_retry(60));
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "shutting down",
            )
            .with_retry(5));
        }
    };
    let status = if appended.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    match appended.receipt {
        // Made inside the batch's transaction: no read that waits for the next commit.
        Some(proof) => Ok((status, Receipt::new(appended.index, appended.leaf, &proof))),
        None => receipt(s, appended.index, appended.leaf).map(|r| (status, r)),
    }
}

impl Receipt {
    fn new(index: u64, leaf: vigil_core::Hash, proof: &vigil_core::TlogProof) -> Receipt {
        Receipt {
            index,
            entry_hash: STANDARD.encode(leaf),
            proof: proof.to_text(),
        }
    }
}

/// The receipt of a logged entry, against the current checkpoint.
fn receipt(s: &AppState, index: u64, leaf: vigil_core::Hash) -> ApiResult<Receipt> {
    let proof = s.store.tlog_proof(index).map_err(|e| internal(&e))?;
    Ok(Receipt::new(index, leaf, &proof))
}

/// 429 without verifying anything for a client over its authentication-failure budget.
fn not_locked_out(s: &AppState, ip: std::net::IpAddr) -> ApiResult<()> {
    match s.auth_failures.blocked(ip) {
        Some(wait) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed authentications",
        )
        .with_retry(retry_after_secs(wait))),
        None => Ok(()),
    }
}

/// 401 for unknown or revoked keys, counted as an authentication failure.
fn auth_refusal(s: &AppState, ip: std::net::IpAddr, d: &Denied) -> ApiError {
    s.auth_failures.record(ip);
    match d {
        Denied::Revoked(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "revoked_key",
            "this key has been revoked",
        ),
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unknown_key",
            "no enrolled key matches",
        ),
    }
}

enum SignedForm {
    Raw { key_name: String, sig: [u8; 64] },
    Ssh(Box<SshSignature>),
}

/// Finds the signature: `Vigil-Key` + `Vigil-Signature` headers, or an armored SSHSIG after the
/// statement.
fn split_signed<'a>(h: &HeaderMap, body: &'a [u8]) -> ApiResult<(&'a [u8], SignedForm)> {
    let sig_header = h.get("vigil-signature");
    let key_header = h.get("vigil-key");
    match (key_header, sig_header) {
        (Some(k), Some(sg)) => {
            let key_name = k
                .to_str()
                .ok()
                .filter(|n| vigil_core::statement::valid_name(n))
                .ok_or_else(|| malformed("Vigil-Key is not a valid name"))?;
            let raw = sg
                .to_str()
                .ok()
                .and_then(|v| STANDARD.decode(v).ok())
                .ok_or_else(|| malformed("Vigil-Signature is not base64"))?;
            let sig: [u8; 64] = raw
                .try_into()
                .map_err(|_| malformed("Vigil-Signature must be 64 bytes"))?;
            Ok((
                body,
                SignedForm::Raw {
                    key_name: key_name.to_owned(),
                    sig,
                },
            ))
        }
        (None, None) => {
            let (statement, armor) = sig::split_sshsig_body(body).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unsigned",
                    "the statement carries no signature",
                )
            })?;
            let ssh = SshSignature::from_armor(armor).map_err(|e| match e {
                SigError::Key(_) => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unknown_key",
                    "the signature's key is not usable",
                ),
                e => malformed(format!("SSH signature: {e}")),
            })?;
            Ok((statement, SignedForm::Ssh(Box::new(ssh))))
        }
        _ => Err(malformed("Vigil-Key and Vigil-Signature go together")),
    }
}

fn check_endpoint(ep: Endpoint, kind: Kind, role: Option<Role>) -> ApiResult<()> {
    let accepted = match ep {
        Endpoint::Alerts => kind == Kind::Alert,
        Endpoint::Admin => matches!(
            kind,
            Kind::Ack | Kind::Silence | Kind::KeyEnroll | Kind::KeyRevoke
        ),
    };
    if !accepted {
        return Err(malformed(format!(
            "{} statements are not accepted at /v1/{}",
            kind,
            ep.name()
        )));
    }
    let allowed = match ep {
        Endpoint::Alerts => role == Some(Role::Source),
        Endpoint::Admin => role == Some(Role::Admin),
    };
    if !allowed {
        let who = role.map_or("the device", Role::name);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("a {who} key may not submit {kind} statements"),
        ));
    }
    Ok(())
}

/// Policy for alerts; validity of admin changes (checked again by the gate at commit).
fn check_content(s: &AppState, v: &Verified) -> ApiResult<()> {
    let shared = read(&s.shared);
    match v.statement().content() {
        Content::Alert(a) => shared
            .policy
            .check_alert(v.signer(), &a.topic, a.severity)
            .map_err(|d| ApiError::new(StatusCode::FORBIDDEN, "policy", d.to_string())),
        Content::Ack { entry, .. } => {
            let bytes = s.store.entry(*entry).map_err(|e| internal(&e))?;
            match bytes.map(|b| Entry::decode(&b)) {
                Some(Ok(e)) if e.kind() == Kind::Alert => Ok(()),
                _ => Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    format!("entry {entry} is not an alert in this log"),
                )),
            }
        }
        _ => shared.registry.admit(v).map_err(|d| match d {
            Denied::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            Denied::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            other => ApiError::new(StatusCode::FORBIDDEN, "forbidden", other.to_string()),
        }),
    }
}

// ---------------------------------------------------------------- signed reads

/// Verifies a signed request (docs/spec.md §5) by an auditor or admin; returns the signer.
async fn authorize_read(s: &AppState, req: Request) -> ApiResult<String> {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let (parts, body) = read_body(req, s.limits.body_bytes).await?;
    let ip = peer(&parts);
    not_locked_out(s, ip)?;
    let h = &parts.headers;
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    let (Some(key_name), Some(date), Some(nonce), Some(sig_b64)) = (
        get("vigil-key"),
        get("vigil-date"),
        get("vigil-nonce"),
        get("vigil-signature"),
    ) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this endpoint needs a signed request (Vigil-Key, Vigil-Date, Vigil-Nonce, Vigil-Signature)",
        ));
    };
    let date = vigil_core::statement::parse_u64(date)
        .ok_or_else(|| malformed("Vigil-Date is not unix seconds"))?;
    if !valid_nonce(nonce) {
        return Err(malformed(
            "Vigil-Nonce must be 32-64 lowercase hex characters",
        ));
    }
    let sig: [u8; 64] = STANDARD
        .decode(sig_b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| malformed("Vigil-Signature must be base64 of 64 bytes"))?;
    let (key, role) = read(&s.shared)
        .registry
        .active_key(key_name)
        .map_err(|d| auth_refusal(s, ip, &d))?;
    let msg = vigil_core::request_message(method.as_str(), &path, date, nonce, &body);
    sig::verify_bytes(msg.as_bytes(), &key, &Signature::Ed25519(sig)).map_err(|_| {
        s.auth_failures.record(ip);
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "the request signature does not verify",
        )
    })?;
    if !matches!(role, Some(Role::Auditor | Role::Admin)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "reading the log needs an auditor or admin key",
        ));
    }
    let now_ms = s.clock.now_ms();
    let skew = s.limits.clock_skew_secs;
    if s.clock.synced() && (now_ms / 1000).abs_diff(date) > skew {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "stale",
            "Vigil-Date is outside the allowed window",
        ));
    }
    match s
        .nonces
        .insert(key_name, nonce, now_ms, now_ms + 2 * skew * 1000)
    {
        NonceOutcome::Fresh => Ok(key_name.to_owned()),
        NonceOutcome::Reused => Err(ApiError::new(
            StatusCode::CONFLICT,
            "replay",
            "this request nonce was already used",
        )),
        NonceOutcome::Full => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many recent requests",
        )
        .with_retry(5)),
    }
}

// ---------------------------------------------------------------- log reads

async fn checkpoint(State(s): State<Arc<AppState>>) -> Response {
    text(s.store.head().checkpoint)
}

async fn vkey(State(s): State<Arc<AppState>>) -> Response {
    text(format!("{}\n", s.store.vkey()))
}

fn parse_index(raw: &str) -> ApiResult<u64> {
    vigil_core::statement::parse_u64(raw)
        .ok_or_else(|| malformed("the index must be a decimal number"))
}

async fn proof(State(s): State<Arc<AppState>>, Path(raw): Path<String>) -> ApiResult<Response> {
    let index = parse_index(&raw)?;
    let size = s.store.head().size;
    if index >= size {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("the log has {size} entries"),
        ));
    }
    let p = s.store.tlog_proof(index).map_err(|e| internal(&e))?;
    Ok(text(p.to_text()))
}

async fn consistency(
    State(s): State<Arc<AppState>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> ApiResult<Response> {
    only_params(&q, &["from", "to"])?;
    let num = |k: &str| -> ApiResult<u64> {
        q.get(k)
            .and_then(|v| vigil_core::statement::parse_u64(v))
            .ok_or_else(|| malformed(format!("`{k}` must be a decimal number")))
    };
    let (from, to) = (num("from")?, num("to")?);
    let size = s.store.head().size;
    if from > to {
        return Err(malformed("`from` must not be above `to`"));
    }
    if to > size {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("the log has {size} entries"),
        ));
    }
    let hashes = s
        .store
        .consistency_proof(from, to)
        .map_err(|e| internal(&e))?;
    Ok(text(
        hashes
            .iter()
            .map(|h| format!("{}\n", STANDARD.encode(h)))
            .collect(),
    ))
}

fn only_params(q: &BTreeMap<String, String>, allowed: &[&str]) -> ApiResult<()> {
    match q.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(malformed(format!("unknown query parameter `{k}`"))),
        None => Ok(()),
    }
}

async fn entry_raw(
    State(s): State<Arc<AppState>>,
    Path(raw): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    authorize_read(&s, req).await?;
    let index = parse_index(&raw)?;
    let bytes = s.store.entry(index).map_err(|e| internal(&e))?;
    let bytes =
        bytes.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such entry"))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

#[derive(Serialize)]
struct EntryJson {
    index: u64,
    received: u64,
    clock: &'static str,
    kind: &'static str,
    signer: String,
    headers: BTreeMap<String, String>,
    body: String,
    entry_hash: String,
}

impl From<&Entry> for EntryJson {
    fn from(e: &Entry) -> Self {
        EntryJson {
            index: e.index(),
            received: e.received_ms(),
            clock: e.clock().name(),
            kind: e.kind().name(),
            signer: e.signer().to_owned(),
            headers: e.statement().headers().iter().cloned().collect(),
            body: e.statement().body().to_owned(),
            entry_hash: STANDARD.encode(e.leaf_hash()),
        }
    }
}

#[derive(Serialize)]
struct EntriesJson {
    entries: Vec<EntryJson>,
    next: Option<u64>,
}

async fn entries(State(s): State<Arc<AppState>>, req: Request) -> ApiResult<Response> {
    let q: BTreeMap<String, String> = req
        .uri()
        .query()
        .map(serde_urlencoded_pairs)
        .transpose()?
        .unwrap_or_default();
    authorize_read(&s, req).await?;
    only_params(
        &q,
        &[
            "from", "limit", "kind", "signer", "severity", "topic", "since", "until",
        ],
    )?;
    let num = |k: &str| -> ApiResult<Option<u64>> {
        q.get(k)
            .map(|v| {
                vigil_core::statement::parse_u64(v)
                    .ok_or_else(|| malformed(format!("`{k}` must be a decimal number")))
            })
            .transpose()
    };
    let limit = num("limit")?.unwrap_or(100);
    if !(1..=vigil_store::MAX_LIMIT as u64).contains(&limit) {
        return Err(malformed("`limit` must be 1-1000"));
    }
    let filter = Filter {
        from: num("from")?.unwrap_or(0),
        limit: limit as usize,
        kind: q
            .get("kind")
            .map(|k| Kind::from_name(k).ok_or_else(|| malformed("unknown `kind`")))
            .transpose()?,
        signer: q.get("signer").cloned(),
        severity: q
            .get("severity")
            .map(|v| Severity::from_name(v).ok_or_else(|| malformed("unknown `severity`")))
            .transpose()?,
        topic: q.get("topic").cloned(),
        since_ms: num("since")?,
        until_ms: num("until")?,
    };
    let page = s.store.query(&filter).map_err(|e| internal(&e))?;
    let body = EntriesJson {
        entries: page.entries.iter().map(EntryJson::from).collect(),
        next: page.next,
    };
    Ok(axum::Json(body).into_response())
}

/// Parses a query string strictly: each key once.
fn serde_urlencoded_pairs(q: &str) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |x: &str| {
            percent_decode(x).ok_or_else(|| malformed("bad percent-encoding in the query"))
        };
        if out.insert(dec(k)?, dec(v)?).is_some() {
            return Err(malformed("a query parameter is repeated"));
        }
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

async fn display_png(State(s): State<Arc<AppState>>, req: Request) -> ApiResult<Response> {
    authorize_read(&s, req).await?;
    let st = s.clone();
    let png = tokio::task::spawn_blocking(move || st.display.png(st.clock.now_ms()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "rendering the display picture failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the picture could not be rendered; try again",
            )
            .with_retry(5)
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png.as_ref().clone(),
    )
        .into_response())
}

async fn metrics(State(s): State<Arc<AppState>>, req: Request) -> ApiResult<Response> {
    authorize_read(&s, req).await?;
    let head = s.store.head();
    let body = s.metrics.render(
        s.committer.depth(),
        s.committer.capacity(),
        head.size,
        s.store.writable().is_ok(),
        s.display.panel(),
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response())
}

/// 200 `ok` while the log is writable, else 503 with the reason; a second line says which
/// panel shows the picture and why.
async fn healthz(State(s): State<Arc<AppState>>) -> Response {
    let display = format!("display: {}\n", s.display.panel());
    match s.store.writable() {
        Ok(()) => text(format!("ok\n{display}")),
        Err(why) => {
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("log not writable: {why}\n{display}"),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(60u64));
            r
        }
    }
}

/// Answers every plain-HTTP request with 308 to the same path on HTTPS.
pub fn redirect(https_port: u16, req: &axum::http::Request<Body>) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(host_only)
        .unwrap_or_else(|| "localhost".to_owned());
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    // Only a path may follow the authority; anything else would let a client steer the redirect.
    let path = if path.starts_with('/') && !path.starts_with("//") {
        path
    } else {
        "/"
    };
    let location = format!("https://{host}:{https_port}{path}");
    let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The host part of a Host header, if it is a plain DNS name or IP literal.
fn host_only(h: &str) -> Option<String> {
    let host = if let Some(rest) = h.strip_prefix('[') {
        let end = rest.find(']')?;
        let ip: std::net::Ipv6Addr = rest[..end].parse().ok()?;
        return Some(format!("[{ip}]"));
    } else {
        h.rsplit_once(':').map_or(h, |(a, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                a
            } else {
                h
            }
        })
    };
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| host.to_ascii_lowercase())
}

/// HSTS value sent on every HTTPS answer.
pub const HSTS: &str = "max-age=31536000";

/// How long a request may take.
pub fn request_timeout(s: &AppState) -> Duration {
    Duration::from_secs(s.limits.request_timeout_secs)
}
