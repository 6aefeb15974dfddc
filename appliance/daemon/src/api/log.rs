//! The log and the appliance's state out: checkpoint, key, proofs, entries (strict query
//! parsing), the display picture, metrics and health.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use vigil_core::statement::{Kind, Severity};
use vigil_core::tiles::{Tile, TileKind};
use vigil_core::wire::{EntriesPage, EntryView};
use vigil_store::Filter;

use super::error::{ApiError, Code, internal, malformed};
use super::reads::authorize_read;
use super::{ApiResult, text};
use crate::state::AppState;

/// The latest checkpoint; it changes with every commit, so no cache keeps it (C2SP tlog-tiles).
pub(super) async fn checkpoint(State(s): State<Arc<AppState>>) -> Response {
    let mut r = text(s.store.head().checkpoint);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub(super) async fn vkey(State(s): State<Arc<AppState>>) -> Response {
    text(format!("{}\n", s.store.vkey()))
}

/// The `{index}` path segment: a decimal number. A segment that is not even UTF-8 once
/// percent-decoded is refused the same way (the extractor's own answer is plain text).
fn parse_index(raw: Result<Path<String>, PathRejection>) -> ApiResult<u64> {
    raw.ok()
        .and_then(|Path(raw)| vigil_core::statement::parse_u64(&raw))
        .ok_or_else(|| malformed("the index must be a decimal number"))
}

pub(super) async fn proof(
    State(s): State<Arc<AppState>>,
    raw: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let index = parse_index(raw)?;
    let size = s.store.head().size;
    if index >= size {
        return Err(ApiError::new(
            Code::NotFound,
            format!("the log has {size} entries"),
        ));
    }
    let p = s.store.tlog_proof(index).map_err(|e| internal(&e))?;
    Ok(text(p.to_text()))
}

pub(super) async fn consistency(
    State(s): State<Arc<AppState>>,
    req: Request,
) -> ApiResult<Response> {
    let q = query(&req)?;
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
            Code::NotFound,
            format!("the log has {size} entries"),
        ));
    }
    let hashes = s
        .store
        .consistency_proof(from, to)
        .map_err(|e| internal(&e))?;
    Ok(text(vigil_core::wire::hash_lines(&hashes)))
}

fn only_params(q: &BTreeMap<String, String>, allowed: &[&str]) -> ApiResult<()> {
    match q.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(malformed(format!("unknown query parameter `{k}`"))),
        None => Ok(()),
    }
}

pub(super) async fn entry_raw(
    State(s): State<Arc<AppState>>,
    raw: Result<Path<String>, PathRejection>,
    req: Request,
) -> ApiResult<Response> {
    authorize_read(&s, req).await?;
    let index = parse_index(raw)?;
    let bytes = s.store.entry(index).map_err(|e| internal(&e))?;
    let bytes = bytes.ok_or_else(|| ApiError::new(Code::NotFound, "no such entry"))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

pub(super) async fn entries(State(s): State<Arc<AppState>>, req: Request) -> ApiResult<Response> {
    let q = query(&req)?;
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
    let body = EntriesPage {
        entries: page.entries.iter().map(EntryView::from).collect(),
        next: page.next,
    };
    Ok(axum::Json(body).into_response())
}

/// Where the C2SP tlog-tiles paths begin: the log's prefix is `/v1/log`.
const TILE_PREFIX: &str = "/v1/log/tile/";

/// `GET /v1/log/tile/…` (C2SP tlog-tiles, docs/spec.md §4): hash tiles for anyone (leaf hashes
/// cover entries that carry 128-bit nonces, so they reveal nothing), entry bundles for a signed
/// read. Only the canonical path of a tile is served; a tile the tree does not hold yet is 404.
/// Full tiles never change and say so; partial ones are cached briefly (the full tile replaces
/// them).
pub(super) async fn tile(State(s): State<Arc<AppState>>, req: Request) -> ApiResult<Response> {
    let rest = req
        .uri()
        .path()
        .strip_prefix(TILE_PREFIX)
        .unwrap_or_default();
    let tile = Tile::parse(rest);
    // A bundle is a read of entries: authorised before anything about it is said.
    if rest.starts_with("entries/") {
        authorize_read(&s, req).await?;
    }
    let tile = tile.ok_or_else(|| {
        ApiError::new(
            Code::NotFound,
            "no such tile: paths are tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>] (C2SP tlog-tiles)",
        )
    })?;
    let st = s.clone();
    let read = tokio::task::spawn_blocking(move || st.store.tile(&tile))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading a tile failed");
            ApiError::new(Code::Unavailable, "the tile could not be read; try again").with_retry(5)
        })?;
    let bytes = read.map_err(|e| internal(&e))?.ok_or_else(|| {
        let size = s.store.head().size;
        ApiError::new(
            Code::NotFound,
            format!("the log has {size} entries: it holds no {}", tile.path()),
        )
    })?;
    let cache = match (tile.kind, tile.is_full()) {
        (TileKind::Hashes { .. }, true) => "public, max-age=31536000, immutable",
        (TileKind::Hashes { .. }, false) => "public, max-age=60",
        (TileKind::Entries, true) => "private, max-age=31536000, immutable",
        (TileKind::Entries, false) => "private, max-age=60",
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response())
}

/// The request's query, parsed strictly.
fn query(req: &Request) -> ApiResult<BTreeMap<String, String>> {
    Ok(req
        .uri()
        .query()
        .map(query_pairs)
        .transpose()?
        .unwrap_or_default())
}

/// Parses a query string strictly: each key once, valid percent-encoding of UTF-8.
pub fn query_pairs(q: &str) -> ApiResult<BTreeMap<String, String>> {
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

pub(super) async fn display_png(
    State(s): State<Arc<AppState>>,
    req: Request,
) -> ApiResult<Response> {
    authorize_read(&s, req).await?;
    let st = s.clone();
    let png = tokio::task::spawn_blocking(move || st.display.png(st.clock.now_ms()))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "rendering the display picture failed");
            ApiError::new(
                Code::Unavailable,
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

pub(super) async fn metrics(State(s): State<Arc<AppState>>, req: Request) -> ApiResult<Response> {
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
pub(super) async fn healthz(State(s): State<Arc<AppState>>) -> Response {
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
            r.extensions_mut().insert(super::error::PlainOnPurpose);
            r
        }
    }
}
