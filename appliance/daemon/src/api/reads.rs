//! Signed reads (docs/spec.md §5): who may read the log, proven per request with a key, a
//! date and a single-use nonce.

use axum::extract::Request;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use vigil_core::sig::{self, Signature};
use vigil_core::statement::{Role, valid_nonce};

use super::error::{ApiError, Code, malformed};
use super::ingest::{auth_refusal, not_locked_out};
use super::{ApiResult, peer, read_body};
use crate::state::{AppState, NonceOutcome, read};

/// Verifies a signed request (docs/spec.md §5) by an auditor or admin; returns the signer.
pub(super) async fn authorize_read(s: &AppState, req: Request) -> ApiResult<String> {
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
            Code::Unauthenticated,
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
        ApiError::new(Code::BadSignature, "the request signature does not verify")
    })?;
    if !matches!(role, Some(Role::Auditor | Role::Admin)) {
        return Err(ApiError::new(
            Code::Forbidden,
            "reading the log needs an auditor or admin key",
        ));
    }
    let now_ms = s.clock.now_ms();
    let skew = s.limits.clock_skew_secs;
    if s.clock.synced() {
        if (now_ms / 1000).abs_diff(date) > skew {
            return Err(ApiError::new(
                Code::Stale,
                "Vigil-Date is outside the allowed window",
            ));
        }
        // Nonces live in memory: a read signed before this process started could have been
        // used already, before the restart emptied the cache. None is taken.
        if date < s.reads_signed_from(now_ms / 1000) {
            return Err(ApiError::new(
                Code::Stale,
                "this request was signed before the appliance last started; sign it again",
            ));
        }
    }
    match s
        .nonces
        .insert(key_name, nonce, now_ms, now_ms + 2 * skew * 1000)
    {
        NonceOutcome::Fresh => Ok(key_name.to_owned()),
        NonceOutcome::Reused => Err(ApiError::new(
            Code::Replay,
            "this request nonce was already used",
        )),
        NonceOutcome::Full => {
            Err(ApiError::new(Code::Overloaded, "too many recent requests").with_retry(5))
        }
    }
}
